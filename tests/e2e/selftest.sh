#!/usr/bin/env bash
# Self-test of the end-to-end harness in tests/e2e/lib: the skip/fail protocol, the cleanup
# order (unmount before delete), chroot_exec, a real systemd boot with chroot_boot, and the
# loopback registry. Every other e2e script relies on these, so each check here must be able
# to fail. Exit 0 = pass, 77 = skipped, anything else = failure.
set -euo pipefail
# shellcheck source=tests/e2e/lib/common.sh
. "$(dirname "$0")/lib/common.sh"
# shellcheck source=tests/e2e/lib/chroot.sh
. "$REPO_ROOT/tests/e2e/lib/chroot.sh"
# shellcheck source=tests/e2e/lib/registry.sh
. "$REPO_ROOT/tests/e2e/lib/registry.sh"

e2e_need_root
e2e_need_tools mmdebstrap zstd systemd-nspawn docker-registry curl htpasswd awk

LIB=$REPO_ROOT/tests/e2e/lib
# Elapsed seconds with one decimal since a `date +%s.%N` stamp.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
mounts_below() { awk -v d="$1" 'index($5, d) == 1' /proc/self/mountinfo; }

# --- 1. skip / fail protocol ------------------------------------------------------------
e2e_log "1. skip protocol"
rc=0
out=$(LUCIA_E2E_REQUIRED=0 bash -c '. "$1/common.sh"; e2e_skip "probe reason"; echo not-reached' _ "$LIB" 2>&1) || rc=$?
[[ $rc -eq 77 && "$out" == "SKIP: probe reason" ]] || e2e_fail "e2e_skip (not required): rc=$rc output='$out'"
rc=0
out=$(LUCIA_E2E_REQUIRED=1 bash -c '. "$1/common.sh"; e2e_skip "probe reason"; echo not-reached' _ "$LIB" 2>&1) || rc=$?
[[ $rc -eq 1 && "$out" == "FAIL: required e2e prerequisite missing: probe reason" ]] ||
    e2e_fail "e2e_skip (required): rc=$rc output='$out'"
rc=0
out=$(LUCIA_E2E_REQUIRED=0 bash -c '. "$1/common.sh"; e2e_need_tools sh no-such-tool-e2e; echo not-reached' _ "$LIB" 2>&1) || rc=$?
[[ $rc -eq 77 && "$out" == "SKIP: missing tools: no-such-tool-e2e"* ]] || e2e_fail "e2e_need_tools: rc=$rc output='$out'"
# A skip raised inside $(...) must still end the script with 77.
rc=0
out=$(LUCIA_E2E_REQUIRED=0 bash -c '. "$1/common.sh"; x=$(e2e_skip inner); echo not-reached' _ "$LIB" 2>&1) || rc=$?
[[ $rc -eq 77 && "$out" == "SKIP: inner" ]] || e2e_fail "skip inside \$(...): rc=$rc output='$out'"
echo "ok 1 - e2e_skip gives 77 (SKIP line), or 1 with LUCIA_E2E_REQUIRED=1"

# --- 1b. e2e_manifest_variant ------------------------------------------------------------
e2e_log "1b. e2e_manifest_variant"
mv_dir=$(e2e_tmpdir)
e2e_manifest_variant "$mv_dir/v2.toml" version=1.1.0 release=2 source-date-epoch:=1793491300 \
    service.env.template="$mv_dir/v2.env" 'summary=with "quotes" and \ backslash'
if command -v python3 >/dev/null 2>&1; then
    # tomllib (Python 3.11, Debian 12) is an independent TOML parser for the result.
    python3 - "$mv_dir/v2.toml" "$mv_dir/v2.env" "$REPO_ROOT" <<'PY' || e2e_fail "variant manifest check failed"
import os, sys, tomllib
m = tomllib.load(open(sys.argv[1], "rb"))
p, root = m["package"], sys.argv[3]
assert (p["version"], p["release"], p["source-date-epoch"]) == ("1.1.0", "2", 1793491300), p
assert p["summary"] == 'with "quotes" and \\ backslash', p["summary"]
assert m["service"]["env"]["template"] == sys.argv[2], m["service"]["env"]
paths = [m["service"]["unit"], m["payload"]["amd64"]["path"], m["payload"]["arm64"]["path"]]
paths += [f["src"] for f in m.get("files", [])]
for path in paths:
    assert path.startswith(root + "/") and "/../" not in path and "/./" not in path, path
assert os.path.isfile(m["service"]["unit"]), m["service"]["unit"]
PY
fi
rc=0
out=$(e2e_manifest_variant "$mv_dir/bad.toml" no-such-table.key=1 2>&1) || rc=$?
[[ $rc -ne 0 && "$out" == *"table [no-such-table] not found"* ]] || e2e_fail "override of a missing table: rc=$rc '$out'"
[[ ! -e "$mv_dir/bad.toml" ]] || e2e_fail "a failed e2e_manifest_variant left its output behind"
echo "ok 1b - e2e_manifest_variant: absolute paths, string/raw/table overrides, bad table rejected"

# --- 2. cleanups: reverse order, exit status kept, unmount before rm, registry stopped ----
e2e_log "2. cleanup machinery"
work=$(e2e_tmpdir)
mkdir -p "$work/host-side"
echo keep-me >"$work/host-side/sentinel"
rc=0
LUCIA_E2E_REQUIRED=1 bash -c '
    . "$1/common.sh"; . "$1/registry.sh"
    d=$(e2e_tmpdir)
    mkdir "$d/mnt"
    mount --bind "$2/host-side" "$d/mnt"
    e2e_on_exit "echo first >>$2/order"
    e2e_on_exit "echo second >>$2/order"
    echo "$d" >"$2/dir"
    addr=$(registry_start "$d/reg")
    echo "$addr" >"$2/addr"
    exit 3
' _ "$LIB" "$work" || rc=$?
[[ $rc -eq 3 ]] || e2e_fail "cleanup changed the exit status: got $rc, want 3"
[[ "$(cat "$work/order")" == $'second\nfirst' ]] || e2e_fail "cleanups not run newest first: $(cat "$work/order")"
[[ "$(cat "$work/host-side/sentinel")" == keep-me ]] || e2e_fail "rm -rf went through a bind mount"
child_dir=$(cat "$work/dir")
[[ ! -e "$child_dir" ]] || e2e_fail "child temp dir $child_dir not removed"
[[ -z "$(mounts_below "$child_dir")" ]] || e2e_fail "mounts left below $child_dir"
if curl -s -o /dev/null --max-time 2 "http://$(cat "$work/addr")/v2/"; then
    e2e_fail "registry started in \$(...) still answers after its script exited"
fi
echo "ok 2 - cleanups run newest first, keep the exit status, unmount before rm, stop registries"

# --- 3. chroot_fresh + chroot_exec --------------------------------------------------------
e2e_log "3. chroot_exec (amd64)"
t0=$(date +%s.%N)
tarball=$(chroot_tarball amd64)
echo "# tarball: $tarball ($(du -h "$tarball" | cut -f1))"
root=$(e2e_tmpdir)/root
t0=$(date +%s.%N)
chroot_fresh amd64 "$root"
echo "# chroot_fresh amd64: $(since "$t0") s"
out=$(chroot_exec "$root" apt-get --version)
out=${out%%$'\n'*}
[[ "$out" == "apt "*"(amd64)" ]] || e2e_fail "apt-get --version in the chroot printed '$out'"
echo "# in chroot: $out"
[[ -z "$(mounts_below "$root")" ]] || e2e_fail "chroot_exec left mounts: $(mounts_below "$root")"
rc=0
chroot_exec "$root" sh -c 'exit 7' || rc=$?
[[ $rc -eq 7 ]] || e2e_fail "chroot_exec did not return the command's status (got $rc, want 7)"
[[ -z "$(mounts_below "$root")" ]] || e2e_fail "chroot_exec left mounts after a failing command"
env_out=$(E2E_SELFTEST_LEAK=1 chroot_exec "$root" env | sort | tr '\n' ' ')
[[ "$env_out" == "DEBIAN_FRONTEND=noninteractive HOME=/root LC_ALL=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin " ]] ||
    e2e_fail "chroot_exec environment is not clean: $env_out"
[[ "$(chroot_exec "$root" sh -c 'test -c /dev/null && test -r /proc/self/status && echo yes')" == yes ]] ||
    e2e_fail "/dev or /proc missing inside chroot_exec"
echo "ok 3 - chroot_exec runs apt-get, returns the status, has a clean env, always unmounts"

# --- 4. chroot_boot: real systemd boot, a unit gets started --------------------------------
e2e_log "4. chroot_boot (amd64)"
cat >"$root/etc/systemd/system/e2e-probe.service" <<'EOF'
[Unit]
Description=e2e harness probe service

[Service]
Type=exec
ExecStart=/bin/sh -c 'echo started-by-systemd >/run/e2e-probe; exec sleep infinity'

[Install]
WantedBy=multi-user.target
EOF
chroot_exec "$root" systemctl enable e2e-probe.service
check=$(e2e_tmpdir)/check.sh
cat >"$check" <<'EOF'
set -eu
. /lucia-e2e/boot-helpers.sh
boot_wait_active e2e-probe.service 30
test "$(cat /proc/1/comm)" = systemd
test "$(cat /run/e2e-probe)" = started-by-systemd
echo "pid1=$(cat /proc/1/comm) probe=$(systemctl is-active e2e-probe.service) system=$(systemctl is-system-running || true)"
echo "boot-check-ok"
EOF
t0=$(date +%s.%N)
rc=0
out=$(chroot_boot "$root" "$check" e2e-probe.service) || rc=$?
boot_time=$(since "$t0")
printf '%s\n' "$out" | sed 's/^/#   /'
[[ $rc -eq 0 ]] || e2e_fail "chroot_boot returned $rc"
[[ "$out" == *boot-check-ok* ]] || e2e_fail "chroot_boot did not print the check's output"
echo "# chroot_boot amd64 (boot, check, poweroff): ${boot_time} s"
# The exit code must come through, with diagnostics.
printf 'echo about-to-fail\nexit 3\n' >"$check"
rc=0
out=$(chroot_boot "$root" "$check") || rc=$?
[[ $rc -eq 3 ]] || e2e_fail "chroot_boot returned $rc for a check exiting 3"
[[ "$out" == *about-to-fail* && "$out" == *"systemctl --failed"* ]] || e2e_fail "failing boot check printed: $out"
echo "ok 4 - chroot_boot boots systemd, starts a unit, runs the check and returns its exit code"

# --- 5. registry ----------------------------------------------------------------------------
e2e_log "5. registry"
regs=$(e2e_tmpdir)
registry_start "$regs/open" >/dev/null
open_addr=$REGISTRY_ADDR
[[ "$open_addr" == 127.0.0.1:* ]] || e2e_fail "registry address $open_addr is not loopback"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$open_addr/v2/")" == 200 ]] || e2e_fail "open registry /v2/ is not 200"
registry_start "$regs/auth" probe s3cret >/dev/null
auth_addr=$REGISTRY_ADDR auth_pid=$REGISTRY_PID
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$auth_addr/v2/")" == 401 ]] || e2e_fail "auth registry without creds is not 401"
[[ "$(curl -s -o /dev/null -w '%{http_code}' -u probe:wrong "http://$auth_addr/v2/")" == 401 ]] || e2e_fail "auth registry accepts a wrong password"
[[ "$(curl -s -o /dev/null -w '%{http_code}' -u probe:s3cret "http://$auth_addr/v2/")" == 200 ]] || e2e_fail "auth registry rejects the right password"
# Loopback only: the same port on a non-loopback address must refuse connections.
ext_ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }' || true)
if [[ -n "$ext_ip" ]]; then
    if curl -s -o /dev/null --max-time 2 "http://$ext_ip:${open_addr#*:}/v2/"; then
        e2e_fail "registry answers on $ext_ip, not only on loopback"
    fi
    echo "# registry not reachable on $ext_ip (good)"
fi
registry_stop "$auth_pid"
if curl -s -o /dev/null --max-time 2 "http://$auth_addr/v2/"; then
    e2e_fail "registry_stop did not stop $auth_addr"
fi
echo "ok 5 - registry_start answers on loopback (open: 200, auth: 401/200), registry_stop stops it"

# --- 6. arm64 chroot (only if it is cached: building it takes minutes) ----------------------
arm64_tarball=$(_chroot_tarball_path arm64)
if [[ -s "$arm64_tarball" || "${LUCIA_E2E_SELFTEST_ARM64:-0}" == 1 ]]; then
    e2e_log "6. chroot_exec (arm64, emulated)"
    e2e_need_arch arm64
    root64=$(e2e_tmpdir)/root
    chroot_fresh arm64 "$root64"
    [[ "$(chroot_arch "$root64")" == arm64 ]] || e2e_fail "arm64 root reports arch $(chroot_arch "$root64")"
    t0=$(date +%s.%N)
    out=$(chroot_exec "$root64" sh -c 'uname -m; apt-get --version | head -n 1')
    [[ "$out" == $'aarch64\napt '*'(arm64)' ]] || e2e_fail "arm64 chroot printed '$out'"
    echo "# arm64 chroot_exec (uname + apt-get --version): $(since "$t0") s"
    # Boot it too, with a unit that needs the qemu-user drop-in (PrivateUsers=yes).
    cat >"$root64/etc/systemd/system/e2e-probe.service" <<'EOF'
[Service]
Type=exec
PrivateUsers=yes
ExecStart=/bin/sh -c 'uname -m >/run/e2e-probe; exec sleep infinity'

[Install]
WantedBy=multi-user.target
EOF
    chroot_exec "$root64" systemctl enable --quiet e2e-probe.service
    chroot_qemu_dropin "$root64" e2e-probe.service
    [[ -f "$root64/etc/systemd/system/e2e-probe.service.d/50-lucia-e2e-qemu.conf" ]] ||
        e2e_fail "chroot_qemu_dropin wrote no drop-in for an arm64 root"
    # shellcheck disable=SC2016 # expanded inside the container
    printf '%s\n' 'set -eu' '. /lucia-e2e/boot-helpers.sh' 'boot_wait_active e2e-probe.service 60' \
        'test "$(cat /run/e2e-probe)" = aarch64' 'echo arm64-boot-ok' >"$check"
    t0=$(date +%s.%N)
    rc=0
    out=$(chroot_boot "$root64" "$check" e2e-probe.service) || rc=$?
    printf '%s\n' "$out" | sed 's/^/#   /'
    [[ $rc -eq 0 && "$out" == *arm64-boot-ok* ]] || e2e_fail "arm64 chroot_boot returned $rc"
    echo "# chroot_boot arm64 (emulated boot, check, poweroff): $(since "$t0") s"
    echo "ok 6 - arm64 chroot runs under qemu binfmt and boots systemd"
else
    echo "ok 6 # skip arm64 chroot not cached (scripts/ci-setup.sh builds it; or LUCIA_E2E_SELFTEST_ARM64=1)"
fi

echo "PASS: e2e harness selftest"
