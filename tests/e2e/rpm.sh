#!/usr/bin/env bash
# End-to-end test of the lucia .rpm (issue 4), with Debian's rpm 4.18 against a fresh copy of
# the cached Debian bookworm root (../shared/research/tooling.md §3, outside this repository).
# Steps:
#   0. build v1 (1.0.0) and v2 (1.1.0, changed env template) with `lucia-pkg build --format rpm`;
#      check them statically: rpm -K (and a corrupted copy fails it), rpm -qp --scripts,
#      rpm -qlvp, BUILDTIME/BUILDHOST/PAYLOADCOMPRESSOR, rpmlint with packaging/rpmlint.toml,
#      lucia-pkg inspect, and that a second build is bit-identical.
#   1. install v1 offline (`rpm --root`, systemd not running — like an image build): scriptlets
#      ran, user exists, files/modes as declared, env file 0640 root:lucia, unit enabled,
#      rpm -V clean.
#   2. boot the root with systemd-nspawn: lucia.service runs as lucia, /health answers 200;
#      then, with systemd running, edit the env file and upgrade to v2 (-Uvh): edit kept,
#      .rpmnew written, service restarted (new PID), user kept; erase (-e): service stopped,
#      edited env kept as .rpmsave, user and state kept; reinstall: %pre/%post are idempotent
#      with an existing user and start the service on a first install when systemd runs.
#
# Not covered (no Fedora/RHEL repositories here): dependency resolution by dnf; installs use
# --nodeps because the Debian root's rpmdb provides nothing (no glibc, systemd, /bin/sh).
#
# Env: LUCIA_PKG (binary under test), LUCIA_E2E_ARCH (amd64, default, or arm64 under qemu:
# steps 0 and 1 only, see step 2).

# shellcheck source=tests/e2e/lib/chroot.sh
. "$(dirname "$0")/lib/chroot.sh"

e2e_need_root
e2e_need_tools rpm rpmlint systemd-nspawn zstd python3
e2e_need_lucia_pkg
e2e_demo_payload

ARCH=${LUCIA_E2E_ARCH:-amd64}
case "$ARCH" in
amd64) RPMARCH=x86_64 ;;
arm64) RPMARCH=aarch64 ;;
*) e2e_fail "LUCIA_E2E_ARCH must be amd64 or arm64 (got '$ARCH')" ;;
esac
e2e_need_arch "$ARCH"

T=$(e2e_tmpdir)
# The manifest's source date, not the environment's, must end up in the package.
unset SOURCE_DATE_EPOCH
SDE=$(awk -F'[= ]+' '/^source-date-epoch/ { print $2; exit }' "$REPO_ROOT/packaging/lucia.toml")
[[ "$SDE" =~ ^[0-9]+$ ]] || e2e_fail "could not read source-date-epoch from packaging/lucia.toml"

# --- 0. build -------------------------------------------------------------------------------
e2e_manifest_variant "$T/v1.toml"
cp "$REPO_ROOT/systemd/lucia.env" "$T/lucia-v2.env"
printf '\n# Added in 1.1.0 (e2e marker).\nLUCIA_E2E_TEMPLATE_V2=1\n' >>"$T/lucia-v2.env"
e2e_manifest_variant "$T/v2.toml" version=1.1.0 service.env.template="$T/lucia-v2.env"

# --no-cache: every build must run the writer (the store would hand back the first result, and
# the bit-identity check below would prove nothing).
build() { # build MANIFEST OUTDIR
    "$LUCIA_PKG" build --no-cache --manifest "$1" --arch "$ARCH" --format rpm --out "$2" >"$2.log" 2>&1 ||
        e2e_fail "lucia-pkg build --format rpm failed for $1: $(cat "$2.log")"
}
e2e_log "building v1 and v2 rpms ($ARCH)"
build "$T/v1.toml" "$T/out1"
build "$T/v2.toml" "$T/out2"
build "$T/v1.toml" "$T/out1-again"
V1=$T/out1/lucia-1.0.0-1.$RPMARCH.rpm
V2=$T/out2/lucia-1.1.0-1.$RPMARCH.rpm
[[ -f "$V1" && -f "$V2" ]] || e2e_fail "expected $V1 and $V2; got: $(ls "$T"/out1 "$T"/out2)"
cmp -s "$V1" "$T/out1-again/$(basename "$V1")" || e2e_fail "two builds of v1 differ"

Q=(rpm --dbpath "$T/qdb") # queries never touch ~/.rpmdb
mkdir -p "$T/qdb"

e2e_log "static checks: rpm -K, --scripts, -qlvp, tags, rpmlint, inspect"
k=$("${Q[@]}" -K "$V1") || e2e_fail "rpm -K failed on v1: $k"
[[ "$k" == *"digests OK"* ]] || e2e_fail "rpm -K: $k"
cp "$V1" "$T/corrupt.rpm"
# Flip one bit of one payload byte (100 bytes before the end).
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-100] ^= 1; open(p, "wb").write(b)' "$T/corrupt.rpm"
cmp -s "$V1" "$T/corrupt.rpm" && e2e_fail "corrupting the copy did not change it"
if "${Q[@]}" -K "$T/corrupt.rpm" >"$T/k.out" 2>&1; then
    e2e_fail "rpm -K accepted a corrupted package: $(cat "$T/k.out")"
fi

tags=$("${Q[@]}" -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{BUILDTIME} %{BUILDHOST} %{PAYLOADCOMPRESSOR}' "$V1")
[[ "$tags" == "lucia 1.0.0 1 $RPMARCH $SDE reproducible zstd" ]] || e2e_fail "unexpected header tags: $tags"

scripts=$("${Q[@]}" -qp --scripts "$V1")
# shellcheck disable=SC2016 # the literal $1 tests are what we look for
for want in 'preinstall scriptlet (using /bin/sh)' 'postinstall scriptlet (using /bin/sh)' \
    'preuninstall scriptlet (using /bin/sh)' 'postuninstall scriptlet (using /bin/sh)' \
    'if [ "$1" -eq 1 ]; then' 'if [ "$1" -eq 0 ]; then' 'if [ "$1" -ge 1 ]; then' \
    'systemctl try-restart lucia.service' 'useradd --system'; do
    grep -qF -- "$want" <<<"$scripts" || e2e_fail "rpm -qp --scripts lacks '$want':"$'\n'"$scripts"
done
if grep -qE 'userdel|groupdel' <<<"$scripts"; then e2e_fail "a scriptlet deletes the user"; fi

list=$("${Q[@]}" -qlvp "$V1")
grep -qE '^-rw-r-----  +1 root +lucia .* /etc/lucia/lucia\.env$' <<<"$list" ||
    e2e_fail "env file is not -rw-r----- root lucia:"$'\n'"$list"
grep -qE '^-rwxr-xr-x  +1 root +root .* /opt/lucia/lucia\.AgentHost$' <<<"$list" ||
    e2e_fail "AgentHost is not -rwxr-xr-x root root:"$'\n'"$list"
grep -qE '^d.* /opt/lucia$' <<<"$list" || e2e_fail "/opt/lucia is not owned:"$'\n'"$list"
for shared in /etc /opt /usr /usr/lib /usr/lib/systemd/system /usr/share/doc; do
    if grep -qE " ${shared}\$" <<<"$list"; then e2e_fail "the package claims $shared"; fi
done
for f in /usr/lib/systemd/system/lucia.service /usr/lib/sysusers.d/lucia.conf /usr/lib/tmpfiles.d/lucia.conf; do
    grep -qE " $f\$" <<<"$list" || e2e_fail "$f missing from the package"
done
[[ "$("${Q[@]}" -qcp "$V1")" == /etc/lucia/lucia.env ]] || e2e_fail "config files: $("${Q[@]}" -qcp "$V1")"
"${Q[@]}" -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "$V1" | grep -qx '/etc/lucia/lucia.env cn' ||
    e2e_fail "env file is not %config(noreplace)"

if ! rpmlint -c "$REPO_ROOT/packaging/rpmlint.toml" "$V1" >"$T/rpmlint.out" 2>&1; then
    e2e_fail "rpmlint found errors:"$'\n'"$(cat "$T/rpmlint.out")"
fi
grep -q ' 0 errors, 0 warnings' "$T/rpmlint.out" || e2e_fail "rpmlint warnings not justified in packaging/rpmlint.toml:"$'\n'"$(cat "$T/rpmlint.out")"

"$LUCIA_PKG" inspect "$V1" >"$T/inspect.out" 2>&1 || e2e_fail "lucia-pkg inspect failed: $(cat "$T/inspect.out")"
for want in lucia 1.0.0 /etc/lucia/lucia.env '%post' 'try-restart'; do
    grep -qF -- "$want" "$T/inspect.out" || e2e_fail "lucia-pkg inspect output lacks '$want':"$'\n'"$(cat "$T/inspect.out")"
done
if "$LUCIA_PKG" inspect "$T/corrupt.rpm" >"$T/inspect-bad.out" 2>&1 &&
    ! grep -qiE 'not ok|mismatch' "$T/inspect-bad.out"; then
    e2e_fail "lucia-pkg inspect does not flag the corrupted package"
fi

# --- 1. offline install ---------------------------------------------------------------------
R=$T/root
chroot_fresh "$ARCH" "$R"
e2e_on_exit "e2e_umount_below '$R'"

# rpm --root runs the scriptlets chrooted into R; give them /proc and /dev as a real system has.
rpm_root() {
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    mount --make-rslave "$R/dev"
    local rc=0
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C rpm --root "$R" --dbpath /var/lib/rpm "$@" || rc=$?
    e2e_umount_below "$R/dev" || true
    e2e_umount_below "$R/proc" || true
    return "$rc"
}

e2e_log "installing v1 offline with rpm --root"
# The host's rpm refuses a foreign-arch package; the in-container rpm (below) is native.
foreign=()
[[ "$ARCH" == "$(dpkg --print-architecture)" ]] || foreign=(--ignorearch)
rpm_root -ivh --nodeps "${foreign[@]}" "$V1" >"$T/install.out" 2>&1 || e2e_fail "rpm -ivh failed: $(cat "$T/install.out")"
grep -qiE 'scriptlet failed|error:' "$T/install.out" && e2e_fail "install reported errors: $(cat "$T/install.out")"

pw=$(chroot_exec "$R" getent passwd lucia) || e2e_fail "user lucia was not created"
IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
[[ "$home" == /var/lib/lucia && "$shell" == /usr/sbin/nologin ]] || e2e_fail "user lucia: $pw"
((uid < 1000)) || e2e_fail "lucia is not a system user: $pw"
chroot_exec "$R" getent group lucia >/dev/null || e2e_fail "group lucia was not created"

st() { chroot_exec "$R" stat -c '%a %U %G' "$1"; }
[[ "$(st /etc/lucia/lucia.env)" == "640 root lucia" ]] || e2e_fail "env file: $(st /etc/lucia/lucia.env)"
[[ "$(st /opt/lucia/lucia.AgentHost)" == "755 root root" ]] || e2e_fail "AgentHost: $(st /opt/lucia/lucia.AgentHost)"
[[ "$(st /usr/lib/systemd/system/lucia.service)" == "644 root root" ]] || e2e_fail "unit: $(st /usr/lib/systemd/system/lucia.service)"
[[ "$(st /var/lib/lucia)" == "750 lucia lucia" ]] || e2e_fail "state dir: $(st /var/lib/lucia)"
cmp -s "$R/etc/lucia/lucia.env" "$REPO_ROOT/systemd/lucia.env" || e2e_fail "env file content differs from the template"
[[ "$(chroot_exec "$R" systemctl is-enabled lucia.service)" == enabled ]] || e2e_fail "lucia.service is not enabled"
rpm_root -V --nodeps lucia >"$T/verify.out" 2>&1 || e2e_fail "rpm -V lucia: $(cat "$T/verify.out")"
[[ "$(rpm_root -q lucia)" == "lucia-1.0.0-1.$RPMARCH" ]] || e2e_fail "rpm -q lucia: $(rpm_root -q lucia)"

# --- 2. boot; upgrade, erase and reinstall with systemd running -----------------------------
if [[ "$ARCH" != "$(dpkg --print-architecture)" ]]; then
    # Under qemu-user systemd boots but cannot apply lucia.service's sandbox (namespaces,
    # seccomp: status 217/USER); deb-arm64.sh documents and works around that for the arm64
    # runtime check. The scriptlet logic is architecture-independent and is booted on amd64.
    e2e_log "rpm e2e ($ARCH) passed the build, static and offline-install checks; boot phase runs on the native arch only (qemu-user cannot apply the unit's sandbox)"
    exit 0
fi
# The root's own rpm (Debian's package, from the mirror) drives the steps inside the container.
e2e_log "installing Debian's rpm into the root (for the in-container upgrade/erase)"
chroot_exec "$R" sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends rpm' </dev/null >"$T/apt.out" 2>&1 ||
    e2e_fail "could not install rpm into the root: $(tail -n 20 "$T/apt.out")"
# Not /tmp: systemd-nspawn mounts a fresh tmpfs there.
cp "$V2" "$R/root/lucia-v2.rpm"

cat >"$T/check.sh" <<'EOF'
set -u
. /lucia-e2e/boot-helpers.sh
fail() { echo "FAIL: $*"; exit 1; }
RPM="rpm --dbpath /var/lib/rpm"
main_pid() { systemctl show -p MainPID --value lucia.service; }

boot_wait_active lucia.service 60 || fail "lucia.service did not become active after boot"
boot_wait_http http://127.0.0.1:8080/health 30 || fail "/health did not answer"
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health)
[ "$code" = 200 ] || fail "/health answered $code"
pid1=$(main_pid)
user=$(ps -o user= -p "$pid1" | tr -d ' ')
[ "$user" = lucia ] || fail "lucia.service runs as '$user'"
uid_before=$(id -u lucia)
echo "booted: lucia.service active as lucia (pid $pid1), /health 200"

# Upgrade with a locally edited env file.
echo 'LUCIA_E2E_LOCAL_EDIT=1' >>/etc/lucia/lucia.env
$RPM -Uvh --nodeps /root/lucia-v2.rpm >/tmp/upgrade.out 2>&1 || { cat /tmp/upgrade.out; fail "rpm -Uvh failed"; }
cat /tmp/upgrade.out
grep -qiE 'scriptlet failed' /tmp/upgrade.out && fail "a scriptlet failed during the upgrade"
[ "$($RPM -q lucia)" = "lucia-1.1.0-1.$(uname -m)" ] || fail "after upgrade: $($RPM -q lucia)"
grep -qx 'LUCIA_E2E_LOCAL_EDIT=1' /etc/lucia/lucia.env || fail "the local edit was lost"
[ -f /etc/lucia/lucia.env.rpmnew ] || fail "no /etc/lucia/lucia.env.rpmnew"
grep -qx 'LUCIA_E2E_TEMPLATE_V2=1' /etc/lucia/lucia.env.rpmnew || fail ".rpmnew is not the v2 template"
[ "$(stat -c '%a %U %G' /etc/lucia/lucia.env)" = "640 root lucia" ] || fail "env file mode after upgrade: $(stat -c '%a %U %G' /etc/lucia/lucia.env)"
boot_wait_active lucia.service 30 || fail "lucia.service not active after the upgrade"
pid2=$(main_pid)
[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] || fail "lucia.service was not restarted by the upgrade (pid $pid1 -> $pid2)"
boot_wait_http http://127.0.0.1:8080/health 30 || fail "/health after the upgrade"
[ "$(id -u lucia)" = "$uid_before" ] || fail "the upgrade changed lucia's uid"
[ "$(systemctl is-enabled lucia.service)" = enabled ] || fail "unit not enabled after the upgrade"
echo "upgraded: edit kept, .rpmnew written, restarted (pid $pid1 -> $pid2), user kept"

# Erase.
$RPM -e --nodeps lucia >/tmp/erase.out 2>&1 || { cat /tmp/erase.out; fail "rpm -e failed"; }
cat /tmp/erase.out
grep -qiE 'scriptlet failed' /tmp/erase.out && fail "a scriptlet failed during the erase"
if systemctl is-active --quiet lucia.service; then fail "lucia.service still active after erase"; fi
if pgrep -u lucia >/dev/null; then fail "processes of lucia survive the erase"; fi
[ ! -e /usr/lib/systemd/system/lucia.service ] || fail "unit file left behind"
[ ! -e /etc/systemd/system/multi-user.target.wants/lucia.service ] || fail "enablement symlink left behind"
[ ! -e /opt/lucia/lucia.AgentHost ] || fail "payload left behind"
[ -f /etc/lucia/lucia.env.rpmsave ] || fail "edited env file not saved as .rpmsave"
grep -qx 'LUCIA_E2E_LOCAL_EDIT=1' /etc/lucia/lucia.env.rpmsave || fail ".rpmsave lacks the local edit"
getent passwd lucia >/dev/null || fail "erase deleted the user"
[ "$(id -u lucia)" = "$uid_before" ] || fail "erase changed lucia's uid"
[ -d /var/lib/lucia ] || fail "erase deleted the state directory"
echo "erased: stopped, disabled, .rpmsave kept, user and state kept"

# Reinstall while systemd runs: %pre finds the user, %post enables and starts.
$RPM -ivh --nodeps /root/lucia-v2.rpm >/tmp/reinstall.out 2>&1 || { cat /tmp/reinstall.out; fail "reinstall failed"; }
grep -qiE 'scriptlet failed' /tmp/reinstall.out && fail "a scriptlet failed during the reinstall"
boot_wait_active lucia.service 30 || fail "%post did not start lucia.service on a first install"
boot_wait_http http://127.0.0.1:8080/health 30 || fail "/health after the reinstall"
[ "$(id -u lucia)" = "$uid_before" ] || fail "reinstall changed lucia's uid"
[ "$(getent passwd | grep -c '^lucia:')" = 1 ] || fail "duplicate lucia users"
echo "reinstalled: started on first install, user reused"
EOF
e2e_log "booting the root with systemd-nspawn"
chroot_boot "$R" "$T/check.sh" || e2e_fail "boot checks failed (see above)"
e2e_log "rpm e2e passed"
