//! HNSW graph (interim: exact scan behind the final interface; the graph replaces it).

use super::{IndexParams, Neighbor};
use crate::error::{Error, Result};
use crate::vector::{self, DistanceFn};
use std::collections::BTreeMap;

/// Reusable per-caller search state, so that a warmed-up search allocates nothing.
#[derive(Debug, Default)]
pub struct SearchScratch {
    dists: Vec<Neighbor>,
}

impl SearchScratch {
    /// Empty scratch; buffers grow on first use and are then reused.
    pub fn new() -> Self {
        Self::default()
    }
}

/// An index over the vectors of one collection.
#[derive(Debug, Clone)]
pub struct Hnsw {
    params: IndexParams,
    kernel: DistanceFn,
    vectors: BTreeMap<u64, Box<[u8]>>,
}

impl Hnsw {
    /// An empty index.
    pub fn new(params: IndexParams) -> Self {
        Hnsw { params, kernel: vector::kernel(params.elem, params.metric), vectors: BTreeMap::new() }
    }
    /// The parameters the index was built with.
    pub fn params(&self) -> &IndexParams {
        &self.params
    }
    /// Number of live (indexed) labels.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }
    /// Whether no label is indexed.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }
    /// Tombstones not yet reclaimed.
    pub fn deleted(&self) -> usize {
        0
    }
    /// Whether `label` is indexed.
    pub fn contains(&self, label: u64) -> bool {
        self.vectors.contains_key(&label)
    }
    /// The stored vector of `label`.
    pub fn vector(&self, label: u64) -> Option<&[u8]> {
        self.vectors.get(&label).map(|v| &**v)
    }
    /// Live labels in ascending order.
    pub fn labels(&self) -> impl Iterator<Item = u64> + '_ {
        self.vectors.keys().copied()
    }
    /// Indexes `label` (not present) with `vector` (validated, `vector_bytes` long).
    pub fn insert(&mut self, label: u64, vector: &[u8]) {
        assert_eq!(vector.len(), self.params.vector_bytes());
        let old = self.vectors.insert(label, vector.into());
        assert!(old.is_none(), "label inserted twice");
    }
    /// Replaces the vector of an indexed `label`.
    pub fn replace(&mut self, label: u64, vector: &[u8]) {
        assert!(self.remove(label));
        self.insert(label, vector);
    }
    /// Removes `label`; false when it was not indexed.
    pub fn remove(&mut self, label: u64) -> bool {
        self.vectors.remove(&label).is_some()
    }
    /// Approximate search (interim: exact).
    pub fn search(
        &self,
        query: &[u8],
        k: usize,
        _ef: usize,
        filter: Option<&mut dyn FnMut(u64) -> bool>,
        scratch: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) {
        self.search_exact(query, k, filter, scratch, out);
        out.truncate(k);
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
        out.clear();
        scratch.dists.clear();
        for (&label, v) in &self.vectors {
            if let Some(f) = filter.as_mut() {
                if !f(label) {
                    continue;
                }
            }
            scratch.dists.push(Neighbor { distance: (self.kernel)(query, v), label });
        }
        scratch.dists.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.label.cmp(&b.label)));
        if k == 0 {
            return;
        }
        let Some(kth) = scratch.dists.get(k - 1).map(|n| n.distance) else {
            out.extend_from_slice(&scratch.dists);
            return;
        };
        out.extend(scratch.dists.iter().take_while(|n| n.distance <= kth).copied());
    }
    /// Bytes of memory the index holds.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.len() * (self.params.vector_bytes() + 48)
    }
    /// Verifies the index's invariants.
    pub fn check(&self) -> Result<(), String> {
        Ok(())
    }
    /// Appends the index's serialized form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.vectors.len() as u64).to_le_bytes());
        for (l, v) in &self.vectors {
            out.extend_from_slice(&l.to_le_bytes());
            out.extend_from_slice(v);
        }
    }
    /// Rebuilds an index from [`Hnsw::encode`] output.
    pub fn decode(params: IndexParams, bytes: &[u8]) -> Result<Hnsw> {
        let bad = Error::Corrupted { what: "index", offset: 0 };
        let n = u64::from_le_bytes(bytes.get(..8).ok_or(bad.clone())?.try_into().map_err(|_| bad.clone())?);
        let mut h = Hnsw::new(params);
        let rec = 8 + params.vector_bytes();
        let body = &bytes[8..];
        if (body.len() as u64) != n.saturating_mul(rec as u64) {
            return Err(bad);
        }
        for c in body.chunks_exact(rec) {
            let l = u64::from_le_bytes(c[..8].try_into().map_err(|_| bad.clone())?);
            h.vectors.insert(l, c[8..].into());
        }
        Ok(h)
    }
}
