//! `vexfs-sim`: the deterministic simulator of VexFS and the logic its fuzzers share.
//!
//! Modules, each owning one concern:
//! - [`rng`]: the seeded generator every random choice comes from;
//! - [`scenario`]: what a seed makes a run exercise (swarm testing);
//! - [`model`]: the reference model (a `BTreeMap` namespace with brute-force search);
//! - [`ops`]: the operations, as bounded selectors (`arbitrary` for the fuzzers, [`ops::generate`]
//!   for the simulator);
//! - [`storage`]: the faulty simulated disk (crashes, torn writes, bit flips, EIO, ENOSPC,
//!   power cuts in the middle of an operation, latency);
//! - [`guard`]: the oracle, inside that disk, that no durable block is overwritten;
//! - [`world`]: the filesystem on that disk driven in step with the model, every oracle checked;
//! - [`fuzz`]: the bodies of the fuzz targets (fuzz/ wraps them; the corpus replay test calls them);
//! - [`trace`]: the digest of a run's trace and image;
//! - `runner` (only with `--cfg madsim`): the simulation itself — concurrent clients as madsim
//!   tasks sharing one [`world::World`] behind a lock, interleaved by seeded latency.
//!
//! Determinism: nothing here reads a clock or an unseeded source of randomness, and no map is
//! iterated in hash order; a seed reproduces a run bit for bit.

pub mod fuzz;
pub mod guard;
/// The reference model lives in its own crate (`model/`), shared with core's property tests.
pub use vexfs_model as model;
pub mod ops;
pub mod rng;
#[cfg(madsim)]
pub mod runner;
pub mod scenario;
pub mod storage;
pub mod trace;
pub mod world;
