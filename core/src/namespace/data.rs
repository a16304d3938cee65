//! The contents of one regular file: a size and a sparse map of fixed-size blocks.
//!
//! A block index absent from the map is a hole and reads as zeros. [`Block::Zero`] is allocated
//! but never written (`fallocate`): it reads as zeros yet counts as allocated space and as data
//! for `SEEK_DATA`. [`Block::Mem`] holds bytes changed since the last checkpoint (or all bytes of
//! an in-memory image); [`Block::Disk`] names a block in the image, read through a
//! [`BlockSource`] that verifies its checksum. On-disk blocks are never written in place: a change
//! turns the block into `Mem`, and the next checkpoint writes it to a new place.
//!
//! Invariants (checked by `check`): every byte of a stored block at or past `size` is zero, so
//! growing a file always exposes zeros; no block lies at or past `FILE_SIZE_MAX`.

use crate::error::{Error, Result};
use crate::limits::{BLOCK_SIZE, FILE_SIZE_MAX};
use std::collections::BTreeMap;

const BS: u64 = BLOCK_SIZE as u64;

/// Reads image blocks for file data (the journal, with its cache).
pub trait BlockSource {
    /// Reads image block `addr` into `out`, verifying that its CRC-32C is `crc`.
    fn read_block(&self, addr: u64, crc: u32, out: &mut [u8; BLOCK_SIZE]) -> Result<()>;

    /// Reads the consecutive image blocks `addr, addr + 1, ...` into `out` (`crcs.len()`
    /// blocks long) in one go, verifying block `i` against `crcs[i]`. For large reads: the
    /// journal does one storage read and leaves its cache alone.
    fn read_run(&self, addr: u64, crcs: &[u32], out: &mut [u8]) -> Result<()>;

    /// The consecutive image blocks `addr, addr + 1, ...` (`blocks` of them) lent without
    /// copying and not yet verified, when the source can lend them; `None` otherwise.
    fn view(&self, addr: u64, blocks: usize) -> Option<&[u8]> {
        let _ = (addr, blocks);
        None
    }
}

/// Checks the bytes of image block `addr` against its CRC-32C.
pub(crate) fn verify_block(addr: u64, crc: u32, bytes: &[u8]) -> Result<()> {
    if crc32c::crc32c(bytes) == crc {
        Ok(())
    } else {
        Err(Error::Corrupted {
            what: "file data block",
            offset: addr * BS,
        })
    }
}

/// Most blocks one [`BlockSource::read_run`] reads (a 256 KiB run). A 1 MiB `READ` that is
/// copied rather than lent takes four; the run's checksums sit in `read`'s frame, so this
/// bounds its stack.
const RUN_BLOCKS: usize = 64;

/// Consecutive on-disk blocks wholly inside one read, gathered for one `read_run`.
struct Run {
    /// Image block of the first.
    addr: u64,
    /// Offset of the first in the read's buffer.
    at: usize,
    len: usize,
    crcs: [u32; RUN_BLOCKS],
}

impl Run {
    /// Whether image block `addr`, landing at `at` in the buffer, extends this run.
    fn extends(&self, addr: u64, at: usize) -> bool {
        self.len > 0
            && self.len < RUN_BLOCKS
            && addr == self.addr + self.len as u64
            && at == self.at + self.len * BLOCK_SIZE
    }

    /// Reads the gathered blocks into `buf` (a run of one goes through the cache) and empties
    /// the run.
    fn flush(&mut self, buf: &mut [u8], src: Option<&dyn BlockSource>) -> Result<()> {
        let len = std::mem::take(&mut self.len);
        if len == 0 {
            return Ok(());
        }
        let src = src.ok_or_else(no_source)?;
        let dst = &mut buf[self.at..self.at + len * BLOCK_SIZE];
        match <&mut [u8; BLOCK_SIZE]>::try_from(&mut *dst) {
            Ok(one) => src.read_block(self.addr, self.crcs[0], one),
            Err(_) => src.read_run(self.addr, &self.crcs[..len], dst),
        }
    }
}

/// One allocated block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Allocated, reads as zeros.
    Zero,
    /// Bytes held in memory.
    Mem(Box<[u8; BLOCK_SIZE]>),
    /// Bytes in image block `addr`, whose CRC-32C is `crc`.
    Disk {
        /// Image block number.
        addr: u64,
        /// Checksum of the block's bytes.
        crc: u32,
    },
}

fn no_source() -> Error {
    Error::Corrupted {
        what: "file block without an image",
        offset: 0,
    }
}

impl Block {
    /// Reads the block's bytes into `out` (zeros for `Zero`).
    fn load(&self, src: Option<&dyn BlockSource>, out: &mut [u8; BLOCK_SIZE]) -> Result<()> {
        match self {
            Block::Zero => out.fill(0),
            Block::Mem(b) => out.copy_from_slice(&b[..]),
            Block::Disk { addr, crc } => src.ok_or_else(no_source)?.read_block(*addr, *crc, out)?,
        }
        Ok(())
    }

    /// The block's bytes in memory, loading them first if they are on disk.
    fn make_mut(&mut self, src: Option<&dyn BlockSource>) -> Result<&mut [u8; BLOCK_SIZE]> {
        if !matches!(self, Block::Mem(_)) {
            let mut b = Box::new([0u8; BLOCK_SIZE]);
            self.load(src, &mut b)?;
            *self = Block::Mem(b);
        }
        match self {
            Block::Mem(b) => Ok(b),
            _ => unreachable!("just made resident"),
        }
    }
}

/// Size and blocks of one regular file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileData {
    size: u64,
    blocks: BTreeMap<u64, Block>,
    /// Number of `Block::Zero` entries (allocated, never written).
    unwritten: u64,
}

/// The blocks `[first, last]` that a byte range touches, or `None` for an empty range.
fn block_span(offset: u64, len: u64) -> Option<(u64, u64)> {
    (len > 0).then(|| (offset / BS, (offset + len - 1) / BS))
}

impl FileData {
    /// File size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of allocated blocks.
    pub fn allocated_blocks(&self) -> u64 {
        self.blocks.len() as u64
    }

    /// Number of blocks allocated by `fallocate` and never written.
    pub fn unwritten_blocks(&self) -> u64 {
        self.unwritten
    }

    /// The allocated blocks in index order.
    pub fn blocks(&self) -> impl Iterator<Item = (u64, &Block)> {
        self.blocks.iter().map(|(&i, b)| (i, b))
    }

    /// Checks that a write of `len` bytes at `offset` stays within the largest file size.
    pub fn check_range(offset: u64, len: u64) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= FILE_SIZE_MAX => Ok(()),
            _ => Err(Error::FileTooBig),
        }
    }

    /// Reads up to `buf.len()` bytes at `offset`, returning how many were read (short at EOF).
    pub fn read(&self, offset: u64, buf: &mut [u8], src: Option<&dyn BlockSource>) -> Result<usize> {
        if offset >= self.size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.size - offset) as usize;
        let buf = &mut buf[..n];
        let Some((first, last)) = block_span(offset, n as u64) else {
            return Ok(0);
        };
        // On-disk blocks are read whole (their checksum covers the whole block): those wholly
        // inside the read go straight into `buf`, consecutive ones in one run; the one or two
        // only partly inside go through one heap buffer. Holes are zeroed as the walk passes them
        // (`filled`: the bytes before it are written or zeroed), so no byte is written twice.
        let mut filled = 0;
        let mut tmp: Option<Box<[u8; BLOCK_SIZE]>> = None;
        let mut run = Run {
            addr: 0,
            at: 0,
            len: 0,
            crcs: [0; RUN_BLOCKS],
        };
        for (&idx, block) in self.blocks.range(first..=last) {
            let start = (idx * BS).max(offset);
            let end = ((idx + 1) * BS).min(offset + n as u64);
            let within = (start - idx * BS) as usize..(end - idx * BS) as usize;
            let at = (start - offset) as usize;
            buf[filled..at].fill(0);
            filled = (end - offset) as usize;
            if let Block::Disk { addr, crc } = *block
                && within.len() == BLOCK_SIZE
            {
                if !run.extends(addr, at) {
                    run.flush(buf, src)?;
                    (run.addr, run.at) = (addr, at);
                }
                run.crcs[run.len] = crc;
                run.len += 1;
                continue;
            }
            let dst = &mut buf[at..(end - offset) as usize];
            match block {
                Block::Zero => dst.fill(0),
                Block::Mem(b) => dst.copy_from_slice(&b[within]),
                Block::Disk { .. } => {
                    let t = tmp.get_or_insert_with(|| Box::new([0u8; BLOCK_SIZE]));
                    block.load(src, t)?;
                    dst.copy_from_slice(&t[within]);
                }
            }
        }
        buf[filled..].fill(0);
        run.flush(buf, src)?;
        Ok(n)
    }

    /// Up to `len` bytes at `offset` (cut at the end of the file) lent straight from the image,
    /// without copying: `Some` when they lie in on-disk blocks at consecutive image addresses,
    /// each verified against its checksum, and the source can lend them; `None` when any block
    /// of the range is a hole, unwritten, in memory or elsewhere in the image, and then
    /// [`FileData::read`] is the way. A range at or past the end is `Some` and empty.
    pub fn view<'s>(
        &self,
        offset: u64,
        len: usize,
        src: Option<&'s dyn BlockSource>,
    ) -> Result<Option<&'s [u8]>> {
        let n = (len as u64).min(self.size.saturating_sub(offset));
        let Some((first, last)) = block_span(offset, n) else {
            return Ok(Some(&[]));
        };
        let Some(src) = src else {
            return Ok(None);
        };
        let span = self.blocks.range(first..=last);
        let mut base = None;
        let mut count = 0;
        for (&idx, block) in span.clone() {
            let Block::Disk { addr, .. } = *block else {
                return Ok(None);
            };
            let start = *base.get_or_insert(addr);
            if idx != first + count || addr != start + count {
                return Ok(None);
            }
            count += 1;
        }
        let Some(base) = base.filter(|_| count == last - first + 1) else {
            return Ok(None);
        };
        let Some(bytes) = src.view(base, count as usize) else {
            return Ok(None);
        };
        for ((_, block), chunk) in span.zip(bytes.chunks_exact(BLOCK_SIZE)) {
            if let Block::Disk { addr, crc } = *block {
                verify_block(addr, crc, chunk)?;
            }
        }
        let skip = (offset - first * BS) as usize;
        Ok(bytes.get(skip..skip + n as usize))
    }

    /// Loads the on-disk blocks that a change of `[offset, end)` only partly covers, so that the
    /// change itself cannot fail half-way. Loading does not change what the file reads as.
    fn load_partial(&mut self, offset: u64, end: u64, src: Option<&dyn BlockSource>) -> Result<()> {
        if end <= offset {
            return Ok(());
        }
        for idx in [offset / BS, (end - 1) / BS] {
            let partial = offset > idx * BS || end < (idx + 1) * BS;
            if let Some(b @ Block::Disk { .. }) = self.blocks.get_mut(&idx)
                && partial
            {
                b.make_mut(src)?;
            }
        }
        Ok(())
    }

    /// Writes `data` at `offset`, growing the file if the write ends past its size. The range
    /// must have passed [`FileData::check_range`]. Fails (changing nothing visible) only if a
    /// partly overwritten block cannot be read from the image.
    pub fn write(&mut self, offset: u64, data: &[u8], src: Option<&dyn BlockSource>) -> Result<()> {
        let Some((first, last)) = block_span(offset, data.len() as u64) else {
            return Ok(());
        };
        let end_all = offset + data.len() as u64;
        assert!(end_all <= FILE_SIZE_MAX);
        self.load_partial(offset, end_all, src)?;
        for idx in first..=last {
            let start = (idx * BS).max(offset);
            let end = ((idx + 1) * BS).min(end_all);
            let part = &data[(start - offset) as usize..(end - offset) as usize];
            let full = start == idx * BS && end == (idx + 1) * BS;
            let block = self
                .blocks
                .entry(idx)
                .or_insert_with(|| Block::Mem(Box::new([0; BLOCK_SIZE])));
            match block {
                Block::Zero => self.unwritten -= 1,
                // Fully overwritten: no need to read the old bytes.
                Block::Disk { .. } if full => *block = Block::Mem(Box::new([0; BLOCK_SIZE])),
                _ => {}
            }
            // Zero and Mem blocks need no source; partly covered Disk blocks were loaded above.
            block.make_mut(None)?[(start - idx * BS) as usize..(end - idx * BS) as usize]
                .copy_from_slice(part);
        }
        self.size = self.size.max(end_all);
        Ok(())
    }

    /// Zeros `[from, to)` inside block `idx` (loaded beforehand if it is on disk).
    fn zero_within(&mut self, idx: u64, from: u64, to: u64) {
        if let Some(Block::Mem(b)) = self.blocks.get_mut(&idx) {
            b[(from - idx * BS) as usize..(to - idx * BS) as usize].fill(0);
        }
    }

    /// Sets the size: shrinking drops whole blocks past the end and zeros the tail of the last
    /// one; growing exposes zeros. `size` must be at most `FILE_SIZE_MAX`. Fails (changing
    /// nothing visible) only if the new last block cannot be read from the image.
    pub fn set_size(&mut self, size: u64, src: Option<&dyn BlockSource>) -> Result<()> {
        assert!(size <= FILE_SIZE_MAX);
        if size < self.size {
            if !size.is_multiple_of(BS) {
                self.load_partial(size, (size / BS + 1) * BS - 1, src)?;
            }
            let keep = size.div_ceil(BS);
            let dropped = self.blocks.split_off(&keep);
            self.unwritten -= dropped.values().filter(|b| matches!(b, Block::Zero)).count() as u64;
            if !size.is_multiple_of(BS) {
                let idx = size / BS;
                self.zero_within(idx, size, (idx + 1) * BS);
            }
        }
        self.size = size;
        Ok(())
    }

    /// Allocates every block of `[offset, offset + len)`; extends the size unless `keep_size`.
    /// The range must have passed [`FileData::check_range`].
    pub fn allocate(&mut self, offset: u64, len: u64, keep_size: bool) {
        let Some((first, last)) = block_span(offset, len) else {
            return;
        };
        for idx in first..=last {
            self.blocks.entry(idx).or_insert_with(|| {
                self.unwritten += 1;
                Block::Zero
            });
        }
        if !keep_size {
            self.size = self.size.max(offset + len);
        }
    }

    /// Makes `[offset, offset + len)` read as zeros, freeing the blocks it covers entirely.
    /// The size does not change. Fails (changing nothing visible) only if a partly punched block
    /// cannot be read from the image.
    pub fn punch_hole(&mut self, offset: u64, len: u64, src: Option<&dyn BlockSource>) -> Result<()> {
        let Some((first, last)) = block_span(offset, len) else {
            return Ok(());
        };
        let end = offset.saturating_add(len);
        self.load_partial(offset, end.min(FILE_SIZE_MAX), src)?;
        for idx in first..=last.min(FILE_SIZE_MAX / BS) {
            let (bstart, bend) = (idx * BS, (idx + 1) * BS);
            if offset <= bstart && end >= bend {
                if let Some(Block::Zero) = self.blocks.remove(&idx) {
                    self.unwritten -= 1;
                }
            } else {
                self.zero_within(idx, offset.max(bstart), end.min(bend));
            }
        }
        Ok(())
    }

    /// The first offset at or after `offset` that lies in allocated space (`SEEK_DATA`), or
    /// `None` when there is none before the end of the file.
    pub fn seek_data(&self, offset: u64) -> Option<u64> {
        if offset >= self.size {
            return None;
        }
        let (&idx, _) = self.blocks.range(offset / BS..).next()?;
        let at = (idx * BS).max(offset);
        (at < self.size).then_some(at)
    }

    /// The first offset at or after `offset` that lies in a hole (`SEEK_HOLE`); the end of the
    /// file counts as a hole. `None` when `offset` is at or past the end.
    pub fn seek_hole(&self, offset: u64) -> Option<u64> {
        if offset >= self.size {
            return None;
        }
        let mut idx = offset / BS;
        for (&i, _) in self.blocks.range(idx..) {
            if i != idx {
                break;
            }
            idx += 1;
        }
        Some((idx * BS).max(offset).min(self.size))
    }

    /// Whether every byte at or past `size` in stored blocks is zero and no block lies past the
    /// largest file size (for `check`; blocks on disk are not read).
    pub fn tail_is_clean(&self) -> bool {
        let limit_ok = self
            .blocks
            .keys()
            .next_back()
            .is_none_or(|&i| i < FILE_SIZE_MAX / BS);
        let tail_ok = self.blocks.range(self.size / BS..).all(|(&idx, b)| match b {
            Block::Zero | Block::Disk { .. } => true,
            Block::Mem(bytes) => {
                let from = self.size.saturating_sub(idx * BS).min(BS) as usize;
                bytes[from..].iter().all(|&x| x == 0)
            }
        });
        limit_ok && tail_ok
    }

    /// Rebuilds file data from its parts (checkpoint loading).
    pub fn from_parts(size: u64, blocks: BTreeMap<u64, Block>) -> FileData {
        let unwritten = blocks.values().filter(|b| matches!(b, Block::Zero)).count() as u64;
        FileData {
            size,
            blocks,
            unwritten,
        }
    }

    /// The blocks, mutably (checkpoints turn written `Mem` blocks into `Disk` blocks).
    pub fn blocks_mut(&mut self) -> impl Iterator<Item = (u64, &mut Block)> {
        self.blocks.iter_mut().map(|(&i, b)| (i, b))
    }
}

#[cfg(test)]
mod tests;
