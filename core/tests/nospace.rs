//! A full medium (issue 14, item 4): the write that does not fit fails with `ENOSPC` and changes
//! nothing; deleting, truncating and removing attributes still work and free room again; the
//! image is never failed (no `EROFS` for the rest of the session); room reported for `statfs`
//! follows; closing checkpoints and loses nothing.

// Helpers outside #[test] functions unwrap too: these are tests.
#![allow(clippy::unwrap_used)]

use std::io;
use std::sync::Arc;
use vexfs_core::check::{check, state_digest};
use vexfs_core::engine::fsck;
use vexfs_core::journal::OpenOptions;
use vexfs_core::storage::{MemStorage, Storage};
use vexfs_core::{Ctx, Engine, EngineConfig, Error, Ino, ROOT_INO, SetAttr, Timestamp, XattrMode};

/// Memory with a capacity: growing past it fails with `ENOSPC`, as a full file system does.
#[derive(Debug)]
struct Capped {
    inner: MemStorage,
    capacity: u64,
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

impl Storage for Capped {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if offset + data.len() as u64 > self.capacity {
            return Err(enospc());
        }
        self.inner.write_at(offset, data)
    }
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        if len > self.capacity {
            return Err(enospc());
        }
        self.inner.set_len(len)
    }
    fn available(&self) -> Option<u64> {
        Some(self.capacity.saturating_sub(self.inner.len().unwrap_or(0)))
    }
}

fn ctx(i: u64) -> Ctx {
    Ctx::new(Timestamp::new(1_700_000_000 + i as i64, 0), 0, 0)
}

fn data(i: u64, len: usize) -> Vec<u8> {
    (0..len).map(|j| (j as u64 * 13 + i * 7) as u8).collect()
}

const FILE_BYTES: usize = 256 * 1024;

/// Creates files of `FILE_BYTES` in `dir` from number `from` until the medium refuses one;
/// returns the numbers written whole and asserts the refusal is `NoSpace` and changed nothing.
fn fill(e: &mut Engine, dir: Ino, from: u64) -> Vec<u64> {
    let mut written = Vec::new();
    for i in from.. {
        let name = format!("f{i}");
        let f = match e.create(dir, name.as_bytes(), 0o644, &ctx(i)) {
            Ok(a) => a.ino,
            Err(err) => {
                assert_eq!(err, Error::NoSpace, "creating {name}");
                break;
            }
        };
        match e.write(f, 0, &data(i, FILE_BYTES), &ctx(i)) {
            Ok(n) => {
                assert_eq!(n, FILE_BYTES, "a write of one operation is whole or refused");
                written.push(i);
            }
            Err(err) => {
                assert_eq!(err, Error::NoSpace, "writing {name}");
                assert_eq!(e.getattr(f).unwrap().size, 0, "a refused write changes nothing");
                e.unlink(dir, name.as_bytes(), &ctx(i)).unwrap();
                break;
            }
        }
        assert!(i < 10_000, "the medium never filled");
    }
    written
}

fn assert_files(e: &Engine, dir: Ino, files: &[u64]) {
    let mut buf = vec![0u8; FILE_BYTES];
    for &i in files {
        let f = e.lookup(dir, format!("f{i}").as_bytes()).unwrap().ino;
        assert_eq!(e.read(f, 0, &mut buf).unwrap(), FILE_BYTES);
        assert!(buf == data(i, FILE_BYTES), "f{i} content");
    }
}

#[test]
fn a_full_medium_refuses_growth_and_still_deletes() {
    for capacity in [6u64 << 20, 16 << 20] {
        let storage = Arc::new(Capped {
            inner: MemStorage::new(),
            capacity,
        });
        let s: Arc<dyn Storage> = storage.clone();
        let mut e = Engine::create_image(s.clone(), EngineConfig::default()).unwrap();
        let dir = e.mkdir(ROOT_INO, b"d", 0o755, &ctx(0)).unwrap().ino;
        let meta = e.create(ROOT_INO, b"meta", 0o644, &ctx(0)).unwrap().ino;
        e.setxattr(meta, b"user.note", &[9u8; 20_000], XattrMode::Any, &ctx(0))
            .unwrap();
        let mut files = fill(&mut e, dir, 0);
        assert!(files.len() >= 4, "{capacity}: only {} files fit", files.len());
        e.sync().unwrap();
        let room = e.room().unwrap();
        assert!(
            room.available_blocks < (FILE_BYTES as u64 / 4096) * 3,
            "{capacity}: full, yet {} blocks available",
            room.available_blocks
        );
        // Growth of every kind is refused, and refusing changes nothing.
        let f0 = e.lookup(dir, b"f0").unwrap().ino;
        let big = vec![1u8; 60 * 1024];
        let mut refused = 0;
        for k in 0..200u64 {
            match e.setxattr(f0, format!("user.k{k}").as_bytes(), &big, XattrMode::Any, &ctx(k)) {
                Ok(()) => {}
                Err(err) => {
                    assert_eq!(err, Error::NoSpace);
                    refused += 1;
                    break;
                }
            }
        }
        assert_eq!(
            refused, 1,
            "{capacity}: attributes filled the medium without a refusal"
        );
        // Deleting works (the reserve is for it), and every kind of freeing operation too.
        e.removexattr(meta, b"user.note", &ctx(1))
            .unwrap_or_else(|err| panic!("removexattr: {err}"));
        let half = files.len() / 2;
        for i in files.drain(..half) {
            e.unlink(dir, format!("f{i}").as_bytes(), &ctx(i))
                .unwrap_or_else(|err| panic!("unlink f{i}: {err}"));
        }
        let t = files[0];
        let ft = e.lookup(dir, format!("f{t}").as_bytes()).unwrap().ino;
        e.setattr(
            ft,
            SetAttr {
                size: Some(4096),
                ..SetAttr::default()
            },
            &ctx(2),
        )
        .unwrap();
        files.remove(0);
        let sub = e.mkdir(ROOT_INO, b"tmp", 0o755, &ctx(3));
        if let Ok(sub) = sub {
            e.rmdir(ROOT_INO, b"tmp", &ctx(3)).unwrap();
            let _ = sub;
        }
        // What the deletes freed can be written again, without a remount.
        let more = fill(&mut e, dir, 1000);
        assert!(!more.is_empty(), "{capacity}: deleting freed no room");
        files.extend(more);
        e.sync().unwrap();
        let stats = e.journal_stats().unwrap();
        assert!(stats.nospace_refusals > 0);
        check(&e).unwrap();
        // Closing checkpoints; everything is there after a reopen, and fsck is clean.
        e.close().unwrap();
        let e = Engine::open_image(s.clone(), OpenOptions::default()).unwrap();
        assert_files(&e, dir, &files);
        assert_eq!(e.journal_stats().unwrap().replayed, 0, "close checkpointed");
        drop(e);
        let r = fsck(s, false, false, |_, _, _| {}).unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert!(storage.inner.len().unwrap() <= capacity);
    }
}

/// The refusal comes before anything is applied, even for an operation that needs a new log
/// segment: the state after it is the state before it, and the image reopens to it.
#[test]
fn a_refused_operation_leaves_no_trace() {
    let storage = Arc::new(Capped {
        inner: MemStorage::new(),
        capacity: 4 << 20,
    });
    let s: Arc<dyn Storage> = storage.clone();
    let cfg = EngineConfig {
        log_segment_blocks: 3,
        ..EngineConfig::default()
    };
    let mut e = Engine::create_image(s.clone(), cfg).unwrap();
    let dir = e.mkdir(ROOT_INO, b"d", 0o755, &ctx(0)).unwrap().ino;
    fill(&mut e, dir, 0);
    let mut refusals = 0;
    for i in 0..2000u64 {
        let before = state_digest(&e);
        let r = e
            .create(dir, format!("x{i}").as_bytes(), 0o644, &ctx(i))
            .and_then(|a| e.setxattr(a.ino, b"user.v", &[7u8; 3000], XattrMode::Any, &ctx(i)));
        match r {
            Ok(()) => {}
            Err(err) => {
                assert_eq!(err, Error::NoSpace, "x{i}");
                refusals += 1;
                if e.lookup(dir, format!("x{i}").as_bytes()).is_ok() {
                    // The create went in and the attribute was refused: the file stays, bare.
                    let f = e.lookup(dir, format!("x{i}").as_bytes()).unwrap().ino;
                    assert_eq!(e.getxattr(f, b"user.v").err(), Some(Error::NoAttribute));
                } else {
                    assert_eq!(state_digest(&e), before, "a refused create changed the state");
                }
                if refusals >= 20 {
                    break;
                }
            }
        }
    }
    assert_eq!(refusals, 20, "the medium never filled");
    e.sync().unwrap();
    let digest = state_digest(&e);
    let img = MemStorage::from_bytes({
        let mut b = vec![0u8; s.len().unwrap() as usize];
        s.read_at(0, &mut b).unwrap();
        b
    });
    drop(e);
    let again = Engine::open_image(Arc::new(img), OpenOptions::read_only()).unwrap();
    assert_eq!(
        state_digest(&again),
        digest,
        "the log replays to the state the session had"
    );
}
