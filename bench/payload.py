"""Deterministic AgentHost-like payloads for the benchmark.

A self-contained `dotnet publish -r linux-<arch>` output is a few hundred managed assemblies
(compressible IL + metadata strings), a dozen native libraries (partly compressible), ONNX
models (incompressible weights), many small json/js/css/resource files and some deep paths.
This module writes a directory with that shape, byte for byte the same on every run for the
same (arch, size): every byte comes from SHAKE-256 or a SplitMix64 stream seeded by the file's
name, never from the clock or Python's `random` (whose algorithms may change between versions).

The only ELF file is the entrypoint, copied from the demo AgentHost of the right arch, so the
payload passes lucia-pkg's "ELF binaries match the arch" check; native-library stand-ins start
with a non-ELF magic on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

MASK = (1 << 64) - 1
GENERATOR_VERSION = "4"  # bump when the bytes change, so cached payloads are regenerated


class SplitMix64:
    """Tiny fully specified PRNG (Steele et al.); enough for layout decisions."""

    def __init__(self, seed: bytes):
        self.s = int.from_bytes(hashlib.sha256(seed).digest()[:8], "little")

    def next(self) -> int:
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.next() % n if n > 0 else 0

    def between(self, lo: int, hi: int) -> int:
        return lo + self.below(hi - lo + 1)

    def unit(self) -> float:
        return (self.next() >> 11) / float(1 << 53)


def random_bytes(seed: str, n: int) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(n) if n > 0 else b""


def write_random(f, seed: str, n: int) -> None:
    chunk = 4 << 20
    i = 0
    while n > 0:
        k = min(chunk, n)
        f.write(random_bytes(f"{seed}/{i}", k))
        n -= k
        i += 1


_SYLLABLES = [
    "Sys", "tem", "Col", "lec", "tions", "Gen", "eric", "Run", "time", "Com", "piler", "Ser",
    "vices", "Asp", "Net", "Core", "Http", "Json", "Text", "Linq", "Ex", "pres", "sion", "Threa",
    "ding", "Tasks", "Lucia", "Agent", "Host", "Onnx", "Whis", "per", "Wyo", "ming", "Home",
    "Assis", "tant", "Get", "Set", "Async", "Value", "Buf", "fer", "Span", "Mem", "ory", "Ref",
    "lection", "Emit", "Di", "ag", "nos", "tics", "Log", "ging", "Op", "tions", "Con", "fig",
]
_IL_OPS = bytes(range(0x00, 0x28)) + bytes([0x6F, 0x72, 0x73, 0x7B, 0x7D, 0x8D, 0xFE])


def _dictionary(seed: str, size: int = 32 << 10) -> bytes:
    """Shared material that copies are taken from: identifier-like strings and IL-like bytes,
    the two things managed assemblies repeat the most."""
    r = SplitMix64(f"dict/{seed}".encode())
    out = bytearray()
    while len(out) < size:
        if r.below(2) == 0:
            word = "".join(_SYLLABLES[r.below(len(_SYLLABLES))] for _ in range(r.between(2, 5)))
            out += word.encode() + b"\x00" * r.between(0, 1)
            if r.below(3) == 0:
                out += b"." + _SYLLABLES[r.below(len(_SYLLABLES))].encode()
        else:
            for _ in range(r.between(4, 24)):
                out.append(_IL_OPS[r.below(len(_IL_OPS))])
                if r.below(3) == 0:
                    out += (r.below(1 << 16)).to_bytes(2, "little")
    return bytes(out[:size])


def write_compressible(f, seed: str, n: int, dictionary: bytes, literal_fraction: float) -> None:
    """Copies from `dictionary` interleaved with random literals: about `literal_fraction` of the
    bytes are incompressible, so the compressed size is tunable and realistic."""
    r = SplitMix64(f"comp/{seed}".encode())
    lit = random_bytes(f"lit/{seed}", max(1, int(n * literal_fraction) + 4096))
    lp = 0
    buf = bytearray()
    written = 0
    dl = len(dictionary)
    while written + len(buf) < n:
        if r.unit() < literal_fraction:
            k = r.between(8, 96)
            piece = lit[lp:lp + k]
            lp += k
            if len(piece) < k:
                lp = 0
                piece = lit[:k]
            buf += piece
        else:
            k = r.between(12, 192)
            o = r.below(dl - k)
            buf += dictionary[o:o + k]
        if len(buf) >= 1 << 20:
            take = min(len(buf), n - written)
            f.write(buf[:take])
            written += take
            buf = bytearray()
    f.write(buf[: n - written])


@dataclass
class Spec:
    rel: str
    size: int
    kind: str  # managed | native | model | text | satellite
    mode: int = 0o644


def parse_size(s: str) -> int:
    s = s.strip().upper().removesuffix("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def layout(arch: str, total: int, entrypoint_size: int = 0) -> list[Spec]:
    """The file list: ~500 files whose sizes add up to `total` bytes (plus the entrypoint)."""
    rid = {"amd64": "linux-x64", "arm64": "linux-arm64"}[arch]
    r = SplitMix64(f"layout/{arch}".encode())
    specs: list[Spec] = []

    # Small files first (fixed sizes; ~2 % of the default payload).
    for i in range(150):
        depth = ["wwwroot/assets", "wwwroot/_content/Lucia.Dashboard/assets/icons",
                 "wwwroot/_content/Microsoft.AspNetCore.Components.Web/lib/dist/deep/nested/path"][i % 3]
        ext = ["js", "css", "svg", "json", "map"][r.below(5)]
        specs.append(Spec(f"{depth}/chunk-{i:03d}.{ext}", r.between(400, 12000), "text"))
    for loc in ["cs", "de", "es", "fr", "it", "ja", "ko", "pl", "pt-BR", "ru", "tr", "zh-Hans", "zh-Hant"]:
        for name in ["Microsoft.CodeAnalysis", "Microsoft.CodeAnalysis.CSharp", "System.CommandLine", "Lucia.Agents"]:
            specs.append(Spec(f"{loc}/{name}.resources.dll", r.between(8000, 60000), "satellite"))
    for name in ["lucia.AgentHost.deps.json", "lucia.AgentHost.runtimeconfig.json", "appsettings.Development.json",
                 "web.config", "lucia.AgentHost.staticwebassets.endpoints.json"]:
        specs.append(Spec(name, r.between(300, 90000), "text"))
    small = sum(s.size for s in specs)

    rest = total - small - 2400 - entrypoint_size - 80
    # Byte shares of the rest: managed 45 %, native 22 %, models 33 %.
    managed_total, native_total = int(rest * 0.45), int(rest * 0.22)
    model_total = rest - managed_total - native_total

    managed_names = [f"System.{a}{b}.dll" for a in ["Private.", "Runtime.", "Net.", "Text.", "Collections.", "IO.", "Security.", "Linq.", "Threading.", "Diagnostics.", "Reflection.", "Resources."]
                     for b in ["Core", "Http", "Json", "Xml", "Primitives", "Sockets", "Extensions", "Concurrent", "Compression", "Pipes", "Cryptography", "Tasks", "Tracing", "Expressions", "Parallel", "Encoding", "Channels", "Quic", "Metadata", "Uri"]]
    managed_names += [f"Microsoft.{a}.dll" for a in ["AspNetCore", "AspNetCore.Server.Kestrel.Core", "AspNetCore.Components", "Extensions.AI", "Extensions.Logging",
                                                     "Extensions.DependencyInjection", "Extensions.Configuration", "EntityFrameworkCore", "EntityFrameworkCore.Sqlite",
                                                     "SemanticKernel", "SemanticKernel.Core", "ML.OnnxRuntime", "CSharp", "Data.Sqlite", "Identity.Client",
                                                     "Extensions.Http", "Extensions.Hosting", "Extensions.Options", "Extensions.Primitives", "Extensions.Caching.Memory",
                                                     "Extensions.FileProviders.Physical", "Extensions.ObjectPool", "Extensions.ServiceDiscovery", "OpenApi", "IdentityModel.Tokens",
                                                     "IdentityModel.JsonWebTokens", "Bcl.AsyncInterfaces", "Win32.Primitives", "VisualBasic.Core", "JSInterop"]]
    managed_names += ["lucia.AgentHost.dll", "Lucia.Agents.dll", "Lucia.HomeAssistant.dll", "Lucia.Wyoming.dll", "Lucia.Dashboard.dll"]
    weights = [r.unit() ** 3 + 0.02 for _ in managed_names]  # a few big assemblies, many small ones
    ws = sum(weights)
    for name, w in zip(managed_names, weights):
        specs.append(Spec(name, max(4096, int(managed_total * w / ws)), "managed"))

    natives = ["libcoreclr.so", "libclrjit.so", "libSystem.Native.so", "libSystem.Security.Cryptography.Native.OpenSsl.so",
               "libSystem.IO.Compression.Native.so", "libhostfxr.so", "libhostpolicy.so", "libmscordaccore.so",
               f"runtimes/{rid}/native/libonnxruntime.so", f"runtimes/{rid}/native/libonnxruntime_providers_shared.so",
               f"runtimes/{rid}/native/libe_sqlite3.so", f"runtimes/{rid}/native/libSkiaSharp.so"]
    weights = [r.unit() + 0.1 for _ in natives]
    ws = sum(weights)
    for name, w in zip(natives, weights):
        specs.append(Spec(name, max(4096, int(native_total * w / ws)), "native"))

    models = ["models/whisper-base.en/encoder_model.onnx", "models/whisper-base.en/decoder_model_merged.onnx",
              "models/silero-vad/silero_vad.onnx", "models/speaker-embedding/wespeaker_en_voxceleb_resnet34.onnx"]
    shares = [0.45, 0.35, 0.05, 0.15]
    used = 0
    for i, (name, share) in enumerate(zip(models, shares)):
        size = model_total - used if i == len(models) - 1 else int(model_total * share)
        used += size
        specs.append(Spec(name, size, "model"))

    # A few files with a mode of their own: a diagnostics helper script (executable, not ELF).
    specs.append(Spec("createdump", 2400, "text", 0o755))
    return specs


def generate(arch: str, size: str, out: Path, repo: Path) -> dict:
    """Writes the payload for `arch` into `out` unless a matching one is there; returns stats."""
    total = parse_size(size)
    stamp = out / ".bench-payload.json"
    # The entrypoint comes from the demo payload; its hash is part of the stamp.
    demo = repo / "target" / "demo-payload" / arch / "lucia.AgentHost"
    if not demo.is_file():
        raise SystemExit(f"bench: {demo} is missing: run scripts/build-demo-payload.sh first")
    demo_sha = hashlib.sha256(demo.read_bytes()).hexdigest()
    key = {"version": GENERATOR_VERSION, "arch": arch, "total": total, "entrypoint_sha256": demo_sha}
    if stamp.is_file():
        try:
            old = json.loads(stamp.read_text())
            if old.get("key") == key:
                return old["stats"]
        except (ValueError, KeyError):
            pass
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    dictionary = _dictionary(arch)
    specs = layout(arch, total, demo.stat().st_size)
    stats = {"files": 0, "bytes": 0, "by_kind": {}}
    for s in specs:
        p = out / s.rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as f:
            if s.kind == "model":
                f.write(b"\x08\x07\x12\x0connx-weights")  # protobuf-ish head, then weights
                write_random(f, f"{arch}/{s.rel}", s.size - 17)
            elif s.kind == "native":
                f.write(b"NATIVE-LIB-STANDIN\n")  # deliberately not \x7fELF (see module docs)
                write_compressible(f, f"{arch}/{s.rel}", s.size - 19, dictionary, 0.6)
            elif s.kind in ("managed", "satellite"):
                f.write(b"MZ\x90\x00\x03\x00\x00\x00")
                write_compressible(f, f"{arch}/{s.rel}", s.size - 8, dictionary, 0.35)
            else:
                if s.mode & 0o111:
                    f.write(b"#!/bin/sh\n# stand-in for createdump\n")
                    write_compressible(f, f"{arch}/{s.rel}", s.size - 37, dictionary, 0.05)
                else:
                    write_compressible(f, f"{arch}/{s.rel}", s.size, dictionary, 0.08)
        os.chmod(p, s.mode)
        stats["files"] += 1
        stats["bytes"] += s.size
        stats["by_kind"][s.kind] = stats["by_kind"].get(s.kind, 0) + s.size
    shutil.copyfile(demo, out / "lucia.AgentHost")
    os.chmod(out / "lucia.AgentHost", 0o755)
    (out / "appsettings.json").write_text('{\n  "Logging": { "LogLevel": { "Default": "Information" } },\n  "AllowedHosts": "*"\n}\n')
    for extra in ("lucia.AgentHost", "appsettings.json"):
        stats["files"] += 1
        stats["bytes"] += (out / extra).stat().st_size
    # A symlink, as publish outputs sometimes carry one (relative, inside the payload).
    (out / "runtimes" / "current").symlink_to(rid_dir := {"amd64": "linux-x64", "arm64": "linux-arm64"}[arch])
    del rid_dir
    stamp.write_text(json.dumps({"key": key, "stats": stats}, indent=1))
    return stats
