//! Persistence: the image's superblock, write-ahead log, checkpoints, free space and block
//! cache, implementing docs/format.md.
//!
//! The [`Journal`] is owned by the engine. The engine applies each operation in memory, then the
//! journal appends it to the log (group commit: records are written when the buffer fills and
//! made durable by [`Journal::sync`]). A checkpoint writes dirty file blocks and the whole state
//! to fresh blocks and then switches the superblock; recovery loads the checkpoint and replays
//! the log's valid prefix (see `crate::engine::durable`).
//!
//! Invariants:
//! - free space ([`alloc::Alloc`]) never contains a block the live superblock may reach: the
//!   checkpoint, the log segments after it, or file data the checkpoint references;
//! - after any I/O error the journal is *failed*: it refuses every further change and never
//!   writes a superblock again, so nothing durable can be lost by continuing on unknown state.

pub mod alloc;
pub mod cache;
pub mod checkpoint;
pub mod codec;
pub mod log;
pub mod superblock;

use crate::collections::Collections;
use crate::engine::Op;
use crate::error::{Error, Result};
use crate::limits::{BLOCK_SIZE, LOG_SEGMENT_BLOCKS_DEFAULT, LOG_SEGMENT_BLOCKS_MIN};
use crate::namespace::data::verify_block;
use crate::namespace::{Block, BlockSource, Body, Namespace};
use crate::storage::Storage;
use crate::types::Ctx;
use alloc::Alloc;
use cache::BlockCache;
use codec::Put;
use log::LogWriter;
use std::sync::{Arc, Mutex};
use superblock::Superblock;

const BS: u64 = BLOCK_SIZE as u64;

/// The log since the last checkpoint may grow to at least this many bytes (counting an
/// estimate of the file blocks the logged operations made resident) before a checkpoint; after
/// that, to the size of the last checkpoint, so checkpoint cost stays proportional to logging.
pub const CHECKPOINT_FOOTPRINT_MIN: u64 = 64 * 1024 * 1024;
/// Blocks of file data the read cache holds (64 MiB).
pub const CACHE_BLOCKS: usize = 16 * 1024;

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
}

/// What an extent of the image holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExtentKind {
    /// Blocks 0 and 1: the two superblock slots.
    Superblocks,
    /// The live checkpoint.
    Checkpoint,
    /// A segment of the log after the live checkpoint.
    LogSegment,
    /// File data the live checkpoint references.
    CheckpointData,
}

impl ExtentKind {
    /// Lower-case description, for problem reports.
    pub fn name(self) -> &'static str {
        match self {
            ExtentKind::Superblocks => "superblocks",
            ExtentKind::Checkpoint => "checkpoint",
            ExtentKind::LogSegment => "log segment",
            ExtentKind::CheckpointData => "file data",
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
    /// The file blocks the live checkpoint references (in runs). They stay in use until a
    /// newer checkpoint is durable, whatever the operations since did to them, so that a
    /// recovery which fails part-way cannot overwrite what the next one must read.
    live_data: Vec<(u64, u64)>,
    /// Where replay stopped: segment and offset of the first invalid record, and its LSN.
    log_end: Option<((u64, u32, u64), u64)>,
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

    /// Whether the log since the last checkpoint is big enough to warrant one.
    pub fn wants_checkpoint(&self) -> bool {
        !self.read_only
            && !self.failed
            && self.footprint >= CHECKPOINT_FOOTPRINT_MIN.max(self.stats.checkpoint_bytes)
    }

    /// Appends an operation to the log (buffered; durable after the next [`Journal::sync`]).
    pub fn append(&mut self, op: &Op<'_>, ctx: &Ctx) -> Result<()> {
        self.check_writable()?;
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::ReadOnly);
        };
        self.payload.clear();
        codec::encode_op(op, ctx, &mut self.payload);
        let touches_data = matches!(op, Op::Write { .. } | Op::Fallocate { .. } | Op::SetAttr { .. });
        self.footprint +=
            (self.payload.len() + log::HEADER_BYTES) as u64 + if touches_data { 2 * BS } else { 0 };
        self.stats.records += 1;
        if let Err(e) = w.append(&self.payload, &*self.storage, &mut self.alloc) {
            return self.fail(e);
        }
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
        // Boxed here, so the caller's frame holds a pointer rather than ~440 bytes.
        let mut j = Box::new(Journal {
            storage,
            cache: Mutex::new(BlockCache::new(CACHE_BLOCKS)),
            alloc: Alloc::from_used(vec![(0, 2)]),
            // The first checkpoint writes sequence 1 (slot B); slot A stays invalid (zeros).
            sb: Superblock {
                sequence: 0,
                seed,
                checkpoint_block: 0,
                checkpoint_bytes: 0,
                checkpoint_crc: 0,
                log_block: 0,
                log_blocks: 0,
                log_lsn: 1,
                image_blocks: 2,
            },
            writer: Some(LogWriter::new(0, 0, 1, segment_blocks)),
            read_only: false,
            segment_blocks,
            replaying: false,
            failed: false,
            footprint: 0,
            payload: Vec::new(),
            stats: JournalStats::default(),
            damaged_slots: Vec::new(),
            live_data: Vec::new(),
            log_end: None,
        });
        j.storage
            .write_at(0, &[0u8; 2 * BLOCK_SIZE])
            .map_err(|e| Error::io("creating the image", &e))?;
        j.checkpoint(ns, colls)?;
        Ok(j)
    }

    /// Opens `storage`: picks the live superblock and decodes its checkpoint. The caller replays
    /// the log (from [`Journal::superblock`]) with `replaying` set, then calls
    /// [`Journal::finish_recovery`].
    pub fn open(storage: Arc<dyn Storage>, opts: OpenOptions) -> Result<(Box<Journal>, checkpoint::Decoded)> {
        if opts.log_segment_blocks < LOG_SEGMENT_BLOCKS_MIN {
            return Err(Error::Invalid("log segments need at least 2 blocks"));
        }
        let len = storage.len().map_err(|e| Error::io("opening the image", &e))?;
        if len < 2 * BS {
            return Err(Error::Corrupted {
                what: "image (shorter than its superblocks)",
                offset: len,
            });
        }
        // On the heap: two blocks on the stack would take 8 KiB of the entry point's budget.
        let mut slots = vec![0u8; 2 * BLOCK_SIZE];
        storage
            .read_at(0, &mut slots)
            .map_err(|e| Error::io("reading the superblock", &e))?;
        let a = Superblock::decode(&slots[..BLOCK_SIZE], 0, len);
        let b = Superblock::decode(&slots[BLOCK_SIZE..], 1, len);
        let mut damaged_slots = Vec::new();
        let live_sequence = [&a, &b]
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|s| s.sequence)
            .max();
        for (r, half) in [(&a, &slots[..BLOCK_SIZE]), (&b, &slots[BLOCK_SIZE..])] {
            if let Err(e) = r
                && half.iter().any(|&x| x != 0)
                && !superblock::is_stale(half, live_sequence)
            {
                damaged_slots.push(e.clone());
            }
        }
        let sb = match (a, b) {
            (Ok(a), Ok(b)) => {
                if a.sequence > b.sequence {
                    a
                } else {
                    b
                }
            }
            (Ok(s), Err(_)) | (Err(_), Ok(s)) => s,
            (Err(e), Err(_)) => return Err(e),
        };
        let ckpt_at = sb.checkpoint_block * BS;
        let ckpt_len = usize::try_from(sb.checkpoint_bytes).map_err(|_| Error::Corrupted {
            what: "superblock (checkpoint length)",
            offset: 0,
        })?;
        // Decoded straight from the image's map where the storage has one: no buffer the size
        // of the checkpoint to fault in and fill (about 0.5 s of a 3 s open of 1M x 128).
        storage.will_need(ckpt_at, sb.checkpoint_bytes);
        let read: Vec<u8>;
        // SAFETY: nothing writes the image while it is being opened: the journal is its only
        // writer and writes nothing before the checkpoint is decoded, and the view ends with
        // this function, before `storage` moves into the journal.
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
        let live_data = data_runs(&decoded.ns);
        let j = Journal::opened(storage, sb, opts, damaged_slots, live_data);
        Ok((j, decoded))
    }

    /// The journal of an image just opened at superblock `sb`, in replay mode. Boxed, and built
    /// in a frame of its own (not inlined), so that neither [`Journal::open`]'s frame, which is
    /// live while the checkpoint is decoded, nor its caller's holds the ~440-byte value.
    #[inline(never)]
    fn opened(
        storage: Arc<dyn Storage>,
        sb: Superblock,
        opts: OpenOptions,
        damaged_slots: Vec<Error>,
        live_data: Vec<(u64, u64)>,
    ) -> Box<Journal> {
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
            log_end: None,
        })
    }

    /// Ends recovery after the log was replayed: rebuilds free space and, if the replay changed
    /// anything (`dirty`), writes a checkpoint so that new records never follow a damaged tail;
    /// otherwise syncs, so that everything recovery read is durable either way.
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
        used.extend(data_extents(ns));
        // Freed by the replay, but still the live checkpoint's until the next one is durable
        // (which rebuilds the allocator from the state it wrote).
        used.extend(self.live_data.iter().copied());
        self.alloc = Alloc::from_used(used);
        if self.read_only {
            return Ok(());
        }
        if dirty {
            // A writer only to carry the LSN into the checkpoint, which starts the log anew.
            self.writer = Some(LogWriter::new(0, 0, next_lsn, self.segment_blocks));
            self.checkpoint(ns, colls)
        } else {
            self.writer = Some(LogWriter::new(
                self.sb.log_block,
                self.sb.log_blocks,
                self.sb.log_lsn,
                self.segment_blocks,
            ));
            // What recovery read may include writes that were never synced (a process that
            // failed with an I/O error mid-checkpoint and was restarted reads them back from the
            // host's cache). Make it durable now, so that a crash cannot take the state the
            // opener has seen back to an older one.
            match self.storage.sync() {
                Ok(()) => Ok(()),
                Err(e) => self.fail(Error::io("syncing the recovered image", &e)),
            }
        }
    }

    /// Writes a checkpoint (docs/format.md §6): dirty file blocks, then the state, then a fresh
    /// log segment; sync; then the superblock in the other slot; sync; then free what the old
    /// checkpoint alone referenced.
    pub fn checkpoint(&mut self, ns: &mut Namespace, colls: &Collections) -> Result<()> {
        self.check_writable()?;
        match self.write_checkpoint(ns, colls) {
            Ok(()) => Ok(()),
            Err(e) => self.fail(e),
        }
    }

    fn write_checkpoint(&mut self, ns: &mut Namespace, colls: &Collections) -> Result<()> {
        let next_lsn = self.writer.as_ref().map_or(self.sb.log_lsn, LogWriter::next_lsn);
        self.write_back(ns)?;
        let indexes = checkpoint::encode_indexes(colls);
        let mut counter = checkpoint::Counter::default();
        checkpoint::encode(ns, colls, &indexes, next_lsn - 1, &mut counter);
        let ckpt_bytes = counter.0;
        let ckpt_block = self.alloc.alloc(ckpt_bytes.div_ceil(BS).max(1));
        let mut sink = StreamSink {
            storage: &*self.storage,
            offset: ckpt_block * BS,
            buf: Vec::new(),
            crc: 0,
            error: None,
        };
        checkpoint::encode(ns, colls, &indexes, next_lsn - 1, &mut sink);
        sink.spill();
        let ckpt_crc = sink.crc;
        if let Some(e) = sink.error {
            return Err(Error::io("writing a checkpoint", &e));
        }
        drop(indexes);
        let seg_blocks = self.segment_blocks;
        let seg = self.alloc.alloc(u64::from(seg_blocks));
        let io = |e: std::io::Error| Error::io("writing a checkpoint", &e);
        self.storage.sync().map_err(io)?;
        let image_blocks = self.alloc.used_end();
        let sb = Superblock {
            sequence: self.sb.sequence + 1,
            seed: self.sb.seed,
            checkpoint_block: ckpt_block,
            checkpoint_bytes: ckpt_bytes,
            checkpoint_crc: ckpt_crc,
            log_block: seg,
            log_blocks: seg_blocks,
            log_lsn: next_lsn,
            image_blocks,
        };
        self.storage.write_at(sb.slot() * BS, &sb.encode()).map_err(io)?;
        self.storage.sync().map_err(io)?;
        self.sb = sb;
        // The new state is live: everything only the old one referenced is free again.
        let mut used = vec![
            (0, 2),
            (ckpt_block, ckpt_bytes.div_ceil(BS).max(1)),
            (seg, u64::from(seg_blocks)),
        ];
        used.extend(data_extents(ns));
        self.alloc = Alloc::from_used(used);
        let end = self.alloc.used_end() * BS;
        if self.storage.len().map_err(io)? > end {
            self.storage.set_len(end).map_err(io)?;
        }
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.live_data = data_runs(ns);
        self.writer = Some(LogWriter::new(seg, seg_blocks, next_lsn, seg_blocks));
        self.footprint = 0;
        self.stats.checkpoints += 1;
        self.stats.checkpoint_bytes = ckpt_bytes;
        self.stats.records_synced = self.stats.records;
        Ok(())
    }

    /// Writes every in-memory file block to newly allocated blocks and turns them into on-disk
    /// blocks. Consecutive blocks of a file get one extent (so that reads of them are one run,
    /// lent whole from a mapped image), written at most `RUN_BLOCKS_MAX` blocks at a time.
    fn write_back(&mut self, ns: &mut Namespace) -> Result<()> {
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
                // A stretch of consecutive block indexes gets consecutive image blocks.
                if extent.1 == 0 {
                    let mut end = i + 1;
                    while end < pending.len() && pending[end].0 == pending[end - 1].0 + 1 {
                        end += 1;
                    }
                    extent = (self.alloc.alloc((end - i) as u64), end - i);
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
                self.storage
                    .write_at(addr * BS, &run)
                    .map_err(|e| Error::io("writing file data", &e))?;
                for ((_, b), (k, &crc)) in pending[i..j].iter_mut().zip(crcs.iter().enumerate()) {
                    **b = Block::Disk {
                        addr: addr + k as u64,
                        crc,
                    };
                }
                i = j;
            }
        }
        Ok(())
    }

    /// Problems with the image's own structures that opening tolerated (for fsck): damaged
    /// superblock slots, and a log damaged before its end (a valid record after the point where
    /// replay stopped, which a torn tail cannot explain).
    pub fn verify_structure(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .damaged_slots
            .iter()
            .map(|e| format!("{e}; the other slot was used"))
            .collect();
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

    /// Every extent the image's durable structures occupy: what recovery may read. Free space
    /// is everything else.
    pub fn extents(&self) -> Vec<Extent> {
        let mut out = vec![Extent {
            first_block: 0,
            blocks: 2,
            kind: ExtentKind::Superblocks,
        }];
        let mut push = |(first_block, blocks): (u64, u64), kind| {
            if blocks > 0 {
                out.push(Extent {
                    first_block,
                    blocks,
                    kind,
                });
            }
        };
        push(
            (self.sb.checkpoint_block, self.sb.checkpoint_bytes.div_ceil(BS)),
            ExtentKind::Checkpoint,
        );
        for &(b, n) in self.writer.iter().flat_map(|w| w.segments()) {
            push((b, u64::from(n)), ExtentKind::LogSegment);
        }
        for &run in &self.live_data {
            push(run, ExtentKind::CheckpointData);
        }
        out
    }

    /// The layout's invariants (for `check` and fsck): durable extents never overlap one
    /// another and lie inside the allocator's reach; every on-disk block of the current state
    /// belongs to exactly one file and is file data the live checkpoint references (blocks
    /// reach the image only through a checkpoint); and none of it is free space.
    pub fn layout_problems(&self, ns: &Namespace) -> Vec<String> {
        let mut problems = Vec::new();
        let mut extents = self.extents();
        extents.sort_unstable();
        for w in extents.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.first_block + a.blocks > b.first_block {
                problems.push(format!(
                    "{} at blocks {}..{} overlaps {} at blocks {}..{}",
                    a.kind.name(),
                    a.first_block,
                    a.first_block + a.blocks,
                    b.kind.name(),
                    b.first_block,
                    b.first_block + b.blocks
                ));
            }
        }
        for e in &extents {
            if let Some(free) = self.alloc.first_free_in(e.first_block, e.blocks) {
                problems.push(format!(
                    "{} at blocks {}..{} includes free block {free}",
                    e.kind.name(),
                    e.first_block,
                    e.first_block + e.blocks
                ));
            }
        }
        let data: Vec<(u64, u64)> = extents
            .iter()
            .filter(|e| e.kind == ExtentKind::CheckpointData)
            .map(|e| (e.first_block, e.blocks))
            .collect();
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

    /// Every on-disk file block read and checked against its checksum (for fsck; placement is
    /// [`Journal::layout_problems`]'s): returns a description of each problem found.
    pub fn verify_data(&self, ns: &Namespace) -> Vec<String> {
        let mut problems = Vec::new();
        let image_blocks = self.storage.len().map(|l| l.div_ceil(BS)).unwrap_or(0);
        // On the heap: a block on the stack would take 4 KiB of fsck's stack budget.
        let mut buf = Box::new([0u8; BLOCK_SIZE]);
        for (ino, node) in ns.iter() {
            let Body::Regular(f) = &node.body else { continue };
            for (idx, b) in f.blocks() {
                let Block::Disk { addr, crc } = *b else { continue };
                if addr < 2 || addr >= image_blocks {
                    problems.push(format!(
                        "inode {ino} block {idx} points outside the image ({addr})"
                    ));
                } else if let Err(e) = self.read_block(addr, crc, &mut buf) {
                    let what = match log::record_at_start(&buf[..]) {
                        Some(lsn) => format!(" (it holds log record {lsn}: the log overwrote it)"),
                        None => String::new(),
                    };
                    problems.push(format!("inode {ino} block {idx}: {e}{what}"));
                }
            }
        }
        problems
    }
}

/// The on-disk file blocks of `ns` as runs (a block that directly follows the previous one
/// extends its run). Not inlined: the iterator's state would otherwise sit in the frame of
/// [`Journal::open`], which is live while the checkpoint is decoded (the deepest stack of
/// opening an image; measured +464 bytes by the stack audit).
#[inline(never)]
fn data_runs(ns: &Namespace) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (start, len) in data_extents(ns) {
        match out.last_mut() {
            Some((s, l)) if *s + *l == start => *l += len,
            _ => out.push((start, len)),
        }
    }
    out
}

/// `(first block, length)` of every on-disk file block (single blocks; the allocator merges).
fn data_extents(ns: &Namespace) -> impl Iterator<Item = (u64, u64)> + '_ {
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
