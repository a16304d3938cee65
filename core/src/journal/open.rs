//! Creating and opening an image: the first checkpoint of a new image, reading both superblock
//! slots, loading the live checkpoint (or the fallback when the live one is damaged), attaching
//! the log writer, and ending recovery once the engine has replayed the log.
//!
//! Invariants: an image is opened from the valid slot with the higher sequence, or from the
//! other one only when the live checkpoint is damaged (then [`Continuation`] says where the
//! fallback's log continues); the allocator is rebuilt from exactly what the opened superblock
//! references, so free space never holds a reachable block; nothing is written until
//! [`Journal::finish_recovery`], and a read-only open writes nothing at all.

use super::alloc::Alloc;
use super::cache::BlockCache;
use super::log::{self, LogWriter};
use super::superblock::{self, Superblock};
use super::{BS, ExtentKind, Journal, JournalStats, OpenOptions, checkpoint, commit, space};
use crate::collections::Collections;
use crate::error::{Error, Result};
use crate::limits::{BLOCK_SIZE, CACHE_BLOCKS, LOG_RECORDS_MAX, LOG_SEGMENT_BLOCKS_MIN};
use crate::namespace::Namespace;
use crate::storage::Storage;
use std::sync::{Arc, Mutex};

impl Journal {
    /// Creates an image on empty `storage`: an empty log and a first checkpoint of `ns`/`colls`.
    pub fn create(
        storage: Arc<dyn Storage>,
        seed: u64,
        segment_blocks: u32,
        ns: &mut Namespace,
        colls: &Collections,
    ) -> Result<Box<Journal>> {
        if segment_blocks < LOG_SEGMENT_BLOCKS_MIN {
            return Err(Error::Invalid("log segments need at least 2 blocks"));
        }
        storage
            .set_len(0)
            .map_err(|e| Error::io("creating the image", &e))?;
        // The first checkpoint writes sequence 1 (slot B); slot A stays invalid (zeros).
        let sb = Superblock {
            sequence: 0,
            seed,
            checkpoint_block: 0,
            checkpoint_bytes: 0,
            checkpoint_crc: 0,
            log_block: 0,
            log_blocks: 0,
            log_lsn: 1,
            next_lsn: 1,
            image_blocks: 2,
        };
        let opts = OpenOptions {
            read_only: false,
            log_segment_blocks: segment_blocks,
        };
        let mut j = Journal::opened(storage, sb, 0, opts, Vec::new(), Vec::new());
        j.replaying = false;
        j.alloc = Alloc::from_used(vec![(0, 2)]);
        j.writer = Some(LogWriter::new(0, 0, 1, segment_blocks));
        j.storage
            .write_at(0, &[0u8; 2 * BLOCK_SIZE])
            .map_err(|e| Error::io("creating the image", &e))?;
        j.space.held_blocks = 2;
        j.checkpoint(ns, colls)?;
        Ok(j)
    }

    /// Opens `storage`: picks the live superblock and decodes its checkpoint; when that
    /// checkpoint is damaged, decodes the previous one (the other slot's) instead and notes
    /// where the damaged one's log starts ([`Journal::continuation`]). The caller replays the
    /// log (from [`Journal::superblock`], then the continuation) with `replaying` set, then
    /// calls [`Journal::finish_recovery`].
    pub fn open(storage: Arc<dyn Storage>, opts: OpenOptions) -> Result<(Box<Journal>, checkpoint::Decoded)> {
        if opts.log_segment_blocks < LOG_SEGMENT_BLOCKS_MIN {
            return Err(Error::Invalid("log segments need at least 2 blocks"));
        }
        // The slots are read in a frame of their own and kept on the heap, so that this frame,
        // which is live while a checkpoint is decoded (the deepest stack of opening), stays
        // small.
        let slots = read_slots(&*storage)?;
        match load(&*storage, &slots.newest, slots.len)
            .and_then(|d| check_retained(&d, &slots.newest, slots.len).map(|()| d))
        {
            Ok(decoded) => Ok(Journal::attach(storage, opts, slots, decoded, None)),
            Err(e @ Error::Corrupted { .. }) => Journal::open_fallback(storage, opts, slots, e),
            Err(e) => Err(e),
        }
    }

    /// [`Journal::open`] when the newest checkpoint is damaged (`damage`): loads the other
    /// slot's, whose log ends where the damaged one's starts.
    #[inline(never)]
    fn open_fallback(
        storage: Arc<dyn Storage>,
        opts: OpenOptions,
        slots: Box<Slots>,
        damage: Error,
    ) -> Result<(Box<Journal>, checkpoint::Decoded)> {
        let Some(older) = slots.older else {
            return Err(damage);
        };
        let Ok(mut decoded) = load(&*storage, &older, slots.len) else {
            return Err(damage);
        };
        // What the older checkpoint retained belonged to the one before it, freed once the
        // damaged one was durable.
        decoded.retained.clear();
        let note = format!(
            "{damage}: the live checkpoint is damaged; recovered from the previous one and the logs after it"
        );
        Ok(Journal::attach(
            storage,
            opts,
            slots,
            decoded,
            Some((older, note)),
        ))
    }

    /// The journal of an image whose checkpoint `decoded` was loaded: the newest slot's, or,
    /// with `fallback`, the older slot's superblock and why.
    #[inline(never)]
    #[expect(
        clippy::boxed_local,
        reason = "the slots stay boxed so that the frames of open, live while a checkpoint is decoded, hold a pointer"
    )]
    fn attach(
        storage: Arc<dyn Storage>,
        opts: OpenOptions,
        slots: Box<Slots>,
        decoded: checkpoint::Decoded,
        fallback: Option<(Superblock, String)>,
    ) -> (Box<Journal>, checkpoint::Decoded) {
        let Slots {
            newest,
            older,
            damaged,
            ..
        } = *slots;
        let sb = fallback.as_ref().map_or(newest, |(older, _)| *older);
        let mut j = Journal::opened(
            storage,
            sb,
            sb.slot(),
            opts,
            damaged,
            commit::data_runs(&decoded.ns),
        );
        j.sequence_max = newest.sequence;
        // A session that crashed wrote records after the checkpoint it started from, and may
        // have written one more checkpoint that never became durable, with a log of its own:
        // with at most LOG_RECORDS_MAX records per log, every LSN it used lies below the newest
        // log start plus two logs' worth. A damaged slot may hide one more checkpoint (whose
        // own log may have started past such a gap): four more.
        let known = newest.log_lsn.max(older.map_or(0, |o| o.log_lsn));
        // Whether the other slot names the fallback the live checkpoint retained: then the live
        // slot may be rewritten in place (see `Journal::restart_log`).
        j.fallback_named = fallback.is_none()
            && older.is_some_and(|o| {
                decoded.retained.iter().any(|e| {
                    e.kind == ExtentKind::FallbackCheckpoint
                        && e.first_block == o.checkpoint_block
                        && e.blocks == o.checkpoint_bytes.div_ceil(BS)
                })
            });
        let logs = if j.damaged_slots.is_empty() { 2 } else { 6 };
        j.lsn_floor = known.saturating_add(logs * LOG_RECORDS_MAX);
        j.retained = decoded.retained.clone();
        if let Some((_, note)) = fallback {
            j.continuation = Some(Continuation {
                head: (newest.log_block, newest.log_blocks),
                lsn: newest.log_lsn,
                after: newest.next_lsn,
            });
            j.no_fallback = true;
            j.notes.push(note);
            j.stats.fallback_recoveries = 1;
        }
        (j, decoded)
    }

    /// Makes the next checkpoint keep no fallback (fsck, after repairing damage the current
    /// fallback may share).
    pub fn drop_fallback(&mut self) {
        self.no_fallback = true;
    }

    /// Where recovery continues after the log of the checkpoint it loaded: the log head and
    /// first LSN of the damaged checkpoint that checkpoint is the fallback of.
    pub fn continuation(&self) -> Option<Continuation> {
        self.continuation
    }

    /// Records something recovery had to work around (reported by fsck).
    pub fn note(&mut self, what: String) {
        self.notes.push(what);
    }

    /// What opening had to work around, one line each: damaged superblock slots, a damaged
    /// checkpoint recovered through the previous one. Empty for a healthy image.
    pub fn recovery_notes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .damaged_slots
            .iter()
            .map(|e| format!("{e}; the other slot was used"))
            .collect();
        out.extend(self.notes.iter().cloned());
        out
    }

    /// The journal of an image just opened at superblock `sb` (in `slot`), in replay mode.
    /// Boxed, and built in a frame of its own (not inlined), so that neither
    /// [`Journal::open`]'s frame, which is live while the checkpoint is decoded, nor its
    /// caller's holds the value.
    #[inline(never)]
    fn opened(
        storage: Arc<dyn Storage>,
        sb: Superblock,
        slot: u64,
        opts: OpenOptions,
        damaged_slots: Vec<Error>,
        live_data: Vec<(u64, u64)>,
    ) -> Box<Journal> {
        let held_blocks = storage.len().map_or(0, |l| l / BS);
        Box::new(Journal {
            storage,
            cache: Mutex::new(BlockCache::new(CACHE_BLOCKS)),
            alloc: Alloc::default(),
            sb,
            writer: None,
            read_only: opts.read_only,
            segment_blocks: opts.log_segment_blocks,
            replaying: true,
            failed: false,
            footprint: 0,
            payload: Vec::new(),
            stats: JournalStats {
                checkpoint_bytes: sb.checkpoint_bytes,
                ..JournalStats::default()
            },
            damaged_slots,
            live_data,
            unreferenced_data: Vec::new(),
            retained: Vec::new(),
            slot,
            sequence_max: sb.sequence,
            no_fallback: false,
            continuation: None,
            recovered_segments: Vec::new(),
            notes: Vec::new(),
            space: space::Space::holding(held_blocks),
            log_end: None,
            lsn_floor: 0,
            fallback_named: false,
        })
    }

    /// Ends recovery after the log was replayed: rebuilds free space and, when the image is
    /// writable, starts the session's log at the LSN floor (docs/format.md §4.4), so that no
    /// record of a session lost in a crash, which the medium may hold anywhere past the replayed
    /// log, can ever continue it. When the replay changed nothing (`dirty` false) and the other
    /// slot holds a fallback, the live superblock is rewritten in place to name the same
    /// checkpoint with the new log start ([`Journal::restart_log`]); otherwise a checkpoint
    /// starts the log in a fresh segment, so new records never follow a damaged tail either.
    pub fn finish_recovery(
        &mut self,
        replayed: &log::Replayed,
        dirty: bool,
        ns: &mut Namespace,
        colls: &Collections,
    ) -> Result<()> {
        self.replaying = false;
        let next_lsn = replayed.next_lsn;
        self.log_end = Some((replayed.end, next_lsn));
        let mut used = vec![
            (0, 2),
            (self.sb.checkpoint_block, self.sb.checkpoint_bytes.div_ceil(BS)),
        ];
        used.extend(replayed.segments.iter().map(|&(b, n)| (b, u64::from(n))));
        used.extend(commit::data_extents(ns));
        // Freed by the replay, but still the live checkpoint's until the next one is durable
        // (which rebuilds the allocator from the state it wrote).
        used.extend(self.live_data.iter().copied());
        used.extend(self.retained.iter().map(|e| (e.first_block, e.blocks)));
        self.alloc = Alloc::from_used(used);
        self.space.checkpointed(self.sb.checkpoint_bytes);
        self.space.measured = false;
        // The live checkpoint's log, as far as it was read: the fallback's log once a
        // checkpoint follows, and what a read-only open lists as its log.
        self.recovered_segments = replayed.segments.clone();
        if self.read_only {
            return Ok(());
        }
        if !dirty && self.fallback_named && !self.no_fallback {
            return self.restart_log();
        }
        // A writer only to carry the LSN into the checkpoint, which starts the log anew.
        self.writer = Some(LogWriter::new(0, 0, next_lsn, self.segment_blocks));
        match self.checkpoint(ns, colls) {
            // No room with the fallback kept (the medium filled up from elsewhere, or the
            // room held past the image's end was lost in the crash): give it up.
            Err(Error::NoSpace) => {
                self.space.pressure = true;
                self.checkpoint(ns, colls)
            }
            r => r,
        }
    }
}

/// The log of a damaged checkpoint, which recovery replays after its fallback's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Continuation {
    /// Its head segment.
    pub head: (u64, u32),
    /// The LSN expected first at the head.
    pub lsn: u64,
    /// Where the fallback's log must end for the two to join: the LSN after the damaged
    /// checkpoint's state.
    pub after: u64,
}

/// What the two superblock slots hold.
struct Slots {
    /// Bytes in the image.
    len: u64,
    /// The valid slot with the highest sequence.
    newest: Superblock,
    /// The other slot, when it is valid too.
    older: Option<Superblock>,
    /// Why each slot that was neither valid, blank nor stale was rejected.
    damaged: Vec<Error>,
}

/// Reads and decodes both superblock slots.
#[inline(never)]
fn read_slots(storage: &dyn Storage) -> Result<Box<Slots>> {
    let len = storage.len().map_err(|e| Error::io("opening the image", &e))?;
    let mut head = [0u8; 8];
    let head_len = len.min(8) as usize;
    storage
        .read_at(0, &mut head[..head_len])
        .map_err(|e| Error::io("reading the superblock", &e))?;
    // Too short for its superblocks: an empty file, or one that starts like no VexFS slot
    // (a blank slot A may be a truncated fresh image: that is damage).
    let head = &head[..head_len];
    if len < 2 * BS && (len == 0 || (head.iter().any(|&b| b != 0) && !superblock::looks_like_vexfs(head))) {
        return Err(Error::NotAnImage);
    }
    if len < 2 * BS {
        return Err(Error::Corrupted {
            what: "image (shorter than its superblocks)",
            offset: len,
        });
    }
    // On the heap: two blocks on the stack would take 8 KiB of the entry point's budget.
    let mut bytes = vec![0u8; 2 * BLOCK_SIZE];
    storage
        .read_at(0, &mut bytes)
        .map_err(|e| Error::io("reading the superblock", &e))?;
    let a = Superblock::decode(&bytes[..BLOCK_SIZE], 0, len);
    let b = Superblock::decode(&bytes[BLOCK_SIZE..], 1, len);
    let mut damaged = Vec::new();
    let live_sequence = [&a, &b]
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|s| s.sequence)
        .max();
    // A slot is blank only until the image's second checkpoint (the first goes to slot B);
    // after that a blank slot is damage, like any other invalid one but a released or stale
    // one.
    let blank_ok = live_sequence.is_none_or(|s| s < 2);
    for (r, half) in [(&a, &bytes[..BLOCK_SIZE]), (&b, &bytes[BLOCK_SIZE..])] {
        let blank = half.iter().all(|&x| x == 0);
        if let Err(e) = r
            && !(blank && blank_ok)
            && !superblock::is_released(half)
            && !superblock::is_stale(half, live_sequence)
        {
            damaged.push(e.clone());
        }
    }
    let (newest, older) = match (a, b) {
        (Ok(a), Ok(b)) if a.sequence > b.sequence => (a, Some(b)),
        (Ok(a), Ok(b)) => (b, Some(a)),
        (Ok(s), Err(_)) | (Err(_), Ok(s)) => (s, None),
        (Err(_), Err(_))
            if !superblock::looks_like_vexfs(&bytes[..BLOCK_SIZE])
                && !superblock::looks_like_vexfs(&bytes[BLOCK_SIZE..]) =>
        {
            return Err(Error::NotAnImage);
        }
        (Err(e), Err(_)) => return Err(e),
    };
    Ok(Box::new(Slots {
        len,
        newest,
        older,
        damaged,
    }))
}

/// Reads, checks and decodes the checkpoint superblock `sb` names, in an image of `len`
/// bytes. Not inlined: its frame (and the decoder's under it) is the deepest part of opening.
#[inline(never)]
pub(super) fn load(storage: &dyn Storage, sb: &Superblock, len: u64) -> Result<checkpoint::Decoded> {
    let ckpt_at = sb.checkpoint_block * BS;
    let ckpt_len = usize::try_from(sb.checkpoint_bytes).map_err(|_| Error::Corrupted {
        what: "superblock (checkpoint length)",
        offset: 0,
    })?;
    // Decoded straight from the image's map where the storage has one: no buffer the size of
    // the checkpoint to fault in and fill (about 0.5 s of a 3 s open of 1M x 128).
    storage.will_need(ckpt_at, sb.checkpoint_bytes);
    let read: Vec<u8>;
    // SAFETY: nothing writes the image while it is being opened: the journal is its only
    // writer and writes nothing before the checkpoint is decoded, and the view ends with this
    // function, before the storage moves into the journal.
    let bytes = match unsafe { storage.view(ckpt_at, ckpt_len) } {
        Some(view) => view,
        None => {
            let mut buf = vec![0u8; ckpt_len];
            storage
                .read_at(ckpt_at, &mut buf)
                .map_err(|e| Error::io("reading the checkpoint", &e))?;
            read = buf;
            &read[..]
        }
    };
    if crc32c::crc32c(bytes) != sb.checkpoint_crc {
        return Err(Error::Corrupted {
            what: "checkpoint (checksum)",
            offset: ckpt_at,
        });
    }
    let decoded = checkpoint::decode(bytes, ckpt_at, len.div_ceil(BS), sb.seed)?;
    if decoded.lsn.checked_add(1) != Some(sb.next_lsn) {
        return Err(Error::Corrupted {
            what: "checkpoint (does not match the log)",
            offset: ckpt_at,
        });
    }
    Ok(decoded)
}

/// Checks that the extents a live checkpoint retains lie inside an image of `len` bytes (a
/// fallback's own retained extents need not: they were freed).
fn check_retained(decoded: &checkpoint::Decoded, sb: &Superblock, len: u64) -> Result<()> {
    let blocks = len.div_ceil(BS);
    if decoded.retained.iter().any(|e| e.first_block + e.blocks > blocks) {
        return Err(Error::Corrupted {
            what: "checkpoint (retained extents outside the image)",
            offset: sb.checkpoint_block * BS,
        });
    }
    Ok(())
}
