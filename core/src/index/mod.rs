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
pub mod sketch;
pub mod sq8;

pub use hnsw::{Hnsw, SearchScratch};
pub use sq8::Sq8;

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
    /// How the graph walk scores nodes: exact vectors, or codes (see [`sq8`]).
    pub quant: Quantization,
}

/// A collection's quantization (`quantization=` in its configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantization {
    /// The walk measures the stored vectors exactly.
    #[default]
    None,
    /// 8-bit scalar codes ([`sq8`]), the final candidates re-ranked exactly.
    Sq8,
}

impl Quantization {
    /// Every quantization, in canonical order.
    pub const ALL: [Quantization; 2] = [Quantization::None, Quantization::Sq8];

    /// The name used in collection configurations.
    pub const fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Sq8 => "sq8",
        }
    }

    /// Parses a configuration name.
    pub fn parse(s: &str) -> Option<Quantization> {
        Quantization::ALL.into_iter().find(|q| q.name() == s)
    }

    /// Stable one-byte code used by the checkpoint's index layout.
    pub const fn code(self) -> u8 {
        match self {
            Quantization::None => 0,
            Quantization::Sq8 => 1,
        }
    }
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
