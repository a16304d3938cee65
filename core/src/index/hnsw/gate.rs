//! What the beam walk is generic over: its [`Scorer`] (exact distances to stored vectors, or sq8
//! codes against a prepared query) and its [`Gate`] (which visited nodes may enter the result
//! set: any, live, live but not the node being linked, or live and passing a filter).
//!
//! Invariants: every scorer and gate method is `#[inline]` (they run once per visited node, and
//! the walk is monomorphised per pair); a gate never changes what the walk navigates through,
//! only what it returns; [`FilterGate`] evaluates the filter at most once per node and search
//! (memoized under the search's epoch tag) and counts every evaluation, so its abort rule (see
//! the `search` module) sees the true match rate.

use super::{Hnsw, Query, TOMB};
use crate::index::sketch::SketchQuery;
use crate::index::sq8::Sq8Query;
use crate::limits::{FILTER_RATE_MIN_INV, FILTER_SAMPLE_MIN};

/// How the walk scores a node against the query.
pub(crate) trait Scorer {
    /// The distance (exact or approximate) from the query to node `id`.
    ///
    /// # Safety
    /// `id` must be below the node count.
    unsafe fn score(&self, h: &Hnsw, id: u32) -> f32;
    /// Hints the CPU to fetch what [`Scorer::score`] reads of node `id` (up to `bytes` of it).
    fn prefetch(&self, h: &Hnsw, id: u32, bytes: usize);
    /// The query prepared for sketch bounds, when the walk may skip neighbours by them.
    #[inline(always)]
    fn sketch(&self) -> Option<&SketchQuery> {
        None
    }
}

impl Scorer for Query<'_> {
    #[inline(always)]
    unsafe fn score(&self, h: &Hnsw, id: u32) -> f32 {
        // SAFETY: the caller guarantees `id` is below the node count.
        h.measure(*self, unsafe { h.vec_unchecked(id) }, id)
    }
    #[inline(always)]
    fn prefetch(&self, h: &Hnsw, id: u32, bytes: usize) {
        h.prefetch_vector(id, bytes);
    }
    #[inline(always)]
    fn sketch(&self) -> Option<&SketchQuery> {
        self.sk
    }
}

/// Scores sq8 codes against a prepared query.
pub(super) struct Codes<'a>(pub(super) &'a Sq8Query);

impl Scorer for Codes<'_> {
    #[inline(always)]
    unsafe fn score(&self, h: &Hnsw, id: u32) -> f32 {
        // SAFETY: the caller guarantees `id` is below the node count.
        let (code, stat) = unsafe { h.code_unchecked(id) };
        self.0.distance((h.code_dot)(code, &self.0.w), stat)
    }
    #[inline(always)]
    fn prefetch(&self, h: &Hnsw, id: u32, bytes: usize) {
        h.prefetch_code(id, bytes);
    }
}

/// Decides which visited nodes may enter the result set.
pub(crate) trait Gate {
    /// Whether node `id` is eligible.
    fn admit(&mut self, h: &Hnsw, id: u32) -> bool;
    /// Whether the walk should be abandoned (for the exact fallback).
    #[inline(always)]
    fn abort(&self) -> bool {
        false
    }
}

/// Every node (no tombstones, no filter).
pub(super) struct AnyNode;
impl Gate for AnyNode {
    #[inline(always)]
    fn admit(&mut self, _: &Hnsw, _: u32) -> bool {
        true
    }
}

/// Live nodes.
pub(super) struct LiveNode;
impl Gate for LiveNode {
    #[inline(always)]
    fn admit(&mut self, h: &Hnsw, id: u32) -> bool {
        h.info[id as usize] & TOMB == 0
    }
}

/// Live nodes other than the one being linked.
pub(super) struct BuildGate(pub(super) u32);
impl Gate for BuildGate {
    #[inline(always)]
    fn admit(&mut self, h: &Hnsw, id: u32) -> bool {
        id != self.0 && h.info[id as usize] & TOMB == 0
    }
}

/// Live nodes passing a filter, memoized; tracks the match rate.
pub(super) struct FilterGate<'a> {
    f: &'a mut dyn FnMut(u64) -> bool,
    memo: &'a mut [u16],
    tag: u16,
    evaluated: u32,
    passed: u32,
    /// Evaluations past which the walk is no cheaper than a scan (half the live nodes).
    budget: u64,
    ef: u64,
    /// Whether the walk may be abandoned (false only in measurements of the walk itself).
    may_abort: bool,
}

impl<'a> FilterGate<'a> {
    /// The gate of a filtered search of `h` at breadth `ef`: it may abandon the walk once it
    /// has evaluated the filter on half the live nodes.
    #[inline]
    pub(super) fn of_search(
        h: &Hnsw,
        f: &'a mut dyn FnMut(u64) -> bool,
        memo: &'a mut [u16],
        tag: u16,
        ef: usize,
    ) -> Self {
        FilterGate {
            f,
            memo,
            tag,
            evaluated: 0,
            passed: 0,
            budget: (h.by_label.len() / 2) as u64,
            ef: ef as u64,
            may_abort: true,
        }
    }

    #[inline]
    fn eval(&mut self, h: &Hnsw, id: u32) -> bool {
        let m = self.memo[id as usize];
        if m >> 1 == self.tag {
            return m & 1 == 1;
        }
        let pass = (self.f)(h.labels[id as usize]);
        self.memo[id as usize] = (self.tag << 1) | u16::from(pass);
        self.evaluated += 1;
        self.passed += u32::from(pass);
        pass
    }
}

impl Gate for FilterGate<'_> {
    #[inline]
    fn admit(&mut self, h: &Hnsw, id: u32) -> bool {
        h.info[id as usize] & TOMB == 0 && self.eval(h, id)
    }
    #[inline]
    fn abort(&self) -> bool {
        if !self.may_abort || self.evaluated < FILTER_SAMPLE_MIN {
            return false;
        }
        let (e, p) = (u64::from(self.evaluated), u64::from(self.passed));
        p * u64::from(FILTER_RATE_MIN_INV) < e || self.ef * e > p.max(1) * self.budget
    }
}

#[cfg(test)]
impl<'a> FilterGate<'a> {
    /// A filter gate that never abandons the walk (measurements of the walk itself).
    pub(super) fn no_abort(f: &'a mut dyn FnMut(u64) -> bool, memo: &'a mut [u16], tag: u16) -> Self {
        FilterGate {
            f,
            memo,
            tag,
            evaluated: 0,
            passed: 0,
            budget: 0,
            ef: 0,
            may_abort: false,
        }
    }
}
