#!/usr/bin/env bash
# A throw-away single-node Ceph (one monitor, one OSD) with the RADOS Gateway on 127.0.0.1, for the S3 tests and
# benchmarks. Run through `cargo xtask s3 start|stop|env`. Installs Debian's packages when they are missing.
# STORAGE_RGW_STORE picks the OSD's object store: memstore (in RAM, 8 GiB; the tests' default) or bluestore (on a
# sparse 16 GiB file, so the benchmarks' gigabytes fit). Unset, a running gateway of either kind is reused.
set -euo pipefail

DIR=${STORAGE_RGW_DIR:-/tmp/storage-rgw}
PORT=${STORAGE_RGW_PORT:-7480}
REGION=us-east-1
ACCESS_KEY=storage-test-access-key
SECRET_KEY=storage-test-secret-key-0123456789abcdef
BUCKET=storage-test
CONF="$DIR/ceph.conf"
STORE=${STORAGE_RGW_STORE:-}

say() { echo "rgw: $*" >&2; }

print_env() {
    cat <<ENV
export STORAGE_S3_ENDPOINT=http://127.0.0.1:$PORT
export STORAGE_S3_REGION=$REGION
export STORAGE_S3_BUCKET=$BUCKET
export STORAGE_S3_ACCESS_KEY_ID=$ACCESS_KEY
export STORAGE_S3_SECRET_ACCESS_KEY=$SECRET_KEY
export STORAGE_S3_KMS_KEY_ID=storage-test-key
ENV
}

answering() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; }

install() {
    if command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null \
        && command -v monmaptool >/dev/null && command -v radosgw-admin >/dev/null && command -v curl >/dev/null; then
        return
    fi
    # One apt at a time: the Chromium script may be installing too.
    exec 9>/tmp/storage-apt.lock
    flock 9
    say "installing radosgw, ceph-mon, ceph-osd from Debian (once per machine)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd ceph-base ceph-common curl >&2
    exec 9>&- # the daemons started next must not inherit the lock
}

store_settings() {
    case "$1" in
        memstore) printf 'osd objectstore = memstore\nmemstore device bytes = 8589934592\n' ;;
        bluestore) printf 'osd objectstore = bluestore\nbluestore block create = true\nbluestore block size = %s\n%s\n' \
            17179869184 'osd memory target = 1073741824' ;;
        *) say "unknown STORAGE_RGW_STORE '$1'; use memstore or bluestore"; exit 2 ;;
    esac
}

start() {
    if answering && [ -f "$DIR/ready" ]; then
        local running
        running=$(cat "$DIR/ready")
        if [ -z "$STORE" ] || [ "$STORE" = "${running:-memstore}" ]; then
            say "already running on port $PORT (${running:-memstore})"
            print_env
            return
        fi
        say "restarting: a ${running:-memstore} gateway is running and $STORE was asked for"
    fi
    local store=${STORE:-memstore}
    store_settings "$store" >/dev/null
    install
    stop_daemons
    rm -rf "$DIR"
    mkdir -p "$DIR"/{mon,osd,run,log,rgw}
    local fsid
    fsid=$(cat /proc/sys/kernel/random/uuid)
    cat > "$CONF" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
paxos propose interval = 0.1
$(store_settings "$store")
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
mon data = $DIR/mon/\$cluster-\$id
osd data = $DIR/osd/\$cluster-\$id
keyring = $DIR/keyring
# Deleted objects' space comes back within seconds, not the default hour: the benchmarks write gigabytes.
rgw gc obj min wait = 5
rgw gc processor period = 10

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $DIR/rgw
# SSE-KMS with a fixed test key (never a real secret), over plain HTTP on loopback.
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = storage-test-key=c3RvcmFnZS10ZXN0LWttcy1rZXktMzItYnl0ZXMhISE=
CONF
    ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    monmaptool --create --addv a "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]" --fsid "$fsid" "$DIR/monmap" >/dev/null
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" >&2
    ceph-mon -c "$CONF" -i a >&2
    local osd
    osd=$(ceph -c "$CONF" --connect-timeout 30 osd create)
    mkdir -p "$DIR/osd/ceph-$osd"
    ceph-osd -c "$CONF" -i "$osd" --mkfs >&2 2>/dev/null
    ceph-osd -c "$CONF" -i "$osd" >&2
    radosgw -c "$CONF" -n client.rgw >&2
    local waited=0
    until answering; do
        sleep 0.5
        waited=$((waited + 1))
        if [ "$waited" -gt 240 ]; then
            say "radosgw did not answer on port $PORT within 120 s; logs in $DIR/log"
            tail -n 20 "$DIR/log/client.rgw.log" >&2 || true
            exit 1
        fi
    done
    radosgw-admin -c "$CONF" user create --uid=storage-test --display-name="storage tests" \
        --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
    echo "$store" > "$DIR/ready"
    say "ready on http://127.0.0.1:$PORT ($store; logs in $DIR/log)"
    print_env
}

stop_daemons() {
    for pidfile in "$DIR"/run/*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    for pidfile in "$DIR"/run/*.pid; do
        [ -f "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop_daemons; rm -f "$DIR/ready"; say "stopped" ;;
    env) print_env ;;
    *) echo "usage: rgw.sh start|stop|env" >&2; exit 2 ;;
esac
