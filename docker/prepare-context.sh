#!/usr/bin/env bash
# Fill docker/payload/ from lucia-pkg release tarballs, for `docker build docker/`.
#
#   docker/prepare-context.sh [DIST_DIR] [VERSION]
#
# DIST_DIR (default dist/) holds lucia-VERSION-linux-{amd64,arm64}.tar.gz. Each one found is
# checked against DIST_DIR/SHA256SUMS when that file exists, then extracted into
# docker/payload/<arch>/. At least one architecture must be present.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
dist=${1:-dist}
version=${2:-1.0.0}
[[ -d "$dist" ]] || { echo "error: $dist is not a directory (run scripts/release.sh or lucia-pkg build first)" >&2; exit 2; }

rm -rf "$here/payload"
mkdir -p "$here/payload/state"
found=0
for arch in amd64 arm64; do
    tarball="lucia-$version-linux-$arch.tar.gz"
    [[ -f "$dist/$tarball" ]] || continue
    if [[ -f "$dist/SHA256SUMS" ]]; then
        (cd "$dist" && grep -E "  $tarball\$" SHA256SUMS | sha256sum -c --quiet -) ||
            { echo "error: $dist/$tarball does not match $dist/SHA256SUMS" >&2; exit 1; }
    fi
    mkdir -p "$here/payload/$arch"
    # --no-same-owner: ownership is set in the Dockerfile, not taken from the tarball.
    tar -xzf "$dist/$tarball" --no-same-owner -C "$here/payload/$arch"
    echo "payload/$arch <- $dist/$tarball"
    found=$((found + 1))
done
((found)) || { echo "error: no lucia-$version-linux-{amd64,arm64}.tar.gz in $dist" >&2; exit 1; }
