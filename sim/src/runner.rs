//! The simulation (only in `--cfg madsim` builds): concurrent clients as madsim tasks driving
//! one [`World`] shared behind a lock.
//!
//! Each client loops: think (a seeded pause), take the lock, maybe inject a fault, draw an
//! operation from its own seeded generator, apply it to the world (which checks every oracle),
//! release the lock, then sleep for the simulated time the storage calls of that operation
//! cost. The order in which clients get the lock — the interleaving — therefore comes from the
//! seed, and madsim runs it deterministically: the same seed gives the same trace, the same
//! image bytes, and the same failure.

use crate::rng::Rng;
use crate::scenario::{Profile, Scenario};
use crate::world::{Failure, World, WorldStats};
use madsim::time::{Duration, sleep};
use std::sync::{Arc, Mutex, OnceLock};
use vexfs_core::limits::{LOG_SEGMENT_BLOCKS_DEFAULT, LOG_SEGMENT_BLOCKS_MIN};

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The seed.
    pub seed: u64,
    /// Operations to apply (over all clients).
    pub ops: u64,
    /// Override the scenario's number of clients.
    pub clients: Option<u32>,
    /// Fault profile.
    pub profile: Profile,
    /// Long sessions ([`Scenario::long`]).
    pub long: bool,
    /// Override the scenario's log segment length (blocks).
    pub segment_blocks: Option<u32>,
}

impl Options {
    /// `ops` operations of `seed` under `profile`, the scenario as the seed draws it.
    pub fn new(seed: u64, ops: u64, profile: Profile) -> Options {
        Options {
            seed,
            ops,
            clients: None,
            profile,
            long: false,
            segment_blocks: None,
        }
    }

    /// The scenario these options run.
    pub fn scenario(&self) -> Scenario {
        let mut scen = if self.long {
            Scenario::long(self.seed, self.profile, self.ops)
        } else {
            Scenario::from_seed(self.seed, self.profile)
        };
        if let Some(c) = self.clients {
            scen.clients = c.max(1);
        }
        if let Some(b) = self.segment_blocks {
            scen.log_segment_blocks = b.clamp(LOG_SEGMENT_BLOCKS_MIN, LOG_SEGMENT_BLOCKS_DEFAULT);
        }
        scen
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The options run.
    pub opts: Options,
    /// The scenario the seed chose (one line).
    pub scenario: String,
    /// `Err` with the first violated oracle.
    pub result: Result<(), Failure>,
    /// Digest of the trace.
    pub trace_hash: u64,
    /// Digest of the final durable image.
    pub image_hash: u64,
    /// Counters.
    pub stats: WorldStats,
    /// The log segment length the run used (blocks).
    pub segment_blocks: u32,
}

struct Shared {
    world: World,
    failure: Option<Failure>,
}

fn lock(s: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs one simulation inside the current madsim runtime.
pub async fn simulate(opts: Options) -> Outcome {
    let scen = opts.scenario();
    let segment_blocks = scen.log_segment_blocks;
    let scenario = scen.to_string();
    let world = match World::new(scen.clone()) {
        Ok(w) => w,
        Err(f) => {
            return Outcome {
                opts,
                scenario,
                result: Err(f),
                trace_hash: 0,
                image_hash: 0,
                stats: WorldStats::default(),
                segment_blocks,
            };
        }
    };
    let shared = Arc::new(Mutex::new(Shared { world, failure: None }));
    let mut root = Rng::new(opts.seed).fork(7);
    let mut tasks = Vec::new();
    for c in 0..scen.clients {
        let shared = Arc::clone(&shared);
        let mut rng = root.fork(100 + u64::from(c));
        let (lo, hi) = scen.latency_ns;
        tasks.push(madsim::task::spawn(async move {
            loop {
                sleep(Duration::from_nanos(rng.range(lo, hi.max(lo)))).await;
                let cost = {
                    let mut s = lock(&shared);
                    if s.failure.is_some() || s.world.step() >= opts.ops {
                        break;
                    }
                    let r = s.world.inject().and_then(|()| {
                        let op = crate::ops::generate(&mut rng, &s.world.scen, s.world.model());
                        s.world.apply(&op)
                    });
                    if let Err(f) = r {
                        s.failure = Some(f);
                        break;
                    }
                    s.world.disk().take_cost_ns()
                };
                sleep(Duration::from_nanos(cost)).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut s = lock(&shared);
    let result = match s.failure.take() {
        Some(f) => Err(f),
        None => s.world.finish(),
    };
    Outcome {
        opts,
        scenario,
        result,
        trace_hash: s.world.trace_hash(),
        image_hash: s.world.image_hash(),
        stats: s.world.stats,
        segment_blocks,
    }
}

/// Runs one simulation in a fresh madsim runtime seeded with `opts.seed`.
pub fn run(opts: Options) -> Outcome {
    let rt = madsim::runtime::Runtime::with_seed_and_config(opts.seed, madsim::Config::default());
    rt.block_on(simulate(opts))
}

static CHECKED: OnceLock<Mutex<Option<Options>>> = OnceLock::new();

async fn simulate_checked() -> Outcome {
    let opts = CHECKED
        .get()
        .and_then(|m| *m.lock().unwrap_or_else(|e| e.into_inner()))
        .expect("options are set before the determinism check");
    simulate(opts).await
}

/// Runs `opts` twice and checks determinism twice over: madsim's own check (every random draw
/// of the runtime, in order) and equal trace and image digests. Returns the second outcome, or
/// a description of the difference.
pub fn check_determinism(opts: Options) -> Result<Outcome, String> {
    let first = run(opts);
    let cell = CHECKED.get_or_init(|| Mutex::new(None));
    *cell.lock().unwrap_or_else(|e| e.into_inner()) = Some(opts);
    let second = std::panic::catch_unwind(|| {
        madsim::runtime::Runtime::check_determinism(opts.seed, madsim::Config::default(), simulate_checked)
    })
    .map_err(|_| format!("seed {}: madsim detected non-determinism", opts.seed))?;
    if first.trace_hash != second.trace_hash || first.image_hash != second.image_hash {
        return Err(format!(
            "seed {}: runs differ: trace {:016x} vs {:016x}, image {:016x} vs {:016x}",
            opts.seed, first.trace_hash, second.trace_hash, first.image_hash, second.image_hash
        ));
    }
    Ok(second)
}

/// The command that reproduces `opts`.
pub fn repro_command(opts: &Options) -> String {
    let mut s = format!(
        "cargo simrun --seed {} --ops {} --faults {}",
        opts.seed,
        opts.ops,
        opts.profile.name()
    );
    if let Some(c) = opts.clients {
        s.push_str(&format!(" --clients {c}"));
    }
    if opts.long {
        s.push_str(" --long");
    }
    if let Some(b) = opts.segment_blocks {
        s.push_str(&format!(" --segment-blocks {b}"));
    }
    s
}
