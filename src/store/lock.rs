//! Advisory file locks (flock(2)) between builders sharing one store, in other processes or
//! in other threads (each lock opens its own file description, so threads exclude each other
//! too). The kernel drops a lock when its holder dies, so a killed build never wedges the store.
//!
//! `libc::flock` rather than `std::fs::File::lock`: the workspace's rust-version is 1.88 and
//! the std API is stable only since 1.89.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A held lock; released on drop (closing the file).
#[derive(Debug)]
pub struct Lock {
    file: File,
}

#[derive(Clone, Copy)]
pub enum Mode {
    Shared,
    Exclusive,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

fn flock(file: &File, op: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: flock only reads the descriptor number, which `file` keeps open.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) if op & libc::LOCK_NB != 0 => return Ok(false),
            _ => return Err(err),
        }
    }
}

fn op(mode: Mode) -> libc::c_int {
    match mode {
        Mode::Shared => libc::LOCK_SH,
        Mode::Exclusive => libc::LOCK_EX,
    }
}

impl Lock {
    /// Waits until the lock is granted.
    pub fn acquire(path: &Path, mode: Mode) -> io::Result<Lock> {
        let file = open(path)?;
        flock(&file, op(mode))?;
        Ok(Lock { file })
    }

    /// Returns `None` instead of waiting when someone else holds a conflicting lock.
    pub fn try_acquire(path: &Path, mode: Mode) -> io::Result<Option<Lock>> {
        let file = open(path)?;
        Ok(flock(&file, op(mode) | libc::LOCK_NB)?.then_some(Lock { file }))
    }

    /// Converts a held lock in place (waits). Not atomic: flock drops the old lock first.
    pub fn convert(&self, mode: Mode) -> io::Result<()> {
        flock(&self.file, op(mode)).map(|_| ())
    }
}
