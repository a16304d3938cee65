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
//! - [`query`]: the search query (JSON) and filter language.

pub mod error;
pub mod index;
pub mod limits;
pub mod query;
pub mod vector;

pub use error::{Error, Result};
