//! Helpers every integration test of the `lucia-pkg` binary shares: where the repository and the
//! demo payload are, the combined output of a run, whether real-tool tests must run, and a fake
//! ELF header. Each test binary includes this module (`mod common;`) and uses what it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lucia-pkg")
}

/// stdout followed by stderr, lossily decoded: what a user sees.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `LUCIA_E2E_REQUIRED=1` (CI): a missing tool or privilege is a failure, not a skip.
pub fn e2e_required() -> bool {
    std::env::var("LUCIA_E2E_REQUIRED").as_deref() == Ok("1")
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `target/demo-payload/{amd64,arm64}`: the demo AgentHost (real ELF files for both arches),
/// built by scripts/build-demo-payload.sh when missing.
pub fn demo_payload() -> PathBuf {
    let p = repo().join("target/demo-payload");
    if !p.join("amd64/lucia.AgentHost").exists() || !p.join("arm64/lucia.AgentHost").exists() {
        let st = Command::new("bash")
            .arg("scripts/build-demo-payload.sh")
            .current_dir(repo())
            .status()
            .expect("run scripts/build-demo-payload.sh");
        assert!(st.success(), "scripts/build-demo-payload.sh failed");
    }
    p
}

/// The demo AgentHost for amd64.
pub fn demo_binary() -> PathBuf {
    demo_payload().join("amd64/lucia.AgentHost")
}

/// A minimal 64-bit little-endian ELF header for `machine` (enough for the arch check; never
/// executed).
pub fn fake_elf(machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little endian
    h[6] = 1;
    h[16] = 2; // ET_EXEC
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h[20] = 1;
    h
}

/// Runs the binary in `dir` as a user would: no SOURCE_DATE_EPOCH from the caller, a store
/// private to `dir`, no standard input.
pub fn lucia(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("LUCIA_PKG_STORE", dir.join(".store"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run lucia-pkg")
}

/// `lucia-pkg --json build -m MANIFEST --out OUT EXTRA…` with its own store and source date, as
/// one CI runner would run it (no `LUCIA_PKG_CACHE` from the caller; registry calls time out
/// after 10 s).
pub fn build_json(manifest: &Path, store: &Path, out: &Path, sde: &str, extra: &[&str]) -> Output {
    Command::new(bin())
        .arg("--json")
        .arg("build")
        .arg("-m")
        .arg(manifest)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("LUCIA_PKG_STORE", store)
        .env("SOURCE_DATE_EPOCH", sde)
        .env_remove("LUCIA_PKG_CACHE")
        .env("LUCIA_PKG_REGISTRY_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .expect("run lucia-pkg build")
}

/// The `--json` report of a build that must have succeeded.
pub fn report(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "build failed: {}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// An out dir's SHA256SUMS.
pub fn sums(out: &Path) -> String {
    std::fs::read_to_string(out.join("SHA256SUMS")).expect("SHA256SUMS")
}

/// A docker-registry process, killed when dropped.
pub struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Debian's docker-registry (no auth, no referrers API) on a free loopback port, storing into
/// `dir/registry-data`: the registry handle and `127.0.0.1:PORT`.
pub fn start_registry(dir: &Path) -> (Registry, String) {
    assert!(
        have("docker-registry"),
        "docker-registry is not installed: run scripts/ci-setup.sh"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::write(
        dir.join("registry.yml"),
        format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {addr}, secret: test}}\n",
            dir.join("registry-data").display()
        ),
    )
    .expect("write registry.yml");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(dir.join("registry.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let reg = Registry(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "docker-registry did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (reg, addr)
}
