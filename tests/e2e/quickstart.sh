#!/usr/bin/env bash
# docs/quickstart.md, walked through as a new user would, then installed for real (issue 14):
#   1. every ```sh block of the page runs in order in an empty directory, with lucia-pkg on PATH
#      (scaffold a non-Lucia script service with `init`, check, build, sha256sum -c, verify);
#   2. the .deb installs with apt in a fresh Debian root: a system user, the unit enabled, the
#      env file 0640 root:<group>; booted with systemd the service is active, runs as its user
#      and its heartbeat (the page's "health" probe) advances; purge removes config and state
#      (purge-state = true) and keeps the user;
#   3. the .rpm installs with rpm --root into another fresh root: user, files, unit enabled.
#
# Env: LUCIA_PKG (binary under test).

# shellcheck source=tests/e2e/lib/chroot.sh
. "$(dirname "$0")/lib/chroot.sh"

START=$SECONDS
e2e_need_root
e2e_need_tools systemd-nspawn zstd rpm sha256sum
e2e_need_lucia_pkg

T=$(e2e_tmpdir)
unset SOURCE_DATE_EPOCH
NAME=hello-daemon
ARCH=amd64

# --- 1. the page's commands -----------------------------------------------------------------
mkdir -p "$T/bin" "$T/walk"
ln -s "$LUCIA_PKG" "$T/bin/lucia-pkg"
awk '/^```sh$/ { on = 1; next } /^```/ { on = 0 } on' "$REPO_ROOT/docs/quickstart.md" >"$T/steps.sh"
[[ $(grep -c . "$T/steps.sh") -ge 10 ]] || e2e_fail "docs/quickstart.md has too few sh steps: $(cat "$T/steps.sh")"
e2e_log "running the $(grep -c . "$T/steps.sh") command lines of docs/quickstart.md"
(
    cd "$T/walk"
    export PATH="$T/bin:$PATH" LUCIA_PKG_STORE="$T/store"
    bash -euo pipefail "$T/steps.sh"
) >"$T/steps.log" 2>&1 || e2e_fail "docs/quickstart.md steps failed:
$(tail -n 40 "$T/steps.log")"
DIST=$T/walk/hello/dist
DEB=$DIST/${NAME}_0.1.0-1_$ARCH.deb
RPM=$DIST/$NAME-0.1.0-1.x86_64.rpm
for f in "$DEB" "$RPM" "$DIST/$NAME-0.1.0-linux-$ARCH.tar.gz" "$DIST/SHA256SUMS"; do
    [[ -f "$f" ]] || e2e_fail "the quickstart did not produce $(basename "$f"): $(ls "$DIST")"
done
if grep -i lucia "$T/walk/hello/lucia-pkg.toml" "$T/walk/hello/$NAME.service" "$T/walk/hello/$NAME.env" | grep -vq lucia-pkg; then
    e2e_fail "Lucia leaks into a user's scaffold: $(grep -i lucia "$T/walk/hello/"* | grep -v lucia-pkg)"
fi
e2e_log "quickstart steps: ok ($(ls "$DIST" | wc -l) outputs)"

# --- 2. apt install, boot, probe, purge -----------------------------------------------------
R=$T/root
chroot_fresh "$ARCH" "$R"
mkdir -p "$R/srv/debs"
cp "$DEB" "$R/srv/debs/"
chroot_exec "$R" apt-get install -y "/srv/debs/$(basename "$DEB")" </dev/null >"$T/apt.log" 2>&1 ||
    e2e_fail "apt-get install failed: $(tail -n 30 "$T/apt.log")"
IFS=: read -r _ _ uid _ _ home shell < <(chroot_exec "$R" getent passwd "$NAME") ||
    e2e_fail "user $NAME does not exist after install"
((uid < 1000)) || e2e_fail "$NAME uid $uid is not a system uid"
[[ "$home" == "/var/lib/$NAME" && "$shell" == */nologin ]] || e2e_fail "user $NAME: home $home shell $shell"
[[ "$(chroot_exec "$R" stat -c '%a %U:%G' "/etc/$NAME/$NAME.env")" == "640 root:$NAME" ]] ||
    e2e_fail "env file: $(chroot_exec "$R" stat -c '%a %U:%G' "/etc/$NAME/$NAME.env")"
[[ "$(chroot_exec "$R" systemctl is-enabled "$NAME.service")" == enabled ]] || e2e_fail "$NAME.service not enabled"

cat >"$T/boot-check.sh" <<CHECK
. /lucia-e2e/boot-helpers.sh
set -u
fail() { echo "FAIL: \$*"; exit 1; }
boot_wait_active $NAME.service 60 || fail "$NAME.service did not become active"
pid=\$(systemctl show -p MainPID --value $NAME.service)
[ "\$(ps -o user= -p "\$pid")" = $NAME ] || fail "main process runs as \$(ps -o user= -p "\$pid")"
for i in \$(seq 50); do [ -s /var/lib/$NAME/heartbeat ] && break; sleep 0.2; done
first=\$(cat /var/lib/$NAME/heartbeat) || fail "no heartbeat"
sleep 2.5
second=\$(cat /var/lib/$NAME/heartbeat)
[ "\$second" -gt "\$first" ] || fail "heartbeat did not advance (\$first -> \$second)"
[ "\$(stat -c %U /var/lib/$NAME/heartbeat)" = $NAME ] || fail "heartbeat not written by $NAME"
echo "ok: active as $NAME, heartbeat \$first -> \$second"
apt-get purge -y -qq $NAME >/dev/null 2>&1 || fail "apt-get purge failed"
systemctl is-active -q $NAME.service && fail "still active after purge"
[ ! -e /etc/$NAME ] || fail "/etc/$NAME left after purge"
[ ! -e /var/lib/$NAME ] || fail "/var/lib/$NAME left after purge (purge-state = true)"
getent passwd $NAME >/dev/null || fail "user removed on purge"
echo "ok: purge removed config and state, kept the user"
CHECK
chroot_boot "$R" "$T/boot-check.sh" "$NAME.service" || e2e_fail "boot checks failed (output above)"

# --- 2b. a dynamically linked service: its automatic libc6 dependency resolves with apt -------
e2e_need_tools gcc dpkg-deb
D=$T/dyn
mkdir -p "$D/out"
printf '#include <stdio.h>\nint main(void) { puts("dyn-hello ok"); return 0; }\n' >"$D/hello.c"
gcc -O2 -o "$D/out/dyn-hello" "$D/hello.c" || e2e_fail "gcc failed"
(cd "$D" && "$LUCIA_PKG" init --payload out >/dev/null && "$LUCIA_PKG" build -a "$ARCH" -f deb -o dist >"$D/build.log" 2>&1) ||
    e2e_fail "init + build of the dynamic service failed: $(cat "$D/build.log")"
DYN=$D/dist/dyn-hello_0.1.0-1_$ARCH.deb
dep=$(dpkg-deb -f "$DYN" Depends)
[[ "$dep" == *"libc6 (>= 2."* ]] || e2e_fail "the dynamic service's deb does not depend on libc6: '$dep'"
R4=$T/dynroot
chroot_fresh "$ARCH" "$R4"
mkdir -p "$R4/srv/debs"
cp "$DYN" "$R4/srv/debs/"
chroot_exec "$R4" apt-get install -y "/srv/debs/$(basename "$DYN")" </dev/null >"$T/dynapt.log" 2>&1 ||
    e2e_fail "apt-get install of the dynamic service failed: $(tail -n 30 "$T/dynapt.log")"
out=$(chroot_exec "$R4" /opt/dyn-hello/dyn-hello) || e2e_fail "the installed dynamic program does not run"
[[ "$out" == "dyn-hello ok" ]] || e2e_fail "the installed dynamic program printed '$out'"
e2e_log "dynamic ELF payload: Depends '$dep' resolved by apt, the program runs"

# --- 3. rpm --root ---------------------------------------------------------------------------
R2=$T/rpmroot
chroot_fresh "$ARCH" "$R2"
e2e_on_exit "e2e_umount_below '$R2'"
mount -t proc proc "$R2/proc"
mount --rbind /dev "$R2/dev"
mount --make-rslave "$R2/dev"
rc=0
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C rpm --root "$R2" --dbpath /var/lib/rpm -ivh --nodeps "$RPM" \
    >"$T/rpm.log" 2>&1 || rc=$?
e2e_umount_below "$R2/dev" || true
e2e_umount_below "$R2/proc" || true
[[ $rc == 0 ]] || e2e_fail "rpm -ivh failed: $(cat "$T/rpm.log")"
grep -qiE 'scriptlet failed|error:' "$T/rpm.log" && e2e_fail "rpm install reported errors: $(cat "$T/rpm.log")"
chroot_exec "$R2" getent passwd "$NAME" >/dev/null || e2e_fail "rpm: user $NAME not created"
[[ -x "$R2/opt/$NAME/$NAME" ]] || e2e_fail "rpm: /opt/$NAME/$NAME missing"
[[ "$(chroot_exec "$R2" stat -c '%a %U:%G' "/var/lib/$NAME")" == "750 $NAME:$NAME" ]] ||
    e2e_fail "rpm: state dir $(chroot_exec "$R2" stat -c '%a %U:%G' "/var/lib/$NAME")"
[[ "$(chroot_exec "$R2" systemctl is-enabled "$NAME.service")" == enabled ]] || e2e_fail "rpm: $NAME.service not enabled"

# --- 4. install.sh: the manifest's [service.scripts] and the purge policy -------------------
# The same project with lifecycle snippets that record their phase and action, built as a
# tarball; install twice, uninstall, purge — first with purge-state = true, then false.
P=$T/walk/hello
mkdir -p "$P/scripts"
for s in pre-install post-install pre-remove post-remove; do
    printf 'echo "%s $1" >> /root/lifecycle.log\n' "$s" >"$P/scripts/$s.sh"
done
cat >>"$P/lucia-pkg.toml" <<'TOML'

[service.scripts]
pre-install = "scripts/pre-install.sh"
post-install = "scripts/post-install.sh"
pre-remove = "scripts/pre-remove.sh"
post-remove = "scripts/post-remove.sh"
TOML
for keep in false true; do
    m=$P/m-$keep.toml
    if [[ $keep == true ]]; then
        sed 's/^purge-state = true/purge-state = false/' "$P/lucia-pkg.toml" >"$m"
    else
        cp "$P/lucia-pkg.toml" "$m"
    fi
    (cd "$P" && "$LUCIA_PKG" build -m "$m" -a amd64 -f tar -o "$T/tar-$keep" >"$T/tar-$keep.log" 2>&1) ||
        e2e_fail "tarball build failed: $(cat "$T/tar-$keep.log")"
    R3=$T/tarroot-$keep
    chroot_fresh "$ARCH" "$R3"
    mkdir -p "$R3/srv/pkg"
    tar -xzf "$T/tar-$keep/$NAME-0.1.0-linux-$ARCH.tar.gz" -C "$R3/srv/pkg"
    top=/srv/pkg/$NAME-0.1.0
    for args in "" "" "--uninstall --purge"; do
        # shellcheck disable=SC2086 # word splitting of the argument list is intended
        chroot_exec "$R3" sh "$top/install.sh" $args >"$T/is.log" 2>&1 ||
            e2e_fail "install.sh $args failed: $(cat "$T/is.log")"
    done
    got=$(tr '\n' '|' <"$R3/root/lifecycle.log")
    want="pre-install install|post-install install|pre-install upgrade|post-install upgrade|pre-remove remove|post-remove purge|"
    [[ "$got" == "$want" ]] || e2e_fail "install.sh snippets ran as '$got', want '$want'"
    if [[ $keep == true ]]; then
        [[ -d "$R3/var/lib/$NAME" ]] || e2e_fail "install.sh --purge removed /var/lib/$NAME although purge-state = false"
    else
        [[ ! -e "$R3/var/lib/$NAME" ]] || e2e_fail "install.sh --purge kept /var/lib/$NAME although purge-state = true"
    fi
    [[ ! -e "$R3/etc/$NAME" ]] || e2e_fail "install.sh --purge kept /etc/$NAME"
done
e2e_log "install.sh: snippets run in their phases with install/upgrade/remove/purge; --purge follows purge-state"

e2e_log "PASS quickstart e2e in $((SECONDS - START)) s"
