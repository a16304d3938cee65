//! [`CrashStorage`]: storage that remembers what is durable, for crash testing in the style of
//! SQLite's crash VFS.
//!
//! It keeps the durable bytes (as of the last `sync`) apart from the writes issued since, and
//! records, at every `sync`, the state a crash at that instant could leave. A crash image is
//! built from a recorded point by one of the [`CrashMode`]s: unsynced writes dropped, or all of
//! them kept but the last one torn. The simulator builds its faulty storage on the same idea.

use super::{MemStorage, Storage};
use std::io;
use std::sync::{Mutex, MutexGuard};

/// One write issued since the last sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Bytes written at an offset.
    Write {
        /// Where.
        offset: u64,
        /// What.
        bytes: Vec<u8>,
    },
    /// A length change.
    SetLen(u64),
}

/// What a crash leaves of the writes issued since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// None of them.
    DropUnsynced,
    /// All but the last, and of the last only its first `keep_percent` percent (rounded down to
    /// 512-byte sectors).
    TearLast {
        /// Share of the last write that reaches the medium.
        keep_percent: u8,
    },
}

/// The state at one sync: what was durable before it and what was issued since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPoint {
    /// Durable bytes before this sync.
    pub durable: Vec<u8>,
    /// Writes issued since the previous sync, in order.
    pub pending: Vec<Pending>,
    /// A caller-chosen tag current when the sync was issued (e.g. operations applied so far).
    pub tag: u64,
}

impl SyncPoint {
    /// The bytes a crash during this sync leaves, in `mode`.
    pub fn crash_image(&self, mode: CrashMode) -> Vec<u8> {
        let mut img = self.durable.clone();
        let keep: &[Pending] = match mode {
            CrashMode::DropUnsynced => &[],
            CrashMode::TearLast { .. } => &self.pending,
        };
        for (i, w) in keep.iter().enumerate() {
            let last = i + 1 == keep.len();
            match w {
                Pending::SetLen(n) => img.resize(*n as usize, 0),
                Pending::Write { offset, bytes } => {
                    let n = match mode {
                        CrashMode::TearLast { keep_percent } if last => {
                            (bytes.len() * usize::from(keep_percent.min(100)) / 100) / 512 * 512
                        }
                        _ => bytes.len(),
                    };
                    apply(&mut img, *offset, &bytes[..n]);
                }
            }
        }
        img
    }
}

fn apply(img: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    if img.len() < start + bytes.len() {
        img.resize(start + bytes.len(), 0);
    }
    img[start..start + bytes.len()].copy_from_slice(bytes);
}

#[derive(Debug, Default)]
struct State {
    current: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
    points: Vec<SyncPoint>,
    tag: u64,
    record: bool,
}

/// Storage that records every sync point.
#[derive(Debug, Default)]
pub struct CrashStorage {
    state: Mutex<State>,
}

impl CrashStorage {
    /// Empty storage that records sync points.
    pub fn new() -> Self {
        CrashStorage {
            state: Mutex::new(State {
                record: true,
                ..State::default()
            }),
        }
    }

    /// Storage whose durable bytes are `bytes` (a crash image to reopen and crash again); it
    /// records no sync points.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        CrashStorage {
            state: Mutex::new(State {
                current: bytes.clone(),
                durable: bytes,
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the tag stored with later sync points.
    pub fn set_tag(&self, tag: u64) {
        self.lock().tag = tag;
    }

    /// The sync points recorded so far.
    pub fn sync_points(&self) -> Vec<SyncPoint> {
        self.lock().points.clone()
    }

    /// The current bytes (durable plus everything issued).
    pub fn current(&self) -> MemStorage {
        MemStorage::from_bytes(self.lock().current.clone())
    }

    /// The bytes a crash right now leaves when the medium reordered the writes issued since the
    /// last sync and only those for which `lands(offset, len)` holds reached it (length changes
    /// all do): a disk cache that wrote back a later write and lost an earlier one.
    pub fn crash_landing(&self, lands: impl Fn(u64, usize) -> bool) -> Vec<u8> {
        let s = self.lock();
        let mut img = s.durable.clone();
        for p in &s.pending {
            match p {
                Pending::Write { offset, bytes } if lands(*offset, bytes.len()) => {
                    apply(&mut img, *offset, bytes)
                }
                Pending::Write { .. } => {}
                Pending::SetLen(n) => img.resize(*n as usize, 0),
            }
        }
        img
    }

    /// The bytes a crash right now leaves, in `mode`.
    pub fn crash_now(&self, mode: CrashMode) -> Vec<u8> {
        let s = self.lock();
        SyncPoint {
            durable: s.durable.clone(),
            pending: s.pending.clone(),
            tag: s.tag,
        }
        .crash_image(mode)
    }
}

impl Storage for CrashStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let s = self.lock();
        let start = offset as usize;
        let src = s
            .current
            .get(start..start + buf.len())
            .ok_or(io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        apply(&mut s.current, offset, data);
        s.pending.push(Pending::Write {
            offset,
            bytes: data.to_vec(),
        });
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut s = self.lock();
        if s.record {
            let point = SyncPoint {
                durable: s.durable.clone(),
                pending: std::mem::take(&mut s.pending),
                tag: s.tag,
            };
            s.points.push(point);
        }
        s.pending.clear();
        s.durable = s.current.clone();
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.lock().current.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        s.current.resize(len as usize, 0);
        s.pending.push(Pending::SetLen(len));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_images() {
        let s = CrashStorage::new();
        s.write_at(0, b"durable").unwrap();
        s.sync().unwrap();
        s.write_at(0, b"DU").unwrap();
        s.write_at(1024, &[7u8; 1024]).unwrap();
        s.sync().unwrap();
        let p = &s.sync_points()[1];
        assert_eq!(p.crash_image(CrashMode::DropUnsynced), b"durable");
        let torn = p.crash_image(CrashMode::TearLast { keep_percent: 50 });
        assert_eq!(&torn[..7], b"DUrable");
        assert_eq!(torn.len(), 1024 + 512, "half of the last write, in whole sectors");
        assert_eq!(s.crash_now(CrashMode::DropUnsynced).len(), 2048);
    }
}
