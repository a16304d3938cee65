//! Proof that the meter can fail: calls whose stack and allocations are known, measured before the
//! audit (by the binary) and by `cargo test -p stack-audit --release`.
//!
//! - a function with a 2 KiB frame must measure within ±10 % of 2 KiB, and pass the budget;
//! - a function with an 8 KiB frame must measure within ±10 % of 8 KiB, and be flagged over it;
//! - a known number of allocations of known sizes must be counted exactly, and a call that
//!   allocates nothing must count zero;
//! - a panic inside a measurement is caught and silenced.
//!
//! If any of these fails, the audit's numbers mean nothing, so the binary stops.

use crate::meter::Meter;
use std::hint::black_box;
use vexfs_core::limits::STACK_BUDGET_BYTES;

/// Relative tolerance of the frame-size checks.
const TOLERANCE: f64 = 0.10;

/// Uses a `N`-byte array on its own frame, through `black_box` so it cannot be optimised away.
#[inline(never)]
fn frame<const N: usize>(seed: u8) -> u8 {
    let mut a = [seed; N];
    black_box(&mut a);
    a[black_box(N / 2)]
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// What was measured, in words.
    pub detail: String,
    /// Whether it held.
    pub ok: bool,
}

fn within(measured: usize, expected: usize) -> bool {
    let m = measured as f64;
    let e = expected as f64;
    (m - e).abs() <= e * TOLERANCE
}

/// Measures the frame of a function with a `N`-byte array.
pub fn frame_bytes<const N: usize>(meter: &mut Meter) -> usize {
    meter.measure(|| frame::<N>(black_box(7))).sample.stack_bytes
}

/// Runs every check.
pub fn run(meter: &mut Meter) -> Vec<Check> {
    let mut checks = Vec::new();

    let empty = meter.measure(|| black_box(1u8)).sample;
    checks.push(Check {
        name: "empty call",
        detail: format!(
            "{} stack bytes, {} allocations",
            empty.stack_bytes, empty.allocations
        ),
        ok: empty.stack_bytes < 256 && empty.allocations == 0,
    });

    let small = frame_bytes::<2048>(meter);
    checks.push(Check {
        name: "2 KiB frame within ±10 % and within budget",
        detail: format!("{small} bytes (expected 2048 ± 205, budget {STACK_BUDGET_BYTES})"),
        ok: within(small, 2048) && small <= STACK_BUDGET_BYTES,
    });

    let big = frame_bytes::<8192>(meter);
    checks.push(Check {
        name: "8 KiB frame within ±10 % and flagged over budget",
        detail: format!("{big} bytes (expected 8192 ± 819, budget {STACK_BUDGET_BYTES})"),
        ok: within(big, 8192) && big > STACK_BUDGET_BYTES,
    });

    let allocs = meter.measure(|| {
        let a = black_box(vec![1u8; 1000]);
        let b = black_box(Box::new(black_box(7u64)));
        let mut c: Vec<u32> = Vec::with_capacity(4);
        c.extend_from_slice(black_box(&[1, 2, 3, 4]));
        c.reserve_exact(12);
        black_box((a, b, c))
    });
    let s = allocs.sample;
    checks.push(Check {
        name: "known allocations counted exactly",
        detail: format!(
            "{} allocations, {} bytes (expected 4, 1000 + 8 + 16 + 64)",
            s.allocations, s.alloc_bytes
        ),
        ok: s.allocations == 4 && s.alloc_bytes == 1000 + 8 + 16 + 64,
    });

    let mut reused: Vec<u64> = Vec::with_capacity(64);
    let none = meter.measure(|| {
        reused.clear();
        reused.extend(0..black_box(64u64));
        black_box(reused.len())
    });
    checks.push(Check {
        name: "allocation-free call counts zero",
        detail: format!("{} allocations", none.sample.allocations),
        ok: none.sample.allocations == 0 && none.value == Some(64),
    });

    let panicked = meter.measure(|| {
        if black_box(true) {
            panic!("deliberate panic inside a measurement");
        }
    });
    checks.push(Check {
        name: "panic caught quietly",
        detail: format!("{} stack bytes", panicked.sample.stack_bytes),
        ok: panicked.panicked() && panicked.sample.stack_bytes < 16 * 1024,
    });

    checks
}
