//! Replays the committed fuzz corpus (fuzz/corpus/<target>/) and the crash inputs kept in
//! fuzz/regressions/<target>/ through the same functions the fuzz targets call, decoding each
//! file exactly as `fuzz_target!` does (`arbitrary_take_rest`). Plain `cargo test`: CI checks
//! every corpus input without libFuzzer.
#![allow(clippy::unwrap_used)]

use arbitrary::{Arbitrary, Unstructured};
use std::path::PathBuf;
use vexfs_sim::fuzz;

fn inputs(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz")).join(dir);
    let mut out: Vec<(PathBuf, Vec<u8>)> = match std::fs::read_dir(&root) {
        Ok(rd) => rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let b = std::fs::read(&p).unwrap();
                (p, b)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

fn replay<T: for<'a> Arbitrary<'a>>(target: &str, run: impl Fn(&T) -> Result<(), String>) -> usize {
    let files = inputs(&format!("corpus/{target}"));
    assert!(
        files.len() >= 10,
        "fuzz/corpus/{target} holds only {} inputs",
        files.len()
    );
    let mut decoded = 0;
    for (path, bytes) in &files {
        if let Ok(input) = T::arbitrary_take_rest(Unstructured::new(bytes)) {
            decoded += 1;
            if let Err(e) = run(&input) {
                panic!("{}: {e}", path.display());
            }
        }
    }
    decoded
}

#[test]
fn corpus_ops() {
    assert!(replay::<fuzz::OpsInput>("ops", fuzz::ops) > 0);
}

#[test]
fn corpus_image() {
    assert!(replay::<fuzz::ImageInput>("image", fuzz::image) > 0);
}

#[test]
fn corpus_query() {
    assert!(replay::<fuzz::QueryInput>("query", fuzz::query) > 0);
}

#[test]
fn corpus_codec() {
    assert!(replay::<fuzz::CodecInput>("codec", fuzz::codec) > 0);
}

/// The canary's own corpus passes; the input the fuzzer found for it (kept in
/// fuzz/regressions/canary/) must fail, proving that a failing input is reported here too.
#[test]
fn corpus_canary_and_its_crash() {
    assert!(replay::<fuzz::OpsInput>("canary", fuzz::canary) > 0);
    let crashes = inputs("regressions/canary");
    assert!(!crashes.is_empty(), "no canary crash input kept");
    for (path, bytes) in crashes {
        let input = fuzz::OpsInput::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        assert!(
            fuzz::canary(&input).is_err(),
            "{} no longer fails the canary",
            path.display()
        );
        // The same input is a valid operation sequence: the real oracles pass on it.
        fuzz::ops(&input).unwrap();
    }
}

/// Crash inputs the fuzzers found for the real targets, kept after the fix.
#[test]
fn fuzz_regressions() {
    for (target, run) in [
        (
            "ops",
            &(|b: &[u8]| fuzz::ops(&fuzz::OpsInput::arbitrary_take_rest(Unstructured::new(b)).unwrap()))
                as &dyn Fn(&[u8]) -> Result<(), String>,
        ),
        ("image", &|b: &[u8]| {
            fuzz::image(&fuzz::ImageInput::arbitrary_take_rest(Unstructured::new(b)).unwrap())
        }),
        ("query", &|b: &[u8]| {
            fuzz::query(&fuzz::QueryInput::arbitrary_take_rest(Unstructured::new(b)).unwrap())
        }),
        ("codec", &|b: &[u8]| {
            fuzz::codec(&fuzz::CodecInput::arbitrary_take_rest(Unstructured::new(b)).unwrap())
        }),
    ] {
        for (path, bytes) in inputs(&format!("regressions/{target}")) {
            if let Err(e) = run(&bytes) {
                panic!("{}: {e}", path.display());
            }
        }
    }
}
