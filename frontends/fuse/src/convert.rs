//! Conversions between the core's plain values and fuser's: attributes, file kinds and times.
//!
//! Pure functions with no state. Times are exact in both directions (seconds and nanoseconds,
//! negative times included), so a time set through `utimensat` reads back unchanged.

use fuser::{FileAttr, FileType, INodeNo};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vexfs_core::limits::BLOCK_SIZE;
use vexfs_core::{Attr, FileKind, Timestamp};

/// fuser's file type for a core kind.
pub(crate) fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::Regular => FileType::RegularFile,
        FileKind::Directory => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::Fifo => FileType::NamedPipe,
        FileKind::Socket => FileType::Socket,
        FileKind::CharDevice => FileType::CharDevice,
        FileKind::BlockDevice => FileType::BlockDevice,
    }
}

/// A core timestamp as a `SystemTime`.
pub(crate) fn system_time(t: Timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(t.nanos()));
    if t.secs() >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.secs().unsigned_abs()) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(t.secs().unsigned_abs()) + nanos
    }
}

/// A `SystemTime` as a core timestamp (saturating far outside the `i64` seconds range).
pub(crate) fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp::new(i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            match d.subsec_nanos() {
                0 => Timestamp::new(-secs, 0),
                n => Timestamp::new(-secs.saturating_add(1), 1_000_000_000 - n),
            }
        }
    }
}

/// The current time of the system clock, for a request's `Ctx`.
pub(crate) fn now() -> Timestamp {
    timestamp(SystemTime::now())
}

/// fuser's attributes for core attributes.
pub(crate) fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.blocks,
        atime: system_time(a.atime),
        mtime: system_time(a.mtime),
        ctime: system_time(a.ctime),
        crtime: system_time(a.crtime),
        kind: file_type(a.kind),
        // PERM_MASK is 0o7777: always fits.
        perm: (a.perm & 0o7777) as u16,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        blksize: BLOCK_SIZE as u32,
        flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for t in [
            Timestamp::new(0, 0),
            Timestamp::new(1_700_000_000, 123_456_789),
            Timestamp::new(-1, 500_000_000),
            Timestamp::new(-86_400, 0),
            Timestamp::new(4_102_444_800, 999_999_999),
        ] {
            assert_eq!(timestamp(system_time(t)), t);
        }
    }
}
