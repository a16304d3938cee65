//! `vexfs-sim`: run one seeded simulation of VexFS, or sweep a range of seeds.
//!
//! ```text
//! vexfs-sim [--seed N | --seeds A..B] [--ops M] [--clients C] [--faults PROFILE]
//!           [--long] [--segment-blocks B] [--jobs J] [--check-determinism] [--quiet]
//! ```
//!
//! `--long` runs long sessions (thousands of syncs, writes up to 1 MiB, rare crashes, some in
//! the middle of an operation; 20,000 operations unless `--ops` says otherwise).
//! `--segment-blocks` overrides the log segment length the seed draws. A sweep ends with one
//! summary line: seeds, the segment lengths covered, syncs, segment rolls and crashes.
//!
//! Profiles: none, crash, io, corrupt, all, swarm (default: the seed picks). Without `--seed`
//! a seed is picked and printed first. A failure prints the seed, the failing step and the
//! command that reproduces it; the exit status is 1 when any seed failed, 2 on bad usage or a
//! build without `--cfg madsim` (build with `cargo simrun`, see .cargo/config.toml).

#[cfg(not(madsim))]
fn main() {
    eprintln!(
        "vexfs-sim: built without --cfg madsim (an outer RUSTFLAGS overrides build.rustflags); \
         build it with `cargo simrun -- ...` and leave RUSTFLAGS unset"
    );
    std::process::exit(2);
}

#[cfg(madsim)]
fn main() {
    std::process::exit(sim::main_with(std::env::args().skip(1).collect()));
}

#[cfg(madsim)]
mod sim {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use vexfs_core::limits::{LOG_SEGMENT_BLOCKS_DEFAULT, LOG_SEGMENT_BLOCKS_MIN};
    use vexfs_sim::runner::{self, Options, Outcome};
    use vexfs_sim::scenario::Profile;

    struct Args {
        seeds: std::ops::Range<u64>,
        picked: bool,
        ops: u64,
        clients: Option<u32>,
        profile: Profile,
        jobs: usize,
        determinism: bool,
        quiet: bool,
        long: bool,
        segment_blocks: Option<u32>,
        ops_given: bool,
    }

    fn usage(msg: &str) -> Result<Args, String> {
        Err(format!(
            "{msg}\nusage: vexfs-sim [--seed N | --seeds A..B] [--ops M] [--clients C] \
             [--faults none|crash|io|corrupt|all|swarm] [--long] [--segment-blocks B] [--jobs J] \
             [--check-determinism] [--quiet]"
        ))
    }

    fn parse(args: &[String]) -> Result<Args, String> {
        let mut a = Args {
            seeds: 0..0,
            picked: true,
            ops: 500,
            clients: None,
            profile: Profile::Swarm,
            jobs: 1,
            determinism: std::env::var_os("MADSIM_TEST_CHECK_DETERMINISM").is_some(),
            quiet: false,
            long: false,
            segment_blocks: None,
            ops_given: false,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut val = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
            let num = |s: String| {
                s.parse::<u64>()
                    .map_err(|_| format!("{flag}: {s:?} is not a number"))
            };
            match flag.as_str() {
                "--seed" => {
                    let s = num(val()?)?;
                    a.seeds = s..s + 1;
                    a.picked = false;
                }
                "--seeds" => {
                    let v = val()?;
                    let (lo, hi) = v.split_once("..").ok_or("--seeds takes A..B")?;
                    let lo = lo.parse::<u64>().map_err(|_| "--seeds: bad start")?;
                    let hi = hi.parse::<u64>().map_err(|_| "--seeds: bad end")?;
                    a.seeds = lo..hi;
                    a.picked = false;
                }
                "--ops" => {
                    a.ops = num(val()?)?;
                    a.ops_given = true;
                }
                "--long" => a.long = true,
                "--segment-blocks" => {
                    let b = num(val()?)?;
                    let (lo, hi) = (LOG_SEGMENT_BLOCKS_MIN, LOG_SEGMENT_BLOCKS_DEFAULT);
                    if !(u64::from(lo)..=u64::from(hi)).contains(&b) {
                        return usage(&format!("--segment-blocks must be {lo} to {hi}"));
                    }
                    a.segment_blocks = Some(b as u32);
                }
                "--clients" => a.clients = Some(num(val()?)?.clamp(1, 16) as u32),
                "--faults" => {
                    let v = val()?;
                    a.profile = Profile::parse(&v).ok_or_else(|| format!("unknown fault profile {v:?}"))?;
                }
                "--jobs" => a.jobs = num(val()?)?.clamp(1, 64) as usize,
                "--check-determinism" => a.determinism = true,
                "--quiet" => a.quiet = true,
                "-h" | "--help" => return usage(""),
                other => return usage(&format!("unknown argument {other:?}")),
            }
        }
        if a.long && !a.ops_given {
            a.ops = 20_000;
        }
        if a.picked {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let seed = t % 1_000_000_007;
            println!("seed {seed}");
            a.seeds = seed..seed + 1;
        }
        Ok(a)
    }

    /// What a sweep covered, over every seed run.
    #[derive(Default)]
    struct Totals {
        /// Seeds per log segment length.
        segments: std::collections::BTreeMap<u32, u64>,
        syncs: u64,
        rolls: u64,
        crashes: u64,
        cuts: u64,
        session_syncs_max: u64,
    }

    impl Totals {
        fn add(&mut self, o: &Outcome) {
            *self.segments.entry(o.segment_blocks).or_default() += 1;
            self.syncs += o.stats.syncs;
            self.rolls += o.stats.segment_rolls;
            self.crashes += o.stats.crashes;
            self.cuts += o.stats.cuts;
            self.session_syncs_max = self.session_syncs_max.max(o.stats.session_syncs_max);
        }

        /// Segment lengths as ranges with seed counts, then the counters.
        fn line(&self) -> String {
            let buckets = [(2, 4), (5, 16), (17, 64), (65, 255), (256, 256)];
            let mut parts = Vec::new();
            for (lo, hi) in buckets {
                let n: u64 = self.segments.range(lo..=hi).map(|(_, n)| n).sum();
                if n > 0 {
                    let name = if lo == hi {
                        format!("{lo}")
                    } else {
                        format!("{lo}-{hi}")
                    };
                    parts.push(format!("{name}:{n}"));
                }
            }
            format!(
                "segment blocks {} distinct ({}); {} syncs (at most {} in one session), {} segment rolls, {} crashes ({} power cuts mid-operation)",
                self.segments.len(),
                parts.join(" "),
                self.syncs,
                self.session_syncs_max,
                self.rolls,
                self.crashes,
                self.cuts
            )
        }
    }

    fn report(o: &Outcome, quiet: bool) {
        match &o.result {
            Ok(()) if !quiet => println!(
                "seed {} ok (segment {} blocks): trace {:016x} image {:016x} {:?}",
                o.opts.seed, o.segment_blocks, o.trace_hash, o.image_hash, o.stats
            ),
            Ok(()) => {}
            Err(f) => {
                println!(
                    "seed {} FAILED at step {}: {}: {}",
                    o.opts.seed, f.step, f.op, f.what
                );
                println!("  scenario: {}", o.scenario);
                println!("  reproduce: {}", runner::repro_command(&o.opts));
            }
        }
    }

    pub fn main_with(args: Vec<String>) -> i32 {
        let a = match parse(&args) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        };
        let next = AtomicU64::new(a.seeds.start);
        let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
        let totals: Mutex<Totals> = Mutex::new(Totals::default());
        let done = AtomicU64::new(0);
        let work = || {
            loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= a.seeds.end {
                    break;
                }
                let opts = Options {
                    seed,
                    ops: a.ops,
                    clients: a.clients,
                    profile: a.profile,
                    long: a.long,
                    segment_blocks: a.segment_blocks,
                };
                let outcome = if a.determinism {
                    match runner::check_determinism(opts) {
                        Ok(o) => o,
                        Err(e) => {
                            println!("{e}");
                            println!(
                                "  reproduce: {} --check-determinism",
                                runner::repro_command(&opts)
                            );
                            let mut f = failures.lock().unwrap_or_else(|e| e.into_inner());
                            f.push((seed, e));
                            continue;
                        }
                    }
                } else {
                    runner::run(opts)
                };
                report(&outcome, a.quiet);
                totals.lock().unwrap_or_else(|e| e.into_inner()).add(&outcome);
                if let Err(f) = &outcome.result {
                    let mut fl = failures.lock().unwrap_or_else(|e| e.into_inner());
                    fl.push((seed, format!("step {}: {}", f.step, f.what)));
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        };
        std::thread::scope(|s| {
            for _ in 0..a.jobs {
                s.spawn(work);
            }
        });
        let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
        failures.sort();
        let total = a.seeds.end - a.seeds.start;
        if total > 1 || !failures.is_empty() {
            let t = totals.into_inner().unwrap_or_else(|e| e.into_inner());
            println!(
                "swept seeds {}..{} ({} ops each, faults {}{}): {} passed, {} failed; {}",
                a.seeds.start,
                a.seeds.end,
                a.ops,
                a.profile.name(),
                if a.long { ", long sessions" } else { "" },
                total - failures.len() as u64,
                failures.len(),
                t.line()
            );
            for (seed, what) in &failures {
                let line: String = what.chars().take(200).collect();
                println!("  seed {seed}: {line}");
            }
        }
        i32::from(!failures.is_empty())
    }
}
