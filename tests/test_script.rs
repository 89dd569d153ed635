//! scripts/test.sh's closing line ("tests: N passed, N failed, N skipped") and exit status, run
//! through scripts/lib/summarize-tests.sh with fake test commands that print cargo's
//! "test result:" lines. Under `set -euo pipefail` a failing `cargo test | tee` pipeline used to
//! end the script before its status was read, so a failed run printed no closing line.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lib() -> PathBuf {
    repo().join("scripts/lib/summarize-tests.sh")
}

/// An executable script in `dir` that prints `body`'s lines (one on stderr too, as cargo
/// does) and exits with `code`.
fn fake(dir: &Path, name: &str, body: &str, code: i32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\necho '   Running unittests' >&2\ncat <<'OUT'\n{body}OUT\nexit {code}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

const FAILING: &str = "\
running 3 tests
test a ... ok
test b ... FAILED
test c ... FAILED
test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s
test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.20s
";

const PASSING: &str = "\
test result: ok. 5 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s
test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";

fn run(log: &Path, cmd: &Path) -> Output {
    Command::new("bash")
        .arg(lib())
        .arg(log)
        .arg(cmd)
        .output()
        .unwrap()
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_failing_run_prints_the_closing_line_and_keeps_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("test-output.log");
    let out = run(&log, &fake(dir.path(), "cargo-test", FAILING, 101));
    assert_eq!(out.status.code(), Some(101), "{out:?}");
    assert_eq!(last_line(&out), "tests: 4 passed, 2 failed, 1 skipped");
    // The output was shown and logged, stderr included.
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("test b ... FAILED") && shown.contains("Running unittests"));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("test result: FAILED. 1 passed") && logged.contains("Running unittests")
    );
}

#[test]
fn a_passing_run_prints_the_closing_line_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("test-output.log");
    std::fs::write(
        &log,
        "test result: ok. 99 passed; 9 failed; 9 ignored; stale\n",
    )
    .unwrap();
    let out = run(&log, &fake(dir.path(), "cargo-test", PASSING, 0));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The log of an earlier run is not counted.
    assert_eq!(last_line(&out), "tests: 5 passed, 0 failed, 2 skipped");
}

/// test.sh's own sequence: sourced under `set -euo pipefail`, two runs appended to one log (the
/// second only when the first passed), the closing line after a final message, then the status.
#[test]
fn sourced_as_test_sh_does() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("test-output.log");
    let pass = fake(dir.path(), "pass", PASSING, 0);
    let fail = fake(dir.path(), "fail", FAILING, 101);
    let sequence = |first: &Path, second: &Path| {
        let script = format!(
            "set -euo pipefail\nsource '{lib}'\n: > '{log}'\nstatus=0\n\
             run_logged '{log}' '{first}' || status=$?\n\
             if [[ \"$status\" == 0 ]]; then\n    run_logged '{log}' '{second}' || status=$?\nfi\n\
             echo \"finished with status $status\"\nprint_summary '{log}'\nexit \"$status\"\n",
            lib = lib().display(),
            log = log.display(),
            first = first.display(),
            second = second.display(),
        );
        Command::new("bash").arg("-c").arg(script).output().unwrap()
    };
    let out = sequence(&pass, &fail);
    assert_eq!(out.status.code(), Some(101), "{out:?}");
    assert_eq!(last_line(&out), "tests: 9 passed, 2 failed, 3 skipped");
    assert!(String::from_utf8_lossy(&out.stdout).contains("finished with status 101"));
    let out = sequence(&fail, &pass);
    assert_eq!(out.status.code(), Some(101), "{out:?}");
    assert_eq!(last_line(&out), "tests: 4 passed, 2 failed, 1 skipped");
    let out = sequence(&pass, &pass);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(last_line(&out), "tests: 10 passed, 0 failed, 4 skipped");
}

/// test.sh runs both of its cargo test commands through run_logged and ends with print_summary,
/// the code the tests above check, and reads no PIPESTATUS of its own.
#[test]
fn test_sh_uses_the_checked_helpers() {
    let text = std::fs::read_to_string(repo().join("scripts/test.sh")).unwrap();
    assert!(text.contains("\nsource scripts/lib/summarize-tests.sh\n"));
    let runs: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("cargo test") && !l.trim_start().starts_with('#') && !l.contains("echo")
        })
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for l in runs {
        assert!(
            l.trim_start()
                .starts_with("run_logged target/test-output.log cargo test ")
                && l.ends_with(" || status=$?"),
            "{l}"
        );
    }
    assert!(!text.contains("PIPESTATUS") && !text.contains("| tee"));
    assert!(text.contains("\nprint_summary target/test-output.log\nexit \"$status\"\n"));
}
