//! Long sessions: many syncs, large writes and many log segments in one session, where the
//! segment-end bug lived (a sync that padded a segment to its last byte sent the next-segment
//! record into the block after the segment). Each test here failed before that fix.
//!
//! Every workload runs with the default segment size and with small ones, so a few hundred
//! operations cross many segment ends.

// Helpers outside #[test] functions unwrap too: these are tests.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use vexfs_core::check::check;
use vexfs_core::engine::fsck;
use vexfs_core::journal::OpenOptions;
use vexfs_core::limits::LOG_SEGMENT_BLOCKS_DEFAULT;
use vexfs_core::storage::{CrashMode, CrashStorage, MemStorage, Storage};
use vexfs_core::{Ctx, Engine, EngineConfig, ROOT_INO, Timestamp};

fn ctx(i: u64) -> Ctx {
    Ctx::new(Timestamp::new(1_700_000_000 + i as i64, 0), 0, 0)
}

fn create(storage: Arc<dyn Storage>, seg: u32) -> Engine {
    let cfg = EngineConfig {
        log_segment_blocks: seg,
        ..EngineConfig::default()
    };
    Engine::create_image(storage, cfg).unwrap()
}

fn open(storage: Arc<dyn Storage>, seg: u32) -> Engine {
    let opts = OpenOptions {
        log_segment_blocks: seg,
        ..OpenOptions::default()
    };
    Engine::open_image(storage, opts).unwrap()
}

/// Asserts every invariant of `e`, the image layout's included.
fn assert_checked(e: &Engine) {
    if let Err(p) = check(e) {
        panic!("check: {p}");
    }
}

/// Opens `bytes` and asserts fsck calls the image clean.
fn assert_clean(bytes: Vec<u8>) {
    let r = fsck(
        Arc::new(MemStorage::from_bytes(bytes)),
        false,
        false,
        |_, _, _| {},
    )
    .unwrap();
    assert!(r.problems.is_empty(), "fsck: {:?}", r.problems);
}

fn names(e: &Engine, dir: &str) -> Vec<String> {
    let d = e.resolve(dir.as_bytes(), false).unwrap();
    let mut out = Vec::new();
    e.readdir(d, 2, |ent| {
        out.push(String::from_utf8(ent.name.to_vec()).unwrap());
        true
    })
    .unwrap();
    out
}

fn content(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 131 + j * 7 + j / 4096) as u8).collect()
}

/// Case 1 of the issue: `mkdir /p`, then 600 x (create `/p/fN`, fsync), then a crash: every
/// file must be there (before the fix, 256 were: the cut fell after the 256th sync).
#[test]
fn every_fsynced_create_survives_a_crash() {
    for seg in [LOG_SEGMENT_BLOCKS_DEFAULT, 2, 5, 17] {
        for every in [1, 2, 10] {
            let s = Arc::new(CrashStorage::default());
            let mut e = create(s.clone(), seg);
            let p = e.mkdir(ROOT_INO, b"p", 0o755, &ctx(0)).unwrap().ino;
            let n = 600;
            for i in 0..n {
                e.create(p, format!("f{i}").as_bytes(), 0o644, &ctx(i)).unwrap();
                if (i + 1) % every == 0 {
                    e.sync().unwrap();
                }
            }
            assert_checked(&e);
            let crashed = s.crash_now(CrashMode::DropUnsynced);
            drop(e);
            let bytes = crashed.clone();
            let e = open(Arc::new(MemStorage::from_bytes(crashed)), seg);
            let got = names(&e, "/p").len() as u64;
            assert_eq!(got, n, "segments of {seg} blocks, a sync every {every} creates");
            assert_clean(bytes);
        }
    }
}

/// Case 2: a 1 MiB (or larger) file written and fsynced, then a second small file created and
/// fsynced, then a crash: both are there with their contents.
#[test]
fn a_file_after_a_large_synced_write_survives_a_crash() {
    for len in [1 << 20, (1 << 20) + 1, 3 << 20, (1 << 20) - 4096] {
        for seg in [LOG_SEGMENT_BLOCKS_DEFAULT, 3] {
            let s = Arc::new(CrashStorage::default());
            let mut e = create(s.clone(), seg);
            let big = e.create(ROOT_INO, b"big", 0o644, &ctx(1)).unwrap().ino;
            e.write(big, 0, &content(1, len), &ctx(2)).unwrap();
            e.sync().unwrap();
            let small = e.create(ROOT_INO, b"small", 0o644, &ctx(3)).unwrap().ino;
            e.write(small, 0, b"second", &ctx(4)).unwrap();
            e.sync().unwrap();
            let crashed = s.crash_now(CrashMode::DropUnsynced);
            drop(e);
            let e = open(Arc::new(MemStorage::from_bytes(crashed.clone())), seg);
            let small = e.lookup(ROOT_INO, b"small").unwrap();
            let mut buf = vec![0u8; 16];
            assert_eq!(e.read(small.ino, 0, &mut buf).unwrap(), 6, "len {len}, seg {seg}");
            assert_eq!(&buf[..6], b"second");
            let big = e.lookup(ROOT_INO, b"big").unwrap();
            let mut buf = vec![0u8; len];
            assert_eq!(e.read(big.ino, 0, &mut buf).unwrap(), len);
            assert!(buf == content(1, len));
            assert_clean(crashed);
        }
    }
}

/// Case 3, with no crash at all: three sessions each write 20 files of 64 KiB and close
/// cleanly; a fourth does 600 x (create + fsync) and closes cleanly. Every file of the first
/// sessions reads back intact (before the fix, a next-segment record overwrote the first block
/// of one of them: EIO on read, fsck exit 1).
#[test]
fn a_long_session_never_overwrites_earlier_files() {
    for seg in [LOG_SEGMENT_BLOCKS_DEFAULT, 4] {
        let s: Arc<dyn Storage> = Arc::new(MemStorage::new());
        create(s.clone(), seg).close().unwrap();
        let mut t = 10;
        for session in 0..3 {
            let mut e = open(s.clone(), seg);
            for i in 0..20 {
                t += 1;
                let f = e
                    .create(ROOT_INO, format!("s{session}-{i}").as_bytes(), 0o644, &ctx(t))
                    .unwrap()
                    .ino;
                e.write(f, 0, &content(session * 100 + i, 64 * 1024), &ctx(t))
                    .unwrap();
            }
            e.close().unwrap();
        }
        let mut e = open(s.clone(), seg);
        let p = e.mkdir(ROOT_INO, b"p", 0o755, &ctx(t)).unwrap().ino;
        for i in 0..600 {
            e.create(p, format!("f{i}").as_bytes(), 0o644, &ctx(t + i))
                .unwrap();
            e.sync().unwrap();
        }
        e.close().unwrap();
        let e = open(s.clone(), seg);
        let mut buf = vec![0u8; 64 * 1024];
        for session in 0..3 {
            for i in 0..20 {
                let f = e.lookup(ROOT_INO, format!("s{session}-{i}").as_bytes()).unwrap();
                e.read(f.ino, 0, &mut buf)
                    .unwrap_or_else(|err| panic!("segments of {seg}: s{session}-{i}: {err}"));
                assert!(buf == content(session * 100 + i, 64 * 1024), "s{session}-{i}");
            }
        }
        assert_eq!(names(&e, "/p").len(), 600);
        drop(e);
        let bytes = {
            let mut b = vec![0u8; s.len().unwrap() as usize];
            s.read_at(0, &mut b).unwrap();
            b
        };
        assert_clean(bytes);
    }
}

/// fsck names damage of case 3's kind: a file block that holds a log record.
#[test]
fn fsck_names_a_file_block_the_log_overwrote() {
    let s: Arc<dyn Storage> = Arc::new(MemStorage::new());
    let mut e = create(s.clone(), LOG_SEGMENT_BLOCKS_DEFAULT);
    let f = e.create(ROOT_INO, b"data", 0o644, &ctx(1)).unwrap().ino;
    e.write(f, 0, &content(1, 8192), &ctx(2)).unwrap();
    e.close().unwrap();
    let mut e = open(s.clone(), LOG_SEGMENT_BLOCKS_DEFAULT);
    e.create(ROOT_INO, b"later", 0o644, &ctx(3)).unwrap();
    e.sync().unwrap();
    let extents = e.image_extents();
    let block_of = |kind| {
        extents
            .iter()
            .find(|x| x.kind == kind)
            .map(|x| x.first_block)
            .unwrap()
    };
    let log = block_of(vexfs_core::journal::ExtentKind::LogSegment);
    let data = block_of(vexfs_core::journal::ExtentKind::CheckpointData);
    drop(e);
    let mut bytes = vec![0u8; s.len().unwrap() as usize];
    s.read_at(0, &mut bytes).unwrap();
    let record = bytes[log as usize * 4096..][..4096].to_vec();
    bytes[data as usize * 4096..][..4096].copy_from_slice(&record);
    let r = fsck(
        Arc::new(MemStorage::from_bytes(bytes)),
        false,
        false,
        |_, _, _| {},
    )
    .unwrap();
    assert!(
        r.problems.iter().any(|p| p.contains("the log overwrote it")),
        "{:?}",
        r.problems
    );
}

/// A session lost in a crash leaves records where the next session writes. Here the medium
/// kept the lost session's writes to its second and later log segments but none to its head
/// segment, so recovery replays nothing of it. The next session logs operations of the same
/// sizes (other names of the same length) from the same place: when its head segment fills it
/// names the next segment, the same blocks the lost session used, and a crash that keeps
/// only that head segment leaves a log whose chain runs, record for record and LSN for LSN,
/// into the lost session's records. Recovery must end at the next session's own records: the
/// state is a prefix of what it did, and no file of the lost session comes back. (Before the
/// fix, a session that recovered nothing continued the old head segment at the old LSN. The
/// simulator found this first, with seed 3213.)
#[test]
fn records_of_a_lost_session_are_never_replayed_after_a_new_one() {
    use vexfs_core::journal::ExtentKind;
    let head_of = |e: &Engine| -> (u64, u64) {
        let x = e
            .image_extents()
            .into_iter()
            .find(|x| x.kind == ExtentKind::LogSegment)
            .expect("an open image has a log head");
        (x.first_block * 4096, (x.first_block + x.blocks) * 4096)
    };
    let inside = |(a, b): (u64, u64)| move |off: u64, len: usize| off >= a && off + len as u64 <= b;
    for seg in [2, 3, 8] {
        let n = 400;
        let s = Arc::new(CrashStorage::default());
        create(s.clone(), seg).close().unwrap();
        // The lost session: n creates, none synced; what lies outside its head lands.
        let mut lost = open(s.clone(), seg);
        let head = head_of(&lost);
        for i in 0..n {
            lost.create(ROOT_INO, format!("x{i:03}").as_bytes(), 0o644, &ctx(i))
                .unwrap();
        }
        let in_head = inside(head);
        let crashed = s.crash_landing(|off, len| !in_head(off, len));
        drop(lost);
        // The next session: creates of the same sizes, none synced; only its head lands.
        let s2 = Arc::new(CrashStorage::from_bytes(crashed));
        let mut next = open(s2.clone(), seg);
        assert!(
            names(&next, "/").is_empty(),
            "nothing of the lost session was synced"
        );
        let head = head_of(&next);
        for i in 0..n {
            next.create(ROOT_INO, format!("y{i:03}").as_bytes(), 0o644, &ctx(i))
                .unwrap();
        }
        let crashed = s2.crash_landing(inside(head));
        drop(next);
        let e = open(Arc::new(MemStorage::from_bytes(crashed.clone())), seg);
        let mut got = names(&e, "/");
        got.sort();
        let prefix: Vec<String> = (0..got.len()).map(|i| format!("y{i:03}")).collect();
        assert_eq!(
            got, prefix,
            "segments of {seg} blocks: a prefix of the next session's creates"
        );
        assert_checked(&e);
        drop(e);
        assert_clean(crashed);
    }
}
