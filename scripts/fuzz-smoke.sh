#!/usr/bin/env bash
# Short fuzzing run of every cargo-fuzz target in fuzz/ (the manifest parser/validator and the
# deb/rpm/tar/OCI readers behind `lucia-pkg inspect`), for CI. Each target starts from its corpus
# in fuzz/corpus/<target>/ (real artifacts built by lucia-pkg) and runs for FUZZ_SECONDS
# (default 25). New corpus entries go to a temp dir, so the repository stays clean.
# Any crash, timeout or out-of-memory fails the script; libFuzzer leaves the input that triggered
# it in fuzz/artifacts/<target>/ (reproduce: cargo fuzz run --sanitizer none <target> <file>).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); runs on the stable toolchain because
# --sanitizer none avoids the nightly-only -Zsanitizer flags.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-25}"
targets=(manifest inspect_deb inspect_rpm inspect_tar inspect_oci inspect_oci_layout)
if [ "$#" -gt 0 ]; then targets=("$@"); fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cargo fuzz build --sanitizer none

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t"
    start=$(date +%s)
    # Inputs that once crashed this target must stay fixed.
    if compgen -G "regressions/$t/*" >/dev/null; then
        if ! cargo fuzz run --sanitizer none "$t" regressions/"$t"/* >"$scratch/$t.regress.log" 2>&1; then
            echo "fuzz-smoke: $t REGRESSED on an old crash input:" >&2
            tail -n 40 "$scratch/$t.regress.log" >&2
            status=1
            continue
        fi
    fi
    # The reader limits (crates/pkg-core/src/limits.rs): any input ends within 2 s and 256 MB.
    # -rss_limit_mb / -malloc_limit_mb: a reader that allocates from an untrusted length fails
    # here. -timeout: one input taking over 5 s (2 s plus slack for a shared CI machine) is a hang.
    if cargo fuzz run --sanitizer none "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=5 -rss_limit_mb=256 -malloc_limit_mb=256 \
        -max_len=262144 -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
        execs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$t.log" | grep -o '[0-9]*$' || echo "?")
        echo "fuzz-smoke: $t ok ($execs runs in $(( $(date +%s) - start )) s)"
    else
        echo "fuzz-smoke: $t FAILED; last lines of its log:" >&2
        tail -n 40 "$scratch/$t.log" >&2
        status=1
    fi
done
exit "$status"
