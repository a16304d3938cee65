//! The image's layout as a set of extents, and the checks fsck and `check()` run over it.
//!
//! Every block of an image is either free space or part of exactly one durable structure: the
//! superblock slots, the live checkpoint, the log segments after it, file data the live
//! checkpoint references, or (when the previous checkpoint is kept as a fallback) that
//! checkpoint, its log and the file data only it references. [`Journal::extents`] lists them;
//! [`Journal::layout_problems`] checks that they never overlap, that none is free space, and
//! that every on-disk file block is the live checkpoint's (or was written back by a checkpoint
//! that ran out of space, and is held until the next one). [`Journal::verify_structure`] and
//! [`Journal::verify_data`] are fsck's reads of the structures themselves.

use super::{BS, Journal, log, superblock::Superblock};
use crate::limits::BLOCK_SIZE;
use crate::namespace::{Block, BlockSource, Body, Namespace};
use crate::types::Ino;

/// What an extent of the image holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExtentKind {
    /// Blocks 0 and 1: the two superblock slots.
    Superblocks,
    /// The live checkpoint.
    Checkpoint,
    /// A segment of the log after the live checkpoint (or allocated ahead for it).
    LogSegment,
    /// File data the live checkpoint references.
    CheckpointData,
    /// The previous checkpoint, kept as a fallback until the next one is durable.
    FallbackCheckpoint,
    /// A segment of the log after the previous checkpoint.
    FallbackLog,
    /// File data only the previous checkpoint references.
    FallbackData,
}

impl ExtentKind {
    /// Lower-case description, for problem reports.
    pub fn name(self) -> &'static str {
        match self {
            ExtentKind::Superblocks => "superblocks",
            ExtentKind::Checkpoint => "checkpoint",
            ExtentKind::LogSegment => "log segment",
            ExtentKind::CheckpointData => "file data",
            ExtentKind::FallbackCheckpoint => "previous checkpoint",
            ExtentKind::FallbackLog => "previous checkpoint's log segment",
            ExtentKind::FallbackData => "previous checkpoint's file data",
        }
    }

    /// Whether the extent belongs to the fallback (the previous checkpoint).
    pub fn is_fallback(self) -> bool {
        self.retained_code().is_some()
    }

    /// The code a checkpoint stores for a retained extent of this kind (docs/format.md §5).
    pub(super) fn retained_code(self) -> Option<u8> {
        match self {
            ExtentKind::FallbackCheckpoint => Some(1),
            ExtentKind::FallbackLog => Some(2),
            ExtentKind::FallbackData => Some(3),
            _ => None,
        }
    }

    pub(super) fn from_retained_code(code: u8) -> Option<ExtentKind> {
        match code {
            1 => Some(ExtentKind::FallbackCheckpoint),
            2 => Some(ExtentKind::FallbackLog),
            3 => Some(ExtentKind::FallbackData),
            _ => None,
        }
    }
}

/// A run of image blocks that a durable structure occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Extent {
    /// First block.
    pub first_block: u64,
    /// Length in blocks (at least 1).
    pub blocks: u64,
    /// What it holds.
    pub kind: ExtentKind,
}

impl Extent {
    /// The extent of `blocks` blocks from `first_block`.
    pub fn new(first_block: u64, blocks: u64, kind: ExtentKind) -> Extent {
        Extent {
            first_block,
            blocks,
            kind,
        }
    }

    fn end(&self) -> u64 {
        self.first_block + self.blocks
    }
}

/// A file block whose bytes fail their checksum or lie outside the image (fsck).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedBlock {
    /// The file.
    pub ino: Ino,
    /// The block's index in the file.
    pub index: u64,
    /// What is wrong, one line.
    pub problem: String,
}

impl Journal {
    /// Every extent the image's durable structures occupy: what recovery may read. Free space
    /// is everything else (and blocks a checkpoint wrote back before it ran out of space,
    /// which no durable structure references yet).
    pub fn extents(&self) -> Vec<Extent> {
        let mut out = vec![Extent::new(0, 2, ExtentKind::Superblocks)];
        let mut push = |first: u64, blocks: u64, kind| {
            if blocks > 0 {
                out.push(Extent::new(first, blocks, kind));
            }
        };
        push(
            self.sb.checkpoint_block,
            self.sb.checkpoint_bytes.div_ceil(BS),
            ExtentKind::Checkpoint,
        );
        match &self.writer {
            Some(w) if !w.segments().is_empty() => {
                for &(b, n) in w.segments().iter().chain(w.next_segment().iter()) {
                    push(b, u64::from(n), ExtentKind::LogSegment);
                }
            }
            _ => {
                for &(b, n) in &self.recovered_segments {
                    push(b, u64::from(n), ExtentKind::LogSegment);
                }
            }
        }
        for &(b, n) in &self.live_data {
            push(b, n, ExtentKind::CheckpointData);
        }
        for e in &self.retained {
            push(e.first_block, e.blocks, e.kind);
        }
        out
    }

    /// The layout's invariants (for `check` and fsck): durable extents never overlap one
    /// another and none includes free space; every on-disk block of the current state belongs
    /// to exactly one file and is file data of the live checkpoint (blocks reach the image only
    /// through a checkpoint), or was written back by a checkpoint that ran out of space.
    pub fn layout_problems(&self, ns: &Namespace) -> Vec<String> {
        let mut problems = Vec::new();
        let mut extents = self.extents();
        extents.sort_unstable();
        for w in extents.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.end() > b.first_block {
                problems.push(format!(
                    "{} at blocks {}..{} overlaps {} at blocks {}..{}",
                    a.kind.name(),
                    a.first_block,
                    a.end(),
                    b.kind.name(),
                    b.first_block,
                    b.end()
                ));
            }
        }
        let unreferenced = self
            .unreferenced_data
            .iter()
            .map(|&(b, n)| Extent::new(b, n, ExtentKind::CheckpointData));
        for e in extents.iter().copied().chain(unreferenced) {
            if let Some(free) = self.alloc.first_free_in(e.first_block, e.blocks) {
                problems.push(format!(
                    "{} at blocks {}..{} includes free block {free}",
                    e.kind.name(),
                    e.first_block,
                    e.end()
                ));
            }
        }
        let mut data: Vec<(u64, u64)> = self
            .live_data
            .iter()
            .chain(self.unreferenced_data.iter())
            .copied()
            .collect();
        data.sort_unstable();
        let in_data = |addr: u64| {
            let i = data.partition_point(|&(s, _)| s <= addr);
            i > 0 && addr < data[i - 1].0 + data[i - 1].1
        };
        let mut owner = std::collections::BTreeMap::new();
        for (ino, node) in ns.iter() {
            let Body::Regular(f) = &node.body else { continue };
            for (idx, b) in f.blocks() {
                let Block::Disk { addr, .. } = *b else { continue };
                if let Some(other) = owner.insert(addr, ino) {
                    problems.push(format!("block {addr} belongs to inodes {other} and {ino}"));
                }
                if !in_data(addr) {
                    problems.push(format!(
                        "inode {ino} block {idx} at image block {addr} is not file data of the live checkpoint"
                    ));
                }
            }
        }
        problems
    }

    /// Problems with the image's own structures that opening tolerated (for fsck): damaged
    /// superblock slots, a damaged checkpoint recovered through the previous one, a log damaged
    /// before its end (a valid record after the point where replay stopped, which a torn tail
    /// cannot explain). Whether the fallback is usable is [`Journal::verify_fallback`]'s.
    pub fn verify_structure(&self) -> Vec<String> {
        let mut problems = self.recovery_notes();
        if let Some(((block, blocks, pos), lsn)) = self.log_end {
            match log::later_record(&*self.storage, (block, blocks), pos, lsn) {
                Ok(Some((at, later))) => problems.push(format!(
                    "log damaged at byte {}: replay stopped at record {lsn} but record {later} follows at byte {at}; operations after {} were lost",
                    block * BS + pos,
                    lsn - 1
                )),
                Ok(None) => {}
                Err(e) => problems.push(format!("log unreadable: {e}")),
            }
        }
        problems
    }

    /// Checks that the previous checkpoint, if one is kept, would recover the live state: its
    /// superblock slot is intact and names the retained checkpoint, which decodes (checksum and
    /// structure), the file data only it references is intact, and its log replays (records
    /// checked, not applied) to where the live checkpoint starts. `Some(why)` when it would
    /// not. Called by fsck on its own, not through [`Journal::verify_structure`]: it decodes a
    /// checkpoint, so every frame above that is kept small.
    pub fn verify_fallback(&self) -> Option<String> {
        let sb = match self.fallback_superblock() {
            Ok(Some(sb)) => sb,
            Ok(None) => return None,
            Err(why) => return Some(why),
        };
        self.verify_fallback_data(&sb)
            .or_else(|| self.verify_fallback_log(&sb))
            .map(|why| {
                format!(
                    "the previous checkpoint, kept as a fallback, is not usable ({why}); the next checkpoint replaces it"
                )
            })
    }

    /// The superblock of the fallback, if one is kept, checked against what the live
    /// checkpoint retained.
    #[inline(never)]
    fn fallback_superblock(&self) -> std::result::Result<Option<Superblock>, String> {
        let unusable = |why: String| {
            format!(
                "the previous checkpoint, kept as a fallback, is not usable ({why}); the next checkpoint replaces it"
            )
        };
        let Some(ckpt) = self
            .retained
            .iter()
            .find(|e| e.kind == ExtentKind::FallbackCheckpoint)
        else {
            return Ok(None);
        };
        let image_bytes = self.storage.len().map_err(|e| unusable(e.to_string()))?;
        let other = 1 - self.slot;
        let mut slot = vec![0u8; BLOCK_SIZE];
        self.storage
            .read_at(other * BS, &mut slot)
            .map_err(|e| unusable(format!("superblock slot {other}: {e}")))?;
        if super::superblock::is_released(&slot) {
            // Given up for room by a checkpoint that did not complete.
            return Ok(None);
        }
        let sb = Superblock::decode(&slot, other, image_bytes).map_err(|e| unusable(e.to_string()))?;
        if sb.checkpoint_block != ckpt.first_block || sb.checkpoint_bytes.div_ceil(BS) != ckpt.blocks {
            return Err(unusable(format!(
                "superblock slot {other} names another checkpoint"
            )));
        }
        Ok(Some(sb))
    }

    /// Decodes the fallback's checkpoint (`sb`) and checks the file data only it references.
    #[inline(never)]
    fn verify_fallback_data(&self, sb: &Superblock) -> Option<String> {
        let image_bytes = self.storage.len().ok()?;
        match super::load(&*self.storage, sb, image_bytes) {
            Ok(old) => self.fallback_data_problem(&old.ns),
            Err(e) => Some(e.to_string()),
        }
    }

    /// The first block of file data only the fallback references (in its namespace `ns`)
    /// that fails its checksum.
    #[inline(never)]
    fn fallback_data_problem(&self, ns: &Namespace) -> Option<String> {
        let mut only: Vec<(u64, u64)> = self
            .retained
            .iter()
            .filter(|e| e.kind == ExtentKind::FallbackData)
            .map(|e| (e.first_block, e.blocks))
            .collect();
        only.sort_unstable();
        let mut buf = Box::new([0u8; BLOCK_SIZE]);
        for (ino, node) in ns.iter() {
            let Body::Regular(f) = &node.body else { continue };
            for (index, b) in f.blocks() {
                let Block::Disk { addr, crc } = *b else { continue };
                let i = only.partition_point(|&(s, _)| s <= addr);
                if i > 0
                    && addr < only[i - 1].0 + only[i - 1].1
                    && let Err(e) = self.read_block(addr, crc, &mut buf)
                {
                    return Some(format!("inode {ino} block {index} of its file data: {e}"));
                }
            }
        }
        None
    }

    /// Whether the fallback's log replays to where the live checkpoint starts.
    #[inline(never)]
    fn verify_fallback_log(&self, sb: &Superblock) -> Option<String> {
        match log::replay(
            &*self.storage,
            (sb.log_block, sb.log_blocks),
            sb.log_lsn,
            |_, _| Ok(()),
        ) {
            Ok(r) if r.next_lsn == self.sb.next_lsn => None,
            Ok(r) => Some(format!(
                "its log ends at record {} but the live checkpoint holds the state up to record {}",
                r.next_lsn, self.sb.next_lsn
            )),
            Err(e) => Some(e.to_string()),
        }
    }

    /// Every on-disk file block read and checked against its checksum (for fsck; placement is
    /// [`Journal::layout_problems`]'s).
    pub fn verify_data(&self, ns: &Namespace) -> Vec<DamagedBlock> {
        let mut out = Vec::new();
        let image_blocks = self.storage.len().map(|l| l.div_ceil(BS)).unwrap_or(0);
        // On the heap: a block on the stack would take 4 KiB of fsck's stack budget.
        let mut buf = Box::new([0u8; BLOCK_SIZE]);
        for (ino, node) in ns.iter() {
            let Body::Regular(f) = &node.body else { continue };
            for (index, b) in f.blocks() {
                let Block::Disk { addr, crc } = *b else { continue };
                let problem = if addr < 2 || addr >= image_blocks {
                    format!("points outside the image ({addr})")
                } else if let Err(e) = self.read_block(addr, crc, &mut buf) {
                    match log::record_at_start(&buf[..]) {
                        Some(lsn) => format!("{e} (it holds log record {lsn}: the log overwrote it)"),
                        None => e.to_string(),
                    }
                } else {
                    continue;
                };
                out.push(DamagedBlock { ino, index, problem });
            }
        }
        out
    }
}
