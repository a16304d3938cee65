//! `stack-audit`: measured stack budgets and allocation counts of every `vexfs-core` entry point.
//!
//! The binary (`cargo run --release -p stack-audit`) first proves its meter on calls of known
//! stack and allocation size ([`selftest`]), then builds a world in worst-case shape ([`world`]),
//! runs every [`EntryPoint`](vexfs_core::engine::EntryPoint) through its [`cases::case`] on a
//! painted, guarded stack with a counting allocator ([`meter`]), and writes
//! `target/stack-audit/report.{md,json}` ([`report`]). It exits non-zero when the self-test
//! fails, when any entry point uses more than `STACK_BUDGET_BYTES` of stack, when a warmed-up
//! search allocates, or when a probe cannot run its shape.
//!
//! Only release builds measure what ships: debug frames are several times larger.

pub mod cases;
pub mod meter;
pub mod report;
pub mod selftest;
pub mod world;

use std::time::Instant;

use vexfs_core::engine::EntryPoint;
use vexfs_core::limits::STACK_BUDGET_BYTES;

use crate::meter::Meter;
use crate::report::Row;
use crate::world::World;

/// Runs the probes of every entry point whose name or shape contains `only` (all when `None`),
/// in `EntryPoint::ALL` order, calling `progress` after each.
pub fn audit(
    world: &mut World,
    meter: &mut Meter,
    only: Option<&str>,
    mut progress: impl FnMut(&Row),
) -> Vec<Row> {
    let mut rows = Vec::new();
    for e in EntryPoint::ALL {
        let name = e.to_string();
        for p in cases::case(e).probes {
            if only.is_some_and(|o| !name.contains(o) && !p.shape.contains(o)) {
                continue;
            }
            let t = Instant::now();
            let r = (p.run)(world, meter);
            let mut row = Row {
                name: name.clone(),
                shape: p.shape,
                stack_bytes: 0,
                budget_bytes: STACK_BUDGET_BYTES,
                allocations: 0,
                alloc_bytes: 0,
                warm_allocations: None,
                seconds: t.elapsed().as_secs_f64(),
                error: None,
            };
            match r {
                Ok(o) => {
                    let warm_stack = o.warm.map_or(0, |w| w.stack_bytes);
                    row.stack_bytes = o.sample.stack_bytes.max(warm_stack);
                    row.allocations = o.sample.allocations;
                    row.alloc_bytes = o.sample.alloc_bytes;
                    row.warm_allocations = o.warm.map(|w| w.allocations);
                }
                Err(e) => row.error = Some(e),
            }
            progress(&row);
            rows.push(row);
        }
    }
    rows
}
