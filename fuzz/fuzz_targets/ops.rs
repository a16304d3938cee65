//! Fuzz target `ops`: see `vexfs_sim::fuzz::ops` (the corpus replay test calls the same function).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: vexfs_sim::fuzz::OpsInput| {
    if let Err(e) = vexfs_sim::fuzz::ops(&input) {
        panic!("{e}");
    }
});
