//! Per-collection vector indexes: the HNSW graph and exact (brute-force) search over it.
//!
//! An index maps *labels* (the inode numbers of indexed files) to vectors. It is derived state:
//! the collections bridge (`crate::collections`) keeps it equal to what the namespace says each
//! collection holds, inside the same operation that changes the namespace.
//!
//! Invariants (verified by [`Hnsw::check`]): each live label has exactly one live node; no node
//! links to itself or twice to the same node; degrees stay within their bounds; every live node
//! is reachable from the entry point.

pub mod hnsw;

pub use hnsw::{Hnsw, SearchScratch};

use crate::vector::{ElemType, Metric};

/// What an index is built with. Fixed for the lifetime of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexParams {
    /// Element type of the stored vectors.
    pub elem: ElemType,
    /// Distance metric.
    pub metric: Metric,
    /// Dimension (bits for `bin`).
    pub dim: u32,
    /// Links per node on the upper levels; level 0 keeps `2 * m`.
    pub m: u32,
    /// Candidate list size while inserting.
    pub ef_construction: u32,
    /// Seed of the level generator (part of the engine's deterministic state).
    pub seed: u64,
}

impl IndexParams {
    /// Bytes of one stored vector.
    pub fn vector_bytes(&self) -> usize {
        self.elem.vector_bytes(self.dim)
    }
}

/// One search result: a label and its distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Distance to the query (smaller is closer).
    pub distance: f32,
    /// The label (inode number) of the indexed file.
    pub label: u64,
}
