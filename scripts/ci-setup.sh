#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root) for the lucia-pkg test suite. Idempotent.
#
#   - installs every package in scripts/ci-packages.txt (no recommends, non-interactive)
#   - enables arm64 emulation (binfmt_misc + qemu-aarch64) and checks that it works
#   - configures podman (runc, explicit ulimits) and nix (no build-users group)
#   - moves cgroup2-only controllers to v1 only if podman's runtime needs it
#   - tries to add the aarch64 rust target (optional: the Debian cross gcc is the linker)
#   - pre-builds the cached Debian bookworm chroot tarballs used by tests/e2e
#
# Environment: WITH_ARM64=1 (default) also builds the arm64 chroot (the slow, emulated one),
# WITH_ARM64=background starts that build and returns (tests wait for it), 0 skips it;
# LUCIA_E2E_CACHE (default /var/cache/lucia-pkg-e2e) is where the chroots are cached.
# Prints the duration of each step and a summary at the end.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
WITH_ARM64=${WITH_ARM64:-1}
export DEBIAN_FRONTEND=noninteractive

if [[ "$(id -u)" != 0 ]]; then
    echo "ci-setup.sh: must run as root (it installs packages and mounts binfmt_misc)" >&2
    exit 1
fi

SUMMARY=()
TOTAL_START=$(date +%s.%N)

# step NAME CMD...: run one step, print and record its duration; a failing step stops the
# script with its name in the message.
step() {
    local name="$1" start end rc=0
    shift
    echo "==> $name"
    start=$(date +%s.%N)
    "$@" || rc=$?
    end=$(date +%s.%N)
    local took
    took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    SUMMARY+=("$(printf '%-44s %7ss  %s' "$name" "$took" "$([[ $rc -eq 0 ]] && echo ok || echo "FAILED ($rc)")")")
    echo "<== $name: ${took}s$([[ $rc -eq 0 ]] || echo ", FAILED with status $rc")"
    if [[ $rc -ne 0 ]]; then
        print_summary
        echo "ci-setup.sh: step '$name' failed" >&2
        exit "$rc"
    fi
}

print_summary() {
    local total
    total=$(awk -v a="$TOTAL_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo
    echo "ci-setup.sh timings:"
    printf '  %s\n' "${SUMMARY[@]}"
    printf '  %-44s %7ss\n' "total" "$total"
}

# The lock timeout matters on fresh machines where unattended-upgrades may run at boot.
apt_update() {
    apt-get update -q -o DPkg::Lock::Timeout=600
}

apt_install() {
    local pkgs=()
    # One package per line; '#' starts a comment; blank lines are ignored.
    mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$REPO_ROOT/scripts/ci-packages.txt")
    if ((${#pkgs[@]} == 0)); then
        echo "scripts/ci-packages.txt lists no packages" >&2
        return 1
    fi
    echo "installing ${#pkgs[@]} packages: ${pkgs[*]}"
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pkgs[@]}"
}

binfmt_arm64() {
    local dir=/proc/sys/fs/binfmt_misc entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
    # The kernel supports binfmt_misc, but on these VMs nothing mounts it.
    mountpoint -q "$dir" || mount -t binfmt_misc binfmt_misc "$dir"
    # Enabling an already enabled entry only warns.
    update-binfmts --enable qemu-aarch64
    grep -qx enabled "$entry" || {
        echo "qemu-aarch64 binfmt entry is not enabled:" >&2
        cat "$entry" >&2
        return 1
    }
    # The F flag keeps the interpreter usable inside chroots and containers.
    grep -q '^flags:.*F' "$entry" || {
        echo "qemu-aarch64 is registered without the F (fix-binary) flag" >&2
        return 1
    }
    # Prove that an aarch64 ELF really runs: the cross toolchain's dynamic loader prints
    # its version when run directly.
    local ld=/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1
    if [[ -x "$ld" ]]; then
        "$ld" --version | head -n 1
    else
        echo "note: $ld not present; binfmt registration checked but not exercised"
    fi
}

podman_conf() {
    local conf=/etc/containers/containers.conf
    if [[ -e "$conf" ]]; then
        echo "$conf exists; left unchanged"
        return 0
    fi
    # The VM's hard nofile limit and missing CAP_SYS_RESOURCE make podman's default rlimits
    # fail; crun 1.8 rejects the hybrid cgroup layout, runc copes with it.
    mkdir -p /etc/containers
    cat >"$conf.tmp" <<'EOF'
# Written by lucia-pkg scripts/ci-setup.sh for the e2e tests.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
EOF
    mv "$conf.tmp" "$conf"
    echo "wrote $conf"
}

nix_conf() {
    # Debian's nix-bin expects a nixbld group that does not exist; single-user use is enough.
    mkdir -p /etc/nix
    if grep -q '^[[:space:]]*build-users-group' /etc/nix/nix.conf 2>/dev/null; then
        echo "/etc/nix/nix.conf already sets build-users-group"
    else
        echo 'build-users-group =' >>/etc/nix/nix.conf
        echo "added 'build-users-group =' to /etc/nix/nix.conf"
    fi
}

# Only crun needs cgroup2-only controllers (hugetlb here) moved to a v1 hierarchy; runc, our
# configured runtime, and systemd-nspawn work without it. Apply it only when the configured
# runtime is crun, because the v1 hierarchy cannot be removed again until reboot.
cgroup_fix() {
    local controllers=/sys/fs/cgroup/unified/cgroup.controllers list
    # cgroupfs files report size 0, so read them instead of testing with -s.
    list=$(cat "$controllers" 2>/dev/null || true)
    if [[ -z "$list" ]]; then
        echo "no hybrid cgroup2 controllers; nothing to do"
        return 0
    fi
    if ! grep -Eq '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"crun"' /etc/containers/containers.conf 2>/dev/null; then
        echo "podman runtime is not crun; hybrid cgroup2 controllers left alone: $list"
        return 0
    fi
    local c
    for c in $list; do
        mkdir -p "/sys/fs/cgroup/$c"
        mountpoint -q "/sys/fs/cgroup/$c" || mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
        echo "mounted cgroup v1 controller $c"
    done
}

rust_arm64_target() {
    if ! command -v rustup >/dev/null 2>&1; then
        echo "note: rustup not found; the aarch64 rust target is not installed (optional)"
        return 0
    fi
    # Optional: only the package registries are guaranteed reachable from CI.
    if ! timeout 120 rustup target add aarch64-unknown-linux-gnu; then
        echo "note: 'rustup target add aarch64-unknown-linux-gnu' failed; continuing without it"
    fi
    return 0
}

# tests/sbom.rs validates the SBOMs with spdx-tools (pyspdxtools) and cyclonedx-python-lib's strict
# CycloneDX 1.6 JSON schema validator. Debian 12 packages neither (and its python3 refuses a
# system-wide pip install), so they come from PyPI into a venv the test finds under the cache.
# tests/provenance.rs verifies the attest DSSE envelope with securesystemslib (Ed25519 through cryptography).
SBOM_PY_TOOLS=(spdx-tools==0.8.5 "cyclonedx-python-lib[json-validation]==11.12.0" "securesystemslib[crypto]==1.6.0" cryptography==50.0.2)
sbom_tools() {
    local venv="${LUCIA_E2E_CACHE:-/var/cache/lucia-pkg-e2e}/sbom-tools/venv" want
    want=$(printf '%s\n' "${SBOM_PY_TOOLS[@]}")
    if [[ -x "$venv/bin/python" && -f "$venv/.lucia-pins" && "$(cat "$venv/.lucia-pins")" == "$want" ]]; then
        echo "$venv is up to date"
        return 0
    fi
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${SBOM_PY_TOOLS[@]}"
    "$venv/bin/python" -c "import spdx_tools.spdx.clitools.pyspdxtools, cyclonedx.validation.json"
    printf '%s\n' "$want" >"$venv/.lucia-pins"
    echo "installed ${SBOM_PY_TOOLS[*]} into $venv"
}

chroot_tarball_step() {
    local arch="$1"
    # Run the library in a child shell: it installs its own EXIT trap and temp root.
    bash -c '. "$1/tests/e2e/lib/chroot.sh"; t=$(chroot_tarball "$2"); ls -l "$t"' _ "$REPO_ROOT" "$arch"
}

# The arm64 build is minutes of emulated CPU work; started in the background it overlaps with
# the cargo build. Tests that need it block on the same flock and reuse the result; if the
# background build fails, the first test needing it rebuilds it (and reports the error).
chroot_tarball_background() {
    local arch="$1" cache="${LUCIA_E2E_CACHE:-/var/cache/lucia-pkg-e2e}"
    mkdir -p "$cache"
    # shellcheck disable=SC2016 # expanded by the child shell
    setsid nohup bash -c '. "$1/tests/e2e/lib/chroot.sh"; chroot_tarball "$2"' _ "$REPO_ROOT" "$arch" \
        </dev/null >"$cache/build-$arch.log" 2>&1 &
    echo "building the $arch chroot in the background (pid $!, log $cache/build-$arch.log)"
}

step "apt-get update" apt_update
step "apt-get install (scripts/ci-packages.txt)" apt_install
step "binfmt_misc + qemu-aarch64" binfmt_arm64
step "podman containers.conf" podman_conf
step "nix.conf" nix_conf
step "cgroup controllers for crun (if needed)" cgroup_fix
step "rustup target aarch64 (optional)" rust_arm64_target
step "SBOM validators (spdx-tools, cyclonedx-python-lib from PyPI)" sbom_tools
# Required: make a skipped prerequisite fail loudly here instead of silently skipping tests.
export LUCIA_E2E_REQUIRED=1
step "chroot tarball bookworm amd64" chroot_tarball_step amd64
if [[ "$WITH_ARM64" == 1 ]]; then
    step "chroot tarball bookworm arm64 (emulated)" chroot_tarball_step arm64
elif [[ "$WITH_ARM64" == background ]]; then
    step "chroot tarball bookworm arm64 (started in background)" chroot_tarball_background arm64
else
    echo "WITH_ARM64=$WITH_ARM64: arm64 chroot not pre-built (tests build it on first use)"
fi
print_summary
