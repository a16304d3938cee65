//! HNSW insert and search (issue 3), on 10,000 clustered Gaussian f32 vectors of 128 dimensions
//! (100 clusters, l2), with the collection defaults (`m` 16, `ef_construction` 200):
//!
//! - `hnsw/insert_10k`: one insert into an index of 10,000 vectors (each timing batch inserts
//!   fresh vectors into its own copy of the index, so the index grows by at most the batch);
//! - `hnsw/search_10k_k10_ef64`: one search, k = 10, ef = 64, cycling through 1,000 queries;
//! - `hnsw/search_10k_k10_ef64_filter10`: the same with a filter that 10% of the files match.
//!
//! The 10,000-vector index is built once before the benchmarks (a few seconds). `-- --test`
//! runs each benchmark once.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use vexfs_benches::ann::{TagFilter, tags};
use vexfs_benches::dataset::{ClusterSpec, bytes_of, clustered};
use vexfs_core::IndexConfig;
use vexfs_core::index::{Hnsw, SearchScratch};
use vexfs_core::vector::ElemType;

const N: usize = 10_000;
/// Vectors kept aside for the insert benchmark.
const SPARE: usize = 20_000;
const QUERIES: usize = 1_000;

fn index(c: &mut Criterion) {
    let (data, queries) = clustered(&ClusterSpec {
        n: N + SPARE,
        queries: QUERIES,
        dim: 128,
        clusters: 100,
        spread: 1.0,
        seed: 1,
    });
    let cfg = IndexConfig::new(128, ElemType::F32);
    let mut h = Hnsw::new(cfg.index_params(1));
    for i in 0..N {
        h.insert(i as u64, bytes_of(data.row(i)));
    }
    let mut g = c.benchmark_group("hnsw");

    g.bench_function("insert_10k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let batch = (iters - done).min(SPARE as u64);
                let mut copy = h.clone();
                let start = Instant::now();
                for j in 0..batch as usize {
                    copy.insert((N + j) as u64, black_box(bytes_of(data.row(N + j))));
                }
                total += start.elapsed();
                done += batch;
            }
            total
        })
    });

    let mut scratch = SearchScratch::new();
    let mut out = Vec::new();
    let mut qi = 0;
    g.bench_function("search_10k_k10_ef64", |b| {
        b.iter(|| {
            qi = (qi + 1) % QUERIES;
            h.search(
                black_box(bytes_of(queries.row(qi))),
                10,
                64,
                None,
                &mut scratch,
                &mut out,
            );
            out.len()
        })
    });

    let filter = TagFilter::new(tags(N, 0.1, 1)).unwrap_or_else(|e| panic!("filter: {e}"));
    g.bench_function("search_10k_k10_ef64_filter10", |b| {
        b.iter(|| {
            qi = (qi + 1) % QUERIES;
            let mut f = |l: u64| filter.eval(l);
            h.search(
                black_box(bytes_of(queries.row(qi))),
                10,
                64,
                Some(&mut f),
                &mut scratch,
                &mut out,
            );
            out.len()
        })
    });
    g.finish();
}

/// Short runs: an insert takes a fraction of a millisecond and a search tens of microseconds.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = index
}
criterion_main!(benches);
