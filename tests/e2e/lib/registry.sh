# shellcheck shell=bash
# A throwaway OCI registry (Debian's docker-registry, i.e. distribution 2.8) on the loopback
# interface, for push/pull tests.
#
#   registry_start DIR [USER PASS]
#       Starts a registry storing blobs under DIR/data on 127.0.0.1 with a free port, with
#       htpasswd (bcrypt) basic auth when USER and PASS are given. Waits until /v2/ answers
#       (200, or 401 with auth), prints `127.0.0.1:PORT` on stdout and sets REGISTRY_ADDR and
#       REGISTRY_PID. It is stopped automatically at exit. Works inside `addr=$(...)` too (the
#       variables are then lost, the address is not). Plain HTTP: pass --tls-verify=false /
#       --dest-tls-verify=false to skopeo and podman.
#   registry_stop PID   stop it earlier (also what the exit cleanup runs)
#
# Sources common.sh.

# shellcheck source=tests/e2e/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

registry_stop() {
    local pid="$1" i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# True if something already accepts connections on 127.0.0.1:PORT.
_registry_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

registry_start() {
    local dir="${1:?usage: registry_start DIR [USER PASS]}" user="${2:-}" pass="${3:-}"
    e2e_need_tools docker-registry curl
    mkdir -p "$dir/data"
    dir=$(realpath "$dir")
    local auth=""
    if [[ -n "$user" ]]; then
        [[ -n "$pass" ]] || e2e_fail "registry_start: USER given without PASS"
        e2e_need_tools htpasswd
        htpasswd -Bbn "$user" "$pass" >"$dir/htpasswd" 2>/dev/null || e2e_fail "htpasswd failed"
        auth=$'auth:\n  htpasswd:\n    realm: lucia-e2e\n    path: '"$dir/htpasswd"
    fi

    local attempt port pid code i log="$dir/registry.log"
    for ((attempt = 0; attempt < 20; attempt++)); do
        port=$((20000 + RANDOM % 40000))
        _registry_port_busy "$port" && continue
        cat >"$dir/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: lucia-e2e-throwaway
$auth
EOF
        # Detached from our stdout so that `$(registry_start ...)` returns.
        docker-registry serve "$dir/registry.yml" </dev/null >"$log" 2>&1 &
        pid=$!
        e2e_on_exit "registry_stop $pid"
        for ((i = 0; i < 150; i++)); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/v2/" || true)
            if [[ "$code" == 200 || "$code" == 401 ]]; then
                REGISTRY_ADDR="127.0.0.1:$port"
                # shellcheck disable=SC2034 # for the caller
                REGISTRY_PID=$pid
                printf '%s\n' "$REGISTRY_ADDR"
                return 0
            fi
            sleep 0.1
        done
        registry_stop "$pid"
        # Lost a race for the port: try another one; anything else is a real failure.
        if grep -q 'address already in use' "$log"; then
            continue
        fi
        cat "$log" >&2
        e2e_fail "docker-registry did not answer on 127.0.0.1:$port/v2/ within 15 s"
    done
    e2e_fail "registry_start: no free port found after 20 attempts"
}
