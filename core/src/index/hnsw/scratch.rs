//! [`SearchScratch`]: the caller-owned state that makes a warmed-up search allocation-free (the
//! beam's visited tags and heaps, the filter memo, the exact-search buffers, the build buffers
//! and the prepared sq8 query).
//!
//! Invariants: after [`SearchScratch::prepare`] for an index and a breadth `ef`, every buffer a
//! search of that index at that breadth (or less) uses has the capacity it needs, so the search
//! does not allocate; `visited` and `memo` cover every node slot; [`SearchScratch::begin`] starts
//! a new epoch, and a slot counts as visited (or evaluated) only when its tag is the epoch's, so
//! nothing is cleared per search except when the tag wraps at `TAG_MAX`.

use super::Hnsw;
use super::heap::Heap;
use crate::index::Neighbor;
use crate::index::sketch::SketchQuery;
use crate::index::sq8::Sq8Query;

/// Largest epoch tag (the filter memo stores `tag << 1 | passed` in a `u16`).
const TAG_MAX: u16 = 0x7fff;

/// Per-search state of the beam: visited tags, candidate and result heaps.
#[derive(Default, Clone)]
pub(crate) struct Beam {
    /// Current epoch; `visited[i] == tag` means visited in this search.
    pub(crate) tag: u16,
    pub(crate) visited: Vec<u16>,
    /// Candidates to expand (min-heap of keys).
    pub(crate) cand: Heap<u64, false>,
    /// Most entries `cand` may hold.
    pub(crate) cand_limit: usize,
    /// The best eligible nodes so far (max-heap of keys, at most `ef`).
    pub(crate) res: Heap<u64, true>,
    /// Unvisited neighbours of the node being expanded.
    pub(crate) buf: Vec<u32>,
}

/// Buffers used only while inserting and removing.
#[derive(Default, Clone)]
pub(crate) struct BuildBufs {
    pub(crate) cands: Vec<u64>,
    pub(crate) sel: Vec<u32>,
    pub(crate) list: Vec<u32>,
    pub(crate) shrink: Vec<u64>,
    pub(crate) shrink_sel: Vec<u32>,
}

/// Reusable per-caller search state, so that a warmed-up search allocates nothing: an
/// epoch-tagged visited array and filter memo (grown to the index's node capacity on first use,
/// reset by bumping the epoch), bounded candidate and result heaps, and buffers for exact search
/// and for ordering results.
#[derive(Default, Clone)]
pub struct SearchScratch {
    pub(crate) beam: Beam,
    /// Filter memo: `memo[i] == tag << 1 | passed` when node `i` was evaluated this search.
    pub(crate) memo: Vec<u16>,
    /// Exact top-k by (distance, label) (max-heap of `mono(d) << 64 | label`).
    pub(crate) top: Heap<u128, true>,
    /// Results being ordered before they are copied out.
    pub(crate) pairs: Vec<Neighbor>,
    /// Distances by node for `search_exact` (`NAN` = not a candidate).
    pub(crate) exact: Vec<f32>,
    pub(crate) build: BuildBufs,
    /// The query prepared for scoring sq8 codes (boxed, like `sk`).
    pub(crate) sq: Box<Sq8Query>,
    /// The query prepared for sketch bounds (boxed: the scratch itself stays small).
    pub(crate) sk: Box<SketchQuery>,
}

impl std::fmt::Debug for SearchScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchScratch")
            .field("tag", &self.beam.tag)
            .field("nodes", &self.beam.visited.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

/// `v.capacity() >= cap` afterwards.
pub(super) fn ensure_cap<T>(v: &mut Vec<T>, cap: usize) {
    if v.capacity() < cap {
        v.reserve_exact(cap - v.len());
    }
}

impl SearchScratch {
    /// Empty scratch; buffers grow on first use and are then reused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let b = &self.beam;
        b.visited.capacity() * 2
            + b.cand.heap_bytes()
            + b.res.heap_bytes()
            + b.buf.capacity() * 4
            + self.memo.capacity() * 2
            + self.top.heap_bytes()
            + self.pairs.capacity() * std::mem::size_of::<Neighbor>()
            + self.exact.capacity() * 4
            + (self.build.cands.capacity() + self.build.shrink.capacity()) * 8
            + (self.build.sel.capacity() + self.build.list.capacity()) * 4
            + self.build.shrink_sel.capacity() * 4
            + self.sq.heap_bytes()
            + self.sk.heap_bytes()
    }

    /// Sizes every buffer for searches of `h` with breadth up to `ef` (allocates only when
    /// `h` has grown or `ef` is larger than before). `memo`: also size the filter memo (every
    /// caller-facing search does, so that a later filtered search does not allocate; the
    /// index's own construction scratch does not need it).
    pub(crate) fn prepare(&mut self, h: &Hnsw, ef: usize, memo: bool) {
        let nodes = h.labels.capacity().max(h.labels.len());
        if self.beam.visited.len() < nodes {
            self.beam.visited.resize(nodes, 0);
        }
        if memo && self.memo.len() < nodes {
            self.memo.resize(nodes, 0);
        }
        let limit = 2 * ef + h.slots0 + 16;
        self.beam.cand_limit = limit;
        self.beam.cand.reserve_total(limit);
        self.beam.res.reserve_total(ef + 1);
        ensure_cap(&mut self.beam.buf, h.slots0);
        self.top.reserve_total(ef + 1);
        ensure_cap(&mut self.pairs, ef + 1);
        let b = &mut self.build;
        ensure_cap(&mut b.cands, ef + 1);
        ensure_cap(&mut b.sel, h.slots0 + 1);
        ensure_cap(&mut b.list, h.slots0 + 1);
        ensure_cap(&mut b.shrink, 2 * h.slots0 + 2);
        ensure_cap(&mut b.shrink_sel, h.slots0 + 1);
    }

    /// Starts a new search epoch.
    pub(crate) fn begin(&mut self) {
        let b = &mut self.beam;
        if b.tag >= TAG_MAX {
            b.visited.fill(0);
            self.memo.fill(0);
            b.tag = 0;
        }
        b.tag += 1;
        b.cand.clear();
        b.res.clear();
    }
}
