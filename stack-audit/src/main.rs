//! `cargo run --release -p stack-audit [-- --quick] [--only TEXT] [--out DIR]`
//!
//! Proves the meter, builds the worst-case world, measures every core entry point, writes
//! `report.md` and `report.json` (into `--out`, else `$CARGO_TARGET_DIR/stack-audit`, else
//! `target/stack-audit` at the workspace root), prints the Markdown report, and exits 1 when the
//! audit fails (2 on bad usage or when the meter's self-test fails).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use stack_audit::meter::Meter;
use stack_audit::report::Report;
use stack_audit::world::{Size, World};
use stack_audit::{audit, selftest};

const USAGE: &str = "usage: stack-audit [--quick] [--only TEXT] [--out DIR] [--trap BYTES]

  --quick        a small world with the same shapes (seconds instead of minutes)
  --only TEXT    only the probes whose entry point or shape contains TEXT
  --out DIR      where to write report.md and report.json
  --trap BYTES   measure on a region of BYTES, so a call that needs more faults there; run under
                 `gdb -batch -ex run -ex bt --args ...` to see the call stack at that depth";

fn main() -> ExitCode {
    let mut quick = false;
    let mut only = None;
    let mut out = None;
    let mut trap = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--only" => only = args.next(),
            "--out" => out = args.next().map(PathBuf::from),
            "--trap" => match args.next().and_then(|b| b.parse::<usize>().ok()) {
                Some(b) => trap = Some(b),
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let out = out.unwrap_or_else(|| match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("stack-audit"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/stack-audit"),
    });
    if cfg!(debug_assertions) {
        eprintln!(
            "stack-audit: WARNING: a debug build; only release numbers count (cargo run --release -p stack-audit)"
        );
    }

    let mut meter = match Meter::new() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("stack-audit: cannot map the measured stack: {e}");
            return ExitCode::from(2);
        }
    };
    let checks = if trap.is_some() {
        Vec::new()
    } else {
        selftest::run(&mut meter)
    };
    for c in &checks {
        eprintln!(
            "self-test {}: {}: {}",
            if c.ok { "ok" } else { "FAILED" },
            c.name,
            c.detail
        );
    }
    if checks.iter().any(|c| !c.ok) {
        eprintln!("stack-audit: the meter's self-test failed; its numbers would mean nothing");
        return ExitCode::from(2);
    }

    let size = if quick { Size::QUICK } else { Size::FULL };
    let t = Instant::now();
    eprintln!("stack-audit: building the world ({size:?})");
    let mut world = World::build(size);
    if let Err(e) = world.verify() {
        eprintln!("stack-audit: the world is not what the cases assume: {e}");
        return ExitCode::from(2);
    }
    eprintln!("stack-audit: world built in {:.1} s", t.elapsed().as_secs_f64());

    if let Some(bytes) = trap {
        match Meter::with_region(bytes) {
            Ok(m) => meter = m,
            Err(e) => {
                eprintln!("stack-audit: cannot map the measured stack: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let t = Instant::now();
    let rows = audit(&mut world, &mut meter, only.as_deref(), |r| {
        eprintln!(
            "{:>7} B {:>9} allocs {:>6.2} s  {} [{}] {}",
            r.stack_bytes,
            r.allocations,
            r.seconds,
            r.name,
            r.shape,
            if r.failed() { r.status() } else { String::new() }
        );
    });
    eprintln!(
        "stack-audit: {} probes in {:.1} s",
        rows.len(),
        t.elapsed().as_secs_f64()
    );

    let report = Report::new(rows, &checks, if quick { "quick" } else { "full" });
    println!("{}", report.markdown());
    if let Err(e) = report.write(&out) {
        eprintln!("stack-audit: cannot write the report to {}: {e}", out.display());
        return ExitCode::from(2);
    }
    eprintln!("stack-audit: report written to {}", out.display());
    if report.passed() {
        eprintln!(
            "stack-audit: passed: worst stack {} of {} bytes",
            report.max_stack_bytes, report.budget_bytes
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("stack-audit: FAILED: {} entries fail the audit", report.failures);
        ExitCode::from(1)
    }
}
