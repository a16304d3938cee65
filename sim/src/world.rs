//! [`World`]: one simulated VexFS — the in-process API on a [`SimDisk`] — driven in lock step
//! with the reference [`Model`], with every oracle checked as it runs.
//!
//! The world is synchronous and knows nothing of madsim: the simulator's clients call
//! [`World::apply`] under a lock (their interleaving decides the order), the fuzzers call it
//! in a loop. Oracles:
//! - **every operation**: its result (value or exact error) equals the model's; then the whole
//!   observable state (tree, kinds, modes, link counts, hard-link identity, data, attributes)
//!   equals the model's, `check()` passes, and in every collection exact search (with and
//!   without a filter) equals the model's brute-force search, while graph search returns only
//!   current members that pass the filter, at their true distance, with recall counted against
//!   the scenario's floor;
//! - **every crash and recovery**: fsck of the crashed image finds nothing (unless bits were
//!   flipped), the image opens, and its state equals the model at some point between the last
//!   completed sync and the last applied operation (the *window*), and `check()` passes;
//! - **durable blocks** ([`crate::guard`]): no write or length change ever touches what the
//!   durable image needs (live superblock, checkpoint, file data, fallback, durable log
//!   records); the disk checks every call, the world refreshes the protected set after every
//!   durability point and fails the operation during which a violation happened;
//! - **acknowledged syncs**: after a crash the recovered state is never older than the last
//!   completed sync (the window starts there), and a failure says which acknowledged operations
//!   were lost; in long sessions a recovery is sometimes crashed again at once, which must
//!   recover the same state (recovery leaves its result durable);
//! - **faults**: an injected write or sync error must surface as an error (never swallowed), after
//!   which the engine is reopened (sticky failure); a read error must change nothing; damage from
//!   flipped bits must surface as `Corrupted` (open, read) — reading damaged data must never
//!   return wrong bytes, and a recovered state must be one the model went through.
//!
//! Invariants: `window` is never empty and its last element is the current model; the disk is
//! armed only inside an operation on the engine.

use crate::model::{self, DANGLING, Id, Kind, Model};
use crate::ops::{self, FILTERS, FsOp, KEYS, OFFSET_MAX, VALUES};
use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::storage::{CrashMode, SimDisk};
use crate::trace::Fnv;
use std::fmt;
use std::sync::Arc;
use vexfs::{Clock, OpenOptions, Vexfs};
use vexfs_core::journal::ExtentKind;
use vexfs_core::query::{Filter, Query, Target};
use vexfs_core::{
    EngineConfig, Error, FallocMode, FileKind, INDEX_XATTR, Ino, ROOT_INO, SetAttr, Timestamp, VECTOR_XATTR,
};

/// A violated oracle: the step, the operation and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Operations applied before the failing one (the failing step is `step`).
    pub step: u64,
    /// The failing operation.
    pub op: String,
    /// What was wrong.
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}: {}", self.step, self.op, self.what)
    }
}

/// What happened over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Operations applied.
    pub ops: u64,
    /// Operations that returned an error (as the model predicted, or faults).
    pub errors: u64,
    /// Crashes (with recovery).
    pub crashes: u64,
    /// Reopens after a sticky I/O failure.
    pub sticky_reopens: u64,
    /// Recovery attempts that failed on an injected fault and were retried.
    pub open_retries: u64,
    /// Injected faults that surfaced as errors.
    pub faults_surfaced: u64,
    /// Operations and checkpoints refused with `ENOSPC` (nothing changed; no reopen).
    pub nospace_refusals: u64,
    /// Bits flipped.
    pub flips: u64,
    /// Corruption reported (open, read or fsck) after flips.
    pub corruption_detected: u64,
    /// Fresh images started after detected corruption.
    pub fresh_images: u64,
    /// Syncs that succeeded.
    pub syncs: u64,
    /// Log segments the engine moved on to within a session (new segments seen in its
    /// extents after an operation that was not a checkpoint or a recovery).
    pub segment_rolls: u64,
    /// Power cuts in the middle of an operation (each followed by a crash).
    pub cuts: u64,
    /// Most syncs in one session (between two opens of the image).
    pub session_syncs_max: u64,
    /// Writes and length changes the guard checked against a non-empty protected set.
    pub guard_checks: u64,
    /// Crashes right after a recovery (long sessions).
    pub double_crashes: u64,
    /// Searches compared (exact and graph).
    pub searches: u64,
    /// Graph hits within the exact k-th distance, and exact hits (recall = first / second).
    pub recall: (u64, u64),
}

/// The value an operation returns, compared with the model's.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Unit,
    Data(Vec<u8>),
    Hits(Vec<(String, f32)>),
}

/// The simulated filesystem, its disk, and the model.
#[derive(Debug)]
pub struct World {
    /// The scenario.
    pub scen: Scenario,
    disk: Arc<SimDisk>,
    fs: Option<Vexfs>,
    model: Model,
    /// Candidate states for recovery: from the last durable point to now.
    window: Vec<Model>,
    /// Digests of every state since the image was created (flip oracle).
    history: Vec<u64>,
    rng: Rng,
    step: u64,
    time: i64,
    trace: Fnv,
    /// Print every event to stderr as it happens (`VEXFS_SIM_TRACE=1`), to debug a seed.
    print_trace: bool,
    flips_on_image: u64,
    /// Log segments in the engine's extents after the last operation.
    log_segments: usize,
    /// Syncs since the image was last opened.
    session_syncs: u64,
    /// Operations since the whole state was last verified (long sessions verify every few).
    unverified: u64,
    /// Step of the last completed sync, checkpoint or recovery (failure reports).
    synced_step: u64,
    /// Counters.
    pub stats: WorldStats,
}

const EPOCH: i64 = 1_700_000_000;

fn is_io(e: &Error) -> bool {
    matches!(e, Error::Io { .. })
}

impl World {
    /// A world for `scen`: a fresh image on an empty disk.
    pub fn new(scen: Scenario) -> Result<World, Failure> {
        let mut rng = Rng::new(scen.seed).fork(2);
        let disk = SimDisk::new(scen.faults, scen.latency_ns, rng.fork(3));
        let mut w = World {
            scen,
            disk,
            fs: None,
            model: Model::new(),
            window: vec![Model::new()],
            history: vec![digest(&dump_model(&Model::new()))],
            rng,
            step: 0,
            time: 0,
            trace: Fnv::new(),
            print_trace: std::env::var_os("VEXFS_SIM_TRACE").is_some(),
            flips_on_image: 0,
            log_segments: 0,
            session_syncs: 0,
            unverified: 0,
            synced_step: 0,
            stats: WorldStats::default(),
        };
        w.fresh_image("start")?;
        Ok(w)
    }

    fn clock(&self) -> Clock {
        Clock::Fixed(Timestamp::new(EPOCH + self.time, 0))
    }

    fn fail(&self, op: &str, what: impl Into<String>) -> Failure {
        Failure {
            step: self.step,
            op: op.to_string(),
            what: what.into(),
        }
    }

    fn fs(&self) -> &Vexfs {
        self.fs
            .as_ref()
            .expect("the world always holds an open filesystem between operations")
    }

    fn fs_mut(&mut self) -> &mut Vexfs {
        self.fs
            .as_mut()
            .expect("the world always holds an open filesystem between operations")
    }

    /// The simulated disk (for latency and statistics).
    pub fn disk(&self) -> &Arc<SimDisk> {
        &self.disk
    }

    /// The current model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Operations applied so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Digest of everything that happened so far (operations, results, recoveries).
    pub fn trace_hash(&self) -> u64 {
        self.trace.finish()
    }

    /// Digest of the durable image bytes.
    pub fn image_hash(&self) -> u64 {
        let mut h = Fnv::new();
        h.write(&self.disk.durable());
        h.finish()
    }

    fn note(&mut self, event: &str) {
        self.trace.write(event.as_bytes());
        self.trace.write(b"\n");
        if self.print_trace {
            eprintln!("trace: {event}");
        }
    }

    /// Starts over on an empty image (at the start, or after detected corruption).
    fn fresh_image(&mut self, why: &str) -> Result<(), Failure> {
        if let Some(old) = self.fs.take() {
            self.disk.kill_handles();
            drop(old);
        }
        self.disk.wipe();
        let cfg = EngineConfig {
            seed: self.scen.seed,
            log_segment_blocks: self.scen.log_segment_blocks,
            ..EngineConfig::default()
        };
        let fs = Vexfs::create_on(self.disk.handle(), cfg, self.clock())
            .map_err(|e| self.fail(why, format!("creating an image failed: {e}")))?;
        self.fs = Some(fs);
        self.new_session();
        self.model = Model::new();
        self.window = vec![Model::new()];
        self.synced_step = self.step;
        // The empty filesystem is the first state this image goes through (a later flip may
        // bring it back: the first checkpoint's superblock slot outlives newer damaged ones).
        self.history = vec![digest(&dump_model(&self.model))];
        self.flips_on_image = 0;
        self.guard_refresh();
        self.note(&format!("fresh image ({why})"));
        Ok(())
    }

    /// Random faults the scenario injects before an operation: a crash, a bit flip.
    pub fn inject(&mut self) -> Result<(), Failure> {
        let f = self.scen.faults;
        if self.rng.chance(f.flip)
            && let Some(at) = self.disk.flip()
        {
            self.flips_on_image += 1;
            self.stats.flips += 1;
            self.disk.guard_disable();
            self.note(&format!("flip at byte {at}"));
        }
        if self.rng.chance(f.crash) {
            let mode = CrashMode::random(&mut self.rng);
            let why = format!("crash {mode:?}");
            self.reopen(Some(mode), &why)?;
            self.guard_check(&why)?;
            if self.scen.long && self.rng.chance(250_000) {
                // Crash the recovery's result at once: it must come back the same.
                self.stats.double_crashes += 1;
                let mode = CrashMode::random(&mut self.rng);
                let why = format!("crash {mode:?} right after a recovery");
                self.reopen(Some(mode), &why)?;
                self.guard_check(&why)?;
            }
        }
        if f.cut > 0 && self.rng.chance(f.cut) {
            let calls = self.rng.range(1, 48) as u32;
            self.disk.schedule_cut(calls);
            self.note(&format!("power cut after {calls} more writes"));
        }
        Ok(())
    }

    /// Rebuilds the guard's protected set from the engine's extents (after a durability
    /// point). Not on an image with injected damage: the engine may then drop what it cannot
    /// read, and reuse its blocks.
    fn guard_refresh(&mut self) {
        if self.flips_on_image > 0 {
            return;
        }
        if let Some(fs) = self.fs.as_ref() {
            self.disk.guard_refresh(&fs.engine().image_extents());
        }
    }

    /// Fails `desc` if the guard saw a durable block overwritten.
    fn guard_check(&mut self, desc: &str) -> Result<(), Failure> {
        self.stats.guard_checks = self.disk.guard_stats().checked;
        match self.disk.take_guard_violation() {
            Some(what) if self.flips_on_image == 0 => Err(self.fail(
                desc,
                format!(
                    "durable block overwritten (last completed sync at step {}): {what}",
                    self.synced_step
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A new session began (the image was created or opened): per-session counters restart.
    fn new_session(&mut self) {
        self.session_syncs = 0;
        self.log_segments = self.count_log_segments();
    }

    fn count_log_segments(&self) -> usize {
        self.fs.as_ref().map_or(0, |fs| {
            fs.engine()
                .image_extents()
                .iter()
                .filter(|e| e.kind == ExtentKind::LogSegment)
                .count()
        })
    }

    /// Counts the log segments the operation just applied moved on to.
    /// (A checkpoint starts a new log and a recovery a new session: neither counts; a reopen
    /// changes the journal's counters, so it counts as a checkpoint here.)
    fn count_rolls(&mut self, checkpoints_before: Option<u64>) {
        let now = self.count_log_segments();
        let checkpoints = self
            .fs
            .as_ref()
            .and_then(|fs| fs.engine().journal_stats())
            .map(|s| s.checkpoints);
        if checkpoints == checkpoints_before {
            self.stats.segment_rolls += now.saturating_sub(self.log_segments) as u64;
        }
        self.log_segments = now;
    }

    fn checkpoints(&self) -> Option<u64> {
        self.fs
            .as_ref()
            .and_then(|fs| fs.engine().journal_stats())
            .map(|s| s.checkpoints)
    }

    /// Applies one operation to the filesystem and the model and checks every oracle.
    pub fn apply(&mut self, op: &FsOp) -> Result<(), Failure> {
        self.step += 1;
        self.time += 1;
        self.stats.ops += 1;
        let clock_now = Timestamp::new(EPOCH + self.time, 0);
        self.fs_mut().set_time(clock_now);
        let desc = ops::describe(op, &self.scen);
        self.note(&desc);
        let checkpoints = self.checkpoints();
        let r = match *op {
            FsOp::Sync | FsOp::Checkpoint => self.durability_point(op, &desc),
            FsOp::Crash(b) => self.reopen(Some(CrashMode::from_byte(b)), &desc),
            _ => self.operation(op, &desc),
        };
        // A violation explains a failure better than what followed from it.
        self.guard_check(&desc)?;
        r?;
        if self.checkpoints() != checkpoints {
            // The engine checkpointed on its own (or reopened): a new durable state.
            self.guard_refresh();
        }
        self.count_rolls(checkpoints);
        Ok(())
    }

    fn durability_point(&mut self, op: &FsOp, desc: &str) -> Result<(), Failure> {
        self.disk.set_armed(true);
        let r = match op {
            FsOp::Checkpoint => self.fs_mut().checkpoint(),
            _ => self.fs_mut().sync(),
        };
        self.disk.set_armed(false);
        let fired = self.disk.take_fired();
        self.note(&format!("-> {r:?}"));
        match r {
            Ok(()) => {
                if fired.write_side() {
                    return Err(self.fail(desc, format!("an injected fault ({fired:?}) was swallowed")));
                }
                self.stats.syncs += 1;
                self.session_syncs += 1;
                self.stats.session_syncs_max = self.stats.session_syncs_max.max(self.session_syncs);
                self.window = vec![self.model.clone()];
                self.synced_step = self.step;
                self.guard_refresh();
                Ok(())
            }
            Err(e) if is_io(&e) && fired.write_side() => {
                self.stats.faults_surfaced += 1;
                self.after_write_fault(desc)
            }
            // No room for a checkpoint: nothing changed, nothing new is durable.
            Err(Error::NoSpace) if fired.nospace > 0 => {
                self.stats.nospace_refusals += 1;
                self.verify(desc)
            }
            Err(e) => Err(self.fail(desc, format!("failed without an injected fault: {e}"))),
        }
    }

    /// After a write-side fault the journal refuses changes: reopen, sometimes after a crash.
    fn after_write_fault(&mut self, desc: &str) -> Result<(), Failure> {
        if self.disk.is_dead() {
            // The power went in the middle of the operation: the machine goes down with it.
            self.stats.cuts += 1;
            let mode = CrashMode::random(&mut self.rng);
            return self.reopen(Some(mode), &format!("{desc} (power cut: crash {mode:?})"));
        }
        self.stats.sticky_reopens += 1;
        let crash = self.rng.chance(500_000).then(|| CrashMode::random(&mut self.rng));
        self.reopen(crash, &format!("{desc} (reopen after an I/O error)"))
    }

    fn operation(&mut self, op: &FsOp, desc: &str) -> Result<(), Failure> {
        let mut next = self.model.clone();
        let want = model_apply(&self.scen, &mut next, op);
        let _ = self.disk.take_fired();
        self.disk.set_armed(true);
        let fs = self.fs.as_mut().expect("open between operations");
        let got = sut_apply(&self.scen, fs, op);
        self.disk.set_armed(false);
        let fired = self.disk.take_fired();
        let summary = match &got {
            Ok(Val::Hits(h)) => format!("-> {} hits", h.len()),
            Ok(Val::Data(d)) => format!("-> {} bytes", d.len()),
            Ok(Val::Unit) => "-> ok".to_string(),
            Err(e) => format!("-> {e:?}"),
        };
        self.note(&summary);
        if got.is_err() {
            self.stats.errors += 1;
        }
        match (&got, &want) {
            (Err(e), _) if fired.write_side() && is_io(e) => {
                // The operation may have been applied before its log write failed.
                self.stats.faults_surfaced += 1;
                if want.is_ok() {
                    self.window.push(next);
                }
                return self.after_write_fault(desc);
            }
            (Ok(_), _) if fired.write_side() => {
                return Err(self.fail(desc, format!("an injected fault ({fired:?}) was swallowed")));
            }
            (Err(Error::NoSpace), _) if fired.nospace > 0 => {
                // Refused for lack of room: the operation changed nothing (checked below
                // against the model as it was before it), and the image stays writable.
                self.stats.nospace_refusals += 1;
            }
            (Err(Error::Io { .. }), _) if fired.read_eio > 0 => {
                // A failed read must change nothing: the state is checked below.
                self.stats.faults_surfaced += 1;
            }
            (Err(Error::Corrupted { .. }), _) if self.flips_on_image > 0 => {
                self.stats.corruption_detected += 1;
                return self.fresh_image(&format!("{desc}: corruption detected"));
            }
            (Ok(Val::Hits(g)), Ok(Val::Hits(w))) => {
                if let FsOp::Search(s) = op
                    && !s.exact
                {
                    self.graph_oracle(desc, g, w, &next, s)?;
                } else if g != w {
                    return Err(self.fail(desc, format!("search returned {g:?}, the model {w:?}")));
                }
            }
            (g, w) if g == w => {
                if w.is_ok() {
                    self.model = next;
                    self.window.push(self.model.clone());
                }
            }
            (g, w) => {
                return Err(self.fail(desc, format!("returned {g:?}, the model says {w:?}")));
            }
        }
        if fired.any() && !fired.write_side() && self.fs().engine().journal_stats().is_none() {
            return Err(self.fail(desc, "the engine lost its image"));
        }
        self.unverified += 1;
        if self.unverified < self.scen.verify_every && !fired.any() {
            return Ok(());
        }
        self.verify(desc)
    }

    /// Graph search: every hit a current member passing the filter at its true distance, as
    /// many hits as the exact search, recall counted.
    fn graph_oracle(
        &mut self,
        desc: &str,
        got: &[(String, f32)],
        exact: &[(String, f32)],
        model: &Model,
        s: &ops::SearchSel,
    ) -> Result<(), Failure> {
        let all = model_search(&self.scen, model, s, usize::MAX)
            .map_err(|e| self.fail(desc, format!("model search failed: {e}")))?;
        self.check_graph_hits(desc, got, exact, &all)
    }

    fn check_graph_hits(
        &mut self,
        desc: &str,
        got: &[(String, f32)],
        exact: &[(String, f32)],
        all: &[(String, f32)],
    ) -> Result<(), Failure> {
        self.stats.searches += 1;
        if got.len() != exact.len() {
            return Err(self.fail(
                desc,
                format!(
                    "graph search returned {} hits, exact search {}: {got:?} vs {exact:?}",
                    got.len(),
                    exact.len()
                ),
            ));
        }
        let kth = exact.last().map_or(f32::INFINITY, |w| w.1);
        let mut seen = std::collections::BTreeSet::new();
        for (path, d) in got {
            if !seen.insert(path) {
                return Err(self.fail(desc, format!("graph search returned {path} twice")));
            }
            match all.iter().find(|(p, _)| p == path) {
                Some((_, truth)) if truth == d => {}
                Some((_, truth)) => {
                    return Err(self.fail(desc, format!("graph hit {path} at distance {d}, truly {truth}")));
                }
                None => {
                    return Err(self.fail(
                        desc,
                        format!(
                            "graph search returned {path}, which is not a current member passing the filter"
                        ),
                    ));
                }
            }
            if *d <= kth {
                self.stats.recall.0 += 1;
            }
        }
        self.stats.recall.1 += exact.len() as u64;
        Ok(())
    }

    /// The state oracle after an operation: dumps equal, `check()`, searches in every collection.
    fn verify(&mut self, desc: &str) -> Result<(), Failure> {
        self.unverified = 0;
        let got = match dump_engine(self.fs()) {
            Ok(d) => d,
            Err(e) => return Err(self.fail(desc, format!("reading the state back failed: {e}"))),
        };
        let want = dump_model(&self.model);
        if got.iter().any(|l| l.contains("<corrupted>")) {
            if self.flips_on_image > 0 {
                self.stats.corruption_detected += 1;
                return self.fresh_image(&format!("{desc}: corruption detected"));
            }
            return Err(self.fail(desc, "a file reads as corrupted without any injected damage"));
        }
        if got != want {
            return Err(self.fail(
                desc,
                format!("state differs from the model: {}", first_difference(&got, &want)),
            ));
        }
        self.history.push(digest(&got));
        if let Err(p) = vexfs_core::check::check(self.fs().engine()) {
            return Err(self.fail(desc, format!("check() failed:\n{p}")));
        }
        self.search_oracle(desc)
    }

    /// Exact and graph search in every collection, with and without a filter.
    fn search_oracle(&mut self, desc: &str) -> Result<(), Failure> {
        let dirs: Vec<Id> = self.model.collections.keys().copied().collect();
        for dir in dirs {
            let Some(path) = model_path(&self.model, dir) else {
                continue;
            };
            let cfg = self.model.collections[&dir];
            for i in 0..2u64 {
                let mut r = Rng::new(self.step * 31 + i + dir);
                let values: Vec<f64> = (0..cfg.dim)
                    .map(|_| match cfg.elem {
                        vexfs_core::vector::ElemType::Bin => r.below(2) as f64,
                        _ => r.range(0, 4) as f64 - 2.0,
                    })
                    .collect();
                let mut qbytes = Vec::new();
                vexfs_core::vector::encode_values(cfg.elem, cfg.dim, &values, &mut qbytes)
                    .map_err(|e| self.fail(desc, format!("query encoding: {e}")))?;
                if cfg.check_vector(&qbytes).is_err() {
                    // A query the collection refuses as a vector (zero, in a cosine one) is
                    // refused as a query, with EINVAL, exact or not.
                    let q = Query::new(path.clone(), Target::Values(values.clone()));
                    match search_paths(self.fs(), &q) {
                        Err(Error::Invalid(_)) => continue,
                        r => return Err(self.fail(desc, format!("a refused query in {path} gave {r:?}"))),
                    }
                }
                let filter_src = FILTERS[((self.step + i) as usize) % FILTERS.len()];
                for filtered in [false, true] {
                    let filter = filtered.then(|| Filter::parse(filter_src).expect("fixed filters parse"));
                    let k = 1 + (self.step + i) as usize % 5;
                    let want = self.model.search(dir, &qbytes, k, filter.as_ref());
                    let all = self.model.search(dir, &qbytes, usize::MAX, filter.as_ref());
                    let to_paths = |v: Vec<(Vec<u8>, f32)>| -> Vec<(String, f32)> {
                        v.into_iter()
                            .map(|(n, d)| (format!("{path}/{}", String::from_utf8_lossy(&n)), d))
                            .collect()
                    };
                    let (want, all) = (to_paths(want), to_paths(all));
                    let mut q = Query::new(path.clone(), Target::Values(values.clone()));
                    q.k = k as u32;
                    q.filter = filter.clone();
                    q.exact = true;
                    let got = search_paths(self.fs(), &q)
                        .map_err(|e| self.fail(desc, format!("exact search in {path} failed: {e}")))?;
                    self.stats.searches += 1;
                    if got != want {
                        return Err(self.fail(
                            desc,
                            format!("exact search in {path} (filter {filtered}: {filter_src}) returned {got:?}, the model {want:?}"),
                        ));
                    }
                    q.exact = false;
                    let got = search_paths(self.fs(), &q)
                        .map_err(|e| self.fail(desc, format!("graph search in {path} failed: {e}")))?;
                    self.check_graph_hits(desc, &got, &want, &all)?;
                }
            }
        }
        Ok(())
    }

    /// Crash (if `crash` says how) or just restart, then recover and check the recovered state.
    pub fn reopen(&mut self, crash: Option<CrashMode>, why: &str) -> Result<(), Failure> {
        if let Some(old) = self.fs.take() {
            self.disk.kill_handles();
            drop(old);
        }
        if let Some(mode) = crash {
            self.disk.crash(mode);
            self.stats.crashes += 1;
        }
        self.note(&format!("reopen: {why}"));
        // fsck of the image as the crash left it (read-only: it writes nothing).
        match vexfs_core::engine::fsck(self.disk.handle(), false, false, |_, _, _| {}) {
            Ok(report) if report.problems.is_empty() => {}
            Ok(report) if self.flips_on_image > 0 => {
                self.stats.corruption_detected += 1;
                self.note(&format!("fsck: {:?}", report.problems));
            }
            Ok(report) => {
                return Err(self.fail(
                    why,
                    format!("fsck found problems in a crashed image: {:?}", report.problems),
                ));
            }
            Err(Error::Corrupted { .. }) if self.flips_on_image > 0 => {}
            Err(e) => return Err(self.fail(why, format!("fsck could not open the image: {e}"))),
        }
        let mut tries = 0;
        let fs = loop {
            self.disk.set_armed(true);
            let opts = OpenOptions {
                log_segment_blocks: self.scen.log_segment_blocks,
                ..OpenOptions::default()
            };
            let r = Vexfs::open_on(self.disk.handle(), opts, self.clock());
            self.disk.set_armed(false);
            let fired = self.disk.take_fired();
            match r {
                Ok(fs) => break fs,
                Err(e) if (is_io(&e) || e == Error::NoSpace) && fired.any() => {
                    tries += 1;
                    self.stats.open_retries += 1;
                    self.note(&format!("open failed: {e}"));
                    self.disk.kill_handles();
                    if e == Error::NoSpace {
                        self.disk.grow(1 << 20);
                    }
                    if self.disk.is_dead() || self.rng.chance(500_000) {
                        if self.disk.is_dead() {
                            self.stats.cuts += 1;
                        }
                        self.disk.crash(CrashMode::random(&mut self.rng));
                    }
                    if tries >= 3 {
                        self.disk.calm();
                    }
                }
                Err(Error::Corrupted { .. }) if self.flips_on_image > 0 => {
                    self.stats.corruption_detected += 1;
                    return self.fresh_image(&format!("{why}: open reported corruption"));
                }
                Err(e) => return Err(self.fail(why, format!("recovery failed: {e}"))),
            }
        };
        self.fs = Some(fs);
        self.new_session();
        self.guard_refresh();
        let got = dump_engine(self.fs())
            .map_err(|e| self.fail(why, format!("reading the recovered state: {e}")))?;
        let matched = self.window.iter().rposition(|m| dump_model(m) == got);
        match matched {
            Some(i) => {
                self.model = self.window.swap_remove(i);
                self.window = vec![self.model.clone()];
                // What recovery reached is durable: the next crash must not go back past it.
                self.synced_step = self.step;
                let replayed = self.fs().engine().journal_stats().map_or(0, |s| s.replayed);
                self.note(&format!(
                    "recovered state {i} of the window ({replayed} records replayed)"
                ));
            }
            None if self.flips_on_image > 0 => {
                let corrupted = got.iter().any(|l| l.contains("<corrupted>"));
                if !corrupted && !self.history.contains(&digest(&got)) {
                    return Err(self.fail(
                        why,
                        format!(
                            "after bit flips the recovered state is no state the model went through: {}",
                            first_difference(&got, &dump_model(&self.model))
                        ),
                    ));
                }
                self.stats.corruption_detected += 1;
                return self.fresh_image(&format!("{why}: damage lost data (detected or an earlier state)"));
            }
            None => {
                let oldest = dump_model(&self.window[0]);
                let newest = dump_model(&self.model);
                return Err(self.fail(
                    why,
                    format!(
                        "recovered state is not between the last completed sync (step {}, acknowledged) and the last operation ({} candidates): operations acknowledged as durable were lost or changed, or state that never existed appeared; vs last sync: {}; vs now: {}",
                        self.synced_step,
                        self.window.len(),
                        first_difference(&got, &oldest),
                        first_difference(&got, &newest)
                    ),
                ));
            }
        }
        if let Err(p) = vexfs_core::check::check(self.fs().engine()) {
            return Err(self.fail(why, format!("check() failed after recovery:\n{p}")));
        }
        self.history.push(digest(&got));
        Ok(())
    }

    /// Ends the run: clean close, reopen (nothing may be replayed), compare, recall floor.
    pub fn finish(&mut self) -> Result<(), Failure> {
        let desc = "finish: clean close and reopen";
        self.step += 1;
        self.disk.cancel_cut();
        let fs = self.fs.take().expect("open between operations");
        if let Err(e) = fs.close() {
            return Err(self.fail(desc, format!("clean close failed: {e}")));
        }
        self.window = vec![self.model.clone()];
        self.reopen(None, desc)?;
        self.guard_check(desc)?;
        let replayed = self.fs().engine().journal_stats().map_or(0, |s| s.replayed);
        if replayed != 0 && self.flips_on_image == 0 {
            return Err(self.fail(desc, format!("{replayed} records replayed after a clean close")));
        }
        self.verify(desc)?;
        let (found, total) = self.stats.recall;
        if total >= 20 {
            let recall = found as f64 / total as f64;
            if recall < self.scen.recall_floor {
                return Err(self.fail(
                    desc,
                    format!(
                        "graph recall {recall:.3} over the run is below the floor {}",
                        self.scen.recall_floor
                    ),
                ));
            }
        }
        Ok(())
    }
}

// ----- applying operations ---------------------------------------------------------------------

fn data_args(op: &FsOp, scen: &Scenario) -> (u64, Vec<u8>) {
    match op {
        FsOp::Write(_, o, d) => (u64::from(*o) % OFFSET_MAX, d.bytes(scen)),
        _ => (0, Vec::new()),
    }
}

fn falloc_mode(m: u8) -> FallocMode {
    [FallocMode::Allocate, FallocMode::KeepSize, FallocMode::PunchHole][usize::from(m % 3)]
}

fn shape_text(scen: &Scenario, s: u8) -> &str {
    &scen.shapes[usize::from(s) % scen.shapes.len()].text
}

fn search_query(scen: &Scenario, s: &ops::SearchSel) -> Result<Query, Error> {
    let mut q = Query::new(s.dir.path(scen), Target::Values(s.query.values(scen)));
    q.k = 1 + u32::from(s.k % 8);
    q.ef = s.ef.map(|e| 1 + u32::from(e) % 64);
    q.filter = match s.filter {
        Some(f) => Some(Filter::parse(FILTERS[usize::from(f) % FILTERS.len()])?),
        None => None,
    };
    q.exact = s.exact;
    Ok(q)
}

fn search_paths(fs: &Vexfs, q: &Query) -> Result<Vec<(String, f32)>, Error> {
    Ok(fs.search(q)?.into_iter().map(|r| (r.path, r.distance)).collect())
}

fn sut_apply(scen: &Scenario, fs: &mut Vexfs, op: &FsOp) -> Result<Val, Error> {
    let p = |s: &ops::PathSel| s.path(scen);
    let unit = |r: Result<(), Error>| r.map(|()| Val::Unit);
    match op {
        FsOp::Mkdir(a) => unit(fs.create_dir(p(a))),
        FsOp::Create(a) => unit(fs.mknod(p(a), FileKind::Regular, 0o644, 0)),
        FsOp::Mknod(a, s) => {
            let kind = if *s { FileKind::Socket } else { FileKind::Fifo };
            unit(fs.mknod(p(a), kind, 0o600, 0))
        }
        FsOp::Symlink(a) => unit(fs.symlink(DANGLING, p(a))),
        FsOp::Link(a, b) => unit(fs.hard_link(p(a), p(b))),
        FsOp::Unlink(a) => unit(fs.remove_file(p(a))),
        FsOp::Rmdir(a) => unit(fs.remove_dir(p(a))),
        FsOp::Rename(a, b, m) => unit(fs.rename_with(p(a), p(b), ops::rename_mode(*m))),
        FsOp::Write(a, ..) => {
            let (off, data) = data_args(op, scen);
            fs.write_at(p(a), off, &data).map(|_| Val::Unit)
        }
        FsOp::Truncate(a, s) => unit(fs.set_len(p(a), u64::from(*s) % OFFSET_MAX)),
        FsOp::Fallocate(a, o, l, m) => {
            unit(fs.fallocate(p(a), u64::from(*o), u64::from(*l), falloc_mode(*m)))
        }
        FsOp::Chmod(a, m) => {
            let attr = SetAttr {
                perm: Some(u32::from(*m) & 0o7777),
                ..SetAttr::default()
            };
            fs.set_attr(p(a), attr).map(|_| Val::Unit)
        }
        FsOp::SetXattr(a, k, v, m) => unit(fs.set_xattr_with(
            p(a),
            KEYS[usize::from(*k) % KEYS.len()],
            VALUES[usize::from(*v) % VALUES.len()],
            ops::xattr_mode(*m),
        )),
        FsOp::RemoveXattr(a, k) => unit(fs.remove_xattr(p(a), KEYS[usize::from(*k) % KEYS.len()])),
        FsOp::SetIndex(a, s) => unit(fs.set_xattr(p(a), INDEX_XATTR, shape_text(scen, *s))),
        FsOp::RemoveIndex(a) => unit(fs.remove_xattr(p(a), INDEX_XATTR)),
        FsOp::SetVector(a, v) => unit(fs.set_vector_bytes(p(a), &v.bytes(scen))),
        FsOp::RemoveVector(a) => unit(fs.remove_vector(p(a))),
        FsOp::Read(a) => fs.read(p(a)).map(Val::Data),
        FsOp::Search(s) => {
            let q = search_query(scen, s)?;
            search_paths(fs, &q).map(Val::Hits)
        }
        FsOp::Sync | FsOp::Checkpoint | FsOp::Crash(_) => Ok(Val::Unit),
    }
}

/// The model's answer to a search, up to `k` hits (`usize::MAX`: every passing member).
fn model_search(
    scen: &Scenario,
    m: &Model,
    s: &ops::SearchSel,
    k: usize,
) -> Result<Vec<(String, f32)>, Error> {
    let q = search_query(scen, s)?;
    let dir = m.resolve(q.dir.as_bytes())?;
    m.dir(dir)?;
    let cfg = m
        .collection(dir)
        .ok_or_else(|| Error::query(format!("{} is not a collection", q.dir)))?;
    let Target::Values(values) = &q.target else {
        return Err(Error::Invalid("model queries are values"));
    };
    let mut bytes = Vec::new();
    vexfs_core::vector::encode_values(cfg.elem, cfg.dim, values, &mut bytes)?;
    // A query the collection would refuse as a vector (zero, in a cosine one) is refused.
    cfg.check_vector(&bytes)?;
    let k = if k == usize::MAX { k } else { q.k as usize };
    Ok(m.search(dir, &bytes, k, q.filter.as_ref())
        .into_iter()
        .map(|(n, d)| (format!("{}/{}", q.dir, String::from_utf8_lossy(&n)), d))
        .collect())
}

fn model_apply(scen: &Scenario, m: &mut Model, op: &FsOp) -> Result<Val, Error> {
    let p = |s: &ops::PathSel| s.path(scen).into_bytes();
    let unit = |r: Result<(), Error>| r.map(|()| Val::Unit);
    match op {
        FsOp::Mkdir(a) => unit(m.mkdir(&p(a))),
        FsOp::Create(a) => unit(m.create(&p(a))),
        FsOp::Mknod(a, s) => unit(m.mknod(&p(a), *s)),
        FsOp::Symlink(a) => unit(m.symlink(&p(a))),
        FsOp::Link(a, b) => unit(m.link(&p(a), &p(b))),
        FsOp::Unlink(a) => unit(m.remove(&p(a), false)),
        FsOp::Rmdir(a) => unit(m.remove(&p(a), true)),
        FsOp::Rename(a, b, mode) => unit(m.rename(&p(a), &p(b), ops::rename_mode(*mode))),
        FsOp::Write(a, ..) => {
            let (off, data) = data_args(op, scen);
            unit(m.write(&p(a), off, &data))
        }
        FsOp::Truncate(a, s) => unit(m.truncate(&p(a), u64::from(*s) % OFFSET_MAX)),
        FsOp::Fallocate(a, o, l, mode) => {
            unit(m.fallocate(&p(a), u64::from(*o), u64::from(*l), falloc_mode(*mode)))
        }
        FsOp::Chmod(a, mode) => unit(m.chmod(&p(a), u32::from(*mode))),
        FsOp::SetXattr(a, k, v, mode) => unit(m.setxattr(
            &p(a),
            KEYS[usize::from(*k) % KEYS.len()].as_bytes(),
            VALUES[usize::from(*v) % VALUES.len()].as_bytes(),
            ops::xattr_mode(*mode),
        )),
        FsOp::RemoveXattr(a, k) => unit(m.removexattr(&p(a), KEYS[usize::from(*k) % KEYS.len()].as_bytes())),
        FsOp::SetIndex(a, s) => unit(m.setxattr(
            &p(a),
            INDEX_XATTR,
            shape_text(scen, *s).as_bytes(),
            vexfs_core::XattrMode::Any,
        )),
        FsOp::RemoveIndex(a) => unit(m.removexattr(&p(a), INDEX_XATTR)),
        FsOp::SetVector(a, v) => {
            unit(m.setxattr(&p(a), VECTOR_XATTR, &v.bytes(scen), vexfs_core::XattrMode::Any))
        }
        FsOp::RemoveVector(a) => unit(m.removexattr(&p(a), VECTOR_XATTR)),
        FsOp::Read(a) => m.read(&p(a)).map(|d| Val::Data(d.to_vec())),
        FsOp::Search(s) => model_search(scen, m, s, 0).map(Val::Hits),
        FsOp::Sync | FsOp::Checkpoint | FsOp::Crash(_) => Ok(Val::Unit),
    }
}

// ----- state dumps ---------------------------------------------------------------------------

/// One digest of a dump.
fn digest(lines: &[String]) -> u64 {
    let mut h = Fnv::new();
    for l in lines {
        h.write(l.as_bytes());
        h.write(b"\n");
    }
    h.finish()
}

fn first_difference(got: &[String], want: &[String]) -> String {
    let i = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "line {i}: filesystem {:?}, model {:?} ({} vs {} lines)",
        got.get(i),
        want.get(i),
        got.len(),
        want.len()
    )
}

fn data_digest(data: &[u8]) -> String {
    let mut h = Fnv::new();
    h.write(data);
    format!("size={} data={:016x}", data.len(), h.finish())
}

/// One attribute, bytes escaped so that distinct values always print differently (a lossy
/// UTF-8 conversion would print every invalid byte as U+FFFD and make different binary vectors
/// look equal).
fn xattr_line(path: &str, name: &[u8], value: &[u8]) -> String {
    format!(
        "{path} xattr {}=\"{}\"",
        name.escape_ascii(),
        value.escape_ascii()
    )
}

/// The observable state of the filesystem, one line per fact, in a canonical order (pre-order,
/// names ascending); hard links share a number given in order of first appearance.
pub fn dump_engine(fs: &Vexfs) -> Result<Vec<String>, Error> {
    let e = fs.engine();
    let mut out = Vec::new();
    let mut ids: std::collections::BTreeMap<Ino, usize> = std::collections::BTreeMap::new();
    let mut stack = vec![(ROOT_INO, String::new())];
    while let Some((ino, path)) = stack.pop() {
        let attr = e.getattr(ino)?;
        let shown = if path.is_empty() { "/" } else { &path };
        let mut line = format!(
            "{shown} {:?} perm={:o} nlink={}",
            attr.kind, attr.perm, attr.nlink
        );
        match attr.kind {
            FileKind::Directory => {
                let mut entries = Vec::new();
                e.readdir(ino, 2, |d| {
                    entries.push((d.name.to_vec(), d.ino));
                    true
                })?;
                entries.sort();
                for (name, child) in entries.into_iter().rev() {
                    stack.push((child, format!("{path}/{}", String::from_utf8_lossy(&name))));
                }
            }
            FileKind::Regular => {
                let next = ids.len();
                let id = *ids.entry(ino).or_insert(next);
                let mut buf = vec![0u8; attr.size as usize];
                match e.read(ino, 0, &mut buf) {
                    Ok(n) if n == buf.len() => line.push_str(&format!(" id={id} {}", data_digest(&buf))),
                    Ok(n) => line.push_str(&format!(" id={id} short read {n}")),
                    Err(Error::Corrupted { .. }) => line.push_str(&format!(" id={id} <corrupted>")),
                    Err(err) => line.push_str(&format!(" id={id} <{err}>")),
                }
            }
            FileKind::Symlink => {
                let next = ids.len();
                let id = *ids.entry(ino).or_insert(next);
                line.push_str(&format!(
                    " id={id} target={}",
                    String::from_utf8_lossy(e.readlink(ino)?)
                ));
            }
            kind => {
                let next = ids.len();
                let id = *ids.entry(ino).or_insert(next);
                line.push_str(&format!(" id={id} {kind:?}"));
            }
        }
        out.push(line);
        let mut names = Vec::new();
        e.listxattr(ino, &mut names)?;
        for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            out.push(xattr_line(shown, name, e.getxattr(ino, name)?));
        }
        if e.collection(ino).is_some() {
            out.push(format!("{shown} collection"));
        }
    }
    Ok(out)
}

/// The model's state in the same form as [`dump_engine`].
pub fn dump_model(m: &Model) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids: std::collections::BTreeMap<Id, usize> = std::collections::BTreeMap::new();
    let mut stack = vec![(model::ROOT, String::new())];
    while let Some((id, path)) = stack.pop() {
        let Some(n) = m.nodes.get(&id) else { continue };
        let shown = if path.is_empty() { "/" } else { &path };
        let mut line = String::new();
        match &n.kind {
            Kind::Dir(d) => {
                let subdirs = d.values().filter(|c| m.is_dir(**c)).count();
                line.push_str(&format!(
                    "{shown} Directory perm={:o} nlink={}",
                    n.perm,
                    2 + subdirs
                ));
                for (name, &child) in d.iter().rev() {
                    stack.push((child, format!("{path}/{}", String::from_utf8_lossy(name))));
                }
            }
            kind => {
                let next = ids.len();
                let num = *ids.entry(id).or_insert(next);
                let (k, body) = match kind {
                    Kind::File(data) => ("Regular", data_digest(data)),
                    Kind::Symlink => ("Symlink", format!("target={}", String::from_utf8_lossy(DANGLING))),
                    Kind::Special(true) => ("Socket", "Socket".to_string()),
                    _ => ("Fifo", "Fifo".to_string()),
                };
                line.push_str(&format!(
                    "{shown} {k} perm={:o} nlink={} id={num} {body}",
                    n.perm, n.names
                ));
            }
        }
        out.push(line);
        for (k, v) in &n.xattrs {
            out.push(xattr_line(shown, k, v));
        }
        if m.collections.contains_key(&id) {
            out.push(format!("{shown} collection"));
        }
    }
    out
}

/// The path of model node `id` (directories only have one).
fn model_path(m: &Model, id: Id) -> Option<String> {
    let mut stack = vec![(model::ROOT, String::new())];
    while let Some((cur, path)) = stack.pop() {
        if cur == id {
            return Some(if path.is_empty() { "/".to_string() } else { path });
        }
        if let Ok(d) = m.dir(cur) {
            for (name, &child) in d {
                stack.push((child, format!("{path}/{}", String::from_utf8_lossy(name))));
            }
        }
    }
    None
}

/// Runs `ops` operations of `scen` one after another (one client, no madsim): the sequential
/// core of a simulation, for plain tests and quick checks. Returns the world for its digests.
pub fn run_sequential(scen: Scenario, ops_total: u64) -> Result<World, (Failure, Box<World>)> {
    let mut w = World::new(scen).map_err(|f| {
        let w = World::new(Scenario::fuzz()).expect("an empty world");
        (f, Box::new(w))
    })?;
    let mut r = Rng::new(w.scen.seed).fork(100);
    while w.step() < ops_total {
        let step = w.inject().and_then(|()| {
            let op = ops::generate(&mut r, &w.scen, w.model());
            w.apply(&op)
        });
        if let Err(f) = step {
            return Err((f, Box::new(w)));
        }
    }
    match w.finish() {
        Ok(()) => Ok(w),
        Err(f) => Err((f, Box::new(w))),
    }
}
