//! The HNSW graph of one collection (Malkov & Yashunin), laid out like hnswlib.
//!
//! # What this module owns
//! The graph, its vectors and its label map; insertion, removal (tombstones with neighbourhood
//! repair and slot reuse), compaction, approximate and exact search ([`search`]), the structural
//! check ([`check`]) and the checkpoint codec ([`codec`]).
//!
//! # Layout
//! Nodes have dense `u32` ids (slots). Per node, in flat arrays indexed by id:
//! - `nodes`: ONE contiguous block of fixed-size records, as in hnswlib: the level-0 list
//!   (`count`, then `2m + TREE_SLOTS` slots; unused slots are always zero), for `f32`/`f16`
//!   cosine the vector's squared norm (an `f64` in two words, see below), for vectors of at
//!   least [`SKETCH_VECTOR_BYTES_MIN`] bytes the vector's 1-bit sketch (see below), for `sq8` the code
//!   region (the vector's statistic, an `f32` word, then its 8-bit code padded to whole words;
//!   see [`super::sq8`]), then the raw vector bytes (padded with zeros to whole `u32`s). Interleaving measured faster than two separate
//!   blocks: the list of a node whose distance was just computed is usually already in cache
//!   when the node is expanded;
//! - `labels` (node → label, `u64`), `info` (level in the low bits, [`TOMB`] flag),
//!   `parent` (spanning-tree parent, see below) and `upper_off` (where the node's upper levels
//!   start in `upper`).
//!
//! Upper levels are sparse: only nodes with level `L > 0` own `L` blocks of `1 + m` `u32`s in
//! `upper`, appended in id order (so `upper_off` is a prefix sum and is not serialized). A
//! `BTreeMap` maps live labels to nodes (sorted, no hasher, deterministic).
//!
//! # Cosine
//! For `f32` and `f16` cosine the index measures distances with the split kernel
//! ([`vector::CosineSplit`]): each record keeps its vector's squared norm, a query's is computed
//! once per search, and a distance costs one inner product instead of three sums. The split
//! kernel returns exactly the fused kernel's bits, so distances, rankings and everything derived
//! from them are what the fused kernel gives; the stored vector bytes are untouched. The norm is
//! derived state: set with the vector, checked by [`Hnsw::check`], recomputed when a checkpoint
//! is decoded (the checkpoint does not hold it).
//!
//! # Sketches
//! Unquantized `f32`/`f16` indexes under `l2`, `cosine` and `dot` whose vectors are at least
//! [`SKETCH_VECTOR_BYTES_MIN`] bytes keep a 1-bit RaBitQ sketch of each vector in its record,
//! right after the list ([`super::sketch`]). Once the beam's result set is full, a gathered
//! neighbour whose sketch bound puts it farther than the set's worst is skipped without reading
//! its vector (which it would have been dropped for anyway, had the bound held), in searches and
//! in construction beams alike; distances that are computed are exact. Sketches are derived
//! state like the norms: set with the vector, checked by [`Hnsw::check`], recomputed when a
//! checkpoint is decoded.
//!
//! # Quantized collections (`sq8`)
//! The graph is built with exact distances (construction is what it is without quantization);
//! a search of a trained sq8 index walks the graph scoring codes (greedy descent and the
//! level-0 beam), keeps `max(ef, rerank)` candidates, and re-scores the best `max(rerank, k)`
//! of them exactly on the stored vectors, so the results and their distances are exact ones.
//! A code is made in the same call that stores its vector ([`Hnsw::insert`], reuse, replace);
//! when training runs is documented in [`super::sq8`]. Codes and statistics are derived state,
//! like the norms: the checkpoint holds the training, not the codes.
//!
//! # Construction
//! Levels are `floor(-ln(U) / ln(m))` capped at [`HNSW_LEVEL_MAX`], drawn from a counter-based
//! SplitMix64 stream (`seed = params.seed`, state = the number of draws, serialized), compared
//! against integer thresholds `2^64 / m^l` so no floating-point `ln` is involved. A new node is
//! linked to at most `m` neighbours per level chosen by the heuristic of algorithm 4 (hnswlib's
//! `getNeighborsByHeuristic2`) from an `ef_construction` beam; each chosen neighbour links back,
//! shrinking its list with the same heuristic when it exceeds its bound (`2m` on level 0, `m`
//! above).
//!
//! # Reachability guarantee
//! Heuristic pruning alone can orphan nodes. To make "every live node is reachable from the
//! entry point" an invariant rather than a likelihood, level 0 embeds a spanning tree: every
//! node but one root has a `parent`, and the level-0 lists of both ends always hold the edge
//! (`x → parent[x]` and `parent[x] → x`). Such *protected* links are never pruned (the heuristic
//! keeps them and fills the remaining places), so level 0 stays strongly connected whatever the
//! entry point is. The link to the parent counts among the `2m` links the heuristic chooses;
//! links to children have [`TREE_SLOTS`] slots of their own, so they never displace a chosen
//! link (they did, at a measured cost in recall). A node thus has at most `TREE_SLOTS`
//! children: a new node's parent is its closest selected neighbour with fewer, and one always
//! exists because a tree over `n` nodes has `n - 1` children and room for `TREE_SLOTS · n ≥ 2n`.
//!
//! # Deletion, reuse, compaction
//! [`Hnsw::remove`] tombstones the node: it leaves the label map, is never returned by a
//! search, but keeps its vector and links for navigation (and its tree edges). Each live
//! neighbour that links back to it re-selects its list from its own neighbours ∪ the removed
//! node's neighbours (dropping the removed node unless the link is protected), with the
//! heuristic relaxed by [`REPAIR_ALPHA`] as in FreshDiskANN's delete consolidation: a strict
//! heuristic drops the removed node's long links (to a far-away cluster, say) from every
//! repaired list, and after enough deletions such a cluster can no longer be found by a search
//! that starts elsewhere; the relaxed one keeps them. The slot goes on
//! a LIFO free list; the next insert reuses it in place (same level, new vector and label,
//! relinked by a fresh beam search), so [`Hnsw::replace`] is remove + insert into the same slot.
//! When tombstones exceed [`TOMBSTONE_COMPACT_PERCENT`] % of the slots and number at least
//! [`TOMBSTONE_COMPACT_MIN`], the graph is rebuilt from its live nodes in id order, keeping their
//! levels (deterministic). Removing the last live label resets the graph.
//!
//! Everything is deterministic: ties are broken by node id, no hash map is iterated, no
//! randomness but the seeded level stream.

mod check;
mod codec;
mod gate;
mod heap;
mod pages;
mod scratch;
mod search;
#[cfg(test)]
mod tests;
mod update;

pub use scratch::SearchScratch;

use super::sketch::{self, Sketcher};
use super::sq8::{self, Sq8};
use super::{IndexParams, Quantization};
use crate::error::Result;
use crate::limits::{
    HNSW_LEVEL_MAX, HNSW_M_MAX, HNSW_M_MIN, SKETCH_VECTOR_BYTES_MIN, TOMBSTONE_COMPACT_MIN,
    TOMBSTONE_COMPACT_PERCENT,
};
use crate::vector::{self, CodeDotFn, CosineSplit, DistanceFn};
use heap::{key, key_dist, key_id};
use std::collections::BTreeMap;

/// No node (an empty entry point, the root's parent).
pub(crate) const NONE: u32 = u32::MAX;
/// `info` flag: the node is a tombstone (deleted, free for reuse).
pub(crate) const TOMB: u8 = 0x80;
/// `info` mask of the node's level.
pub(crate) const LEVEL_MASK: u8 = 0x1f;
const _: () = assert!(HNSW_LEVEL_MAX <= LEVEL_MASK);

/// How much the pruning rule is relaxed when repairing the lists around a removed node: a
/// candidate `c` of node `b` is dropped only when an already kept neighbour `s` is closer to
/// `c` than `b` is by this factor (`α · dist(c, s) < dist(c, b)`, in plain distance; squared
/// for `l2`). 1.2 is FreshDiskANN's value; the churn tests in `tests.rs` show what it buys.
const REPAIR_ALPHA: f32 = 1.2;

/// Which rule [`Hnsw::select`] applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prune {
    /// A new node's own list: the plain heuristic, nothing protected.
    New,
    /// A list that overflowed: the plain heuristic, tree edges protected.
    Shrink,
    /// A list repaired after a removal: the relaxed heuristic, tree edges protected.
    Repair,
}
/// Level-0 slots reserved for links to spanning-tree children, beyond the `2m` of the
/// heuristic: a node has at most this many children. Tree edges kept inside the `2m` slots
/// displaced links the heuristic chose, which cost about 0.5 % recall at equal `ef` (ef 32 on
/// `gauss100k`: 0.9085 against 0.9141 without protection, 0.9136 protecting only the
/// `child → parent` direction, so the `parent → child` links were the cost).
pub(crate) const TREE_SLOTS: usize = 2;
/// SplitMix64's increment.
pub(crate) const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
/// Words of a record holding the vector's squared norm (split cosine only).
pub(crate) const NORM_WORDS: usize = 2;

/// A vector as the index measures it: its bytes and, for split cosine, its squared norm (the
/// split kernel's `norm`; 0 and unused otherwise).
#[derive(Clone, Copy)]
pub(crate) struct Query<'a> {
    pub(crate) v: &'a [u8],
    pub(crate) aa: f64,
    /// The query prepared for sketch bounds, when the walk skips by them.
    pub(crate) sk: Option<&'a sketch::SketchQuery>,
}

/// An index over the vectors of one collection.
#[derive(Clone)]
pub struct Hnsw {
    params: IndexParams,
    kernel: DistanceFn,
    /// The split cosine kernel (`f32`/`f16` cosine), measuring with stored norms.
    cos: Option<CosineSplit>,
    /// Bytes per vector.
    vbytes: usize,
    /// Link bound on the upper levels.
    m: usize,
    /// Bound on level-0 links other than those to the node's tree children (`2m`).
    m0: usize,
    /// Level-0 slots: `m0 + TREE_SLOTS`.
    slots0: usize,
    /// `1 + slots0`.
    stride0: usize,
    /// `1 + m`.
    stride_up: usize,
    /// Where a record's sketch starts: `stride0`, plus [`NORM_WORDS`] with split cosine.
    soff: usize,
    /// Words of the sketch: 0, or [`sketch::words`] of the dimension.
    swords: usize,
    /// Where a record's code region starts (sq8): `soff + swords`.
    coff: usize,
    /// Words of the code region: 0, or for sq8 one statistic word and the code's words.
    cwords: usize,
    /// Where a record's vector starts: `coff + cwords`.
    voff: usize,
    /// `u32` words of a stored vector (`vbytes` rounded up).
    vwords: usize,
    /// `u32` words of a node record (`voff + vwords`).
    rec: usize,
    /// `level_thresholds[l]`: a draw below it reaches level `l` (index 0 unused).
    level_thresholds: [u64; HNSW_LEVEL_MAX as usize + 1],

    nodes: Vec<u32>,
    labels: Vec<u64>,
    info: Vec<u8>,
    parent: Vec<u32>,
    upper_off: Vec<u32>,
    upper: Vec<u32>,

    by_label: BTreeMap<u64, u32>,
    /// Tombstoned slots, reused last-in first-out.
    free: Vec<u32>,
    entry: u32,
    max_level: u8,
    /// Level draws made so far (the whole state of the level generator).
    draws: u64,
    /// Buffers for insert/remove, kept to avoid reallocating.
    scratch: SearchScratch,
    /// The sq8 training state (`quant == Sq8` only; boxed, the index's own size matters).
    sq: Option<Box<Sq8>>,
    /// The code kernel (sq8).
    code_dot: CodeDotFn,
    /// The sketches' rotation (see [`super::sketch`]; boxed like `sq`).
    sk: Option<Box<Sketcher>>,
    /// The rotation's buffer while sketching a stored vector.
    sk_buf: Vec<f32>,
    /// Candidates a quantized search re-scores exactly (the collection's `rerank`).
    rerank: usize,
}

impl std::fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("params", &self.params)
            .field("nodes", &self.labels.len())
            .field("live", &self.by_label.len())
            .field("deleted", &self.free.len())
            .field("entry", &self.entry)
            .field("max_level", &self.max_level)
            .field("draws", &self.draws)
            .finish_non_exhaustive()
    }
}

/// SplitMix64's output function.
#[inline]
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether `params` describe an index this module can build.
pub(crate) fn params_ok(p: &IndexParams) -> bool {
    vector::supported(p.elem, p.metric)
        && p.dim >= 1
        && p.dim <= p.elem.dim_max()
        && p.vector_bytes() > 0
        && (p.elem != vector::ElemType::Bin || p.dim.is_multiple_of(8))
        && (HNSW_M_MIN..=HNSW_M_MAX).contains(&p.m)
        && p.ef_construction >= 1
        && (p.quant == Quantization::None || sq8::supported(p.elem, p.metric))
}

impl Hnsw {
    /// An empty index.
    pub fn new(params: IndexParams) -> Self {
        assert!(params_ok(&params), "invalid index parameters {params:?}");
        let m = params.m as usize;
        let mut level_thresholds = [0u64; HNSW_LEVEL_MAX as usize + 1];
        let mut pow: u128 = 1;
        for (l, t) in level_thresholds.iter_mut().enumerate() {
            if l == 0 {
                *t = u64::MAX;
                continue;
            }
            pow *= u128::from(params.m);
            *t = u64::try_from((1u128 << 64) / pow).unwrap_or(u64::MAX);
        }
        let vbytes = params.vector_bytes();
        let vwords = vbytes.div_ceil(4);
        let cos = match params.metric {
            vector::Metric::Cosine => vector::cosine_split(params.elem),
            _ => None,
        };
        let soff = 1 + 2 * m + TREE_SLOTS + if cos.is_some() { NORM_WORDS } else { 0 };
        let is_sq8 = params.quant == Quantization::Sq8;
        let sketched = !is_sq8
            && sketch::supported(params.elem, params.metric)
            && params.dim >= 2
            && vbytes >= SKETCH_VECTOR_BYTES_MIN;
        let swords = if sketched {
            sketch::words(params.dim as usize)
        } else {
            0
        };
        let coff = soff + swords;
        let cwords = if is_sq8 {
            1 + (params.dim as usize).div_ceil(4)
        } else {
            0
        };
        let voff = coff + cwords;
        Hnsw {
            params,
            kernel: vector::kernel(params.elem, params.metric),
            cos,
            vbytes,
            vwords,
            soff,
            swords,
            coff,
            cwords,
            voff,
            rec: voff + vwords,
            m,
            m0: 2 * m,
            slots0: 2 * m + TREE_SLOTS,
            stride0: 1 + 2 * m + TREE_SLOTS,
            stride_up: 1 + m,
            level_thresholds,
            nodes: Vec::new(),
            labels: Vec::new(),
            info: Vec::new(),
            parent: Vec::new(),
            upper_off: Vec::new(),
            upper: Vec::new(),
            by_label: BTreeMap::new(),
            free: Vec::new(),
            entry: NONE,
            max_level: 0,
            draws: 0,
            scratch: SearchScratch::new(),
            sq: is_sq8.then(|| Box::new(Sq8::new(params.elem, params.metric, params.dim as usize))),
            code_dot: vector::code_dot(),
            sk: sketched.then(|| {
                Box::new(Sketcher::new(
                    params.elem,
                    params.metric,
                    params.dim as usize,
                    params.seed,
                ))
            }),
            sk_buf: Vec::new(),
            rerank: crate::limits::RERANK_DEFAULT as usize,
        }
    }

    /// The parameters the index was built with.
    pub fn params(&self) -> &IndexParams {
        &self.params
    }
    /// Number of live (indexed) labels.
    pub fn len(&self) -> usize {
        self.by_label.len()
    }
    /// Whether no label is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_label.is_empty()
    }
    /// Tombstones not yet reclaimed (by slot reuse or compaction).
    pub fn deleted(&self) -> usize {
        self.free.len()
    }
    /// Graph nodes (live and tombstoned).
    pub fn node_count(&self) -> usize {
        self.labels.len()
    }
    /// Whether `label` is indexed.
    pub fn contains(&self, label: u64) -> bool {
        self.by_label.contains_key(&label)
    }
    /// The stored vector of `label`.
    pub fn vector(&self, label: u64) -> Option<&[u8]> {
        self.by_label.get(&label).map(|&id| self.vec_of(id))
    }
    /// The sq8 training state, when the index is quantized.
    pub fn sq8(&self) -> Option<&Sq8> {
        self.sq.as_deref()
    }

    /// Candidates a quantized search re-scores exactly.
    pub fn rerank(&self) -> usize {
        self.rerank
    }

    /// Sets how many candidates a quantized search re-scores exactly (at least 1).
    pub fn set_rerank(&mut self, rerank: usize) {
        self.rerank = rerank.max(1);
    }

    /// Live labels in ascending order.
    pub fn labels(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_label.keys().copied()
    }

    /// Makes room for `additional` more nodes without reallocating.
    pub fn reserve(&mut self, additional: usize) {
        let n = additional;
        let cap = self.nodes.capacity();
        self.nodes.reserve_exact(n * self.rec);
        if self.nodes.capacity() != cap {
            pages::advise_huge(&self.nodes);
        }
        self.labels.reserve_exact(n);
        self.info.reserve_exact(n);
        self.parent.reserve_exact(n);
        self.upper_off.reserve_exact(n);
    }

    /// Grows the per-node arrays by 1/16 when full (geometric, so appends stay amortized
    /// O(1); large blocks are remapped rather than copied), with at most 6.25 % of slack.
    fn grow_for_one(&mut self) {
        let n = self.labels.len();
        if n == self.labels.capacity() {
            self.reserve((n / 16).max(16));
        }
    }

    /// Bytes of heap memory the index holds: the capacities of its arrays and construction
    /// buffers, plus the label map estimated at 24 bytes per entry (B-tree leaves of 11
    /// `(u64, u32)` entries in 144 bytes, about half full when labels arrive in order).
    pub fn memory_bytes(&self) -> usize {
        const MAP_ENTRY_BYTES: usize = 24;
        self.nodes.capacity() * 4
            + self.labels.capacity() * 8
            + self.info.capacity()
            + self.parent.capacity() * 4
            + self.upper_off.capacity() * 4
            + self.upper.capacity() * 4
            + self.free.capacity() * 4
            + self.by_label.len() * MAP_ENTRY_BYTES
            + self.scratch.heap_bytes()
            + self.sq.as_ref().map_or(0, |q| 12 * q.dim())
    }

    // ----- node accessors -------------------------------------------------------------------

    #[inline(always)]
    fn level_of(&self, id: u32) -> usize {
        usize::from(self.info[id as usize] & LEVEL_MASK)
    }

    #[inline(always)]
    fn is_tomb(&self, id: u32) -> bool {
        self.info[id as usize] & TOMB != 0
    }

    #[inline(always)]
    fn vec_of(&self, id: u32) -> &[u8] {
        let s = id as usize * self.rec + self.voff;
        &bytemuck::cast_slice::<u32, u8>(&self.nodes[s..s + self.vwords])[..self.vbytes]
    }

    /// Words of a record in the checkpoint (without the norm words).
    pub(crate) fn serialized_rec(&self) -> usize {
        self.stride0 + self.vwords
    }

    /// Node `id`'s stored squared norm (split cosine; 0 otherwise).
    #[inline(always)]
    fn norm_of(&self, id: u32) -> f64 {
        if self.cos.is_none() {
            return 0.0;
        }
        let s = id as usize * self.rec + self.stride0;
        f64::from_bits(u64::from(self.nodes[s]) | (u64::from(self.nodes[s + 1]) << 32))
    }

    /// What the norm words of a record holding `vector` must be.
    fn norm_words(&self, vector: &[u8]) -> Option<[u32; NORM_WORDS]> {
        self.cos.map(|c| {
            let b = (c.norm)(vector).to_bits();
            [b as u32, (b >> 32) as u32]
        })
    }

    /// Overwrites node `id`'s vector (and its norm and code).
    fn set_vector(&mut self, id: u32, vector: &[u8]) {
        let s = id as usize * self.rec + self.voff;
        let words = &mut self.nodes[s..s + self.vwords];
        bytemuck::cast_slice_mut::<u32, u8>(words)[..self.vbytes].copy_from_slice(vector);
        if let Some(w) = self.norm_words(vector) {
            let s = id as usize * self.rec + self.stride0;
            self.nodes[s..s + NORM_WORDS].copy_from_slice(&w);
        }
        if let Some(sq) = &self.sq {
            let s = id as usize * self.rec + self.coff;
            let region = &mut self.nodes[s..s + self.cwords];
            encode_region(sq, vector, region);
        }
        if let Some(sk) = &self.sk {
            let s = id as usize * self.rec + self.soff;
            sk.encode(vector, &mut self.nodes[s..s + self.swords], &mut self.sk_buf);
        }
    }

    /// Sketches every node's vector (see [`super::sketch`]; nothing for an index without
    /// sketches).
    fn sketch_all(&mut self) {
        let Some(sk) = &self.sk else { return };
        let (soff, swords, voff, vbytes) = (self.soff, self.swords, self.voff, self.vbytes);
        let buf = &mut self.sk_buf;
        for r in self.nodes.chunks_exact_mut(self.rec) {
            let (head, v) = r.split_at_mut(voff);
            sk.encode(
                &bytemuck::cast_slice::<u32, u8>(v)[..vbytes],
                &mut head[soff..soff + swords],
                buf,
            );
        }
    }

    /// Re-encodes every node's code with the current training (sq8; nothing otherwise).
    fn encode_all_codes(&mut self) {
        let Some(sq) = &self.sq else { return };
        let (coff, voff, vbytes) = (self.coff, self.voff, self.vbytes);
        for r in self.nodes.chunks_exact_mut(self.rec) {
            let (head, v) = r.split_at_mut(voff);
            encode_region(
                sq,
                &bytemuck::cast_slice::<u32, u8>(v)[..vbytes],
                &mut head[coff..],
            );
        }
    }

    /// Trains the sq8 ranges on the live vectors (in node order) and re-encodes every node
    /// (see [`super::sq8`] for when this runs); nothing for an index that is not quantized.
    pub fn retrain(&mut self) {
        let Some(mut sq) = self.sq.take() else { return };
        let live = self.by_label.len() as u64;
        {
            let this = &*self;
            sq.train(
                live,
                (0..this.labels.len() as u32)
                    .filter(|&id| !this.is_tomb(id))
                    .map(|id| this.vec_of(id)),
            );
        }
        self.sq = Some(sq);
        self.encode_all_codes();
    }

    /// Retrains when the live count calls for it (see [`super::sq8`]).
    fn train_if_due(&mut self) {
        if self
            .sq
            .as_ref()
            .is_some_and(|q| q.due(self.by_label.len() as u64))
        {
            self.retrain();
        }
    }

    /// `q` as the index measures it.
    #[inline]
    pub(crate) fn query<'a>(&self, q: &'a [u8]) -> Query<'a> {
        Query {
            v: q,
            aa: self.cos.map_or(0.0, |c| (c.norm)(q)),
            sk: None,
        }
    }

    /// Node `id`'s vector as a query.
    #[inline(always)]
    fn node_query(&self, id: u32) -> Query<'_> {
        Query {
            v: self.vec_of(id),
            aa: self.norm_of(id),
            sk: None,
        }
    }

    /// Distance from `q` to node `id`'s vector `v` (exactly the metric's kernel).
    #[inline(always)]
    fn measure(&self, q: Query<'_>, v: &[u8], id: u32) -> f32 {
        match &self.cos {
            Some(c) => c.distance(q.v, v, q.aa, self.norm_of(id)),
            None => (self.kernel)(q.v, v),
        }
    }

    /// Distance from `q` to node `id`.
    #[inline(always)]
    pub(crate) fn dist(&self, q: Query<'_>, id: u32) -> f32 {
        self.measure(q, self.vec_of(id), id)
    }

    /// Start (in `u32`s) of node `id`'s list at `level` in `links0` or `upper`.
    #[inline(always)]
    fn list_start(&self, id: u32, level: usize) -> usize {
        if level == 0 {
            id as usize * self.rec
        } else {
            self.upper_off[id as usize] as usize + (level - 1) * self.stride_up
        }
    }

    /// Node `id`'s links at `level` (which must be at most its level).
    #[inline(always)]
    fn links(&self, id: u32, level: usize) -> &[u32] {
        let s = self.list_start(id, level);
        let block = if level == 0 { &self.nodes } else { &self.upper };
        let n = block[s] as usize;
        &block[s + 1..s + 1 + n]
    }

    /// Overwrites node `id`'s list at `level`, zeroing unused slots.
    fn set_links(&mut self, id: u32, level: usize, list: &[u32]) {
        let cap = self.cap(level);
        assert!(list.len() <= cap);
        let s = self.list_start(id, level);
        let block = if level == 0 {
            &mut self.nodes
        } else {
            &mut self.upper
        };
        block[s] = list.len() as u32;
        block[s + 1..s + 1 + list.len()].copy_from_slice(list);
        block[s + 1 + list.len()..s + 1 + cap].fill(0);
    }

    /// Slots of a list at `level` (on level 0 including the [`TREE_SLOTS`]).
    #[inline(always)]
    fn cap(&self, level: usize) -> usize {
        if level == 0 { self.slots0 } else { self.m }
    }

    /// Bound on a list's links at `level` other than those to the node's tree children.
    #[inline(always)]
    fn budget(&self, level: usize) -> usize {
        if level == 0 { self.m0 } else { self.m }
    }

    /// Whether `a`–`b` is a spanning-tree edge (a protected level-0 link).
    #[inline]
    fn is_tree_edge(&self, a: u32, b: u32) -> bool {
        self.parent[a as usize] == b || self.parent[b as usize] == a
    }

    /// Links in `id`'s level-0 list to its tree children (all of its children, by invariant).
    fn child_count(&self, id: u32) -> usize {
        self.links(id, 0)
            .iter()
            .filter(|&&t| self.parent[t as usize] == id)
            .count()
    }

    // ----- levels ---------------------------------------------------------------------------

    /// Draws the next level from the seeded stream.
    fn draw_level(&mut self) -> u8 {
        self.draws = self.draws.wrapping_add(1);
        let r = splitmix64(self.params.seed.wrapping_add(self.draws.wrapping_mul(GAMMA)));
        let mut level = 0u8;
        while level < HNSW_LEVEL_MAX && r < self.level_thresholds[usize::from(level) + 1] {
            level += 1;
        }
        level
    }

    /// Checks every structural invariant (see [`check`]); `Err` describes the first violation.
    pub fn check(&self) -> Result<(), String> {
        self.check_structure(true).map_err(|v| v.to_string())
    }

    /// Bytes [`Hnsw::encode`] appends, without encoding.
    pub fn encoded_len(&self) -> usize {
        codec::encoded_len(self)
    }

    /// Appends the index's serialized form to `out` (see [`codec`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        codec::encode(self, out);
    }

    /// Rebuilds an index from [`Hnsw::encode`] output, validating everything first.
    pub fn decode(params: IndexParams, bytes: &[u8]) -> Result<Hnsw> {
        if !params_ok(&params) {
            return Err(crate::error::Error::Invalid("invalid index parameters"));
        }
        let mut h = Hnsw::new(params);
        codec::decode_into(&mut h, bytes)?;
        Ok(h)
    }

    /// [`Hnsw::decode`] into `self`, a new empty index ([`Hnsw::new`]) with the parameters of
    /// the encoded one; on error `self` is to be dropped.
    pub fn decode_into(&mut self, bytes: &[u8]) -> Result<()> {
        codec::decode_into(self, bytes)
    }
}

/// Writes `vector`'s statistic and code into a record's code `region` (`1 + ceil(dim / 4)`
/// words; the code's padding bytes stay zero).
fn encode_region(sq: &Sq8, vector: &[u8], region: &mut [u32]) {
    let (stat, code) = region.split_first_mut().expect("sq8 code region");
    let dim = sq.dim();
    let bytes = bytemuck::cast_slice_mut::<u32, u8>(code);
    *stat = sq.encode(vector, &mut bytes[..dim]).to_bits();
    bytes[dim..].fill(0);
}
