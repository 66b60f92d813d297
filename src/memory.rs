//! What the allocator keeps.
//!
//! The agent lives on a database host for months, mostly idle, and must give
//! back what a burst took. A `list_users` of a thousand accounts builds a few
//! hundred KiB of JSON several times over (rows, answer, envelope, frames),
//! and glibc's defaults keep such memory:
//!
//! - its mmap threshold rises to the largest block ever freed, so after the
//!   first big answer every later one is carved from the heap, and freed
//!   memory in the middle of the heap is not returned;
//! - every thread that allocates under contention may get an arena of its
//!   own (lapin's I/O thread is a second allocating thread), each keeping
//!   its own free memory.
//!
//! [`tune`] fixes the threshold and keeps one arena. A [`Reclaimer`] hands
//! the heap's free pages back to the kernel once the agent has been quiet
//! for a moment after a large answer: not after each one, because under a
//! stream of listings the next one would only fault the same pages in again
//! (measured: about a millisecond of a 1,000-user listing). The tuning is a
//! no-op off glibc.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Blocks at least this large are mapped on their own and unmapped on free:
/// the answer of a listing of many thousand accounts, not everyday buffers.
const MMAP_THRESHOLD: i32 = 1024 * 1024;
/// Free memory at the top of the heap beyond this is returned at once; less
/// waits for the [`Reclaimer`].
const TRIM_THRESHOLD: i32 = 4 * 1024 * 1024;
/// How long the agent must be without large answers before it trims.
const QUIET: Duration = Duration::from_secs(2);

/// Sets the allocator up for a small, long-lived daemon. Call first thing in
/// `main`, before any other thread starts.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before other
    // threads exist, and any value is safe (a refused one is ignored).
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Returns free heap pages to the kernel once large answers stop.
#[derive(Debug, Default)]
pub struct Reclaimer {
    large_answers: AtomicU64,
    wake: Notify,
}

impl Reclaimer {
    /// Notes that a large answer was just built.
    pub fn large_answer(&self) {
        self.large_answers.fetch_add(1, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Trims after each burst of large answers, once [`QUIET`] has passed
    /// without one; sleeps (no timer) while there are none.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut trimmed_at = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
            }
            // A wake stored while the last burst was being waited out.
            if self.large_answers.load(Ordering::Relaxed) == trimmed_at {
                continue;
            }
            loop {
                let seen = self.large_answers.load(Ordering::Relaxed);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(QUIET) => {}
                }
                if self.large_answers.load(Ordering::Relaxed) == seen {
                    trimmed_at = seen;
                    break;
                }
            }
            release();
        }
    }
}

/// Returns free heap pages to the kernel. Costs a walk of the heap (tens of
/// microseconds for the agent's).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; safe from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
