#!/usr/bin/env bash
# Headless Chromium and ChromeDriver for the example app's browser test: Debian's packages, installed when missing.
# Prints the two paths (`CHROMIUM=...`, `CHROMEDRIVER=...`) for the test to read.
set -euo pipefail

missing() { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }

if missing; then
    exec 9>/tmp/storage-apt.lock # one apt at a time: the RGW script may be installing Ceph right now
    flock 9
    if missing; then
        echo "chromium: installing chromium and chromium-driver from Debian (once per machine)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
    fi
    exec 9>&-
fi
echo "CHROMIUM=$(command -v chromium)"
echo "CHROMEDRIVER=$(command -v chromedriver)"
