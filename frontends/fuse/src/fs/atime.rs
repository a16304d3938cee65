//! Access times by the relatime rule: a read or listing moves `atime` only if it is not newer
//! than `mtime`/`ctime`, or is a day old (the same rule as `Engine::touch_atime`'s), never on a
//! read-only mount, and never failing the read that moved it.
//!
//! The check runs under the read lock of the read; the update takes the write lock after the
//! reply's data is known (best effort).

use super::{VexFs, ctx};
use crate::convert::now;
use fuser::Request;
use vexfs_core::{Attr, Engine, Ino, Timestamp};

/// The relatime rule (the same as `Engine::touch_atime`'s): `atime` moves only if it is not
/// newer than `mtime`/`ctime`, or is a day old.
fn atime_stale(a: &Attr, now: Timestamp) -> bool {
    const DAY_SECS: i64 = 24 * 60 * 60;
    let stale =
        a.atime <= a.mtime || a.atime <= a.ctime || now.secs().saturating_sub(a.atime.secs()) >= DAY_SECS;
    stale && a.atime != now
}

impl VexFs {
    /// Updates `ino`'s atime after a read if relatime says so (never on a read-only mount).
    pub(super) fn touch_atime(&self, ino: Ino, stale: bool, req: &Request) {
        if !stale || self.s.read_only {
            return;
        }
        if let Ok(mut e) = self.s.write() {
            // Best effort: a failure to record an access must not fail the read.
            let _ = e.touch_atime(ino, &ctx(req));
        }
    }

    /// Whether a read of `ino` now should move its atime (read lock held by the caller).
    pub(super) fn wants_atime(&self, e: &Engine, ino: Ino) -> bool {
        !self.s.read_only && e.getattr(ino).is_ok_and(|a| atime_stale(&a, now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vexfs_core::FileKind;

    fn attr(atime: i64, mtime: i64, ctime: i64) -> Attr {
        let t = |s| Timestamp::new(s, 0);
        Attr {
            ino: 2,
            kind: FileKind::Regular,
            perm: 0o644,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            size: 0,
            blocks: 0,
            atime: t(atime),
            mtime: t(mtime),
            ctime: t(ctime),
            crtime: t(0),
        }
    }

    #[test]
    fn relatime() {
        let now = Timestamp::new(1_000_000, 0);
        assert!(atime_stale(&attr(10, 20, 20), now), "older than mtime");
        assert!(atime_stale(&attr(20, 20, 20), now), "equal to mtime");
        assert!(!atime_stale(&attr(999_000, 20, 20), now), "newer, recent");
        assert!(atime_stale(&attr(900_000, 20, 20), now), "a day old");
        assert!(
            !atime_stale(&attr(1_000_000, 1_000_000, 1_000_000), now),
            "already now"
        );
    }
}
