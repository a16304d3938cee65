//! Fuzz target `query`: see `vexfs_sim::fuzz::query` (the corpus replay test calls the same function).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: vexfs_sim::fuzz::QueryInput| {
    if let Err(e) = vexfs_sim::fuzz::query(&input) {
        panic!("{e}");
    }
});
