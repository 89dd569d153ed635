# shellcheck shell=bash
# Debian bookworm chroots for the end-to-end tests: a cached tarball per architecture, fresh
# extracts, running commands inside, and booting systemd in one with systemd-nspawn.
#
#   chroot_tarball ARCH          print the cached .tar.zst path (build it if missing)
#   chroot_fresh ARCH DIR        extract a fresh root into DIR (empty or absent)
#   chroot_exec DIR CMD...       run CMD inside DIR with /proc and /dev, clean environment
#   chroot_boot DIR SCRIPT [UNIT...]
#                                boot DIR with systemd, run SCRIPT after multi-user.target
#                                (and after UNIT...), print its output, return its exit code
#   chroot_qemu_dropin DIR UNIT...
#                                emulated roots only: PrivateUsers=no drop-in (qemu-user limit)
#   chroot_arch DIR              print the Debian architecture of a root
#   e2e_need_arch ARCH           skip unless ARCH binaries can run here (qemu binfmt)
#
# ARCH is a Debian architecture name (amd64, arm64). Needs root. Sources common.sh.

# shellcheck source=tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Packages on top of mmdebstrap's "apt" variant (which already has adduser, passwd,
# init-system-helpers and perl-base). systemd + systemd-sysv make the root bootable with
# nspawn; ca-certificates and curl serve health checks; libicu72 is what the lucia .deb
# depends on, so installing it needs no network; procps and iproute2 help debugging.
# Changing this list changes the cache key, so old tarballs are never reused by mistake.
CHROOT_INCLUDE="systemd,systemd-sysv,dbus,ca-certificates,curl,adduser,passwd,libicu72,procps,iproute2"
CHROOT_SUITE=bookworm

# Emulated arches need binfmt_misc with qemu registered with the F flag (so the interpreter
# works inside chroots).
e2e_need_arch() {
    local arch="$1" native qemu
    native=$(dpkg --print-architecture)
    [[ "$arch" == "$native" ]] && return 0
    case "$arch" in
    arm64) qemu="qemu-aarch64" ;;
    amd64) qemu="qemu-x86_64" ;;
    *) e2e_fail "unknown Debian architecture '$arch'" ;;
    esac
    local entry=/proc/sys/fs/binfmt_misc/$qemu
    if [[ ! -r "$entry" ]] || ! grep -qx enabled "$entry" || ! grep -q '^flags:.*F' "$entry"; then
        e2e_skip "$arch emulation unavailable: $qemu binfmt not enabled (scripts/ci-setup.sh enables it)"
    fi
}

# The weekly key makes CI caches pick up Debian point releases and security updates without
# rebuilding on every run. The hash of the package list invalidates old content.
_chroot_tarball_path() {
    local arch="$1" week tag
    week=$(date -u +%G-W%V)
    tag=$(printf '%s %s' "$CHROOT_SUITE" "$CHROOT_INCLUDE" | sha256sum | cut -c1-8)
    printf '%s/%s-%s-%s-%s.tar.zst\n' "$LUCIA_E2E_CACHE" "$CHROOT_SUITE" "$arch" "$tag" "$week"
}

chroot_tarball() {
    local arch="${1:?usage: chroot_tarball ARCH}" tarball
    e2e_need_root
    e2e_need_tools mmdebstrap zstd tar flock
    e2e_need_arch "$arch"
    tarball=$(_chroot_tarball_path "$arch")
    if [[ ! -s "$tarball" ]]; then
        mkdir -p "$LUCIA_E2E_CACHE"
        # One builder per arch at a time; the others wait and then reuse its result.
        (
            flock 9
            [[ -s "$tarball" ]] || _chroot_build "$arch" "$tarball"
        ) 9>"$LUCIA_E2E_CACHE/.lock-$arch" >&2 || e2e_fail "building the $arch chroot tarball failed"
    fi
    printf '%s\n' "$tarball"
}

_chroot_build() {
    local arch="$1" tarball="$2" sources root start
    sources=/etc/apt/sources.list.d/debian.sources
    # mmdebstrap copies a deb822 sources file into the chroot, so apt inside uses the same mirror.
    [[ -r "$sources" ]] || sources=${LUCIA_E2E_MIRROR:-http://deb.debian.org/debian}
    # Build next to the cache so the final rename is atomic on one filesystem.
    root=$(mktemp -d "$LUCIA_E2E_CACHE/.build-$arch.XXXXXXXX")
    e2e_on_exit "e2e_umount_below '$root' && rm -rf --one-file-system '$root' '$tarball.tmp'"
    start=$SECONDS
    e2e_log "building $CHROOT_SUITE $arch chroot with mmdebstrap (packages: $CHROOT_INCLUDE)"
    # force-unsafe-io skips fsync in dpkg: a big win for a throwaway root; it stays in the
    # chroot's dpkg config, which only makes later test installs faster too.
    mmdebstrap --quiet --mode=root --arch="$arch" --variant=apt \
        --include="$CHROOT_INCLUDE" --dpkgopt=force-unsafe-io \
        "$CHROOT_SUITE" "$root" "$sources" </dev/null || return 1
    tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$root" -cf - . |
        zstd -q -T0 -3 -o "$tarball.tmp" || return 1
    mv -f "$tarball.tmp" "$tarball" || return 1
    rm -rf --one-file-system "$root"
    # Older weeks or package lists of this arch are dead weight in the cache.
    local old
    for old in "$LUCIA_E2E_CACHE/$CHROOT_SUITE-$arch-"*.tar.zst; do
        [[ "$old" == "$tarball" || ! -e "$old" ]] || rm -f "$old"
    done
    e2e_log "built $tarball ($(du -h "$tarball" | cut -f1)) in $((SECONDS - start)) s"
}

chroot_fresh() {
    local arch="${1:?usage: chroot_fresh ARCH DIR}" dir="${2:?usage: chroot_fresh ARCH DIR}" tarball
    tarball=$(chroot_tarball "$arch")
    mkdir -p "$dir"
    if [[ -n "$(ls -A "$dir")" ]]; then
        e2e_fail "chroot_fresh: $dir is not empty"
    fi
    zstd -dc "$tarball" | tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$dir" -xpf - ||
        e2e_fail "extracting $tarball into $dir failed"
}

# Run a command inside a chroot. Mounts are always undone, also when the command fails;
# an at-exit unmount of the whole root covers the case where the script itself is killed.
# Stdin is passed through: give apt/dpkg </dev/null and -y / --force-conf* options.
# Extra environment: chroot_exec DIR env VAR=value cmd...
chroot_exec() {
    local dir="${1:?usage: chroot_exec DIR CMD...}"
    shift
    dir=$(realpath "$dir")
    [[ -x "$dir/usr/bin/env" ]] || e2e_fail "chroot_exec: $dir does not look like a root filesystem"
    if ! grep -qxF "e2e_umount_below '$dir'" "$_E2E_CLEANUPS"; then
        e2e_on_exit "e2e_umount_below '$dir'"
    fi
    # Explicit checks: errexit is off when the caller writes `chroot_exec ... || ...`.
    # Slave propagation: unmounting inside the chroot must never unmount the host's /dev/pts.
    if ! mount -t proc proc "$dir/proc" || ! mount --rbind /dev "$dir/dev" ||
        ! mount --make-rslave "$dir/dev"; then
        e2e_umount_below "$dir/dev" || true
        e2e_umount_below "$dir/proc" || true
        e2e_fail "chroot_exec: could not mount /proc and /dev in $dir"
    fi
    rm -f "$dir/etc/resolv.conf"
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
    local rc=0
    chroot "$dir" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 HOME=/root \
        "$@" || rc=$?
    e2e_umount_below "$dir/dev" || e2e_log "WARNING: could not unmount $dir/dev"
    e2e_umount_below "$dir/proc" || e2e_log "WARNING: could not unmount $dir/proc"
    return "$rc"
}

# chroot_boot DIR SCRIPT [UNIT...]
#
# Boots the root with `systemd-nspawn -b` and runs SCRIPT (with bash, as root, cwd /) from a
# oneshot unit ordered after multi-user.target and after each UNIT given. The unit records
# the script's stdout+stderr and exit code inside the root and powers the container off.
# The script can source /lucia-e2e/boot-helpers.sh for boot_wait_active / boot_wait_http.
#
# Prints the script output (plus failed units and the journal tail when it fails) and
# returns the script's exit code; 124 if the boot timed out, 125 if the check never ran.
# The container gets a private network (its own loopback) unless LUCIA_E2E_BOOT_NET=host,
# so services listening on :8080 inside do not collide with the host or other tests.
# Timeout: LUCIA_E2E_BOOT_TIMEOUT seconds (default 120; 600 for emulated arches).
chroot_boot() {
    local dir="${1:?usage: chroot_boot DIR SCRIPT [UNIT...]}" script="${2:?usage: chroot_boot DIR SCRIPT [UNIT...]}"
    shift 2
    e2e_need_tools systemd-nspawn timeout
    dir=$(realpath "$dir")
    [[ -x "$dir/lib/systemd/systemd" ]] || e2e_fail "chroot_boot: $dir has no systemd (/lib/systemd/systemd)"
    [[ -f "$script" ]] || e2e_fail "chroot_boot: script $script not found"
    local after="multi-user.target" u
    for u in "$@"; do after+=" $u"; done

    local state="$dir/lucia-e2e"
    mkdir -p "$state"
    rm -f "$state/out" "$state/rc" "$state/diag"
    cp "$script" "$state/check.sh"
    _chroot_boot_helpers >"$state/boot-helpers.sh"
    cat >"$state/run.sh" <<'EOF'
#!/bin/bash
# Runs the e2e check script, records its output and exit code, adds diagnostics on failure.
cd /
rc=0
/bin/bash /lucia-e2e/check.sh >/lucia-e2e/out 2>&1 </dev/null || rc=$?
if [ "$rc" -ne 0 ]; then
    {
        echo "--- systemctl --failed"
        systemctl --no-pager --failed 2>&1
        echo "--- journalctl -b (last 80 lines)"
        journalctl -b --no-pager -n 80 2>&1
    } >/lucia-e2e/diag
fi
echo "$rc" >/lucia-e2e/rc.tmp && mv /lucia-e2e/rc.tmp /lucia-e2e/rc
sync
exit 0
EOF
    local unit=lucia-e2e-check.service
    cat >"$dir/etc/systemd/system/$unit" <<EOF
[Unit]
Description=lucia-pkg end-to-end boot check
After=$after
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
ExecStart=/bin/bash /lucia-e2e/run.sh
Environment=LC_ALL=C.UTF-8 HOME=/root
TimeoutStartSec=infinity
EOF
    mkdir -p "$dir/etc/systemd/system/multi-user.target.wants"
    ln -sfn "/etc/systemd/system/$unit" "$dir/etc/systemd/system/multi-user.target.wants/$unit"

    local limit=120 net=(--private-network) console
    [[ "$(chroot_arch "$dir")" == "$(dpkg --print-architecture)" ]] || limit=600
    limit=${LUCIA_E2E_BOOT_TIMEOUT:-$limit}
    [[ "${LUCIA_E2E_BOOT_NET:-private}" != host ]] || net=()
    console="$state/console.log"
    local start=$SECONDS rc=0
    timeout -k 15 "$limit" systemd-nspawn -q --register=no --keep-unit --link-journal=no \
        "${net[@]}" -D "$dir" -b </dev/null >"$console" 2>&1 || rc=$?
    local took=$((SECONDS - start))
    rm -f "$dir/etc/systemd/system/multi-user.target.wants/$unit" "$dir/etc/systemd/system/$unit"

    if [[ -s "$state/out" ]]; then
        cat "$state/out"
    fi
    if [[ ! -s "$state/rc" ]]; then
        echo "--- boot console (last 60 lines)"
        tail -n 60 "$console"
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then
            echo "FAIL: chroot_boot: no result after ${limit}s (timeout; nspawn rc $rc)"
            return 124
        fi
        echo "FAIL: chroot_boot: the check unit never reported (nspawn rc $rc after ${took}s)"
        return 125
    fi
    local check_rc
    check_rc=$(cat "$state/rc")
    if [[ "$check_rc" != 0 ]]; then
        [[ ! -s "$state/diag" ]] || cat "$state/diag"
    fi
    e2e_log "chroot_boot: booted, ran the check (rc $check_rc) and powered off in ${took}s (nspawn rc $rc)"
    return "$check_rc"
}

# chroot_qemu_dropin DIR UNIT...
#
# Booting a foreign-arch root works through qemu-user, but qemu-user cannot set up user
# namespaces: a unit with PrivateUsers=yes fails with "Failed to set up user namespacing:
# Invalid argument" (status 217/USER). For an emulated root this writes a drop-in
# UNIT.d/50-lucia-e2e-qemu.conf with PrivateUsers=no for each UNIT and says so; for a native
# root it does nothing, so tests can call it unconditionally. Other hardening (seccomp
# filters, ProtectSystem, PrivateTmp, ...) was verified to work under emulation. Also note
# that under emulation systemd-sysusers/-tmpfiles-setup/-sysctl fail at boot (their
# credentials setup hits the same limitation); a test must not require "no failed units".
chroot_qemu_dropin() {
    local dir="${1:?usage: chroot_qemu_dropin DIR UNIT...}" unit
    shift
    [[ "$(chroot_arch "$dir")" != "$(dpkg --print-architecture)" ]] || return 0
    for unit in "$@"; do
        mkdir -p "$dir/etc/systemd/system/$unit.d"
        printf '%s\n' "# lucia-pkg e2e: qemu-user cannot create user namespaces" "[Service]" "PrivateUsers=no" \
            >"$dir/etc/systemd/system/$unit.d/50-lucia-e2e-qemu.conf"
        e2e_log "emulated $(chroot_arch "$dir") root: $unit gets PrivateUsers=no (qemu-user limitation)"
    done
}

# Debian architecture of a root filesystem (from its base-files package).
chroot_arch() {
    awk '/^Package: base-files$/ { f = 1 } f && /^Architecture:/ { print $2; exit }' "$1/var/lib/dpkg/status"
}

# Helpers available inside the booted container at /lucia-e2e/boot-helpers.sh.
_chroot_boot_helpers() {
    cat <<'EOF'
# Sourced by check scripts running inside a chroot_boot container.

# boot_wait_active UNIT [SECONDS]: wait until UNIT is active; on timeout show its status.
boot_wait_active() {
    local unit="$1" limit="${2:-30}" i state
    for ((i = 0; i < limit * 5; i++)); do
        state=$(systemctl is-active "$unit" 2>/dev/null) && return 0
        case "$state" in failed) break ;; esac
        sleep 0.2
    done
    echo "boot_wait_active: $unit is '${state:-unknown}' after waiting up to ${limit}s" >&2
    systemctl --no-pager status "$unit" >&2 || true
    journalctl --no-pager -b -u "$unit" -n 50 >&2 || true
    return 1
}

# boot_wait_http URL [SECONDS]: wait until URL answers with a 2xx status.
boot_wait_http() {
    local url="$1" limit="${2:-30}" i
    for ((i = 0; i < limit * 5; i++)); do
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "boot_wait_http: $url did not answer 2xx within ${limit}s" >&2
    curl -sS -i --max-time 2 "$url" >&2 || true
    return 1
}

# boot_check_serving UNIT URL USER: UNIT becomes active, URL answers exactly 200, and the unit's
# main process runs as USER; prints that process's id. Fails with a message otherwise.
boot_check_serving() {
    local unit="$1" url="$2" want="$3" code pid user
    boot_wait_active "$unit" 60 || { echo "$unit did not become active" >&2; return 1; }
    boot_wait_http "$url" 60 || { echo "$url did not answer" >&2; return 1; }
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$url")
    [ "$code" = 200 ] || { echo "$url answered $code" >&2; return 1; }
    pid=$(systemctl show -p MainPID --value "$unit")
    user=$(ps -o user= -p "$pid")
    [ "$user" = "$want" ] || { echo "$unit main process runs as '$user', not $want" >&2; return 1; }
    echo "$pid"
}
EOF
}
