//! What the worker threads share: the engine behind its `RwLock`, the kernel's references to
//! inodes, the open virtual files and the metrics.
//!
//! **Locking.** Reads (lookup, getattr, readdir, read, xattr reads, statfs, lseek, search) take
//! the engine's read lock and run in parallel; mutations take the write lock. Lock order is
//! engine lock → `refs` mutex, and a search handle's mutex → engine read lock; nothing takes an
//! engine lock while holding `refs`.
//!
//! **Kernel references and pins.** The kernel counts, per node id, how many times a reply gave
//! it the node (lookup, create, mkdir, mknod, symlink, link, readdirplus entries other than `.`
//! and `..`), and gives them back with `forget`. `refs` holds exactly that count. The engine
//! must keep an inode whose last name goes away while the kernel still references it (an
//! unlinked but open file), which is what [`Engine::pin`] is for; but `pin` needs the write
//! lock, and lookups must not. So pins are taken lazily, and only where they matter:
//! - a reply that gives a reference increments `refs` *while still holding an engine lock*
//!   (read or write), so no unlink can slip between finding the inode and counting it;
//! - every operation that can remove a name (unlink, rmdir, rename over a target) first pins
//!   the inode losing it, under the write lock, if `refs` says the kernel holds it
//!   ([`Shared::pin_victim`]);
//! - when `refs` drops to zero, the engine pin (if any) is dropped under the write lock after
//!   re-checking, under that lock, that no new reference arrived meanwhile
//!   ([`Shared::forget`]). Dropping the pin frees the inode if it has no name left.
//!
//! Invariant, whenever the write lock is held: an inode without names that the kernel still
//! references is pinned, and the engine holds at most one pin per inode.

use crate::metrics::Metrics;
use crate::virt::Handles;
use fuser::Errno;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;
use vexfs_core::{Ctx, Engine, Ino};

/// State shared by every worker thread of one mount.
#[derive(Debug)]
pub(crate) struct Shared {
    engine: RwLock<Engine>,
    refs: Mutex<HashMap<Ino, u64>>,
    /// Open files of `/.vexfs`.
    pub(crate) handles: Handles,
    /// Request counts and latencies.
    pub(crate) metrics: Metrics,
    /// Mounted read-only: the server refuses every change with `EROFS` (the kernel's mount is
    /// read-write, so that `/.vexfs/search` can be opened for writing); no atime updates.
    pub(crate) read_only: bool,
    /// Worker threads.
    pub(crate) threads: usize,
    /// When the mount started (times of the virtual nodes).
    pub(crate) mounted_at: SystemTime,
    /// Largest `WRITE` request received, in bytes.
    pub(crate) max_write_seen: AtomicU64,
    /// Largest `READ` request received, in bytes.
    pub(crate) max_read_seen: AtomicU64,
    /// `READ`s answered straight from the image's map (the rest were copied).
    pub(crate) mapped_reads: AtomicU64,
    /// The kernel's readahead window for the mount, in KiB, once known (0 until then).
    pub(crate) readahead_kib: AtomicU32,
}

impl Shared {
    pub(crate) fn new(engine: Engine, read_only: bool, threads: usize, search_memory_bytes: usize) -> Self {
        Shared {
            engine: RwLock::new(engine),
            refs: Mutex::new(HashMap::new()),
            handles: Handles::new(search_memory_bytes),
            metrics: Metrics::new(),
            read_only,
            threads,
            mounted_at: SystemTime::now(),
            max_write_seen: AtomicU64::new(0),
            max_read_seen: AtomicU64::new(0),
            mapped_reads: AtomicU64::new(0),
            readahead_kib: AtomicU32::new(0),
        }
    }

    /// The engine for reading. A poisoned lock (a handler panicked mid-mutation) makes every
    /// later call fail with `EIO` rather than touch a possibly half-changed engine.
    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, Engine>, Errno> {
        self.engine.read().map_err(|_| Errno::EIO)
    }

    /// The engine for changing.
    pub(crate) fn write(&self) -> Result<RwLockWriteGuard<'_, Engine>, Errno> {
        self.engine.write().map_err(|_| Errno::EIO)
    }

    fn refs(&self) -> MutexGuard<'_, HashMap<Ino, u64>> {
        // Counter updates are single map operations: nothing to leave half-done.
        self.refs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one kernel reference to `ino`. Call while holding an engine lock, right after
    /// finding the inode, before replying.
    pub(crate) fn add_ref(&self, ino: Ino) {
        *self.refs().entry(ino).or_insert(0) += 1;
    }

    /// Before an operation that may remove a name of `victim` (under the write lock): pins it
    /// if the kernel references it, so it outlives its last name.
    pub(crate) fn pin_victim(&self, engine: &mut Engine, victim: Ino) {
        let referenced = self.refs().get(&victim).is_some_and(|&n| n > 0);
        if referenced && !engine.is_pinned(victim) {
            engine.pin(victim, 1);
        }
    }

    /// The kernel gives back `n` references to `ino`.
    pub(crate) fn forget(&self, ino: Ino, n: u64, ctx: &Ctx) -> Result<(), Errno> {
        {
            let mut refs = self.refs();
            let Some(count) = refs.get_mut(&ino) else {
                return Ok(());
            };
            *count = count.saturating_sub(n);
            if *count > 0 {
                return Ok(());
            }
            refs.remove(&ino);
        }
        if !self.read()?.is_pinned(ino) {
            return Ok(());
        }
        let mut engine = self.write()?;
        // A lookup may have referenced it again between the two locks.
        if self.refs().contains_key(&ino) || !engine.is_pinned(ino) {
            return Ok(());
        }
        engine.unpin(ino, 1, ctx).map_err(|e| crate::errno::errno(&e))
    }

    /// Kernel references currently held (for stats).
    pub(crate) fn referenced_inodes(&self) -> usize {
        self.refs().len()
    }

    /// Takes the engine out after the session ended, for closing, and whether a handler
    /// panicked while holding its lock (it may be half-changed).
    pub(crate) fn into_engine(self) -> (Engine, bool) {
        match self.engine.into_inner() {
            Ok(e) => (e, false),
            Err(p) => (p.into_inner(), true),
        }
    }

    /// The engine lock itself (closing while another owner still holds the state).
    pub(crate) fn engine_lock(&self) -> &RwLock<Engine> {
        &self.engine
    }
}
