//! Unit tests of file data: sparse writes, reads, truncation, fallocate and punch, blocks on
//! the medium read (in runs) and copied on write, range limits and views.
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
