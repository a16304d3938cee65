//! The stats document of SPEC §6, as far as the core knows it: counts of files, directories and
//! bytes, and per collection its path, configuration, vectors, unindexed files, tombstones and
//! memory. Frontends add what only they can measure (image size, operation latencies).

use super::Engine;
use crate::collections::VECTOR_XATTR;
use crate::namespace::Body;
use crate::types::FileKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// Figures of one collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionStats {
    /// Path of the collection's directory.
    pub path: String,
    /// Canonical configuration.
    pub config: String,
    /// Indexed vectors.
    pub vectors: u64,
    /// Files in the directory whose vector does not fit the configuration.
    pub unindexed: u64,
    /// Deleted index nodes not yet reclaimed.
    pub deleted: u64,
    /// Memory the index holds, in bytes.
    pub memory_bytes: u64,
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
    /// The core's part of the stats document.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for (_, n) in self.ns.iter() {
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
        let mut by_dir = Vec::with_capacity(self.colls.len());
        for (dir, c) in self.colls.iter() {
            let mut unindexed = 0;
            if let Ok(d) = self.ns.get(dir).and_then(|n| n.dir()) {
                for (name, ino) in d.iter() {
                    let Ok(node) = self.ns.get(ino) else { continue };
                    // A file with several names here counts once, at its smallest name.
                    if node.name_in(dir) == Some(name)
                        && node.kind == FileKind::Regular
                        && node.xattrs.contains(VECTOR_XATTR)
                        && !c.index.contains(ino)
                    {
                        unindexed += 1;
                    }
                }
            }
            path.clear();
            let _ = self.ns.path_of(dir, &mut path);
            by_dir.push((
                dir,
                CollectionStats {
                    path: String::from_utf8_lossy(&path).into_owned(),
                    config: c.config.to_string(),
                    vectors: c.index.len() as u64,
                    unindexed,
                    deleted: c.index.deleted() as u64,
                    memory_bytes: c.index.memory_bytes() as u64,
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
