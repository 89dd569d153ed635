#!/usr/bin/env bash
# End-to-end test of `lucia-pkg repo apt` (issue 15) with the real apt of a fresh Debian bookworm
# root:
#   0. build two versions (1.0.0, 1.1.0) of a small service-less package with lucia-pkg; make a
#      gpg Ed25519 signing key in a temp GNUPGHOME; `lucia-pkg repo apt --key` with the first
#      version, then again with the second (the pool keeps the first).
#   1. in the root: `deb [signed-by=/etc/apt/keyrings/hw.gpg] file:/srv/repo stable main` as the
#      only source; `apt-get update` succeeds (apt refuses an unsigned or badly signed
#      repository, so this proves the InRelease signature verified) and fetched the InRelease;
#      `apt-cache policy hw` lists both versions with 1.1.0-1 as candidate; `apt-get install hw`
#      installs 1.1.0-1 and its program runs; `apt-get install hw=1.0.0-1` downgrades (the old
#      pool file is served).
#   1b. the same over http://127.0.0.1 (a loopback web server): update, by-hash, install;
#   1c. the real service package (lucia with the demo payload) added to the repository:
#      `apt-get install lucia` takes it from the signed source; after a systemd boot the service
#      is active as its own user and GET /health answers 200;
#   2. the Release tampered with (InRelease body edited): `apt-get update --error-on=any` fails
#      with a signature error (without it apt only warns and keeps the previous lists); a
#      repository signed by another key fails too.
#
# Env: LUCIA_PKG (binary under test).

# shellcheck source=tests/e2e/lib/chroot.sh
. "$(dirname "$0")/lib/chroot.sh"

START=$SECONDS
e2e_need_root
e2e_need_tools gpg zstd systemd-nspawn
e2e_need_lucia_pkg
unset SOURCE_DATE_EPOCH LUCIA_PKG_REPO_KEY

T=$(e2e_tmpdir)

# --- 0. packages, key, repository -----------------------------------------------------------
mkdir -p "$T/p/payload"
printf '#!/bin/sh\necho "hw says hello"\n' >"$T/p/payload/run"
chmod 755 "$T/p/payload/run"
cat >"$T/p/hw.toml" <<'EOF'
[package]
name = "hw"
version = "1.0.0"
summary = "apt repository probe"
license = "MIT"
maintainer = "Probe <probe@example.org>"
source-date-epoch = 1700000000
arches = ["amd64"]
formats = ["deb"]

[payload]
install-dir = "/opt/hw"
entrypoint = "run"

[payload.amd64]
path = "payload"

[deb]
compression = "gzip:1"
EOF
for v in 1.0.0 1.1.0; do
    "$LUCIA_PKG" build -q --no-cache -m "$T/p/hw.toml" -o "$T/out-$v" --set "package.version=$v" \
        >"$T/build-$v.log" 2>&1 || e2e_fail "lucia-pkg build $v failed: $(cat "$T/build-$v.log")"
done

export GNUPGHOME="$T/gnupg"
mkdir -m 700 "$GNUPGHOME"
e2e_on_exit "GNUPGHOME='$GNUPGHOME' gpgconf --kill gpg-agent || true"
gpg --batch --passphrase '' --quick-gen-key 'Repo E2E <repo@example.org>' ed25519 sign never \
    >"$T/gpg.log" 2>&1 || e2e_fail "gpg --quick-gen-key failed: $(cat "$T/gpg.log")"
gpg --batch --armor --export-secret-keys >"$T/secret.asc"

e2e_log "lucia-pkg repo apt: 1.0.0, then 1.1.0 added"
REPO="$T/repo"
"$LUCIA_PKG" repo apt --out "$REPO" --key "$T/secret.asc" "$T/out-1.0.0" >"$T/repo1.log" 2>&1 ||
    e2e_fail "repo apt (1.0.0) failed: $(cat "$T/repo1.log")"
"$LUCIA_PKG" repo apt --out "$REPO" --key "$T/secret.asc" "$T/out-1.1.0/hw_1.1.0-1_amd64.deb" \
    >"$T/repo2.log" 2>&1 || e2e_fail "repo apt (1.1.0) failed: $(cat "$T/repo2.log")"
cat "$T/repo2.log" >&2
[[ -f "$REPO/pool/main/h/hw/hw_1.0.0-1_amd64.deb" && -f "$REPO/pool/main/h/hw/hw_1.1.0-1_amd64.deb" ]] ||
    e2e_fail "the pool does not hold both versions: $(find "$REPO/pool" -type f)"

# --- 1. apt in a fresh root -----------------------------------------------------------------
R="$T/root"
chroot_fresh amd64 "$R"
# The repository is the only source: no network needed, nothing else to verify.
rm -f "$R/etc/apt/sources.list" "$R"/etc/apt/sources.list.d/*
mkdir -p "$R/srv" "$R/etc/apt/keyrings"
cp -a "$REPO" "$R/srv/repo"
gpg --batch --yes -o "$R/etc/apt/keyrings/hw.gpg" --dearmor "$REPO/repo-key.asc" ||
    e2e_fail "repo-key.asc is not an OpenPGP key gpg can read"
chmod 644 "$R/etc/apt/keyrings/hw.gpg"
echo 'deb [signed-by=/etc/apt/keyrings/hw.gpg] file:/srv/repo stable main' \
    >"$R/etc/apt/sources.list.d/hw.list"

e2e_log "apt-get update against file:/srv/repo (signed-by the exported key)"
chroot_exec "$R" apt-get update </dev/null >"$T/update.log" 2>&1 ||
    e2e_fail "apt-get update failed: $(cat "$T/update.log")"
cat "$T/update.log" >&2
if grep -Eq '^(W|E):' "$T/update.log"; then
    e2e_fail "apt-get update warned or failed: $(grep -E '^(W|E):' "$T/update.log")"
fi
[[ -f "$R/var/lib/apt/lists/_srv_repo_dists_stable_InRelease" ]] ||
    e2e_fail "apt did not keep the InRelease: $(ls "$R/var/lib/apt/lists/")"

chroot_exec "$R" apt-cache policy hw </dev/null >"$T/policy.log" 2>&1 ||
    e2e_fail "apt-cache policy failed: $(cat "$T/policy.log")"
cat "$T/policy.log" >&2
grep -q 'Candidate: 1.1.0-1' "$T/policy.log" || e2e_fail "candidate is not 1.1.0-1"
grep -Eq '^ +1\.1\.0-1 500' "$T/policy.log" || e2e_fail "1.1.0-1 not in the version table"
grep -Eq '^ +1\.0\.0-1 500' "$T/policy.log" || e2e_fail "1.0.0-1 not in the version table"

e2e_log "apt-get install hw → the newest version"
chroot_exec "$R" apt-get install -y hw </dev/null >"$T/install.log" 2>&1 ||
    e2e_fail "apt-get install hw failed: $(tail -n 40 "$T/install.log")"
v=$(chroot_exec "$R" dpkg-query -W -f "\${Version}" hw)
[[ "$v" == 1.1.0-1 ]] || e2e_fail "installed hw $v, expected 1.1.0-1"
out=$(chroot_exec "$R" /opt/hw/run)
[[ "$out" == "hw says hello" ]] || e2e_fail "/opt/hw/run printed '$out'"
chroot_exec "$R" apt-get install -y --allow-downgrades hw=1.0.0-1 </dev/null >"$T/downgrade.log" 2>&1 ||
    e2e_fail "apt-get install hw=1.0.0-1 failed: $(tail -n 40 "$T/downgrade.log")"
v=$(chroot_exec "$R" dpkg-query -W -f "\${Version}" hw)
[[ "$v" == 1.0.0-1 ]] || e2e_fail "after the downgrade hw is $v, expected 1.0.0-1"

# --- 1b. the same repository over HTTP ------------------------------------------------------
# A web server on the host's loopback (the chroot shares the network): apt's http method, which
# runs as the sandboxed _apt user, verifies the same signature and fetches the indexes by hash.
e2e_log "the same repository over http://127.0.0.1 (apt's http method, Acquire-By-Hash)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$R/srv/repo" "$port" >"$T/http.log" 2>&1 &
http_pid=$!
e2e_on_exit "kill $http_pid 2>/dev/null || true"
for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/dists/stable/InRelease" 2>/dev/null && break
    sleep 0.2
done
echo "deb [signed-by=/etc/apt/keyrings/hw.gpg] http://127.0.0.1:$port stable main" \
    >"$R/etc/apt/sources.list.d/hw.list"
rm -f "$R"/var/lib/apt/lists/*_*
chroot_exec "$R" apt-get update --error-on=any </dev/null >"$T/update-http.log" 2>&1 ||
    e2e_fail "apt-get update over http failed: $(cat "$T/update-http.log")"
grep -q 'GET /dists/stable/InRelease' "$T/http.log" || e2e_fail "apt did not fetch InRelease over http: $(cat "$T/http.log")"
grep -q 'GET /dists/stable/main/binary-amd64/by-hash/SHA256/' "$T/http.log" ||
    e2e_fail "apt did not fetch the Packages index by hash: $(cat "$T/http.log")"
chroot_exec "$R" apt-get install -y hw </dev/null >"$T/install-http.log" 2>&1 ||
    e2e_fail "apt-get install hw over http failed: $(tail -n 40 "$T/install-http.log")"
v=$(chroot_exec "$R" dpkg-query -W -f "\${Version}" hw)
[[ "$v" == 1.1.0-1 ]] || e2e_fail "over http: installed hw $v, expected 1.1.0-1"
grep -q 'GET /pool/main/h/hw/hw_1.1.0-1_amd64.deb' "$T/http.log" || e2e_fail "the package did not come over http"
kill "$http_pid" 2>/dev/null || true
echo 'deb [signed-by=/etc/apt/keyrings/hw.gpg] file:/srv/repo stable main' \
    >"$R/etc/apt/sources.list.d/hw.list"
rm -f "$R"/var/lib/apt/lists/*_*

# --- 1c. the real service package from the repository, then a boot ---------------------------
# The lucia .deb (the example manifest with the demo payload) joins the repository beside hw;
# `apt-get install lucia` takes it from the signed source, and after a boot the service runs
# as its own user and answers /health.
e2e_log "lucia from the signed repository: apt-get install lucia, boot, /health"
e2e_demo_payload
e2e_manifest_variant "$T/lucia.toml"
"$LUCIA_PKG" build -q --no-cache -m "$T/lucia.toml" --arch amd64 --format deb -o "$T/out-lucia" \
    >"$T/build-lucia.log" 2>&1 || e2e_fail "lucia-pkg build (lucia deb) failed: $(cat "$T/build-lucia.log")"
"$LUCIA_PKG" repo apt --out "$REPO" --key "$T/secret.asc" "$T/out-lucia" >"$T/repo-lucia.log" 2>&1 ||
    e2e_fail "repo apt (lucia) failed: $(cat "$T/repo-lucia.log")"
[[ -f "$REPO/pool/main/l/lucia/lucia_1.0.0-1_amd64.deb" && -f "$REPO/pool/main/h/hw/hw_1.1.0-1_amd64.deb" ]] ||
    e2e_fail "the pool does not hold lucia beside hw: $(find "$REPO/pool" -type f)"
rm -rf "$R/srv/repo"
cp -a "$REPO" "$R/srv/repo"
chroot_exec "$R" apt-get update --error-on=any </dev/null >"$T/update-lucia.log" 2>&1 ||
    e2e_fail "apt-get update (with lucia) failed: $(cat "$T/update-lucia.log")"
chroot_exec "$R" apt-cache policy lucia </dev/null >"$T/policy-lucia.log" 2>&1 ||
    e2e_fail "apt-cache policy lucia failed: $(cat "$T/policy-lucia.log")"
grep -q 'Candidate: 1.0.0-1' "$T/policy-lucia.log" || e2e_fail "lucia is not offered by the repository: $(cat "$T/policy-lucia.log")"
chroot_exec "$R" apt-get install -y lucia </dev/null >"$T/install-lucia.log" 2>&1 ||
    e2e_fail "apt-get install lucia failed: $(tail -n 40 "$T/install-lucia.log")"
grep -q 'file:/srv/repo stable/main amd64 lucia amd64 1.0.0-1' "$T/install-lucia.log" ||
    e2e_fail "apt did not take lucia from the repository: $(tail -n 40 "$T/install-lucia.log")"
cat >"$T/boot-lucia.sh" <<'EOF'
set -euo pipefail
. /lucia-e2e/boot-helpers.sh
fail() { echo "FAIL: $*"; exit 1; }
pid=$(boot_check_serving lucia.service http://127.0.0.1:8080/health lucia) || fail "lucia from the repository is not serving"
echo "ok: lucia from the repository is active as lucia (pid $pid), /health 200"
EOF
chroot_boot "$R" "$T/boot-lucia.sh" lucia.service || e2e_fail "boot checks of the repository-installed lucia failed (output above)"

# --- 2. tampering and a foreign key are refused ----------------------------------------------
e2e_log "tampered InRelease → apt-get update fails"
sed -i 's/^Origin: lucia-pkg$/Origin: tampered/' "$R/srv/repo/dists/stable/InRelease" "$R/srv/repo/dists/stable/Release"
grep -q '^Origin: tampered' "$R/srv/repo/dists/stable/InRelease" || e2e_fail "tampering did not apply"
# apt keeps the previous lists and only warns on a bad signature: --error-on=any makes it fail.
if chroot_exec "$R" apt-get update --error-on=any </dev/null >"$T/update-bad.log" 2>&1; then
    e2e_fail "apt-get update accepted a tampered InRelease: $(cat "$T/update-bad.log")"
fi
cat "$T/update-bad.log" >&2
grep -Eqi 'BADSIG|signature|not signed' "$T/update-bad.log" ||
    e2e_fail "apt-get update failed, but not on the signature: $(cat "$T/update-bad.log")"

e2e_log "a repository signed by another key → apt-get update fails"
export GNUPGHOME="$T/gnupg2"
mkdir -m 700 "$GNUPGHOME"
e2e_on_exit "GNUPGHOME='$GNUPGHOME' gpgconf --kill gpg-agent || true"
gpg --batch --passphrase '' --quick-gen-key 'Other <other@example.org>' ed25519 sign never \
    >"$T/gpg2.log" 2>&1 || e2e_fail "gpg --quick-gen-key failed: $(cat "$T/gpg2.log")"
gpg --batch --armor --export-secret-keys >"$T/other.asc"
rm -rf "$R/srv/repo"
cp -a "$REPO" "$R/srv/repo"
"$LUCIA_PKG" repo apt --out "$R/srv/repo" --key "$T/other.asc" "$T/out-1.1.0" >"$T/repo3.log" 2>&1 ||
    e2e_fail "repo apt (other key) failed: $(cat "$T/repo3.log")"
if chroot_exec "$R" apt-get update --error-on=any </dev/null >"$T/update-other.log" 2>&1; then
    e2e_fail "apt-get update accepted a repository signed by another key: $(cat "$T/update-other.log")"
fi
grep -Eqi 'NO_PUBKEY|signature' "$T/update-other.log" ||
    e2e_fail "apt-get update failed, but not on the signature: $(cat "$T/update-other.log")"

e2e_log "apt-repo: PASS in $((SECONDS - START)) s"
