//! End-to-end tests: each test runs one bash script from `tests/e2e/` against the real
//! `lucia-pkg` binary and the real system tools (apt, rpm, systemd-nspawn, skopeo, podman, a
//! local registry...).
//!
//! Protocol of a script: exit 0 = pass, 77 = skipped (a prerequisite such as root or a tool is
//! missing; the script prints a `SKIP: reason` line), anything else = failure. With
//! `LUCIA_E2E_REQUIRED=1` (CI) the scripts turn a missing prerequisite into a failure.
//!
//! The scripts mount filesystems, boot containers and use a lot of CPU, so they run one at a
//! time. Their combined stdout/stderr is streamed line by line to the test's stdout (visible
//! with `cargo test --test e2e -- --nocapture`) and repeated in the panic message on failure.
//! Each script gets `LUCIA_E2E_TIMEOUT` seconds (default 1200) before it is terminated.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// Serialises the scripts: they share mounts, the chroot cache and both CPU cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Exit status meaning "skipped" (the automake convention).
const SKIPPED: i32 = 77;

/// How long to keep reading after the script exited, in case a stray background process
/// still holds the output pipe open.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

fn run_script(name: &str) {
    // A failed (panicked) earlier test poisons the mutex; the next script can still run.
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = format!("tests/e2e/{name}.sh");
    let script = root.join(&rel);
    assert!(
        script.is_file(),
        "e2e script {rel} does not exist (yet): add it, or run only the e2e tests whose scripts exist"
    );
    let timeout_secs: u64 = match std::env::var("LUCIA_E2E_TIMEOUT") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("LUCIA_E2E_TIMEOUT must be a number of seconds, got {v:?}")),
        Err(_) => 1200,
    };
    let timeout = timeout_secs.to_string();

    let (reader, writer) = std::io::pipe().expect("create a pipe for the script output");
    let writer_err = writer.try_clone().expect("clone the pipe for stderr");
    let mut command = Command::new("timeout");
    // SIGTERM first: the scripts' TERM trap runs their cleanups (unmounts, registry stop).
    command
        .args(["-k", "30", &timeout, "bash"])
        .arg(&rel)
        .current_dir(root)
        .env("LUCIA_PKG", env!("CARGO_BIN_EXE_lucia-pkg"))
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer_err);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `timeout ... bash {rel}`: {e}"));
    // Drop our copies of the pipe's write end, or the reader would never see EOF.
    drop(command);

    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches('\n')
                        .to_owned();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });

    let mut output = String::new();
    let mut record = |line: String| {
        println!("[{name}] {line}");
        output.push_str(&line);
        output.push('\n');
    };
    let status = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => record(line),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
        }
        if let Some(status) = child.try_wait().expect("wait for the e2e script") {
            break status;
        }
    };
    let drain_deadline = Instant::now() + DRAIN_GRACE;
    loop {
        let left = drain_deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => record(line),
            Err(_) => break,
        }
    }
    let took = started.elapsed().as_secs_f64();

    match status.code() {
        Some(0) => println!("{name}: PASS in {took:.1} s"),
        Some(SKIPPED) => {
            let reason = output
                .lines()
                .rev()
                .find(|l| l.starts_with("SKIP:"))
                .unwrap_or("SKIP: (the script printed no reason)");
            println!("{name}: {reason}");
        }
        // timeout(1) reports 124; a script may also return 124 itself (a boot timeout).
        Some(124) if took + 1.0 >= timeout_secs as f64 => panic!(
            "e2e script {rel} timed out after {timeout} s (LUCIA_E2E_TIMEOUT)\n--- output ---\n{output}"
        ),
        _ => panic!("e2e script {rel} failed with {status} after {took:.1} s\n--- output ---\n{output}"),
    }
}

#[test]
fn e2e_selftest() {
    run_script("selftest");
}

#[test]
fn e2e_tarball() {
    run_script("tarball");
}

#[test]
fn e2e_deb() {
    run_script("deb");
}

#[test]
fn e2e_deb_arm64() {
    run_script("deb-arm64");
}

#[test]
fn e2e_rpm() {
    run_script("rpm");
}

#[test]
fn e2e_oci() {
    run_script("oci");
}

#[test]
fn e2e_oci_push() {
    run_script("oci-push");
}

#[test]
fn e2e_deploy() {
    run_script("deploy");
}

#[test]
fn e2e_units() {
    run_script("units");
}

#[test]
fn e2e_quickstart() {
    run_script("quickstart");
}

#[test]
fn e2e_apt_repo() {
    run_script("apt-repo");
}
