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
mod tests {
    use super::*;

    fn read_all(f: &FileData) -> Vec<u8> {
        let mut v = vec![0xAA; f.size() as usize];
        assert_eq!(f.read(0, &mut v, None).unwrap(), f.size() as usize);
        v
    }

    #[test]
    fn sparse_write_read_truncate() {
        let mut f = FileData::default();
        f.write(10_000, b"hello", None).unwrap();
        assert_eq!(f.size(), 10_005);
        assert_eq!(f.allocated_blocks(), 1);
        let all = read_all(&f);
        assert!(all[..10_000].iter().all(|&b| b == 0));
        assert_eq!(&all[10_000..], b"hello");
        f.set_size(10_002, None).unwrap();
        f.set_size(20_000, None).unwrap();
        let all = read_all(&f);
        assert_eq!(&all[10_000..10_005], b"he\0\0\0");
        assert!(f.tail_is_clean());
        let mut short = [0u8; 8];
        assert_eq!(f.read(19_996, &mut short, None).unwrap(), 4);
        assert_eq!(f.read(30_000, &mut short, None).unwrap(), 0);
    }

    #[test]
    fn write_spanning_blocks() {
        let mut f = FileData::default();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8 + 1).collect();
        f.write(4000, &data, None).unwrap();
        assert_eq!(f.allocated_blocks(), 4);
        let mut back = vec![0; 10_000];
        assert_eq!(f.read(4000, &mut back, None).unwrap(), 10_000);
        assert_eq!(back, data);
    }

    #[test]
    fn fallocate_and_punch() {
        let mut f = FileData::default();
        f.allocate(0, 3 * BS, true);
        assert_eq!(f.size(), 0);
        assert_eq!(f.allocated_blocks(), 3);
        f.allocate(0, 3 * BS, false);
        assert_eq!(f.size(), 3 * BS);
        f.write(0, &[7u8; 3 * BLOCK_SIZE], None).unwrap();
        f.punch_hole(100, 2 * BS, None).unwrap();
        assert_eq!(f.size(), 3 * BS);
        assert_eq!(f.allocated_blocks(), 2, "the middle block is freed");
        let all = read_all(&f);
        assert!(all[..100].iter().all(|&b| b == 7));
        assert!(all[100..100 + 2 * BLOCK_SIZE].iter().all(|&b| b == 0));
        assert!(all[100 + 2 * BLOCK_SIZE..].iter().all(|&b| b == 7));
        assert_eq!(f.seek_data(0), Some(0));
        assert_eq!(f.seek_hole(0), Some(BS));
        assert_eq!(f.seek_data(BS), Some(2 * BS));
        assert_eq!(f.seek_hole(2 * BS), Some(3 * BS));
        assert_eq!(f.seek_data(3 * BS), None);
    }

    #[test]
    fn reads_write_every_byte_of_the_buffer() {
        // Hole, unwritten (fallocated), hole, written, hole, size ending inside a hole: every
        // window read into a dirty buffer equals the same window of a byte model.
        let mut f = FileData::default();
        let mut model = vec![0u8; 5 * BLOCK_SIZE + 300];
        f.allocate(BS, BS, true);
        f.write(3 * BS + 10, &[5; 100], None).unwrap();
        model[3 * BLOCK_SIZE + 10..3 * BLOCK_SIZE + 110].fill(5);
        f.set_size(model.len() as u64, None).unwrap();
        for (off, len) in [
            (0, model.len()),
            (1, 3 * BLOCK_SIZE),
            (BS - 1, 2),
            (3 * BS + 50, 9000),
        ] {
            let mut buf = vec![0xAA; len];
            let n = f.read(off, &mut buf, None).unwrap();
            let want = &model[off as usize..(off as usize + len).min(model.len())];
            assert_eq!(&buf[..n], want, "read of {len} at {off}");
        }
    }

    /// A block source over a map of image blocks, counting single-block reads and runs.
    struct Image(
        std::collections::BTreeMap<u64, [u8; BLOCK_SIZE]>,
        std::cell::Cell<u32>,
        std::cell::Cell<u32>,
    );

    impl Image {
        /// Image block `addr`, checked against `crc`.
        fn block(&self, addr: u64, crc: u32) -> Result<&[u8; BLOCK_SIZE]> {
            let b = self.0.get(&addr).ok_or(Error::Corrupted {
                what: "block",
                offset: addr,
            })?;
            if crc32c::crc32c(b) != crc {
                return Err(Error::Corrupted {
                    what: "file block",
                    offset: addr * BS,
                });
            }
            Ok(b)
        }
    }

    impl BlockSource for Image {
        fn read_block(&self, addr: u64, crc: u32, out: &mut [u8; BLOCK_SIZE]) -> Result<()> {
            self.1.set(self.1.get() + 1);
            out.copy_from_slice(self.block(addr, crc)?);
            Ok(())
        }

        fn read_run(&self, addr: u64, crcs: &[u32], out: &mut [u8]) -> Result<()> {
            self.2.set(self.2.get() + 1);
            for ((i, &crc), chunk) in crcs.iter().enumerate().zip(out.chunks_exact_mut(BLOCK_SIZE)) {
                chunk.copy_from_slice(self.block(addr + i as u64, crc)?);
            }
            Ok(())
        }
    }

    #[test]
    fn disk_blocks_are_read_and_copied_on_write() {
        let img = Image(
            [(7, [5u8; BLOCK_SIZE]), (8, [6u8; BLOCK_SIZE])].into(),
            Default::default(),
            Default::default(),
        );
        let crc = |a| crc32c::crc32c(&img.0[&a]);
        let blocks = [
            (0, Block::Disk { addr: 7, crc: crc(7) }),
            (1, Block::Disk { addr: 8, crc: crc(8) }),
        ];
        let mut f = FileData::from_parts(2 * BS, blocks.into());
        let mut buf = vec![0; 10];
        assert_eq!(f.read(BS - 5, &mut buf, Some(&img)).unwrap(), 10);
        assert_eq!(buf, [5, 5, 5, 5, 5, 6, 6, 6, 6, 6]);
        assert!(f.read(0, &mut buf, None).is_err(), "a disk block needs a source");
        // A partial write loads the old block; a full overwrite does not read it.
        img.1.set(0);
        f.write(1, b"x", Some(&img)).unwrap();
        f.write(BS, &[9u8; BLOCK_SIZE], Some(&img)).unwrap();
        assert_eq!(img.1.get(), 1);
        assert!(matches!(f.blocks().nth(1), Some((1, Block::Mem(_)))));
        let all = read_all(&f);
        assert_eq!(&all[..3], &[5, b'x', 5]);
        assert!(all[BLOCK_SIZE..].iter().all(|&b| b == 9));
        // Damage is reported, not returned as data.
        let bad = FileData::from_parts(BS, [(0, Block::Disk { addr: 7, crc: 1 })].into());
        assert!(matches!(
            bad.read(0, &mut buf, Some(&img)),
            Err(Error::Corrupted { .. })
        ));
        // Truncating into a disk block loads it before zeroing the tail.
        let mut t = FileData::from_parts(BS, [(0, Block::Disk { addr: 7, crc: crc(7) })].into());
        t.set_size(10, Some(&img)).unwrap();
        t.set_size(20, None).unwrap();
        let mut back = vec![0; 20];
        t.read(0, &mut back, None).unwrap();
        assert_eq!(&back[..], &[[5u8; 10], [0u8; 10]].concat()[..]);
        assert!(t.tail_is_clean());
    }

    #[test]
    fn consecutive_disk_blocks_are_read_as_runs() {
        // Image blocks 10..=14 hold file blocks 0..=4 in order, except that file block 3 is in
        // memory and file block 5 is image block 30 (not consecutive).
        let fill = |a: u64| [a as u8; BLOCK_SIZE];
        let img = Image(
            [10, 11, 12, 14, 30].map(|a| (a, fill(a))).into(),
            Default::default(),
            Default::default(),
        );
        let disk = |a: u64| Block::Disk {
            addr: a,
            crc: crc32c::crc32c(&img.0[&a]),
        };
        let blocks = [
            (0, disk(10)),
            (1, disk(11)),
            (2, disk(12)),
            (3, Block::Mem(Box::new([99; BLOCK_SIZE]))),
            (4, disk(14)),
            (5, disk(30)),
        ];
        let f = FileData::from_parts(6 * BS, blocks.into());
        let mut buf = vec![0; 6 * BLOCK_SIZE];
        assert_eq!(f.read(0, &mut buf, Some(&img)).unwrap(), buf.len());
        for (i, want) in [10u8, 11, 12, 99, 14, 30].into_iter().enumerate() {
            let got = &buf[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE];
            assert!(got.iter().all(|&b| b == want), "block {i}");
        }
        // One run (image 10..=12) and two single blocks (14 and 30, not consecutive with it).
        assert_eq!((img.2.get(), img.1.get()), (1, 2));
        // Partly covered blocks at either end go through the single-block path.
        let mut part = vec![0; 2 * BLOCK_SIZE];
        assert_eq!(f.read(BS / 2, &mut part, Some(&img)).unwrap(), part.len());
        assert!(part[..BLOCK_SIZE / 2].iter().all(|&b| b == 10));
        assert!(part[BLOCK_SIZE / 2..BLOCK_SIZE * 3 / 2].iter().all(|&b| b == 11));
        assert!(part[BLOCK_SIZE * 3 / 2..].iter().all(|&b| b == 12));
        // A damaged block inside a run is reported with its own offset.
        let mut bad = f.clone();
        bad.blocks.insert(1, Block::Disk { addr: 11, crc: 0 });
        assert_eq!(
            bad.read(0, &mut buf, Some(&img)),
            Err(Error::Corrupted {
                what: "file block",
                offset: 11 * BS
            })
        );
        // Runs are at most RUN_BLOCKS long and still read everything.
        let n = RUN_BLOCKS as u64 + 3;
        let long = Image(
            (0..n).map(|a| (100 + a, fill(a))).collect(),
            Default::default(),
            Default::default(),
        );
        let f = FileData::from_parts(
            n * BS,
            (0..n)
                .map(|i| {
                    let crc = crc32c::crc32c(&long.0[&(100 + i)]);
                    (i, Block::Disk { addr: 100 + i, crc })
                })
                .collect(),
        );
        let mut all = vec![0; (n * BS) as usize];
        f.read(0, &mut all, Some(&long)).unwrap();
        assert!((0..n as usize).all(|i| {
            all[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE]
                .iter()
                .all(|&b| b == i as u8)
        }));
        assert_eq!(long.2.get(), 2);
    }

    #[test]
    fn range_limit() {
        assert_eq!(FileData::check_range(FILE_SIZE_MAX - 1, 1), Ok(()));
        assert_eq!(FileData::check_range(FILE_SIZE_MAX, 1), Err(Error::FileTooBig));
        assert_eq!(FileData::check_range(u64::MAX, 2), Err(Error::FileTooBig));
    }

    /// An image in one flat buffer, which lends views like a memory map.
    struct Flat(Vec<u8>);

    impl BlockSource for Flat {
        fn read_block(&self, addr: u64, crc: u32, out: &mut [u8; BLOCK_SIZE]) -> Result<()> {
            self.read_run(addr, &[crc], out)
        }

        fn read_run(&self, addr: u64, crcs: &[u32], out: &mut [u8]) -> Result<()> {
            out.copy_from_slice(self.view(addr, crcs.len()).unwrap());
            for (i, (&crc, b)) in crcs.iter().zip(out.chunks_exact(BLOCK_SIZE)).enumerate() {
                verify_block(addr + i as u64, crc, b)?;
            }
            Ok(())
        }

        fn view(&self, addr: u64, blocks: usize) -> Option<&[u8]> {
            self.0
                .get(addr as usize * BLOCK_SIZE..(addr as usize + blocks) * BLOCK_SIZE)
        }
    }

    #[test]
    fn views_are_what_reads_give_or_nothing() {
        let mut img = Flat((0..40 * BLOCK_SIZE).map(|i| (i * 7 % 251) as u8).collect());
        let disk = |img: &Flat, addr: u64| Block::Disk {
            addr,
            crc: crc32c::crc32c(&img.0[addr as usize * BLOCK_SIZE..][..BLOCK_SIZE]),
        };
        // Blocks 0-3 at image 10-13, 4 at 20 (not next to 13), 5 a hole, 6 in memory,
        // 7 unwritten, 8 at 30 and the last, partly past the size.
        let mut blocks: BTreeMap<u64, Block> = (0..4).map(|i| (i, disk(&img, 10 + i))).collect();
        blocks.insert(4, disk(&img, 20));
        blocks.insert(6, Block::Mem(Box::new([3; BLOCK_SIZE])));
        blocks.insert(7, Block::Zero);
        let size = 9 * BS - 100;
        let mut tail = img.0[30 * BLOCK_SIZE..31 * BLOCK_SIZE].to_vec();
        tail[BLOCK_SIZE - 100..].fill(0);
        img.0[30 * BLOCK_SIZE..31 * BLOCK_SIZE].copy_from_slice(&tail);
        blocks.insert(8, disk(&img, 30));
        let f = FileData::from_parts(size, blocks);
        let read = |offset: u64, len: usize| {
            let mut buf = vec![0xEE; len];
            let n = f.read(offset, &mut buf, Some(&img)).unwrap();
            buf.truncate(n);
            buf
        };
        for (offset, len) in [
            (0, 4 * BLOCK_SIZE),
            (5, 3 * BLOCK_SIZE),
            (4 * BS, 10),
            (9 * BS - 150, 1000),
        ] {
            let view = f.view(offset, len, Some(&img)).unwrap();
            assert_eq!(view, Some(&read(offset, len)[..]), "at {offset}+{len}");
        }
        for (offset, len) in [
            (3 * BS + 1, BLOCK_SIZE),
            (5 * BS, 1),
            (6 * BS, 1),
            (7 * BS, 1),
            (4 * BS, 2 * BLOCK_SIZE),
        ] {
            assert_eq!(
                f.view(offset, len, Some(&img)).unwrap(),
                None,
                "at {offset}+{len}"
            );
        }
        assert_eq!(f.view(size, 10, Some(&img)).unwrap(), Some(&[][..]));
        assert_eq!(f.view(0, 10, None).unwrap(), None, "no image, nothing to lend");
        // A damaged block inside the range is an error, never bytes.
        img.0[11 * BLOCK_SIZE + 5] ^= 1;
        assert_eq!(
            f.view(0, 4 * BLOCK_SIZE, Some(&img)),
            Err(Error::Corrupted {
                what: "file data block",
                offset: 11 * BS
            })
        );
    }
}
