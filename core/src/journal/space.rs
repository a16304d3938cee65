//! Room on the medium: what an image holds, what its next checkpoint needs, and which
//! operations may still run when the medium is nearly full.
//!
//! The rule (as on ext4: the write that does not fit fails with `ENOSPC`, and deleting still
//! works): an operation that can grow the image is admitted only if, after it, the room left
//! still holds a whole checkpoint of the state plus [`SPACE_RESERVE_BLOCKS`]; an operation that
//! frees space (unlink, rmdir, truncate, punch, removexattr, rename, chmod, ...) needs only room
//! for its log record, and may use that reserve. So a checkpoint is always possible, and
//! unmounting loses nothing. When room runs short the next checkpoint runs under *pressure*: it
//! gives up the fallback (the previous checkpoint) first and keeps none, so what deletes freed
//! becomes free space after one checkpoint.
//!
//! Every block the journal allocates is first *held* on the medium (`Storage::reserve`, a
//! `fallocate` for image files), so no later write inside the image fails for lack of space:
//! running out is noticed before anything is written, and then changes nothing.
//!
//! Estimates are upper bounds: the checkpoint size and dirty blocks of the last exact count
//! (a checkpoint, or [`checkpoint::size_bound`] when room is tight), plus what each operation
//! since can have added.

use super::checkpoint;
use super::log::LogWriter;
use super::{BS, Journal, Stop};
use crate::collections::Collections;
use crate::error::{Error, Result};
use crate::limits::{LOG_SEGMENT_BLOCKS_MIN, SPACE_RESERVE_BLOCKS};
use crate::namespace::{Block, Body, Namespace};
use crate::op::Op;
use crate::types::FallocMode;

/// Bytes an operation can add to the state's encoding beyond its own payload (an inode record,
/// a directory entry, graph links of a vector).
const OP_STATE_BYTES: u64 = 512;
/// Fewest blocks the image file grows by when it must grow, so that most allocations find the
/// room already held.
const HOLD_STEP_MIN_BLOCKS: u64 = 256;
/// Most blocks the image file grows by ahead of need.
const HOLD_STEP_MAX_BLOCKS: u64 = 16 * 1024;
/// A checkpoint refused for lack of room is tried again once the log has grown by this much.
const RETRY_FOOTPRINT_BYTES: u64 = 64 * 1024;

/// Whether an operation can make the image need more room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// It can add data or state (write, create, setxattr, ...).
    Grows,
    /// It adds at most a log record and a block: it removes, renames or changes metadata.
    Frees,
}

impl Growth {
    /// The class of `op`.
    pub fn of(op: &Op<'_>) -> Growth {
        match op {
            Op::Unlink { .. }
            | Op::Rmdir { .. }
            | Op::Rename { .. }
            | Op::SetAttr { .. }
            | Op::RemoveXattr { .. }
            | Op::Touch { .. }
            | Op::Release { .. }
            | Op::Fallocate {
                mode: FallocMode::PunchHole,
                ..
            } => Growth::Frees,
            Op::Mknod { .. }
            | Op::Symlink { .. }
            | Op::Link { .. }
            | Op::Write { .. }
            | Op::Fallocate { .. }
            | Op::SetXattr { .. } => Growth::Grows,
        }
    }
}

/// Upper bounds of what `op` adds: bytes of state encoding, and dirty blocks.
fn added(op: &Op<'_>, payload_bytes: usize) -> (u64, u64) {
    match op {
        Op::Write { data, .. } => {
            let blocks = (data.len() as u64).div_ceil(BS) + 1;
            (64 + 4 * blocks, blocks)
        }
        // Zeroing the partial block at either end of a range or at the new end of file.
        Op::Fallocate { .. } | Op::SetAttr { .. } => (64, 2),
        _ => (payload_bytes as u64 + OP_STATE_BYTES, 0),
    }
}

/// The journal's space accounting.
#[derive(Debug, Default)]
pub(super) struct Space {
    /// The image file's length in blocks: every block below it is held on the medium.
    pub(super) held_blocks: u64,
    /// Upper bound of the bytes the next checkpoint's state encodes to.
    state_bytes: u64,
    /// Upper bound of the dirty file blocks the next checkpoint writes back.
    dirty_blocks: u64,
    /// Whether the bounds were counted exactly since the last operation.
    pub(super) measured: bool,
    /// Room ran short: the next checkpoint gives up the fallback first and keeps none.
    pub(super) pressure: bool,
    /// The log's footprint when a checkpoint was last refused for lack of room.
    pub(super) refused_at_footprint: Option<u64>,
}

impl Space {
    /// The accounting of an image file that holds `held_blocks` blocks.
    pub(super) fn holding(held_blocks: u64) -> Space {
        Space {
            held_blocks,
            ..Space::default()
        }
    }

    /// After a checkpoint of `ckpt_bytes`: nothing is dirty, and room was found.
    pub(super) fn checkpointed(&mut self, ckpt_bytes: u64) {
        self.state_bytes = ckpt_bytes;
        self.dirty_blocks = 0;
        self.measured = true;
        self.pressure = false;
        self.refused_at_footprint = None;
    }

    /// Blocks of the log segment a checkpoint starts: a small one under pressure.
    pub(super) fn head_blocks(&self, segment_blocks: u32) -> u32 {
        if self.pressure {
            segment_blocks.clamp(LOG_SEGMENT_BLOCKS_MIN, 16)
        } else {
            segment_blocks
        }
    }

    /// Blocks a checkpoint of the state with `extra` (bytes, dirty blocks) added needs: for
    /// the state, for dirty blocks, and for the log segment it starts.
    fn checkpoint_parts(&self, extra: (u64, u64), segment_blocks: u32) -> (u64, u64, u64) {
        (
            (self.state_bytes + extra.0).div_ceil(BS).max(1),
            self.dirty_blocks + extra.1,
            u64::from(self.head_blocks(segment_blocks)),
        )
    }
}

/// Figures for `statfs`, in blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// The image's blocks plus what the medium can still give it.
    pub total_blocks: u64,
    /// Free blocks inside the image plus what the medium can still give it.
    pub free_blocks: u64,
    /// What new data can still take: free blocks less what the next checkpoint needs and the
    /// reserve kept for deletes.
    pub available_blocks: u64,
}

impl Journal {
    /// Blocks free inside the image or held past its used end: room that needs no growth.
    fn room_held(&self) -> u64 {
        self.alloc.free_blocks() + self.space.held_blocks.saturating_sub(self.alloc.end())
    }

    /// Blocks the medium can still add to the image (`u64::MAX / 4` when it cannot tell).
    fn room_medium(&self) -> u64 {
        self.storage.available().map_or(u64::MAX / 4, |b| b / BS)
    }

    /// Blocks retained for the fallback: free once a checkpoint runs under pressure.
    fn retained_blocks(&self) -> u64 {
        self.retained.iter().map(|e| e.blocks).sum()
    }

    /// `statfs` figures.
    pub fn room(&self) -> Room {
        let medium = self.room_medium();
        let free = self.room_held().saturating_add(medium);
        let (state, dirty, head) = self.space.checkpoint_parts((0, 0), self.segment_blocks);
        let need = (state + dirty + head).saturating_add(SPACE_RESERVE_BLOCKS);
        Room {
            total_blocks: self
                .space
                .held_blocks
                .max(self.alloc.end())
                .saturating_add(medium),
            free_blocks: free,
            available_blocks: free.saturating_sub(need),
        }
    }

    /// Makes room for `op`, whose payload the caller has encoded into `payload`, before it is
    /// applied: refuses it with `NoSpace` (nothing changed) when it does not fit under the
    /// rule of this module, and allocates, ahead, the log segment its record will need. May
    /// write a checkpoint under pressure first to free what deletes released.
    pub(super) fn make_room(&mut self, op: &Op<'_>, ns: &mut Namespace, colls: &Collections) -> Result<()> {
        let growth = Growth::of(op);
        if self.writer.is_none() {
            return Err(Error::ReadOnly);
        }
        let extra = added(op, self.payload.len());
        if !self.fits(growth, extra) {
            self.make_room_slowly(growth, extra, ns, colls)?;
        }
        if let Some(blocks) = self.record_segment() {
            let first = match self.alloc_blocks(u64::from(blocks)) {
                Ok(first) => first,
                Err(Stop::NoRoom) => return Err(Error::NoSpace),
                Err(Stop::Failed(e)) => return self.fail(e),
            };
            let w = self.writer.as_mut().expect("checked above");
            if let Some((b, n)) = w.set_next((first, blocks)) {
                self.alloc.release(b, u64::from(n));
            }
        }
        Ok(())
    }

    /// The blocks of the new log segment the prepared record needs, if it needs one.
    fn record_segment(&self) -> Option<u32> {
        let w = self.writer.as_ref()?;
        let len = self.payload.len();
        w.needs_segment(len).then(|| self.segment_for(len))
    }

    /// Blocks of the log segment a record of `len` payload bytes gets when its segment is
    /// full: the configured size, or only what the record needs when room is short.
    fn segment_for(&self, len: usize) -> u32 {
        let w = self.writer.as_ref().expect("a writable journal has a writer");
        if self.space.pressure {
            LogWriter::min_blocks_for(len).max(LOG_SEGMENT_BLOCKS_MIN)
        } else {
            w.blocks_for(len)
        }
    }

    /// Whether the rule admits an operation of class `growth` that adds `extra` to the state
    /// (and the log segment its record may need), with room as it is now (no checkpoint). Sets
    /// the pressure flag when room is short of a checkpoint and the reserve.
    ///
    /// A checkpoint and a log segment each need contiguous blocks, file data does not: the
    /// allocations of the record's segment, the checkpoint and its log segment must find room
    /// as the allocator would place them, and all the room together must take everything.
    fn fits(&mut self, growth: Growth, extra: (u64, u64)) -> bool {
        if self.fits_now(Growth::Grows, extra) {
            return true;
        }
        // Short of what a growing operation needs: the next checkpoint gives up the fallback
        // first (which counts as room), and logs and checkpoints start small segments. An
        // operation that frees space then checkpoints at once, so that what it freed is room.
        self.space.pressure = true;
        self.fits_now(growth, extra)
    }

    fn fits_now(&self, growth: Growth, extra: (u64, u64)) -> bool {
        let log = self.record_segment().map_or(0, u64::from);
        let (state, dirty, head) = self.space.checkpoint_parts(extra, self.segment_blocks);
        let contiguous = log + state + head;
        let total = contiguous + dirty + SPACE_RESERVE_BLOCKS;
        let beyond = self.space.held_blocks.saturating_sub(self.alloc.end());
        // Fast: everything fits in the free tail and what the file already holds past it.
        let tail = self.alloc.tail_free() + beyond;
        if tail >= total {
            return true;
        }
        let medium = self.room_medium();
        let fallback = if self.space.pressure {
            self.retained_blocks()
        } else {
            0
        };
        let free = (self.alloc.free_blocks() + beyond)
            .saturating_add(medium)
            .saturating_add(fallback);
        let growth_room = beyond.saturating_add(medium);
        match growth {
            Growth::Frees => self.alloc.can_place(&[log], growth_room),
            Growth::Grows => free >= total && self.alloc.can_place(&[log, state, head], growth_room),
        }
    }

    /// The slow path of [`Journal::make_room`]: count the checkpoint's needs exactly, then,
    /// if that is not enough, checkpoint under pressure (which frees what deletes released and
    /// the fallback) and look again.
    #[inline(never)]
    fn make_room_slowly(
        &mut self,
        growth: Growth,
        extra: (u64, u64),
        ns: &mut Namespace,
        colls: &Collections,
    ) -> Result<()> {
        self.space.pressure = true;
        if !self.space.measured {
            self.measure(ns, colls);
            if self.fits(growth, extra) {
                return Ok(());
            }
        }
        if self.has_changes() {
            match self.checkpoint(ns, colls) {
                Ok(()) | Err(Error::NoSpace) => {}
                Err(e) => return Err(e),
            }
            self.space.pressure = true;
            if self.fits(growth, extra) {
                return Ok(());
            }
        }
        self.stats.nospace_refusals += 1;
        Err(Error::NoSpace)
    }

    /// Counts the next checkpoint's needs exactly (an upper bound without the write-back).
    fn measure(&mut self, ns: &Namespace, colls: &Collections) {
        let log_segments = self.writer.as_ref().map_or(0, |w| w.segments().len());
        // The fallback a checkpoint would keep: its checkpoint, log and data runs.
        let retained = 1 + log_segments + self.live_data.len();
        self.space.state_bytes = checkpoint::size_bound(ns, colls, retained);
        self.space.dirty_blocks = ns
            .iter()
            .filter_map(|(_, n)| match &n.body {
                Body::Regular(f) => {
                    Some(f.blocks().filter(|(_, b)| matches!(b, Block::Mem(_))).count() as u64)
                }
                _ => None,
            })
            .sum();
        self.space.measured = true;
    }

    /// Counts what an appended operation can have added to the next checkpoint.
    pub(super) fn account(&mut self, op: &Op<'_>) {
        let (bytes, blocks) = added(op, self.payload.len());
        if Growth::of(op) == Growth::Grows || blocks > 0 {
            self.space.state_bytes += bytes;
            self.space.dirty_blocks += blocks;
        }
        self.space.measured = false;
    }

    /// Whether room is short enough that a checkpoint should run now to free space (and was
    /// not refused for lack of room since the log last grew by a little).
    pub(super) fn wants_room(&self) -> bool {
        self.space.pressure
            && self
                .space
                .refused_at_footprint
                .is_none_or(|at| self.footprint >= at + RETRY_FOOTPRINT_BYTES)
    }

    /// `n` contiguous blocks, held on the medium before they are handed out.
    pub(super) fn alloc_blocks(&mut self, n: u64) -> Result<u64, Stop> {
        let first = self.alloc.alloc(n);
        // What this run needs held (every block allocated before it is): not the allocator's
        // end, which a failed attempt's released tail may still push past the medium's room.
        if let Err(e) = self.hold(first + n) {
            self.alloc.release(first, n);
            return Err(e);
        }
        Ok(first)
    }

    /// Up to `n` contiguous blocks (see [`Alloc::alloc_upto`](super::alloc::Alloc::alloc_upto)),
    /// held on the medium before they are handed out.
    pub(super) fn alloc_blocks_upto(&mut self, n: u64) -> Result<(u64, u64), Stop> {
        let (first, got) = self.alloc.alloc_upto(n);
        if let Err(e) = self.hold(first + got) {
            self.alloc.release(first, got);
            return Err(e);
        }
        Ok((first, got))
    }

    /// Makes the image file hold at least `end_blocks` blocks on the medium, growing it by a
    /// step ahead of need when the medium has room for that.
    fn hold(&mut self, end_blocks: u64) -> Result<(), Stop> {
        if end_blocks <= self.space.held_blocks {
            return Ok(());
        }
        let step = (self.space.held_blocks / 8).clamp(HOLD_STEP_MIN_BLOCKS, HOLD_STEP_MAX_BLOCKS);
        for target in [end_blocks + step, end_blocks] {
            match self.storage.reserve(target * BS) {
                Ok(()) => {
                    self.space.held_blocks = target;
                    return Ok(());
                }
                Err(e) if matches!(Error::io("", &e), Error::NoSpace) => {}
                Err(e) => return Err(Stop::Failed(Error::io("growing the image", &e))),
            }
        }
        Err(Stop::NoRoom)
    }
}
