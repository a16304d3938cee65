//! Persistence: the image's superblock, write-ahead log, checkpoints, free space, room on the
//! medium and block cache, implementing docs/format.md.
//!
//! The [`Journal`] is owned by the engine. Before the engine applies an operation, the journal
//! encodes it and makes room for it ([`Journal::prepare`]: an operation that does not fit is
//! refused with `ENOSPC` before anything changed); after, it appends the record to the log
//! (group commit: records are written when the buffer fills and made durable by
//! [`Journal::sync`]). A checkpoint (`commit.rs`) writes dirty file blocks and the whole state to
//! fresh blocks and then switches the superblock, keeping the previous checkpoint as a fallback;
//! recovery loads the checkpoint and replays the log's valid prefix (see
//! `open.rs`, driven by the engine), falling back to the previous checkpoint when the live one is
//! damaged.
//!
//! Invariants:
//! - free space ([`alloc::Alloc`]) never contains a block the live superblock may reach: the
//!   checkpoint, the log segments after it, file data the checkpoint references, and the
//!   previous checkpoint with its log and data while it is kept as the fallback
//!   (`layout.rs` checks this);
//! - every allocated block is held on the medium before it is written (`space.rs`), so running
//!   out of room is an `ENOSPC` that changes nothing, never a failed write;
//! - after any I/O error the journal is *failed*: it refuses every further change and never
//!   writes a superblock again, so nothing durable can be lost by continuing on unknown state.

pub mod alloc;
pub mod cache;
pub mod checkpoint;
pub mod codec;
mod commit;
mod layout;
pub mod log;
mod open;
mod space;
pub mod superblock;

pub use layout::{DamagedBlock, Extent, ExtentKind};
pub use open::Continuation;
use open::load;
pub use space::{Growth, Room};

use crate::collections::Collections;
use crate::error::{Error, Result};
use crate::limits::{BLOCK_SIZE, CHECKPOINT_FOOTPRINT_MIN, LOG_RECORDS_MAX, LOG_SEGMENT_BLOCKS_DEFAULT};
use crate::namespace::data::verify_block;
use crate::namespace::{BlockSource, Namespace};
use crate::op::Op;
use crate::storage::Storage;
use crate::types::Ctx;
use alloc::Alloc;
use cache::BlockCache;
use log::LogWriter;
use std::sync::{Arc, Mutex};
use superblock::Superblock;

const BS: u64 = BLOCK_SIZE as u64;

/// How an image is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Never write: recovery happens in memory only and every change fails with `EROFS`.
    pub read_only: bool,
    /// Length in blocks of the log segments this session allocates (each segment records its
    /// own length, so any size opens anywhere). Small sizes make tests and the simulator reach
    /// segment ends quickly; at least `LOG_SEGMENT_BLOCKS_MIN`.
    pub log_segment_blocks: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read_only: false,
            log_segment_blocks: LOG_SEGMENT_BLOCKS_DEFAULT,
        }
    }
}

impl OpenOptions {
    /// Read-only, with the default segment size.
    pub fn read_only() -> Self {
        OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        }
    }
}

/// Counters of what the journal did since the image was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Operation records appended.
    pub records: u64,
    /// Of those, the records made durable: appended before the last sync or checkpoint.
    pub records_synced: u64,
    /// Syncs performed.
    pub syncs: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Bytes of the last checkpoint.
    pub checkpoint_bytes: u64,
    /// Operation records replayed when the image was opened.
    pub replayed: u64,
    /// Unlinked inodes freed when the image was opened.
    pub released_orphans: u64,
    /// Collection indexes loaded from the checkpoint (not rebuilt) when the image was opened.
    pub indexes_loaded: u64,
    /// File blocks read from the image (cache misses).
    pub block_reads: u64,
    /// Checkpoints abandoned for lack of room on the medium.
    pub checkpoints_refused: u64,
    /// Operations refused with `ENOSPC` for lack of room on the medium.
    pub nospace_refusals: u64,
    /// Opens that recovered through the previous checkpoint because the live one was damaged.
    pub fallback_recoveries: u64,
}

/// Why a checkpoint stopped.
#[derive(Debug)]
enum Stop {
    /// The medium has no room for it: nothing durable changed, the journal stays usable.
    NoRoom,
    /// An I/O error: the journal fails.
    Failed(Error),
}

/// The persistence state of an open image.
#[derive(Debug)]
pub struct Journal {
    storage: Arc<dyn Storage>,
    cache: Mutex<BlockCache>,
    alloc: Alloc,
    sb: Superblock,
    writer: Option<LogWriter>,
    read_only: bool,
    /// Length in blocks of the log segments this session allocates.
    segment_blocks: u32,
    /// True while the log is being replayed: operations are applied but not logged again.
    pub(crate) replaying: bool,
    failed: bool,
    footprint: u64,
    payload: Vec<u8>,
    stats: JournalStats,
    /// Superblock slots that were neither valid nor blank when the image was opened.
    damaged_slots: Vec<Error>,
    /// The file blocks the live checkpoint references (sorted runs). They stay in use until a
    /// newer checkpoint is durable, whatever the operations since did to them, so that a
    /// recovery which fails part-way cannot overwrite what the next one must read.
    live_data: Vec<(u64, u64)>,
    /// File blocks written back by a checkpoint that then ran out of room: the state in memory
    /// references them, no durable structure does yet.
    unreferenced_data: Vec<(u64, u64)>,
    /// What the live checkpoint keeps of the previous one, its fallback.
    retained: Vec<Extent>,
    /// The slot of the live superblock; the next one goes to the other.
    slot: u64,
    /// The highest sequence either slot held when opened, or the last one written.
    sequence_max: u64,
    /// The next checkpoint keeps no fallback: the live checkpoint was loaded as the fallback of
    /// a damaged one whose log was replayed after its own (the damaged one's superblock is all
    /// that links the two logs), or fsck repaired damage the previous state shares.
    no_fallback: bool,
    /// Where recovery continues after the loaded checkpoint's log: the damaged checkpoint's
    /// log (when `no_fallback`).
    continuation: Option<Continuation>,
    /// The log segments recovery read, kept for the fallback of the checkpoint it writes.
    recovered_segments: Vec<(u64, u32)>,
    /// What opening had to work around, one line each (for fsck and the mount's log).
    notes: Vec<String>,
    /// Room accounting.
    space: space::Space,
    /// Where replay stopped: segment and offset of the first invalid record, and its LSN.
    log_end: Option<((u64, u32, u64), u64)>,
    /// The lowest LSN the next checkpoint's log may start at: past every LSN that a session
    /// lost in a crash may have used since the checkpoints the image's slots name, so that
    /// none of its records can ever continue a later log (set when the image is opened).
    lsn_floor: u64,
    /// The other superblock slot names the fallback the live checkpoint retained (as opened).
    fallback_named: bool,
}

impl BlockSource for Journal {
    fn read_block(&self, addr: u64, crc: u32, out: &mut [u8; BLOCK_SIZE]) -> Result<()> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.get(addr, crc, out) {
            return Ok(());
        }
        self.storage
            .read_at(addr * BS, out)
            .map_err(|e| Error::io("reading file data", &e))?;
        verify_block(addr, crc, out)?;
        cache.insert(addr, crc, out);
        Ok(())
    }

    fn read_run(&self, addr: u64, crcs: &[u32], out: &mut [u8]) -> Result<()> {
        debug_assert_eq!(out.len(), crcs.len() * BLOCK_SIZE);
        self.storage
            .read_at(addr * BS, out)
            .map_err(|e| Error::io("reading file data", &e))?;
        for ((i, &crc), block) in crcs.iter().enumerate().zip(out.chunks_exact(BLOCK_SIZE)) {
            verify_block(addr + i as u64, crc, block)?;
        }
        Ok(())
    }

    fn view(&self, addr: u64, blocks: usize) -> Option<&[u8]> {
        let len = blocks.checked_mul(BLOCK_SIZE)?;
        // SAFETY: the journal is its storage's only writer (the engine hands the storage to
        // no one else), and every write goes through `&mut Journal`; the slice borrows the
        // journal shared, so nothing writes while it lives.
        unsafe { self.storage.view(addr.checked_mul(BS)?, len) }
    }
}

impl Journal {
    fn fail<T>(&mut self, e: Error) -> Result<T> {
        self.failed = true;
        Err(e)
    }

    /// Fails unless changes may be made: not read-only, no earlier I/O error.
    pub fn check_writable(&self) -> Result<()> {
        if self.read_only || self.failed {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// The storage under the image (for reading: the journal is its only writer).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// What the journal did since the image was opened.
    pub fn stats(&self) -> JournalStats {
        let mut s = self.stats;
        s.block_reads = self.cache.lock().map(|c| c.misses).unwrap_or(0);
        s
    }

    /// Mutable counters (recovery fills in what it did).
    pub(crate) fn stats_mut(&mut self) -> &mut JournalStats {
        &mut self.stats
    }

    /// The live superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// Whether a record was appended since the last sync or checkpoint.
    pub fn has_unsynced(&self) -> bool {
        self.stats.records != self.stats.records_synced
    }

    /// Whether anything was logged since the last checkpoint.
    pub fn has_changes(&self) -> bool {
        self.footprint > 0
    }

    /// Whether the image is open read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether a checkpoint should run now: the log since the last one is big enough to
    /// warrant one, or room is short and a checkpoint would free what deletes released.
    pub fn wants_checkpoint(&self) -> bool {
        !self.read_only
            && !self.failed
            && (self.footprint >= CHECKPOINT_FOOTPRINT_MIN.max(self.stats.checkpoint_bytes)
                || (self.footprint > 0 && self.wants_room())
                || self.log_records() >= LOG_RECORDS_MAX / 2)
    }

    /// Records (of every kind) in the log since the live checkpoint.
    fn log_records(&self) -> u64 {
        self.writer
            .as_ref()
            .map_or(0, |w| w.next_lsn().saturating_sub(self.sb.log_lsn))
    }

    /// Readies `op` for the log before the engine applies it: encodes it, and makes room for
    /// its record and for what it adds to the next checkpoint (see `space.rs`). Fails with
    /// `EROFS` when changes are refused, with `ENOSPC` when it does not fit; either way
    /// nothing changed (a checkpoint under pressure may have been written first).
    pub fn prepare(&mut self, op: &Op<'_>, ctx: &Ctx, ns: &mut Namespace, colls: &Collections) -> Result<()> {
        self.check_writable()?;
        // An operation adds at most three records (itself, a next-segment link, a padding).
        if self.log_records() + 3 >= LOG_RECORDS_MAX {
            self.checkpoint(ns, colls)?;
        }
        self.payload.clear();
        codec::encode_op(op, ctx, &mut self.payload);
        self.make_room(op, ns, colls)
    }

    /// Appends the operation [`Journal::prepare`] readied, after the engine applied it
    /// (buffered; durable after the next [`Journal::sync`]).
    pub fn append_prepared(&mut self, op: &Op<'_>) -> Result<()> {
        self.check_writable()?;
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::ReadOnly);
        };
        assert!(
            !w.needs_segment(self.payload.len()),
            "prepare allocates the segment a record needs"
        );
        // The pair prepare/append: the record is the operation that was applied (which the
        // engine validated, so it decodes within the limits replay applies).
        debug_assert!(
            codec::decode_op(&mut codec::Reader::new(&self.payload, 0, "prepared record"))
                .is_ok_and(|(decoded, _)| decoded == *op),
            "the prepared record is not the applied operation"
        );
        let touches_data = matches!(op, Op::Write { .. } | Op::Fallocate { .. } | Op::SetAttr { .. });
        self.footprint +=
            (self.payload.len() + log::HEADER_BYTES) as u64 + if touches_data { 2 * BS } else { 0 };
        self.stats.records += 1;
        if let Err(e) = w.append(&self.payload, &*self.storage, &mut self.alloc) {
            return self.fail(e);
        }
        self.account(op);
        Ok(())
    }

    /// Makes every appended operation durable.
    pub fn sync(&mut self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.check_writable()?;
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        // Canary for the simulator: acknowledge the sync without writing anything.
        if cfg!(feature = "canary-early-sync-ack") {
            return Ok(());
        }
        let r = w.flush_padded(&*self.storage).and_then(|()| {
            self.storage
                .sync()
                .map_err(|e| Error::io("syncing the image", &e))
        });
        if let Err(e) = r {
            return self.fail(e);
        }
        self.stats.syncs += 1;
        self.stats.records_synced = self.stats.records;
        Ok(())
    }
}
