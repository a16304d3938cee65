//! Persistence tests (docs/format.md): crashes at every sync point of a scripted workload,
//! round trips through a real image file, and corruption of every structure.
//!
//! The reference for "what the state should be" is an in-memory engine that ran the same steps:
//! the engine is deterministic, so after `j` steps both must have equal `state_digest`s.

// Helpers outside #[test] functions unwrap too: these are tests.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use vexfs_core::Creds;
use vexfs_core::check::{check, state_digest};
use vexfs_core::engine::fsck;
use vexfs_core::journal::OpenOptions;
use vexfs_core::query::{Query, Target};
use vexfs_core::storage::{CrashMode, CrashStorage, FileStorage, MemStorage, Storage};
use vexfs_core::{
    Ctx, Engine, EngineConfig, Error, FallocMode, FileKind, INDEX_XATTR, Ino, ROOT_INO, RenameMode, Scratch,
    SetAttr, SetTime, Timestamp, VECTOR_XATTR, XattrMode,
};

type Step = Box<dyn Fn(&mut Engine) -> vexfs_core::Result<()>>;

fn ctx(i: usize) -> Ctx {
    Ctx::new(
        Timestamp::new(1_700_000_000 + i as i64, (i * 7919) as u32 % 1_000_000_000),
        1000,
        100,
    )
}

fn f32v(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn look(e: &Engine, path: &str) -> Ino {
    e.resolve(path.as_bytes(), false)
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// A workload touching every operation kind, vectors of three collection types included, with
/// explicit syncs and checkpoints between groups of steps. Every step is exactly one operation
/// (one log record; an unlink may add the release of the inode it freed), so a recovered prefix
/// of the log is a prefix of the steps. `None` marks a sync, `Some(false)` a checkpoint; they are
/// no-ops for the in-memory reference.
fn workload() -> Vec<(Option<bool>, Step)> {
    let mut w: Vec<(Option<bool>, Step)> = Vec::new();
    macro_rules! step {
        (|$e:ident, $c:ident| $body:expr) => {
            w.push((Some(true), Box::new(move |$e: &mut Engine| {
                let n = $e.op_counts().map(|(_, c)| c).sum::<u64>() as usize;
                let $c = ctx(n);
                $body
            })))
        };
    }
    let sync = |w: &mut Vec<(Option<bool>, Step)>| w.push((None, Box::new(|_: &mut Engine| Ok(()))));
    let checkpoint =
        |w: &mut Vec<(Option<bool>, Step)>| w.push((Some(false), Box::new(|_: &mut Engine| Ok(()))));
    for (dir, cfg) in [
        ("docs", "dim=8 metric=cosine"),
        ("bits", "dim=64 type=bin"),
        ("ints", "dim=16 type=i8 metric=l1"),
    ] {
        step!(|e, c| e.mkdir(ROOT_INO, dir.as_bytes(), 0o755, &c).map(drop));
        step!(|e, c| e.setxattr(
            look(e, &format!("/{dir}")),
            INDEX_XATTR,
            cfg.as_bytes(),
            XattrMode::Create,
            &c
        ));
    }
    step!(|e, c| e.mkdir(ROOT_INO, b"plain", 0o700, &c).map(drop));
    sync(&mut w);
    for i in 0..12u32 {
        step!(|e, c| e
            .create(look(e, "/docs"), format!("d{i}").as_bytes(), 0o644, &c)
            .map(drop));
        step!(|e, c| {
            let v: Vec<f32> = (0..8).map(|j| ((i * 31 + j * 7) % 13) as f32 - 6.0).collect();
            e.setxattr(
                look(e, &format!("/docs/d{i}")),
                VECTOR_XATTR,
                &f32v(&v),
                XattrMode::Any,
                &c,
            )
        });
        step!(|e, c| {
            let lang: &[u8] = if i % 3 == 0 { b"de" } else { b"en" };
            e.setxattr(
                look(e, &format!("/docs/d{i}")),
                b"user.lang",
                lang,
                XattrMode::Any,
                &c,
            )
        });
        step!(|e, c| e
            .write(
                look(e, &format!("/docs/d{i}")),
                u64::from(i) * 10,
                format!("document {i}").as_bytes(),
                &c
            )
            .map(drop));
        step!(|e, c| e
            .create(look(e, "/bits"), format!("b{i}").as_bytes(), 0o600, &c)
            .map(drop));
        step!(|e, c| {
            let v: Vec<u8> = (0..8)
                .map(|j| (i as u8).wrapping_mul(37).rotate_left(j))
                .collect();
            e.setxattr(
                look(e, &format!("/bits/b{i}")),
                VECTOR_XATTR,
                &v,
                XattrMode::Any,
                &c,
            )
        });
        step!(|e, c| e
            .create(look(e, "/ints"), format!("n{i}").as_bytes(), 0o600, &c)
            .map(drop));
        step!(|e, c| {
            let v: Vec<u8> = (0..16).map(|j| ((i * 5 + j) % 21) as i8 as u8).collect();
            e.setxattr(
                look(e, &format!("/ints/n{i}")),
                VECTOR_XATTR,
                &v,
                XattrMode::Any,
                &c,
            )
        });
        if i % 2 == 1 {
            sync(&mut w);
        }
    }
    // Data: a large write spanning blocks, overwrites, truncation, fallocate, punching.
    step!(|e, c| e.create(look(e, "/plain"), b"big", 0o644, &c).map(drop));
    step!(|e, c| {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        e.write(look(e, "/plain/big"), 0, &data, &c).map(drop)
    });
    step!(|e, c| e
        .write(look(e, "/plain/big"), 5000, &[0xEE; 10_000], &c)
        .map(drop));
    sync(&mut w);
    checkpoint(&mut w);
    step!(|e, c| e
        .setattr(
            look(e, "/plain/big"),
            SetAttr {
                size: Some(123_456),
                ..SetAttr::default()
            },
            &c
        )
        .map(drop));
    step!(|e, c| e.fallocate(look(e, "/plain/big"), 200_000, 50_000, FallocMode::KeepSize, &c));
    step!(|e, c| e.fallocate(look(e, "/plain/big"), 4096, 8192, FallocMode::PunchHole, &c));
    step!(|e, c| e
        .write(look(e, "/plain/big"), 7000, b"after the checkpoint", &c)
        .map(drop));
    step!(|e, c| e.fallocate(look(e, "/plain/big"), 0, 1 << 20, FallocMode::Allocate, &c));
    sync(&mut w);
    // Namespace: links, renames across collections, exchange, special nodes, attributes.
    step!(|e, c| e
        .link(look(e, "/docs/d1"), look(e, "/plain"), b"d1-link", &c)
        .map(drop));
    step!(|e, c| e.rename(
        look(e, "/docs"),
        b"d2",
        look(e, "/plain"),
        b"moved",
        RenameMode::Replace,
        &c
    ));
    step!(|e, c| e.rename(
        look(e, "/plain"),
        b"moved",
        look(e, "/docs"),
        b"d3",
        RenameMode::Replace,
        &c
    ));
    step!(|e, c| e.rename(
        look(e, "/bits"),
        b"b0",
        look(e, "/ints"),
        b"n0",
        RenameMode::Exchange,
        &c
    ));
    step!(|e, c| e.symlink(ROOT_INO, b"shortcut", b"/docs/d4", &c).map(drop));
    step!(|e, c| e.mknod(ROOT_INO, b"fifo", FileKind::Fifo, 0o600, 0, &c).map(drop));
    step!(|e, c| {
        let a = SetAttr {
            perm: Some(0o4751),
            uid: Some(7),
            atime: Some(SetTime::At(Timestamp::new(5, 6))),
            ..SetAttr::default()
        };
        e.setattr(look(e, "/docs/d5"), a, &c).map(drop)
    });
    step!(|e, c| e.setxattr(
        look(e, "/plain"),
        b"trusted.note",
        &[0, 1, 2, 255],
        XattrMode::Any,
        &c
    ));
    sync(&mut w);
    // Vectors: replace, remove, and a collection whose configuration changes.
    step!(|e, c| e.setxattr(
        look(e, "/docs/d6"),
        VECTOR_XATTR,
        &f32v(&[1.0; 8]),
        XattrMode::Replace,
        &c
    ));
    step!(|e, c| e.removexattr(look(e, "/docs/d7"), VECTOR_XATTR, &c));
    step!(|e, c| e.setxattr(
        look(e, "/docs"),
        INDEX_XATTR,
        b"dim=8 metric=cosine ef_search=99",
        XattrMode::Replace,
        &c
    ));
    step!(|e, c| e.unlink(look(e, "/docs"), b"d8", &c));
    // An open file, unlinked, written, then closed: it must not survive a restart.
    step!(|e, c| {
        let f = look(e, "/docs/d9");
        e.pin(f, 1);
        e.unlink(look(e, "/docs"), b"d9", &c)
    });
    step!(|e, c| {
        let f = e.orphans().next().ok_or(Error::NotFound)?;
        e.write(f, 0, b"orphan data", &c).map(drop)
    });
    sync(&mut w);
    step!(|e, c| {
        let f = e.orphans().next().ok_or(Error::NotFound)?;
        e.unpin(f, 1, &c)
    });
    step!(|e, c| e.removexattr(look(e, "/ints"), INDEX_XATTR, &c));
    step!(|e, c| e.setxattr(
        look(e, "/ints"),
        INDEX_XATTR,
        b"dim=16 type=i8 metric=l2",
        XattrMode::Any,
        &c
    ));
    checkpoint(&mut w);
    for i in 0..6u32 {
        step!(|e, c| e
            .write(
                look(e, "/plain/big"),
                u64::from(i) * 4096 + 100,
                &[i as u8 + 1; 5000],
                &c
            )
            .map(drop));
    }
    sync(&mut w);
    // Steps after the last sync: a crash may lose them.
    step!(|e, c| e.unlink(look(e, "/bits"), b"b5", &c));
    step!(|e, c| e.rmdir(ROOT_INO, b"fifo", &c).or(Ok(())));
    w
}

/// Digest of the in-memory reference after the first `j` steps, as recovery would leave it
/// (unlinked inodes released).
fn reference_digest(steps: &[(Option<bool>, Step)], j: usize) -> u64 {
    let mut e = Engine::new(EngineConfig::default());
    for (_, s) in &steps[..j] {
        s(&mut e).unwrap();
    }
    let orphans: Vec<Ino> = e.orphans().collect();
    for ino in orphans {
        e.unpin(ino, u64::MAX, &ctx(0)).unwrap();
    }
    state_digest(&e)
}

#[test]
fn workload_steps_are_single_operations() {
    let steps = workload();
    let mut e = Engine::new(EngineConfig::default());
    for (i, (_, s)) in steps.iter().enumerate() {
        let before: u64 = e.op_counts().map(|(_, c)| c).sum();
        s(&mut e).unwrap();
        let ops: u64 = e.op_counts().map(|(_, c)| c).sum::<u64>() - before;
        let releases = e
            .op_counts()
            .find(|(k, _)| k.name() == "release")
            .map_or(0, |(_, c)| c);
        assert!(
            ops <= 1 || (ops == 2 && releases > 0),
            "step {i} applied {ops} operations"
        );
    }
}

#[test]
fn crash_at_every_sync_point_recovers_a_durable_prefix() {
    let steps = workload();
    let storage = Arc::new(CrashStorage::new());
    let mut e = Engine::create_image(storage.clone() as Arc<dyn Storage>, EngineConfig::default()).unwrap();
    // Tag each sync with (steps surely durable) << 32 | (steps applied so far).
    let mut durable = 0usize;
    for (i, (kind, s)) in steps.iter().enumerate() {
        storage.set_tag(((durable as u64) << 32) | (i as u64 + 1));
        match kind {
            Some(true) => s(&mut e).unwrap(),
            None => {
                e.sync().unwrap();
                durable = i + 1;
            }
            Some(false) => {
                e.checkpoint().unwrap();
                durable = i + 1;
            }
        }
    }
    let points = storage.sync_points();
    assert!(points.len() >= 18, "only {} sync points", points.len());
    let mut refs: std::collections::BTreeMap<usize, u64> = std::collections::BTreeMap::new();
    let mut tried = 0;
    for (k, point) in points.iter().enumerate() {
        let (lo, hi) = ((point.tag >> 32) as usize, (point.tag & 0xffff_ffff) as usize);
        for mode in [
            CrashMode::DropUnsynced,
            CrashMode::TearLast { keep_percent: 50 },
            CrashMode::TearLast { keep_percent: 100 },
        ] {
            let img = MemStorage::from_bytes(point.crash_image(mode));
            let r = Engine::open_image(Arc::new(img), OpenOptions::default());
            if k < 2 {
                // Crashes while the image was being created leave no valid superblock.
                assert!(r.is_err() || r.as_ref().is_ok_and(|e| check(e).is_ok()));
                continue;
            }
            let mut got = r.unwrap_or_else(|err| panic!("sync point {k} {mode:?}: open failed: {err}"));
            if let Err(p) = check(&got) {
                panic!("sync point {k} {mode:?}: check failed:\n{p}");
            }
            let d = state_digest(&got);
            let j = (lo..=hi.min(steps.len()))
                .find(|&j| *refs.entry(j).or_insert_with(|| reference_digest(&steps, j)) == d);
            assert!(
                j.is_some(),
                "sync point {k} {mode:?}: state is not the reference after any of steps {lo}..={hi}"
            );
            // The recovered image keeps working.
            let c = ctx(999);
            got.create(ROOT_INO, b"after-crash", 0o644, &c).unwrap();
            got.sync().unwrap();
            tried += 1;
        }
    }
    assert_eq!(
        tried,
        (points.len() - 2) * 3,
        "every sync point after creation, in every mode"
    );
}

fn populate(e: &mut Engine) {
    let c = ctx(1);
    for (dir, cfg) in [
        (&b"a"[..], &b"dim=4"[..]),
        (b"h", b"dim=16 type=bin"),
        (b"q", b"dim=4 type=f16 metric=dot"),
    ] {
        let d = e.mkdir(ROOT_INO, dir, 0o755, &c).unwrap().ino;
        e.setxattr(d, INDEX_XATTR, cfg, XattrMode::Any, &c).unwrap();
        for i in 0..200u32 {
            let f = e.create(d, format!("f{i}").as_bytes(), 0o644, &c).unwrap().ino;
            let v: Vec<u8> = match dir {
                b"a" => f32v(&[i as f32, (i % 7) as f32, (i % 3) as f32, 1.0]),
                b"h" => vec![(i % 256) as u8, (i / 7) as u8],
                _ => [i as f32 / 10.0, 1.0, -(i as f32) / 20.0, 0.5]
                    .iter()
                    .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
                    .collect(),
            };
            e.setxattr(f, VECTOR_XATTR, &v, XattrMode::Any, &c).unwrap();
            e.setxattr(f, b"user.i", i.to_string().as_bytes(), XattrMode::Any, &c)
                .unwrap();
            e.write(f, 0, &vec![i as u8; (i as usize * 97) % 9000], &c)
                .unwrap();
            if i % 5 == 0 {
                e.unlink(d, format!("f{i}").as_bytes(), &c).unwrap();
            }
        }
    }
}

fn searches(e: &Engine) -> Vec<Vec<(Ino, f32)>> {
    let qs = [
        ("/a", vec![3.0, 1.0, 0.0, 1.0]),
        ("/h", (0..16).map(|i| f64::from(i % 2)).collect()),
        ("/q", vec![1.0, 1.0, -1.0, 0.5]),
    ];
    let mut s = Scratch::new();
    qs.iter()
        .flat_map(|(dir, v)| {
            [false, true].map(|exact| {
                let q = Query {
                    k: 10,
                    exact,
                    ..Query::new(*dir, Target::Values(v.clone()))
                };
                let mut hits = Vec::new();
                e.search(&q, &Creds::ROOT, &mut s, &mut hits).unwrap();
                hits.iter().map(|h| (h.ino, h.distance)).collect()
            })
        })
        .collect()
}

fn temp_image(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vexfs-durability-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn round_trip_loads_graphs_instead_of_rebuilding() {
    let path = temp_image("roundtrip.img");
    let open = |create| Arc::new(FileStorage::open(&path, create, true).unwrap()) as Arc<dyn Storage>;
    let mut e = Engine::create_image(open(true), EngineConfig::default()).unwrap();
    populate(&mut e);
    let digest = state_digest(&e);
    let results = searches(&e);
    let graphs: Vec<Vec<u8>> = e
        .collections()
        .iter()
        .map(|(_, c)| {
            let mut b = Vec::new();
            c.index.encode(&mut b);
            b
        })
        .collect();
    e.close().unwrap();
    let e = Engine::open_image(open(false), OpenOptions::default()).unwrap();
    let stats = e.journal_stats().unwrap();
    assert_eq!(
        (stats.replayed, stats.indexes_loaded, stats.checkpoints),
        (0, 3, 0),
        "loaded, nothing replayed or rewritten (the log restarts in the live superblock)"
    );
    let reopened: Vec<Vec<u8>> = e
        .collections()
        .iter()
        .map(|(_, c)| {
            let mut b = Vec::new();
            c.index.encode(&mut b);
            b
        })
        .collect();
    assert_eq!(reopened, graphs, "the same graphs, byte for byte");
    assert_eq!(state_digest(&e), digest);
    assert_eq!(searches(&e), results);
    check(&e).unwrap();
    assert_eq!(
        FileStorage::open(&path, false, true).unwrap_err(),
        Error::Locked,
        "one open at a time"
    );
    drop(e);
    std::fs::remove_file(&path).unwrap();
}

/// Reads lent from the image's map (`read_view`) give exactly what copying reads give, or
/// nothing where the bytes are not in one run on disk; a damaged block is an error either way.
#[test]
fn mapped_reads_equal_copied_reads() {
    let path = temp_image("views.img");
    let storage = Arc::new(FileStorage::open(&path, true, true).unwrap()) as Arc<dyn Storage>;
    let mut e = Engine::create_image(storage, EngineConfig::default()).unwrap();
    let c = ctx(1);
    let f = e.create(ROOT_INO, b"f", 0o644, &c).unwrap().ino;
    let data: Vec<u8> = (0..3 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for chunk in 0..3u64 {
        e.write(f, chunk << 20, &data[(chunk as usize) << 20..][..1 << 20], &c)
            .unwrap();
    }
    e.checkpoint().unwrap();
    assert_eq!(
        e.read_view(f, 0, 3 << 20).unwrap(),
        Some(&data[..]),
        "one extent, lent whole"
    );
    // After the checkpoint: a rewritten stretch (in memory), a hole, an unwritten stretch.
    e.write(f, 100_000, &[1; 5000], &c).unwrap();
    e.fallocate(f, 1 << 20, 8192, FallocMode::PunchHole, &c).unwrap();
    e.fallocate(f, 2 << 20, 8192, FallocMode::PunchHole, &c).unwrap();
    e.fallocate(f, 2 << 20, 4096, FallocMode::KeepSize, &c).unwrap();
    let (mut lent, mut copied) = (0, 0);
    let mut buf = vec![0u8; 300_000];
    for offset in (0..(3 << 20) + 10_000).step_by(77_777) {
        for len in [1, 4096, 131_072, 300_000] {
            let n = e.read(f, offset, &mut buf[..len]).unwrap();
            match e.read_view(f, offset, len).unwrap() {
                Some(view) => {
                    assert_eq!(view, &buf[..n], "at {offset}+{len}");
                    lent += 1;
                }
                None => copied += 1,
            }
        }
    }
    assert!(lent > 100 && copied > 10, "{lent} lent, {copied} copied");
    // Damage the file's first data block: every block-aligned copy of its first 64 bytes (the
    // log may hold one too).
    drop(e);
    let mut bytes = std::fs::read(&path).unwrap();
    let copies: Vec<usize> = (0..bytes.len() / 4096)
        .filter(|&b| bytes[b * 4096..].starts_with(&data[..64]))
        .collect();
    assert!(!copies.is_empty());
    for b in copies {
        bytes[b * 4096 + 10] ^= 0x40;
    }
    std::fs::write(&path, &bytes).unwrap();
    let storage = Arc::new(FileStorage::open(&path, false, true).unwrap()) as Arc<dyn Storage>;
    let e = Engine::open_image(storage, OpenOptions::default()).unwrap();
    let f = e.lookup(ROOT_INO, b"f").unwrap().ino;
    assert!(matches!(e.read_view(f, 0, 4096), Err(Error::Corrupted { .. })));
    assert!(matches!(
        e.read(f, 0, &mut buf[..4096]),
        Err(Error::Corrupted { .. })
    ));
    assert_eq!(e.read_view(f, 4096, 4096).unwrap(), Some(&data[4096..8192]));
    drop(e);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn churn_keeps_the_image_small() {
    let storage = Arc::new(MemStorage::new());
    let mut e = Engine::create_image(storage.clone() as Arc<dyn Storage>, EngineConfig::default()).unwrap();
    let c = ctx(1);
    let block = vec![7u8; 64 * 1024];
    for round in 0..40u32 {
        for i in 0..16u32 {
            let name = format!("f{i}");
            let f = match e.lookup(ROOT_INO, name.as_bytes()) {
                Ok(a) => a.ino,
                Err(_) => e.create(ROOT_INO, name.as_bytes(), 0o644, &c).unwrap().ino,
            };
            e.write(f, u64::from(round % 4) * 65536, &block, &c).unwrap();
            if (round + i) % 3 == 0 {
                e.unlink(ROOT_INO, name.as_bytes(), &c).unwrap();
            }
        }
        if round % 5 == 4 {
            e.checkpoint().unwrap();
        }
    }
    e.checkpoint().unwrap();
    let live: u64 = e.stats(&Creds::ROOT).allocated_bytes;
    let image = storage.len().unwrap();
    // Besides the live state: the previous checkpoint kept as a fallback, with its log (file
    // data travels inline, so at most the 5 rounds x 16 x 64 KiB written between two
    // checkpoints) and the data only it references.
    let log_between_checkpoints = 5 * 16 * 64 * 1024;
    assert!(
        image <= 2 * live + 2 * log_between_checkpoints + 8 * 1024 * 1024,
        "image {image} bytes for {live} live bytes"
    );
    check(&e).unwrap();
}

/// `has_unsynced` (what the FUSE frontend's commit timer asks before syncing) is true exactly
/// between an applied operation and the next sync or checkpoint, and after a crash the state a
/// sync made durable is there.
#[test]
fn has_unsynced_tracks_syncs_and_checkpoints() {
    let storage = Arc::new(CrashStorage::default());
    let mut e = Engine::create_image(storage.clone() as Arc<dyn Storage>, EngineConfig::default()).unwrap();
    assert!(!e.has_unsynced(), "a new image");
    let c = ctx(1);
    let d = e.mkdir(ROOT_INO, b"d", 0o755, &c).unwrap().ino;
    assert!(e.has_unsynced());
    e.sync().unwrap();
    assert!(!e.has_unsynced());
    assert!(e.lookup(ROOT_INO, b"d").is_ok() && e.readdir(d, 2, |_| true).is_ok());
    assert!(!e.has_unsynced(), "reads change nothing");
    e.create(d, b"f", 0o644, &c).unwrap();
    assert!(e.has_unsynced());
    e.checkpoint().unwrap();
    assert!(!e.has_unsynced());
    e.create(d, b"g", 0o644, &c).unwrap();
    assert!(e.has_unsynced());
    e.sync().unwrap();
    e.create(d, b"lost", 0o644, &c).unwrap();
    let crashed = Arc::new(MemStorage::from_bytes(storage.crash_now(CrashMode::DropUnsynced)));
    let e = Engine::open_image(crashed, OpenOptions::default()).unwrap();
    assert!(!e.has_unsynced(), "after recovery");
    assert!(e.resolve(b"/d/g", false).is_ok());
    assert!(e.resolve(b"/d/lost", false).is_err());
    let mut mem = Engine::new(EngineConfig::default());
    mem.mkdir(ROOT_INO, b"d", 0o755, &c).unwrap();
    assert!(!mem.has_unsynced(), "in memory there is nothing to sync");
}

/// A small closed image and a copy taken after more synced operations (not closed).
fn small_images() -> (Vec<u8>, Vec<u8>) {
    let storage = Arc::new(MemStorage::new());
    let mut e = Engine::create_image(storage.clone() as Arc<dyn Storage>, EngineConfig::default()).unwrap();
    let c = ctx(1);
    let d = e.mkdir(ROOT_INO, b"d", 0o755, &c).unwrap().ino;
    e.setxattr(d, INDEX_XATTR, b"dim=2", XattrMode::Any, &c).unwrap();
    let f = e.create(d, b"f", 0o644, &c).unwrap().ino;
    e.setxattr(f, VECTOR_XATTR, &f32v(&[1.0, 2.0]), XattrMode::Any, &c)
        .unwrap();
    e.write(f, 0, &[5u8; 10_000], &c).unwrap();
    e.checkpoint().unwrap();
    let closed = storage.bytes();
    for i in 0..20 {
        e.create(d, format!("g{i}").as_bytes(), 0o644, &c).unwrap();
        e.sync().unwrap();
    }
    (closed, storage.bytes())
}

fn fsck_bytes(bytes: Vec<u8>) -> vexfs_core::Result<vexfs_core::engine::FsckReport> {
    fsck(
        Arc::new(MemStorage::from_bytes(bytes)),
        false,
        false,
        |_, _, _| {},
    )
}

#[test]
fn corruption_is_reported_never_trusted() {
    let (closed, logged) = small_images();
    assert!(fsck_bytes(closed.clone()).unwrap().problems.is_empty());
    assert!(fsck_bytes(logged.clone()).unwrap().problems.is_empty());
    // Every byte of both superblock slots.
    for at in 0..2 * 4096 {
        let mut b = closed.clone();
        b[at] ^= 0x01;
        match fsck_bytes(b) {
            Err(Error::Corrupted { .. }) => {}
            Ok(r) => assert!(
                !r.problems.is_empty(),
                "flip at superblock byte {at} went unreported"
            ),
            Err(e) => panic!("flip at {at}: unexpected {e}"),
        }
    }
    // A sample of every other byte: checkpoint, log records, file data. Open and fsck report
    // damage (or, for bytes no structure covers, find nothing), and never panic.
    let mut reported = 0;
    // About 20,000 positions, spread over the whole image whatever its size.
    for at in (2 * 4096..logged.len()).step_by((logged.len() / 20_000).max(13)) {
        let mut b = logged.clone();
        b[at] ^= 0x20;
        match fsck_bytes(b) {
            Err(Error::Corrupted { .. }) => reported += 1,
            Ok(r) if !r.problems.is_empty() => reported += 1,
            Ok(_) => {}
            Err(e) => panic!("flip at {at}: unexpected {e}"),
        }
    }
    assert!(reported > 100, "only {reported} flips reported");
    // The same through an image file, whose checkpoint is decoded straight from its map: each
    // sampled flip gets the verdict it gets in memory.
    let verdict = |r: vexfs_core::Result<vexfs_core::engine::FsckReport>, at: usize| match r {
        Err(Error::Corrupted { .. }) => "corrupted",
        Ok(r) if !r.problems.is_empty() => "problems",
        Ok(_) => "clean",
        Err(e) => panic!("flip at {at}: unexpected {e}"),
    };
    let path = temp_image("flips.img");
    let mut reported = 0;
    for at in (2 * 4096..logged.len()).step_by((logged.len() / 400) | 1) {
        let mut b = logged.clone();
        b[at] ^= 0x20;
        std::fs::write(&path, &b).unwrap();
        let storage = Arc::new(FileStorage::open(&path, false, false).unwrap()) as Arc<dyn Storage>;
        let in_file = verdict(fsck(storage, false, false, |_, _, _| {}), at);
        assert_eq!(in_file, verdict(fsck_bytes(b), at), "flip at {at}");
        reported += usize::from(in_file != "clean");
    }
    assert!(reported > 10, "only {reported} flips reported in the file");
    std::fs::remove_file(&path).unwrap();
    // Truncations at every block boundary: reported as corruption, or (when only the log's
    // unsynced tail or free space was cut) opened as a consistent prefix.
    for len in (0..logged.len()).step_by(4096) {
        match fsck_bytes(logged[..len].to_vec()) {
            Err(Error::Corrupted { .. }) | Ok(_) => {}
            // An empty file is not an image at all.
            Err(Error::NotAnImage) if len == 0 => {}
            Err(e) => panic!("truncated to {len}: unexpected {e}"),
        }
    }
}

#[test]
fn damaged_log_records_are_reported_by_fsck() {
    let (_, logged) = small_images();
    let e = Engine::open_image(
        Arc::new(MemStorage::from_bytes(logged.clone())),
        OpenOptions::read_only(),
    )
    .unwrap();
    let sb_log = {
        // Find the log head from the live superblock (slot with the higher sequence).
        let seq = |s: usize| u64::from_le_bytes(logged[s * 4096 + 16..s * 4096 + 24].try_into().unwrap());
        let slot = if seq(0) > seq(1) { 0 } else { 1 };
        u64::from_le_bytes(logged[slot * 4096 + 56..slot * 4096 + 64].try_into().unwrap())
    };
    drop(e);
    // Damage the payload of each of the first records (each synced, so each padded to its own
    // block): replay stops there, and fsck sees the later records.
    for rec in 0..10u64 {
        let at = ((sb_log + rec) * 4096 + 30) as usize;
        let mut b = logged.clone();
        b[at] ^= 0xff;
        let r = fsck_bytes(b).unwrap();
        assert!(
            r.problems.iter().any(|p| p.contains("log damaged")),
            "record {rec}: {:?}",
            r.problems
        );
    }
}

#[test]
fn io_errors_are_sticky_and_lose_nothing_durable() {
    #[derive(Debug)]
    struct Failing {
        inner: MemStorage,
        fail: std::sync::atomic::AtomicBool,
    }
    impl Storage for Failing {
        fn read_at(&self, o: u64, b: &mut [u8]) -> std::io::Result<()> {
            self.inner.read_at(o, b)
        }
        fn write_at(&self, o: u64, d: &[u8]) -> std::io::Result<()> {
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(std::io::Error::from_raw_os_error(5));
            }
            self.inner.write_at(o, d)
        }
        fn sync(&self) -> std::io::Result<()> {
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(std::io::Error::from_raw_os_error(5));
            }
            Ok(())
        }
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn set_len(&self, l: u64) -> std::io::Result<()> {
            self.inner.set_len(l)
        }
    }
    let s = Arc::new(Failing {
        inner: MemStorage::new(),
        fail: false.into(),
    });
    let mut e = Engine::create_image(s.clone() as Arc<dyn Storage>, EngineConfig::default()).unwrap();
    let c = ctx(1);
    e.create(ROOT_INO, b"kept", 0o644, &c).unwrap();
    e.sync().unwrap();
    s.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    e.create(ROOT_INO, b"lost", 0o644, &c).unwrap();
    assert!(matches!(e.sync(), Err(Error::Io { errno: 5, .. })));
    s.fail.store(false, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        e.create(ROOT_INO, b"refused", 0o644, &c).unwrap_err(),
        Error::ReadOnly,
        "sticky"
    );
    assert_eq!(e.sync().unwrap_err(), Error::ReadOnly);
    let bytes = s.inner.bytes();
    drop(e);
    let e = Engine::open_image(Arc::new(MemStorage::from_bytes(bytes)), OpenOptions::default()).unwrap();
    assert!(e.lookup(ROOT_INO, b"kept").is_ok());
    check(&e).unwrap();
}

/// A storage whose writes land at once and whose syncs can be made to fail: `durable` is what a
/// crash would keep.
#[derive(Debug, Default)]
struct Flaky {
    current: std::sync::Mutex<Vec<u8>>,
    durable: std::sync::Mutex<Vec<u8>>,
    /// Syncs that succeed before one fails (negative: never fail).
    syncs_left: std::sync::atomic::AtomicI64,
}

impl Storage for Flaky {
    fn read_at(&self, o: u64, b: &mut [u8]) -> std::io::Result<()> {
        MemStorage::from_bytes(self.current.lock().unwrap().clone()).read_at(o, b)
    }
    fn write_at(&self, o: u64, d: &[u8]) -> std::io::Result<()> {
        let mut c = self.current.lock().unwrap();
        let end = o as usize + d.len();
        if c.len() < end {
            c.resize(end, 0);
        }
        c[o as usize..end].copy_from_slice(d);
        Ok(())
    }
    fn sync(&self) -> std::io::Result<()> {
        if self.syncs_left.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            return Err(std::io::Error::from_raw_os_error(5));
        }
        *self.durable.lock().unwrap() = self.current.lock().unwrap().clone();
        Ok(())
    }
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.current.lock().unwrap().len() as u64)
    }
    fn set_len(&self, l: u64) -> std::io::Result<()> {
        self.current.lock().unwrap().resize(l as usize, 0);
        Ok(())
    }
}

/// A checkpoint that fails at its last sync leaves a new superblock written but not durable. A
/// reopen in the same boot reads it (and so shows the newer state); that state must then be
/// durable, so a crash right after cannot roll the image back past what the opener saw.
#[test]
fn what_recovery_shows_survives_a_crash() {
    let s = Arc::new(Flaky {
        syncs_left: (-1).into(),
        ..Flaky::default()
    });
    let mut e = Engine::create_image(s.clone() as Arc<dyn Storage>, EngineConfig::default()).unwrap();
    let c = ctx(1);
    e.create(ROOT_INO, b"a", 0o644, &c).unwrap();
    e.sync().unwrap();
    e.create(ROOT_INO, b"b", 0o644, &c).unwrap();
    // A checkpoint syncs twice: data and state, then the superblock. Fail the second.
    s.syncs_left.store(1, std::sync::atomic::Ordering::Relaxed);
    assert!(matches!(e.checkpoint(), Err(Error::Io { .. })));
    drop(e);
    s.syncs_left.store(-1, std::sync::atomic::Ordering::Relaxed);
    let e = Engine::open_image(s.clone() as Arc<dyn Storage>, OpenOptions::default()).unwrap();
    assert!(
        e.lookup(ROOT_INO, b"b").is_ok(),
        "the reopen reads the unsynced superblock"
    );
    drop(e);
    let crashed = MemStorage::from_bytes(s.durable.lock().unwrap().clone());
    let e = Engine::open_image(Arc::new(crashed), OpenOptions::default()).unwrap();
    assert!(
        e.lookup(ROOT_INO, b"b").is_ok(),
        "a crash after the reopen lost what it showed"
    );
    check(&e).unwrap();
}

/// A recovery that fails part-way (here: its checkpoint's first sync) must leave the image as
/// the next recovery needs it. Blocks that the live checkpoint references but the replayed
/// state no longer does (blocks rewritten in the log) are not free until a new checkpoint is
/// durable: recovery once handed them out to the data it wrote back, and the next recovery,
/// replaying the rewrite over the overwritten block, rejected the log (simulator seeds 1590,
/// 1994, 2048).
#[test]
fn a_failed_recovery_leaves_the_image_recoverable() {
    let s = Arc::new(Flaky {
        syncs_left: (-1).into(),
        ..Flaky::default()
    });
    let mut e = Engine::create_image(s.clone() as Arc<dyn Storage>, EngineConfig::default()).unwrap();
    let c = ctx(1);
    let a = e.create(ROOT_INO, b"a", 0o644, &c).unwrap().ino;
    e.write(a, 0, &[0xAA; 64 * 4096], &c).unwrap();
    e.checkpoint().unwrap();
    // In the log only: a small write into each block of `a` (so recovery reads each block back
    // and its old place is no longer referenced), then a large file that recovery's checkpoint
    // writes back into whatever it believes is free.
    for blk in 0..64u64 {
        e.write(a, blk * 4096 + 10, &[0xCC; 100], &c).unwrap();
    }
    let b = e.create(ROOT_INO, b"b", 0o644, &c).unwrap().ino;
    e.write(b, 0, &vec![0xBB; 600 * 4096], &c).unwrap();
    e.sync().unwrap();
    drop(e); // a crash: no checkpoint
    let crashed = s.durable.lock().unwrap().clone();
    *s.current.lock().unwrap() = crashed;
    s.syncs_left.store(0, std::sync::atomic::Ordering::Relaxed);
    let failed = Engine::open_image(s.clone() as Arc<dyn Storage>, OpenOptions::default());
    assert!(matches!(failed, Err(Error::Io { .. })), "{failed:?}");
    s.syncs_left.store(-1, std::sync::atomic::Ordering::Relaxed);
    let e = Engine::open_image(s.clone() as Arc<dyn Storage>, OpenOptions::default()).unwrap();
    let mut buf = vec![0u8; 600 * 4096];
    assert_eq!(
        e.read(e.lookup(ROOT_INO, b"a").unwrap().ino, 0, &mut buf)
            .unwrap(),
        64 * 4096
    );
    for (i, &x) in buf[..64 * 4096].iter().enumerate() {
        let want = if (10..110).contains(&(i % 4096)) {
            0xCC
        } else {
            0xAA
        };
        assert_eq!(x, want, "byte {i} of a");
    }
    assert_eq!(
        e.read(e.lookup(ROOT_INO, b"b").unwrap().ino, 0, &mut buf)
            .unwrap(),
        600 * 4096
    );
    assert!(buf.iter().all(|&x| x == 0xBB));
    check(&e).unwrap();
}

/// A time with a second or more of nanoseconds, given to `setattr` and as an operation's time,
/// is carried into the seconds, so what is logged is what replay accepts: before the fields of
/// `Timestamp` were private, such a time was logged as given and the image then refused to open
/// ("bad record").
#[test]
fn overfull_nanoseconds_are_carried_never_logged() {
    let storage = Arc::new(CrashStorage::default());
    let mut e = Engine::create_image(storage.clone() as Arc<dyn Storage>, EngineConfig::default()).unwrap();
    let c = Ctx::new(Timestamp::new(100, 3_000_000_007), 1000, 100);
    let f = e.create(ROOT_INO, b"f", 0o644, &c).unwrap().ino;
    let at = Timestamp::new(5, 2_500_000_123);
    let attr = SetAttr {
        mtime: Some(SetTime::At(at)),
        ..SetAttr::default()
    };
    e.setattr(f, attr, &c).unwrap();
    e.sync().unwrap();
    let crashed = Arc::new(MemStorage::from_bytes(storage.crash_now(CrashMode::DropUnsynced)));
    let e = Engine::open_image(crashed, OpenOptions::default()).unwrap();
    let a = e.getattr(f).unwrap();
    assert_eq!((a.mtime.secs(), a.mtime.nanos()), (7, 500_000_123));
    assert_eq!((a.ctime.secs(), a.ctime.nanos()), (103, 7));
    check(&e).unwrap();
}
