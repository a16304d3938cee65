//! Images: creating, opening (recovery), syncing, checkpointing and closing an engine backed by
//! a `Storage`, plus fsck.
//!
//! Recovery (docs/format.md §6) is: load the live checkpoint (its indexes are decoded, never
//! rebuilt), replay the valid prefix of the log through the same `execute` path that produced
//! it, free the inodes that were unlinked but open when the image was last used, and, if any of
//! that changed the state, write a checkpoint.

use super::{Engine, EngineConfig, Op};
use crate::check::check;
use crate::error::{Error, Result};
use crate::journal::codec::{Reader, decode_op};
use crate::journal::{Extent, Journal, JournalStats, OpenOptions, log};
use crate::storage::Storage;
use crate::types::{Ctx, Ino, Timestamp};
use std::sync::Arc;

impl Engine {
    /// Creates a new image on `storage` (whatever it held is discarded).
    pub fn create_image(storage: Arc<dyn Storage>, cfg: EngineConfig) -> Result<Engine> {
        let mut e = Engine::new(cfg);
        e.journal = Some(Journal::create(
            storage,
            cfg.seed,
            cfg.log_segment_blocks,
            &mut e.ns,
            &e.colls,
        )?);
        Ok(e)
    }

    /// Opens the image on `storage`, recovering it if it was not closed cleanly.
    pub fn open_image(storage: Arc<dyn Storage>, opts: OpenOptions) -> Result<Engine> {
        // One `Result` that is also the return value: moving the ~200-byte engine out of it and
        // back would cost this frame three copies of it.
        let mut r = Engine::load_checkpoint(Arc::clone(&storage), opts);
        if let Ok(e) = &mut r
            && let Err(err) = e.recover(&*storage)
        {
            r = Err(err);
        }
        r
    }

    /// The first half of [`Engine::open_image`]: the engine as of the live checkpoint, with its
    /// journal attached in replay mode. Not inlined, like [`Engine::recover`], so that the
    /// decoded checkpoint and the log replay do not share one stack frame.
    #[inline(never)]
    fn load_checkpoint(storage: Arc<dyn Storage>, opts: OpenOptions) -> Result<Engine> {
        let (journal, decoded) = Journal::open(storage, opts)?;
        let sb = *journal.superblock();
        if decoded.lsn.checked_add(1) != Some(sb.log_lsn) {
            return Err(Error::Corrupted {
                what: "checkpoint (does not match the log)",
                offset: sb.checkpoint_block * 4096,
            });
        }
        let mut e = Engine::from_parts(decoded.ns, decoded.colls, sb.seed);
        e.journal = Some(journal);
        Ok(e)
    }

    /// The second half of [`Engine::open_image`]: replays the log, frees the orphans and ends
    /// recovery.
    #[inline(never)]
    fn recover(&mut self, storage: &dyn Storage) -> Result<()> {
        let sb = *self
            .journal
            .as_ref()
            .expect("attached by load_checkpoint")
            .superblock();
        let indexes_loaded = self.colls.len() as u64;
        let replayed = log::replay(
            storage,
            (sb.log_block, sb.log_blocks),
            sb.log_lsn,
            |payload, at| {
                let (op, ctx) = decode_op(&mut Reader::new(payload, at, "log record"))?;
                // An I/O error while replaying (reading a file block) is the medium's, not
                // damage to the log: report it as such, so the caller can retry.
                self.execute(&op, &ctx).map(drop).map_err(|e| match e {
                    Error::Io { .. } => e,
                    _ => Error::Corrupted {
                        what: "log record (does not apply)",
                        offset: at,
                    },
                })
            },
        )?;
        // Nothing is open after a restart: free what was unlinked while open.
        let orphans: Vec<Ino> = self.orphans().collect();
        let nobody = Ctx::new(Timestamp::default(), 0, 0);
        for &ino in &orphans {
            self.commit(&Op::Release { ino }, &nobody)?;
        }
        let dirty = replayed.ops > 0 || !orphans.is_empty();
        let Engine {
            journal, ns, colls, ..
        } = self;
        let j = journal.as_mut().expect("attached by load_checkpoint");
        j.finish_recovery(&replayed, dirty, ns, colls)?;
        let stats = j.stats_mut();
        stats.replayed = replayed.ops;
        stats.released_orphans = orphans.len() as u64;
        stats.indexes_loaded = indexes_loaded;
        Ok(())
    }

    /// Whether this engine persists to an image.
    pub fn is_persistent(&self) -> bool {
        self.journal.is_some()
    }

    /// What the journal did since the image was opened (`None` in memory).
    pub fn journal_stats(&self) -> Option<JournalStats> {
        self.journal.as_ref().map(|j| j.stats())
    }

    /// The image's length in bytes (`None` in memory or when the storage cannot tell).
    /// The storage itself is not handed out: the engine is its only writer (see
    /// [`Storage::view`]).
    pub fn image_bytes(&self) -> Option<u64> {
        self.journal.as_ref().and_then(|j| j.storage().len().ok())
    }

    /// Bytes the image could still grow by (`None` in memory or when unknown).
    pub fn image_room(&self) -> Option<u64> {
        self.journal.as_ref().and_then(|j| j.storage().available())
    }

    /// Every extent of the image that a durable structure occupies (empty in memory): for the
    /// simulator's oracle and fsck.
    pub fn image_extents(&self) -> Vec<Extent> {
        self.journal.as_ref().map(|j| j.extents()).unwrap_or_default()
    }

    /// Violations of the image layout's invariants (empty in memory): see
    /// [`Journal::layout_problems`].
    pub fn layout_problems(&self) -> Vec<String> {
        self.journal
            .as_ref()
            .map(|j| j.layout_problems(&self.ns))
            .unwrap_or_default()
    }

    /// Whether an operation was applied since the last sync or checkpoint (what a frontend's
    /// commit timer asks before calling [`Engine::sync`]). Always `false` in memory.
    pub fn has_unsynced(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| j.has_unsynced())
    }

    /// Makes every operation applied so far durable (`fsync`, `fdatasync`, `syncfs`).
    pub fn sync(&mut self) -> Result<()> {
        match self.journal.as_mut() {
            Some(j) => j.sync(),
            None => Ok(()),
        }
    }

    /// Writes a checkpoint now.
    pub fn checkpoint(&mut self) -> Result<()> {
        match self.journal.as_mut() {
            Some(j) => j.checkpoint(&mut self.ns, &self.colls),
            None => Ok(()),
        }
    }

    /// Closes the image cleanly: a checkpoint if anything changed since the last one, so the
    /// next open replays nothing. Read-only and failed images are left as they are.
    pub fn close(mut self) -> Result<()> {
        match self.journal.as_mut() {
            Some(j) if !j.is_read_only() && j.has_changes() => j.checkpoint(&mut self.ns, &self.colls),
            _ => Ok(()),
        }
    }

    /// Rebuilds every collection's index from storage (fsck `--rebuild-index`), calling
    /// `progress(done, total)` after each collection. Deterministic: the same state gives the
    /// same graphs.
    pub fn rebuild_indexes(&mut self, mut progress: impl FnMut(u64, u64)) -> Result<()> {
        if let Some(j) = self.journal.as_ref() {
            j.check_writable()?;
        }
        let dirs: Vec<Ino> = self.colls.iter().map(|(d, _)| d).collect();
        for (i, &dir) in dirs.iter().enumerate() {
            self.colls.rebuild(&self.ns, dir, self.seed);
            progress(i as u64 + 1, dirs.len() as u64);
        }
        if let Some(j) = self.journal.as_mut() {
            j.checkpoint(&mut self.ns, &self.colls)?;
        }
        Ok(())
    }
}

/// What fsck found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Every problem found, one line each (empty: clean).
    pub problems: Vec<String>,
    /// Problems that `--repair` fixed.
    pub repaired: Vec<String>,
    /// Log records replayed while opening.
    pub replayed: u64,
    /// Inodes, collections and indexed vectors seen.
    pub inodes: u64,
    /// Collections seen.
    pub collections: u64,
    /// Vectors indexed.
    pub vectors: u64,
}

/// Checks the image on `storage`: superblock, checkpoint and log (by opening it), every
/// filesystem and index invariant (`check`), and every file data block's checksum and
/// placement. With `repair`, rebuilds indexes that disagree with storage and writes a
/// checkpoint; with `rebuild_index`, rebuilds all indexes. `progress(done, total)` reports
/// progress. An image that cannot be opened at all is an `Err` (fsck exit status 2).
pub fn fsck(
    storage: Arc<dyn Storage>,
    repair: bool,
    rebuild_index: bool,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<FsckReport> {
    let writable = repair || rebuild_index;
    let e = Engine::open_image(
        storage,
        OpenOptions {
            read_only: !writable,
            ..OpenOptions::default()
        },
    )?;
    check_opened(e, repair, rebuild_index, &mut progress)
}

/// The part of [`fsck`] after opening. Not inlined, so that its frame is not on the stack
/// while the image is opened.
#[inline(never)]
fn check_opened(
    mut e: Engine,
    repair: bool,
    rebuild_index: bool,
    progress: &mut dyn FnMut(&str, u64, u64),
) -> Result<FsckReport> {
    let writable = repair || rebuild_index;
    let mut report = FsckReport {
        replayed: e.journal_stats().map_or(0, |s| s.replayed),
        ..FsckReport::default()
    };
    progress("checking", 0, 2);
    let mut problems: Vec<String> = match check(&e) {
        Ok(()) => Vec::new(),
        Err(p) => p.0,
    };
    progress("checking", 1, 2);
    if let Some(j) = e.journal.as_ref() {
        problems.extend(j.verify_structure());
        problems.extend(j.verify_data(&e.ns));
    }
    progress("checking", 2, 2);
    if rebuild_index || (repair && problems.iter().any(|p| p.starts_with("collection"))) {
        e.rebuild_indexes(|d, t| progress("rebuilding indexes", d, t))?;
        let before = problems.len();
        problems.retain(|p| !p.starts_with("collection"));
        if before != problems.len() {
            report
                .repaired
                .push(format!("rebuilt indexes ({} problems)", before - problems.len()));
        }
        if let Err(p) = check(&e) {
            problems.extend(p.0);
        }
    } else if repair {
        e.checkpoint()?;
    }
    report.problems = problems;
    report.inodes = e.ns.len() as u64;
    report.collections = e.colls.len() as u64;
    report.vectors = e.colls.iter().map(|(_, c)| c.index.len() as u64).sum();
    if writable {
        e.close()?;
    }
    Ok(report)
}
