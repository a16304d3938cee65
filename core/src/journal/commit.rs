//! Writing a checkpoint (docs/format.md §6): dirty file blocks, then the state, then a fresh
//! log segment; sync; then the superblock in the other slot; sync; then the allocator is rebuilt
//! from what the new state, and the fallback it keeps, reference.
//!
//! The previous checkpoint is kept whole as a fallback (its blocks, its log and the file data
//! only it references are listed in the new checkpoint as retained extents) until the next one
//! is durable, so that one damaged block of the live checkpoint or superblock never loses the
//! image. Under space pressure the fallback is given up first and none is kept.
//!
//! Every block a checkpoint writes is allocated, and held on the medium, before anything is
//! written: running out of room abandons the checkpoint with nothing durable changed and the
//! journal still usable (the log holds every operation). Blocks written back before the room ran
//! out stay the files' (held in `unreferenced_data`) until a checkpoint references them. Any
//! other failure is an I/O error and fails the journal.

use super::alloc::Alloc;
use super::checkpoint;
use super::codec::Put;
use super::layout::{Extent, ExtentKind};
use super::log::LogWriter;
use super::superblock::Superblock;
use super::{BS, Journal, Stop};
use crate::collections::Collections;
use crate::error::{Error, Result};
use crate::limits::BLOCK_SIZE;
use crate::namespace::{Block, Body, Namespace};
use crate::storage::Storage;

/// Writes a checkpoint as a stream: buffered, checksummed, written sequentially at `offset`.
struct StreamSink<'s> {
    storage: &'s dyn Storage,
    offset: u64,
    buf: Vec<u8>,
    crc: u32,
    error: Option<std::io::Error>,
}

impl StreamSink<'_> {
    const CHUNK: usize = 4 * 1024 * 1024;

    fn spill(&mut self) {
        if self.error.is_none() && !self.buf.is_empty() {
            self.crc = crc32c::crc32c_append(self.crc, &self.buf);
            if let Err(e) = self.storage.write_at(self.offset, &self.buf) {
                self.error = Some(e);
            }
            self.offset += self.buf.len() as u64;
        }
        self.buf.clear();
    }

    fn reserve(&mut self, n: usize) {
        if self.buf.len() + n > Self::CHUNK {
            self.spill();
        }
    }
}

impl Put for StreamSink<'_> {
    fn put_u8(&mut self, v: u8) {
        self.reserve(1);
        self.buf.put_u8(v);
    }
    fn put_u32(&mut self, v: u32) {
        self.reserve(4);
        self.buf.put_u32(v);
    }
    fn put_u64(&mut self, v: u64) {
        self.reserve(8);
        self.buf.put_u64(v);
    }
    fn put_i64(&mut self, v: i64) {
        self.reserve(8);
        self.buf.put_i64(v);
    }
    fn put_bytes(&mut self, v: &[u8]) {
        self.put_u32(u32::try_from(v.len()).expect("encoded strings are bounded by the limits"));
        self.put_raw(v);
    }
    fn put_raw(&mut self, v: &[u8]) {
        for chunk in v.chunks(Self::CHUNK) {
            self.reserve(chunk.len());
            self.buf.extend_from_slice(chunk);
        }
    }
}

impl Journal {
    /// Writes a checkpoint. `Err(NoSpace)` means the medium had no room for it: nothing
    /// durable changed and the journal stays usable; any other error fails the journal.
    pub fn checkpoint(&mut self, ns: &mut Namespace, colls: &Collections) -> Result<()> {
        self.check_writable()?;
        match self.write_checkpoint(ns, colls) {
            Ok(()) => Ok(()),
            Err(Stop::NoRoom) => {
                self.stats.checkpoints_refused += 1;
                self.space.refused_at_footprint = Some(self.footprint);
                Err(Error::NoSpace)
            }
            Err(Stop::Failed(e)) => self.fail(e),
        }
    }

    fn write_checkpoint(&mut self, ns: &mut Namespace, colls: &Collections) -> Result<(), Stop> {
        let pressure = self.space.pressure;
        // The log so far goes to the image whole, so that the previous checkpoint's log ends
        // exactly where this one starts: the fallback replays it.
        if let Some(w) = self.writer.as_mut() {
            w.flush_padded(&*self.storage).map_err(Stop::Failed)?;
        }
        // The state written is the log's up to `next_lsn`; the new log starts there, or past
        // every LSN a session lost in a crash may have used (the floor set at open), and never
        // below the live log's start.
        let next_lsn = self.writer.as_ref().map_or(self.sb.next_lsn, LogWriter::next_lsn);
        let log_lsn = next_lsn.max(self.sb.log_lsn).max(self.lsn_floor);
        if pressure && !self.retained.is_empty() {
            // Given up for room: its slot is marked released, durably, before any of its
            // blocks can be reused, so that after a crash no superblock names a fallback that
            // is no longer whole.
            let mut block = vec![0u8; BLOCK_SIZE];
            let other = 1 - self.slot;
            block[..super::superblock::ENCODED_BYTES]
                .copy_from_slice(&super::superblock::encode_released(self.sequence_max));
            let io = |e: std::io::Error| Stop::Failed(Error::io("releasing the fallback", &e));
            self.storage.write_at(other * BS, &block).map_err(io)?;
            self.storage.sync().map_err(io)?;
            for e in std::mem::take(&mut self.retained) {
                self.alloc.release(e.first_block, e.blocks);
            }
        }
        // What the new checkpoint keeps of the live one, computed before the write-back:
        // blocks written back come from free space, never from what the live one references.
        let keep_fallback = !pressure && !self.no_fallback && self.sb.checkpoint_bytes > 0;
        let retained = if keep_fallback {
            self.fallback_extents(&data_runs(ns))
        } else {
            Vec::new()
        };
        // Room for the checkpoint (an upper bound of its size) and its log segment first, so
        // that running out is noticed before anything is written; then the dirty blocks.
        let bound = checkpoint::size_bound(ns, colls, retained.len());
        let ckpt_room = bound.div_ceil(BS).max(1);
        let seg_blocks = self.space.head_blocks(self.segment_blocks);
        let ckpt_block = self.alloc_blocks(ckpt_room)?;
        let seg = match self.alloc_blocks(u64::from(seg_blocks)) {
            Ok(seg) => seg,
            Err(e) => {
                self.alloc.release(ckpt_block, ckpt_room);
                return Err(e);
            }
        };
        if let Err(e) = self.write_back(ns) {
            self.alloc.release(ckpt_block, ckpt_room);
            self.alloc.release(seg, u64::from(seg_blocks));
            return Err(e);
        }
        assert!(
            self.alloc.owns(ckpt_block, ckpt_room) && self.alloc.owns(seg, u64::from(seg_blocks)),
            "checkpoint or log segment outside allocated blocks"
        );
        let live_data = data_runs(ns);
        let indexes = checkpoint::encode_indexes(colls);
        let mut counter = checkpoint::Counter::default();
        checkpoint::encode(ns, colls, &indexes, next_lsn - 1, &retained, &mut counter);
        let ckpt_bytes = counter.0;
        assert!(
            ckpt_bytes <= bound,
            "checkpoint of {ckpt_bytes} bytes over its bound {bound}"
        );
        let ckpt_blocks = ckpt_bytes.div_ceil(BS).max(1);
        assert!(ckpt_blocks <= ckpt_room, "checkpoint larger than its allocation");
        let mut sink = StreamSink {
            storage: &*self.storage,
            offset: ckpt_block * BS,
            buf: Vec::new(),
            crc: 0,
            error: None,
        };
        checkpoint::encode(ns, colls, &indexes, next_lsn - 1, &retained, &mut sink);
        sink.spill();
        assert_eq!(
            sink.offset,
            ckpt_block * BS + ckpt_bytes,
            "checkpoint size changed while written"
        );
        let ckpt_crc = sink.crc;
        if let Some(e) = sink.error {
            return Err(Stop::Failed(Error::io("writing a checkpoint", &e)));
        }
        drop(indexes);
        let io = |e: std::io::Error| Stop::Failed(Error::io("writing a checkpoint", &e));
        self.storage.sync().map_err(io)?;
        // The other slot than the live one, with a sequence above both slots' and of that
        // slot's parity: a torn write of it can only damage the slot that is not live.
        let slot = 1 - self.slot;
        let mut sequence = self.sequence_max + 1;
        if sequence % 2 != slot {
            sequence += 1;
        }
        let sb = Superblock {
            sequence,
            seed: self.sb.seed,
            checkpoint_block: ckpt_block,
            checkpoint_bytes: ckpt_bytes,
            checkpoint_crc: ckpt_crc,
            log_block: seg,
            log_blocks: seg_blocks,
            log_lsn,
            next_lsn,
            image_blocks: self.alloc.used_end(),
        };
        assert_eq!(sb.slot(), slot);
        assert!(
            slot < 2 && sb.next_lsn <= sb.log_lsn,
            "superblock slot or LSN order"
        );
        // The whole block: whatever damage the slot held is overwritten (the rest is zero).
        let mut block = vec![0u8; BLOCK_SIZE];
        block[..super::superblock::ENCODED_BYTES].copy_from_slice(&sb.encode());
        self.storage.write_at(slot * BS, &block).map_err(io)?;
        self.storage.sync().map_err(io)?;
        // The new state is live: everything only the old one referenced, but for what it keeps
        // as its fallback, is free again.
        self.sb = sb;
        self.slot = slot;
        self.sequence_max = sequence;
        let mut used = vec![(0, 2), (ckpt_block, ckpt_blocks), (seg, u64::from(seg_blocks))];
        used.extend(data_extents(ns));
        used.extend(retained.iter().map(|e| (e.first_block, e.blocks)));
        self.alloc = Alloc::from_used(used);
        let end = self.alloc.used_end() * BS;
        if self.storage.len().map_err(io)? > end {
            self.storage.set_len(end).map_err(io)?;
        }
        self.space.held_blocks = end / BS;
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.live_data = live_data;
        self.unreferenced_data.clear();
        self.retained = retained;
        self.recovered_segments.clear();
        self.no_fallback = false;
        self.writer = Some(LogWriter::new(seg, seg_blocks, log_lsn, self.segment_blocks));
        self.lsn_floor = 0;
        self.footprint = 0;
        self.space.checkpointed(ckpt_bytes);
        self.stats.checkpoints += 1;
        self.stats.checkpoint_bytes = ckpt_bytes;
        self.stats.records_synced = self.stats.records;
        Ok(())
    }

    /// Starts the log anew at the LSN floor without a checkpoint, for a session that opened an
    /// image whose log replayed nothing: the live superblock is rewritten in place, naming the
    /// same checkpoint with the log head's LSN at the floor (its state's `next_lsn` unchanged),
    /// and synced before any record is written; the writer starts at the head's first byte.
    ///
    /// Only when the other slot names the fallback the live checkpoint retained: a torn write
    /// of the live slot then loses nothing, since that fallback's log reaches the live state and
    /// the live log held nothing yet. (A write to the other slot would give the fallback up;
    /// without one, a checkpoint starts the log instead.)
    pub(super) fn restart_log(&mut self) -> Result<()> {
        debug_assert!(self.fallback_named && !self.no_fallback && !self.read_only);
        // What recovery read may include writes that were never synced (a process restarted
        // after an I/O error mid-checkpoint reads them back from the host's cache): durable
        // first, so that the slot rewritten below, and the fallback it relies on, are.
        if let Err(e) = self.storage.sync() {
            return self.fail(Error::io("syncing the recovered image", &e));
        }
        let log_lsn = self.sb.log_lsn.max(self.lsn_floor);
        // Above every sequence seen, of the live slot's parity.
        let mut sequence = self.sequence_max + 1;
        if sequence % 2 != self.slot {
            sequence += 1;
        }
        let sb = Superblock {
            sequence,
            log_lsn,
            ..self.sb
        };
        assert_eq!(sb.slot(), self.slot);
        assert!(sb.next_lsn <= sb.log_lsn);
        let mut block = vec![0u8; BLOCK_SIZE];
        block[..super::superblock::ENCODED_BYTES].copy_from_slice(&sb.encode());
        let r = self
            .storage
            .write_at(self.slot * BS, &block)
            .and_then(|()| self.storage.sync());
        if let Err(e) = r {
            return self.fail(Error::io("starting the log", &e));
        }
        self.sb = sb;
        self.sequence_max = sequence;
        self.lsn_floor = 0;
        self.writer = Some(LogWriter::new(
            sb.log_block,
            sb.log_blocks,
            log_lsn,
            self.segment_blocks,
        ));
        Ok(())
    }

    /// What the new checkpoint retains so that the live one stays a usable fallback: its
    /// blocks, its log segments and the file data it references that `live_data` (the new
    /// checkpoint's) does not.
    fn fallback_extents(&self, live_data: &[(u64, u64)]) -> Vec<Extent> {
        let mut out = vec![Extent::new(
            self.sb.checkpoint_block,
            self.sb.checkpoint_bytes.div_ceil(BS),
            ExtentKind::FallbackCheckpoint,
        )];
        let log: &[(u64, u32)] = match &self.writer {
            Some(w) if !w.segments().is_empty() => w.segments(),
            _ => &self.recovered_segments,
        };
        out.extend(
            log.iter()
                .map(|&(b, n)| Extent::new(b, u64::from(n), ExtentKind::FallbackLog)),
        );
        out.extend(
            subtract_runs(&self.live_data, live_data)
                .into_iter()
                .map(|(b, n)| Extent::new(b, n, ExtentKind::FallbackData)),
        );
        out
    }

    /// Writes every in-memory file block to newly allocated blocks and turns them into on-disk
    /// blocks. Consecutive blocks of a file get one extent (so that reads of them are one run,
    /// lent whole from a mapped image), written at most `RUN_BLOCKS_MAX` blocks at a time. Runs
    /// written are recorded in `unreferenced_data` until a checkpoint references them.
    fn write_back(&mut self, ns: &mut Namespace) -> Result<(), Stop> {
        const RUN_BLOCKS_MAX: usize = 256;
        let mut run: Vec<u8> = Vec::new();
        let mut crcs: Vec<u32> = Vec::new();
        for (_, node) in ns.iter_mut() {
            let Body::Regular(f) = &mut node.body else {
                continue;
            };
            let mut pending: Vec<(u64, &mut Block)> = Vec::new();
            for (idx, b) in f.blocks_mut() {
                if matches!(b, Block::Mem(_)) {
                    pending.push((idx, b));
                }
            }
            let mut i = 0;
            let mut extent = (0, 0);
            while i < pending.len() {
                // A stretch of consecutive block indexes gets consecutive image blocks where a
                // free run is long enough, else the runs that are there, in turn.
                if extent.1 == 0 {
                    let mut end = i + 1;
                    while end < pending.len() && pending[end].0 == pending[end - 1].0 + 1 {
                        end += 1;
                    }
                    let (first, got) = self.alloc_blocks_upto((end - i) as u64)?;
                    extent = (first, got as usize);
                }
                let j = i + extent.1.min(RUN_BLOCKS_MAX);
                let addr = extent.0;
                extent = (addr + (j - i) as u64, extent.1 - (j - i));
                run.clear();
                crcs.clear();
                for (_, b) in &pending[i..j] {
                    if let Block::Mem(bytes) = &**b {
                        run.extend_from_slice(&bytes[..]);
                        crcs.push(crc32c::crc32c(&bytes[..]));
                    }
                }
                assert_eq!(run.len(), (j - i) * BLOCK_SIZE);
                assert!(
                    self.alloc.owns(addr, (j - i) as u64),
                    "file data written to free blocks"
                );
                self.storage
                    .write_at(addr * BS, &run)
                    .map_err(|e| Stop::Failed(Error::io("writing file data", &e)))?;
                for ((_, b), (k, &crc)) in pending[i..j].iter_mut().zip(crcs.iter().enumerate()) {
                    **b = Block::Disk {
                        addr: addr + k as u64,
                        crc,
                    };
                }
                self.unreferenced_data.push((addr, (j - i) as u64));
                i = j;
            }
        }
        Ok(())
    }
}

/// The on-disk file blocks of `ns` as sorted runs (a block that directly follows the previous
/// one extends its run). Not inlined: the iterator's state would otherwise sit in the frame of
/// `Journal::open`, which is live while the checkpoint is decoded (the deepest stack of opening
/// an image; measured +464 bytes by the stack audit).
#[inline(never)]
pub(super) fn data_runs(ns: &Namespace) -> Vec<(u64, u64)> {
    let mut blocks: Vec<u64> = data_extents(ns).map(|(b, _)| b).collect();
    blocks.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for start in blocks {
        match out.last_mut() {
            Some((s, l)) if *s + *l == start => *l += 1,
            _ => out.push((start, 1)),
        }
    }
    out
}

/// `(first block, 1)` of every on-disk file block (single blocks; the allocator merges).
pub(super) fn data_extents(ns: &Namespace) -> impl Iterator<Item = (u64, u64)> + '_ {
    ns.iter().flat_map(|(_, n)| {
        let blocks = match &n.body {
            Body::Regular(f) => Some(f.blocks()),
            _ => None,
        };
        blocks.into_iter().flatten().filter_map(|(_, b)| match b {
            Block::Disk { addr, .. } => Some((*addr, 1)),
            _ => None,
        })
    })
}

/// The blocks of sorted, disjoint runs `a` that are in none of sorted, disjoint runs `b`.
fn subtract_runs(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut j = 0;
    for &(start, len) in a {
        let (mut s, e) = (start, start + len);
        while j < b.len() && b[j].0 + b[j].1 <= s {
            j += 1;
        }
        let mut k = j;
        while s < e {
            match b.get(k) {
                Some(&(bs, bl)) if bs < e => {
                    if bs > s {
                        out.push((s, bs - s));
                    }
                    s = s.max(bs + bl);
                    k += 1;
                }
                _ => {
                    out.push((s, e - s));
                    s = e;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::subtract_runs;

    #[test]
    fn subtract_runs_keeps_what_only_the_first_has() {
        assert_eq!(subtract_runs(&[(10, 10)], &[]), vec![(10, 10)]);
        assert_eq!(subtract_runs(&[(10, 10)], &[(10, 10)]), vec![]);
        assert_eq!(
            subtract_runs(&[(10, 10)], &[(12, 2), (15, 1)]),
            vec![(10, 2), (14, 1), (16, 4)]
        );
        assert_eq!(
            subtract_runs(&[(10, 5), (20, 5)], &[(13, 9)]),
            vec![(10, 3), (22, 3)]
        );
        assert_eq!(subtract_runs(&[(10, 5)], &[(0, 3), (30, 3)]), vec![(10, 5)]);
        assert_eq!(subtract_runs(&[(2, 1), (4, 1)], &[(0, 100)]), vec![]);
    }
}
