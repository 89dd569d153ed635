#!/usr/bin/env bash
# End-to-end test of the release tarball's install.sh (issue 2) on a real Debian bookworm root:
#   0. build the amd64 tarball twice (second time with umask 077, another TZ/locale/TMPDIR):
#      identical bytes; listing is root-owned, fixed mtime.
#   1. in a fresh root, as root: ./install.sh → the lucia system user exists, every entry of
#      MANIFEST has its declared mode and owner, /etc/lucia/lucia.env is 0640 root:lucia, state
#      dir 0750 lucia:lucia, unit installed; a second run changes nothing (idempotent).
#   2. boot the root: the unit (enabled at first boot by systemctl) runs as lucia, /health 200;
#      re-running install.sh with systemd running keeps an edited env file (template written
#      as .dist) and try-restarts the service.
#   3. --uninstall: service stopped and disabled, files gone, config and user kept;
#      --uninstall --purge: config gone, state kept (the manifest says purge-state = false, as
#      apt purge does for the deb), user kept.
#
# Env: LUCIA_PKG (binary under test).

# shellcheck source=tests/e2e/lib/chroot.sh
. "$(dirname "$0")/lib/chroot.sh"

e2e_need_root
e2e_need_tools tar systemd-nspawn zstd
e2e_need_lucia_pkg
e2e_demo_payload
unset SOURCE_DATE_EPOCH

T=$(e2e_tmpdir)
e2e_manifest_variant "$T/m.toml"
NAME=lucia-1.0.0-linux-amd64.tar.gz

e2e_log "building the amd64 tarball twice"
"$LUCIA_PKG" build --no-cache --manifest "$T/m.toml" --arch amd64 --format tar --out "$T/out1" >"$T/b1.log" 2>&1 ||
    e2e_fail "build failed: $(cat "$T/b1.log")"
mkdir -p "$T/tmp2"
(
    umask 077
    export TZ=Asia/Kolkata LC_ALL=C.UTF-8 TMPDIR="$T/tmp2"
    "$LUCIA_PKG" build --no-cache --manifest "$T/m.toml" --arch amd64 --format tar --out "$T/out2" >"$T/b2.log" 2>&1
) || e2e_fail "second build failed: $(cat "$T/b2.log")"
cmp -s "$T/out1/$NAME" "$T/out2/$NAME" || e2e_fail "the two tarball builds differ"
TZ=UTC tar --numeric-owner -tvzf "$T/out1/$NAME" >"$T/listing"
bad=$(awk '$2 != "0/0" && $6 !~ /etc\/lucia\/lucia.env$/ { print }' "$T/listing")
[[ -z "$bad" ]] || e2e_fail "entries not owned by root: $bad"
bad=$(awk '$4 != "2026-11-01" || $5 != "00:00" { print }' "$T/listing")
[[ -z "$bad" ]] || e2e_fail "entries without the source date as mtime: $bad"

R=$T/root
chroot_fresh amd64 "$R"
mkdir -p "$R/srv/pkg"
tar -xzf "$T/out1/$NAME" -C "$R/srv/pkg"
TOP=/srv/pkg/lucia-1.0.0

e2e_log "install.sh as root in the fresh root (no systemd running)"
chroot_exec "$R" sh "$TOP/install.sh" >"$T/i1.log" 2>&1 || e2e_fail "install.sh failed: $(cat "$T/i1.log")"
IFS=: read -r _ _ uid _ _ home shell < <(chroot_exec "$R" getent passwd lucia) || e2e_fail "no lucia user after install.sh"
((uid < 1000)) || e2e_fail "lucia uid $uid is not a system uid"
[[ "$shell" == */nologin && "$home" == /var/lib/lucia ]] || e2e_fail "lucia account: home $home shell $shell"

# Every MANIFEST entry against the disk (modes and owners as declared; shared dirs only exist).
check_manifest() {
    chroot_exec "$R" sh -c '
        rc=0
        while IFS="	" read -r kind mode user group path target; do
            case "$kind" in
                D) [ -d "$path" ] || { echo "missing dir $path"; rc=1; } ;;
                l) [ "$(readlink "$path")" = "$target" ] || { echo "bad link $path"; rc=1; } ;;
                *) got=$(stat -c "%a %U:%G" "$path" 2>&1)
                   want="$(printf %o 0$mode) $user:$group"
                   [ "$got" = "$want" ] || { echo "$path: $got, want $want"; rc=1; } ;;
            esac
        done < '"$TOP"'/MANIFEST
        exit $rc'
}
check_manifest >"$T/m1.log" 2>&1 || e2e_fail "installed tree differs from MANIFEST: $(cat "$T/m1.log")"
got=$(chroot_exec "$R" stat -c '%a %U:%G' /etc/lucia/lucia.env)
[[ "$got" == "640 root:lucia" ]] || e2e_fail "/etc/lucia/lucia.env is $got"
got=$(chroot_exec "$R" stat -c '%a %U:%G' /var/lib/lucia)
[[ "$got" == "750 lucia:lucia" ]] || e2e_fail "/var/lib/lucia is $got"
n=$(grep -c . "$R$TOP/MANIFEST")
e2e_log "checked $n MANIFEST entries"

before=$(chroot_exec "$R" sh -c 'getent passwd lucia; find /opt/lucia /etc/lucia /var/lib/lucia -printf "%p %m %u %g %s\n" | sort')
chroot_exec "$R" sh "$TOP/install.sh" >"$T/i2.log" 2>&1 || e2e_fail "second install.sh failed: $(cat "$T/i2.log")"
after=$(chroot_exec "$R" sh -c 'getent passwd lucia; find /opt/lucia /etc/lucia /var/lib/lucia -printf "%p %m %u %g %s\n" | sort')
[[ "$before" == "$after" ]] || e2e_fail "a second install.sh changed the system:
$(diff <(echo "$before") <(echo "$after"))"
# Without systemd running install.sh cannot enable; do it offline as an image build would.
chroot_exec "$R" systemctl enable lucia.service >/dev/null 2>&1 || e2e_fail "systemctl enable lucia.service failed"

cat >"$T/boot.sh" <<EOF
set -euo pipefail
. /lucia-e2e/boot-helpers.sh
fail() { echo "FAIL: \$*"; exit 1; }
boot_wait_active lucia.service 60 || fail "lucia.service not active"
boot_wait_http http://127.0.0.1:8080/health 60 || fail "/health did not answer"
pid=\$(systemctl show -p MainPID --value lucia.service)
[ "\$(ps -o user= -p "\$pid")" = lucia ] || fail "service does not run as lucia"
echo "ok: tarball install active as lucia, /health 200"
inv1=\$(systemctl show -p InvocationID --value lucia.service)
echo "LOCAL_EDIT=1" >> /etc/lucia/lucia.env
sh $TOP/install.sh > /tmp/reinstall.log 2>&1 || { cat /tmp/reinstall.log; fail "re-install under systemd"; }
grep -qx LOCAL_EDIT=1 /etc/lucia/lucia.env || fail "edited env file overwritten"
[ -f /etc/lucia/lucia.env.dist ] || fail "no .dist template beside the edited env file"
boot_wait_active lucia.service 60 || fail "not active after re-install"
inv2=\$(systemctl show -p InvocationID --value lucia.service)
[ "\$inv1" != "\$inv2" ] || fail "re-install did not restart the service"
boot_wait_http http://127.0.0.1:8080/health 60 || fail "/health after re-install"
echo "ok: re-install kept the edit (.dist written) and restarted the service"
sh $TOP/install.sh --uninstall > /tmp/un.log 2>&1 || { cat /tmp/un.log; fail "uninstall"; }
st=\$(systemctl is-active lucia.service || true)
[ "\$st" != active ] || fail "service still active after --uninstall"
[ ! -e /opt/lucia/lucia.AgentHost ] || fail "payload left after --uninstall"
[ ! -e /usr/lib/systemd/system/lucia.service ] || fail "unit left after --uninstall"
grep -qx LOCAL_EDIT=1 /etc/lucia/lucia.env || fail "config removed by a plain --uninstall"
getent passwd lucia >/dev/null || fail "user removed"
sh $TOP/install.sh --uninstall --purge > /tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "purge"; }
[ ! -e /etc/lucia/lucia.env ] || fail "config left after --purge"
[ -d /var/lib/lucia ] || fail "state removed by --purge although purge-state = false"
getent passwd lucia >/dev/null || fail "user removed by --purge"
echo "ok: --uninstall kept config and user; --purge removed config, kept state (purge-state = false) and the user"
EOF
e2e_log "booting the root"
chroot_boot "$R" "$T/boot.sh" lucia.service || e2e_fail "boot checks failed"
e2e_log "tarball e2e passed"
