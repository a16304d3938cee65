//! The simulator can fail: built with a canary bug planted in the core, a small sweep must
//! catch it. Only compiled with `--cfg madsim` and one of the canary features:
//!
//! ```text
//! cargo sim --features canary-skip-rename-resync --test canary
//! cargo sim --features canary-early-sync-ack --test canary
//! cargo sim --features canary-segment-end --test canary
//! ```
#![cfg(all(
    madsim,
    any(
        feature = "canary-skip-rename-resync",
        feature = "canary-early-sync-ack",
        feature = "canary-segment-end"
    )
))]

use vexfs_sim::runner::{self, Options};
use vexfs_sim::scenario::Profile;

/// Seeds the sweep may take to catch the canary.
const SEEDS_MAX: u64 = 20;

/// Runs `SEEDS_MAX` seeds of `opts(seed)`; returns the seeds that failed, with the failures.
fn sweep(opts: impl Fn(u64) -> Options) -> Vec<(u64, String)> {
    let mut caught = Vec::new();
    for seed in 0..SEEDS_MAX {
        if let Err(f) = runner::run(opts(seed)).result {
            println!("canary caught by seed {seed}: {f}");
            caught.push((seed, f.to_string()));
        }
    }
    caught
}

#[test]
fn canary_is_caught() {
    // The segment-end bug needs sessions that reach segment ends: long sessions, with crashes
    // (the log ends early after a crash) and without (only the guard can see the write into
    // the block after the segment before a crash exposes it).
    let long = cfg!(feature = "canary-segment-end");
    let profile = if cfg!(feature = "canary-early-sync-ack") || long {
        Profile::Crash
    } else {
        Profile::None
    };
    let caught = sweep(|seed| {
        let mut o = Options::new(seed, if long { 3000 } else { 500 }, profile);
        o.long = long;
        o
    });
    let seeds: Vec<u64> = caught.iter().map(|c| c.0).collect();
    println!(
        "canary caught by {} of {SEEDS_MAX} seeds: {seeds:?}",
        caught.len()
    );
    assert!(!caught.is_empty(), "no seed out of {SEEDS_MAX} caught the canary");
    if long {
        assert!(
            caught.len() as u64 >= SEEDS_MAX / 2,
            "the segment-end canary was caught by only {} of {SEEDS_MAX} long-session seeds",
            caught.len()
        );
        let guarded = sweep(|seed| {
            let mut o = Options::new(seed, 3000, Profile::None);
            o.long = true;
            o
        });
        let by_guard: Vec<u64> = guarded
            .iter()
            .filter(|(_, f)| f.contains("durable block overwritten"))
            .map(|c| c.0)
            .collect();
        println!(
            "without crashes the guard caught the canary in {} of {SEEDS_MAX} seeds: {by_guard:?}",
            by_guard.len()
        );
        assert!(
            !by_guard.is_empty(),
            "the guard never saw the write past a segment's end"
        );
    }
}
