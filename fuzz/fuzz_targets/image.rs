//! Fuzz target `image`: see `vexfs_sim::fuzz::image` (the corpus replay test calls the same function).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: vexfs_sim::fuzz::ImageInput| {
    if let Err(e) = vexfs_sim::fuzz::image(&input) {
        panic!("{e}");
    }
});
