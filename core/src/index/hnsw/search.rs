//! Searching the graph: greedy descent, the ef-bounded beam at one level, filtered search with
//! its exact fallback, and exact (brute-force) search; plus [`SearchScratch`], the caller-owned
//! state that makes a warmed-up search allocation-free.
//!
//! # Beam search
//! hnswlib's `searchBaseLayerST`: a min-heap of candidates to expand and a max-heap `W` of the
//! best `ef` *eligible* nodes. Every node is used for navigation; only eligible nodes (live, not
//! the node being linked, passing the filter) enter `W`. A neighbour is admitted when `W` is not
//! full or it is closer than `W`'s worst. Candidates are bounded: when the heap reaches its
//! limit (`2·ef + 2m + TREE_SLOTS + 16`), entries no closer than `W`'s worst (which can never be expanded)
//! are dropped, then if needed the farthest half, so the heap never outgrows the capacity
//! reserved for it. Keys are `(distance, node id)` packed in a `u64`, so ties are deterministic.
//!
//! # Sketch bounds
//! With sketches (see [`super::sketch`]) and `W` full, a node's unvisited neighbours are gathered
//! with their sketches prefetched instead of their vectors, and those whose lower bound exceeds
//! `W`'s worst distance (plus [`SKETCH_MARGIN`]) are dropped before any vector is read: they are
//! marked visited, as a measured neighbour that failed the same test is. The rest are measured
//! exactly as without sketches.
//!
//! # Filtered search and its fallback
//! The filter is evaluated during the walk, lazily (only for nodes that would enter `W`) and
//! memoized per search in an epoch-tagged array. The walk is abandoned for an exact filtered
//! scan (which reuses the memo) when the observed match rate makes it unreliable or no cheaper
//! than a scan: after at least [`FILTER_SAMPLE_MIN`] evaluations, when fewer than 1 in
//! [`FILTER_RATE_MIN_INV`] passed, or when collecting `ef` matches at the observed rate would
//! evaluate more than half the live nodes. It also falls back when the walk found fewer than
//! `k` results. So a filtered search returns `k` results whenever at least `k` live labels pass.
//!
//! # Quantized search (sq8)
//! The walk is generic over its [`Scorer`]: the exact one measures stored vectors, the code one
//! scores a node's sq8 code against the query prepared once per search ([`Sq8Query`], in the
//! scratch). A trained sq8 index walks with codes at breadth `max(ef, rerank)`, then
//! [`Hnsw::rerank_exact`] re-scores the best `max(rerank, k)` walk results with exact distances
//! and returns the best `k` of those, so every returned distance is exact. The exact fallbacks
//! (filters, a short walk) are exact scans as without quantization.

use super::gate::{AnyNode, BuildGate, Codes, FilterGate, Gate, LiveNode, Scorer};
use super::heap::{Heap, key, key_dist, key_id, mono, unmono};
use super::scratch::{Beam, SearchScratch};
use super::{Hnsw, NONE, Query, TOMB};
use crate::index::Neighbor;
use crate::limits::PREFETCH_LINES_MAX;

/// Bytes of each unvisited neighbour's vector prefetched while gathering a node's neighbours
/// (one line: prefetching whole vectors there saturates the fill buffers, measured slower).
const PREFETCH_GATHER: usize = 64;
/// Bytes of the next neighbour's vector prefetched while computing the current distance.
const PREFETCH_NEXT: usize = usize::MAX;
/// How many neighbours ahead of the distance being computed their whole vectors are fetched.
/// 2 since whole vectors are fetched ([`PREFETCH_LINES_MAX`]): on `real-minilm-100k` (384-d, a
/// graph far larger than the cache) 7-30 % more queries/s than 1, equal on `real-mpnet-20k` and
/// `gauss100k`; 4 was no better than 2 (`vexfs-bench ann --index`, builds alternated).
const PREFETCH_AHEAD: usize = 2;

/// Relative slack on `W`'s worst distance before a sketch bound above it skips a neighbour: the
/// exact kernels' own rounding (`simd::FLOAT_REL_TOLERANCE`) with a margin of ten.
const SKETCH_MARGIN: f64 = 1e-4;

impl Hnsw {
    /// Greedy descent from `ep` through levels `max_level` down to `to_level` (inclusive):
    /// at each level move to the closest neighbour until none is closer.
    pub(crate) fn greedy_descent<S: Scorer>(
        &self,
        q: &S,
        mut ep: u32,
        mut epd: f32,
        to_level: usize,
    ) -> (u32, f32) {
        let mut cur = key(epd, ep);
        for l in (to_level..=usize::from(self.max_level)).rev() {
            loop {
                let mut changed = false;
                for &n in self.links(ep, l) {
                    debug_assert!((n as usize) < self.labels.len());
                    // SAFETY: every link target is a node id (a structural invariant kept by
                    // every mutation and verified by `decode`).
                    let d = unsafe { q.score(self, n) };
                    let k = key(d, n);
                    if k < cur {
                        cur = k;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
                ep = key_id(cur);
                epd = key_dist(cur);
            }
        }
        (ep, epd)
    }

    /// Beam search for construction at `level`, excluding tombstones and `exclude`.
    #[allow(clippy::too_many_arguments)] // the beam's state, flattened for the hot loop
    pub(crate) fn beam_build(
        &self,
        q: Query<'_>,
        ep: u32,
        epd: f32,
        level: usize,
        ef: usize,
        exclude: u32,
        st: &mut Beam,
    ) {
        if level == 0 {
            self.beam::<_, _, true>(&q, ep, epd, 0, ef, &mut BuildGate(exclude), st);
        } else {
            self.beam::<_, _, false>(&q, ep, epd, level, ef, &mut BuildGate(exclude), st);
        }
    }

    /// The beam search at `level` (`L0`: level is 0). Leaves the best `ef` eligible nodes in
    /// `st.res`. Returns false when the gate aborted the walk.
    #[inline]
    #[allow(clippy::too_many_arguments)] // the beam's state, flattened for the hot loop
    fn beam<G: Gate, S: Scorer, const L0: bool>(
        &self,
        q: &S,
        ep: u32,
        epd: f32,
        level: usize,
        ef: usize,
        gate: &mut G,
        st: &mut Beam,
    ) -> bool {
        let tag = st.tag;
        let k0 = key(epd, ep);
        st.visited[ep as usize] = tag;
        st.cand.push(k0);
        if gate.admit(self, ep) {
            st.res.push(k0);
        }
        let n_nodes = self.labels.len();
        debug_assert!(st.visited.len() >= n_nodes);
        debug_assert!(st.buf.capacity() >= self.slots0);
        while let Some(c) = st.cand.pop() {
            if st.res.len() >= ef && st.res.peek().is_some_and(|top| c > top) {
                break;
            }
            if gate.abort() {
                return false;
            }
            // The next candidate is likely expanded next: start fetching its list now.
            if let Some(next) = st.cand.peek() {
                self.prefetch_list(key_id(next), level);
            }
            let id = key_id(c);
            let links = if L0 {
                let s = id as usize * self.rec;
                let n = self.nodes[s] as usize;
                &self.nodes[s + 1..s + 1 + n]
            } else {
                self.links(id, level)
            };
            st.buf.clear();
            // With sketches and `W` full, the gather fetches each neighbour's sketch (what the
            // bound reads first) instead of its vector's first line.
            let bounded = q.sketch().is_some() && st.res.len() >= ef;
            for &n in links {
                debug_assert!((n as usize) < n_nodes);
                // SAFETY: every link target is a node id below `n_nodes` (a structural
                // invariant kept by every mutation and verified by `decode`), and `visited`
                // holds at least `n_nodes` entries (`prepare`).
                let v = unsafe { st.visited.get_unchecked_mut(n as usize) };
                if *v != tag {
                    *v = tag;
                    if bounded {
                        self.prefetch_sketch(n);
                    } else {
                        q.prefetch(self, n, PREFETCH_GATHER);
                    }
                    // Never reallocates: lists hold at most `slots0` links, the capacity `prepare`
                    // reserved.
                    st.buf.push(n);
                }
            }
            if bounded && let (Some(sk), Some(top)) = (q.sketch(), st.res.peek()) {
                // Keep only the neighbours whose sketch bound does not prove them farther than
                // `W`'s worst (which only improves while they are measured).
                let tau = f64::from(key_dist(top));
                let tau = tau + SKETCH_MARGIN * (1.0 + tau.abs());
                let mut kept = 0;
                for i in 0..st.buf.len() {
                    // SAFETY: `i < buf.len()`; `kept <= i`.
                    let n = unsafe { *st.buf.get_unchecked(i) };
                    // SAFETY: `n < n_nodes` (see above).
                    if super::super::sketch::lower_bound(sk, unsafe { self.sketch_unchecked(n) }) <= tau {
                        unsafe { *st.buf.get_unchecked_mut(kept) = n };
                        kept += 1;
                    }
                }
                st.buf.truncate(kept);
            }
            let cnt = st.buf.len();
            for &n in &st.buf[..cnt.min(PREFETCH_AHEAD)] {
                q.prefetch(self, n, PREFETCH_NEXT);
            }
            for i in 0..cnt {
                // SAFETY: `i < cnt == buf.len()`.
                let n = unsafe { *st.buf.get_unchecked(i) };
                if i + PREFETCH_AHEAD < cnt {
                    // SAFETY: `i + PREFETCH_AHEAD < cnt`.
                    let ahead = unsafe { *st.buf.get_unchecked(i + PREFETCH_AHEAD) };
                    q.prefetch(self, ahead, PREFETCH_NEXT);
                }
                debug_assert!((n as usize) < n_nodes);
                // SAFETY: `n < n_nodes` (see above).
                let d = unsafe { q.score(self, n) };
                let k = key(d, n);
                let full = st.res.len() >= ef;
                if full && st.res.peek().is_some_and(|top| k >= top) {
                    continue;
                }
                if st.cand.len() >= st.cand_limit {
                    let bound = if full { st.res.peek() } else { None };
                    trim_candidates(&mut st.cand, bound, st.cand_limit);
                }
                st.cand.push(k);
                if gate.admit(self, n) {
                    if full {
                        st.res.replace_top(k);
                    } else {
                        st.res.push(k);
                    }
                }
            }
        }
        true
    }

    /// Node `id`'s vector without bounds checks.
    ///
    /// # Safety
    /// `id` must be below the node count.
    #[inline(always)]
    pub(super) unsafe fn vec_unchecked(&self, id: u32) -> &[u8] {
        let s = id as usize * self.rec + self.voff;
        debug_assert!(s + self.vwords <= self.nodes.len());
        // SAFETY: `id < n` and `nodes` holds `n` records of `rec = voff + vwords` words.
        let words = unsafe { self.nodes.get_unchecked(s..s + self.vwords) };
        // SAFETY: `vbytes <= 4 * vwords`.
        unsafe { bytemuck::cast_slice::<u32, u8>(words).get_unchecked(..self.vbytes) }
    }

    /// Node `id`'s sketch without bounds checks.
    ///
    /// # Safety
    /// `id` must be below the node count, and the index sketched.
    #[inline(always)]
    pub(super) unsafe fn sketch_unchecked(&self, id: u32) -> &[u32] {
        let s = id as usize * self.rec + self.soff;
        debug_assert!(self.swords > 0 && s + self.swords <= self.nodes.len());
        // SAFETY: `id < n` and `nodes` holds `n` records, whose sketch is
        // `[soff, soff + swords)`.
        unsafe { self.nodes.get_unchecked(s..s + self.swords) }
    }

    /// Hints the CPU to fetch node `n`'s sketch.
    #[inline(always)]
    fn prefetch_sketch(&self, n: u32) {
        let off = n as usize * self.rec;
        if off + self.rec <= self.nodes.len() {
            // SAFETY: the record `[off, off + rec)` is in bounds of `nodes`, and the sketch is
            // `[soff, soff + swords)` of it.
            let p = unsafe { self.nodes.as_ptr().add(off + self.soff) }.cast::<u8>();
            prefetch_lines(p, self.swords * 4);
        }
    }

    /// Node `id`'s sq8 code and statistic without bounds checks.
    ///
    /// # Safety
    /// `id` must be below the node count, and the index quantized.
    #[inline(always)]
    pub(super) unsafe fn code_unchecked(&self, id: u32) -> (&[u8], f32) {
        let s = id as usize * self.rec + self.coff;
        debug_assert!(self.cwords > 0 && s + self.cwords <= self.nodes.len());
        // SAFETY: `id < n` and `nodes` holds `n` records, whose code region is
        // `[coff, coff + cwords)`, `cwords = 1 + ceil(dim / 4)`.
        let region = unsafe { self.nodes.get_unchecked(s..s + self.cwords) };
        // SAFETY: the code's `dim` bytes fit in the region's last `cwords - 1` words.
        let code = unsafe {
            bytemuck::cast_slice::<u32, u8>(region.get_unchecked(1..))
                .get_unchecked(..self.params.dim as usize)
        };
        // SAFETY: `cwords >= 1`.
        (code, f32::from_bits(unsafe { *region.get_unchecked(0) }))
    }

    /// Hints the CPU to fetch up to `bytes` of node `n`'s code region (sq8).
    #[inline(always)]
    pub(super) fn prefetch_code(&self, n: u32, bytes: usize) {
        let off = n as usize * self.rec;
        if off + self.rec <= self.nodes.len() {
            // SAFETY: the record `[off, off + rec)` is in bounds of `nodes`, and the code
            // region is `[coff, coff + cwords)` of it.
            let p = unsafe { self.nodes.as_ptr().add(off + self.coff) }.cast::<u8>();
            prefetch_lines(p, (self.cwords * 4).min(bytes));
        }
    }

    /// Hints the CPU to fetch node `id`'s list at `level` (level 0 only; upper levels are
    /// few and small).
    #[inline(always)]
    fn prefetch_list(&self, id: u32, level: usize) {
        let off = id as usize * self.rec;
        if level == 0 && off + self.rec <= self.nodes.len() {
            // SAFETY: the record `[off, off + rec)` is in bounds of `nodes`.
            let p = unsafe { self.nodes.as_ptr().add(off) }.cast::<u8>();
            prefetch_lines(p, self.stride0 * 4);
        }
    }

    /// Hints the CPU to fetch up to `bytes` of node `n`'s vector.
    #[inline(always)]
    pub(super) fn prefetch_vector(&self, n: u32, bytes: usize) {
        let off = n as usize * self.rec;
        if off + self.rec <= self.nodes.len() {
            // SAFETY: the record `[off, off + rec)` is in bounds of `nodes`, and the vector
            // occupies its last `vwords` words.
            let p = unsafe { self.nodes.as_ptr().add(off + self.voff) }.cast::<u8>();
            prefetch_lines(p, self.vbytes.min(bytes));
        }
    }

    /// What both searches do first: clear `out`; `false` when there is nothing to search (`k`
    /// is 0 or no label is live); asserts that `query` has the index's vector length.
    #[inline(always)]
    fn begin_search(&self, query: &[u8], k: usize, out: &mut Vec<Neighbor>) -> bool {
        out.clear();
        if k == 0 || self.by_label.is_empty() {
            return false;
        }
        assert_eq!(query.len(), self.vbytes, "query length does not match the index");
        true
    }

    /// Approximate k-nearest-neighbour search (see the module documentation): greedy descent through the
    /// upper levels, then a beam of `max(ef, k)` at level 0. Writes at most `k` live labels to
    /// `out`, sorted by (distance, label). With `filter`, only labels it accepts are returned;
    /// the filter is evaluated during the walk (memoized per search), and the search falls
    /// back to an exact filtered scan when the walk is unreliable, so it returns `k` results
    /// whenever at least `k` live labels pass. `query` must be `vector_bytes` long, in the
    /// index's element type. After one warm-up call with the same `scratch`, calls with the
    /// same or smaller `k`/`ef` allocate nothing.
    pub fn search(
        &self,
        query: &[u8],
        k: usize,
        ef: usize,
        filter: Option<&mut dyn FnMut(u64) -> bool>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) {
        if !self.begin_search(query, k, out) {
            return;
        }
        let ef = ef.max(k);
        if let Some(sq) = self.sq.as_deref().filter(|q| q.is_trained()) {
            let ef = ef.max(self.rerank);
            scratch.prepare(self, ef, true);
            scratch.begin();
            sq.prepare(query, &mut scratch.sq);
            let query = self.query(query);
            self.search_codes(query, k, ef, filter, scratch, out);
            return;
        }
        scratch.prepare(self, ef, true);
        scratch.begin();
        let e = self.entry;
        debug_assert_ne!(e, NONE);
        let bytes = query;
        let query = self.query(query);
        let (ep, epd) = self.greedy_descent(&query, e, self.dist(query, e), 1);
        if let Some(sk) = &self.sk {
            sk.prepare(bytes, &mut scratch.sk);
        }
        let sketched = Query {
            sk: self.sk.is_some().then_some(&scratch.sk),
            ..query
        };
        match filter {
            None => {
                if self.free.is_empty() {
                    self.beam::<_, _, true>(&sketched, ep, epd, 0, ef, &mut AnyNode, &mut scratch.beam);
                } else {
                    self.beam::<_, _, true>(&sketched, ep, epd, 0, ef, &mut LiveNode, &mut scratch.beam);
                }
                if scratch.beam.res.len() < k.min(self.by_label.len()) {
                    self.exact_top_k(query, k, None, scratch, out);
                } else {
                    self.collect(k, scratch, out);
                }
            }
            Some(f) => {
                let SearchScratch { beam, memo, .. } = scratch;
                let mut gate = FilterGate::of_search(self, &mut *f, memo, beam.tag, ef);
                let finished = self.beam::<_, _, true>(&sketched, ep, epd, 0, ef, &mut gate, beam);
                if !finished || scratch.beam.res.len() < k {
                    self.exact_top_k(query, k, Some(f), scratch, out);
                } else {
                    self.collect(k, scratch, out);
                }
            }
        }
    }

    /// The search of a trained sq8 index (see the module docs): the walk scores codes at
    /// breadth `ef` (already `max(ef, k, rerank)`), then the exact rerank; the fallbacks are the
    /// exact scans of [`Hnsw::search`]. `scratch` is prepared, and its query prepared.
    fn search_codes(
        &self,
        query: Query<'_>,
        k: usize,
        ef: usize,
        filter: Option<&mut dyn FnMut(u64) -> bool>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) {
        let e = self.entry;
        debug_assert_ne!(e, NONE);
        let SearchScratch { beam, memo, sq, .. } = scratch;
        let codes = Codes(sq);
        // SAFETY: the entry point is a node.
        let epd = unsafe { codes.score(self, e) };
        let (ep, epd) = self.greedy_descent(&codes, e, epd, 1);
        match filter {
            None => {
                if self.free.is_empty() {
                    self.beam::<_, _, true>(&codes, ep, epd, 0, ef, &mut AnyNode, beam);
                } else {
                    self.beam::<_, _, true>(&codes, ep, epd, 0, ef, &mut LiveNode, beam);
                }
                if scratch.beam.res.len() < k.min(self.by_label.len()) {
                    self.exact_top_k(query, k, None, scratch, out);
                } else {
                    self.rerank_exact(query, k, scratch, out);
                }
            }
            Some(f) => {
                let mut gate = FilterGate::of_search(self, &mut *f, memo, beam.tag, ef);
                let finished = self.beam::<_, _, true>(&codes, ep, epd, 0, ef, &mut gate, beam);
                if !finished || scratch.beam.res.len() < k {
                    self.exact_top_k(query, k, Some(f), scratch, out);
                } else {
                    self.rerank_exact(query, k, scratch, out);
                }
            }
        }
    }

    /// Re-scores the best `max(rerank, k)` of the walk's results (by code distance) with exact
    /// distances and copies the best `k` of them to `out`, sorted by (distance, label).
    fn rerank_exact(&self, query: Query<'_>, k: usize, scratch: &mut SearchScratch, out: &mut Vec<Neighbor>) {
        // The construction buffer `cands` (sized `ef + 1` by `prepare`) orders the walk's results.
        let keys = &mut scratch.build.cands;
        keys.clear();
        keys.extend_from_slice(scratch.beam.res.as_slice());
        keys.sort_unstable();
        let r = self.rerank.max(k).min(keys.len());
        let pairs = &mut scratch.pairs;
        pairs.clear();
        for &kk in &keys[..r] {
            let id = key_id(kk);
            pairs.push(Neighbor {
                distance: self.dist(query, id),
                label: self.labels[id as usize],
            });
        }
        sort_neighbors(pairs);
        out.extend_from_slice(&pairs[..k.min(pairs.len())]);
    }

    /// Copies the best `k` of the beam's results to `out`, sorted by (distance, label).
    fn collect(&self, k: usize, scratch: &mut SearchScratch, out: &mut Vec<Neighbor>) {
        let pairs = &mut scratch.pairs;
        pairs.clear();
        for &r in scratch.beam.res.as_slice() {
            pairs.push(Neighbor {
                distance: key_dist(r),
                label: self.labels[key_id(r) as usize],
            });
        }
        sort_neighbors(pairs);
        out.extend_from_slice(&pairs[..k.min(pairs.len())]);
    }

    /// Exact filtered top-`k` over live nodes, using (and filling) the search's filter memo.
    fn exact_top_k(
        &self,
        query: Query<'_>,
        k: usize,
        mut filter: Option<&mut dyn FnMut(u64) -> bool>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) {
        let tag = scratch.beam.tag;
        let top = &mut scratch.top;
        top.clear();
        for id in 0..self.labels.len() {
            if self.info[id] & TOMB != 0 {
                continue;
            }
            let label = self.labels[id];
            if let Some(f) = filter.as_mut() {
                let m = scratch.memo[id];
                let pass = if m >> 1 == tag {
                    m & 1 == 1
                } else {
                    let p = f(label);
                    scratch.memo[id] = (tag << 1) | u16::from(p);
                    p
                };
                if !pass {
                    continue;
                }
            }
            let d = self.dist(query, id as u32);
            offer_top(top, k, d, label);
        }
        let pairs = &mut scratch.pairs;
        pairs.clear();
        for &t in top.as_slice() {
            pairs.push(Neighbor {
                distance: unmono((t >> 64) as u32),
                label: t as u64,
            });
        }
        sort_neighbors(pairs);
        out.extend_from_slice(pairs);
    }

    /// Exact search: every label closer than the k-th distance, and every label tied with it,
    /// sorted by (distance, label). `out` may hold more than `k` entries when there are ties.
    pub fn search_exact(
        &self,
        query: &[u8],
        k: usize,
        mut filter: Option<&mut dyn FnMut(u64) -> bool>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) {
        if !self.begin_search(query, k, out) {
            return;
        }
        let query = self.query(query);
        let n = self.labels.len();
        let dists = &mut scratch.exact;
        dists.clear();
        dists.resize(n, f32::NAN);
        // Pass 1: every candidate's distance, and the k-th smallest (distance, label).
        let top = &mut scratch.top;
        top.clear();
        ensure_cap_heap(top, k + 1);
        for (id, slot) in dists.iter_mut().enumerate() {
            if self.info[id] & TOMB != 0 {
                continue;
            }
            let label = self.labels[id];
            if filter.as_mut().is_some_and(|f| !f(label)) {
                continue;
            }
            let d = self.dist(query, id as u32);
            *slot = d;
            offer_top(top, k, d, label);
        }
        let Some(kth) = top.peek().map(|t| (t >> 64) as u32) else {
            return;
        };
        // Pass 2: everything no farther than the k-th distance (ties included).
        for (id, &d) in dists.iter().enumerate() {
            if !d.is_nan() && mono(d) <= kth {
                out.push(Neighbor {
                    distance: d,
                    label: self.labels[id],
                });
            }
        }
        sort_neighbors(out);
    }
}

/// Offers `(d, label)` to the exact top-`k` max-heap `top` (keys `mono(d) << 64 | label`): kept
/// while it holds fewer than `k`, else only in place of a worse worst.
#[inline(always)]
fn offer_top(top: &mut Heap<u128, true>, k: usize, d: f32, label: u64) {
    let kk = (u128::from(mono(d)) << 64) | u128::from(label);
    if top.len() < k {
        top.push(kk);
    } else if top.peek().is_some_and(|t| kk < t) {
        top.replace_top(kk);
    }
}

fn ensure_cap_heap(h: &mut Heap<u128, true>, cap: usize) {
    h.reserve_total(cap);
}

/// Hints the CPU to fetch the cache lines of `[p, p + bytes)`, at most [`PREFETCH_LINES_MAX`]
/// of them. `p` must point into a live allocation with `bytes` bytes after it.
#[inline(always)]
fn prefetch_lines(p: *const u8, bytes: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // Every line `[p, p + bytes)` touches: `p` need not be line-aligned.
        let bytes = bytes.min(PREFETCH_LINES_MAX * 64);
        let mut off = 0;
        while off < bytes + (p as usize & 63) {
            // SAFETY: a prefetch never faults, whatever the address (the offset stays within
            // one line of the range), and SSE is part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off).cast()) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, bytes);
}

/// Sorts by (distance, label) with `f32::total_cmp`.
fn sort_neighbors(v: &mut [Neighbor]) {
    v.sort_unstable_by(|a, b| a.distance.total_cmp(&b.distance).then(a.label.cmp(&b.label)));
}

/// Shrinks a full candidate heap: drops entries no closer than `bound` (they can never be
/// expanded), then if still over half the limit keeps the closest half.
#[cold]
fn trim_candidates(cand: &mut Heap<u64, false>, bound: Option<u64>, limit: usize) {
    if let Some(b) = bound {
        cand.retain(|&k| k < b);
    }
    if cand.len() > limit / 2 {
        cand.keep_first(limit / 2);
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A filter gate that never abandons the walk.
    pub(crate) fn gate<'a>(
        f: &'a mut dyn FnMut(u64) -> bool,
        memo: &'a mut [u16],
        tag: u16,
    ) -> impl Gate + 'a {
        FilterGate::no_abort(f, memo, tag)
    }

    impl Hnsw {
        /// The level-0 filtered walk alone.
        pub(crate) fn beam_filtered_no_abort(
            &self,
            q: Query<'_>,
            ep: u32,
            epd: f32,
            ef: usize,
            gate: &mut impl Gate,
            st: &mut Beam,
        ) {
            self.beam::<_, _, true>(&q, ep, epd, 0, ef, gate, st);
        }
    }
}
