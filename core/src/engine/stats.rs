//! The stats document of SPEC §6, as far as the core knows it: counts of files, directories and
//! bytes, and per collection its path, configuration, vectors, unindexed files, tombstones and
//! memory, filtered to what the caller may see ([`Engine::stats`]). Frontends add what only they can measure (image size, operation latencies).

use super::Engine;
use crate::collections::VECTOR_XATTR;
use crate::namespace::perm::{MAY_EXEC, MAY_READ};
use crate::namespace::{Body, Creds};
use crate::types::{FileKind, Ino, ROOT_INO};
use serde::Serialize;
use std::collections::BTreeMap;

/// Figures of one collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionStats {
    /// Path of the collection's directory.
    pub path: String,
    /// Canonical configuration.
    pub config: String,
    /// Indexed vectors (of files the caller may read).
    pub vectors: u64,
    /// Files in the directory whose vector does not fit the configuration (of those the
    /// caller may read).
    pub unindexed: u64,
    /// Deleted index nodes not yet reclaimed; only for callers who may read every file of
    /// the collection (it counts files they cannot see otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<u64>,
    /// Memory the index holds, in bytes; only for callers who may read every file of the
    /// collection (it grows with their number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
}

/// Count and latency percentiles of one kind of operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct OpStats {
    /// Operations completed.
    pub count: u64,
    /// Median latency in microseconds, when the frontend measured it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_us: Option<u64>,
    /// 90th percentile latency in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_us: Option<u64>,
    /// 99th percentile latency in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_us: Option<u64>,
}

/// The whole stats document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Stats {
    /// Regular files (including ones unlinked but still open).
    pub files: u64,
    /// Directories.
    pub directories: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Fifos, sockets and device nodes.
    pub special_files: u64,
    /// Bytes of regular file data (sum of sizes).
    pub bytes: u64,
    /// Bytes of allocated file data.
    pub allocated_bytes: u64,
    /// Size of the image file, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_bytes: Option<u64>,
    /// Every collection, by path.
    pub collections: Vec<CollectionStats>,
    /// Operations by kind.
    pub operations: BTreeMap<String, OpStats>,
}

impl Engine {
    /// The core's part of the stats document, as `creds` may see it.
    ///
    /// A caller sees what `ls -l`, `stat` and `getfattr` would show it, and no more:
    /// - the counts of files, directories, symlinks, special files and bytes cover the inodes
    ///   with a name in a directory the caller may list ([`listable`](crate::namespace::Namespace::listable): read and
    ///   search permission on it, search permission above it), plus the root;
    /// - a collection is listed only if the caller may list its directory; its `vectors` and
    ///   `unindexed` count the files the caller may read, and `deleted` and `memory_bytes`
    ///   (which count every node) appear only if the caller may read every file there.
    ///
    /// [`Creds::ROOT`] sees everything.
    pub fn stats(&self, creds: &Creds) -> Stats {
        let ns = &self.state.ns;
        let mut s = Stats::default();
        // Whether each directory is reachable, computed once per directory (a walk up stops at
        // the first directory already known), so a deep tree costs linear time, not quadratic.
        let mut reach: BTreeMap<Ino, bool> = BTreeMap::new();
        let mut chain = Vec::new();
        let mut is_listable = |dir: Ino| {
            if creds.is_privileged() {
                return true;
            }
            chain.clear();
            let mut cur = dir;
            let mut known = loop {
                if let Some(&r) = reach.get(&cur) {
                    break r;
                }
                if cur == ROOT_INO {
                    break true;
                }
                chain.push(cur);
                match ns.get(cur).ok().and_then(|n| n.links.first()) {
                    // Directories have one parent each: the walk is bounded (a cycle would be
                    // a broken invariant, cut here).
                    Some(l) if chain.len() <= ns.len() => cur = l.parent,
                    _ => break false,
                }
            };
            for &d in chain.iter().rev() {
                let parent = ns.get(d).ok().and_then(|n| n.links.first()).map(|l| l.parent);
                known = known && parent.is_some_and(|p| ns.may(p, creds, MAY_EXEC));
                reach.insert(d, known);
            }
            reach.insert(ROOT_INO, true);
            let reachable = if dir == ROOT_INO {
                true
            } else {
                reach.get(&dir).copied().unwrap_or(false)
            };
            reachable && ns.may(dir, creds, MAY_READ | MAY_EXEC)
        };
        for (ino, n) in ns.iter() {
            let visible = creds.is_privileged() || ino == ROOT_INO || n.parents().any(&mut is_listable);
            if !visible {
                continue;
            }
            match n.kind {
                FileKind::Regular => s.files += 1,
                FileKind::Directory => s.directories += 1,
                FileKind::Symlink => s.symlinks += 1,
                _ => s.special_files += 1,
            }
            if let Body::Regular(f) = &n.body {
                s.bytes += f.size();
                s.allocated_bytes += f.allocated_blocks() * crate::limits::BLOCK_SIZE as u64;
            }
        }
        let mut path = Vec::new();
        let mut by_dir = Vec::with_capacity(self.state.colls.len());
        for (dir, c) in self.state.colls.iter() {
            if !creds.is_privileged() && !is_listable(dir) {
                continue;
            }
            let (mut unindexed, mut vectors, mut hidden) = (0, 0, false);
            if let Ok(d) = ns.get(dir).and_then(|n| n.dir()) {
                for (name, ino) in d.iter() {
                    let Ok(node) = ns.get(ino) else { continue };
                    // A file with several names here counts once, at its smallest name.
                    if node.name_in(dir) != Some(name) || node.kind != FileKind::Regular {
                        continue;
                    }
                    let indexed = c.index.contains(ino);
                    if !creds.may(node, MAY_READ) {
                        hidden |= indexed || node.xattrs.contains(VECTOR_XATTR);
                        continue;
                    }
                    if indexed {
                        vectors += 1;
                    } else if node.xattrs.contains(VECTOR_XATTR) {
                        unindexed += 1;
                    }
                }
            }
            if creds.is_privileged() {
                vectors = c.index.len() as u64;
                hidden = false;
            }
            path.clear();
            let _ = ns.path_of(dir, &mut path);
            by_dir.push((
                dir,
                CollectionStats {
                    path: String::from_utf8_lossy(&path).into_owned(),
                    config: c.config.to_string(),
                    vectors,
                    unindexed,
                    deleted: (!hidden).then(|| c.index.deleted() as u64),
                    memory_bytes: (!hidden).then(|| c.index.memory_bytes() as u64),
                },
            ));
        }
        // By path, ties (unreachable directories have no path) in directory order. Not a stable
        // `sort_by`: its 4 KiB on-stack scratch buffer alone would take most of the stack budget.
        by_dir.sort_unstable_by(|(da, a), (db, b)| a.path.cmp(&b.path).then(da.cmp(db)));
        s.collections = by_dir.into_iter().map(|(_, c)| c).collect();
        for (kind, count) in self.op_counts() {
            s.operations.insert(
                kind.name().to_owned(),
                OpStats {
                    count,
                    ..OpStats::default()
                },
            );
        }
        s
    }
}
