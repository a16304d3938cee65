//! `vexfs-bench ann`: recall and speed of a collection's HNSW index.
//!
//! The index is built single-threaded through the core's public API, exactly as a collection
//! builds it: [`IndexConfig::index_params`] → [`Hnsw::new`], then one [`Hnsw::insert`] per base
//! vector (label = its position in the file), after one [`Hnsw::reserve`] for all of them (the
//! peers are told the element count up front too). Data is converted to the requested element
//! type as [`vexfs_benches::ann`] documents.
//!
//! Ground truth: the `--gt` file when given (its first `k` ids per query); otherwise exact
//! search through the same index ([`Hnsw::search_exact`]), whose tie-aware result lets any
//! label tied with the k-th distance count. Filtered runs (`--filter-selectivity P`) tag each
//! file pseudo-randomly so that a fraction `P` matches `tag = 1`, search with that filter as
//! the engine does (a callback that evaluates the parsed filter on the file's metadata) and
//! always take the exact filtered search as ground truth.
//!
//! Search: for each `ef`, every query once, one at a time on this thread, with a warmed-up
//! [`SearchScratch`]; with `--runs R` the sweep is repeated and the fastest run of each `ef`
//! (by CPU time) is reported. Recall is the same in every run (the index is deterministic).
//!
//! Threads (`--threads T`): the queries are dealt round-robin to T threads, each searching the
//! same index (`&Hnsw`, shared read-only) with its own scratch. `qps_wall` is then queries per
//! wall second of the whole sweep, the figure that shows scaling on an idle machine; `qps` stays
//! CPU-based, queries per CPU second of the process times T, so it equals `qps_wall` when every
//! thread has a core to itself, and it drops below T times the one-thread figure only when the
//! threads slow each other down (shared caches, memory bandwidth), not when other work takes
//! the cores. Builds are always single-threaded.

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::PathBuf;
use vexfs_benches::ann::{self as bench, Encoded, TagFilter};
use vexfs_benches::clock::{Elapsed, Stopwatch};
use vexfs_benches::vecs::{self, IdRows};
use vexfs_core::IndexConfig;
use vexfs_core::index::{Hnsw, Neighbor, Quantization, SearchScratch};
use vexfs_core::vector::{ElemType, Metric};

/// Arguments of `ann`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base vectors (.fvecs).
    #[arg(long)]
    base: PathBuf,
    /// Query vectors (.fvecs).
    #[arg(long)]
    query: PathBuf,
    /// Ground truth (.ivecs, nearest first); computed by exact search when absent.
    #[arg(long)]
    gt: Option<PathBuf>,
    /// Distance metric: l2, cosine, dot, l1, or hamming (with --type bin).
    #[arg(long, default_value = "l2", value_parser = crate::parse_metric)]
    metric: Metric,
    /// Element type of the collection: f32, f16, i8, i16 or bin.
    #[arg(long = "type", default_value = "f32", value_parser = crate::parse_type)]
    elem: ElemType,
    /// HNSW links per node.
    #[arg(long, default_value_t = 16)]
    m: u32,
    /// HNSW candidate list size while inserting.
    #[arg(long, default_value_t = 200)]
    ef_construction: u32,
    /// Quantization of the collection: none, or sq8 (the walk scores 8-bit codes and the best
    /// `--rerank` candidates are re-scored exactly).
    #[arg(long, default_value = "none", value_parser = parse_quantization)]
    quantization: Quantization,
    /// Candidates a quantized search re-scores exactly (default: the collection default).
    #[arg(long, value_name = "R")]
    rerank: Option<u32>,
    /// Search breadths to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,20,40,80,160,320")]
    ef: Vec<u32>,
    /// Neighbours per query.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Search with a filter that a fraction P (0 < P <= 1) of the files matches.
    #[arg(long, value_name = "P")]
    filter_selectivity: Option<f64>,
    /// Repeat the search sweep R times and report the fastest run of each ef.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Use only the first N queries.
    #[arg(long, value_name = "N")]
    queries: Option<usize>,
    /// Seed of the index's level generator (and of the filter tags).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One JSON object per line on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Search with T threads sharing the index (see the module documentation).
    #[arg(long, default_value_t = 1, value_name = "T")]
    threads: usize,
    /// Keep the built index in FILE (its checkpoint form) and, when FILE exists, decode it
    /// instead of building (build figures are then not measured): for profiling searches.
    #[arg(long, value_name = "FILE")]
    index: Option<PathBuf>,
}

/// Runs `ann`.
pub fn run(a: &Args) -> Result<()> {
    let base = vecs::read_fvecs(&a.base)?;
    let mut queries = vecs::read_fvecs(&a.query)?;
    if let Some(n) = a.queries {
        queries.data.truncate(n * queries.dim);
    }
    if base.dim != queries.dim {
        bail!(
            "{} has dimension {} but {} has {}",
            a.base.display(),
            base.dim,
            a.query.display(),
            queries.dim
        );
    }
    if a.k == 0 || a.runs == 0 || a.threads == 0 || queries.is_empty() || a.ef.is_empty() {
        bail!("-k, --runs, --threads, --ef and the number of queries must all be at least 1");
    }
    if let Some(p) = a.filter_selectivity
        && !(p > 0.0 && p <= 1.0)
    {
        bail!("--filter-selectivity must be in (0, 1], not {p}");
    }
    let cfg = IndexConfig {
        dim: u32::try_from(base.dim).context("dimension too large")?,
        metric: a.metric,
        elem: a.elem,
        m: a.m,
        ef_construction: a.ef_construction,
        ef_search: IndexConfig::EF_SEARCH_DEFAULT,
        quantization: a.quantization,
        rerank: a.rerank.unwrap_or(IndexConfig::RERANK_DEFAULT),
    };
    if a.rerank.is_some() && a.quantization == Quantization::None {
        bail!("--rerank applies only with --quantization sq8");
    }
    cfg.validate().context("invalid index configuration")?;
    let gt = match &a.gt {
        Some(p) => Some(check_gt(vecs::read_ivecs(p)?, p, queries.len(), base.len(), a.k)?),
        None => None,
    };
    let (eb, eq, conversion) = bench::encode(a.elem, &base, &queries)?;
    drop(base);
    let note = |s: String| {
        if a.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    };
    note(format!(
        "ann: {} base x {} queries, dim {}, type {} metric {}, m {} ef_construction {}, quantization {}{}, k {} ({})",
        eb.len(),
        eq.len(),
        cfg.dim,
        cfg.elem.name(),
        cfg.metric.name(),
        cfg.m,
        cfg.ef_construction,
        cfg.quantization.name(),
        if cfg.quantization == Quantization::None {
            String::new()
        } else {
            format!(" rerank {}", cfg.rerank)
        },
        a.k,
        conversion
    ));

    let params = cfg.index_params(a.seed);
    let cached = match &a.index {
        Some(p) if p.exists() => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let mut h = Hnsw::decode(params, &bytes).with_context(|| format!("decoding {}", p.display()))?;
            h.set_rerank(cfg.rerank as usize);
            if h.len() != eb.len() {
                bail!("{}: {} vectors, the base has {}", p.display(), h.len(), eb.len());
            }
            note(format!(
                "index: decoded {} (not built, so no build figures)",
                p.display()
            ));
            Some(h)
        }
        _ => None,
    };
    let loaded = cached.is_some();
    let (h, build) = match cached {
        Some(h) => (h, Elapsed::default()),
        None => build_index(&cfg, a.seed, &eb),
    };
    let n = eb.len();
    let mut encoded = Vec::new();
    h.encode(&mut encoded);
    if let (Some(p), false) = (&a.index, loaded) {
        std::fs::write(p, &encoded).with_context(|| format!("writing {}", p.display()))?;
    }
    let mem = h.memory_bytes() as f64 / n as f64;
    let enc = encoded.len() as f64 / n as f64;
    drop(encoded);
    let (ips, ips_wall) = build.rates(n);
    if loaded {
        // No build was measured.
    } else if a.json {
        crate::json_line(&json!({
            "phase": "build", "seconds": build.cpu, "inserts_per_s": ips, "bytes_per_vector": mem,
            "wall_seconds": build.wall, "inserts_per_s_wall": ips_wall,
            "encoded_bytes_per_vector": enc, "n": n, "dim": cfg.dim, "type": cfg.elem.name(),
            "metric": cfg.metric.name(), "m": cfg.m, "ef_construction": cfg.ef_construction,
            "quantization": cfg.quantization.name(), "rerank": cfg.rerank,
        }));
    } else {
        println!(
            "build: {:.2} s CPU ({:.2} s wall), {:.0} inserts/s ({:.0} wall), {:.1} bytes/vector in memory, {:.1} encoded",
            build.cpu, build.wall, ips, ips_wall, mem, enc
        );
    }

    let filter = match a.filter_selectivity {
        Some(p) => {
            let f = TagFilter::new(bench::tags(n, p, a.seed))?;
            let m = f.matching();
            note(format!(
                "filter: {:?}, {m} of {n} files match ({:.4}); ground truth: exact filtered search",
                bench::FILTER_EXPR,
                m as f64 / n as f64
            ));
            if m == 0 {
                bail!("no file matches at --filter-selectivity {p}");
            }
            Some(f)
        }
        None => None,
    };
    let mut scratch = SearchScratch::new();
    let mut out: Vec<Neighbor> = Vec::new();
    let truth: Vec<Vec<u64>> = match (&gt, &filter) {
        (Some(gt), None) => {
            note(format!("ground truth: {} (first {} ids)", path_of(&a.gt), a.k));
            gt.iter()
                .take(eq.len())
                .map(|r| r[..a.k].iter().map(|&i| i as u64).collect())
                .collect()
        }
        _ => {
            if gt.is_some() {
                note("ground truth: --gt ignored (it is unfiltered)".into());
            }
            let sw = Stopwatch::start();
            let bar = crate::progress(eq.len() as u64, "exact");
            let mut t = Vec::with_capacity(eq.len());
            for qi in 0..eq.len() {
                match &filter {
                    Some(f) => {
                        let mut eval = |l: u64| f.eval(l);
                        h.search_exact(eq.get(qi), a.k, Some(&mut eval), &mut scratch, &mut out);
                    }
                    None => h.search_exact(eq.get(qi), a.k, None, &mut scratch, &mut out),
                }
                t.push(out.iter().map(|nb| nb.label).collect());
                if qi % 64 == 0 {
                    bar.set_position(qi as u64);
                }
            }
            bar.finish_and_clear();
            let e = sw.elapsed();
            note(format!(
                "ground truth: exact search through the index, {:.0} queries/s ({:.2} s CPU)",
                e.rates(eq.len()).0,
                e.cpu
            ));
            t
        }
    };

    if !a.json {
        println!("{:>6} {:>10} {:>10} {:>10}", "ef", "recall", "qps", "qps wall");
    }
    let k = a.k;
    let mut found = vec![u64::MAX; eq.len() * k];
    for &ef in &a.ef {
        let ef = ef as usize;
        let mut best: Option<Elapsed> = None;
        for _ in 0..a.runs {
            let e = if a.threads == 1 {
                // Warm-up: sizes the scratch for this ef (a warmed-up search allocates nothing).
                search_one(&h, eq.get(0), k, ef, filter.as_ref(), &mut scratch, &mut out);
                let sw = Stopwatch::start();
                for qi in 0..eq.len() {
                    search_one(&h, eq.get(qi), k, ef, filter.as_ref(), &mut scratch, &mut out);
                    store(&mut found[qi * k..(qi + 1) * k], &out);
                }
                sw.elapsed()
            } else {
                sweep_threads(&h, &eq, k, ef, filter.as_ref(), a.threads, &mut found)
            };
            if best.is_none_or(|b| e.cpu < b.cpu) {
                best = Some(e);
            }
        }
        let mut e = best.unwrap_or_default();
        // Per-thread CPU seconds, so that `qps` is per thread-equivalent (module docs).
        e.cpu /= a.threads as f64;
        let recall = truth
            .iter()
            .enumerate()
            .map(|(qi, t)| bench::recall_one(&found[qi * k..(qi + 1) * k], t, k))
            .sum::<f64>()
            / eq.len() as f64;
        let (qps, qps_wall) = e.rates(eq.len());
        if a.json {
            crate::json_line(&json!({
                "phase": "search", "ef": ef, "recall": recall, "qps": qps, "qps_wall": qps_wall,
                "k": k, "queries": eq.len(), "filter_selectivity": a.filter_selectivity,
                "threads": a.threads,
            }));
        } else {
            println!("{ef:>6} {recall:>10.4} {qps:>10.0} {qps_wall:>10.0}");
        }
    }
    Ok(())
}

fn path_of(p: &Option<PathBuf>) -> String {
    p.as_ref().map_or_else(String::new, |p| p.display().to_string())
}

/// Builds the index over `base`, single-threaded, with a progress bar on stderr.
fn build_index(cfg: &IndexConfig, seed: u64, base: &Encoded) -> (Hnsw, Elapsed) {
    let n = base.len();
    let bar = crate::progress(n as u64, "build");
    let sw = Stopwatch::start();
    let mut h = Hnsw::new(cfg.index_params(seed));
    h.set_rerank(cfg.rerank as usize);
    h.reserve(n);
    for i in 0..n {
        h.insert(i as u64, base.get(i));
        if i % 1024 == 1023 {
            bar.set_position(i as u64 + 1);
        }
    }
    let e = sw.elapsed();
    bar.finish_and_clear();
    (h, e)
}

/// Copies the labels of `out` into a result slot (unused places `u64::MAX`).
fn store(slot: &mut [u64], out: &[Neighbor]) {
    slot.fill(u64::MAX);
    for (s, nb) in slot.iter_mut().zip(out) {
        *s = nb.label;
    }
}

/// A query's index and the labels found for it.
type Labeled = (usize, Vec<u64>);

/// One sweep over every query on `threads` threads (query `i` on thread `i % threads`), each
/// with its own warmed-up scratch; the clock starts once every thread is warmed up and ready.
fn sweep_threads(
    h: &Hnsw,
    eq: &Encoded,
    k: usize,
    ef: usize,
    filter: Option<&TagFilter>,
    threads: usize,
    found: &mut [u64],
) -> Elapsed {
    let ready = std::sync::Barrier::new(threads + 1);
    let done = std::sync::Barrier::new(threads + 1);
    let n = eq.len();
    let (e, results): (Elapsed, Vec<Vec<Labeled>>) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (ready, done) = (&ready, &done);
                s.spawn(move || {
                    let mut scratch = SearchScratch::new();
                    let mut out = Vec::new();
                    let mut mine: Vec<Labeled> = (t..n)
                        .step_by(threads)
                        .map(|qi| (qi, vec![u64::MAX; k]))
                        .collect();
                    search_one(h, eq.get(0), k, ef, filter, &mut scratch, &mut out);
                    ready.wait();
                    for (qi, slot) in &mut mine {
                        search_one(h, eq.get(*qi), k, ef, filter, &mut scratch, &mut out);
                        store(slot, &out);
                    }
                    done.wait();
                    mine
                })
            })
            .collect();
        ready.wait();
        let sw = Stopwatch::start();
        done.wait();
        let e = sw.elapsed();
        let r = workers
            .into_iter()
            .map(|w| w.join().expect("search thread panicked"))
            .collect();
        (e, r)
    });
    for (qi, slot) in results.into_iter().flatten() {
        found[qi * k..(qi + 1) * k].copy_from_slice(&slot);
    }
    e
}

fn search_one(
    h: &Hnsw,
    q: &[u8],
    k: usize,
    ef: usize,
    filter: Option<&TagFilter>,
    scratch: &mut SearchScratch,
    out: &mut Vec<Neighbor>,
) {
    match filter {
        Some(f) => {
            let mut eval = |l: u64| f.eval(l);
            h.search(q, k, ef, Some(&mut eval), scratch, out);
        }
        None => h.search(q, k, ef, None, scratch, out),
    }
}

/// Checks a ground-truth file against the queries and base it is used with.
fn check_gt(gt: IdRows, path: &std::path::Path, nq: usize, n: usize, k: usize) -> Result<IdRows> {
    let what = path.display();
    if gt.len() < nq {
        bail!("{what}: {} rows of ground truth for {nq} queries", gt.len());
    }
    if gt.dim < k {
        bail!("{what}: {} neighbours per query, but -k {k}", gt.dim);
    }
    if let Some(bad) = gt.data.iter().find(|&&i| i < 0 || i as usize >= n) {
        bail!("{what}: neighbour id {bad} is not a base vector (0..{n})");
    }
    Ok(gt)
}

/// Parses a quantization name (`none`, `sq8`).
fn parse_quantization(s: &str) -> Result<Quantization, String> {
    Quantization::parse(s).ok_or_else(|| format!("unknown quantization {s:?} (none, sq8)"))
}
