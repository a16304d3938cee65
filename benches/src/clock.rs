//! Timing on a shared machine: every measurement records both wall-clock time and the CPU time
//! of the whole process. The development machine has two cores shared with other builds, so
//! wall-clock time is inflated by whatever else runs; CPU time (all threads of this process:
//! the benchmarks are single-threaded) is far less sensitive to that and is what rates are
//! computed from unless a report says otherwise.

use cpu_time::ProcessTime;
use std::time::Instant;

/// A running measurement.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu: ProcessTime,
}

/// What a [`Stopwatch`] measured, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Elapsed {
    /// Wall-clock seconds.
    pub wall: f64,
    /// CPU seconds of this process (user + system).
    pub cpu: f64,
}

impl Stopwatch {
    /// Starts measuring now.
    pub fn start() -> Self {
        Stopwatch {
            wall: Instant::now(),
            cpu: ProcessTime::now(),
        }
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Elapsed {
        Elapsed {
            cpu: self.cpu.elapsed().as_secs_f64(),
            wall: self.wall.elapsed().as_secs_f64(),
        }
    }
}

impl Elapsed {
    /// `count` per CPU second and per wall second.
    pub fn rates(&self, count: usize) -> (f64, f64) {
        let per = |s: f64| if s > 0.0 { count as f64 / s } else { f64::INFINITY };
        (per(self.cpu), per(self.wall))
    }
}

/// The median of `xs` (mean of the middle two for an even count); `NaN` when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_rates() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let e = Elapsed { wall: 2.0, cpu: 0.5 };
        assert_eq!(e.rates(10), (20.0, 5.0));
        let s = Stopwatch::start();
        let mut x = 0u64;
        for i in 0..100_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let e = s.elapsed();
        assert!(e.wall >= 0.0 && e.cpu >= 0.0 && x > 0);
    }
}
