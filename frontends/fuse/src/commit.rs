//! The commit timer (`-o commit=SECONDS`): a thread that makes the mount's changes durable at
//! least every interval without anyone calling fsync, as ext4's `commit=` does.
//!
//! The core has no clock; this thread is the clock. Every interval it asks the engine, under
//! the read lock, whether an operation was applied since the last sync or checkpoint
//! ([`Engine::has_unsynced`](vexfs_core::Engine::has_unsynced)), and only then takes the write
//! lock and calls [`Engine::sync`](vexfs_core::Engine::sync): an idle mount does no I/O, and a
//! busy one pays one sync per interval. A change therefore becomes durable at most one interval
//! (plus the sync itself) after it was applied.
//!
//! Linux does not forward `sync(1)`/`syncfs(2)` to FUSE servers (only to virtiofs), so this timer,
//! fsync and unmount are what make data durable.
//!
//! Invariant: the thread holds a reference to the shared state until [`Committer::stop`] has
//! joined it; the mount stops it after the session ended and before closing the image.

use crate::state::Shared;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running commit timer.
#[derive(Debug)]
pub(crate) struct Committer {
    /// Dropping it (or sending) ends the thread's wait at once.
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Committer {
    /// Starts the timer, or nothing when `seconds` is 0 (commit only on fsync and unmount) or
    /// the mount is read-only.
    pub(crate) fn start(shared: &Arc<Shared>, seconds: u32) -> io::Result<Option<Committer>> {
        if seconds == 0 || shared.read_only {
            return Ok(None);
        }
        let interval = Duration::from_secs(u64::from(seconds));
        let (stop, ticks) = mpsc::channel::<()>();
        let shared = Arc::clone(shared);
        let thread = std::thread::Builder::new()
            .name("vexfs-commit".into())
            .spawn(move || {
                let mut reported = false;
                while let Err(RecvTimeoutError::Timeout) = ticks.recv_timeout(interval) {
                    if let Err(e) = commit(&shared)
                        && !reported
                    {
                        // The engine refuses changes from now on (sticky failure); the next
                        // fsync reports EIO to its caller. Say it once.
                        eprintln!("vexfs: commit failed: {e}");
                        reported = true;
                    }
                }
            })?;
        Ok(Some(Committer { stop, thread }))
    }

    /// Stops the timer and waits for it (at most one sync in progress).
    pub(crate) fn stop(self) {
        let Committer { stop, thread } = self;
        let _ = stop.send(());
        drop(stop);
        let _ = thread.join();
    }
}

/// One tick: sync if anything changed since the last sync.
fn commit(shared: &Shared) -> Result<(), vexfs_core::Error> {
    let Ok(pending) = shared.read().map(|e| e.has_unsynced()) else {
        // Poisoned: a handler panicked mid-change; nothing trustworthy to make durable.
        return Ok(());
    };
    if !pending {
        return Ok(());
    }
    let Ok(mut engine) = shared.write() else {
        return Ok(());
    };
    // Another thread may have synced between the two locks.
    if engine.has_unsynced() {
        engine.sync()?;
    }
    Ok(())
}
