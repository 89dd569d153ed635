//! SIGINT/SIGTERM/SIGHUP: remove this process's half-written outputs, then exit non-zero
//! (128 + signal). Signals are blocked in every thread and received by one dedicated thread with
//! `sigwait`, so cleanup runs as ordinary code rather than inside an async signal handler.
//! Child processes get the default signal mask back (see [`reset_in_child`]).
//!
//! What a SIGKILL leaves behind (it cannot be caught) is removed by the next run: out-dir temp
//! names carry the writer's pid, and store temp dirs are cleaned when their lock is free.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

static TEMPS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a termination signal arrived: the signal thread then owns the exit (128 + signal),
/// and errors that other threads hit because their temp files vanished are not reported.
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialize and fill a plain sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Call first in `main`, before any thread starts (threads inherit the blocked mask).
pub fn install() {
    let set = signal_set();
    // SAFETY: blocking signals for the calling (main) thread; no memory is shared.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return; // keep default behaviour: the next run cleans up by pid
    }
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid, initialized sigset_t; `sig` is a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                return;
            }
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            // Worker threads keep running until exit and may recreate a temp path right after a
            // pass removed it (e.g. a layout dir inside a store temp dir, or a put that passed
            // its interruption check just before the flag was set). So passes repeat, 50 ms
            // apart, until two in a row find nothing (at most 2 s: a thread descheduled longer
            // than that on a loaded machine is left to the next run's stale-temp cleanup).
            let mut quiet = 0;
            for _ in 0..40 {
                if cleanup() == 0 {
                    quiet += 1;
                    if quiet == 2 {
                        break;
                    }
                } else {
                    quiet = 0;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            eprintln!("lucia-pkg: interrupted by signal {sig}; partial outputs removed");
            std::process::exit(128 + sig);
        });
}

/// Remembers a temp path to delete if the process is interrupted.
pub fn register(path: PathBuf) {
    if let Ok(mut t) = TEMPS.lock() {
        t.insert(path);
    }
}

pub fn unregister(path: &std::path::Path) {
    if let Ok(mut t) = TEMPS.lock() {
        t.remove(path);
    }
}

/// Removes every registered temp path; returns how many existed.
fn cleanup() -> usize {
    let mut found = crate::store::remove_in_progress();
    let paths: Vec<PathBuf> = TEMPS
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    for p in paths {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {
                found += 1;
                let _ = std::fs::remove_dir_all(&p);
            }
            Ok(_) => {
                found += 1;
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
    found
}

/// For `Command::pre_exec`: give a child process the default signal mask back.
pub fn reset_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls async-signal-safe functions (sigemptyset, pthread_sigmask)
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
}
