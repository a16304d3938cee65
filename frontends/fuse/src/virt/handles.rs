//! The open files of `/.vexfs`: the file-handle table, what each open file holds, the pool of
//! query work memory, and the memory [`Budget`] every open file is charged to.
//!
//! Every open file is charged to the budget: `SEARCH_HANDLE_BYTES` plus, for `search`, its
//! buffers' capacity (charged before a query buffer grows), for `stats`, its document. Past the
//! budget an open fails with `ENFILE` (and a query with `ENOBUFS`, see `search`). Non-root users
//! may hold at most `1 / SEARCH_MEMORY_USER_SHARE_INV` of it each. Invariant: the budget's total
//! is the sum of the open files' charges, which is their footprint after every call; releasing
//! a file refunds all of it. A query's working memory ([`Work`]) is borrowed from a pool of at
//! most `SEARCH_SCRATCH_POOL_MAX` only while the query runs, so an idle open file holds only
//! its result lines.

use super::search::Search;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use vexfs_core::limits::{SEARCH_HANDLE_BYTES, SEARCH_MEMORY_USER_SHARE_INV, SEARCH_SCRATCH_POOL_MAX};
use vexfs_core::{Hit, Scratch};

/// What an open virtual file holds.
#[derive(Debug)]
pub(crate) enum Handle {
    /// An open `search` file.
    Search(Box<Mutex<Search>>),
    /// An open `stats` file: the document rendered at open, charged to the budget as
    /// `SEARCH_HANDLE_BYTES` plus its capacity, to the user who opened it.
    Stats {
        /// The document.
        doc: Vec<u8>,
        /// Who is charged.
        uid: u32,
    },
}

/// What a stats document is charged.
fn stats_charge(doc: &[u8]) -> usize {
    SEARCH_HANDLE_BYTES + doc.len()
}

/// What a running query works in: the core's scratch (visited tags sized to the largest
/// collection, heaps) and the hit list. Borrowed from the pool only while a query runs.
#[derive(Debug, Default)]
pub(crate) struct Work {
    pub(crate) scratch: Scratch,
    pub(crate) hits: Vec<Hit>,
}

/// The memory budget of open `search` files: every open file is charged
/// [`SEARCH_HANDLE_BYTES`] plus the capacity of its query and result buffers, against a total
/// and, for users other than root, a share of it per user.
#[derive(Debug)]
pub(crate) struct Budget {
    total_max: usize,
    user_max: usize,
    used: Mutex<(usize, HashMap<u32, usize>)>,
}

impl Budget {
    pub(crate) fn new(total_bytes: usize) -> Self {
        Budget {
            total_max: total_bytes,
            user_max: total_bytes / SEARCH_MEMORY_USER_SHARE_INV,
            used: Mutex::new((0, HashMap::new())),
        }
    }

    fn used(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<u32, usize>)> {
        // Counter updates are single steps: nothing a panic could leave half-done.
        self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Charges `bytes` to `uid` if both the total and `uid`'s share (root has none) allow.
    pub(crate) fn charge(&self, uid: u32, bytes: usize) -> bool {
        let mut g = self.used();
        let (total, by_uid) = &mut *g;
        let mine = by_uid.get(&uid).copied().unwrap_or(0);
        let fits_total = total.saturating_add(bytes) <= self.total_max;
        let fits_user = uid == 0 || mine.saturating_add(bytes) <= self.user_max;
        if !(fits_total && fits_user) {
            return false;
        }
        *total += bytes;
        *by_uid.entry(uid).or_insert(0) += bytes;
        true
    }

    /// Charges `bytes` to `uid` even past the limits (a few bytes the limits could not foresee).
    pub(crate) fn force(&self, uid: u32, bytes: usize) {
        let mut g = self.used();
        let (total, by_uid) = &mut *g;
        *total += bytes;
        *by_uid.entry(uid).or_insert(0) += bytes;
    }

    /// Gives back `bytes` charged to `uid`.
    pub(crate) fn refund(&self, uid: u32, bytes: usize) {
        let mut g = self.used();
        let (total, by_uid) = &mut *g;
        *total = total.saturating_sub(bytes);
        if let Some(mine) = by_uid.get_mut(&uid) {
            *mine = mine.saturating_sub(bytes);
            if *mine == 0 {
                by_uid.remove(&uid);
            }
        }
    }

    /// Bytes charged in all.
    pub(crate) fn total(&self) -> usize {
        self.used().0
    }

    /// Bytes that could still be charged to `uid` now.
    pub(crate) fn room(&self, uid: u32) -> usize {
        let g = self.used();
        let (total, by_uid) = &*g;
        let total_room = self.total_max.saturating_sub(*total);
        if uid == 0 {
            return total_room;
        }
        let mine = by_uid.get(&uid).copied().unwrap_or(0);
        total_room.min(self.user_max.saturating_sub(mine))
    }
}

/// Open virtual files by file handle. Handles start at 1; engine files use handle 0.
#[derive(Debug)]
pub(crate) struct Handles {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Handle>>>,
    /// Work memories of finished queries, for the next ones.
    pool: Mutex<Vec<Work>>,
    /// What open `search` files may hold.
    pub(crate) budget: Budget,
}

impl Handles {
    pub(crate) fn new(search_memory_bytes: usize) -> Self {
        Handles {
            next: AtomicU64::new(1),
            map: Mutex::new(HashMap::new()),
            pool: Mutex::new(Vec::new()),
            budget: Budget::new(search_memory_bytes),
        }
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Work>> {
        // A pool of interchangeable buffers: nothing a panic could leave inconsistent.
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A work memory for one query: a pooled one when one is free.
    pub(crate) fn take_work(&self) -> Work {
        self.pool().pop().unwrap_or_default()
    }

    /// Gives a work memory back after its query (kept if the pool has room).
    pub(crate) fn put_work(&self, w: Work) {
        let mut pool = self.pool();
        if pool.len() < SEARCH_SCRATCH_POOL_MAX {
            pool.push(w);
        }
    }

    /// Registers a new open `search` file, charged to `uid`; `None` when the budget has no
    /// room for it (the open fails with `ENFILE`).
    pub(crate) fn open_search(&self, uid: u32) -> Option<u64> {
        if !self.budget.charge(uid, SEARCH_HANDLE_BYTES) {
            return None;
        }
        Some(self.insert(Handle::Search(Box::new(Mutex::new(Search::new(uid))))))
    }

    /// Registers a new open `stats` file holding `doc`, charged to `uid`; `None` when the budget
    /// has no room for it (the open fails with `ENFILE`).
    pub(crate) fn open_stats(&self, uid: u32, mut doc: Vec<u8>) -> Option<u64> {
        doc.shrink_to_fit();
        if !self.budget.charge(uid, stats_charge(&doc)) {
            return None;
        }
        Some(self.insert(Handle::Stats { doc, uid }))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Handle>>> {
        // The map holds no invariant a panic could break half-way.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `h`; returns its file handle.
    pub(crate) fn insert(&self, h: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed);
        self.map().insert(fh, Arc::new(h));
        fh
    }

    /// The handle `fh`.
    pub(crate) fn get(&self, fh: u64) -> Option<Arc<Handle>> {
        self.map().get(&fh).cloned()
    }

    /// Forgets `fh` (release): a `search` file's buffers are freed and its charge refunded.
    pub(crate) fn remove(&self, fh: u64) {
        let Some(h) = self.map().remove(&fh) else {
            return;
        };
        match &*h {
            Handle::Search(search) => search
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .close(&self.budget),
            Handle::Stats { doc, uid } => self.budget.refund(*uid, stats_charge(doc)),
        }
    }

    /// Open virtual files.
    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn work_memory_goes_back_to_a_bounded_pool() {
        let h = Handles::new(MIB);
        let taken: Vec<Work> = (0..SEARCH_SCRATCH_POOL_MAX + 3).map(|_| h.take_work()).collect();
        assert_eq!(h.pool().len(), 0);
        for w in taken {
            h.put_work(w);
        }
        assert_eq!(h.pool().len(), SEARCH_SCRATCH_POOL_MAX);
        let w = h.take_work();
        assert_eq!(h.pool().len(), SEARCH_SCRATCH_POOL_MAX - 1);
        h.put_work(w);
        assert_eq!(h.pool().len(), SEARCH_SCRATCH_POOL_MAX);
    }

    #[test]
    fn open_files_are_charged_and_refunded() {
        let h = Handles::new(64 * SEARCH_HANDLE_BYTES);
        // A user other than root gets a quarter: 16 files.
        let mine: Vec<u64> = (0..16).map(|_| h.open_search(1000).unwrap()).collect();
        assert_eq!(h.open_search(1000), None);
        // Another user has a quarter of its own; root may take what is left of the total.
        let other: Vec<u64> = (0..16).map(|_| h.open_search(1001).unwrap()).collect();
        let root: Vec<u64> = (0..32).map(|_| h.open_search(0).unwrap()).collect();
        assert_eq!(h.open_search(0), None);
        assert_eq!(h.open_search(1002), None);
        for fh in mine.iter().chain(&other).chain(&root) {
            h.remove(*fh);
        }
        assert_eq!(h.budget.total(), 0);
        assert!(h.open_search(1000).is_some());
        // Stats documents are charged too.
        let h = Handles::new(64 * SEARCH_HANDLE_BYTES);
        let docs: Vec<u64> = (0..8)
            .map(|_| h.open_stats(1000, vec![b'x'; SEARCH_HANDLE_BYTES]).unwrap())
            .collect();
        assert_eq!(h.open_stats(1000, vec![b'x'; SEARCH_HANDLE_BYTES]), None);
        assert_eq!(h.open_search(1000), None);
        for fh in docs {
            h.remove(fh);
        }
        assert_eq!(h.budget.total(), 0);
    }
}
