//! Runs a build's packaging jobs on a small pool of threads, longest first, within a memory
//! budget. Compression is nearly all of a build's cost, and its memory is the codecs' state
//! (measured for a whole job: xz -6 ≈ 100 MB, single-threaded zstd -19 ≈ 100 MB; the figures
//! live on the codec, `Codec::working_memory_mb` and `Codec::relative_cost` in pkg-core's
//! compress.rs), so running every job at once would multiply it: a job starts only when its
//! estimated memory fits next to the running ones (or when nothing else runs). Output bytes never depend on this: it only decides when a job runs.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

/// Peak memory the scheduler aims to stay under with the default codecs.
pub const MEMORY_BUDGET_MB: u64 = 300;

pub struct Task<T> {
    pub cost: u64,
    pub memory_mb: u64,
    pub item: T,
}

/// Runs `work` over every task on `threads` threads and returns the results in task order.
pub fn run<T: Sync, R: Send>(
    tasks: Vec<Task<T>>,
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let n = tasks.len();
    let mut order: Vec<usize> = (0..n).collect();
    // Longest first; ties keep their given order.
    order.sort_by_key(|&i| std::cmp::Reverse(tasks[i].cost));
    struct State {
        queue: VecDeque<usize>,
        running_mb: u64,
        running: usize,
    }
    let state = Mutex::new(State {
        queue: order.into(),
        running_mb: 0,
        running: 0,
    });
    let wake = Condvar::new();
    let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(n.max(1)) {
            s.spawn(|| loop {
                let picked = {
                    let Ok(mut st) = state.lock() else { return };
                    loop {
                        if st.queue.is_empty() {
                            break None;
                        }
                        // The first queued task that fits the budget (or any task when idle).
                        let fits = st.queue.iter().position(|&i| {
                            st.running == 0
                                || st.running_mb + tasks[i].memory_mb <= MEMORY_BUDGET_MB
                        });
                        match fits.and_then(|p| st.queue.remove(p)) {
                            Some(i) => {
                                st.running += 1;
                                st.running_mb += tasks[i].memory_mb;
                                break Some(i);
                            }
                            None => match wake.wait(st) {
                                Ok(g) => st = g,
                                Err(_) => return,
                            },
                        }
                    }
                };
                let Some(i) = picked else {
                    wake.notify_all();
                    return;
                };
                let r = work(&tasks[i].item);
                if let Ok(mut slot) = results[i].lock() {
                    *slot = Some(r);
                }
                if let Ok(mut st) = state.lock() {
                    st.running -= 1;
                    st.running_mb -= tasks[i].memory_mb;
                }
                wake.notify_all();
            });
        }
    });
    results
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn every_task_runs_once_in_task_order_within_the_budget() {
        let running = AtomicU64::new(0);
        let peak = AtomicU64::new(0);
        let tasks: Vec<Task<u64>> = (0..12)
            .map(|i| Task {
                cost: i % 5,
                memory_mb: if i % 3 == 0 { 200 } else { 100 },
                item: i,
            })
            .collect();
        let out = run(tasks, 4, |&i| {
            let mb = if i % 3 == 0 { 200 } else { 100 };
            let now = running.fetch_add(mb, Ordering::SeqCst) + mb;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            running.fetch_sub(mb, Ordering::SeqCst);
            i * 10
        });
        assert_eq!(out, (0..12).map(|i| i * 10).collect::<Vec<_>>());
        assert!(
            peak.load(Ordering::SeqCst) <= MEMORY_BUDGET_MB,
            "peak {}",
            peak.load(Ordering::SeqCst)
        );
    }

    #[test]
    fn a_task_larger_than_the_budget_still_runs_alone() {
        let tasks = vec![
            Task {
                cost: 1,
                memory_mb: 10_000,
                item: 1,
            },
            Task {
                cost: 1,
                memory_mb: 10,
                item: 2,
            },
        ];
        assert_eq!(run(tasks, 2, |&i| i), vec![1, 2]);
    }
}
