//! Regression tests for core bugs the simulator (sim/) found. Each test names the seed and the
//! sim/regressions/ file that found it.

// Helpers outside #[test] functions unwrap too: these are tests.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use vexfs_core::engine::fsck;
use vexfs_core::storage::{MemStorage, Storage};
use vexfs_core::{Ctx, Engine, EngineConfig, ROOT_INO, Timestamp};

fn ctx(i: i64) -> Ctx {
    Ctx::new(Timestamp::new(1_700_000_000 + i, 0), 0, 0)
}

/// sim seed 7 (`--faults none`), sim/regressions/seed-7.txt: after a checkpoint shrinks the
/// image, the older superblock slot names a checkpoint past the new end. That slot is stale,
/// not damaged, and fsck of a cleanly closed image must report nothing.
#[test]
fn stale_superblock_after_shrink_is_not_damage() {
    let storage = Arc::new(MemStorage::new());
    let mut e = Engine::create_image(storage.clone(), EngineConfig::default()).unwrap();
    let f = e.create(ROOT_INO, b"big", 0o644, &ctx(1)).unwrap().ino;
    e.write(f, 0, &vec![7u8; 200_000], &ctx(2)).unwrap();
    e.checkpoint().unwrap();
    e.unlink(ROOT_INO, b"big", &ctx(3)).unwrap();
    e.checkpoint().unwrap();
    e.close().unwrap();
    let len = storage.len().unwrap();
    let report = fsck(
        Arc::new(MemStorage::from_bytes(storage.bytes())),
        false,
        false,
        |_, _, _| {},
    )
    .unwrap();
    assert!(
        report.problems.is_empty(),
        "image of {len} bytes: {:?}",
        report.problems
    );
}
