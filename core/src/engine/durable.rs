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
use crate::journal::{Extent, Journal, JournalStats, OpenOptions, Room, log};
use crate::limits::BLOCK_SIZE;
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
            &mut e.state.ns,
            &e.state.colls,
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
        let indexes_loaded = self.state.colls.len() as u64;
        let mut replayed = self.replay_log(storage, (sb.log_block, sb.log_blocks), sb.log_lsn)?;
        // Recovered through the previous checkpoint: its log ends where the damaged one's
        // starts, and that log follows.
        let j = self.journal.as_ref().expect("attached by load_checkpoint");
        if let Some(c) = j.continuation() {
            if replayed.next_lsn == c.after {
                let more = self.replay_log(storage, c.head, c.lsn)?;
                replayed.ops += more.ops;
                replayed.segments.extend(more.segments);
                replayed.next_lsn = more.next_lsn;
                replayed.end = more.end;
            } else {
                let note = format!(
                    "the previous checkpoint's log ends at record {} but the damaged checkpoint holds the state up to record {}: operations from {} on were lost",
                    replayed.next_lsn, c.after, replayed.next_lsn
                );
                self.journal.as_mut().expect("attached").note(note);
            }
        }
        // Nothing is open after a restart: free what was unlinked while open.
        let orphans: Vec<Ino> = self.orphans().collect();
        let nobody = Ctx::new(Timestamp::default(), 0, 0);
        for &ino in &orphans {
            self.commit(&Op::Release { ino }, &nobody)?;
        }
        let dirty = replayed.ops > 0 || !orphans.is_empty();
        let Engine { journal, state, .. } = self;
        let (ns, colls) = (&mut state.ns, &mut state.colls);
        let j = journal.as_mut().expect("attached by load_checkpoint");
        j.finish_recovery(&replayed, dirty, ns, colls)?;
        let stats = j.stats_mut();
        stats.replayed = replayed.ops;
        stats.released_orphans = orphans.len() as u64;
        stats.indexes_loaded = indexes_loaded;
        Ok(())
    }

    /// Replays the log from segment `seg` expecting `lsn` first, through the same `execute`
    /// path that produced it.
    fn replay_log(&mut self, storage: &dyn Storage, seg: (u64, u32), lsn: u64) -> Result<log::Replayed> {
        log::replay(storage, seg, lsn, |payload, at| {
            let (op, ctx) = decode_op(&mut Reader::new(payload, at, "log record"))?;
            // An I/O error while replaying (reading a file block) is the medium's, not damage
            // to the log: report it as such, so the caller can retry.
            self.execute(&op, &ctx).map(drop).map_err(|e| match e {
                Error::Io { .. } => e,
                _ => Error::Corrupted {
                    what: "log record (does not apply)",
                    offset: at,
                },
            })
        })
    }

    /// What opening the image had to work around (damaged superblock slot, damaged checkpoint
    /// recovered through the previous one), one line each; empty in memory or when healthy.
    pub fn recovery_notes(&self) -> Vec<String> {
        self.journal
            .as_ref()
            .map(|j| j.recovery_notes())
            .unwrap_or_default()
    }

    /// Room left on the image's medium (`None` in memory): for `statfs`.
    pub fn room(&self) -> Option<Room> {
        self.journal.as_ref().map(|j| j.room())
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
            .map(|j| j.layout_problems(&self.state.ns))
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
            Some(j) => j.checkpoint(&mut self.state.ns, &self.state.colls),
            None => Ok(()),
        }
    }

    /// Closes the image cleanly: a checkpoint if anything changed since the last one, so the
    /// next open replays nothing. Read-only and failed images are left as they are. Everything
    /// is synced to the log first, so when the medium has no room for the checkpoint
    /// (`NoSpace`) nothing is lost: the next open replays the log.
    pub fn close(mut self) -> Result<()> {
        match self.journal.as_mut() {
            Some(j) if !j.is_read_only() && j.has_changes() => {
                j.sync()?;
                j.checkpoint(&mut self.state.ns, &self.state.colls)
            }
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
        let dirs: Vec<Ino> = self.state.colls.iter().map(|(d, _)| d).collect();
        for (i, &dir) in dirs.iter().enumerate() {
            self.state.colls.rebuild(&mut self.state.ns, dir, self.state.seed);
            progress(i as u64 + 1, dirs.len() as u64);
        }
        if let Some(j) = self.journal.as_mut() {
            j.checkpoint(&mut self.state.ns, &self.state.colls)?;
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
    // Here rather than in `check_opened`: checking the fallback decodes a checkpoint, and this
    // frame is smaller.
    let mut structure = Vec::new();
    if let Some(j) = e.journal.as_ref() {
        structure.extend(j.verify_fallback());
        structure.extend(j.verify_structure());
    }
    check_opened(e, structure, repair, rebuild_index, &mut progress)
}

/// The part of [`fsck`] after opening. Not inlined, so that its frame is not on the stack
/// while the image is opened.
#[inline(never)]
fn check_opened(
    mut e: Engine,
    structure: Vec<String>,
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
    let damaged = e
        .journal
        .as_ref()
        .map(|j| j.verify_data(&e.state.ns))
        .unwrap_or_default();
    progress("checking", 2, 2);
    if repair
        && (!damaged.is_empty() || !structure.is_empty())
        && let Some(j) = e.journal.as_mut()
    {
        // The state before the damage is no fallback worth keeping.
        j.drop_fallback();
    }
    if repair {
        // A damaged file block becomes a hole: that block's bytes are lost, nothing else. Not an
        // operation (no time to stamp, nothing a user did); the checkpoint below makes it
        // durable before any log record could follow.
        let mut path = Vec::new();
        for d in &damaged {
            let name = match e.state.ns.path_of(d.ino, &mut path) {
                Ok(()) => String::from_utf8_lossy(&path).into_owned(),
                Err(_) => format!("inode {}", d.ino),
            };
            let start = d.index * BLOCK_SIZE as u64;
            let hole = e
                .state
                .ns
                .get_mut(d.ino)
                .and_then(|n| n.file_mut())
                .and_then(|f| f.punch_hole(start, BLOCK_SIZE as u64, None));
            match hole {
                Ok(()) => report.repaired.push(format!(
                    "{name}: block {} (bytes {start}..{}) was damaged ({}); it now reads as zeros",
                    d.index,
                    start + BLOCK_SIZE as u64,
                    d.problem
                )),
                Err(err) => problems.push(format!(
                    "{name}: block {}: {}; not repaired: {err}",
                    d.index, d.problem
                )),
            }
        }
        // Writing a checkpoint replaces whatever the structure checks found (a damaged slot or
        // fallback, a checkpoint recovered through the previous one, a damaged log tail).
        report.repaired.extend(
            structure
                .into_iter()
                .map(|p| format!("{p} (a new checkpoint was written)")),
        );
    } else {
        problems.extend(structure);
        problems.extend(damaged.iter().map(|d| {
            let mut path = Vec::new();
            let name = match e.state.ns.path_of(d.ino, &mut path) {
                Ok(()) => String::from_utf8_lossy(&path).into_owned(),
                Err(_) => "(unlinked)".to_string(),
            };
            format!("{name} (inode {}) block {}: {}", d.ino, d.index, d.problem)
        }));
    }
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
    report.inodes = e.state.ns.len() as u64;
    report.collections = e.state.colls.len() as u64;
    report.vectors = e.state.colls.iter().map(|(_, c)| c.index.len() as u64).sum();
    if writable {
        e.close()?;
    }
    Ok(report)
}
