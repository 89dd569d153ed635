#!/usr/bin/env bash
# Builds the demo AgentHost payload for both arches: OUTDIR/{amd64,arm64}/lucia.AgentHost (static
# executables, so they run in a `scratch` OCI image and on any distro) plus an appsettings.json, the
# way a `dotnet publish` output directory looks. The demo stands in for the real AgentHost; see
# docs/real-agenthost.md for building packages from real `dotnet publish` output instead.
#
# Usage: scripts/build-demo-payload.sh [--force] [--verify] [OUTDIR]
#   OUTDIR    default: <repo>/target/demo-payload (a relative OUTDIR is taken from the current dir)
#   --force   rebuild even when the outputs are newer than the source
#   --verify  afterwards check: file(1) says static x86-64/aarch64; each binary serves /health and
#             /alive and exits 0 on SIGTERM (arm64 under qemu); a second build is bit-identical
# Env: LUCIA_DEMO_TOOLCHAIN=auto|rustup|debian  which compiler builds arm64 (default auto: rustup's
#      aarch64 target when installed or installable, else Debian's rustc + libstd-rust-dev:arm64).
#
# Output depends only on the source and the compiler: fixed flags, codegen-units=1, stripped, and
# the checkout path remapped. Two different compilers give different (each reproducible) bytes.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$REPO/demo/agenthost/main.rs"
SELF="$REPO/scripts/build-demo-payload.sh"
FORCE=0
VERIFY=0
OUTDIR=""
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        --verify) VERIFY=1 ;;
        -h|--help) sed -n '2,16p' "$SELF" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build-demo-payload: unknown option $arg (try --help)" >&2; exit 2 ;;
        *) [ -z "$OUTDIR" ] || { echo "build-demo-payload: only one OUTDIR" >&2; exit 2; }; OUTDIR=$arg ;;
    esac
done
OUTDIR=${OUTDIR:-$REPO/target/demo-payload}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

# One build per output dir at a time (parallel test scripts may all ask for the payload).
exec 9>"$OUTDIR/.build.lock"
flock 9 || die "cannot lock $OUTDIR/.build.lock"

# Nothing below may depend on the caller's locale, time zone or umask.
export LC_ALL=C TZ=UTC
umask 022

say() { echo "build-demo-payload: $*"; }
die() { echo "build-demo-payload: error: $*" >&2; exit 1; }

# Flags shared by both arches. +crt-static: no runtime dependency at all (rustc makes a static-pie
# on x86_64; its aarch64-gnu target only supports plain static executables).
COMMON=(--edition 2021 --crate-name lucia_agenthost --crate-type bin
        -C opt-level=2 -C codegen-units=1 -C strip=symbols -C debuginfo=0
        -C target-feature=+crt-static
        "--remap-path-prefix=$REPO=/lucia-pkg")

have() { command -v "$1" >/dev/null 2>&1; }

# apt-get install, only when we may (root + apt); otherwise say what to install.
apt_install() {
    if [ "$(id -u)" = 0 ] && have apt-get; then
        say "installing $*"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null \
            || die "apt-get install $* failed"
    else
        die "missing build tools; as root run: apt-get install $*"
    fi
}

need_cross_linker() {
    if ! have aarch64-linux-gnu-gcc || [ ! -e /usr/aarch64-linux-gnu/lib/libc.a ]; then
        apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    fi
}

# Picks the arm64 compiler; sets ARM_RUSTC and ARM_PATH_NAME.
choose_arm64_toolchain() {
    local want=${LUCIA_DEMO_TOOLCHAIN:-auto} sysroot
    case "$want" in auto|rustup|debian) ;; *) die "LUCIA_DEMO_TOOLCHAIN must be auto, rustup or debian" ;; esac
    if [ "$want" != debian ] && have rustc; then
        sysroot=$(rustc --print sysroot)
        if [ ! -d "$sysroot/lib/rustlib/aarch64-unknown-linux-gnu/lib" ] && have rustup; then
            # Needs the Rust toolchain server, which CI may not reach: failure just means fallback.
            say "trying: rustup target add aarch64-unknown-linux-gnu"
            timeout 120 rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
        fi
        if [ -d "$sysroot/lib/rustlib/aarch64-unknown-linux-gnu/lib" ]; then
            ARM_RUSTC=$(command -v rustc)
            ARM_PATH_NAME="rustup target aarch64-unknown-linux-gnu ($(rustc --version))"
            return
        fi
        [ "$want" = rustup ] && die "rustc has no aarch64-unknown-linux-gnu std and rustup could not add it"
    fi
    # Registry-only path: Debian's rustc with the arm64 build of its standard library (multi-arch).
    if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib ]; then
        if ! dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; then
            [ "$(id -u)" = 0 ] || die "need arm64 packages; as root run: dpkg --add-architecture arm64 && apt-get update"
            say "dpkg --add-architecture arm64"
            dpkg --add-architecture arm64
            apt-get update -q >/dev/null || die "apt-get update failed"
        fi
        apt_install rustc libstd-rust-dev:arm64
    fi
    ARM_RUSTC=/usr/bin/rustc
    ARM_PATH_NAME="Debian rustc + libstd-rust-dev:arm64 ($(/usr/bin/rustc --version))"
}

appsettings() {
    # Like the appsettings.json a `dotnet publish` puts next to the apphost. Env vars override it.
    cat <<'EOF'
{
  "Logging": {
    "LogLevel": {
      "Default": "Information",
      "Microsoft.AspNetCore": "Warning"
    }
  },
  "AllowedHosts": "*"
}
EOF
}

# build ARCH RUSTC [extra rustc flags...]
build() {
    local arch=$1 rustc=$2; shift 2
    local dir="$OUTDIR/$arch" bin="$OUTDIR/$arch/lucia.AgentHost"
    if [ "$FORCE" = 0 ] && [ "$bin" -nt "$SRC" ] && [ "$bin" -nt "$SELF" ] && [ -f "$dir/appsettings.json" ]; then
        say "$arch: up to date ($bin)"
        return
    fi
    mkdir -p "$dir"
    # Build in a scratch dir beside the output (rustc puts its temporary objects next to -o),
    # then rename into place: the payload dir never holds a partial binary or stray objects.
    local tmp
    tmp=$(mktemp -d "$OUTDIR/.build-$arch.XXXXXXXX")
    "$rustc" "${COMMON[@]}" "$@" -o "$tmp/lucia.AgentHost" "$SRC" \
        || { rm -rf "$tmp"; die "$arch: rustc failed (command: $rustc ${COMMON[*]} $* $SRC)"; }
    appsettings > "$tmp/appsettings.json"
    chmod 0755 "$tmp/lucia.AgentHost"
    chmod 0644 "$tmp/appsettings.json"
    mv -f "$tmp/appsettings.json" "$dir/appsettings.json"
    mv -f "$tmp/lucia.AgentHost" "$bin"
    rmdir "$tmp"
    say "$arch: built $bin ($(wc -c < "$bin") bytes, sha256 $(sha256sum "$bin" | cut -c1-16)…)"
}

[ -f "$SRC" ] || die "source $SRC not found"
have rustc || have /usr/bin/rustc || apt_install rustc
AMD_RUSTC=$(command -v rustc || echo /usr/bin/rustc)
[ "$(uname -m)" = x86_64 ] || die "this script cross-builds from an x86_64 host; this is $(uname -m)"

say "amd64: using $AMD_RUSTC ($("$AMD_RUSTC" --version))"
build amd64 "$AMD_RUSTC" --target x86_64-unknown-linux-gnu

ARM_RUSTC="" ARM_PATH_NAME=""
arm_bin="$OUTDIR/arm64/lucia.AgentHost"
if [ "$FORCE" = 1 ] || ! { [ "$arm_bin" -nt "$SRC" ] && [ "$arm_bin" -nt "$SELF" ]; }; then
    need_cross_linker
    choose_arm64_toolchain
    say "arm64: using $ARM_PATH_NAME, linker aarch64-linux-gnu-gcc"
fi
build arm64 "${ARM_RUSTC:-unused}" --target aarch64-unknown-linux-gnu -C linker=aarch64-linux-gnu-gcc

[ "$VERIFY" = 1 ] || exit 0

# ---------------------------------------------------------------------------------------------
# --verify
have file || apt_install file
have curl || apt_install curl
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
fails=0
ok()   { say "verify: ok   $*"; }
bad()  { say "verify: FAIL $*"; fails=$((fails + 1)); }

check_file() {
    local arch=$1 machine=$2 desc
    desc=$(file -b "$OUTDIR/$arch/lucia.AgentHost")
    if [[ "$desc" == *"$machine"* ]] && [[ "$desc" =~ (statically|static-pie)\ linked ]] \
        && [[ "$desc" != *interpreter* ]]; then
        ok "$arch: file: $desc"
    else
        bad "$arch: expected a static $machine executable, file says: $desc"
    fi
}

# serve_check ARCH RUNNER...: start on an ephemeral port, probe, SIGTERM, expect exit 0.
serve_check() {
    local arch=$1; shift
    local log="$WORK/$arch.log" state="$WORK/$arch-state" port="" pid rc i body
    ASPNETCORE_URLS="http://127.0.0.1:0" STATE_DIRECTORY="$state" \
        "$@" "$OUTDIR/$arch/lucia.AgentHost" >"$log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for i in $(seq 100); do
        port=$(sed -n 's|.*Now listening on: http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        bad "$arch: did not start; log:"; sed 's/^/    /' "$log"; return
    fi
    body=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/health" || true)
    [ "$body" = Healthy ] && ok "$arch: GET /health -> Healthy" || bad "$arch: GET /health gave '$body'"
    curl -fsS --max-time 5 -o /dev/null "http://127.0.0.1:$port/alive" \
        && ok "$arch: GET /alive -> 200" || bad "$arch: GET /alive failed"
    code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope" || true)
    [ "$code" = 404 ] && ok "$arch: GET /nope -> 404" || bad "$arch: GET /nope gave $code"
    kill -TERM "$pid"
    rc=0; wait "$pid" || rc=$?
    [ "$rc" = 0 ] && ok "$arch: exit 0 on SIGTERM" || bad "$arch: exit code $rc after SIGTERM"
    grep -q '^starts=1$' "$state/lucia-demo.state" 2>/dev/null && grep -q '^stopped=' "$state/lucia-demo.state" \
        && ok "$arch: state file written" || bad "$arch: no/incomplete $state/lucia-demo.state"
}

check_file amd64 "x86-64"
check_file arm64 "ARM aarch64"
serve_check amd64
if [ -r /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
    say "verify: arm64 runs through binfmt_misc (qemu-aarch64)"
    serve_check arm64
elif have qemu-aarch64-static; then
    say "verify: binfmt_misc has no qemu-aarch64 entry; running qemu-aarch64-static directly"
    serve_check arm64 qemu-aarch64-static
else
    bad "arm64: cannot run it: install qemu-user-static"
fi

# Reproducibility: a forced rebuild elsewhere (with the same compilers) must give the same bytes.
LUCIA_DEMO_TOOLCHAIN=${LUCIA_DEMO_TOOLCHAIN:-auto} "$SELF" --force "$WORK/again" >/dev/null
for arch in amd64 arm64; do
    for f in lucia.AgentHost appsettings.json; do
        a=$(sha256sum < "$OUTDIR/$arch/$f" | cut -d' ' -f1)
        b=$(sha256sum < "$WORK/again/$arch/$f" | cut -d' ' -f1)
        [ "$a" = "$b" ] && ok "$arch/$f: rebuild identical ($a)" || bad "$arch/$f: rebuild differs ($a vs $b)"
    done
done
[ "$fails" = 0 ] || die "verify: $fails check(s) failed"
say "verify: all checks passed"
