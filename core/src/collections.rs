//! Collections: directories whose files' vectors are indexed, and the rule that decides which
//! files each index must hold.
//!
//! Storage is the truth and the index is derived. A file `ino` is in the index of directory
//! `dir` exactly when (see [`indexable`]):
//! - `dir` carries `user.vexfs.index` (it is a collection),
//! - `ino` is a regular file with at least one name in `dir`,
//! - `ino` carries `user.vexfs.vector` and that value fits the collection
//!   ([`IndexConfig::check_vector`]: its dimension and element type, and not zero for `cosine`).
//!
//! Setting a vector on a file in collections accepts it when it fits at least one of them
//! ([`Collections::check_vector`]); it is then indexed where it fits and counted as unindexed in
//! the others, as a file renamed into a collection its vector does not fit is.
//!
//! The engine calls [`Collections::resync`] for every (collection, file) pair an operation may
//! have affected, inside that operation, so a search that starts after an operation returns sees
//! its effect. `crate::check` verifies that every index equals what this rule says.
//!
//! **One resident copy.** An indexed vector is in memory once: in its index's node record. The
//! file's `user.vexfs.vector` is then a reference ([`XattrValue::Held`]: the collection
//! directory and the length), resolved by label (the inode number, never a node slot, which
//! compaction and slot reuse move) with [`Collections::resolve`]. Which form a vector takes is
//! a function of the state ([`Collections::settle`]): held by the first of the file's parent
//! directories, in inode order, whose index holds exactly its bytes, else inline (a file in no
//! collection, a vector that fits none of them, an unlinked file). Every change goes through
//! this module and keeps one copy without losing a byte: [`Collections::resync`] copies a
//! vector out of the index that holds it before that index may drop or replace it, and settles
//! the form after; dropping a collection ([`Collections::remove`]) copies out what its index
//! held; [`Collections::configure`] and [`Collections::rebuild`] settle every entry they index.
//! `crate::check` verifies that every reference resolves with its length and that every vector
//! is in its settled form.

use crate::error::{Error, Result};
use crate::index::{Hnsw, IndexParams, Quantization, sq8};
use crate::limits::{EF_MAX, HNSW_M_MAX, HNSW_M_MIN, RERANK_MAX};
use crate::namespace::{Body, Inode, Namespace, XattrValue};
use crate::types::Ino;
use crate::vector::{self, ElemType, Metric};
use std::collections::BTreeMap;
use std::fmt;

/// The attribute that makes a directory a collection.
pub const INDEX_XATTR: &[u8] = b"user.vexfs.index";
pub use crate::vector::VECTOR_XATTR;

/// A collection's configuration, as `user.vexfs.index` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    /// Dimension (bits for `bin`).
    pub dim: u32,
    /// Distance metric.
    pub metric: Metric,
    /// Element type.
    pub elem: ElemType,
    /// HNSW links per node.
    pub m: u32,
    /// HNSW candidate list size while inserting.
    pub ef_construction: u32,
    /// Default search breadth.
    pub ef_search: u32,
    /// How the graph walk scores nodes (`none` or `sq8`).
    pub quantization: Quantization,
    /// Candidates a quantized search re-scores exactly (meaningful with `sq8` only; kept at
    /// its default otherwise).
    pub rerank: u32,
}

impl IndexConfig {
    /// Default `m`.
    pub const M_DEFAULT: u32 = 16;
    /// Default `ef_construction`.
    pub const EF_CONSTRUCTION_DEFAULT: u32 = 200;
    /// Default `ef_search`.
    pub const EF_SEARCH_DEFAULT: u32 = 64;
    /// Default `rerank` of a quantized collection.
    pub const RERANK_DEFAULT: u32 = crate::limits::RERANK_DEFAULT;

    /// The error for a `rerank` given to a collection that is not quantized.
    pub const RERANK_UNQUANTIZED: Error =
        Error::Invalid("rerank applies only to a quantized collection (quantization=sq8)");

    /// A configuration with the defaults for everything but the dimension and type. The metric
    /// defaults to `l2`, or `hamming` for `bin`.
    pub fn new(dim: u32, elem: ElemType) -> Self {
        IndexConfig {
            dim,
            metric: if elem == ElemType::Bin {
                Metric::Hamming
            } else {
                Metric::L2
            },
            elem,
            m: Self::M_DEFAULT,
            ef_construction: Self::EF_CONSTRUCTION_DEFAULT,
            ef_search: Self::EF_SEARCH_DEFAULT,
            quantization: Quantization::None,
            rerank: Self::RERANK_DEFAULT,
        }
    }

    /// Parses `dim=384 metric=cosine type=f16 m=16 ef_construction=200 ef_search=64
    /// quantization=sq8 rerank=64` (fields in any order, separated by whitespace, `dim`
    /// required) and validates it.
    pub fn parse(src: &[u8]) -> Result<Self> {
        let src = std::str::from_utf8(src).map_err(|_| Error::Invalid("index config is not UTF-8"))?;
        let mut fields: [Option<&str>; 8] = [None; 8];
        const KEYS: [&str; 8] = [
            "dim",
            "metric",
            "type",
            "m",
            "ef_construction",
            "ef_search",
            "quantization",
            "rerank",
        ];
        for tok in src.split_ascii_whitespace() {
            let (k, v) = tok
                .split_once('=')
                .ok_or(Error::Invalid("index config fields are key=value"))?;
            let slot = KEYS
                .iter()
                .position(|&key| key == k)
                .ok_or(Error::Invalid("unknown index config field"))?;
            if fields[slot].replace(v).is_some() {
                return Err(Error::Invalid("index config field given twice"));
            }
        }
        let num = |v: Option<&str>, what: &'static str| -> Result<Option<u32>> {
            v.map(|s| s.parse::<u32>().map_err(|_| Error::Invalid(what)))
                .transpose()
        };
        let dim = num(fields[0], "dim must be a positive integer")?
            .ok_or(Error::Invalid("index config needs dim"))?;
        let elem = match fields[2] {
            Some(t) => ElemType::parse(t).ok_or(Error::Invalid("type must be f32, f16, i8, i16 or bin"))?,
            None => ElemType::F32,
        };
        let mut cfg = IndexConfig::new(dim, elem);
        if let Some(m) = fields[1] {
            cfg.metric =
                Metric::parse(m).ok_or(Error::Invalid("metric must be l2, cosine, dot, l1 or hamming"))?;
        }
        if let Some(m) = num(fields[3], "m must be an integer")? {
            cfg.m = m;
        }
        if let Some(e) = num(fields[4], "ef_construction must be an integer")? {
            cfg.ef_construction = e;
        }
        if let Some(e) = num(fields[5], "ef_search must be an integer")? {
            cfg.ef_search = e;
        }
        if let Some(q) = fields[6] {
            cfg.quantization =
                Quantization::parse(q).ok_or(Error::Invalid("quantization must be none or sq8"))?;
        }
        if let Some(r) = num(fields[7], "rerank must be an integer")? {
            if cfg.quantization == Quantization::None {
                return Err(Self::RERANK_UNQUANTIZED);
            }
            cfg.rerank = r;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every field against the limits.
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.dim > self.elem.dim_max() {
            return Err(Error::Invalid("dim out of range (1..=4096, bin: 8..=65536)"));
        }
        if self.elem == ElemType::Bin && !self.dim.is_multiple_of(8) {
            return Err(Error::Invalid("bin dim must be a multiple of 8"));
        }
        if !vector::supported(self.elem, self.metric) {
            return Err(Error::Invalid(
                "hamming is the metric of type bin, and only of bin",
            ));
        }
        if !(HNSW_M_MIN..=HNSW_M_MAX).contains(&self.m) {
            return Err(Error::Invalid("m out of range (2..=64)"));
        }
        if !(1..=EF_MAX).contains(&self.ef_construction) || !(1..=EF_MAX).contains(&self.ef_search) {
            return Err(Error::Invalid(
                "ef_construction and ef_search must be in 1..=4096",
            ));
        }
        if self.quantization == Quantization::Sq8 && !sq8::supported(self.elem, self.metric) {
            return Err(Error::Invalid(
                "quantization=sq8 needs type f32, f16 or i16 and metric l2, cosine or dot",
            ));
        }
        if !(1..=RERANK_MAX).contains(&self.rerank) {
            return Err(Error::Invalid("rerank must be in 1..=4096"));
        }
        if self.quantization == Quantization::None && self.rerank != Self::RERANK_DEFAULT {
            return Err(Self::RERANK_UNQUANTIZED);
        }
        Ok(())
    }

    /// Whether the two configurations build the same index (all fields but `ef_search` and
    /// `rerank`, which only steer searches).
    pub fn same_index(&self, other: &IndexConfig) -> bool {
        IndexConfig {
            ef_search: 0,
            rerank: 0,
            ..*self
        } == IndexConfig {
            ef_search: 0,
            rerank: 0,
            ..*other
        }
    }

    /// Checks that `v` is a valid vector for this collection: [`vector::validate`] (length, no
    /// NaN or infinity), and for `cosine` not the zero vector, which has no direction.
    pub fn check_vector(&self, v: &[u8]) -> Result<()> {
        vector::validate(self.elem, self.dim, v)?;
        if self.metric == Metric::Cosine && vector::is_zero(self.elem, v) {
            return Err(Error::Invalid(
                "a zero vector has no direction: a cosine collection refuses it",
            ));
        }
        Ok(())
    }

    /// Whether `v` is a valid vector for this collection ([`IndexConfig::check_vector`]).
    pub fn fits(&self, v: &[u8]) -> bool {
        self.check_vector(v).is_ok()
    }

    /// The index parameters for this configuration with the given level seed.
    pub fn index_params(&self, seed: u64) -> IndexParams {
        IndexParams {
            elem: self.elem,
            metric: self.metric,
            dim: self.dim,
            m: self.m,
            ef_construction: self.ef_construction,
            seed,
            quant: self.quantization,
        }
    }
}

impl fmt::Display for IndexConfig {
    /// The canonical form: every field, in a fixed order; `quantization` and `rerank` only
    /// for a quantized collection (so an unquantized one reads as it always did, and images
    /// written before quantization existed keep their configuration strings).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dim={} metric={} type={} m={} ef_construction={} ef_search={}",
            self.dim,
            self.metric.name(),
            self.elem.name(),
            self.m,
            self.ef_construction,
            self.ef_search
        )?;
        if self.quantization != Quantization::None {
            write!(
                f,
                " quantization={} rerank={}",
                self.quantization.name(),
                self.rerank
            )?;
        } else if self.rerank != Self::RERANK_DEFAULT {
            // Never so in a valid configuration: printed so that the text refuses to parse as
            // the value refuses to validate, instead of reading back as a different, valid one.
            write!(f, " rerank={}", self.rerank)?;
        }
        Ok(())
    }
}

/// The vector `ino` must be indexed with in collection `dir` (configured `cfg`), or `None` when
/// it must not be in that index. This is the membership rule of the module docs. A held vector
/// is resolved through `colls`.
pub fn indexable<'a>(
    ns: &'a Namespace,
    colls: &'a Collections,
    dir: Ino,
    ino: Ino,
    cfg: &IndexConfig,
) -> Option<&'a [u8]> {
    let node = member(ns, dir, ino)?;
    colls
        .resolve(ino, node.xattrs.get(VECTOR_XATTR)?)
        .filter(|v| cfg.fits(v))
}

/// `ino` when it is a regular file with a name in `dir` (a member, if its vector fits).
fn member(ns: &Namespace, dir: Ino, ino: Ino) -> Option<&Inode> {
    let node = ns.get(ino).ok()?;
    (matches!(node.body, Body::Regular(_)) && node.name_in(dir).is_some()).then_some(node)
}

/// One collection: its configuration and its index.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The configuration (`user.vexfs.index`).
    pub config: IndexConfig,
    /// The index over the collection's vectors, labelled by inode number.
    pub index: Hnsw,
}

impl Collection {
    /// A collection with an empty index, built in a frame of its own (not inlined) so that the
    /// caller's frame, live while the index is filled, does not hold the ~800-byte value.
    #[inline(never)]
    fn boxed(config: IndexConfig, index_seed: u64) -> Box<Collection> {
        let mut index = Hnsw::new(config.index_params(index_seed));
        index.set_rerank(config.rerank as usize);
        Box::new(Collection { config, index })
    }
}

/// Every collection of an image, by directory inode.
#[derive(Debug, Clone, Default)]
pub struct Collections {
    /// Boxed: a `Collection` is ~800 bytes, so unboxed B-tree nodes would be ~9 KiB and each
    /// insert or remove that splits or merges one would move kilobytes through the stack.
    by_dir: BTreeMap<Ino, Box<Collection>>,
}

impl Collections {
    /// The collection of directory `dir`.
    pub fn get(&self, dir: Ino) -> Option<&Collection> {
        self.by_dir.get(&dir).map(|c| &**c)
    }

    /// Whether `dir` is a collection.
    pub fn contains(&self, dir: Ino) -> bool {
        self.by_dir.contains_key(&dir)
    }

    /// All collections in directory-inode order.
    pub fn iter(&self) -> impl Iterator<Item = (Ino, &Collection)> {
        self.by_dir.iter().map(|(&d, c)| (d, &**c))
    }

    /// Number of collections.
    pub fn len(&self) -> usize {
        self.by_dir.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_dir.is_empty()
    }

    /// The seed of the index of collection `dir` in an image seeded `image_seed`.
    pub fn index_seed(image_seed: u64, dir: Ino) -> u64 {
        image_seed ^ dir.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Makes `dir` a collection with `config` (or changes its configuration), indexing every
    /// file of `dir` the membership rule admits. A change other than `ef_search` needs an empty
    /// index or a rebuild; the caller enforces the `EBUSY` rule first. The new members'
    /// vectors end up held by the index ([`Collections::settle`]).
    pub fn configure(&mut self, ns: &mut Namespace, dir: Ino, config: IndexConfig, image_seed: u64) {
        if let Some(c) = self.by_dir.get_mut(&dir)
            && c.config.same_index(&config)
        {
            c.config = config;
            c.index.set_rerank(config.rerank as usize);
            return;
        }
        debug_assert!(
            self.get(dir).is_none_or(|c| c.index.is_empty()),
            "a collection holding vectors is rebuilt through `rebuild`"
        );
        // Entries in name order; a file with several names here is indexed once. Vectors held
        // by another collection (hard links) are copied out first, and settled again below.
        let entries: Vec<Ino> = match ns.get(dir).and_then(|n| n.dir()) {
            Ok(d) => d.iter().map(|(_, ino)| ino).collect(),
            Err(_) => Vec::new(),
        };
        for &ino in &entries {
            self.materialize(ns, ino);
        }
        let mut c = Collection::boxed(config, Self::index_seed(image_seed, dir));
        for &ino in &entries {
            if c.index.contains(ino) {
                continue;
            }
            if let Some(v) = member(ns, dir, ino)
                .and_then(|n| n.xattrs.get(VECTOR_XATTR))
                .and_then(XattrValue::inline)
                .filter(|v| config.fits(v))
            {
                c.index.insert(ino, v);
            }
        }
        // A (re)built quantized index trains on everything it holds.
        c.index.retrain();
        self.by_dir.insert(dir, c);
        for &ino in &entries {
            self.settle(ns, ino);
        }
    }

    /// Rebuilds the index of collection `dir` from storage, from scratch. The vectors the old
    /// index holds are copied out before it goes and held by the new one after.
    pub fn rebuild(&mut self, ns: &mut Namespace, dir: Ino, image_seed: u64) {
        let Some(c) = self.by_dir.get(&dir) else {
            return;
        };
        let config = c.config;
        for label in c.index.labels() {
            self.materialize(ns, label);
        }
        self.by_dir.remove(&dir);
        self.configure(ns, dir, config, image_seed);
    }

    /// Stops indexing `dir`: every vector its index held becomes inline again (or held by
    /// another collection of the file), in this call. The collection is returned boxed: moving
    /// it out would put ~800 bytes on the caller's stack (every caller just drops it).
    pub fn remove(&mut self, ns: &mut Namespace, dir: Ino) -> Option<Box<Collection>> {
        let c = self.by_dir.remove(&dir)?;
        for label in c.index.labels() {
            let Ok(node) = ns.get_mut(label) else { continue };
            if let Some(XattrValue::Held { dir: d, len }) = node.xattrs.get(VECTOR_XATTR)
                && d == dir
            {
                let v = c.index.vector(label).expect("a label has a vector");
                assert_eq!(v.len(), len, "a held vector has its recorded length");
                node.xattrs.set(VECTOR_XATTR, v);
            }
            self.settle(ns, label);
        }
        Some(c)
    }

    /// The bytes of attribute value `v` of inode `ino`: its own, or those the holding index
    /// stores under `ino`. `None` only when a held value does not resolve, which `check`
    /// reports and no operation leaves behind.
    pub fn resolve<'a>(&'a self, ino: Ino, v: XattrValue<'a>) -> Option<&'a [u8]> {
        match v {
            XattrValue::Inline(b) => Some(b),
            XattrValue::Held { dir, len } => self
                .get(dir)
                .and_then(|c| c.index.vector(ino))
                .filter(|b| b.len() == len),
        }
    }

    /// The bytes of attribute `name` of inode `ino` (`node`), resolved ([`Collections::resolve`]).
    pub fn xattr<'a>(&'a self, node: &'a Inode, ino: Ino, name: &[u8]) -> Option<&'a [u8]> {
        self.resolve(ino, node.xattrs.get(name)?)
    }

    /// Copies the vector of `ino` out of the index holding it, so that index may change
    /// (briefly two copies; [`Collections::settle`] ends the operation with one).
    fn materialize(&self, ns: &mut Namespace, ino: Ino) {
        let Ok(node) = ns.get_mut(ino) else { return };
        let Some(XattrValue::Held { dir, len }) = node.xattrs.get(VECTOR_XATTR) else {
            return;
        };
        let v = self
            .get(dir)
            .and_then(|c| c.index.vector(ino))
            .expect("a held vector resolves");
        assert_eq!(v.len(), len, "a held vector has its recorded length");
        node.xattrs.set(VECTOR_XATTR, v);
    }

    /// The collection that must hold the vector `v` (resolved) of file `node` (`ino`): the
    /// first of its parent directories, in inode order, whose index holds exactly `v`.
    fn holder(&self, node: &Inode, ino: Ino, v: &[u8]) -> Option<Ino> {
        if node.kind != crate::types::FileKind::Regular {
            return None;
        }
        node.parents()
            .find(|&d| self.get(d).and_then(|c| c.index.vector(ino)) == Some(v))
    }

    /// Puts the vector of `ino` in its one canonical form: held by [`Collections::holder`]
    /// when there is one (an inline copy is freed), else inline (copied out of the index that
    /// held it). Every operation ends with the vectors it touched settled, so an indexed vector
    /// is in memory once, and the same state always has the same form (a checkpoint writes it
    /// as it is).
    pub fn settle(&self, ns: &mut Namespace, ino: Ino) {
        if let Ok(node) = ns.get_mut(ino) {
            self.settle_inode(node, ino);
        }
    }

    /// [`Collections::settle`] of inode `ino`, `node`.
    pub fn settle_inode(&self, node: &mut Inode, ino: Ino) {
        let Some(value) = node.xattrs.get(VECTOR_XATTR) else {
            return;
        };
        let held = value.held_by();
        let v = self.resolve(ino, value).expect("a held vector resolves");
        let (len, want) = (v.len(), self.holder(node, ino, v));
        match (want, held) {
            (Some(d), Some(h)) if d == h => {}
            (Some(d), _) => {
                node.xattrs.set_held(VECTOR_XATTR, d, len);
            }
            (None, Some(h)) => {
                let v = self
                    .get(h)
                    .and_then(|c| c.index.vector(ino))
                    .expect("resolved above");
                node.xattrs.set(VECTOR_XATTR, v);
            }
            (None, None) => {}
        }
    }

    /// Whether the vector of `ino` is in its canonical form ([`Collections::settle`]); for
    /// `check`. `None` when a held value does not resolve.
    pub fn is_settled(&self, node: &Inode, ino: Ino) -> Option<bool> {
        let Some(value) = node.xattrs.get(VECTOR_XATTR) else {
            return Some(true);
        };
        let v = self.resolve(ino, value)?;
        Some(self.holder(node, ino, v) == value.held_by())
    }

    /// Brings the entry of `ino` in collection `dir` (if `dir` is one) in line with the
    /// membership rule: insert, replace, remove or nothing; then settles the vector's form.
    /// A vector this index holds is copied out before the index lets it go, so no byte is lost.
    pub fn resync(&mut self, ns: &mut Namespace, dir: Ino, ino: Ino) {
        if !self.by_dir.contains_key(&dir) {
            return;
        }
        let held = ns
            .get(ino)
            .ok()
            .and_then(|n| n.xattrs.get(VECTOR_XATTR))
            .and_then(XattrValue::held_by);
        match held {
            // Held here and still a member: the index holds exactly the value, which fits
            // (configurations change only while empty, or in `ef_search`/`rerank`).
            Some(h) if h == dir && member(ns, dir, ino).is_some() => return,
            Some(_) => self.materialize(ns, ino),
            None => {}
        }
        let c = self.by_dir.get_mut(&dir).expect("checked above");
        let want = member(ns, dir, ino)
            .and_then(|n| n.xattrs.get(VECTOR_XATTR))
            .map(|v| v.inline().expect("materialized above"))
            .filter(|v| c.config.fits(v));
        match (want, c.index.vector(ino)) {
            (Some(v), None) => c.index.insert(ino, v),
            (Some(v), Some(old)) if old != v => c.index.replace(ino, v),
            (None, Some(_)) => {
                c.index.remove(ino);
            }
            _ => {}
        }
        self.settle(ns, ino);
    }

    /// Resyncs `ino` in every collection holding one of its names.
    pub fn resync_all_parents(&mut self, ns: &mut Namespace, ino: Ino) {
        let mut last = None;
        // One parent at a time (a resync changes no link), so no list is allocated.
        while let Some(dir) = ns
            .get(ino)
            .ok()
            .and_then(|n| n.parents().find(|&d| last.is_none_or(|l| d > l)))
        {
            self.resync(ns, dir, ino);
            last = Some(dir);
        }
    }

    /// Checks a vector about to be set on file `ino`: accepted when the file has a name in no
    /// collection or when the vector fits at least one of its collections. Otherwise the
    /// collection's own error when there is one collection, or [`Collections::FITS_NONE`].
    pub fn check_vector(&self, ns: &Namespace, ino: Ino, v: &[u8]) -> Result<()> {
        let node = ns.get(ino)?;
        let mut refused = None;
        for dir in node.parents() {
            if let Some(c) = self.by_dir.get(&dir) {
                match c.config.check_vector(v) {
                    Ok(()) => return Ok(()),
                    Err(e) => refused = Some(if refused.is_some() { Self::FITS_NONE } else { e }),
                }
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// The error for a vector refused by each of several collections the file is in.
    pub const FITS_NONE: Error = Error::Invalid("the vector fits none of the file's collections");

    /// Inserts a collection as loaded from a checkpoint.
    pub fn insert_loaded(&mut self, dir: Ino, c: Box<Collection>) {
        self.by_dir.insert(dir, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_defaults_and_canonical_form() {
        let c = IndexConfig::parse(b"dim=384").unwrap();
        assert_eq!(
            c.to_string(),
            "dim=384 metric=l2 type=f32 m=16 ef_construction=200 ef_search=64"
        );
        let c = IndexConfig::parse(b" ef_search=10\ttype=f16 metric=cosine dim=8 m=4 ef_construction=50\n")
            .unwrap();
        assert_eq!(
            c.to_string(),
            "dim=8 metric=cosine type=f16 m=4 ef_construction=50 ef_search=10"
        );
        assert_eq!(IndexConfig::parse(c.to_string().as_bytes()).unwrap(), c);
        let b = IndexConfig::parse(b"dim=64 type=bin").unwrap();
        assert_eq!(b.metric, Metric::Hamming);
    }

    #[test]
    fn parse_rejects_bad_configs() {
        for bad in [
            &b""[..],
            b"dim=0",
            b"dim=4097",
            b"dim=-1",
            b"dim=12 type=bin",
            b"dim=65544 type=bin",
            b"dim=8 type=bin metric=l2",
            b"dim=8 metric=hamming",
            b"dim=8 metric=euclid",
            b"dim=8 type=f64",
            b"dim=8 m=1",
            b"dim=8 m=65",
            b"dim=8 ef_search=0",
            b"dim=8 ef_construction=5000",
            b"dim=8 dim=9",
            b"dim=8 colour=red",
            b"dim 8",
            b"\xff",
            b"dim=8 quantization=pq",
            b"dim=8 quantization=sq8 quantization=none",
            b"dim=8 rerank=10",
            b"dim=8 quantization=none rerank=10",
            b"dim=8 quantization=sq8 rerank=0",
            b"dim=8 quantization=sq8 rerank=4097",
            b"dim=8 quantization=sq8 rerank=x",
            b"dim=8 quantization=sq8 metric=l1",
            b"dim=8 quantization=sq8 type=i8",
            b"dim=8 quantization=sq8 type=bin",
        ] {
            assert!(
                matches!(IndexConfig::parse(bad), Err(Error::Invalid(_))),
                "{:?} should be rejected",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(IndexConfig::parse(b"dim=65536 type=bin").is_ok());
        let q = IndexConfig::parse(b"rerank=100 dim=8 quantization=sq8 metric=cosine type=f16").unwrap();
        assert_eq!(
            q.to_string(),
            "dim=8 metric=cosine type=f16 m=16 ef_construction=200 ef_search=64 quantization=sq8 rerank=100"
        );
        assert_eq!(IndexConfig::parse(q.to_string().as_bytes()).unwrap(), q);
        let q = IndexConfig::parse(b"dim=8 quantization=sq8 type=i16 metric=dot").unwrap();
        assert_eq!(q.rerank, IndexConfig::RERANK_DEFAULT);
        // `quantization=none` is the default and prints as nothing.
        let n = IndexConfig::parse(b"dim=8 quantization=none").unwrap();
        assert_eq!(n, IndexConfig::parse(b"dim=8").unwrap());
        assert_eq!(
            n.to_string(),
            "dim=8 metric=l2 type=f32 m=16 ef_construction=200 ef_search=64"
        );
        assert!(IndexConfig { rerank: 5, ..n }.validate().is_err());
        // An invalid rerank on an unquantized value is printed, so its text is refused too
        // (the codec fuzzer found it dropped: the text read back as a valid configuration).
        for rerank in [0, 5, RERANK_MAX + 1] {
            let bad = IndexConfig { rerank, ..n };
            assert!(bad.validate().is_err());
            assert!(IndexConfig::parse(bad.to_string().as_bytes()).is_err(), "{bad}");
        }
        assert!(IndexConfig::parse(b"dim=4096").is_ok());
    }

    #[test]
    fn same_index_ignores_ef_search() {
        let a = IndexConfig::parse(b"dim=8").unwrap();
        let b = IndexConfig { ef_search: 99, ..a };
        assert!(a.same_index(&b));
        assert!(!a.same_index(&IndexConfig { m: 8, ..a }));
        let q = IndexConfig::parse(b"dim=8 quantization=sq8").unwrap();
        assert!(q.same_index(&IndexConfig { rerank: 7, ..q }));
        assert!(!q.same_index(&a));
    }
}
