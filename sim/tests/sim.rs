//! Simulator tests (only in `--cfg madsim` builds: `cargo sim`): determinism, the regression
//! seeds of sim/regressions/, and a short sweep. A plain `cargo test` compiles this file to
//! nothing; CI runs `cargo sim` and checks that more than zero tests ran, so an outer RUSTFLAGS
//! that drops the cfg cannot pass silently.
#![cfg(madsim)]
#![allow(clippy::unwrap_used)]

use vexfs_sim::runner::{self, Options};
use vexfs_sim::scenario::Profile;

fn opts(seed: u64, ops: u64, profile: Profile) -> Options {
    Options::new(seed, ops, profile)
}

/// A seed run twice gives the same trace and image digests, and madsim sees the same random
/// draws (its own determinism check).
#[test]
fn same_seed_same_trace_and_image() {
    for seed in [1, 2, 3] {
        let o = opts(seed, 300, Profile::All);
        let a = runner::run(o);
        let b = runner::check_determinism(o).unwrap();
        assert!(a.result.is_ok(), "{:?}", a.result);
        assert_eq!((a.trace_hash, a.image_hash), (b.trace_hash, b.image_hash));
        assert_ne!(
            a.trace_hash,
            runner::run(opts(seed + 100, 300, Profile::All)).trace_hash
        );
    }
}

/// (seed, ops, profile, clients, status) of every file in sim/regressions/.
fn regressions() -> Vec<(String, Options, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/regressions");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("{}: no {k}", f.display()))
        };
        let cmd = field("command:");
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let arg = |flag: &str| words.iter().position(|w| *w == flag).map(|i| words[i + 1]);
        let o = Options {
            seed: arg("--seed").unwrap().parse().unwrap(),
            ops: arg("--ops").unwrap_or("500").parse().unwrap(),
            clients: arg("--clients").map(|c| c.parse().unwrap()),
            profile: Profile::parse(arg("--faults").unwrap_or("swarm")).unwrap(),
            long: words.contains(&"--long"),
            segment_blocks: arg("--segment-blocks").map(|b| b.parse().unwrap()),
        };
        out.push((f.display().to_string(), o, field("status:")));
    }
    out
}

/// Every fixed regression seed passes; open ones are listed (they document known failures).
#[test]
fn regression_seeds() {
    let all = regressions();
    assert!(all.len() >= 4);
    for (file, o, status) in all {
        let out = runner::run(o);
        if status.starts_with("fixed") {
            assert!(out.result.is_ok(), "{file}: {:?}", out.result);
        } else {
            println!("{file} ({status}): {:?}", out.result.map_err(|f| f.to_string()));
        }
    }
}

/// A short sweep with every fault class on.
#[test]
fn short_sweep_all_faults() {
    for seed in 1000..1020 {
        let out = runner::run(opts(seed, 200, Profile::All));
        assert!(
            out.result.is_ok(),
            "seed {seed}: {:?}\nreproduce: {}",
            out.result,
            runner::repro_command(&out.opts)
        );
    }
}

/// Long sessions (`--long`): thousands of syncs in one session, many segment rolls, crashes
/// before and in the middle of operations, every oracle (the guard included) holding; and a
/// long run is as deterministic as a short one.
#[test]
fn long_sessions() {
    let (mut syncs_max, mut rolls, mut crashes, mut checks) = (0, 0, 0, 0);
    for seed in [0, 1, 2, 5] {
        let mut o = opts(seed, 8_000, Profile::Crash);
        o.long = true;
        let out = runner::run(o);
        assert!(
            out.result.is_ok(),
            "seed {seed}: {:?}\nreproduce: {}",
            out.result,
            runner::repro_command(&out.opts)
        );
        syncs_max = syncs_max.max(out.stats.session_syncs_max);
        rolls += out.stats.segment_rolls;
        crashes += out.stats.crashes;
        checks += out.stats.guard_checks;
    }
    assert!(syncs_max >= 1_000, "longest session: {syncs_max} syncs");
    assert!(rolls >= 100, "{rolls} segment rolls");
    assert!(crashes >= 2, "{crashes} crashes");
    assert!(checks >= 1_000, "the guard checked {checks} writes");
    let mut o = opts(3, 2_000, Profile::Crash);
    o.long = true;
    let a = runner::run(o);
    let b = runner::check_determinism(o).unwrap();
    assert_eq!((a.trace_hash, a.image_hash), (b.trace_hash, b.image_hash));
}
