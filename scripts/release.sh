#!/usr/bin/env bash
# Builds the example's full release set into dist/: tar.gz, deb and rpm for amd64 and arm64, the
# multi-arch OCI layout and archive, SHA256SUMS and build-info.json.
#
# Building packages needs no root. Only the demo payload's arm64 cross linker has to be present
# (gcc-aarch64-linux-gnu); as root this script installs it when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
    if [[ "$(id -u)" == 0 ]]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    else
        echo "release.sh: the arm64 demo payload needs gcc-aarch64-linux-gnu (run as root once, or: sudo apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross)" >&2
        exit 1
    fi
fi
bash scripts/build-demo-payload.sh
cargo build --release --locked
exec target/release/lucia-pkg build --manifest packaging/lucia.toml --out "${1:-dist}"
