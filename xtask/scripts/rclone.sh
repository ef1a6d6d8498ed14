#!/usr/bin/env bash
# rclone from Debian's packages, for `cargo xtask bench migrate`; installed when missing. Prints its path.
set -euo pipefail

if ! command -v rclone >/dev/null; then
    exec 9>/tmp/storage-apt.lock # one apt at a time
    flock 9
    if ! command -v rclone >/dev/null; then
        echo "rclone: installing rclone from Debian (once per machine)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends rclone >&2
    fi
    exec 9>&-
fi
command -v rclone
