//! Distance kernels: the scalar reference, the portable fallback and the runtime-dispatched
//! kernel (`vector::kernel`, SIMD where the CPU has it), for every supported (type, metric) pair
//! at 128, 384, 768 and 1536 dimensions (bits, for `bin`).
//!
//! Benchmark ids are `<type>_<metric>/<implementation>/<dim>`, so a filter such as
//! `'f32_l2/.*/768'` or `'/(128|768)$'` selects a subset. Timings are short by design (see
//! `config`); `-- --test` runs each benchmark once as a smoke test.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use vexfs_benches::vector;
use vexfs_core::vector::{self as vec, ElemType, Metric, scalar, simd};

const DIMS: [u32; 4] = [128, 384, 768, 1536];

fn kernels(c: &mut Criterion) {
    for ty in ElemType::ALL {
        for metric in Metric::ALL.into_iter().filter(|&m| vec::supported(ty, m)) {
            let mut group = c.benchmark_group(format!("{}_{}", ty.name(), metric.name()));
            for dim in DIMS {
                let (a, b) = (vector(ty, dim, 1), vector(ty, dim, 2));
                let implementations = [
                    ("scalar", scalar::kernel(ty, metric)),
                    ("portable", simd::portable::kernel(ty, metric)),
                    ("dispatched", vec::kernel(ty, metric)),
                ];
                for (name, f) in implementations {
                    group.bench_with_input(BenchmarkId::new(name, dim), &(&a, &b), |bn, (a, b)| {
                        bn.iter(|| f(black_box(a), black_box(b)))
                    });
                }
            }
            group.finish();
        }
    }
}

/// Short runs: each kernel call takes nanoseconds, so a fraction of a second per benchmark
/// gives stable estimates, and the 204 benchmarks finish in about three minutes.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(150))
        .measurement_time(Duration::from_millis(400))
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = kernels
}
criterion_main!(benches);
