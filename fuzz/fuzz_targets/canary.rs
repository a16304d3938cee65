//! Fuzz target `canary`: see `vexfs_sim::fuzz::canary` (the corpus replay test calls the same function).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: vexfs_sim::fuzz::OpsInput| {
    if let Err(e) = vexfs_sim::fuzz::canary(&input) {
        panic!("{e}");
    }
});
