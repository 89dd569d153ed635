#!/usr/bin/env bash
# E2E: the shipped systemd unit and env template (systemd/lucia.service, systemd/lucia.env).
#
#   1. `systemd-analyze verify` accepts the unit with no output at all (systemd only warns, rc 0,
#      about unknown keys and bad values, so any output counts as failure). A copy is verified
#      whose ExecStart points at an existing executable; nothing else is changed.
#   2. `systemd-analyze security --offline=yes` exposure <= 2.0 (LUCIA_MAX_EXPOSURE overrides).
#   3. The unit matches packaging/lucia.toml (ExecStart, User, EnvironmentFile, state dir) and
#      keeps the fixes for the upstream unit's defects (Type=exec, static user, no
#      MemoryDenyWriteExecute because .NET's JIT needs it off).
#   4. The env template: only KEY=value, comment and blank lines; key names systemd accepts
#      (also in commented-out examples, which users uncomment); no secret-looking values; the
#      native-install keys present; writable paths under the state directory.
# Each checker is first run on a known-bad input and must reject it, so no check passes vacuously.

. "$(dirname "$0")/lib/common.sh"

e2e_need_tools systemd-analyze awk sed grep diff

UNIT="$REPO_ROOT/systemd/lucia.service"
ENVT="$REPO_ROOT/systemd/lucia.env"
MANIFEST="$REPO_ROOT/packaging/lucia.toml"
MAX_EXPOSURE=${LUCIA_MAX_EXPOSURE:-2.0}
WORK=$(e2e_tmpdir)
FAILS=0

pass() { e2e_log "ok: $*"; }
bad() {
    printf 'FAIL: %s\n' "$*" >&2
    FAILS=$((FAILS + 1))
}

for f in "$UNIT" "$ENVT" "$MANIFEST"; do
    [[ -f "$f" ]] || e2e_fail "$f is missing"
done

# --- checkers ----------------------------------------------------------------------------

# verify_clean UNITFILE: rc 0 and not a single line of output. Prints the output on failure.
verify_clean() {
    local out rc=0
    out=$(systemd-analyze verify --man=no --generators=no "$1" 2>&1) || rc=$?
    if [[ $rc -ne 0 || -n "$out" ]]; then
        printf '%s\n' "systemd-analyze verify rc=$rc:" "$out"
        return 1
    fi
}

# exposure UNITFILE: print the overall exposure (e.g. 1.1); fail if it cannot be parsed.
exposure() {
    local out
    out=$(systemd-analyze security --offline=yes --no-pager "$1" 2>&1) || true
    printf '%s\n' "$out" |
        sed -n 's/.*Overall exposure level for [^ ]*: \([0-9][0-9]*\.[0-9]\).*/\1/p' | grep . ||
        {
            printf 'cannot parse exposure from:\n%s\n' "$out" >&2
            return 1
        }
}

# at_most A B: true when A <= B (decimal numbers).
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# env_secret_problems FILE: secret-looking text on any line, comments included. (grep -E, not
# awk: Debian's mawk has no {n,} intervals.)
env_secret_problems() {
    local hit tok
    grep -nE '(sk|pk)-[A-Za-z0-9_-]{16,}|sk_[a-z]+_[A-Za-z0-9]{8,}|lk_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|eyJ[A-Za-z0-9_-]{8,}\.eyJ|-----BEGIN [A-Z ]*PRIVATE KEY' "$1" |
        while IFS= read -r hit; do
            echo "$1:${hit%%:*}: looks like a real credential: ${hit#*:}"
        done || true # grep finding nothing is the good case
    # A run of 20+ token characters mixing upper case, lower case and digits looks random.
    grep -noE '[A-Za-z0-9+/_-]{20,}' "$1" | while IFS= read -r hit; do
        tok=${hit#*:}
        if [[ "$tok" =~ [A-Z] && "$tok" =~ [a-z] && "$tok" =~ [0-9] ]]; then
            echo "$1:${hit%%:*}: long random-looking token: $tok"
        fi
    done || true
}

# env_problems FILE: print one line per problem (nothing = clean).
env_problems() {
    env_secret_problems "$1"
    awk '
    function validname(k) { return k ~ /^[A-Za-z_][A-Za-z0-9_]*$/ }
    {
        line = $0; where = FILENAME ":" FNR ": "
        if (line ~ /\r$/) { print where "CRLF line ending"; sub(/\r$/, "", line) }
        if (line ~ /^[ \t]*$/ || line ~ /^#/) {
            # A commented-out assignment gets uncommented by users: its key must be valid too.
            if (match(line, /^#[ ]?[A-Za-z_][A-Za-z0-9_.:-]*=/)) {
                k = substr(line, 1, RLENGTH - 1); sub(/^#[ ]?/, "", k)
                if (!validname(k)) print where "commented key " k " is not a valid systemd environment name"
                v = substr(line, RLENGTH + 1)
                if (k ~ /(Token|TOKEN|Secret|SECRET|Password|PASSWORD|_KEY$|ApiKey)/ && v != "")
                    print where "secret key " k " has an example value; leave it empty"
                if (v ~ /AccessKey=[^;]/) print where "AccessKey with a value in " k
            }
            next
        }
        if (line ~ /^[ \t]+#/) { print where "indented line (keep every line flush left)"; next }
        if (line ~ /^export[ \t]/) { print where "\"export\" is not allowed"; next }
        eq = index(line, "=")
        if (eq == 0) { print where "not a KEY=value line: " line; next }
        k = substr(line, 1, eq - 1); v = substr(line, eq + 1)
        if (!validname(k)) { print where "key \"" k "\" is not a valid systemd environment name"; next }
        if (k in seen) print where "duplicate key " k " (first on line " seen[k] ")"
        seen[k] = FNR
        if (k ~ /(Token|TOKEN|Secret|SECRET|Password|PASSWORD|_KEY$|ApiKey)/ && v != "")
            print where "secret key " k " must ship empty"
        if (v ~ /AccessKey=[^;]/) print where "AccessKey with a value in " k
        if (k ~ /^(OpenAI|Redis)__/) print where "stale key " k " (no current AgentHost code reads it)"
    }' "$1"
}

# env_native_problems FILE: the keys a native install needs, with writable paths.
env_native_problems() {
    local k v
    for k in ASPNETCORE_URLS DataProvider__Cache DataProvider__Store DataProvider__SqlitePath \
        Deployment__Mode PluginDirectory; do
        grep -q "^$k=" "$1" || echo "required key $k is missing or commented out"
    done
    grep -q '^ASPNETCORE_URLS=http://' "$1" || echo "ASPNETCORE_URLS must start with an http:// URL"
    grep -q '^DataProvider__Cache=InMemory$' "$1" || echo "DataProvider__Cache should be InMemory"
    grep -q '^DataProvider__Store=SQLite$' "$1" || echo "DataProvider__Store should be SQLite"
    # Every path the service writes must be in a directory the unit makes writable.
    while IFS='=' read -r k v; do
        case "$v" in
            /var/lib/lucia/* | /var/cache/lucia/* | /var/log/lucia/*) ;;
            *) echo "$k=$v is not under /var/lib/lucia (the only writable state directory)" ;;
        esac
    done < <(grep -E '^[A-Za-z_][A-Za-z0-9_]*(Path|Directory|ModelBasePath)=' "$1")
}

# unit_value FILE KEY: the last assignment of KEY (systemd: later wins), without comments.
unit_value() { sed -n "s/^[ \t]*$2=//p" "$1" | tail -n 1; }

# toml_value TABLE KEY: a string value from the manifest (flat tables only).
toml_value() {
    awk -v t="$1" -v k="$2" '
        /^[ \t]*\[/ { s = $0; gsub(/^[ \t]*\[+|\]+[ \t]*(#.*)?$/, "", s); cur = s; next }
        cur == t && $0 ~ "^[ \t]*" k "[ \t]*=" {
            v = $0; sub(/^[^=]*=[ \t]*"/, "", v); sub(/".*$/, "", v); print v; exit
        }' "$MANIFEST"
}

# --- negative controls: each checker must reject a bad input ------------------------------

printf '[Service]\nExecStart=/bin/true\nTypo=1\nRestart=sometimes\n' >"$WORK/broken.service"
if verify_clean "$WORK/broken.service" >/dev/null; then
    bad "control: verify_clean accepted a unit with an unknown key and a bad value"
else
    pass "control: verify_clean rejects warnings that leave rc 0"
fi
printf '[Service]\nExecStart=/bin/true\n' >"$WORK/plain.service"
plain=$(exposure "$WORK/plain.service") || plain=""
if [[ -n "$plain" ]] && ! at_most "$plain" "$MAX_EXPOSURE"; then
    pass "control: an unhardened unit scores $plain > $MAX_EXPOSURE"
else
    bad "control: exposure check would not reject an unhardened unit (score '${plain}')"
fi
cat >"$WORK/bad.env" <<'EOF'
# a comment
GOOD_NAME=value
ConnectionStrings__chat-model=Endpoint=http://x;Model=m;Provider=ollama
#ConnectionStrings__embedding-model=Endpoint=http://x;Model=m;Provider=ollama
HomeAssistant__AccessToken=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl
OPENAI_API_KEY=sk-DEMOdemoDEMOdemoDEMOdemo0000
SOMETHING=aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1
just some words
  # indented
export FOO=bar
GOOD_NAME=again
OpenAI__ModelId=gpt
#DASHBOARD_API_KEY=lk_0123456789abcdef
EOF
env_problems "$WORK/bad.env" >"$WORK/bad.problems" || bad "env checker failed to run on the control file"
mapfile -t control <"$WORK/bad.problems"
for want in "bad.env:3: key" "bad.env:4: commented key" "bad.env:5: looks like a real credential" \
    "bad.env:6: looks like a real credential" "bad.env:7: long random-looking token" \
    "bad.env:8: not a KEY=value" "bad.env:9: indented line" "bad.env:10: \"export\"" \
    "bad.env:11: duplicate key" "bad.env:12: stale key" "bad.env:13: looks like a real credential"; do
    if printf '%s\n' "${control[@]}" | grep -qF "$want"; then :; else
        bad "control: env checker missed '$want'"
    fi
done
if printf '%s\n' "${control[@]}" | grep -q 'bad.env:[12]:'; then
    bad "control: env checker flagged a good line: $(printf '%s\n' "${control[@]}" | grep 'bad.env:[12]:')"
fi
pass "control: env checker flags ${#control[@]} problems in a crafted bad template"

# --- 1. systemd-analyze verify ------------------------------------------------------------

true_bin=$(command -v true)
mkdir -p "$WORK/verify"
sed "s|^ExecStart=.*|ExecStart=$true_bin|" "$UNIT" >"$WORK/verify/lucia.service"
changed=$(diff "$UNIT" "$WORK/verify/lucia.service" | grep -c '^>' || true)
[[ "$changed" == 1 ]] || bad "expected exactly one ExecStart= line in the unit, rewrote $changed"
if out=$(verify_clean "$WORK/verify/lucia.service"); then
    pass "systemd-analyze verify: no output, rc 0"
else
    bad "systemd-analyze verify complained about systemd/lucia.service: $out"
fi

# --- 2. exposure --------------------------------------------------------------------------

cp "$UNIT" "$WORK/lucia.service"
if score=$(exposure "$WORK/lucia.service"); then
    if at_most "$score" "$MAX_EXPOSURE"; then
        pass "systemd-analyze security: exposure $score <= $MAX_EXPOSURE"
    else
        bad "exposure $score is above $MAX_EXPOSURE; failing items:"
        systemd-analyze security --offline=yes --no-pager "$WORK/lucia.service" | grep '✗' >&2 || true
    fi
else
    bad "could not compute the exposure of systemd/lucia.service"
fi

# --- 3. unit semantics and agreement with the manifest ------------------------------------

expect_unit() { # KEY EXPECTED WHY
    local got
    got=$(unit_value "$UNIT" "$1")
    [[ "$got" == "$2" ]] && pass "$1=$got" || bad "$1 is '$got', expected '$2' ($3)"
}
install_dir=$(toml_value payload install-dir)
entrypoint=$(toml_value payload entrypoint)
[[ -n "$install_dir" && -n "$entrypoint" ]] || bad "cannot read [payload] install-dir/entrypoint from $MANIFEST"
expect_unit ExecStart "$install_dir/$entrypoint" "manifest [payload] install-dir + entrypoint"
expect_unit User "$(toml_value service user)" "manifest [service] user"
expect_unit Group "$(toml_value service group)" "manifest [service] group"
expect_unit EnvironmentFile "$(toml_value service.env path)" "manifest [service.env] path"
expect_unit WorkingDirectory "$(toml_value service home)" "manifest [service] home"
expect_unit Type exec "AgentHost never sends READY=1, so notify would time out"
expect_unit StateDirectory lucia "state under /var/lib/lucia"
expect_unit WantedBy multi-user.target "enable must hook into boot"
grep -Eq '^After=.*network-online\.target' "$UNIT" && grep -Eq '^Wants=.*network-online\.target' "$UNIT" &&
    pass "ordered after network-online.target" || bad "missing After=/Wants=network-online.target"
if grep -Eiq '^[ \t]*MemoryDenyWriteExecute=[ \t]*(yes|true|on|1)' "$UNIT"; then
    bad "MemoryDenyWriteExecute=yes breaks the .NET JIT"
else
    pass "no MemoryDenyWriteExecute (the .NET JIT needs W+X pages)"
fi
if grep -Eiq '^[ \t]*DynamicUser=[ \t]*(yes|true|on|1)' "$UNIT"; then
    bad "DynamicUser=yes conflicts with the packaged static user and state dir"
fi
if grep -Eq '^ExecStart=.*(/home/|dotnet )' "$UNIT"; then
    bad "ExecStart must run the self-contained apphost, not dotnet from a home directory"
fi

# --- 4. env template ----------------------------------------------------------------------

# Run the checkers to a file first: inside <(...) a checker that dies would go unnoticed.
env_problems "$ENVT" >"$WORK/env-problems" || bad "env checker failed to run on systemd/lucia.env"
env_native_problems "$ENVT" >>"$WORK/env-problems" || bad "native-keys checker failed to run"
mapfile -t problems <"$WORK/env-problems"
if ((${#problems[@]})); then
    for p in "${problems[@]}"; do bad "systemd/lucia.env: $p"; done
else
    pass "systemd/lucia.env: $(grep -c '^[A-Za-z_]' "$ENVT") keys set, only KEY=value/comment lines, no secrets"
fi

((FAILS == 0)) || e2e_fail "$FAILS unit/env check(s) failed"
e2e_log "units.sh: static checks passed"

# --- 5. the unit really runs: boot a Debian root with systemd and start it ----------------
# The demo AgentHost stands in for the real one. This catches sandboxing that kills or blocks
# the service (syscall filter, read-only paths, user namespace), which no static check can.
# LUCIA_E2E_UNITS_BOOT=0 stops after the static checks.
[[ "${LUCIA_E2E_UNITS_BOOT:-1}" != 0 ]] || exit 0
# shellcheck source=tests/e2e/lib/chroot.sh
. "$REPO_ROOT/tests/e2e/lib/chroot.sh"
e2e_need_root
e2e_need_tools systemd-nspawn zstd mmdebstrap
e2e_demo_payload
ROOTFS="$WORK/root"
chroot_fresh amd64 "$ROOTFS"
install -D -m 0755 "$REPO_ROOT/target/demo-payload/amd64/lucia.AgentHost" "$ROOTFS/opt/lucia/lucia.AgentHost"
install -D -m 0644 "$UNIT" "$ROOTFS/etc/systemd/system/lucia.service"
# The static user, created the way the packages create it (sysusers.d).
mkdir -p "$ROOTFS/usr/lib/sysusers.d"
echo 'u lucia - "Lucia agent host" /var/lib/lucia' >"$ROOTFS/usr/lib/sysusers.d/lucia.conf"
chroot_exec "$ROOTFS" systemd-sysusers </dev/null || e2e_fail "systemd-sysusers failed in the test root"
install -D -m 0640 "$ENVT" "$ROOTFS/etc/lucia/lucia.env"
chroot_exec "$ROOTFS" chgrp lucia /etc/lucia/lucia.env </dev/null || e2e_fail "chgrp lucia failed"
mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants"
ln -s /etc/systemd/system/lucia.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/lucia.service"

# Runs inside the booted container, as root, after lucia.service was started.
cat >"$WORK/boot-check.sh" <<'CHECK'
set -u
. /lucia-e2e/boot-helpers.sh
fails=0
check() {
    if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fails=$((fails + 1)); fi
}
boot_wait_active lucia.service 30 || exit 1
boot_wait_http http://127.0.0.1:8080/health 30 || exit 1
pid=$(systemctl show -p MainPID --value lucia)
check "GET /health answers Healthy" '[ "$(curl -fsS http://127.0.0.1:8080/health)" = Healthy ]'
check "GET /alive answers 200" 'curl -fsS -o /dev/null http://127.0.0.1:8080/alive'
check "runs as lucia, not root" '[ "$(ps -o user= -p "$pid")" = lucia ]'
check "no effective capabilities" 'grep -q "^CapEff:[[:space:]]*0*$" /proc/$pid/status'
check "seccomp filter active" 'grep -q "^Seccomp:[[:space:]]*2$" /proc/$pid/status'
check "/var/lib/lucia is lucia:lucia 750" '[ "$(stat -c "%U:%G %a" /var/lib/lucia)" = "lucia:lucia 750" ]'
check "state written to the StateDirectory" 'grep -qx starts=1 /var/lib/lucia/lucia-demo.state'
check "state file owned by lucia, not world-readable (UMask=0027)" \
    '[ "$(stat -c "%U %a" /var/lib/lucia/lucia-demo.state)" = "lucia 640" ]'
# In the service's mount namespace (even as root): the state dir is writable, /opt is not.
check "/var/lib/lucia is writable inside the sandbox" \
    'nsenter -t "$pid" -m touch /var/lib/lucia/probe && rm -f /var/lib/lucia/probe'
check "/opt/lucia and /etc are read-only inside the sandbox" \
    '! nsenter -t "$pid" -m touch /opt/lucia/probe 2>/dev/null && ! nsenter -t "$pid" -m touch /etc/probe 2>/dev/null'
check "log reaches the journal" \
    'journalctl -b -u lucia --no-pager | grep -q "Now listening on: http://0.0.0.0:8080"'
systemctl restart lucia && boot_wait_http http://127.0.0.1:8080/health 30
check "state survives a restart" 'grep -qx starts=2 /var/lib/lucia/lucia-demo.state'
systemctl stop lucia
check "stops cleanly on SIGTERM (exit 0, result success)" \
    '[ "$(systemctl show -p ExecMainStatus --value lucia)" = 0 ] && [ "$(systemctl show -p Result --value lucia)" = success ]'
check "clean stop recorded in the state file" 'grep -q "^stopped=" /var/lib/lucia/lucia-demo.state'
exit "$fails"
CHECK

if out=$(chroot_boot "$ROOTFS" "$WORK/boot-check.sh" lucia.service 2>&1); then
    printf '%s\n' "$out" | sed 's/^/    /' >&2
    e2e_log "units.sh: the unit runs the demo AgentHost in a booted Debian root; all checks passed"
else
    printf '%s\n' "$out" >&2
    e2e_fail "the unit did not run the demo AgentHost correctly in a booted Debian root"
fi
