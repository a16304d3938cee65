//! Searching a collection: resolve the query's collection and target vector, run the index
//! (graph or exact) with the filter evaluated during traversal, and order the results by
//! (distance, path).
//!
//! **Permissions.** A search runs on behalf of a caller ([`Creds`]) and reveals nothing that
//! caller could not learn with `ls`, `stat` and `getfattr`: reaching the collection takes
//! search permission on the path (as `stat` would), listing its names and reading the
//! directory's configuration takes read and search permission on it (as `ls` and `getfattr`
//! would), and a file's vector, metadata attributes, name, size and mtime all stay out of the
//! answer unless the caller may read the file (its `user.*` attributes, vector included, need
//! read permission through `getfattr`). An unreadable file is rejected by the same gate as a
//! filter, inside the walk, so it cannot crowd out readable files or make a filter decide.
//!
//! A search reads the engine only (`&self`) and keeps all its working memory in a caller-owned
//! [`Scratch`], so concurrent searches need no lock against each other and a warmed-up search
//! allocates nothing.

use super::Engine;
use crate::collections::{VECTOR_XATTR, indexable};
use crate::error::{Error, Result};
use crate::index::{Neighbor, SearchScratch};
use crate::namespace::perm::{MAY_EXEC, MAY_READ};
use crate::namespace::{Creds, Inode, Namespace};
use crate::query::{FileMeta, Query, Target};
use crate::types::Ino;
use crate::vector;
use std::io::Write;

/// Working memory of one searcher, reused across searches.
#[derive(Debug, Default)]
pub struct Scratch {
    index: SearchScratch,
    query: Vec<u8>,
    found: Vec<Neighbor>,
    path: Vec<u8>,
}

impl Scratch {
    /// Empty scratch; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

/// One result: the indexed file and its distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Distance to the query (smaller is closer).
    pub distance: f32,
    /// The file's inode.
    pub ino: Ino,
}

/// What a filter sees of a file: its `user.*` attributes, the name it has in the collection,
/// its size and mtime.
struct Meta<'a> {
    node: &'a Inode,
    name: &'a [u8],
}

impl FileMeta for Meta<'_> {
    fn attr(&self, key: &[u8]) -> Option<&[u8]> {
        if key == &VECTOR_XATTR[b"user.".len()..] {
            return None;
        }
        self.node.xattrs.get_prefixed(b"user.", key)
    }
    fn name(&self) -> &[u8] {
        self.name
    }
    fn size(&self) -> u64 {
        self.node.size()
    }
    fn mtime_secs(&self) -> i64 {
        self.node.mtime.secs
    }
}

/// The name of indexed file `ino` in collection `dir`: its smallest name there.
fn name_in(ns: &Namespace, dir: Ino, ino: Ino) -> &[u8] {
    ns.get(ino).ok().and_then(|n| n.name_in(dir)).unwrap_or_default()
}

impl Engine {
    /// Runs `q` on behalf of `creds`, leaving at most `q.k` hits in `out`, nearest first, ties
    /// broken by path. Returns the collection's directory inode (for [`Engine::hit_path`]).
    ///
    /// What `creds` may see (SPEC §4; the module docs give the reasons):
    /// - `q.dir` resolves with search (x) permission on every directory on the way
    ///   ([`Namespace::resolve_as`]: `EACCES` at the first one refused, whether or not the rest
    ///   exists), and the collection directory needs read and search permission (`EACCES`),
    ///   checked before whether it is a collection;
    /// - a `like` path resolves the same way and its file needs read permission (`EACCES`),
    ///   checked before whether it has a vector;
    /// - a file `creds` may not read is no candidate: it is excluded inside the index walk,
    ///   like a filter that rejects it and before the query's filter sees its metadata, so it
    ///   is never returned and never counted toward `k`.
    ///
    /// [`Creds::ROOT`] sees everything; its searches take the unfiltered path when the query
    /// has no filter.
    pub fn search(&self, q: &Query, creds: &Creds, scratch: &mut Scratch, out: &mut Vec<Hit>) -> Result<Ino> {
        out.clear();
        let dir = self.ns.resolve_as(q.dir.as_bytes(), true, creds)?;
        let dir_node = self.ns.get(dir)?;
        dir_node.dir()?;
        if !creds.may(dir_node, MAY_READ | MAY_EXEC) {
            return Err(Error::Access);
        }
        let coll = self
            .colls
            .get(dir)
            .ok_or_else(|| Error::query(format!("{} is not a collection", q.dir)))?;
        let cfg = &coll.config;
        match &q.target {
            Target::Values(values) => vector::encode_values(cfg.elem, cfg.dim, values, &mut scratch.query)?,
            Target::Bytes(bytes) => {
                vector::validate(cfg.elem, cfg.dim, bytes)?;
                scratch.query.clear();
                scratch.query.extend_from_slice(bytes);
            }
            Target::Like(path) => {
                let ino = self.ns.resolve_as(path.as_bytes(), true, creds)?;
                let node = self.ns.get(ino)?;
                if !creds.may(node, MAY_READ) {
                    return Err(Error::Access);
                }
                let v = node
                    .xattrs
                    .get(VECTOR_XATTR)
                    .ok_or_else(|| Error::query(format!("{path} has no vector")))?;
                vector::validate(cfg.elem, cfg.dim, v)
                    .map_err(|_| Error::query(format!("the vector of {path} does not fit {}", q.dir)))?;
                scratch.query.clear();
                scratch.query.extend_from_slice(v);
            }
        }
        // What the collection accepts as a vector it accepts as a query (a zero vector has no
        // cosine distance to anything).
        cfg.check_vector(&scratch.query)?;
        let k = q.k as usize;
        let ef = q.ef.unwrap_or(cfg.ef_search).max(q.k) as usize;
        let ns = &self.ns;
        // Permission first: the query's filter never sees a file the caller may not read.
        let guarded = !creds.is_privileged();
        let mut eval = |label: Ino| match ns.get(label) {
            Ok(node) if guarded && !creds.may(node, MAY_READ) => false,
            Ok(node) => q.filter.as_ref().is_none_or(|f| {
                f.eval(&Meta {
                    node,
                    name: name_in(ns, dir, label),
                })
            }),
            Err(_) => false,
        };
        let filter: Option<&mut dyn FnMut(u64) -> bool> = if q.filter.is_some() || guarded {
            Some(&mut eval)
        } else {
            None
        };
        if q.exact {
            coll.index
                .search_exact(&scratch.query, k, filter, &mut scratch.index, &mut scratch.found);
        } else {
            coll.index.search(
                &scratch.query,
                k,
                ef,
                filter,
                &mut scratch.index,
                &mut scratch.found,
            );
        }
        out.extend(scratch.found.iter().map(|n| Hit {
            distance: n.distance,
            ino: n.label,
        }));
        out.sort_unstable_by(|a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then_with(|| name_in(ns, dir, a.ino).cmp(name_in(ns, dir, b.ino)))
        });
        out.truncate(k);
        debug_assert!(out.iter().all(|h| indexable(ns, dir, h.ino, cfg).is_some()));
        Ok(dir)
    }

    /// The path of hit `ino` of a search in collection `dir`, written into `out`.
    pub fn hit_path(&self, dir: Ino, ino: Ino, out: &mut Vec<u8>) -> Result<()> {
        self.ns.path_of(dir, out)?;
        if out.last() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(name_in(&self.ns, dir, ino));
        Ok(())
    }

    /// Writes hits as JSON lines, `{"path":"/docs/b.txt","distance":0.0123}`, nearest first.
    /// Paths that are not UTF-8 are written with U+FFFD in place of invalid bytes.
    pub fn write_hits_json(
        &self,
        dir: Ino,
        hits: &[Hit],
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            path: &'a str,
            distance: f32,
        }
        for h in hits {
            self.hit_path(dir, h.ino, &mut scratch.path)?;
            let path = String::from_utf8_lossy(&scratch.path);
            serde_json::to_writer(
                &mut *out,
                &Line {
                    path: &path,
                    distance: h.distance,
                },
            )
            .map_err(|_| Error::Invalid("result is not representable as JSON"))?;
            out.write_all(b"\n")
                .map_err(|e| Error::io("formatting results", &e))?;
        }
        Ok(())
    }
}
