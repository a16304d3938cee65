//! Whole-structure invariant checks, used by tests, fsck, the simulator and the fuzzers.
//!
//! [`check`] walks everything and reports every violation it finds (up to [`PROBLEMS_MAX`]):
//! - namespace: entries and links agree both ways; link counts and subdirectory counts match;
//!   kinds match bodies; the directory tree is a tree rooted at the root; orphans are pinned;
//!   file data past the end of file is zero; attributes are within their limits; a value held
//!   by an index is a file's vector, and resolves to a vector of its recorded length under the
//!   file's number in a collection of one of its directories; every vector is in its one-copy
//!   form (`Collections::settle`);
//! - collections: every collection is a linked directory whose `user.vexfs.index` is the
//!   canonical form of its configuration, every such directory is a collection, and each index
//!   holds exactly the files the membership rule admits, with exactly their vectors;
//! - each index's own graph invariants (`Hnsw::check`);
//! - for an image, its layout: superblocks, checkpoint, log segments and file data never
//!   overlap, none of it is free space, and every file's on-disk blocks are its own
//!   (`Journal::layout_problems`).
//!
//! The checks work on a [`State`]: the in-memory state and what the image's layout check
//! found, not on the engine, so this module depends on neither the engine nor the journal (the
//! engine, whose fsck runs these checks, implements [`Inspect`]).

use crate::collections::{Collections, INDEX_XATTR, VECTOR_XATTR, indexable};
use crate::limits::{XATTR_LIST_LEN_MAX, XATTR_NAME_LEN_MAX, XATTR_VALUE_LEN_MAX};
use crate::namespace::{BlockSource, Body, Namespace, XattrValue};
use crate::types::{FileKind, Ino, PERM_MASK, ROOT_INO};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What the checks read: the namespace, the collections, the pins, where file blocks on the
/// medium are read from (`None` in memory), and the image layout's problems (empty in memory).
#[derive(Clone, Copy)]
pub struct State<'a> {
    /// The namespace.
    pub ns: &'a Namespace,
    /// The collections.
    pub colls: &'a Collections,
    /// Frontend references per inode: an unlinked inode must be pinned.
    pub pins: &'a BTreeMap<Ino, u64>,
    /// Where on-disk file blocks are read from.
    pub source: Option<&'a dyn BlockSource>,
    /// The image layout check's findings, one line each (computed by the caller).
    pub layout_problems: &'a [String],
}

impl std::fmt::Debug for State<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("inodes", &self.ns.len())
            .field("collections", &self.colls.len())
            .field("on_medium", &self.source.is_some())
            .finish()
    }
}

pub use crate::limits::PROBLEMS_MAX;

/// Violations found by [`check`], one line each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    fn add(&mut self, args: std::fmt::Arguments<'_>) {
        if self.0.len() < PROBLEMS_MAX {
            let mut s = String::new();
            let _ = s.write_fmt(args);
            self.0.push(s);
        }
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

macro_rules! problem {
    ($p:expr, $($arg:tt)*) => { $p.add(format_args!($($arg)*)) };
}

/// A digest of everything observable in `engine`: every inode's attributes, names, attributes,
/// data (as read, wherever it is stored) and link target, and every collection's configuration
/// and index encoding. Two engines with equal digests answer every call alike; an engine and
/// its reopened image have equal digests. Deterministic (SipHash with fixed keys).
pub fn state_digest<T: Inspect + ?Sized>(engine: &T) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    let s = engine.inspect(&[]);
    let ns = s.ns;
    ns.next_ino().hash(&mut h);
    let mut buf = vec![0u8; 64 * 1024];
    for (ino, n) in ns.iter() {
        (ino, n.kind, n.perm, n.uid, n.gid, n.rdev).hash(&mut h);
        (n.atime, n.mtime, n.ctime, n.crtime).hash(&mut h);
        n.links.hash(&mut h);
        for (k, v) in n.xattrs.iter() {
            // As read: a held vector is its index's bytes.
            (k, s.colls.resolve(ino, v)).hash(&mut h);
        }
        match &n.body {
            Body::Regular(f) => {
                (f.size(), f.allocated_blocks()).hash(&mut h);
                let mut off = 0;
                while off < f.size() {
                    let got = f.read(off, &mut buf, s.source).unwrap_or(0);
                    if got == 0 {
                        "unreadable".hash(&mut h);
                        break;
                    }
                    buf[..got].hash(&mut h);
                    off += got as u64;
                }
            }
            Body::Directory(d) => {
                d.next_cookie().hash(&mut h);
                for (name, child) in d.iter() {
                    (name, child, d.cookie_of(name)).hash(&mut h);
                }
            }
            Body::Symlink(t) => t.hash(&mut h),
            Body::Special => {}
        }
    }
    let mut enc = Vec::new();
    for (dir, c) in s.colls.iter() {
        (dir, c.config.to_string()).hash(&mut h);
        enc.clear();
        c.index.encode(&mut enc);
        enc.hash(&mut h);
    }
    h.finish()
}

/// Something the checks can look at (the engine implements it, for an image or in memory).
pub trait Inspect {
    /// The state to check, reporting `layout_problems` as the layout's findings.
    fn inspect<'a>(&'a self, layout_problems: &'a [String]) -> State<'a>;
    /// The image layout's problems, one line each (none in memory).
    fn layout_problems(&self) -> Vec<String>;
}

/// Checks every invariant of `engine`; `Ok` when none is violated.
pub fn check<T: Inspect + ?Sized>(engine: &T) -> Result<(), Problems> {
    let layout = engine.layout_problems();
    check_state(&engine.inspect(&layout))
}

/// Checks every invariant of `s`; `Ok` when none is violated.
pub fn check_state(s: &State<'_>) -> Result<(), Problems> {
    let mut p = Problems::default();
    check_namespace(s, &mut p);
    check_collections(s, &mut p);
    for problem in s.layout_problems {
        problem!(p, "{problem}");
    }
    if p.is_empty() { Ok(()) } else { Err(p) }
}

fn check_namespace(s: &State<'_>, p: &mut Problems) {
    let ns = s.ns;
    match ns.get(ROOT_INO) {
        Ok(root) if root.kind == FileKind::Directory && root.links.is_empty() => {}
        _ => problem!(p, "root directory missing or linked"),
    }
    for (ino, n) in ns.iter() {
        if ino >= ns.next_ino() {
            problem!(p, "inode {ino}: number not below next_ino {}", ns.next_ino());
        }
        let body_kind_ok = matches!(
            (&n.body, n.kind),
            (Body::Regular(_), FileKind::Regular)
                | (Body::Directory(_), FileKind::Directory)
                | (Body::Symlink(_), FileKind::Symlink)
                | (
                    Body::Special,
                    FileKind::Fifo | FileKind::Socket | FileKind::CharDevice | FileKind::BlockDevice
                )
        );
        if !body_kind_ok {
            problem!(p, "inode {ino}: body does not match kind {:?}", n.kind);
        }
        if n.perm & !PERM_MASK != 0 {
            problem!(p, "inode {ino}: mode bits {:o} outside 7777", n.perm);
        }
        if !n.links.windows(2).all(|w| w[0] < w[1]) {
            problem!(p, "inode {ino}: links not sorted and unique");
        }
        for l in &n.links {
            match ns.get(l.parent).and_then(|d| d.dir()) {
                Ok(d) if d.get(&l.name) == Some(ino) => {}
                _ => problem!(
                    p,
                    "inode {ino}: link {}/{:?} has no matching entry",
                    l.parent,
                    String::from_utf8_lossy(&l.name)
                ),
            }
        }
        if n.is_unlinked(ino) && !s.pins.contains_key(&ino) {
            problem!(p, "inode {ino}: unlinked orphan");
        }
        match &n.body {
            Body::Directory(d) => {
                if n.links.len() > 1 || (ino == ROOT_INO && !n.links.is_empty()) {
                    problem!(p, "directory {ino}: has {} names", n.links.len());
                }
                if !d.is_consistent() {
                    problem!(p, "directory {ino}: name and cookie maps disagree");
                }
                let mut subdirs = 0;
                for (name, child) in d.iter() {
                    match ns.get(child) {
                        Ok(c) => {
                            if c.kind == FileKind::Directory {
                                subdirs += 1;
                            }
                            if !c.links.iter().any(|l| l.parent == ino && *l.name == *name) {
                                problem!(
                                    p,
                                    "directory {ino}: entry {:?} -> {child} missing from the child's links",
                                    String::from_utf8_lossy(name)
                                );
                            }
                        }
                        Err(_) => problem!(
                            p,
                            "directory {ino}: entry {:?} -> missing inode {child}",
                            String::from_utf8_lossy(name)
                        ),
                    }
                }
                if subdirs != d.subdirs {
                    problem!(
                        p,
                        "directory {ino}: subdirectory count {} but {subdirs} subdirectories",
                        d.subdirs
                    );
                }
                if !n.links.is_empty() && !ns.is_ancestor(ROOT_INO, ino) {
                    problem!(p, "directory {ino}: not reachable from the root");
                }
            }
            Body::Regular(f) => {
                if !f.tail_is_clean() {
                    problem!(p, "file {ino}: data past end of file or past the size limit");
                }
            }
            Body::Symlink(t) => {
                if t.is_empty() {
                    problem!(p, "symlink {ino}: empty target");
                }
            }
            Body::Special => {}
        }
        if n.xattrs.list_len() > XATTR_LIST_LEN_MAX {
            problem!(p, "inode {ino}: attribute names exceed the list limit");
        }
        for (name, value) in n.xattrs.iter() {
            if name.len() > XATTR_NAME_LEN_MAX || value.len() > XATTR_VALUE_LEN_MAX {
                problem!(
                    p,
                    "inode {ino}: attribute {:?} exceeds a limit",
                    String::from_utf8_lossy(name)
                );
            }
            if let XattrValue::Held { dir, len } = value {
                check_held(s, ino, name, dir, len, p);
            }
        }
        match s.colls.is_settled(n, ino) {
            Some(true) | None => {} // a reference that does not resolve is reported above
            Some(false) => problem!(
                p,
                "file {ino}: vector not in its one-copy form (inline while an index of its directories holds it, or held by the wrong one)"
            ),
        }
    }
}

/// A value held by an index: only a regular file's vector, held by a collection of one of its
/// directories whose index holds a vector of the recorded length under the file's number.
fn check_held(s: &State<'_>, ino: Ino, name: &[u8], dir: Ino, len: usize, p: &mut Problems) {
    let Ok(n) = s.ns.get(ino) else { return };
    if name != VECTOR_XATTR || n.kind != FileKind::Regular {
        problem!(
            p,
            "inode {ino}: attribute {:?} held by an index, but only a file's vector is",
            String::from_utf8_lossy(name)
        );
    }
    match s.colls.get(dir).map(|c| c.index.vector(ino)) {
        None => problem!(p, "file {ino}: vector held by {dir}, which is not a collection"),
        Some(None) => problem!(
            p,
            "file {ino}: vector held by collection {dir}, whose index lacks it"
        ),
        Some(Some(v)) if v.len() != len => problem!(
            p,
            "file {ino}: vector held by collection {dir} is {} bytes, recorded as {len}",
            v.len()
        ),
        Some(Some(_)) => {}
    }
    if n.name_in(dir).is_none() {
        problem!(
            p,
            "file {ino}: vector held by collection {dir}, where it has no name"
        );
    }
}

fn check_collections(s: &State<'_>, p: &mut Problems) {
    let ns = s.ns;
    for (ino, n) in ns.iter() {
        if n.kind == FileKind::Directory && n.xattrs.contains(INDEX_XATTR) && s.colls.get(ino).is_none() {
            problem!(
                p,
                "directory {ino}: has {} but is not a collection",
                String::from_utf8_lossy(INDEX_XATTR)
            );
        }
    }
    for (dir, c) in s.colls.iter() {
        let Ok(node) = ns.get(dir) else {
            problem!(p, "collection {dir}: directory missing");
            continue;
        };
        let Ok(d) = node.dir() else {
            problem!(p, "collection {dir}: not a directory");
            continue;
        };
        if node.xattrs.get(INDEX_XATTR).and_then(XattrValue::inline) != Some(c.config.to_string().as_bytes())
        {
            problem!(
                p,
                "collection {dir}: attribute differs from configuration {}",
                c.config
            );
        }
        let mut expected = 0usize;
        for (name, ino) in d.iter() {
            let Ok(child) = ns.get(ino) else { continue };
            if child.name_in(dir) != Some(name) {
                continue; // counted at its smallest name
            }
            match (indexable(ns, s.colls, dir, ino, &c.config), c.index.vector(ino)) {
                (Some(want), Some(have)) if want == have => expected += 1,
                (Some(_), Some(_)) => {
                    expected += 1;
                    problem!(p, "collection {dir}: file {ino} indexed with a stale vector");
                }
                (Some(_), None) => problem!(p, "collection {dir}: file {ino} missing from the index"),
                (None, Some(_)) => problem!(p, "collection {dir}: file {ino} indexed but not admitted"),
                (None, None) => {}
            }
        }
        if c.index.len() != expected {
            problem!(
                p,
                "collection {dir}: index holds {} labels, storage admits {expected}",
                c.index.len()
            );
        }
        for label in c.index.labels() {
            if ns.get(label).ok().and_then(|n| n.name_in(dir)).is_none() {
                problem!(
                    p,
                    "collection {dir}: label {label} is not a file of the collection"
                );
            }
        }
        if let Err(e) = c.index.check() {
            problem!(p, "collection {dir}: index: {e}");
        }
    }
}
