//! One damaged block never loses the image (issue 14, item 5): random single-block (4 KiB)
//! corruptions of a checkpointed image. After each, fsck reports the damage whenever the block
//! held anything, opening the image loses nothing but what that block alone held, and
//! `fsck --repair` leaves a clean image with only that block's bytes gone.
//!
//! The image is made by two sessions, so its previous checkpoint is kept as a fallback: damage
//! to the live checkpoint or the live superblock is recovered through it.

// Helpers outside #[test] functions unwrap too: these are tests.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use vexfs_core::check::check;
use vexfs_core::engine::fsck;
use vexfs_core::journal::{Extent, ExtentKind, OpenOptions};
use vexfs_core::namespace::Body;
use vexfs_core::storage::{MemStorage, Storage};
use vexfs_core::{Ctx, Engine, EngineConfig, INDEX_XATTR, Ino, ROOT_INO, Timestamp, VECTOR_XATTR, XattrMode};

const BS: usize = 4096;

fn ctx(i: u64) -> Ctx {
    Ctx::new(Timestamp::new(1_700_000_000 + i as i64, 0), 0, 0)
}

/// splitmix64: the test's own seeded generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn f32v(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Two sessions of files (1 byte to 300 KiB), attributes and a collection of vectors, each
/// closed cleanly; the second changes part of what the first made.
fn build() -> Vec<u8> {
    let s: Arc<dyn Storage> = Arc::new(MemStorage::new());
    let mut e = Engine::create_image(s.clone(), EngineConfig::default()).unwrap();
    let mut t = 0;
    let mut tick = || {
        t += 1;
        ctx(t)
    };
    let docs = e.mkdir(ROOT_INO, b"docs", 0o755, &tick()).unwrap().ino;
    e.setxattr(docs, INDEX_XATTR, b"dim=8 metric=cosine", XattrMode::Any, &tick())
        .unwrap();
    let plain = e.mkdir(ROOT_INO, b"plain", 0o755, &tick()).unwrap().ino;
    for i in 0..300u32 {
        let f = e
            .create(docs, format!("v{i}").as_bytes(), 0o644, &tick())
            .unwrap()
            .ino;
        let v: Vec<f32> = (0..8)
            .map(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0 + 0.5)
            .collect();
        e.setxattr(f, VECTOR_XATTR, &f32v(&v), XattrMode::Any, &tick())
            .unwrap();
        e.setxattr(
            f,
            b"user.tag",
            format!("t{}", i % 3).as_bytes(),
            XattrMode::Any,
            &tick(),
        )
        .unwrap();
        e.write(f, 0, format!("doc {i}").as_bytes(), &tick()).unwrap();
    }
    for i in 0..12u64 {
        let f = e
            .create(plain, format!("f{i}").as_bytes(), 0o600, &tick())
            .unwrap()
            .ino;
        let len = [1, 4096, 10_000, 65_536, 300_000][i as usize % 5];
        let data: Vec<u8> = (0..len).map(|j| (j as u64 * 31 + i) as u8).collect();
        e.write(f, 0, &data, &tick()).unwrap();
    }
    e.close().unwrap();
    let mut e = Engine::open_image(s.clone(), OpenOptions::default()).unwrap();
    let docs = e.resolve(b"/docs", false).unwrap();
    let plain = e.resolve(b"/plain", false).unwrap();
    for i in 0..60u32 {
        let f = e.lookup(docs, format!("v{i}").as_bytes()).unwrap().ino;
        let v: Vec<f32> = (0..8).map(|j| ((i + j) % 5) as f32 + 1.0).collect();
        e.setxattr(f, VECTOR_XATTR, &f32v(&v), XattrMode::Any, &tick())
            .unwrap();
    }
    for i in 0..4u64 {
        let f = e.lookup(plain, format!("f{i}").as_bytes()).unwrap().ino;
        e.write(f, 2000, &[0xA5; 9000], &tick()).unwrap();
    }
    e.unlink(plain, b"f11", &tick()).unwrap();
    e.create(ROOT_INO, b"late", 0o644, &tick()).unwrap();
    e.close().unwrap();
    let mut bytes = vec![0u8; s.len().unwrap() as usize];
    s.read_at(0, &mut bytes).unwrap();
    bytes
}

/// Everything observable, per inode: attributes, names, attributes' values, and each data
/// block as read (`None` when the read fails).
type Snapshot = BTreeMap<Ino, (String, Vec<(Vec<u8>, Vec<u8>)>, Vec<Option<Vec<u8>>>)>;

fn snapshot(e: &Engine) -> Snapshot {
    let mut out = BTreeMap::new();
    for (ino, n) in e.namespace().iter() {
        let head = format!(
            "{:?} {:o} {} {} {:?} {:?}",
            n.kind, n.perm, n.uid, n.gid, n.mtime, n.links
        );
        // As read (a held vector is its index's bytes).
        let xattrs = n
            .xattrs
            .iter()
            .map(|(k, _)| (k.to_vec(), e.getxattr(ino, k).unwrap().to_vec()))
            .collect();
        let mut blocks = Vec::new();
        if let Body::Regular(f) = &n.body {
            let mut buf = vec![0u8; BS];
            for b in 0..f.size().div_ceil(BS as u64) {
                blocks.push(
                    e.read(ino, b * BS as u64, &mut buf)
                        .ok()
                        .map(|len| buf[..len].to_vec()),
                );
            }
        }
        out.insert(ino, (head, xattrs, blocks));
    }
    out
}

/// The inode and block index whose data lies in image block `block`, if any.
fn data_block_owner(e: &Engine, block: u64) -> Option<(Ino, usize)> {
    for (ino, n) in e.namespace().iter() {
        if let Body::Regular(f) = &n.body {
            for (idx, b) in f.blocks() {
                if let vexfs_core::namespace::Block::Disk { addr, .. } = b
                    && *addr == block
                {
                    return Some((ino, idx as usize));
                }
            }
        }
    }
    None
}

/// Asserts `got` equals `want` but for block `skip` of one file, which may differ.
fn assert_same_but(want: &Snapshot, got: &Snapshot, skip: Option<(Ino, usize)>, what: &str) {
    assert_eq!(want.len(), got.len(), "{what}: inode count");
    for (ino, (head, xattrs, blocks)) in want {
        let (h2, x2, b2) = got.get(ino).unwrap_or_else(|| panic!("{what}: inode {ino} lost"));
        assert_eq!(head, h2, "{what}: inode {ino} attributes");
        assert_eq!(xattrs, x2, "{what}: inode {ino} attributes' values");
        assert_eq!(blocks.len(), b2.len(), "{what}: inode {ino} size");
        for (i, (a, b)) in blocks.iter().zip(b2).enumerate() {
            if skip != Some((*ino, i)) {
                assert_eq!(a, b, "{what}: inode {ino} block {i}");
            }
        }
    }
}

#[test]
fn one_damaged_block_loses_only_what_it_held() {
    let image = build();
    let reference = Engine::open_image(
        Arc::new(MemStorage::from_bytes(image.clone())),
        OpenOptions::read_only(),
    )
    .unwrap();
    let want = snapshot(&reference);
    let extents: Vec<Extent> = reference.image_extents();
    assert!(
        extents.iter().any(|x| x.kind == ExtentKind::FallbackCheckpoint),
        "the image keeps its previous checkpoint: {extents:?}"
    );
    let blocks = (image.len() / BS) as u64;
    let kind_of = |b: u64| {
        extents
            .iter()
            .find(|x| (x.first_block..x.first_block + x.blocks).contains(&b))
            .map(|x| x.kind)
    };
    let mut rng = Rng(14);
    let mut tally: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    // Blocks that hold something (inside a structure, not all zeros), then any block at all.
    let holds = |b: u64| kind_of(b).is_some() && image[b as usize * BS..][..BS].iter().any(|&x| x != 0);
    // Twenty of every kind (with repeats where a kind has fewer blocks), so that the few
    // blocks of a checkpoint get as many trials as the many of file data.
    let mut by_kind: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for b in (0..blocks).filter(|&b| holds(b)) {
        by_kind.entry(format!("{:?}", kind_of(b))).or_default().push(b);
    }
    let mut targets: Vec<u64> = Vec::new();
    for candidates in by_kind.values() {
        targets.extend((0..20).map(|_| candidates[rng.below(candidates.len() as u64) as usize]));
    }
    let held = targets.len();
    assert!(
        held >= 120,
        "{held} trials on blocks that hold something: {by_kind:?}"
    );
    targets.extend((0..30).map(|_| rng.below(blocks)));
    let trials = targets.len();
    for (trial, &b) in targets.iter().enumerate() {
        let mut bad = image.clone();
        let block = &mut bad[b as usize * BS..][..BS];
        let mode = trial % 3;
        match mode {
            0 => block.iter_mut().for_each(|x| *x = rng.next() as u8),
            1 => block[rng.below(BS as u64) as usize] ^= 1 << rng.below(8),
            _ => block.fill(0),
        }
        let changed = bad != image;
        let kind = kind_of(b);
        let what = format!("trial {trial}: block {b} ({kind:?}), damage {mode}");
        // fsck reads the damaged image and reports every damage to something it holds.
        let report = fsck(
            Arc::new(MemStorage::from_bytes(bad.clone())),
            false,
            false,
            |_, _, _| {},
        )
        .unwrap_or_else(|e| panic!("{what}: fsck could not open it: {e}"));
        // A log block's last bytes can be a gap no record covers: a single flipped bit there
        // damages nothing. Every other change to a block that holds something is reported.
        let must_report = changed
            && holds(b)
            && match kind {
                Some(ExtentKind::LogSegment | ExtentKind::FallbackLog) => mode != 1,
                Some(_) => true,
                None => false,
            };
        if must_report {
            assert!(!report.problems.is_empty(), "{what}: not reported");
        }
        let entry = tally.entry(format!("{kind:?}")).or_default();
        entry.0 += 1;
        entry.1 += u32::from(!report.problems.is_empty());
        // Opening loses nothing but that block's own bytes (a file block reads as an error).
        let owner = data_block_owner(&reference, b);
        let e = Engine::open_image(
            Arc::new(MemStorage::from_bytes(bad.clone())),
            OpenOptions::read_only(),
        )
        .unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
        assert_same_but(&want, &snapshot(&e), owner, &what);
        if let Err(p) = check(&e) {
            panic!("{what}: check after open: {p}");
        }
        drop(e);
        // Repair: a clean image, the same state, the damaged file block (if any) zeros.
        let s = Arc::new(MemStorage::from_bytes(bad));
        let repaired = fsck(s.clone() as Arc<dyn Storage>, true, false, |_, _, _| {})
            .unwrap_or_else(|e| panic!("{what}: repair failed: {e}"));
        assert!(
            repaired.problems.is_empty(),
            "{what}: after repair {:?}",
            repaired.problems
        );
        let again = fsck(s.clone() as Arc<dyn Storage>, false, false, |_, _, _| {}).unwrap();
        assert!(
            again.problems.is_empty(),
            "{what}: fsck after repair {:?}",
            again.problems
        );
        let e = Engine::open_image(s, OpenOptions::read_only()).unwrap();
        let got = snapshot(&e);
        assert_same_but(&want, &got, owner, &format!("{what}, repaired"));
        if let Some((ino, idx)) = owner
            && changed
        {
            let block = got[&ino].2[idx].as_ref().expect("a repaired block reads");
            assert!(
                block.iter().all(|&x| x == 0),
                "{what}: the repaired block reads as zeros"
            );
        }
    }
    eprintln!(
        "single-block damage, {trials} trials ({held} on blocks that hold something): kind -> (trials, reported)"
    );
    for (k, (n, r)) in &tally {
        eprintln!("  {k}: {n} trials, {r} reported");
    }
}

/// Regression (simulator seed 1006): the fallback's own retained extents were freed once the
/// checkpoint after it was durable, and the image may since have been cut short of them; the
/// fallback must still load. Sessions: one writes 4 MiB, the next deletes it, the next changes
/// a little (its checkpoint frees the 4 MiB, the image shrinks, and its fallback's retained
/// extents now lie past the end); then the live checkpoint is damaged.
#[test]
fn the_fallback_loads_when_what_it_retained_is_gone() {
    let s: Arc<dyn Storage> = Arc::new(MemStorage::new());
    let mut e = Engine::create_image(s.clone(), EngineConfig::default()).unwrap();
    e.create(ROOT_INO, b"first", 0o644, &ctx(1)).unwrap();
    e.close().unwrap();
    let session = |f: &dyn Fn(&mut Engine)| {
        let mut e = Engine::open_image(s.clone(), OpenOptions::default()).unwrap();
        f(&mut e);
        e.close().unwrap();
    };
    session(&|e| {
        let big = e.create(ROOT_INO, b"big", 0o644, &ctx(2)).unwrap().ino;
        e.write(big, 0, &vec![5u8; 4 << 20], &ctx(2)).unwrap();
    });
    let grown = s.len().unwrap();
    session(&|e| e.unlink(ROOT_INO, b"big", &ctx(3)).unwrap());
    session(&|e| {
        e.create(ROOT_INO, b"small", 0o644, &ctx(4)).unwrap();
    });
    assert!(
        s.len().unwrap() < grown / 2,
        "the image shrank once the big file's blocks were free"
    );
    let e = Engine::open_image(s.clone(), OpenOptions::read_only()).unwrap();
    let want = snapshot(&e);
    let ckpt = e
        .image_extents()
        .into_iter()
        .find(|x| x.kind == ExtentKind::Checkpoint)
        .unwrap();
    drop(e);
    let mut bytes = vec![0u8; s.len().unwrap() as usize];
    s.read_at(0, &mut bytes).unwrap();
    bytes[ckpt.first_block as usize * BS + 100] ^= 0x10;
    let e = Engine::open_image(
        Arc::new(MemStorage::from_bytes(bytes.clone())),
        OpenOptions::read_only(),
    )
    .unwrap_or_else(|err| panic!("recovering through the fallback: {err}"));
    assert_same_but(
        &want,
        &snapshot(&e),
        None,
        "after the live checkpoint was damaged",
    );
    let r = fsck(
        Arc::new(MemStorage::from_bytes(bytes)),
        false,
        false,
        |_, _, _| {},
    )
    .unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(
        r.problems[0].contains("recovered from the previous one"),
        "{:?}",
        r.problems
    );
}

/// Issue 18, item 10: a file that is not a VexFS image (empty, zeros, text, another format) is
/// said to be one, by open and by fsck; a VexFS image with a damaged superblock magic is still
/// reported as damage, not as another format.
#[test]
fn a_file_that_is_not_an_image_is_said_so() {
    use vexfs_core::Error;
    let text = b"#!/bin/sh\necho hello\n".repeat(1000);
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("short", b"hello".to_vec()),
        ("zeros", vec![0u8; 1 << 16]),
        ("text", text),
    ] {
        let open = |b: &[u8]| {
            Engine::open_image(
                Arc::new(MemStorage::from_bytes(b.to_vec())),
                OpenOptions::read_only(),
            )
        };
        assert_eq!(open(&bytes).err(), Some(Error::NotAnImage), "{what}");
        let f = fsck(
            Arc::new(MemStorage::from_bytes(bytes.clone())),
            false,
            false,
            |_, _, _| {},
        );
        assert_eq!(f.err(), Some(Error::NotAnImage), "{what}");
    }
    // A fresh image has one superblock; flipping bits of its magic is damage.
    let s: Arc<dyn Storage> = Arc::new(MemStorage::new());
    Engine::create_image(s.clone(), EngineConfig::default())
        .unwrap()
        .close()
        .unwrap();
    let mut bytes = vec![0u8; s.len().unwrap() as usize];
    s.read_at(0, &mut bytes).unwrap();
    for slot in [0, BS] {
        let mut b = bytes.clone();
        b[slot] ^= 0x01;
        b[slot + 3] ^= 0x80;
        let r = Engine::open_image(Arc::new(MemStorage::from_bytes(b)), OpenOptions::read_only());
        assert!(
            !matches!(r, Err(Error::NotAnImage)),
            "a damaged magic in slot {slot} was called another format"
        );
    }
}
