#!/usr/bin/env bash
# Azurite, Microsoft's Azure Storage emulator (blob service only), on a free port of 127.0.0.1, for the Azure tests.
# Run through `cargo xtask azure start|stop|env`. Installs the pinned azurite with npm into $DIR when missing.
# Its blobs live under $DIR/data, emptied at each start.
set -euo pipefail

DIR=${STORAGE_AZURITE_DIR:-/tmp/storage-azurite}
VERSION=3.35.0
# Azurite's well-known development account: a published, public test key, never a real secret.
ACCOUNT=devstoreaccount1
ACCOUNT_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
CONTAINER=storage-test

say() { echo "azurite: $*" >&2; }

port() { cat "$DIR/port" 2>/dev/null; }

print_env() {
    cat <<ENV
export AZURITE_BLOB_STORAGE_URL=http://127.0.0.1:$(port)
export STORAGE_AZURE_ACCOUNT=$ACCOUNT
export STORAGE_AZURE_ACCESS_KEY=$ACCOUNT_KEY
export STORAGE_AZURE_CONTAINER=$CONTAINER
ENV
}

# Azurite answers any request, even an unsigned one, with an HTTP status: a status at all means it is up.
answering() {
    local code
    [ -n "$(port)" ] || return 1
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(port)/$ACCOUNT?comp=list") || return 1
    [ "$code" != 000 ]
}

install() {
    if [ -x "$DIR/npm/node_modules/.bin/azurite-blob" ] \
        && grep -q "\"version\": \"$VERSION\"" "$DIR/npm/node_modules/azurite/package.json"; then
        return
    fi
    command -v npm >/dev/null || { say "npm is missing: install Node.js 20 or later"; exit 1; }
    say "installing azurite@$VERSION with npm into $DIR/npm (once per machine)"
    mkdir -p "$DIR/npm"
    npm install --prefix "$DIR/npm" --no-audit --no-fund --loglevel=error "azurite@$VERSION" >&2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    if answering; then
        say "already running on port $(port)"
        print_env
        return
    fi
    install
    stop_server
    rm -rf "$DIR/data"
    mkdir -p "$DIR/data"
    free_port > "$DIR/port"
    # setsid: the emulator outlives the command that started it, in its own process group.
    setsid node "$DIR/npm/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$(port)" \
        --location "$DIR/data" --skipApiVersionCheck --loose --disableTelemetry \
        >"$DIR/azurite.log" 2>&1 < /dev/null &
    echo $! > "$DIR/pid"
    local waited=0
    until answering; do
        if ! kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
            say "azurite exited; its log:"
            tail -n 20 "$DIR/azurite.log" >&2 || true
            exit 1
        fi
        sleep 0.2
        waited=$((waited + 1))
        if [ "$waited" -gt 300 ]; then
            say "azurite did not answer on port $(port) within 60 s; log in $DIR/azurite.log"
            exit 1
        fi
    done
    say "ready on http://127.0.0.1:$(port) (log in $DIR/azurite.log)"
    print_env
}

stop_server() {
    [ -f "$DIR/pid" ] || return 0
    local pid
    pid=$(cat "$DIR/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$DIR/pid" "$DIR/port"
}

case "${1:-}" in
    start) start ;;
    stop) stop_server; say "stopped" ;;
    env) if answering; then print_env; else say "not running: run \`cargo xtask azure start\`"; exit 1; fi ;;
    *) echo "usage: azurite.sh start|stop|env" >&2; exit 2 ;;
esac
