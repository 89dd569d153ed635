#!/usr/bin/env bash
# End-to-end test of `lucia-pkg push` (issue 5) against Debian's docker-registry (distribution
# 2.8) on 127.0.0.1 with htpasswd (bcrypt) basic auth:
#   1. push the built layout to REG/lucia/agenthost:1.0.0 plus tag 1.0, credentials from
#      LUCIA_PKG_REGISTRY_USER/PASSWORD: the index skopeo pulls back by either tag hashes to the
#      digest index.json names (the registry stored our exact bytes), and both platform
#      manifests are there by digest;
#   1b. push with -m (the manifest's oci.tags) and --tag: the version tag, every oci.tags entry
#      and every --tag resolve to the build's index digest; a manifest of another version
#      exits 2;
#   2. push again (the oci-archive this time): no blob is uploaded again;
#   3. a wrong password fails with exit 1 and a clear message that does not echo it; no
#      credentials at all fails asking for them; credentials from a docker config.json work;
#   4. podman pulls and runs the image from the registry for amd64 and (qemu) arm64:
#      GET /health answers 200;
#   5. Bearer token auth: a second docker-registry configured with `auth: token`, trusting a
#      throwaway certificate, and a small token service (below) that checks Basic credentials
#      and issues RS256 JWTs with the certificate in x5c: the push follows the WWW-Authenticate
#      realm/service/scope flow, the registry itself validates the token and its access claims,
#      the digest round-trips, a re-push uploads nothing, and a wrong password fails with exit 1.
#
# Env: LUCIA_PKG (binary under test). LUCIA_E2E_PUSH_EXAMPLE=path runs registry-push's example
# binary (`cargo build -p registry-push --example push`) instead of `lucia-pkg push`, for
# testing the crate before the CLI is wired.

# shellcheck source=tests/e2e/lib/chroot.sh
. "$(dirname "$0")/lib/chroot.sh"
# shellcheck source=tests/e2e/lib/registry.sh
. "$REPO_ROOT/tests/e2e/lib/registry.sh"

e2e_need_root
e2e_need_tools podman runc skopeo curl sha256sum python3 docker-registry htpasswd openssl
e2e_need_lucia_pkg
e2e_demo_payload

T=$(e2e_tmpdir)
unset SOURCE_DATE_EPOCH LUCIA_PKG_REGISTRY_USER LUCIA_PKG_REGISTRY_PASSWORD
USER_NAME=lucia-ci
PASSWORD='s3cret-Pa55:with=colon'

# push SOURCE REF [--tag T]... ; prints the tool's stdout (the JSON report). Everything it said
# (stderr, and stdout where `--json` puts errors as JSON) is kept in $T/push.msg. The image alone
# (--no-attach): the blob counts below are the image's; what push attaches beside it (SBOMs,
# signature, provenance) is checked by tests/image_signing.rs.
do_push() {
    local src="$1" ref="$2" rc=0
    shift 2
    if [[ -n "${LUCIA_E2E_PUSH_EXAMPLE:-}" ]]; then
        "$LUCIA_E2E_PUSH_EXAMPLE" "$src" "$ref" --json "$@" >"$T/push.out" 2>"$T/push.err" || rc=$?
    else
        "$LUCIA_PKG" --json push "$src" --to "$ref" --no-attach "$@" >"$T/push.out" 2>"$T/push.err" || rc=$?
    fi
    cat "$T/push.err" "$T/push.out" >"$T/push.msg"
    cat "$T/push.out"
    return "$rc"
}

# Reads a count (blobs_uploaded, blobs_skipped) from the push report JSON, wherever it sits.
report_field() {
    python3 -c '
import json, sys
def find(v, k):
    if isinstance(v, dict):
        if k in v:
            return v[k]
        for x in v.values():
            r = find(x, k)
            if r is not None:
                return r
    return None
r = find(json.load(open(sys.argv[1])), sys.argv[2])
if r is None:
    sys.exit("no " + sys.argv[2] + " in the push report")
print(r)' "$1" "$2"
}

e2e_log "0. build the image, start the registry"
e2e_manifest_variant "$T/lucia.toml"
"$LUCIA_PKG" build --manifest "$T/lucia.toml" --format oci --out "$T/dist" >"$T/build.log" 2>&1 ||
    { cat "$T/build.log" >&2; e2e_fail "lucia-pkg build --format oci failed"; }
L=$T/dist/lucia-1.0.0-oci
A=$T/dist/lucia-1.0.0-oci.tar
INDEX_DIGEST=$(grep -o '"digest":"sha256:[0-9a-f]\{64\}"' "$L/index.json" | head -n 1 | cut -d'"' -f4)
[[ -n "$INDEX_DIGEST" ]] || e2e_fail "no index digest in $L/index.json"
ADDR=$(registry_start "$T/registry" "$USER_NAME" "$PASSWORD")
REF=$ADDR/lucia/agenthost
CREDS="$USER_NAME:$PASSWORD"

# --- 1. first push -------------------------------------------------------------------------
e2e_log "1. push to $REF:1.0.0 (+ tag 1.0)"
LUCIA_PKG_REGISTRY_USER=$USER_NAME LUCIA_PKG_REGISTRY_PASSWORD=$PASSWORD \
    do_push "$L" "$REF:1.0.0" --tag 1.0 >"$T/push1.json" ||
    { cat "$T/push.msg" >&2; e2e_fail "first push failed"; }
up=$(report_field "$T/push1.json" blobs_uploaded)
# Every blob of the layout except the index and the two manifests (those are PUT as manifests).
want=$(($(find "$L/blobs/sha256" -type f | wc -l) - 3))
[[ "$up" -eq "$want" ]] || e2e_fail "first push uploaded $up blobs, want $want: $(cat "$T/push1.json")"
for tag in 1.0.0 1.0; do
    got=$(skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$REF:$tag" | sha256sum | cut -d' ' -f1)
    [[ "sha256:$got" == "$INDEX_DIGEST" ]] || e2e_fail "$REF:$tag hashes to sha256:$got, the build's index is $INDEX_DIGEST"
done
skopeo inspect --tls-verify=false --creds "$CREDS" --format '{{.Digest}}' "docker://$REF:1.0.0" >"$T/digest.txt"
[[ $(cat "$T/digest.txt") == "$INDEX_DIGEST" ]] || e2e_fail "skopeo reports digest $(cat "$T/digest.txt")"
for arch in amd64 arm64; do
    skopeo inspect --tls-verify=false --creds "$CREDS" --override-arch "$arch" "docker://$REF:1.0.0" |
        grep -q "\"Architecture\": \"$arch\"" || e2e_fail "the pushed index has no working $arch image"
done

# --- 1b. tags: version tag always, the manifest's oci.tags with -m, every --tag ---------------
if [[ -z "${LUCIA_E2E_PUSH_EXAMPLE:-}" ]]; then
    e2e_log "1b. push to $REF with -m (oci.tags) and --tag: every tag resolves to the index"
    mapfile -t manifest_tags < <(python3 -c '
import sys, tomllib
for t in tomllib.load(open(sys.argv[1], "rb")).get("oci", {}).get("tags", []):
    print(t)' "$T/lucia.toml")
    [[ ${#manifest_tags[@]} -gt 0 ]] || e2e_fail "the example manifest has no oci.tags to test with"
    LUCIA_PKG_REGISTRY_USER=$USER_NAME LUCIA_PKG_REGISTRY_PASSWORD=$PASSWORD \
        do_push "$L" "$REF" -m "$T/lucia.toml" --tag sha-0123abc --tag latest >"$T/push-tags.json" ||
        { cat "$T/push.msg" >&2; e2e_fail "push with -m and --tag failed"; }
    for tag in 1.0.0 "${manifest_tags[@]}" sha-0123abc latest; do
        python3 -c 'import json, sys; sys.exit(sys.argv[2] not in json.load(open(sys.argv[1]))["tags"])' \
            "$T/push-tags.json" "$tag" || e2e_fail "the push report does not list tag $tag: $(cat "$T/push-tags.json")"
        got=$(skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$REF:$tag" | sha256sum | cut -d' ' -f1)
        [[ "sha256:$got" == "$INDEX_DIGEST" ]] || e2e_fail "$REF:$tag hashes to sha256:$got, the build's index is $INDEX_DIGEST"
    done
    # A manifest of another version is refused (exit 2) before anything is sent.
    sed '0,/^version = ".*"/s//version = "9.9.9"/' "$T/lucia.toml" >"$T/lucia-other.toml"
    rc=0
    do_push "$L" "$REF" -m "$T/lucia-other.toml" >/dev/null || rc=$?
    if [[ $rc -ne 2 ]] || ! grep -q "is version 9.9.9" "$T/push.msg"; then
        e2e_fail "-m with another version: exit $rc, $(cat "$T/push.msg")"
    fi
fi

# --- 2. second push uploads nothing ----------------------------------------------------------
e2e_log "2. push again (from the archive): no blob uploaded"
LUCIA_PKG_REGISTRY_USER=$USER_NAME LUCIA_PKG_REGISTRY_PASSWORD=$PASSWORD \
    do_push "$A" "$REF:1.0.0" >"$T/push2.json" ||
    { cat "$T/push.msg" >&2; e2e_fail "second push failed"; }
up=$(report_field "$T/push2.json" blobs_uploaded)
skipped=$(report_field "$T/push2.json" blobs_skipped)
[[ "$up" -eq 0 && "$skipped" -gt 0 ]] || e2e_fail "second push uploaded $up blobs (skipped $skipped); want 0 uploaded"

# --- 3. credentials -----------------------------------------------------------------------------
e2e_log "3. wrong password, no credentials, docker config.json"
rc=0
LUCIA_PKG_REGISTRY_USER=$USER_NAME LUCIA_PKG_REGISTRY_PASSWORD=not-the-password \
    do_push "$L" "$REF:wrong" >/dev/null || rc=$?
[[ $rc -eq 1 ]] || e2e_fail "a wrong password exited $rc, want 1"
grep -qi "rejected the credentials" "$T/push.msg" || e2e_fail "unclear wrong-password message: $(cat "$T/push.msg")"
! grep -q "not-the-password" "$T/push.msg" || e2e_fail "the password was printed"
rc=0
# An empty DOCKER_CONFIG dir, so a developer's ~/.docker/config.json cannot supply credentials.
mkdir -p "$T/empty-docker"
DOCKER_CONFIG=$T/empty-docker do_push "$L" "$REF:anon" >/dev/null || rc=$?
if [[ $rc -ne 1 ]] || ! grep -q "requires authentication" "$T/push.msg"; then
    e2e_fail "an anonymous push exited $rc: $(cat "$T/push.msg")"
fi
mkdir -p "$T/docker"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$ADDR" "$(printf '%s' "$CREDS" | base64 -w0)" >"$T/docker/config.json"
DOCKER_CONFIG=$T/docker do_push "$L" "$REF:from-docker-config" >"$T/push3.json" ||
    { cat "$T/push.msg" >&2; e2e_fail "push with docker config.json credentials failed"; }
! grep -q "$PASSWORD" "$T/push3.json" "$T/push.msg" || e2e_fail "the password was printed"

# --- 4. podman runs it from the registry ---------------------------------------------------------
e2e_log "4. podman run from the registry (amd64, arm64)"
for arch in amd64 arm64; do
    e2e_need_arch "$arch"
    name=lucia-e2e-push-$$-$arch
    e2e_on_exit "podman rm -f $name >/dev/null 2>&1"
    e2e_on_exit "podman rmi -f $REF:1.0.0 >/dev/null 2>&1"
    # podman 4.3's `run` has no --creds: pull first, then run the pulled image by its ID.
    podman pull --quiet --tls-verify=false --creds "$CREDS" --platform "linux/$arch" "$REF:1.0.0" >"$T/pull.out" 2>"$T/run.err" ||
        { cat "$T/run.err" >&2; e2e_fail "podman pull $REF:1.0.0 ($arch) failed"; }
    id=$(tail -n 1 "$T/pull.out")
    [[ $(podman image inspect "$id" --format '{{.Digest}}') == "$INDEX_DIGEST" ]] ||
        e2e_fail "podman pulled $REF:1.0.0 ($arch) under digest $(podman image inspect "$id" --format '{{.Digest}}')"
    podman run -d --name "$name" --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        -p 127.0.0.1::8080 "$id" >/dev/null 2>"$T/run.err" || { cat "$T/run.err" >&2; e2e_fail "podman run of the pulled $arch image failed"; }
    port=$(podman port "$name" 8080/tcp | head -n 1 | sed 's/.*://')
    code=000
    for ((i = 0; i < 100; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/health" || true)
        [[ "$code" == 200 ]] && break
        sleep 0.2
    done
    [[ "$code" == 200 ]] || { podman logs "$name" >&2 || true; e2e_fail "$arch from the registry: /health answered $code"; }
    [[ $(podman image inspect "$id" --format '{{.Architecture}}') == "$arch" ]] ||
        e2e_fail "podman pulled the wrong platform for $arch"
    podman rm -f "$name" >/dev/null
    podman rmi -f "$REF:1.0.0" >/dev/null 2>&1 || true
done

# --- 5. Bearer token flow ------------------------------------------------------------------------
e2e_log "5. Bearer token auth (distribution auth: token + a local token service)"
TK=$T/token
mkdir -p "$TK/data"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TK/key.pem" -out "$TK/cert.pem" -days 2 \
    -subj /CN=lucia-e2e-token >/dev/null 2>&1 || e2e_fail "openssl could not make the token certificate"
cat >"$TK/token_server.py" <<'TOKEN_SERVER'
# Docker Registry v2 token service, just enough for distribution's `auth: token`: checks Basic
# credentials, grants the requested scopes, signs RS256 with `openssl dgst`, puts the
# certificate in x5c (the registry verifies it against its rootcertbundle).
# argv: KEY CERT USER PASSWORD ISSUER PORTFILE
import base64, json, os, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

key, cert, user, password, issuer, portfile = sys.argv[1:7]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True, capture_output=True).stdout
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode():
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
        access = []
        for scope in q.get("scope", []):
            typ, name, actions = scope.split(":")
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        head = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": issuer, "sub": user, "aud": q.get("service", [""])[0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": b64u(os.urandom(12)), "access": access}
        signing_input = b64u(json.dumps(head).encode()) + "." + b64u(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        token = signing_input + "." + b64u(sig)
        self.reply(200, json.dumps({"token": token, "expires_in": 300}).encode())

srv = HTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
TOKEN_SERVER
python3 "$TK/token_server.py" "$TK/key.pem" "$TK/cert.pem" "$USER_NAME" "$PASSWORD" lucia-e2e-issuer "$TK/port" \
    </dev/null >"$TK/token.log" 2>&1 &
e2e_on_exit "kill $! 2>/dev/null"
for ((i = 0; i < 50; i++)); do
    [[ -s "$TK/port" ]] && break
    sleep 0.1
done
[[ -s "$TK/port" ]] || { cat "$TK/token.log" >&2; e2e_fail "the token service did not start"; }
TPORT=$(cat "$TK/port")
code=000
for ((attempt = 0; attempt < 20; attempt++)); do
    BPORT=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$BPORT") 2>/dev/null && continue
    cat >"$TK/registry.yml" <<REGISTRY_YML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $TK/data}}
http: {addr: "127.0.0.1:$BPORT", secret: lucia-e2e-throwaway}
auth:
  token:
    realm: http://127.0.0.1:$TPORT/token
    service: lucia-e2e-registry
    issuer: lucia-e2e-issuer
    rootcertbundle: $TK/cert.pem
REGISTRY_YML
    docker-registry serve "$TK/registry.yml" </dev/null >"$TK/registry.log" 2>&1 &
    BPID=$!
    e2e_on_exit "kill $BPID 2>/dev/null"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$BPID" 2>/dev/null || break
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$BPORT/v2/" || true)
        [[ "$code" == 401 ]] && break
        sleep 0.1
    done
    [[ "$code" == 401 ]] && break
    kill "$BPID" 2>/dev/null || true
    grep -q 'address already in use' "$TK/registry.log" ||
        { cat "$TK/registry.log" >&2; e2e_fail "the token-auth registry did not start"; }
done
[[ "$code" == 401 ]] || e2e_fail "no free port for the token-auth registry"
curl -s -D - -o /dev/null "http://127.0.0.1:$BPORT/v2/" | grep -qi '^www-authenticate: Bearer realm=' ||
    e2e_fail "the token-auth registry does not send a Bearer challenge"
BREF=127.0.0.1:$BPORT/lucia/agenthost
LUCIA_PKG_REGISTRY_USER=$USER_NAME LUCIA_PKG_REGISTRY_PASSWORD=$PASSWORD \
    do_push "$L" "$BREF:1.0.0" >"$T/push-bearer.json" ||
    { cat "$T/push.msg" >&2; e2e_fail "push with Bearer token auth failed"; }
got=$(skopeo inspect --raw --tls-verify=false --creds "$CREDS" "docker://$BREF:1.0.0" | sha256sum | cut -d' ' -f1)
[[ "sha256:$got" == "$INDEX_DIGEST" ]] || e2e_fail "Bearer push: $BREF:1.0.0 hashes to sha256:$got"
LUCIA_PKG_REGISTRY_USER=$USER_NAME LUCIA_PKG_REGISTRY_PASSWORD=$PASSWORD \
    do_push "$L" "$BREF:1.0.0" >"$T/push-bearer2.json" || e2e_fail "second Bearer push failed"
[[ $(report_field "$T/push-bearer2.json" blobs_uploaded) -eq 0 ]] || e2e_fail "second Bearer push uploaded blobs"
rc=0
LUCIA_PKG_REGISTRY_USER=$USER_NAME LUCIA_PKG_REGISTRY_PASSWORD=not-the-password \
    do_push "$L" "$BREF:wrong" >/dev/null || rc=$?
if [[ $rc -ne 1 ]] || ! grep -qi "rejected the credentials" "$T/push.msg" || grep -q not-the-password "$T/push.msg"; then
    e2e_fail "Bearer, wrong password: exit $rc, $(cat "$T/push.msg")"
fi

e2e_log "PASS: pushed $INDEX_DIGEST to $REF (basic) and $BREF (bearer); re-push uploaded nothing; podman ran it"
