//! `vexfs-core`: the deterministic VexFS engine.
//!
//! The core is a state machine. Every operation takes its inputs, including the time and the
//! caller's identity, as arguments; it never reads a clock, spawns a thread, draws unseeded
//! randomness or iterates a randomly seeded hash map. The same operations in give the same
//! bytes and the same answers out. It performs I/O only through the `Storage` trait.
//!
//! Modules, each owning one concern:
//! - [`limits`]: every bound, in one file;
//! - [`error`]: the one error enum;
//! - [`vector`]: element types, codecs, validation, distance kernels;
//! - [`index`]: the HNSW graph and exact search;
//! - [`query`]: the search query (JSON) and filter language;
//! - [`op`]: the operation vocabulary ([`Op`], [`OpKind`]), below the engine and the journal;
//! - [`types`]: plain values shared with frontends (inode numbers, time, attributes);
//! - [`namespace`]: inodes, directories, file data, extended attributes, and the permission
//!   check of reads done on a caller's behalf (`namespace::perm`);
//! - [`collections`]: which files each collection's index holds, kept in step with storage;
//! - [`engine`]: every operation, validated then applied, and search;
//! - [`check`]: whole-structure invariant checks;
//! - [`storage`]: the one I/O seam and its file-backed and in-memory implementations;
//! - [`journal`]: the image format: superblock, write-ahead log, checkpoints, free space.

pub mod check;
pub mod collections;
pub mod engine;
pub mod error;
pub mod index;
pub mod journal;
pub mod limits;
pub mod namespace;
pub mod op;
pub mod query;
pub mod storage;
pub mod types;
pub mod vector;

pub use collections::{INDEX_XATTR, IndexConfig, VECTOR_XATTR};
pub use engine::{Engine, EngineConfig, Hit, HitLines, Op, OpKind, Scratch, Stats};
pub use error::{Error, Result};
pub use namespace::Creds;
pub use types::*;
