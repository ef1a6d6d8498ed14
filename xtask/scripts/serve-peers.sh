#!/usr/bin/env bash
# nginx and wrk from Debian's packages, for `cargo xtask bench serve`; installed when missing. Prints both paths,
# nginx's first.
set -euo pipefail

missing() { ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; }
# Debian installs nginx in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin"
if missing; then
    exec 9>/tmp/storage-apt.lock # one apt at a time
    flock 9
    if missing; then
        echo "serve-peers: installing nginx and wrk from Debian (once per machine)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        # nginx (nginx-core) is built with the secure_link module the comparison needs.
        apt-get install -y -qq --no-install-recommends nginx wrk >&2
    fi
    exec 9>&-
fi
command -v nginx
command -v wrk
