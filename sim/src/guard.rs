//! [`Guard`]: the oracle that no durable block is ever overwritten by anything else.
//!
//! The guard lives inside the simulated disk and sees every write and length change before it
//! reaches the medium. It holds the byte ranges that a recovery from the durable image may read
//! and that therefore nothing may write again while they are durable:
//! - the live superblock slot (the valid slot with the highest sequence; the other slot is the
//!   one the next checkpoint writes);
//! - the live checkpoint and the file data it references, and the retained fallback (previous
//!   checkpoint, its log and the data only it references), as the engine reports them
//!   ([`vexfs_core::Engine::image_extents`]);
//! - the durable part of the live log: every record that a replay from the live superblock
//!   reads (whole segments the log passed through, and the prefix of the segment it ends in),
//!   found by replaying the durable bytes — what recovery would read, not what the engine
//!   believes it wrote.
//!
//! At each refresh the engine's live checkpoint must also be the one the durable superblock
//! names (an engine that believes in a checkpoint that is not durable would free the wrong
//! blocks).
//!
//! The world refreshes the set ([`Guard::refresh`]) after every durability point: a completed
//! sync or checkpoint, a recovery, and any operation during which the engine checkpointed on
//! its own. Between refreshes the set can only shrink, from what the disk sees become durable
//! ([`Guard::durable_changed`], at every storage sync and crash): when a new superblock becomes
//! live, only that slot stays protected until the next refresh (the engine is then free to
//! reuse what the previous state alone held); when the fallback's slot is marked released, the
//! fallback's extents are dropped. The guard therefore never reports a write that the durable
//! state allows, and it reports every write into what that state needs, at the latest when the
//! operation that made it ends.
//!
//! Invariants: ranges are sorted by start and never overlap; the first violation is kept (later
//! ones are usually its consequences) until the world takes it.

use vexfs_core::journal::log;
use vexfs_core::journal::superblock::{self, Superblock};
use vexfs_core::journal::{Extent, ExtentKind};
use vexfs_core::limits::BLOCK_SIZE;
use vexfs_core::storage::Storage;

const BS: u64 = BLOCK_SIZE as u64;

/// What a protected range holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The live superblock slot.
    LiveSuperblock,
    /// An extent the engine reported.
    Extent(ExtentKind),
    /// Durable records of the live log (replayed from the durable image).
    DurableLog,
}

impl Held {
    fn name(self) -> &'static str {
        match self {
            Held::LiveSuperblock => "the live superblock slot",
            Held::Extent(k) => k.name(),
            Held::DurableLog => "durable log records",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
    held: Held,
}

/// Where a replay of the live log resumes: the log's root (its first segment and LSN, from the
/// live superblock), the segments passed whole, and the segment it ended in with the LSN of
/// that segment's first record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogCursor {
    root: (u64, u64),
    passed: Vec<(u64, u32)>,
    last: ((u64, u32), u64),
}

/// Counters of the guard's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Refreshes from the engine's extents.
    pub refreshes: u64,
    /// Writes and length changes checked against a non-empty protected set.
    pub checked: u64,
    /// Most bytes protected at once.
    pub protected_bytes_max: u64,
}

/// The durable-extent oracle (see the module documentation).
#[derive(Debug, Default)]
pub struct Guard {
    enabled: bool,
    ranges: Vec<Range>,
    live_slot: Option<(u64, u64)>,
    /// The live superblock itself (what a log restart must keep).
    live_sb: Option<Superblock>,
    cursor: Option<LogCursor>,
    violation: Option<String>,
    /// Counters.
    pub stats: GuardStats,
}

/// A read-only [`Storage`] over image bytes, for replaying the durable log.
#[derive(Debug)]
struct Bytes<'a>(&'a [u8]);

impl Storage for Bytes<'_> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start =
            usize::try_from(offset).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.0.get(start..end))
            .ok_or(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_at(&self, _: u64, _: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
    }

    fn sync(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn len(&self) -> std::io::Result<u64> {
        Ok(self.0.len() as u64)
    }

    fn set_len(&self, _: u64) -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
    }
}

/// The live superblock of `bytes`: its slot and decoded contents (the valid slot with the
/// highest sequence).
fn live_superblock(bytes: &[u8]) -> Option<(u64, Superblock)> {
    let len = bytes.len() as u64;
    (0..2u64)
        .filter_map(|slot| {
            let b = bytes.get((slot * BS) as usize..((slot + 1) * BS) as usize)?;
            Superblock::decode(b, slot, len).ok().map(|sb| (slot, sb))
        })
        .max_by_key(|(_, sb)| sb.sequence)
}

fn slot_released(bytes: &[u8], slot: u64) -> bool {
    bytes
        .get((slot * BS) as usize..((slot + 1) * BS) as usize)
        .is_some_and(superblock::is_released)
}

impl Guard {
    /// Forgets everything and stops checking (a fresh image, or damage the world injected).
    pub fn disable(&mut self) {
        self.enabled = false;
        self.ranges.clear();
        self.live_slot = None;
        self.live_sb = None;
        self.cursor = None;
    }

    /// Whether the guard is checking.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The first violation since the last call.
    pub fn take_violation(&mut self) -> Option<String> {
        self.violation.take()
    }

    /// Rebuilds the protected set from the engine's `extents` and the `durable` image bytes,
    /// and starts checking.
    pub fn refresh(&mut self, extents: &[Extent], durable: &[u8]) {
        self.enabled = true;
        self.stats.refreshes += 1;
        self.ranges.clear();
        let live = live_superblock(durable);
        self.live_slot = live.map(|(slot, sb)| (slot, sb.sequence));
        self.live_sb = live.map(|(_, sb)| sb);
        if let Some((slot, _)) = live {
            self.push(slot * BS, (slot + 1) * BS, Held::LiveSuperblock);
        }
        for e in extents {
            let protect = matches!(
                e.kind,
                ExtentKind::Checkpoint
                    | ExtentKind::CheckpointData
                    | ExtentKind::FallbackCheckpoint
                    | ExtentKind::FallbackLog
                    | ExtentKind::FallbackData
            );
            if protect {
                self.push(
                    e.first_block * BS,
                    (e.first_block + e.blocks) * BS,
                    Held::Extent(e.kind),
                );
            }
        }
        // The engine's live checkpoint must be the one the durable superblock names.
        if let Some((_, sb)) = live {
            let named = (sb.checkpoint_block, sb.checkpoint_bytes.div_ceil(BS));
            let reported: Vec<(u64, u64)> = extents
                .iter()
                .filter(|e| e.kind == ExtentKind::Checkpoint)
                .map(|e| (e.first_block, e.blocks))
                .collect();
            if reported != [named] {
                self.violation.get_or_insert(format!(
                    "the engine reports its live checkpoint at {reported:?} (first block, blocks) but the durable superblock names {named:?}"
                ));
            }
        }
        if let Some((_, sb)) = live {
            for (start, end) in self.durable_log(&sb, durable) {
                self.push(start, end, Held::DurableLog);
            }
        }
        self.normalize();
    }

    /// Byte ranges of the durable records of the log `sb` starts, replaying from where the
    /// last replay of the same log ended.
    fn durable_log(&mut self, sb: &Superblock, durable: &[u8]) -> Vec<(u64, u64)> {
        let root = (sb.log_block, sb.log_lsn);
        let mut cursor = match self.cursor.take() {
            Some(c) if c.root == root => c,
            _ => LogCursor {
                root,
                passed: Vec::new(),
                last: ((sb.log_block, sb.log_blocks), sb.log_lsn),
            },
        };
        let ((seg, lsn), storage) = (cursor.last, Bytes(durable));
        let mut out: Vec<(u64, u64)> = Vec::new();
        match log::replay(&storage, seg, lsn, |_, _| Ok(())) {
            Ok(r) => {
                let (end_block, end_blocks, end_pos) = r.end;
                for &s in &r.segments {
                    if s != (end_block, end_blocks) {
                        cursor.passed.push(s);
                    }
                }
                // The LSN of the first record of the segment the log ends in: the next one if
                // that segment holds none yet, else its first record's.
                let first_lsn = if end_pos == 0 {
                    r.next_lsn
                } else {
                    let at = (end_block * BS) as usize;
                    durable
                        .get(at + 8..at + 16)
                        .map_or(r.next_lsn, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                };
                cursor.last = ((end_block, end_blocks), first_lsn);
                if end_pos > 0 {
                    out.push((end_block * BS, end_block * BS + end_pos));
                }
            }
            Err(_) => {
                // Unreadable (cannot happen on bytes in memory): protect what was known.
            }
        }
        out.extend(
            cursor
                .passed
                .iter()
                .map(|&(b, n)| (b * BS, (b + u64::from(n)) * BS)),
        );
        self.cursor = Some(cursor);
        out
    }

    fn push(&mut self, start: u64, end: u64, held: Held) {
        if end > start {
            self.ranges.push(Range { start, end, held });
        }
    }

    /// Sorts the ranges and merges overlapping ones (the engine's own overlap check is
    /// `check()`'s; here only coverage matters, and the first holder names the range).
    fn normalize(&mut self) {
        self.ranges.sort_by_key(|r| (r.start, r.end));
        let mut out: Vec<Range> = Vec::with_capacity(self.ranges.len());
        for r in self.ranges.drain(..) {
            match out.last_mut() {
                Some(last) if r.start < last.end => last.end = last.end.max(r.end),
                _ => out.push(r),
            }
        }
        self.ranges = out;
        let bytes: u64 = self.ranges.iter().map(|r| r.end - r.start).sum();
        self.stats.protected_bytes_max = self.stats.protected_bytes_max.max(bytes);
    }

    /// The durable bytes changed (a storage sync, or a crash): shrinks the protected set to
    /// what the new durable state still needs, as far as the disk can tell without the engine.
    pub fn durable_changed(&mut self, durable: &[u8]) {
        if !self.enabled {
            return;
        }
        let live_sb = live_superblock(durable);
        let live = live_sb.map(|(slot, sb)| (slot, sb.sequence));
        self.live_sb = live_sb.map(|(_, sb)| sb);
        if live != self.live_slot {
            // A new checkpoint is live: what only the previous state held may be reused.
            // Keep only the new live slot until the world refreshes.
            self.ranges.clear();
            self.cursor = None;
            self.live_slot = live;
            if let Some((slot, _)) = live {
                self.push(slot * BS, (slot + 1) * BS, Held::LiveSuperblock);
            }
            return;
        }
        if let Some((slot, _)) = live
            && slot_released(durable, 1 - slot)
        {
            // The fallback was given up for room, durably: its blocks may be reused.
            self.ranges
                .retain(|r| !matches!(r.held, Held::Extent(k) if k.is_fallback()));
        }
    }

    /// Whether `data`, written at `offset`, is a log restart (docs/format.md §4.4): the live
    /// slot rewritten in place with a higher sequence, naming the same checkpoint, head segment
    /// and state, the head's LSN raised. The only write into the live slot the format allows.
    fn restarts_log(&self, offset: u64, data: &[u8]) -> bool {
        let (Some((slot, _)), Some(live)) = (self.live_slot, self.live_sb) else {
            return false;
        };
        offset == slot * BS
            && data.len() as u64 == BS
            && Superblock::decode(data, slot, u64::MAX).is_ok_and(|sb| {
                sb.sequence > live.sequence
                    && (sb.checkpoint_block, sb.checkpoint_bytes, sb.checkpoint_crc)
                        == (live.checkpoint_block, live.checkpoint_bytes, live.checkpoint_crc)
                    && (sb.log_block, sb.log_blocks, sb.next_lsn)
                        == (live.log_block, live.log_blocks, live.next_lsn)
                    && sb.log_lsn > live.log_lsn
            })
    }

    /// Checks a write of `data` at `offset` that may reach the medium.
    pub fn check_write(&mut self, offset: u64, data: &[u8]) {
        let len = data.len() as u64;
        if !self.enabled || self.ranges.is_empty() || len == 0 || self.restarts_log(offset, data) {
            return;
        }
        self.stats.checked += 1;
        let end = offset + len;
        let i = self.ranges.partition_point(|r| r.end <= offset);
        if let Some(r) = self.ranges.get(i)
            && r.start < end
        {
            let what = format!(
                "a write of {len} bytes at byte {offset} (blocks {}..{}) overwrites {} at blocks {}..{} (bytes {}..{}), durable since the last durability point",
                offset / BS,
                end.div_ceil(BS),
                r.held.name(),
                r.start / BS,
                r.end.div_ceil(BS),
                r.start,
                r.end
            );
            self.violation.get_or_insert(what);
        }
    }

    /// Checks a change of the image's length to `len`.
    pub fn check_set_len(&mut self, len: u64) {
        if !self.enabled || self.ranges.is_empty() {
            return;
        }
        self.stats.checked += 1;
        if let Some(r) = self.ranges.iter().find(|r| r.end > len) {
            let what = format!(
                "cutting the image to {len} bytes drops {} at blocks {}..{}",
                r.held.name(),
                r.start / BS,
                r.end.div_ceil(BS)
            );
            self.violation.get_or_insert(what);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn zeros(n: u64) -> Vec<u8> {
        vec![0; n as usize]
    }

    #[test]
    fn writes_into_protected_extents_are_reported_once_taken() {
        let mut g = Guard::default();
        g.check_write(0, &zeros(10));
        assert!(g.take_violation().is_none(), "a disabled guard checks nothing");
        let extents = [
            Extent::new(4, 2, ExtentKind::Checkpoint),
            Extent::new(9, 1, ExtentKind::CheckpointData),
            Extent::new(12, 8, ExtentKind::LogSegment),
        ];
        g.refresh(&extents, &[0u8; 64 * BLOCK_SIZE]);
        g.check_write(2 * BS, &zeros(2 * BS));
        g.check_write(6 * BS, &zeros(3 * BS));
        g.check_write(12 * BS, &zeros(BS));
        assert!(
            g.take_violation().is_none(),
            "free space and an empty log segment are writable"
        );
        g.check_write(9 * BS + 100, &zeros(1));
        let v = g.take_violation().unwrap();
        assert!(v.contains("file data at blocks 9..10"), "{v}");
        g.check_write(5 * BS - 1, &zeros(2));
        assert!(g.take_violation().unwrap().contains("checkpoint"));
        g.check_set_len(8 * BS);
        assert!(g.take_violation().unwrap().contains("cutting the image"));
        g.disable();
        g.check_write(9 * BS, &zeros(1));
        assert!(g.take_violation().is_none());
    }
}
