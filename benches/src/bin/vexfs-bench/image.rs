//! `vexfs-bench image`: what an image costs compared with memory.
//!
//! - `reopen`: creates an image holding one collection `/c` of `n` vectors (one file each,
//!   `/c/v000000000`, ...) through the API, closes it (a checkpoint), then times
//!   [`Vexfs::open`] several times, each in a fresh process (this binary again, with the hidden
//!   `--one-open`), and reports the median. A fresh process is what a user's reopen is: later
//!   opens in one process reuse memory the first one faulted in, and measured 1.6-2.0 s where
//!   first opens took 2.5 s and more. The build may use a lower
//!   `ef_construction` than the default to save time: opening decodes the stored graph and never
//!   rebuilds it, so its cost depends on the number of nodes and links, not on how carefully
//!   they were chosen. `--cold` evicts the image from the page cache before each open
//!   (`posix_fadvise(DONTNEED)` on the image file only).
//! - `ingest`: the same items (create the file, then set its vector with [`Vexfs::set_vector`])
//!   in the same order into an in-memory instance and into a new image with a [`Vexfs::sync`]
//!   every `--sync-every` API operations (each item is two: the create and the set), and
//!   reports both rates and their ratio. The image's final `sync` is timed; its `close` (a
//!   checkpoint) is reported separately.
//!
//! Vectors come from the clustered Gaussian generator ([`vexfs_benches::dataset`]).

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use vexfs::{FileKind, IndexConfig, Vexfs};
use vexfs_benches::clock::{Elapsed, Stopwatch, median};
use vexfs_benches::dataset::{self, ClusterSpec, bytes_of};
use vexfs_benches::vecs::Vectors;
use vexfs_core::vector::ElemType;

/// `image` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Create an image with N vectors, close it, and time opening it.
    Reopen(ReopenArgs),
    /// Ingest N items into an image (periodic syncs) and into memory; compare the rates.
    Ingest(IngestArgs),
}

/// Data and collection options shared by both subcommands.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Dimension of the vectors.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Gaussian clusters of the generated vectors.
    #[arg(long, default_value_t = 100)]
    clusters: usize,
    /// Seed of the generated vectors.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// HNSW links per node.
    #[arg(long, default_value_t = 16)]
    m: u32,
    /// One JSON object per line on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `image reopen`.
#[derive(Debug, clap::Args)]
pub struct ReopenArgs {
    /// Vectors in the image.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    #[command(flatten)]
    data: DataArgs,
    /// ef_construction of the collection (lower than the default 200 builds faster; opening
    /// never rebuilds the graph).
    #[arg(long, default_value_t = 40)]
    ef_construction: u32,
    /// Timed opens.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The image file (default: vexfs-bench-reopen-<n>x<dim>.img in the temporary directory).
    #[arg(long)]
    image: Option<PathBuf>,
    /// Reuse the image if it exists (made by an earlier run with the same options).
    #[arg(long)]
    reuse: bool,
    /// Evict the image from the page cache before each open.
    #[arg(long)]
    cold: bool,
    /// Open the existing image once in this process and print the time as one JSON line (what
    /// each timed run executes, in a child process).
    #[arg(long, hide = true)]
    one_open: bool,
}

/// Arguments of `image ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Items (files with a vector) to ingest.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    #[command(flatten)]
    data: DataArgs,
    /// ef_construction of the collection.
    #[arg(long, default_value_t = 200)]
    ef_construction: u32,
    /// Sync the image every this many API operations (an item is two).
    #[arg(long, default_value_t = 1000)]
    sync_every: u64,
    /// Ingest pairs (memory, then image) to run; the fastest of each is reported.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// The image file, overwritten (default: vexfs-bench-ingest.img in the temporary directory).
    #[arg(long)]
    image: Option<PathBuf>,
}

/// Runs an `image` subcommand.
pub fn run(cmd: &Cmd) -> Result<()> {
    match cmd {
        Cmd::Reopen(a) => reopen(a),
        Cmd::Ingest(a) => ingest(a),
    }
}

const DIR: &str = "/c";

fn file_name(i: usize) -> String {
    format!("{DIR}/v{i:09}")
}

fn config(d: &DataArgs, ef_construction: u32) -> Result<IndexConfig> {
    let cfg = IndexConfig {
        m: d.m,
        ef_construction,
        ..IndexConfig::new(u32::try_from(d.dim)?, ElemType::F32)
    };
    cfg.validate().context("invalid collection configuration")?;
    Ok(cfg)
}

fn data(d: &DataArgs, n: usize) -> Vectors {
    dataset::clustered(&ClusterSpec {
        n,
        queries: 0,
        dim: d.dim,
        clusters: d.clusters,
        spread: 1.0,
        seed: d.seed,
    })
    .0
}

fn out(json: bool, text: String, value: serde_json::Value) {
    if json {
        crate::json_line(&value);
    } else {
        println!("{text}");
    }
}

fn reopen(a: &ReopenArgs) -> Result<()> {
    if a.n == 0 || a.runs == 0 {
        bail!("--n and --runs must be at least 1");
    }
    let cfg = config(&a.data, a.ef_construction)?;
    let path = a.image.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("vexfs-bench-reopen-{}x{}.img", a.n, a.data.dim))
    });
    if a.one_open {
        let e = open_once(&path, a.n)?;
        crate::json_line(&json!({"seconds": e.wall, "cpu_seconds": e.cpu}));
        return Ok(());
    }
    if !(a.reuse && path.exists()) {
        create_image(a, &cfg, &path)?;
    }
    let size = std::fs::metadata(&path)
        .with_context(|| format!("{}: cannot stat", path.display()))?
        .len();
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for run in 0..a.runs {
        if a.cold {
            evict(&path)?;
        }
        let e = open_in_child(&path, a.n)?;
        out(
            a.data.json,
            format!("open {run}: {:.3} s wall, {:.3} s CPU", e.wall, e.cpu),
            json!({"phase": "open", "run": run, "seconds": e.wall, "cpu_seconds": e.cpu}),
        );
        walls.push(e.wall);
        cpus.push(e.cpu);
    }
    let (w, c) = (median(&walls), median(&cpus));
    out(
        a.data.json,
        format!(
            "reopen: {} vectors x {} f32, image {:.1} MiB, median of {} {} opens: {:.3} s wall, {:.3} s CPU (target <= 3 s)",
            a.n,
            a.data.dim,
            size as f64 / (1 << 20) as f64,
            a.runs,
            if a.cold { "cold" } else { "warm" },
            w,
            c
        ),
        json!({"phase": "reopen", "n": a.n, "dim": a.data.dim, "image_bytes": size, "runs": a.runs,
               "cold": a.cold, "median_seconds": w, "median_cpu_seconds": c}),
    );
    Ok(())
}

/// Opens the image at `path`, checks that it holds `n` vectors, closes it; returns the time
/// the open took.
fn open_once(path: &Path, n: usize) -> Result<Elapsed> {
    let sw = Stopwatch::start();
    let fs = Vexfs::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let e = sw.elapsed();
    let engine = fs.engine();
    let dir = engine.resolve(DIR.as_bytes(), true)?;
    let vectors = engine.collection(dir).map_or(0, |c| c.index.len());
    if vectors != n {
        bail!("{}: {DIR} holds {vectors} vectors, not {n}", path.display());
    }
    fs.close()?;
    Ok(e)
}

/// [`open_once`] in a fresh process: this binary with `--one-open`.
fn open_in_child(path: &Path, n: usize) -> Result<Elapsed> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let run = std::process::Command::new(exe)
        .args([
            "image",
            "reopen",
            "--reuse",
            "--one-open",
            "--n",
            &n.to_string(),
            "--image",
        ])
        .arg(path)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run the open in a child process")?;
    if !run.status.success() {
        bail!(
            "the child process opening {} failed ({})",
            path.display(),
            run.status
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&run.stdout).context("the child printed no JSON line")?;
    match (v["seconds"].as_f64(), v["cpu_seconds"].as_f64()) {
        (Some(wall), Some(cpu)) => Ok(Elapsed { wall, cpu }),
        _ => bail!("the child printed {v}"),
    }
}

/// Creates the image of `reopen` through the API, one file per vector.
fn create_image(a: &ReopenArgs, cfg: &IndexConfig, path: &Path) -> Result<()> {
    if path.exists() {
        std::fs::remove_file(path).with_context(|| format!("{}: cannot remove", path.display()))?;
    }
    let v = data(&a.data, a.n);
    let sw = Stopwatch::start();
    let mut fs = Vexfs::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
    fs.create_dir(DIR)?;
    fs.create_collection(DIR, cfg)?;
    let bar = crate::progress(a.n as u64, "create");
    for (i, row) in v.iter().enumerate() {
        let name = file_name(i);
        fs.mknod(&name, FileKind::Regular, 0o644, 0)?;
        fs.set_vector_bytes(&name, bytes_of(row))?;
        if i % 1024 == 1023 {
            bar.set_position(i as u64 + 1);
        }
    }
    bar.finish_and_clear();
    fs.close()?;
    let e = sw.elapsed();
    out(
        a.data.json,
        format!(
            "created {} with {} vectors ({cfg}) in {:.1} s wall, {:.1} s CPU",
            path.display(),
            a.n,
            e.wall,
            e.cpu
        ),
        json!({"phase": "create", "n": a.n, "seconds": e.wall, "cpu_seconds": e.cpu,
               "config": cfg.to_string()}),
    );
    Ok(())
}

/// Drops the image's pages from the page cache (written back first by the close before).
fn evict(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    f.sync_all()
        .with_context(|| format!("{}: cannot sync", path.display()))?;
    // SAFETY: a plain advisory call on a file descriptor we own for the duration of the call.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if r != 0 {
        bail!("{}: posix_fadvise failed ({r})", path.display());
    }
    Ok(())
}

/// One timed ingest: `(items, final sync or nothing)`, then the close.
fn ingest_once(fs: &mut Vexfs, v: &Vectors, sync_every: u64, cfg: &IndexConfig) -> Result<Elapsed> {
    fs.create_dir(DIR)?;
    fs.create_collection(DIR, cfg)?;
    let bar = crate::progress(v.len() as u64, "ingest");
    let mut ops = 0u64;
    let mut tick = |fs: &mut Vexfs| -> Result<()> {
        ops += 1;
        if ops.is_multiple_of(sync_every) {
            fs.sync()?;
        }
        Ok(())
    };
    let sw = Stopwatch::start();
    for (i, row) in v.iter().enumerate() {
        let name = file_name(i);
        fs.mknod(&name, FileKind::Regular, 0o644, 0)?;
        tick(fs)?;
        fs.set_vector(&name, row)?;
        tick(fs)?;
        if i % 1024 == 1023 {
            bar.set_position(i as u64 + 1);
        }
    }
    fs.sync()?;
    let e = sw.elapsed();
    bar.finish_and_clear();
    Ok(e)
}

fn ingest(a: &IngestArgs) -> Result<()> {
    if a.n == 0 || a.runs == 0 || a.sync_every == 0 {
        bail!("--n, --runs and --sync-every must be at least 1");
    }
    let cfg = config(&a.data, a.ef_construction)?;
    let path = a
        .image
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("vexfs-bench-ingest.img"));
    let v = data(&a.data, a.n);
    let mut best_mem: Option<Elapsed> = None;
    let mut best_img: Option<Elapsed> = None;
    let mut best_close = f64::INFINITY;
    let better = |b: &mut Option<Elapsed>, e: Elapsed| {
        if b.is_none_or(|b| e.wall < b.wall) {
            *b = Some(e);
        }
    };
    for run in 0..a.runs {
        let mut mem = Vexfs::in_memory();
        let m = ingest_once(&mut mem, &v, a.sync_every, &cfg)?;
        drop(mem);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("{}: cannot remove", path.display()))?;
        }
        let mut img = Vexfs::create(&path).with_context(|| format!("{}: cannot create", path.display()))?;
        let i = ingest_once(&mut img, &v, a.sync_every, &cfg)?;
        let sw = Stopwatch::start();
        img.close()?;
        let close = sw.elapsed().wall;
        best_close = best_close.min(close);
        let (mr, mrw) = m.rates(a.n);
        let (ir, irw) = i.rates(a.n);
        out(
            a.data.json,
            format!(
                "run {run}: memory {mrw:.0} items/s wall ({mr:.0} CPU), image {irw:.0} items/s wall ({ir:.0} CPU), close {close:.2} s"
            ),
            json!({"phase": "ingest_run", "run": run, "memory_items_per_s": mrw, "memory_items_per_cpu_s": mr,
                   "image_items_per_s": irw, "image_items_per_cpu_s": ir, "close_seconds": close}),
        );
        better(&mut best_mem, m);
        better(&mut best_img, i);
    }
    let (m, i) = (best_mem.unwrap_or_default(), best_img.unwrap_or_default());
    let (mr, mrw) = m.rates(a.n);
    let (ir, irw) = i.rates(a.n);
    out(
        a.data.json,
        format!(
            "ingest: {} items ({} f32, {cfg}), sync every {} operations; memory {:.0} items/s, image {:.0} items/s wall: ratio {:.1}% (CPU: {:.0} vs {:.0}, {:.1}%); image close {:.2} s (target >= 80%)",
            a.n,
            a.data.dim,
            a.sync_every,
            mrw,
            irw,
            100.0 * irw / mrw,
            mr,
            ir,
            100.0 * ir / mr,
            best_close
        ),
        json!({"phase": "ingest", "n": a.n, "dim": a.data.dim, "sync_every": a.sync_every,
               "memory_items_per_s": mrw, "image_items_per_s": irw, "ratio": irw / mrw,
               "memory_items_per_cpu_s": mr, "image_items_per_cpu_s": ir, "ratio_cpu": ir / mr,
               "close_seconds": best_close}),
    );
    Ok(())
}
