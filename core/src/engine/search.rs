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
//! **Radius.** A query's `max_distance` keeps only the hits at most that far (still at most `k`,
//! nearest first); a negative radius is refused unless the metric is `dot`, the only one whose
//! distances can be negative.
//!
//! **Hit lines.** [`Engine::write_hits_json`] writes one JSON line per hit with what the query's
//! `include` asks for (metadata attributes, vector, size, mtime) and, for a batch, the query's
//! index; it stops at a byte limit (the caller's memory budget) and says so rather than write a
//! truncated answer. It reveals only what the search that produced the hits was allowed to see:
//! every hit is a file that search's caller may read.
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
use crate::query::{Attrs, FileMeta, Include, Query, Target};
use crate::types::{Ino, Timestamp};
use crate::vector::{self, ElemType, Metric};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::io::Write;

/// Working memory of one searcher, reused across searches.
#[derive(Debug, Default)]
pub struct Scratch {
    index: SearchScratch,
    query: Vec<u8>,
    found: Vec<Neighbor>,
    path: Vec<u8>,
    values: Vec<f64>,
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

/// How [`Engine::write_hits_json`] writes its lines.
#[derive(Debug, Clone, Copy)]
pub struct HitLines<'a> {
    /// What each hit carries besides path and distance.
    pub include: &'a Include,
    /// The index of the query in its batch (written as `"query":N` first), if it came in one.
    pub query: Option<usize>,
    /// Most bytes `out` may hold after writing; past it the writer stops and returns `false`.
    pub limit: usize,
}

impl HitLines<'static> {
    /// Path and distance only, no batch index, no limit.
    pub fn plain() -> Self {
        static NOTHING: Include = Include {
            metadata: Attrs::None,
            vector: false,
            vector_b64: false,
            size: false,
            mtime: false,
        };
        HitLines {
            include: &NOTHING,
            query: None,
            limit: usize::MAX,
        }
    }
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
        // Metadata is always inline: only a vector is ever held by an index.
        self.node.xattrs.get_prefixed(b"user.", key)?.inline()
    }
    fn name(&self) -> &[u8] {
        self.name
    }
    fn size(&self) -> u64 {
        self.node.size()
    }
    fn mtime_secs(&self) -> i64 {
        self.node.mtime.secs()
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
        let dir = self.state.ns.resolve_as(q.dir.as_bytes(), true, creds)?;
        let dir_node = self.state.ns.get(dir)?;
        dir_node.dir()?;
        if !creds.may(dir_node, MAY_READ | MAY_EXEC) {
            return Err(Error::Access);
        }
        let coll = self
            .state
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
                let ino = self.state.ns.resolve_as(path.as_bytes(), true, creds)?;
                let node = self.state.ns.get(ino)?;
                if !creds.may(node, MAY_READ) {
                    return Err(Error::Access);
                }
                let v = self
                    .state
                    .colls
                    .xattr(node, ino, VECTOR_XATTR)
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
        if let Some(r) = q.max_distance
            && r < 0.0
            && cfg.metric != Metric::Dot
        {
            return Err(Error::query(format!(
                "max_distance must be at least 0 for metric {} (its distances are never negative), not {r}",
                cfg.metric.name()
            )));
        }
        let k = q.k as usize;
        let ef = q.ef.unwrap_or(cfg.ef_search).max(q.k) as usize;
        let ns = &self.state.ns;
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
        if let Some(r) = q.max_distance {
            out.retain(|h| f64::from(h.distance) <= r);
        }
        debug_assert!(
            out.iter()
                .all(|h| indexable(ns, &self.state.colls, dir, h.ino, cfg).is_some())
        );
        Ok(dir)
    }

    /// The path of hit `ino` of a search in collection `dir`, written into `out`.
    pub fn hit_path(&self, dir: Ino, ino: Ino, out: &mut Vec<u8>) -> Result<()> {
        self.state.ns.path_of(dir, out)?;
        if out.last() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(name_in(&self.state.ns, dir, ino));
        Ok(())
    }

    /// Writes hits as JSON lines, nearest first: `{"path":"/docs/b.txt","distance":0.0123}`,
    /// preceded by `"query":N` when `lines.query` is set and followed by the fields
    /// `lines.include` asks for: `"metadata":{"key":"value",...}` (values that are not UTF-8 as
    /// `{"b64":"..."}`), `"vector":[...]`, `"vector_b64":"..."`, `"size":N`, `"mtime":S` (seconds
    /// since the epoch, with the fraction as exact decimals). Paths and keys that are not UTF-8
    /// are written with U+FFFD in place of invalid bytes.
    ///
    /// Returns `false`, with `out` as it was before the line that would have crossed it, when
    /// `out` would grow past `lines.limit` bytes. The hits must come from a search whose caller
    /// may see what `include` adds (every hit of [`Engine::search`] is a file its caller may read).
    pub fn write_hits_json(
        &self,
        dir: Ino,
        hits: &[Hit],
        lines: &HitLines<'_>,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        let elem = self.state.colls.get(dir).map(|c| c.config.elem);
        for h in hits {
            let start = out.len();
            self.write_hit(dir, elem, h, lines, scratch, out)?;
            if out.len() > lines.limit {
                out.truncate(start);
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn write_hit(
        &self,
        dir: Ino,
        elem: Option<ElemType>,
        h: &Hit,
        lines: &HitLines<'_>,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let fmt_err = |e: std::io::Error| Error::io("formatting results", &e);
        self.hit_path(dir, h.ino, &mut scratch.path)?;
        out.push(b'{');
        if let Some(i) = lines.query {
            write!(out, "\"query\":{i},").map_err(fmt_err)?;
        }
        out.extend_from_slice(b"\"path\":");
        json_str(out, &scratch.path)?;
        // Distances are finite (vectors are validated): serde_json writes the shortest form.
        out.extend_from_slice(b",\"distance\":");
        serde_json::to_writer(&mut *out, &h.distance)
            .map_err(|_| Error::Invalid("result is not representable as JSON"))?;
        let inc = lines.include;
        if !inc.is_empty() {
            let node = self.state.ns.get(h.ino)?;
            match &inc.metadata {
                Attrs::None => {}
                Attrs::All => {
                    out.extend_from_slice(b",\"metadata\":{");
                    let mut first = true;
                    for (name, value) in node.xattrs.iter() {
                        let Some(key) = name.strip_prefix(b"user.") else {
                            continue;
                        };
                        if name == VECTOR_XATTR {
                            continue;
                        }
                        let Some(value) = self.state.colls.resolve(h.ino, value) else {
                            continue;
                        };
                        meta_pair(out, &mut first, key, value)?;
                    }
                    out.push(b'}');
                }
                Attrs::Named(keys) => {
                    out.extend_from_slice(b",\"metadata\":{");
                    let mut first = true;
                    for key in keys {
                        if let Some(value) = node
                            .xattrs
                            .get_prefixed(b"user.", key.as_bytes())
                            .and_then(|v| self.state.colls.resolve(h.ino, v))
                        {
                            meta_pair(out, &mut first, key.as_bytes(), value)?;
                        }
                    }
                    out.push(b'}');
                }
            }
            let raw = self
                .state
                .colls
                .xattr(node, h.ino, VECTOR_XATTR)
                .unwrap_or_default();
            if inc.vector {
                out.extend_from_slice(b",\"vector\":[");
                let elem = elem.ok_or(Error::Invalid("not a collection"))?;
                vector::decode_values(elem, raw, &mut scratch.values);
                let narrow = matches!(elem, ElemType::F32 | ElemType::F16);
                for (i, &v) in scratch.values.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // Floats as their shortest f32 form (exact: they came from f32 or f16).
                    if narrow {
                        write!(out, "{}", v as f32).map_err(fmt_err)?;
                    } else {
                        write!(out, "{v}").map_err(fmt_err)?;
                    }
                }
                out.push(b']');
            }
            if inc.vector_b64 {
                out.extend_from_slice(b",\"vector_b64\":");
                b64_str(out, raw)?;
            }
            if inc.size {
                write!(out, ",\"size\":{}", node.size()).map_err(fmt_err)?;
            }
            if inc.mtime {
                out.extend_from_slice(b",\"mtime\":");
                write_secs(out, node.mtime).map_err(fmt_err)?;
            }
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// Appends `bytes` as a JSON string (invalid UTF-8 as U+FFFD).
fn json_str(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    serde_json::to_writer(&mut *out, &String::from_utf8_lossy(bytes))
        .map_err(|_| Error::Invalid("result is not representable as JSON"))
}

/// Appends `bytes` as a JSON string of their standard padded base64.
fn b64_str(out: &mut Vec<u8>, bytes: &[u8]) -> Result<()> {
    out.push(b'"');
    let at = out.len();
    out.resize(at + bytes.len().div_ceil(3) * 4, 0);
    let n = STANDARD
        .encode_slice(bytes, &mut out[at..])
        .map_err(|_| Error::Invalid("result is not representable as JSON"))?;
    out.truncate(at + n);
    out.push(b'"');
    Ok(())
}

/// Appends `"key":value` to a metadata object: a string when UTF-8, else `{"b64":"..."}`.
fn meta_pair(out: &mut Vec<u8>, first: &mut bool, key: &[u8], value: &[u8]) -> Result<()> {
    if !*first {
        out.push(b',');
    }
    *first = false;
    json_str(out, key)?;
    out.push(b':');
    match std::str::from_utf8(value) {
        Ok(text) => serde_json::to_writer(&mut *out, text)
            .map_err(|_| Error::Invalid("result is not representable as JSON")),
        Err(_) => {
            out.extend_from_slice(b"{\"b64\":");
            b64_str(out, value)?;
            out.push(b'}');
            Ok(())
        }
    }
}

/// Appends `t` as seconds since the epoch with its fraction in exact decimals (`12.5`, `-0.25`).
fn write_secs(out: &mut Vec<u8>, t: Timestamp) -> std::io::Result<()> {
    let (neg, secs, nanos) = if t.secs() < 0 && t.nanos() > 0 {
        // -2 s + 0.75 s is -1.25 s.
        (true, (-(t.secs() + 1)) as u64, 1_000_000_000 - t.nanos())
    } else {
        (t.secs() < 0, t.secs().unsigned_abs(), t.nanos())
    };
    if neg {
        out.push(b'-');
    }
    write!(out, "{secs}")?;
    if nanos > 0 {
        let (mut frac, mut digits) = (nanos, 9usize);
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(out, ".{frac:0digits$}")?;
    }
    Ok(())
}
