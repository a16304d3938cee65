//! The simulator can fail: built with a canary bug planted in the core, a small sweep must
//! catch it. Only compiled with `--cfg madsim` and one of the canary features:
//!
//! ```text
//! cargo sim --features canary-skip-rename-resync --test canary
//! cargo sim --features canary-early-sync-ack --test canary
//! ```
#![cfg(all(
    madsim,
    any(feature = "canary-skip-rename-resync", feature = "canary-early-sync-ack")
))]

use vexfs_sim::runner::{self, Options};
use vexfs_sim::scenario::Profile;

/// Seeds the sweep may take to catch the canary.
const SEEDS_MAX: u64 = 20;

#[test]
fn canary_is_caught() {
    let profile = if cfg!(feature = "canary-early-sync-ack") {
        Profile::Crash
    } else {
        Profile::None
    };
    let mut caught = Vec::new();
    for seed in 0..SEEDS_MAX {
        let out = runner::run(Options::new(seed, 500, profile));
        if let Err(f) = out.result {
            println!("canary caught by seed {seed}: {f}");
            caught.push(seed);
        }
    }
    println!(
        "canary caught by {} of {SEEDS_MAX} seeds: {caught:?}",
        caught.len()
    );
    assert!(!caught.is_empty(), "no seed out of {SEEDS_MAX} caught the canary");
}
