//! Fuzz target `codec`: see `vexfs_sim::fuzz::codec` (the corpus replay test calls the same function).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: vexfs_sim::fuzz::CodecInput| {
    if let Err(e) = vexfs_sim::fuzz::codec(&input) {
        panic!("{e}");
    }
});
