#!/usr/bin/env bash
# Runs the whole lucia-pkg test suite: formatting and lint gates, unit tests, the CLI tests and the
# end-to-end tests against the real tools (apt/dpkg in a Debian chroot, rpm, lintian, rpmlint,
# skopeo, umoci, podman, a loopback registry, nix, systemd-analyze).
#
# As root (CI), it first installs what the tests need (scripts/ci-setup.sh) and makes every
# end-to-end test mandatory (LUCIA_E2E_REQUIRED=1): a missing tool is a failure, not a skip.
# As a normal user it skips setup, and end-to-end tests that need root or absent tools report
# SKIP with the reason.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
if [[ "$(id -u)" == 0 && "${LUCIA_SKIP_SETUP:-0}" != 1 ]]; then
    # The emulated arm64 chroot takes minutes: build it in the background while cargo compiles;
    # the arm64 e2e test waits for it on the cache lock.
    WITH_ARM64=${WITH_ARM64:-background} bash scripts/ci-setup.sh
    export LUCIA_E2E_REQUIRED=${LUCIA_E2E_REQUIRED:-1}
    # The >8 GiB sparse-file test (tar, deb, rpm large-file headers): ~4-5 min, CI runs it.
    export LUCIA_PKG_LARGE_FILE_TEST=${LUCIA_PKG_LARGE_FILE_TEST:-1}
    # CI fuzzes every target for FUZZ_SECONDS (6 targets x 20 s = 2 min of fuzzing) after the
    # cargo-fuzz install and the instrumented build (block at the end).
    export LUCIA_FUZZ_SMOKE=${LUCIA_FUZZ_SMOKE:-1} FUZZ_SECONDS=${FUZZ_SECONDS:-20}
fi
export LUCIA_E2E_REQUIRED=${LUCIA_E2E_REQUIRED:-0}

echo "==> demo payload (amd64 + arm64)"
bash scripts/build-demo-payload.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
# run_logged and print_summary (scripts/lib/summarize-tests.sh, tested by tests/test_script.rs)
# keep a failing run's status under set -e and pipefail, so the closing line below is printed
# on failure too.
source scripts/lib/summarize-tests.sh
: > target/test-output.log
status=0
# The end-to-end tests serialize themselves; output is streamed so CI logs show each step.
run_logged target/test-output.log cargo test --workspace --locked -- --nocapture --test-threads=2 || status=$?
if [[ "$status" == 0 ]]; then
    echo "==> cargo test -p format-rpm --features sign (OpenPGP signing, verified with rpmkeys)"
    run_logged target/test-output.log cargo test -p format-rpm --features sign --locked -- --test-threads=2 || status=$?
fi
# --- fuzzing (tests/hostile_inputs.rs already replayed every inspect fuzz corpus and regression
# input through the fuzz targets' own bodies in `cargo test` above). Fuzzing new inputs needs
# cargo-fuzz plus a release build with coverage instrumentation: measured on a shared 2-core
# machine, `cargo install cargo-fuzz` took 2 min 10 s and the cold fuzz build about 6 min, the
# six 5-s runs 38 s. CI (root) turns it on with 20 s per target: 2 min of fuzzing, plus the
# one-time install and build; elsewhere it is opt-in: LUCIA_FUZZ_SMOKE=1 (FUZZ_SECONDS per
# target, default 5). A crash, a timeout (> 5 s) or > 256 MB fails the run.
if [[ "$status" == 0 && "${LUCIA_FUZZ_SMOKE:-0}" == 1 ]]; then
    echo "==> fuzz smoke (scripts/fuzz-smoke.sh, ${FUZZ_SECONDS:-5} s per target)"
    FUZZ_SECONDS=${FUZZ_SECONDS:-5} bash scripts/fuzz-smoke.sh || status=1
fi
# --- end of fuzzing
echo "==> test suite finished in $(( $(date +%s) - started ))s with status $status"
# One closing line for the whole run (cargo prints one "test result" line per test binary).
print_summary target/test-output.log
exit "$status"
