#!/usr/bin/env bash
# End-to-end test of the lucia .deb (issue 3) with real dpkg/apt in a fresh Debian bookworm root
# (../shared/research/tooling.md §2, outside this repository) and a real systemd boot under
# systemd-nspawn. Steps:
#   0. build v1 (1.0.0) and v2 (1.1.0, changed env template) with `lucia-pkg build --format deb`;
#      a second v1 build under another umask, TZ, locale, TMPDIR and core count is bit-identical; dpkg-deb -I/-f/-c, lintian (--fail-on error,warning,
#      overrides shipped in the package) and `lucia-pkg inspect` on v1.
#   1. offline install of v1 with apt (no systemd running, like an image build): lucia is a
#      system user (uid < 1000, nologin shell), every file/dir has the mode and owner listed in
#      the package, /etc/lucia/lucia.env is 0640 root:lucia and a conffile, the state dir exists,
#      lucia.service is enabled.
#   2. boot the root with systemd: lucia.service is active, runs as lucia, GET /health → 200.
#      Then, with systemd running: edit the env file, install v2 with --force-confold → the edit
#      survives, v2's template sits beside it as .dpkg-dist, the service was restarted (new
#      InvocationID, demo start counter +1) and is healthy, the user is unchanged;
#      apt-get remove → service stopped, not enabled any more, config kept;
#      apt-get purge → config gone, /var/lib/lucia kept (the manifest says purge-state = false),
#      systemd state cleaned, the user still there; a new install with systemd running enables
#      and starts the service and reuses the kept account. Before the boot, every maintainer
#      script is re-run for each dpkg action it knows (and an unknown one): no failure, no change.
#
# Env: LUCIA_PKG (binary under test).

# shellcheck source=tests/e2e/lib/chroot.sh
. "$(dirname "$0")/lib/chroot.sh"

START=$SECONDS
e2e_need_root
e2e_need_tools dpkg-deb lintian systemd-nspawn zstd
e2e_need_lucia_pkg
e2e_demo_payload

ARCH=amd64
T=$(e2e_tmpdir)
# The manifest's source date, not the environment's, must end up in the package.
unset SOURCE_DATE_EPOCH

# --- 0. build and static checks -------------------------------------------------------------
e2e_manifest_variant "$T/v1.toml"
cp "$REPO_ROOT/systemd/lucia.env" "$T/lucia-v2.env"
printf '\n# Added in 1.1.0 (e2e marker).\nLUCIA_E2E_TEMPLATE_V2=1\n' >>"$T/lucia-v2.env"
e2e_manifest_variant "$T/v2.toml" version=1.1.0 service.env.template="$T/lucia-v2.env"

# --no-cache: every build must run the writer; the store would hand back the first result.
build() { # build MANIFEST OUTDIR
    "$LUCIA_PKG" build --no-cache --manifest "$1" --arch "$ARCH" --format deb --out "$2" >"$2.log" 2>&1 ||
        e2e_fail "lucia-pkg build --format deb failed for $1: $(cat "$2.log")"
}
e2e_log "building v1 and v2 debs ($ARCH)"
build "$T/v1.toml" "$T/out1"
build "$T/v2.toml" "$T/out2"
# The second v1 build varies what must not matter: umask, time zone, locale, temp dir, cores.
mkdir -p "$T/tmp-again"
one_core=()
if command -v taskset >/dev/null 2>&1; then one_core=(taskset -c 0); fi
(
    umask 077
    export TZ=Pacific/Kiritimati LC_ALL=C.UTF-8 LANG=C.UTF-8 TMPDIR="$T/tmp-again"
    "${one_core[@]}" "$LUCIA_PKG" build --no-cache --manifest "$T/v1.toml" --arch "$ARCH" --format deb --out "$T/out1-again" \
        >"$T/out1-again.log" 2>&1
) || e2e_fail "second v1 build failed: $(cat "$T/out1-again.log")"
V1=$T/out1/lucia_1.0.0-1_$ARCH.deb
V2=$T/out2/lucia_1.1.0-1_$ARCH.deb
[[ -f "$V1" && -f "$V2" ]] || e2e_fail "expected $V1 and $V2; got: $(ls "$T"/out1 "$T"/out2)"
cmp -s "$V1" "$T/out1-again/$(basename "$V1")" ||
    e2e_fail "two builds of v1 differ (umask/TZ/locale/TMPDIR/cores varied); compare with diffoscope"

e2e_log "static checks: dpkg-deb, lintian, lucia-pkg inspect"
dpkg-deb --info "$V1" >"$T/info" || e2e_fail "dpkg-deb --info failed on v1"
fields=$(dpkg-deb -f "$V1" Package Version Architecture)
[[ "$fields" == $'Package: lucia\nVersion: 1.0.0-1\nArchitecture: amd64' ]] || e2e_fail "v1 control fields: $fields"
[[ "$(dpkg-deb -f "$V2" Version)" == "1.1.0-1" ]] || e2e_fail "v2 version: $(dpkg-deb -f "$V2" Version)"
dpkg-deb -c "$V1" >"$T/listing" || e2e_fail "dpkg-deb -c failed on v1"
for s in preinst postinst prerm postrm; do
    grep -q "^ *[0-9]* bytes, *[0-9]* lines *\* *$s " "$T/info" || e2e_fail "v1 has no executable $s: $(cat "$T/info")"
done
if ! lintian --fail-on error,warning "$V1" >"$T/lintian" 2>&1; then
    e2e_fail "lintian reports errors or warnings on v1 (fix the package or ship a justified override):
$(cat "$T/lintian")"
fi
"$LUCIA_PKG" inspect "$V1" >"$T/inspect" 2>&1 || e2e_fail "lucia-pkg inspect failed: $(cat "$T/inspect")"
for want in "Architecture: amd64" "/etc/lucia/lucia.env" "postinst" "./opt/lucia/lucia.AgentHost" "deb-systemd-helper"; do
    grep -qF -- "$want" "$T/inspect" || e2e_fail "lucia-pkg inspect output lacks '$want'"
done

# --- 1. offline install of v1 ---------------------------------------------------------------
R=$T/root
e2e_log "fresh bookworm root; apt-get install ./$(basename "$V1") (offline, no systemd running)"
chroot_fresh "$ARCH" "$R"
# /srv, not /tmp: systemd mounts a fresh tmpfs on /tmp when the root boots.
mkdir -p "$R/srv/debs"
cp "$V1" "$V2" "$R/srv/debs/"
chroot_exec "$R" apt-get install -y "/srv/debs/$(basename "$V1")" </dev/null >"$T/install1.log" 2>&1 ||
    e2e_fail "apt-get install v1 failed: $(tail -n 40 "$T/install1.log")"

IFS=: read -r _ _ uid _ _ home shell < <(chroot_exec "$R" getent passwd lucia) ||
    e2e_fail "user lucia does not exist after install"
((uid < 1000)) || e2e_fail "lucia uid $uid is not a system uid"
[[ "$shell" == */nologin ]] || e2e_fail "lucia has login shell '$shell'"
[[ "$home" == /var/lib/lucia ]] || e2e_fail "lucia home is '$home'"
group=$(chroot_exec "$R" id -gn lucia) || e2e_fail "cannot resolve lucia's group"
[[ "$group" == lucia ]] || e2e_fail "lucia's primary group is '$group'"

# Every entry of the package, as dpkg-deb lists it, against what landed on disk. stat runs
# inside the root so that owner names resolve against the root's passwd/group, not the host's.
: >"$T/expected"
: >"$R/tmp/paths"
while read -r perms owner _ _ _ path rest; do
    [[ "$path" == "./" ]] && continue
    [[ -z "$rest" ]] || e2e_fail "unexpected listing line for $path: $rest (symlinks/hard links are not expected)"
    path=${path#.}
    path=${path%/}
    printf '%s\n' "$path" >>"$R/tmp/paths"
    printf '%s %s %s\n' "$perms" "$owner" "$path" >>"$T/expected"
done <"$T/listing"
chroot_exec "$R" xargs -a /tmp/paths -d '\n' stat -c '%A %U/%G %n' >"$T/actual" 2>&1 ||
    e2e_fail "stat of the installed paths failed: $(cat "$T/actual")"
diff -u "$T/expected" "$T/actual" >&2 || e2e_fail "installed modes/owners differ from the package (diff above: - package, + installed)"
n=$(wc -l <"$T/expected")
e2e_log "checked mode and owner of $n installed paths"
# Names resolve inside the root (the host's group table differs).
rstat() { chroot_exec "$R" stat -c '%a %U:%G' "$1"; }
got=$(rstat /etc/lucia/lucia.env)
[[ "$got" == "640 root:lucia" ]] || e2e_fail "/etc/lucia/lucia.env is $got"
chroot_exec "$R" dpkg-query --control-show lucia conffiles | grep -qx /etc/lucia/lucia.env ||
    e2e_fail "/etc/lucia/lucia.env is not a conffile"
got=$(rstat /var/lib/lucia)
[[ "$got" == "750 lucia:lucia" ]] || e2e_fail "/var/lib/lucia is $got"
enabled=$(chroot_exec "$R" systemctl is-enabled lucia.service) || e2e_fail "lucia.service is '$enabled', not enabled"
[[ "$enabled" == enabled ]] || e2e_fail "lucia.service is '$enabled'"

# The scripts are idempotent and honour every action: run them again, as dpkg would on a
# reconfigure, an aborted upgrade or an unknown future action; nothing fails or changes.
before=$(chroot_exec "$R" sh -c 'getent passwd lucia; stat -c "%a %U:%G" /etc/lucia/lucia.env /var/lib/lucia; systemctl is-enabled lucia.service')
for call in "preinst install" "preinst upgrade 1.0.0-1" "preinst abort-upgrade 1.0.0-1" \
    "postinst configure 1.0.0-1" "postinst configure" "postinst abort-upgrade 1.0.0-1" \
    "postinst abort-remove" "postinst abort-deconfigure in-favour x 1.0" "postinst triggered /x" \
    "prerm upgrade 1.0.0-1" "prerm failed-upgrade 1.0.0-1" "prerm deconfigure in-favour x 1.0" \
    "postrm upgrade 1.0.0-1" "postrm failed-upgrade 1.0.0-1" "postrm abort-upgrade 1.0.0-1" \
    "postinst some-future-action"; do
    read -r script args <<<"$call"
    # shellcheck disable=SC2086 # $args is a word list on purpose
    chroot_exec "$R" env DPKG_MAINTSCRIPT_PACKAGE=lucia DPKG_MAINTSCRIPT_NAME="$script" \
        sh -e "/var/lib/dpkg/info/lucia.$script" $args </dev/null >"$T/script.log" 2>&1 ||
        e2e_fail "lucia.$script $args failed: $(cat "$T/script.log")"
done
after=$(chroot_exec "$R" sh -c 'getent passwd lucia; stat -c "%a %U:%G" /etc/lucia/lucia.env /var/lib/lucia; systemctl is-enabled lucia.service')
[[ "$before" == "$after" ]] || e2e_fail "re-running the maintainer scripts changed the system:
before: $before
after:  $after"
e2e_log "maintainer scripts re-run for 16 dpkg actions: idempotent"

# --- 2. boot: run, upgrade, remove, purge with systemd running -------------------------------
cat >"$T/boot-check.sh" <<'EOF'
set -euo pipefail
. /lucia-e2e/boot-helpers.sh
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
starts() { sed -n 's/^starts=//p' /var/lib/lucia/lucia-demo.state; }
apt_q() { DEBIAN_FRONTEND=noninteractive apt-get -q -y "$@" </dev/null >>/lucia-e2e/apt.log 2>&1 || { tail -n 40 /lucia-e2e/apt.log; fail "apt-get $*"; }; }

pid=$(boot_check_serving lucia.service http://127.0.0.1:8080/health lucia) || fail "v1 is not serving"
ok "v1 active as lucia (pid $pid), /health 200"
uid_before=$(id -u lucia)
inv1=$(systemctl show -p InvocationID --value lucia.service)
starts1=$(starts)

echo "LUCIA_E2E_LOCAL_EDIT=kept" >>/etc/lucia/lucia.env
apt_q -o Dpkg::Options::=--force-confold install /srv/debs/lucia_1.1.0-1_amd64.deb
[ "$(dpkg-query -W -f='${Version}' lucia)" = 1.1.0-1 ] || fail "v2 not installed"
grep -qx LUCIA_E2E_LOCAL_EDIT=kept /etc/lucia/lucia.env || fail "local edit of lucia.env lost on upgrade"
grep -qx LUCIA_E2E_TEMPLATE_V2=1 /etc/lucia/lucia.env.dpkg-dist || fail "no v2 template in lucia.env.dpkg-dist"
[ "$(stat -c '%a %U:%G' /etc/lucia/lucia.env)" = "640 root:lucia" ] || fail "lucia.env is $(stat -c '%a %U:%G' /etc/lucia/lucia.env) after upgrade"
boot_wait_active lucia.service 60 || fail "lucia.service not active after upgrade"
inv2=$(systemctl show -p InvocationID --value lucia.service)
[ -n "$inv2" ] && [ "$inv2" != "$inv1" ] || fail "lucia.service was not restarted by the upgrade (InvocationID $inv1 -> $inv2)"
boot_wait_http http://127.0.0.1:8080/health 60 || fail "/health after upgrade"
starts2=$(starts)
[ "$starts2" -eq $((starts1 + 1)) ] || fail "demo start counter went $starts1 -> $starts2 (want exactly one restart)"
[ "$(id -u lucia)" = "$uid_before" ] || fail "lucia uid changed on upgrade"
ok "upgrade to 1.1.0-1: edit kept, .dpkg-dist written, restarted (start #$starts1 -> #$starts2), healthy, user kept"

apt_q remove lucia
state=$(systemctl is-active lucia.service || true)
[ "$state" != active ] && [ "$state" != activating ] || fail "lucia.service still $state after remove"
en=$(systemctl is-enabled lucia.service 2>/dev/null || true)
[ "$en" != enabled ] || fail "lucia.service still enabled after remove"
[ -f /etc/lucia/lucia.env ] && grep -qx LUCIA_E2E_LOCAL_EDIT=kept /etc/lucia/lucia.env || fail "config not kept on remove"
[ ! -e /opt/lucia/lucia.AgentHost ] || fail "payload left after remove"
getent passwd lucia >/dev/null || fail "user lucia deleted on remove"
ok "remove: service $state, is-enabled '$en', config kept, user kept"

apt_q purge lucia
[ ! -e /etc/lucia ] || fail "/etc/lucia left after purge: $(ls -la /etc/lucia)"
[ -d /var/lib/lucia ] && [ -f /var/lib/lucia/lucia-demo.state ] || fail "/var/lib/lucia removed although purge-state = false"
[ ! -e /etc/systemd/system/lucia.service ] || fail "mask link left after purge"
[ ! -e /etc/systemd/system/multi-user.target.wants/lucia.service ] && [ ! -L /etc/systemd/system/multi-user.target.wants/lucia.service ] || fail "wants link left after purge"
[ ! -e /var/lib/systemd/deb-systemd-helper-enabled/lucia.service.dsh-also ] || fail "deb-systemd-helper state left after purge"
getent passwd lucia >/dev/null || fail "user lucia deleted on purge"
dpkg-query -W lucia >/dev/null 2>&1 && fail "lucia still known to dpkg after purge"
ok "purge: config and systemd state gone, /var/lib/lucia kept, user kept"

# A first install while systemd runs: enabled and started by postinst, the kept account reused.
apt_q install /srv/debs/lucia_1.0.0-1_amd64.deb
boot_wait_active lucia.service 60 || fail "lucia.service not started by a first install under systemd"
[ "$(systemctl is-enabled lucia.service)" = enabled ] || fail "not enabled by a first install after purge"
boot_wait_http http://127.0.0.1:8080/health 60 || fail "/health after reinstall"
[ "$(id -u lucia)" = "$uid_before" ] || fail "reinstall created a new lucia account"
ok "reinstall with systemd running: enabled, started (start #$(starts)), same uid $uid_before"
EOF
e2e_log "booting the root: v1 running, upgrade to v2, remove, purge"
chroot_boot "$R" "$T/boot-check.sh" lucia.service || e2e_fail "boot checks failed (output above)"

e2e_log "PASS deb e2e in $((SECONDS - START)) s"
