#!/usr/bin/env bash
# The storage_rs wheel and its tests. `build`: maturin (pinned, with ruff, in target/python/maturin-venv) builds the
# wheel from crates/storage-python into target/wheels, reusing cargo's build directory. `venv`: a FRESH virtualenv in
# target/python/test-venv with the pinned test dependencies, and maturin's (no Rust: CI makes them in the
# background). `test`: checks the Python's format and lints (ruff), installs the wheel into that virtualenv and runs
# pytest. `all`: the three in order.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CRATE="$ROOT/crates/storage-python"
PYDIR="$ROOT/target/python"
MATURIN_VENV="$PYDIR/maturin-venv"
TEST_VENV="$PYDIR/test-venv"
MATURIN_VERSION=1.16.0
RUFF_VERSION=0.14.8

maturin_venv() {
    mkdir -p "$PYDIR"
    exec 8>"$PYDIR/maturin.lock"
    flock 8
    if [ "$("$MATURIN_VENV/bin/maturin" --version 2>/dev/null)" != "maturin $MATURIN_VERSION" ] \
        || [ "$("$MATURIN_VENV/bin/ruff" --version 2>/dev/null)" != "ruff $RUFF_VERSION" ]; then
        rm -rf "$MATURIN_VENV"
        python3 -m venv "$MATURIN_VENV"
        "$MATURIN_VENV/bin/pip" install --quiet --disable-pip-version-check \
            "maturin==$MATURIN_VERSION" "ruff==$RUFF_VERSION" >&2
    fi
}

build() {
    maturin_venv
    rm -f "$ROOT"/target/wheels/storage_rs-*.whl
    # A debug build: the tests need no optimised code, and it shares the workspace's compiled dependencies.
    (cd "$CRATE" && "$MATURIN_VENV/bin/maturin" build --quiet --out "$ROOT/target/wheels" >&2)
}

venv() {
    maturin_venv
    rm -rf "$TEST_VENV"
    python3 -m venv "$TEST_VENV"
    "$TEST_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$CRATE/requirements-test.txt" >&2
}

run_tests() {
    # Python's style, as rustfmt and clippy for the Rust: formatted and linted (settings in pyproject.toml).
    "$MATURIN_VENV/bin/ruff" format --check --quiet "$CRATE/python" "$CRATE/tests" >&2
    "$MATURIN_VENV/bin/ruff" check --quiet "$CRATE/python" "$CRATE/tests" >&2
    local wheel
    wheel=$(ls "$ROOT"/target/wheels/storage_rs-*.whl)
    "$TEST_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel" >&2
    # From the tests' directory, so `import storage_rs` finds the installed wheel, never the source tree.
    cd "$CRATE/tests" && "$TEST_VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
}

case "${1:-all}" in
    build) build ;;
    venv) venv ;;
    test) shift; run_tests "$@" ;;
    all) shift || true; build; venv; run_tests "$@" ;;
    *) echo "usage: storage-rs.sh build|venv|test|all [pytest args]" >&2; exit 2 ;;
esac
