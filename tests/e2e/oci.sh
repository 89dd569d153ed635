#!/usr/bin/env bash
# End-to-end test of the OCI image (issue 5): daemonless build, reproducibility, the real tools'
# view of the index, and the AgentHost running from it under podman (runc) on amd64 and, through
# qemu binfmt, arm64. Steps:
#   1. build the image twice with `lucia-pkg build --format oci --no-cache` under different TZ,
#      umask, locale and working directory: identical layout trees, archive bytes and index digest.
#   2. skopeo: `inspect --raw oci:LAYOUT:1.0.0` is the index blob (its sha256 is the digest
#      index.json names), with exactly linux/amd64 and linux/arm64/v8, OCI media types and no
#      stray (attestation/unknown) entries; `--override-arch` picks each platform; the archive
#      (oci-archive:) shows the same index.
#   3. umoci unpack of each platform (umoci verifies every layer's diff_id): payload files,
#      owners and modes as declared, the state dir owned by 1100:1100, no env file, no unit.
#   4. podman run of each platform from the layout: GET /health answers 200, the process runs
#      as uid/gid 1100 (read from /proc/<pid>/status: the scratch image has no `id`), and the
#      arm64 one really runs an aarch64 binary under qemu.
#   5. podman load -i of the archive: named after io.containerd.image.name, index digest kept.
#   6. a zstd-layer variant (`[oci] compression = "zstd"`) runs too.
#
# The manifest is packaging/lucia.toml with a test-only repository name, so that loading the
# image never replaces a `ghcr.io/seiggy/lucia:1.0.0` another test or a developer has.
#
# Env: LUCIA_PKG (binary under test).

# shellcheck source=tests/e2e/lib/chroot.sh
. "$(dirname "$0")/lib/chroot.sh"

e2e_need_root
e2e_need_tools podman runc skopeo umoci curl sha256sum
e2e_need_lucia_pkg
e2e_demo_payload

T=$(e2e_tmpdir)
unset SOURCE_DATE_EPOCH
REPO=localhost/lucia-e2e-oci-$$
PODMAN_RUN=(podman run --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

e2e_manifest_variant "$T/lucia.toml" "oci.repository=$REPO"

# --- 1. build twice, compare ---------------------------------------------------------------
e2e_log "1. build the OCI image twice with varied environment"
build() { # OUTDIR [extra manifest]
    local out="$1" manifest="${2:-$T/lucia.toml}"
    "$LUCIA_PKG" build --manifest "$manifest" --format oci --no-cache --out "$out" >"$out.log" 2>&1 ||
        { cat "$out.log" >&2; e2e_fail "lucia-pkg build --format oci failed"; }
}
mkdir -p "$T/a" "$T/b/work"
(umask 022 && TZ=UTC LC_ALL=C build "$T/a/dist")
(cd "$T/b/work" && umask 077 && TZ=Pacific/Kiritimati LC_ALL=C.UTF-8 build "$T/b/dist")
L=$T/a/dist/lucia-1.0.0-oci
A=$T/a/dist/lucia-1.0.0-oci.tar
[[ -f "$L/oci-layout" && -f "$L/index.json" && -f "$A" ]] || e2e_fail "build did not write $L and $A"
diff -r "$L" "$T/b/dist/lucia-1.0.0-oci" >/dev/null || e2e_fail "the two OCI layouts differ"
cmp -s "$A" "$T/b/dist/lucia-1.0.0-oci.tar" || e2e_fail "the two oci-archives differ"

INDEX_DIGEST=$(grep -o '"digest":"sha256:[0-9a-f]\{64\}"' "$L/index.json" | head -n 1 | cut -d'"' -f4)
[[ -n "$INDEX_DIGEST" ]] || e2e_fail "no digest in index.json: $(cat "$L/index.json")"
[[ $(grep -o '"digest"' "$L/index.json" | wc -l) -eq 1 ]] || e2e_fail "index.json must name exactly one image"
grep -q '"org.opencontainers.image.ref.name":"1.0.0"' "$L/index.json" || e2e_fail "index.json lacks ref.name 1.0.0"
e2e_log "   index $INDEX_DIGEST"

# --- 2. skopeo's view --------------------------------------------------------------------
e2e_log "2. skopeo inspect: index, platforms, archive"
skopeo inspect --raw "oci:$L:1.0.0" >"$T/index.raw" || e2e_fail "skopeo inspect --raw failed"
got="sha256:$(sha256sum <"$T/index.raw" | cut -d' ' -f1)"
[[ "$got" == "$INDEX_DIGEST" ]] || e2e_fail "skopeo's index hashes to $got, index.json says $INDEX_DIGEST"
python3 - "$T/index.raw" <<'PY' || e2e_fail "the image index is not what it should be"
import json, sys
idx = json.load(open(sys.argv[1]))
def want(cond, msg):
    if not cond:
        sys.exit(f"index: {msg}: {json.dumps(idx)}")
want(idx.get("mediaType") == "application/vnd.oci.image.index.v1+json", "media type")
ms = idx["manifests"]
want(len(ms) == 2, "exactly two entries (no attestation / unknown platforms)")
want([m["platform"] for m in ms] == [{"architecture": "amd64", "os": "linux"},
                                    {"architecture": "arm64", "os": "linux", "variant": "v8"}], "platforms")
want(all(m["mediaType"] == "application/vnd.oci.image.manifest.v1+json" for m in ms), "manifest media types")
a = idx.get("annotations", {})
for k in ["title", "version", "source", "licenses", "created"]:
    want(f"org.opencontainers.image.{k}" in a, f"annotation {k}")
want(a["org.opencontainers.image.created"] == "2026-11-01T00:00:00Z", "created = source date")
PY
for arch in amd64 arm64; do
    skopeo inspect --override-os linux --override-arch "$arch" "oci:$L:1.0.0" >"$T/$arch.json" ||
        e2e_fail "skopeo inspect --override-arch $arch failed"
    grep -q "\"Architecture\": \"$arch\"" "$T/$arch.json" || e2e_fail "--override-arch $arch picked: $(cat "$T/$arch.json")"
    skopeo inspect --config --override-arch "$arch" "oci:$L:1.0.0" >"$T/$arch.config"
    python3 - "$T/$arch.config" <<'PY' || e2e_fail "$arch config is wrong"
import json, sys
c = json.load(open(sys.argv[1]))
cfg = c["config"]
env = dict(e.split("=", 1) for e in cfg["Env"])
checks = {
    "user": cfg.get("User") == "1100:1100",
    "entrypoint": cfg.get("Entrypoint") == ["/opt/lucia/lucia.AgentHost"],
    "ASPNETCORE_URLS": env.get("ASPNETCORE_URLS") == "http://+:8080",
    "env sorted": cfg["Env"] == sorted(cfg["Env"], key=lambda e: e.split("=", 1)[0]),
    "no secrets baked in": not any(k.startswith(("Redis", "ConnectionStrings", "HomeAssistant")) for k in env),
    "port": "8080/tcp" in cfg.get("ExposedPorts", {}),
    "volume": "/var/lib/lucia" in cfg.get("Volumes", {}),
    "created": c["created"] == "2026-11-01T00:00:00Z",
    "history per layer": len(c["history"]) == len(c["rootfs"]["diff_ids"]),
}
bad = [k for k, ok in checks.items() if not ok]
if bad:
    sys.exit(f"config checks failed: {bad}: {json.dumps(c)}")
PY
done
got=$(skopeo inspect --raw "oci-archive:$A" | sha256sum | cut -d' ' -f1)
[[ "sha256:$got" == "$INDEX_DIGEST" ]] || e2e_fail "the oci-archive's index differs from the layout's"
"$LUCIA_PKG" inspect "$A" >"$T/inspect.txt" || e2e_fail "lucia-pkg inspect of the archive failed"
if ! grep -q "linux/arm64/v8" "$T/inspect.txt" || ! grep -q "$INDEX_DIGEST" "$T/inspect.txt"; then
    e2e_fail "lucia-pkg inspect does not show the index and platforms: $(cat "$T/inspect.txt")"
fi

# --- 3. umoci: diff_ids, files, owners, modes --------------------------------------------
e2e_log "3. umoci unpack each platform"
for arch in amd64 arm64; do
    # umoci 0.4.7 cannot choose a platform inside an index ("tag is ambiguous"), so copy one out first (skopeo
    # copies the blobs unchanged and verifies their digests on the way).
    skopeo copy --quiet --override-os linux --override-arch "$arch" "oci:$L:1.0.0" "oci:$T/single-$arch:img" ||
        e2e_fail "skopeo copy of $arch failed"
    umoci unpack --image "$T/single-$arch:img" "$T/bundle-$arch" >/dev/null ||
        e2e_fail "umoci unpack of $arch failed (diff_id mismatch?)"
    R=$T/bundle-$arch/rootfs
    check() { # PATH "uid:gid mode"
        local got
        got=$(stat -c '%u:%g %a' "$R/$1" 2>/dev/null) || e2e_fail "$arch: /$1 missing from the image"
        [[ "$got" == "$2" ]] || e2e_fail "$arch: /$1 is $got, want $2"
    }
    check opt/lucia/lucia.AgentHost "0:0 755"
    check opt/lucia/appsettings.json "0:0 644"
    check var/lib/lucia "1100:1100 750"
    check etc/passwd "0:0 644"
    cmp -s "$R/opt/lucia/lucia.AgentHost" "$REPO_ROOT/target/demo-payload/$arch/lucia.AgentHost" ||
        e2e_fail "$arch: the payload in the image differs from target/demo-payload/$arch"
    grep -q '^lucia:x:1100:1100:' "$R/etc/passwd" || e2e_fail "$arch: /etc/passwd lacks the lucia user"
    for absent in etc/lucia/lucia.env etc/lucia usr/lib/systemd usr/lib/sysusers.d; do
        [[ ! -e "$R/$absent" ]] || e2e_fail "$arch: /$absent must not be in the image"
    done
    [[ -f "$R/usr/share/doc/lucia/README.service.md" ]] || e2e_fail "$arch: documentation missing"
done

# --- 4. podman run, both platforms ---------------------------------------------------------
# podman names an image pulled from `oci:PATH` after PATH and refuses upper-case letters, which
# mktemp puts in our scratch dir; a lower-case symlink per platform avoids both that and one
# platform's pull renaming the other's.
run_and_check() { # IMAGE-REF ARCH NAME
    local ref="$1" arch="$2" name="$3" port code pid i
    e2e_on_exit "podman rm -f $name >/dev/null 2>&1"
    "${PODMAN_RUN[@]}" -d --name "$name" --platform "linux/$arch" -p 127.0.0.1::8080 "$ref" >/dev/null ||
        e2e_fail "podman run of $ref ($arch) failed"
    port=$(podman port "$name" 8080/tcp | head -n 1 | sed 's/.*://')
    [[ -n "$port" ]] || e2e_fail "$name: no published port"
    code=000
    for ((i = 0; i < 100; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/health" || true)
        [[ "$code" == 200 ]] && break
        sleep 0.2
    done
    [[ "$code" == 200 ]] || { podman logs "$name" >&2 || true; e2e_fail "$name ($arch): GET /health answered $code"; }
    pid=$(podman inspect "$name" --format '{{.State.Pid}}')
    grep -Eq '^Uid:[[:space:]]+1100[[:space:]]+1100' "/proc/$pid/status" ||
        e2e_fail "$name: the AgentHost does not run as uid 1100: $(grep -E '^(Uid|Gid)' "/proc/$pid/status")"
    grep -Eq '^Gid:[[:space:]]+1100[[:space:]]+1100' "/proc/$pid/status" || e2e_fail "$name: gid is not 1100"
    [[ $(podman inspect "$name" --format '{{.Config.User}}') == "1100:1100" ]] || e2e_fail "$name: Config.User"
    if [[ "$arch" != "$(dpkg --print-architecture)" ]]; then
        # Under binfmt the kernel runs qemu with the aarch64 binary: the emulator is the exe.
        readlink "/proc/$pid/exe" | grep -q "qemu-aarch64" ||
            e2e_fail "$name: expected an emulated aarch64 process, exe is $(readlink "/proc/$pid/exe")"
    fi
    podman rm -f "$name" >/dev/null
}
e2e_log "4. podman run amd64 and arm64 (runc)"
LINKS=/tmp/lucia-e2e-oci-$$
e2e_on_exit "rm -rf $LINKS"
mkdir -p "$LINKS"
for arch in amd64 arm64; do
    e2e_need_arch "$arch"
    ln -s "$L" "$LINKS/$arch"
    e2e_on_exit "podman rmi -f localhost$LINKS/$arch:latest >/dev/null 2>&1"
    run_and_check "oci:$LINKS/$arch:1.0.0" "$arch" "lucia-e2e-oci-$$-$arch"
    e2e_log "   $arch: /health 200 as uid 1100"
done

# --- 5. podman load of the archive ----------------------------------------------------------
e2e_log "5. podman load -i the oci-archive"
e2e_on_exit "podman rmi -f $REPO:1.0.0 >/dev/null 2>&1"
podman load -i "$A" >"$T/load.log" 2>&1 || { cat "$T/load.log" >&2; e2e_fail "podman load failed"; }
grep -q "Loaded image.*$REPO:1.0.0" "$T/load.log" || e2e_fail "podman load named it: $(tail -n 1 "$T/load.log")"
[[ $(podman image inspect "$REPO:1.0.0" --format '{{.Digest}}') == "$INDEX_DIGEST" ]] ||
    e2e_fail "the loaded image's digest is not the index digest"
run_and_check "$REPO:1.0.0" "$(dpkg --print-architecture)" "lucia-e2e-oci-$$-loaded"

# --- 6. zstd layers -------------------------------------------------------------------------
e2e_log "6. zstd layer variant"
e2e_manifest_variant "$T/zstd.toml" "oci.repository=$REPO-zstd" "oci.compression=zstd"
build "$T/z" "$T/zstd.toml"
ZL=$T/z/lucia-1.0.0-oci
skopeo inspect --raw "oci:$ZL:1.0.0" >/dev/null || e2e_fail "skopeo cannot read the zstd image"
# skopeo 1.9 does not print layer media types; read the two platform manifests directly.
count_blobs_with() { { grep -l "$1" "$ZL"/blobs/sha256/* || true; } | wc -l; }
nz=$(count_blobs_with 'application/vnd.oci.image.layer.v1.tar+zstd')
ng=$(count_blobs_with 'application/vnd.oci.image.layer.v1.tar+gzip')
[[ $nz -eq 2 && $ng -eq 0 ]] || e2e_fail "zstd variant: $nz manifests with tar+zstd layers, $ng with tar+gzip (want 2 and 0)"
ln -s "$ZL" "$LINKS/zstd"
e2e_on_exit "podman rmi -f localhost$LINKS/zstd:latest >/dev/null 2>&1"
run_and_check "oci:$LINKS/zstd:1.0.0" "$(dpkg --print-architecture)" "lucia-e2e-oci-$$-zstd"

e2e_log "PASS: OCI image $INDEX_DIGEST"
