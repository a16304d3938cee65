//! Per-operation counters and latency histograms, for `/.vexfs/stats`.
//!
//! Each kind of request ([`FsOp`]) has a fixed histogram of atomic counters, so recording is
//! lock-free and allocation-free from any worker thread. Buckets are log-linear over
//! nanoseconds: four buckets per power of two, so a percentile read from a bucket is within 25%
//! of the true value. Percentiles are reported in microseconds, rounded up (a 300 ns `getattr`
//! shows as 1 µs), from the upper edge of the bucket the percentile falls in.
//!
//! What is measured is the handler's call into the core, including the wait for the engine
//! lock, not the time the request spent in the kernel.

use serde_json::{Map, Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The request kinds the frontend measures (one histogram each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FsOp {
    Lookup,
    Forget,
    Getattr,
    Setattr,
    Readlink,
    Mknod,
    Mkdir,
    Unlink,
    Rmdir,
    Symlink,
    Rename,
    Link,
    Open,
    Read,
    Write,
    Fsync,
    Readdir,
    Statfs,
    Setxattr,
    Getxattr,
    Listxattr,
    Removexattr,
    Create,
    Fallocate,
    Lseek,
    CopyFileRange,
    Search,
    Stats,
}

impl FsOp {
    const ALL: [FsOp; 28] = [
        FsOp::Lookup,
        FsOp::Forget,
        FsOp::Getattr,
        FsOp::Setattr,
        FsOp::Readlink,
        FsOp::Mknod,
        FsOp::Mkdir,
        FsOp::Unlink,
        FsOp::Rmdir,
        FsOp::Symlink,
        FsOp::Rename,
        FsOp::Link,
        FsOp::Open,
        FsOp::Read,
        FsOp::Write,
        FsOp::Fsync,
        FsOp::Readdir,
        FsOp::Statfs,
        FsOp::Setxattr,
        FsOp::Getxattr,
        FsOp::Listxattr,
        FsOp::Removexattr,
        FsOp::Create,
        FsOp::Fallocate,
        FsOp::Lseek,
        FsOp::CopyFileRange,
        FsOp::Search,
        FsOp::Stats,
    ];

    fn name(self) -> &'static str {
        match self {
            FsOp::Lookup => "lookup",
            FsOp::Forget => "forget",
            FsOp::Getattr => "getattr",
            FsOp::Setattr => "setattr",
            FsOp::Readlink => "readlink",
            FsOp::Mknod => "mknod",
            FsOp::Mkdir => "mkdir",
            FsOp::Unlink => "unlink",
            FsOp::Rmdir => "rmdir",
            FsOp::Symlink => "symlink",
            FsOp::Rename => "rename",
            FsOp::Link => "link",
            FsOp::Open => "open",
            FsOp::Read => "read",
            FsOp::Write => "write",
            FsOp::Fsync => "fsync",
            FsOp::Readdir => "readdir",
            FsOp::Statfs => "statfs",
            FsOp::Setxattr => "setxattr",
            FsOp::Getxattr => "getxattr",
            FsOp::Listxattr => "listxattr",
            FsOp::Removexattr => "removexattr",
            FsOp::Create => "create",
            FsOp::Fallocate => "fallocate",
            FsOp::Lseek => "lseek",
            FsOp::CopyFileRange => "copy_file_range",
            FsOp::Search => "search",
            FsOp::Stats => "stats",
        }
    }
}

/// Buckets per histogram: values up to 2^64 ns at four buckets per power of two.
const BUCKETS: usize = 4 * 63 + 4;

/// The bucket of a latency of `ns` nanoseconds.
fn bucket(ns: u64) -> usize {
    if ns < 4 {
        return ns as usize;
    }
    let e = 63 - ns.leading_zeros() as usize; // floor(log2(ns)) >= 2
    let sub = ((ns >> (e - 2)) & 3) as usize;
    4 * (e - 1) + sub
}

/// The largest value (in ns) that falls in bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let e = i / 4 + 1;
    let sub = (i % 4) as u128;
    let upper = ((4 + sub + 1) << (e - 2)) - 1;
    u64::try_from(upper).unwrap_or(u64::MAX)
}

struct Histogram {
    count: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            count: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// `(count, p50, p90, p99)`, percentiles in µs (`None` before the first sample).
    fn stats(&self) -> (u64, Option<u64>, Option<u64>, Option<u64>) {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let pct = |p: u64| -> Option<u64> {
            if total == 0 {
                return None;
            }
            // The smallest bucket whose cumulative count reaches p% of the total.
            let want = (total * p).div_ceil(100).max(1);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= want {
                    return Some(bucket_upper(i).div_ceil(1000).max(1));
                }
            }
            None
        };
        (total, pct(50), pct(90), pct(99))
    }
}

/// One histogram per [`FsOp`].
pub(crate) struct Metrics {
    ops: Vec<Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            ops: FsOp::ALL.iter().map(|_| Histogram::new()).collect(),
        }
    }

    /// Runs `f`, recording how long it took under `op`.
    pub(crate) fn time<T>(&self, op: FsOp, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let r = f();
        self.ops[op as usize].record(start.elapsed());
        r
    }

    /// Count and percentiles of every kind, by name, in the shape of the core's `OpStats`:
    /// `{"count":N,"p50_us":N,"p90_us":N,"p99_us":N}` (percentiles absent while count is 0).
    pub(crate) fn snapshot(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for op in FsOp::ALL {
            let (count, p50, p90, p99) = self.ops[op as usize].stats();
            let mut o = Map::new();
            o.insert("count".into(), json!(count));
            for (k, v) in [("p50_us", p50), ("p90_us", p90), ("p99_us", p99)] {
                if let Some(v) = v {
                    o.insert(k.into(), json!(v));
                }
            }
            out.insert(op.name().into(), Value::Object(o));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotone_and_bounded() {
        let mut last = 0;
        for ns in (0..100_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let b = bucket(ns);
            assert!(b < BUCKETS);
            assert!(b >= last || ns > 100_000, "bucket({ns}) went down");
            assert!(bucket_upper(b) >= ns, "value {ns} above its bucket's upper edge");
            // Within 25% above the value.
            assert!(bucket_upper(b) as f64 <= ns as f64 * 1.25 + 1.0, "{ns}");
            last = b;
        }
    }

    #[test]
    fn percentiles() {
        let h = Histogram::new();
        for i in 1..=100u64 {
            h.record(Duration::from_micros(i * 10));
        }
        let (count, p50, _, p99) = h.stats();
        assert_eq!(count, 100);
        let p50 = p50.unwrap();
        assert!((500..=625).contains(&p50), "{p50}");
        let p99 = p99.unwrap();
        assert!((990..=1250).contains(&p99), "{p99}");
        assert_eq!(Histogram::new().stats().1, None);
    }
}
