//! Directory contents: a name → inode map plus a stable resume cookie per entry.
//!
//! `readdir` resumes from a 64-bit offset. Each entry gets a cookie from a per-directory counter
//! when it is added and keeps it until it is removed, so a listing that resumes from a cookie
//! never skips or repeats an entry that was present throughout, whatever else changes. Cookies
//! 1 and 2 are `.` and `..`; entries start at [`FIRST_COOKIE`].
//!
//! Invariant: `by_name` and `by_cookie` hold the same entries (checked by `check`).

use crate::types::Ino;
use std::collections::BTreeMap;

/// Cookie of the first real entry; 1 and 2 belong to `.` and `..`.
pub const FIRST_COOKIE: u64 = 3;

/// One entry's target and cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The inode the name refers to.
    pub ino: Ino,
    /// Its resume cookie.
    pub cookie: u64,
}

/// The entries of one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dir {
    by_name: BTreeMap<Box<[u8]>, Slot>,
    by_cookie: BTreeMap<u64, Box<[u8]>>,
    next_cookie: u64,
    /// Number of entries that are directories (for the link count).
    pub subdirs: u32,
}

impl Default for Dir {
    fn default() -> Self {
        Dir {
            by_name: BTreeMap::new(),
            by_cookie: BTreeMap::new(),
            next_cookie: FIRST_COOKIE,
            subdirs: 0,
        }
    }
}

impl Dir {
    /// The entry called `name`.
    pub fn get(&self, name: &[u8]) -> Option<Ino> {
        self.by_name.get(name).map(|s| s.ino)
    }

    /// The resume cookie of entry `name`.
    pub fn cookie_of(&self, name: &[u8]) -> Option<u64> {
        self.by_name.get(name).map(|s| s.cookie)
    }

    /// Number of entries (without `.` and `..`).
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the directory has no entries.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Adds `name → ino`; the name must be absent.
    pub fn insert(&mut self, name: &[u8], ino: Ino) {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        let old = self.by_name.insert(name.into(), Slot { ino, cookie });
        assert!(old.is_none(), "directory entry added twice");
        self.by_cookie.insert(cookie, name.into());
    }

    /// Points the existing entry `name` at `ino`, keeping its cookie (rename over a target).
    pub fn retarget(&mut self, name: &[u8], ino: Ino) {
        let slot = self.by_name.get_mut(name);
        let slot = slot.expect("retarget of a missing entry");
        slot.ino = ino;
    }

    /// Removes `name`, returning the inode it named.
    pub fn remove(&mut self, name: &[u8]) -> Option<Ino> {
        let slot = self.by_name.remove(name)?;
        self.by_cookie.remove(&slot.cookie);
        Some(slot.ino)
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Ino)> {
        self.by_name.iter().map(|(n, s)| (&**n, s.ino))
    }

    /// Entries whose cookie is greater than `after`, in cookie order, with their cookies.
    pub fn iter_from(&self, after: u64) -> impl Iterator<Item = (u64, &[u8], Ino)> {
        self.by_cookie
            .range(after.saturating_add(1)..)
            .map(|(&c, n)| (c, &**n, self.by_name.get(n).map_or(0, |s| s.ino)))
    }

    /// The next cookie this directory will hand out.
    pub fn next_cookie(&self) -> u64 {
        self.next_cookie
    }

    /// Whether the two maps agree (for `check`).
    pub fn is_consistent(&self) -> bool {
        self.by_name.len() == self.by_cookie.len()
            && self.by_cookie.iter().all(|(c, n)| {
                self.by_name
                    .get(n)
                    .is_some_and(|s| s.cookie == *c && *c < self.next_cookie)
            })
    }

    /// Rebuilds a directory from `(cookie, name, ino)` entries and its next cookie, as a
    /// checkpoint stores them. Returns `None` if cookies or names repeat or are out of range.
    pub fn from_parts(
        entries: impl IntoIterator<Item = (u64, Box<[u8]>, Ino)>,
        next_cookie: u64,
        subdirs: u32,
    ) -> Option<Dir> {
        let mut d = Dir {
            next_cookie,
            subdirs,
            ..Dir::default()
        };
        for (cookie, name, ino) in entries {
            if !(FIRST_COOKIE..next_cookie).contains(&cookie)
                || d.by_cookie.insert(cookie, name.clone()).is_some()
                || d.by_name.insert(name, Slot { ino, cookie }).is_some()
            {
                return None;
            }
        }
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_stable_across_changes() {
        let mut d = Dir::default();
        d.insert(b"b", 10);
        d.insert(b"a", 11);
        d.insert(b"c", 12);
        let first: Vec<_> = d.iter_from(0).map(|(c, n, _)| (c, n.to_vec())).collect();
        assert_eq!(first[0], (3, b"b".to_vec()));
        // Resume after "b": removing "b" and adding "d" must not disturb "a" and "c".
        d.remove(b"b");
        d.insert(b"d", 13);
        let rest: Vec<_> = d.iter_from(3).map(|(_, n, _)| n.to_vec()).collect();
        assert_eq!(rest, vec![b"a".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        d.retarget(b"a", 99);
        assert_eq!(d.get(b"a"), Some(99));
        assert!(d.is_consistent());
        assert_eq!(d.len(), 3);
    }
}
