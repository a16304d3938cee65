//! The namespace: inodes, directory entries, file data and extended attributes.
//!
//! This module owns the data structures and their low-level consistency; the POSIX rules of each
//! operation (what may be renamed over what, which times change) live in `crate::engine`, which
//! is the only code that mutates a [`Namespace`].
//!
//! Invariants (verified by `crate::check`):
//! - every directory entry `parent/name → ino` appears in `ino`'s `links`, and every link
//!   appears as an entry;
//! - a regular file, symlink or special node has `nlink == links.len()`; a directory has exactly
//!   one link (the root none) and `nlink == 2 + subdirs`;
//! - an inode with no links is an orphan: unlinked while still open, freed when released;
//! - inode numbers are below `next_ino` and never reused.

pub mod data;
pub mod dir;
pub mod perm;
pub mod xattr;

pub use data::{Block, BlockSource, FileData};
pub use dir::Dir;
pub use perm::Creds;
pub use xattr::{Value as XattrValue, Xattrs};

use crate::error::{Error, Result};
use crate::limits::{NAME_LEN_MAX, PATH_LEN_MAX, SYMLINK_HOPS_MAX};
use crate::types::{Attr, FileKind, Ino, ROOT_INO, Timestamp};
use std::collections::BTreeMap;

/// One name of an inode: the directory holding it and the entry's name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Link {
    /// The directory holding the entry.
    pub parent: Ino,
    /// The entry's name.
    pub name: Box<[u8]>,
}

/// What an inode holds besides its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A regular file's data.
    Regular(FileData),
    /// A directory's entries.
    Directory(Dir),
    /// A symbolic link's target.
    Symlink(Box<[u8]>),
    /// A fifo, socket or device node (its kind and `rdev` are in the inode).
    Special,
}

/// An inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Kind of inode; agrees with `body`.
    pub kind: FileKind,
    /// Permission bits.
    pub perm: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number of a device node.
    pub rdev: u32,
    /// Last access.
    pub atime: Timestamp,
    /// Last data modification.
    pub mtime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
    /// Creation.
    pub crtime: Timestamp,
    /// Extended attributes.
    pub xattrs: Xattrs,
    /// Every name of this inode, sorted. Directories have exactly one (the root none).
    pub links: Vec<Link>,
    /// Data, entries or target.
    pub body: Body,
}

impl Inode {
    /// A new inode with no links, all four times `now`.
    pub fn new(kind: FileKind, perm: u32, uid: u32, gid: u32, rdev: u32, now: Timestamp) -> Self {
        let body = match kind {
            FileKind::Regular => Body::Regular(FileData::default()),
            FileKind::Directory => Body::Directory(Dir::default()),
            FileKind::Symlink => Body::Symlink(Box::default()),
            _ => Body::Special,
        };
        Inode {
            kind,
            perm,
            uid,
            gid,
            rdev,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: now,
            xattrs: Xattrs::default(),
            links: Vec::new(),
            body,
        }
    }

    /// The link count as `stat` reports it; `ino` is this inode's number.
    pub fn nlink(&self, ino: Ino) -> u32 {
        match &self.body {
            // `.` in itself, its entry in the parent (the root's own `..`), and each
            // subdirectory's `..`, as long as it is still linked.
            Body::Directory(d) if !self.links.is_empty() || ino == ROOT_INO => 2 + d.subdirs,
            Body::Directory(_) => 0,
            _ => self.links.len() as u32,
        }
    }

    /// Whether no name refers to this inode any more (an orphan awaiting release).
    pub fn is_unlinked(&self, ino: Ino) -> bool {
        self.nlink(ino) == 0
    }

    /// Size in bytes as `stat` reports it.
    pub fn size(&self) -> u64 {
        match &self.body {
            Body::Regular(f) => f.size(),
            Body::Directory(_) => crate::limits::BLOCK_SIZE as u64,
            Body::Symlink(t) => t.len() as u64,
            Body::Special => 0,
        }
    }

    /// Allocated 512-byte units.
    pub fn blocks_512(&self) -> u64 {
        let per_block = crate::limits::BLOCK_SIZE as u64 / 512;
        match &self.body {
            Body::Regular(f) => f.allocated_blocks() * per_block,
            Body::Directory(_) => per_block,
            Body::Symlink(_) | Body::Special => 0,
        }
    }

    /// The directory entries, if this is a directory.
    pub fn dir(&self) -> Result<&Dir> {
        match &self.body {
            Body::Directory(d) => Ok(d),
            _ => Err(Error::NotDirectory),
        }
    }

    /// The directory entries, mutably.
    pub fn dir_mut(&mut self) -> Result<&mut Dir> {
        match &mut self.body {
            Body::Directory(d) => Ok(d),
            _ => Err(Error::NotDirectory),
        }
    }

    /// The file data, if this is a regular file (`EISDIR` for a directory, `EINVAL` otherwise).
    pub fn file(&self) -> Result<&FileData> {
        match &self.body {
            Body::Regular(f) => Ok(f),
            Body::Directory(_) => Err(Error::IsDirectory),
            _ => Err(Error::Invalid("not a regular file")),
        }
    }

    /// The file data, mutably.
    pub fn file_mut(&mut self) -> Result<&mut FileData> {
        match &mut self.body {
            Body::Regular(f) => Ok(f),
            Body::Directory(_) => Err(Error::IsDirectory),
            _ => Err(Error::Invalid("not a regular file")),
        }
    }

    /// The smallest name this inode has in directory `parent`.
    pub fn name_in(&self, parent: Ino) -> Option<&[u8]> {
        self.links.iter().find(|l| l.parent == parent).map(|l| &*l.name)
    }

    /// Adds a name, keeping `links` sorted.
    pub fn add_link(&mut self, parent: Ino, name: &[u8]) {
        let link = Link {
            parent,
            name: name.into(),
        };
        let at = self.links.binary_search(&link).unwrap_or_else(|i| i);
        self.links.insert(at, link);
    }

    /// Removes a name; it must exist.
    pub fn remove_link(&mut self, parent: Ino, name: &[u8]) {
        let at = self
            .links
            .iter()
            .position(|l| l.parent == parent && &*l.name == name);
        self.links.remove(at.expect("link to remove exists"));
    }

    /// The distinct directories holding a name of this inode, ascending.
    pub fn parents(&self) -> impl Iterator<Item = Ino> + '_ {
        let mut last = None;
        self.links.iter().filter_map(move |l| {
            let fresh = last != Some(l.parent);
            last = Some(l.parent);
            fresh.then_some(l.parent)
        })
    }
}

/// Checks a single path component: not empty, not `.`/`..`, no `/` or NUL, not too long.
pub fn check_name(name: &[u8]) -> Result<()> {
    if name.len() > NAME_LEN_MAX {
        return Err(Error::NameTooLong);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
        return Err(Error::Invalid("invalid file name"));
    }
    Ok(())
}

/// All inodes of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Boxed: an `Inode` is ~200 bytes, so unboxed B-tree nodes would be ~2.4 KiB and every
    /// insert or remove would move kilobytes through the stack of the operation.
    inodes: BTreeMap<Ino, Box<Inode>>,
    next_ino: Ino,
}

impl Namespace {
    /// A namespace with only the root directory.
    pub fn new(root_perm: u32, uid: u32, gid: u32, now: Timestamp) -> Self {
        let root = Inode::new(FileKind::Directory, root_perm & 0o7777, uid, gid, 0, now);
        let mut inodes = BTreeMap::new();
        inodes.insert(ROOT_INO, Box::new(root));
        Namespace {
            inodes,
            next_ino: ROOT_INO + 1,
        }
    }

    /// Rebuilds a namespace from its inodes (checkpoint loading).
    pub fn from_parts(inodes: BTreeMap<Ino, Box<Inode>>, next_ino: Ino) -> Self {
        Namespace { inodes, next_ino }
    }

    /// The inode numbered `ino`.
    pub fn get(&self, ino: Ino) -> Result<&Inode> {
        self.inodes.get(&ino).map(|n| &**n).ok_or(Error::NotFound)
    }

    /// The inode numbered `ino`, mutably.
    pub fn get_mut(&mut self, ino: Ino) -> Result<&mut Inode> {
        self.inodes.get_mut(&ino).map(|n| &mut **n).ok_or(Error::NotFound)
    }

    /// Two distinct inodes, mutably.
    pub fn get2_mut(&mut self, a: Ino, b: Ino) -> Result<(&mut Inode, &mut Inode)> {
        assert_ne!(a, b);
        let (lo, hi) = (a.min(b), a.max(b));
        let mut it = self.inodes.range_mut(lo..=hi);
        let first = &mut **it.next().filter(|(k, _)| **k == lo).ok_or(Error::NotFound)?.1;
        let last = &mut **it
            .next_back()
            .filter(|(k, _)| **k == hi)
            .ok_or(Error::NotFound)?
            .1;
        Ok(if a < b { (first, last) } else { (last, first) })
    }

    /// The entry `name` in directory `parent`.
    pub fn lookup(&self, parent: Ino, name: &[u8]) -> Result<Ino> {
        if name.len() > NAME_LEN_MAX {
            return Err(Error::NameTooLong);
        }
        self.get(parent)?.dir()?.get(name).ok_or(Error::NotFound)
    }

    /// The number the next new inode gets.
    pub fn next_ino(&self) -> Ino {
        self.next_ino
    }

    /// Inserts a new inode under the next number and returns it.
    pub fn insert_new(&mut self, inode: Inode) -> Ino {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, Box::new(inode));
        ino
    }

    /// Removes an inode.
    pub fn remove(&mut self, ino: Ino) -> Option<Inode> {
        self.inodes.remove(&ino).map(|n| *n)
    }

    /// All inodes in number order.
    pub fn iter(&self) -> impl Iterator<Item = (Ino, &Inode)> {
        self.inodes.iter().map(|(&i, n)| (i, &**n))
    }

    /// All inodes in number order, mutably (checkpoints write file blocks back).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Ino, &mut Inode)> {
        self.inodes.iter_mut().map(|(&i, n)| (i, &mut **n))
    }

    /// Number of inodes.
    pub fn len(&self) -> usize {
        self.inodes.len()
    }

    /// Whether there are no inodes (never true: the root always exists).
    pub fn is_empty(&self) -> bool {
        self.inodes.is_empty()
    }

    /// `stat` attributes of an inode.
    pub fn attr(&self, ino: Ino) -> Result<Attr> {
        let n = self.get(ino)?;
        Ok(Attr {
            ino,
            kind: n.kind,
            perm: n.perm,
            nlink: n.nlink(ino),
            uid: n.uid,
            gid: n.gid,
            rdev: n.rdev,
            size: n.size(),
            blocks: n.blocks_512(),
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
            crtime: n.crtime,
        })
    }

    /// Whether `ancestor` is `dir` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: Ino, mut dir: Ino) -> bool {
        // Directories have one parent, so the walk up is a simple loop bounded by the inode
        // count (a cycle would be a broken invariant, caught by `check`).
        for _ in 0..=self.inodes.len() {
            if dir == ancestor {
                return true;
            }
            match self.inodes.get(&dir).and_then(|n| n.links.first()) {
                Some(l) if dir != ROOT_INO => dir = l.parent,
                _ => return false,
            }
        }
        false
    }

    /// The parent of a directory (the root is its own parent).
    pub fn parent_of_dir(&self, dir: Ino) -> Result<Ino> {
        let n = self.get(dir)?;
        n.dir()?;
        Ok(n.links.first().map_or(ROOT_INO, |l| l.parent))
    }

    /// Absolute path of a directory, or of an inode through its first link, written into `out`.
    /// Fails with `NotFound` for an orphan.
    pub fn path_of(&self, ino: Ino, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let mut cur = ino;
        let mut parts: Vec<&[u8]> = Vec::new();
        while cur != ROOT_INO {
            let link = self.get(cur)?.links.first().ok_or(Error::NotFound)?;
            parts.push(&link.name);
            cur = link.parent;
            if parts.len() > self.inodes.len() {
                return Err(Error::Corrupted {
                    what: "directory cycle",
                    offset: 0,
                });
            }
        }
        if parts.is_empty() {
            out.push(b'/');
        }
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        Ok(())
    }

    /// Resolves an absolute path (or one relative to the root) to an inode. Intermediate
    /// symbolic links are always followed; the last component's only if `follow_last`. `.` and
    /// `..` are honoured; at most `SYMLINK_HOPS_MAX` links are followed (then `ELOOP`).
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> Result<Ino> {
        self.resolve_checked(path, follow_last, &mut |_: &Namespace, _: Ino| Ok(()))
    }

    /// The walk of [`Namespace::resolve`], calling `check(self, dir)` before each component
    /// (`.` and `..` included) is looked up in directory `dir`; its error ends the walk.
    pub(crate) fn resolve_checked(
        &self,
        path: &[u8],
        follow_last: bool,
        check: &mut dyn FnMut(&Namespace, Ino) -> Result<()>,
    ) -> Result<Ino> {
        if path.len() > PATH_LEN_MAX {
            return Err(Error::NameTooLong);
        }
        // The components still to walk are those of `pending`, top first, then the rest of
        // `path`. `pending` holds what symbolic links spliced in front of the remaining path
        // (without recursion), so a walk that follows no link allocates nothing.
        let mut rest = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).peekable();
        let mut pending: Vec<Box<[u8]>> = Vec::new();
        let mut cur = ROOT_INO;
        let mut hops = 0u32;
        loop {
            let popped = pending.pop();
            let comp: &[u8] = match &popped {
                Some(c) => c,
                None => match rest.next() {
                    Some(c) => c,
                    None => break,
                },
            };
            let dir = self.get(cur)?.dir()?;
            check(self, cur)?;
            match comp {
                b"." => continue,
                b".." => {
                    cur = self.parent_of_dir(cur)?;
                    continue;
                }
                _ => {}
            }
            if comp.len() > NAME_LEN_MAX {
                return Err(Error::NameTooLong);
            }
            let next = dir.get(comp).ok_or(Error::NotFound)?;
            let node = self.get(next)?;
            let is_last = pending.is_empty() && rest.peek().is_none();
            if let Body::Symlink(target) = &node.body
                && (!is_last || follow_last)
            {
                hops += 1;
                if hops > SYMLINK_HOPS_MAX {
                    return Err(Error::Loop);
                }
                if target.first() == Some(&b'/') {
                    cur = ROOT_INO;
                }
                push_components(&mut pending, target);
                continue;
            }
            cur = next;
        }
        Ok(cur)
    }

    /// Resolves the parent directory of `path` and returns it with the final name (which is
    /// checked with [`check_name`]).
    pub fn resolve_parent<'p>(&self, path: &'p [u8]) -> Result<(Ino, &'p [u8])> {
        let trimmed = trim_trailing_slashes(path);
        let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        check_name(name)?;
        let parent = self.resolve(dir, true)?;
        self.get(parent)?.dir()?;
        Ok((parent, name))
    }
}

fn trim_trailing_slashes(p: &[u8]) -> &[u8] {
    let mut end = p.len();
    while end > 1 && p[end - 1] == b'/' {
        end -= 1;
    }
    &p[..end]
}

/// Pushes the components of `path` onto `stack` so that the first component is on top.
fn push_components(stack: &mut Vec<Box<[u8]>>, path: &[u8]) {
    for comp in path.split(|&b| b == b'/').rev() {
        if !comp.is_empty() {
            stack.push(comp.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert_eq!(check_name(b"ok"), Ok(()));
        assert!(check_name(b"").is_err());
        assert!(check_name(b".").is_err());
        assert!(check_name(b"..").is_err());
        assert!(check_name(b"a/b").is_err());
        assert_eq!(check_name(&[b'x'; 256]), Err(Error::NameTooLong));
        assert_eq!(check_name(&[b'x'; 255]), Ok(()));
    }

    #[test]
    fn root_and_paths() {
        let mut ns = Namespace::new(0o755, 0, 0, Timestamp::default());
        assert_eq!(ns.attr(ROOT_INO).unwrap().nlink, 2);
        assert_eq!(ns.attr(ROOT_INO).unwrap().perm, 0o755);
        let mut d = Inode::new(FileKind::Directory, 0o755, 0, 0, 0, Timestamp::default());
        d.add_link(ROOT_INO, b"docs");
        let dino = ns.insert_new(d);
        let root = ns.get_mut(ROOT_INO).unwrap();
        let rd = root.dir_mut().unwrap();
        rd.insert(b"docs", dino);
        rd.subdirs += 1;
        let mut p = Vec::new();
        ns.path_of(dino, &mut p).unwrap();
        assert_eq!(p, b"/docs");
        ns.path_of(ROOT_INO, &mut p).unwrap();
        assert_eq!(p, b"/");
        assert_eq!(ns.resolve(b"/docs/../docs/.", true), Ok(dino));
        assert_eq!(ns.resolve(b"/", true), Ok(ROOT_INO));
        assert_eq!(ns.resolve(b"/nope", true), Err(Error::NotFound));
        assert_eq!(ns.resolve_parent(b"/docs/x.txt"), Ok((dino, &b"x.txt"[..])));
        assert!(ns.is_ancestor(ROOT_INO, dino));
        assert!(!ns.is_ancestor(dino, ROOT_INO));
        assert_eq!(ns.attr(ROOT_INO).unwrap().nlink, 3);
    }
}
