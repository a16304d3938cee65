//! `vexfs-bench gen`: a seeded clustered Gaussian data set (see [`vexfs_benches::dataset`])
//! written as `base.fvecs`, `query.fvecs` and `gt.ivecs` (the exact `k` nearest base vectors of
//! each query, nearest first, by brute force with the core's f32 kernel).
//!
//! `--integer MAX` rounds the data to integers in `-MAX..=MAX` (one global scale,
//! `MAX / max|x|` over the base, as `ann` quantizes), so that the same file can be loaded into
//! `f32` and `i8`/`i16` collections holding identical values; the ground truth is computed on the
//! rounded data.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use vexfs_benches::clock::Stopwatch;
use vexfs_benches::dataset::{self, ClusterSpec};
use vexfs_benches::vecs::{self, Vectors};
use vexfs_core::vector::Metric;

/// Arguments of `gen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base vectors.
    #[arg(long)]
    n: usize,
    /// Query vectors.
    #[arg(long)]
    queries: usize,
    /// Dimension.
    #[arg(long)]
    dim: usize,
    /// Number of Gaussian clusters.
    #[arg(long, default_value_t = 100)]
    clusters: usize,
    /// Seed of the data set.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Neighbours per query in gt.ivecs.
    #[arg(long, default_value_t = 100)]
    k: usize,
    /// Standard deviation of each cluster around its centre (centres have variance 1).
    #[arg(long, default_value_t = 1.0)]
    spread: f32,
    /// Metric of the ground truth (l2, cosine, dot, l1).
    #[arg(long, default_value = "l2", value_parser = crate::parse_metric)]
    metric: Metric,
    /// Round the data to integers in -MAX..=MAX (e.g. 127 for i8 collections).
    #[arg(long, value_name = "MAX")]
    integer: Option<u16>,
}

/// Runs `gen`.
pub fn run(a: &Args) -> Result<()> {
    if a.n == 0 || a.queries == 0 || a.dim == 0 || a.clusters == 0 || a.k == 0 {
        bail!("--n, --queries, --dim, --clusters and --k must all be at least 1");
    }
    if !(a.spread.is_finite() && a.spread >= 0.0) {
        bail!("--spread must be a finite number >= 0");
    }
    if a.metric == Metric::Hamming {
        bail!("gen writes float vectors; ann binarizes them for hamming (use l2 here)");
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}: cannot create", a.out.display()))?;
    let spec = ClusterSpec {
        n: a.n,
        queries: a.queries,
        dim: a.dim,
        clusters: a.clusters,
        spread: a.spread,
        seed: a.seed,
    };
    let (mut base, mut queries) = dataset::clustered(&spec);
    if let Some(max) = a.integer {
        let max = f64::from(max.max(1));
        let top = base.data.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
        let scale = if top > 0.0 { max / top } else { 1.0 };
        let round = |v: &mut Vectors| {
            for x in &mut v.data {
                *x = (f64::from(*x) * scale).round().clamp(-max, max) as f32;
            }
        };
        round(&mut base);
        round(&mut queries);
        println!("gen: rounded to integers, x -> round(x * {scale:.6}) clamped to -{max}..={max}");
    }
    let sw = Stopwatch::start();
    let bar = crate::progress(a.queries as u64, "ground truth");
    let tick = |done: u64| {
        if done.is_multiple_of(64) {
            bar.set_position(done);
        }
    };
    let gt = dataset::exact_knn(&base, &queries, a.k, a.metric, &tick);
    bar.finish_and_clear();
    let e = sw.elapsed();
    vecs::write_fvecs(&a.out.join("base.fvecs"), &base)?;
    vecs::write_fvecs(&a.out.join("query.fvecs"), &queries)?;
    vecs::write_ivecs(&a.out.join("gt.ivecs"), &gt)?;
    println!(
        "gen: {} base + {} queries, dim {}, {} clusters (spread {}), seed {}, gt k={} {} ({:.1} s wall) -> {}",
        a.n,
        a.queries,
        a.dim,
        a.clusters,
        a.spread,
        a.seed,
        gt.dim,
        a.metric.name(),
        e.wall,
        a.out.display()
    );
    Ok(())
}
