# shellcheck shell=bash
# Shared helpers for the end-to-end test scripts in tests/e2e/*.sh.
#
# Source it first:  . "$(dirname "$0")/lib/common.sh"
# It is safe under `set -euo pipefail` and sets that mode itself.
#
# What it provides:
#   REPO_ROOT, LUCIA_PKG          repository root, binary under test
#   e2e_skip REASON               exit 77 (skipped), or 1 when LUCIA_E2E_REQUIRED=1
#   e2e_need_root, e2e_need_tools TOOL...
#   e2e_need_lucia_pkg            fail (not skip) if the binary under test is missing
#   e2e_on_exit CMD               register a cleanup; cleanups run in reverse order at exit
#   e2e_tmpdir                    print a fresh temp dir, removed at exit (after unmounting)
#   e2e_demo_payload              make sure target/demo-payload/{amd64,arm64} exist
#   e2e_manifest_variant OUT K=V  packaging/lucia.toml with absolute paths and overrides
#   e2e_log MSG / e2e_fail MSG    progress line on stderr / fail the test with a message
#
# Cleanup design: every script gets ONE private scratch root, created when this file is
# sourced, with the only EXIT trap. Cleanups are kept in a file inside that root rather than
# in a shell variable, so `d=$(e2e_tmpdir)` and helpers running in `$(...)` subshells can
# still register them. At exit: registered cleanups run newest first, then everything still
# mounted under the scratch root is unmounted (deepest first), and only when nothing is
# mounted any more is the root deleted, with --one-file-system as a second guard so that a
# leftover bind mount of the host's /dev can never be walked by rm.
# Do not install your own `trap ... EXIT` in a test script: use e2e_on_exit.

set -euo pipefail

# Guard against double sourcing (chroot.sh and registry.sh source this file too).
if [[ -n "${_E2E_COMMON_LOADED:-}" ]]; then
    return 0
fi
_E2E_COMMON_LOADED=1

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd -P)
export REPO_ROOT
LUCIA_PKG=${LUCIA_PKG:-$REPO_ROOT/target/debug/lucia-pkg}
export LUCIA_PKG
# Shared cache for chroot tarballs and other slow-to-build fixtures.
LUCIA_E2E_CACHE=${LUCIA_E2E_CACHE:-/var/cache/lucia-pkg-e2e}
export LUCIA_E2E_CACHE

e2e_log() {
    printf '[e2e %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
}

# Fail the current test with a message (exit 1 runs the cleanups).
e2e_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

# A missing prerequisite: skipped (77) normally, a failure when CI requires every e2e test.
# Messages go to stderr so that a skip inside `x=$(helper)` is still seen; the exit status
# propagates through `set -e`.
e2e_skip() {
    local reason="$*"
    if [[ "${LUCIA_E2E_REQUIRED:-0}" == 1 ]]; then
        printf 'FAIL: required e2e prerequisite missing: %s\n' "$reason" >&2
        exit 1
    fi
    printf 'SKIP: %s\n' "$reason" >&2
    exit 77
}

e2e_need_root() {
    if [[ "$(id -u)" != 0 ]]; then
        e2e_skip "needs root (mounts, chroots, systemd-nspawn); run as root or in CI"
    fi
}

e2e_need_tools() {
    local missing=() t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    if ((${#missing[@]})); then
        e2e_skip "missing tools: ${missing[*]} (scripts/ci-setup.sh installs them)"
    fi
}

# The binary under test must exist: that is a build problem, never a reason to skip.
e2e_need_lucia_pkg() {
    if [[ ! -x "$LUCIA_PKG" ]]; then
        e2e_fail "lucia-pkg binary not found at $LUCIA_PKG; run 'cargo build' or set LUCIA_PKG"
    fi
}

# --- cleanup machinery -------------------------------------------------------------------

# A script killed with SIGKILL leaves its scratch root behind, possibly with /proc and an
# rbind of the host's /dev mounted inside: a later careless `rm -rf /tmp/*` would then delete
# host device nodes. So each root records its owner, and roots of dead owners are unmounted
# and removed when the next script starts.
_e2e_sweep_stale_roots() {
    local d owner
    [[ "$(id -u)" == 0 ]] || return 0
    for d in "${TMPDIR:-/tmp}"/lucia-e2e.*; do
        [[ -d "$d" && -f "$d/.owner" ]] || continue
        owner=$(cat "$d/.owner" 2>/dev/null) || continue
        [[ "$owner" =~ ^[0-9]+$ ]] || continue
        kill -0 "$owner" 2>/dev/null && continue
        if e2e_umount_below "$d"; then
            rm -rf --one-file-system "$d" 2>/dev/null || true
        fi
    done
}

_E2E_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/lucia-e2e.XXXXXXXX")
# As root, the scratch root is a tmpfs when memory allows (LUCIA_E2E_TMPFS=0 turns it off):
# extracting a chroot there took 1.2 s instead of 12 s on a busy shared disk, and cleanup is
# one unmount. Size: half the available memory, at most 6 GiB (pages are used only as written).
_e2e_maybe_tmpfs() {
    [[ "${LUCIA_E2E_TMPFS:-1}" != 0 && "$(id -u)" == 0 ]] || return 0
    local avail_kib size_kib
    avail_kib=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
    [[ "$avail_kib" =~ ^[0-9]+$ ]] && ((avail_kib >= 3 * 1024 * 1024)) || return 0
    size_kib=$((avail_kib / 2))
    ((size_kib <= 6 * 1024 * 1024)) || size_kib=$((6 * 1024 * 1024))
    mount -t tmpfs -o "size=${size_kib}k,mode=0700" lucia-e2e "$_E2E_ROOT" 2>/dev/null || true
}
_e2e_maybe_tmpfs
echo "$$" >"$_E2E_ROOT/.owner"
_E2E_CLEANUPS="$_E2E_ROOT/.cleanups"
: >"$_E2E_CLEANUPS"

# Register a shell command (one line) to run at exit. Cleanups run newest first, so
# register an unmount after the mkdir it depends on and it will run before the rm.
e2e_on_exit() {
    local cmd="$*"
    if [[ "$cmd" == *$'\n'* ]]; then
        e2e_fail "e2e_on_exit takes a single-line command (got a newline)"
    fi
    printf '%s\n' "$cmd" >>"$_E2E_CLEANUPS"
}

# Unmount everything mounted at or below DIR, deepest first; lazy unmount as a last resort.
# Returns non-zero if something is still mounted afterwards.
e2e_umount_below() {
    local dir mnt
    dir=$(realpath -m "$1")
    local pass
    for pass in 1 2 3; do
        local mounts=()
        # Field 5 of mountinfo is the mount point (octal escapes for spaces; our paths have none).
        while read -r mnt; do
            mounts+=("$mnt")
        done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
        ((${#mounts[@]})) || return 0
        for mnt in "${mounts[@]}"; do
            if [[ $pass -lt 3 ]]; then
                umount "$mnt" 2>/dev/null || true
            else
                umount -l "$mnt" 2>/dev/null || true
            fi
        done
    done
    if awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        return 1
    fi
    return 0
}

_e2e_run_cleanups() {
    local rc=$?
    set +e
    trap - EXIT INT TERM HUP
    if [[ -f "$_E2E_CLEANUPS" ]]; then
        local cmds=() cmd i
        mapfile -t cmds <"$_E2E_CLEANUPS"
        for ((i = ${#cmds[@]} - 1; i >= 0; i--)); do
            cmd=${cmds[i]}
            [[ -n "$cmd" ]] || continue
            (eval "$cmd") || printf 'e2e: cleanup failed (ignored): %s\n' "$cmd" >&2
        done
    fi
    if e2e_umount_below "$_E2E_ROOT"; then
        rm -rf --one-file-system "$_E2E_ROOT"
    else
        printf 'e2e: WARNING: mounts remain below %s; not deleting it\n' "$_E2E_ROOT" >&2
        [[ $rc -ne 0 ]] || rc=1
    fi
    exit "$rc"
}
_e2e_sweep_stale_roots
trap _e2e_run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A fresh directory below this script's scratch root; it is removed at exit.
e2e_tmpdir() {
    mktemp -d "$_E2E_ROOT/tmp.XXXXXXXX"
}

# --- fixtures ----------------------------------------------------------------------------

# The demo AgentHost payload referenced by packaging/lucia.toml. Built when missing, or
# rebuilt when its source (demo/agenthost) or the build script is newer than a binary.
e2e_demo_payload() {
    local base="$REPO_ROOT/target/demo-payload" arch ok=1 bin
    local script="$REPO_ROOT/scripts/build-demo-payload.sh"
    for arch in amd64 arm64; do
        bin="$base/$arch/lucia.AgentHost"
        if [[ ! -s "$bin" ]]; then
            ok=0
        elif [[ "$script" -nt "$bin" ]] ||
            [[ -n "$(find "$REPO_ROOT/demo/agenthost" -newer "$bin" -print -quit 2>/dev/null)" ]]; then
            ok=0
        fi
    done
    ((ok)) && return 0
    [[ -f "$script" ]] || e2e_fail "demo payload missing and $script does not exist"
    mkdir -p "$REPO_ROOT/target"
    e2e_log "building the demo payload with scripts/build-demo-payload.sh"
    # Serialise concurrent test scripts on the same checkout.
    (
        flock 9
        bash "$script"
    ) 9>"$REPO_ROOT/target/.demo-payload.lock" || e2e_fail "scripts/build-demo-payload.sh failed"
    for arch in amd64 arm64; do
        [[ -n "$(ls -A "$base/$arch" 2>/dev/null)" ]] ||
            e2e_fail "scripts/build-demo-payload.sh did not fill $base/$arch"
    done
}

# e2e_manifest_variant OUT_TOML [KEY=VALUE | KEY:=RAW_TOML]...
#
# Writes a copy of packaging/lucia.toml to OUT_TOML that works from any directory:
# every double-quoted string value that starts with "./" or "../" (payload path, unit,
# env template, [[files]] src, ...) becomes an absolute, normalised path against packaging/.
#
# Overrides, applied in order:
#   version=1.1.0                  [package] version = "1.1.0"   (value written as a TOML string)
#   source-date-epoch:=1793491300  [package] source-date-epoch = 1793491300  (raw TOML, as given)
#   service.env.template=/x/y.env  key "template" of the table [service.env]
# A key without a dot belongs to [package]; with dots, everything before the last dot names
# the table. Limits (this is line-based text editing, not a TOML parser):
#   - only plain [table] headers are addressable, not [[array.of.tables]] entries nor
#     dotted keys or inline tables; the table header must exist in the file;
#   - the key must sit on its own line as `key = ...`; a value spanning several lines is
#     replaced only if it is a """ multi-line string; multi-line arrays are not supported;
#   - a key missing from the table is appended right after the table header;
#   - relative paths are recognised only in double-quoted strings, not in literal '...'.
e2e_manifest_variant() {
    local out="$1"
    shift
    local src="$REPO_ROOT/packaging/lucia.toml"
    [[ -f "$src" ]] || e2e_fail "manifest $src not found"
    local ov table key value specs=()
    for ov in "$@"; do
        if [[ "$ov" =~ ^([A-Za-z0-9_.-]+):=(.*)$ ]]; then
            key=${BASH_REMATCH[1]}
            value=${BASH_REMATCH[2]}
        elif [[ "$ov" =~ ^([A-Za-z0-9_.-]+)=(.*)$ ]]; then
            key=${BASH_REMATCH[1]}
            value=${BASH_REMATCH[2]}
            value=${value//\\/\\\\}
            value=${value//\"/\\\"}
            value="\"$value\""
        else
            e2e_fail "e2e_manifest_variant: bad override '$ov' (want key=value or key:=raw)"
        fi
        if [[ "$key" == *.* ]]; then
            table=${key%.*}
            key=${key##*.}
        else
            table=package
        fi
        # Tab-separated; values cannot contain a tab by construction of our tests.
        specs+=("$table"$'\t'"$key"$'\t'"$value")
    done
    local tmp="$out.tmp.$$"
    mkdir -p "$(dirname "$out")"
    printf '%s\n' "${specs[@]+"${specs[@]}"}" |
        awk -v base="$REPO_ROOT/packaging" "$_E2E_MANIFEST_AWK" "$src" "$src" >"$tmp" ||
        {
            rm -f "$tmp"
            e2e_fail "e2e_manifest_variant: could not apply overrides $*"
        }
    mv "$tmp" "$out"
}

# The awk program behind e2e_manifest_variant (mawk-compatible). Specs arrive on stdin as
# "table<TAB>key<TAB>value" lines. The manifest is read twice: pass 1 records which keys
# each table already has, pass 2 prints the rewritten file.
# shellcheck disable=SC2016 # an awk program, not shell
_E2E_MANIFEST_AWK='
function norm(p,    n, parts, out, i, k) {
    n = split(p, parts, "/"); k = 0
    for (i = 1; i <= n; i++) {
        if (parts[i] == "" || parts[i] == ".") continue
        if (parts[i] == "..") { if (k > 0) k--; continue }
        out[++k] = parts[i]
    }
    p = ""
    for (i = 1; i <= k; i++) p = p "/" out[i]
    return p == "" ? "/" : p
}
function count_triple(s,    c, i3) { c = 0; while ((i3 = index(s, "\"\"\"")) > 0) { c++; s = substr(s, i3 + 3) } return c }
function header(line,    t) {
    if (line !~ /^[ \t]*\[/) return ""
    t = line; sub(/^[ \t]*/, "", t); sub(/[ \t]*(#.*)?$/, "", t)
    if (t ~ /^\[\[/) return "[[" t
    sub(/^\[[ \t]*/, "", t); sub(/[ \t]*\]$/, "", t)
    return t
}
function linekey(line,    k) {
    if (!match(line, /^[ \t]*[A-Za-z0-9_-]+[ \t]*=/)) return ""
    k = substr(line, RSTART, RLENGTH); sub(/^[ \t]*/, "", k); sub(/[ \t]*=$/, "", k)
    return k
}
function rewrite(line,    out, rest, q) {
    out = ""; rest = line
    while (match(rest, /"\.\.?\/[^"]*"/)) {
        q = substr(rest, RSTART + 1, RLENGTH - 2)
        out = out substr(rest, 1, RSTART - 1) "\"" norm(base "/" q) "\""
        rest = substr(rest, RSTART + RLENGTH)
    }
    return out rest
}
BEGIN {
    nspec = 0
    while ((getline l < "/dev/stdin") > 0) {
        if (l == "") continue
        split(l, f, "\t")
        nspec++; st[nspec] = f[1]; sk[nspec] = f[2]; sv[nspec] = substr(l, length(f[1]) + length(f[2]) + 3)
    }
    pass = 0
}
FNR == 1 { pass++; table = ""; inml = 0; skipping = 0 }
pass == 1 {
    if (inml) { if (count_triple($0) % 2) inml = 0; next }
    h = header($0); if (h != "") { table = h; tables[h] = 1; next }
    k = linekey($0); if (k != "") have[table SUBSEP k] = 1
    if (count_triple($0) % 2) inml = 1
    next
}
{
    if (skipping) { if (count_triple($0) % 2) skipping = 0; next }
    if (inml) { print; if (count_triple($0) % 2) inml = 0; next }
    h = header($0)
    if (h != "") {
        table = h; print rewrite($0)
        for (i = 1; i <= nspec; i++)
            if (st[i] == h && !have[h SUBSEP sk[i]]) { print sk[i] " = " sv[i]; done[i] = 1 }
        next
    }
    k = linekey($0)
    if (k != "") {
        for (i = 1; i <= nspec; i++) {
            if (st[i] == table && sk[i] == k) {
                print k " = " sv[i]; done[i] = 1
                if (count_triple($0) % 2) skipping = 1
                next
            }
        }
    }
    print rewrite($0)
    if (count_triple($0) % 2) inml = 1
}
END {
    bad = 0
    for (i = 1; i <= nspec; i++)
        if (!done[i]) { printf "e2e_manifest_variant: table [%s] not found for key %s\n", st[i], sk[i] > "/dev/stderr"; bad = 1 }
    exit bad
}
'
