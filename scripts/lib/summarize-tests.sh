#!/usr/bin/env bash
# Runs test commands with their output shown and logged, and prints one closing line for the
# log: "tests: N passed, N failed, N skipped", the sums of cargo's "test result:" lines.
#
# scripts/test.sh sources it and uses the two functions. Run directly, it does one run:
#   bash scripts/lib/summarize-tests.sh LOG COMMAND [ARG...]
# truncates LOG, runs COMMAND logging to it, prints the closing line and exits with COMMAND's
# status, whether the command passed or failed (tests/test_script.rs runs it this way).

# run_logged LOG COMMAND [ARG...]: runs COMMAND with stderr joined to stdout, shows its output and
# appends it to LOG; returns COMMAND's exit status. The pipeline is the condition of an `if`, so
# a failing command neither stops a `set -e` caller before its status is read nor loses it to
# pipefail: PIPESTATUS still holds the pipeline's statuses in the else branch.
run_logged() {
    local log=$1
    shift
    if "$@" 2>&1 | tee -a "$log"; then
        return 0
    else
        local statuses=("${PIPESTATUS[@]}")
        # The command's own status, or 1 should only tee have failed.
        if [[ "${statuses[0]}" != 0 ]]; then
            return "${statuses[0]}"
        fi
        return 1
    fi
}

# print_summary LOG: the closing line for every "test result:" line in LOG (cargo prints one
# per test binary).
print_summary() {
    awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$1"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    if [[ $# -lt 2 ]]; then
        echo "usage: $0 LOG COMMAND [ARG...]" >&2
        exit 2
    fi
    log=$1
    shift
    : > "$log"
    status=0
    run_logged "$log" "$@" || status=$?
    print_summary "$log"
    exit "$status"
fi
