//! The audit's results: one [`Row`] per probe, written as `report.md` (a table, worst first) and
//! `report.json`, and the verdict that gates CI.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use vexfs_core::limits::STACK_BUDGET_BYTES;

use crate::selftest::Check;

/// One measured probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The entry point (`op:write`, `search_graph`, ...).
    pub name: String,
    /// The worst-case shape it ran in.
    pub shape: String,
    /// Peak stack bytes of the call.
    pub stack_bytes: usize,
    /// The budget it is held to.
    pub budget_bytes: usize,
    /// Heap allocations the call made.
    pub allocations: u64,
    /// Bytes those allocations requested.
    pub alloc_bytes: u64,
    /// Searches only: allocations of the second, warmed-up call (must be 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_allocations: Option<u64>,
    /// Wall time of the probe (setup and check included), in seconds.
    pub seconds: f64,
    /// Why the probe could not measure what it should (a failed setup, an unexpected result).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Row {
    /// Whether the call used more stack than its budget.
    pub fn over_budget(&self) -> bool {
        self.stack_bytes > self.budget_bytes
    }

    /// Whether a warmed-up search allocated.
    pub fn warm_allocated(&self) -> bool {
        self.warm_allocations.is_some_and(|n| n > 0)
    }

    /// Whether this row fails the audit.
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.over_budget() || self.warm_allocated()
    }

    /// One word or phrase for the table.
    pub fn status(&self) -> String {
        match &self.error {
            Some(e) => format!("FAILED: {e}"),
            None if self.over_budget() => "OVER BUDGET".into(),
            None if self.warm_allocated() => "WARM SEARCH ALLOCATED".into(),
            None => "ok".into(),
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Every probe, worst stack first.
    pub entries: Vec<Row>,
    /// The largest `stack_bytes` of all entries.
    pub max_stack_bytes: usize,
    /// `STACK_BUDGET_BYTES`.
    pub budget_bytes: usize,
    /// Entries that fail the audit.
    pub failures: usize,
    /// The meter's self-test.
    pub self_test: Vec<SelfTestRow>,
    /// The world the probes ran against (`full` or `quick`).
    pub world: String,
    /// Whether the numbers come from a release build (the only ones that count).
    pub release_build: bool,
}

/// One self-test check, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelfTestRow {
    /// What was checked.
    pub check: String,
    /// What was measured.
    pub detail: String,
    /// Whether it held.
    pub ok: bool,
}

impl Report {
    /// Sorts `rows` worst first and totals them.
    pub fn new(mut rows: Vec<Row>, self_test: &[Check], world: &str) -> Report {
        rows.sort_by(|a, b| {
            b.stack_bytes
                .cmp(&a.stack_bytes)
                .then(b.allocations.cmp(&a.allocations))
                .then(a.name.cmp(&b.name))
        });
        Report {
            max_stack_bytes: rows.iter().map(|r| r.stack_bytes).max().unwrap_or(0),
            budget_bytes: STACK_BUDGET_BYTES,
            failures: rows.iter().filter(|r| r.failed()).count(),
            entries: rows,
            self_test: self_test
                .iter()
                .map(|c| SelfTestRow {
                    check: c.name.into(),
                    detail: c.detail.clone(),
                    ok: c.ok,
                })
                .collect(),
            world: world.into(),
            release_build: !cfg!(debug_assertions),
        }
    }

    /// Whether the audit passes: the self-test held and no entry failed.
    pub fn passed(&self) -> bool {
        self.failures == 0
            && !self.self_test.is_empty()
            && self.self_test.iter().all(|c| c.ok)
            && !self.entries.is_empty()
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Stack and allocation audit\n");
        let _ = writeln!(
            s,
            "{} probes; worst stack **{} bytes** of a {} byte budget; {} failing; world: {}; {} build.\n",
            self.entries.len(),
            self.max_stack_bytes,
            self.budget_bytes,
            self.failures,
            self.world,
            if self.release_build {
                "release"
            } else {
                "DEBUG (numbers do not count)"
            }
        );
        let _ = writeln!(s, "## Meter self-test\n");
        for c in &self.self_test {
            let _ = writeln!(
                s,
                "- {} {}: {}",
                if c.ok { "ok" } else { "FAILED" },
                c.check,
                c.detail
            );
        }
        let _ = writeln!(s, "\n## Entry points, worst stack first\n");
        let _ = writeln!(
            s,
            "| # | entry point | shape | stack bytes | of budget | allocations | bytes allocated | warm allocations | seconds | status |"
        );
        let _ = writeln!(s, "|---:|---|---|---:|---:|---:|---:|---:|---:|---|");
        for (i, r) in self.entries.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | `{}` | {} | {} | {}% | {} | {} | {} | {:.2} | {} |",
                i + 1,
                r.name,
                r.shape.replace('|', "\\|"),
                r.stack_bytes,
                r.stack_bytes * 100 / r.budget_bytes.max(1),
                r.allocations,
                r.alloc_bytes,
                r.warm_allocations.map_or_else(|| "-".into(), |n| n.to_string()),
                r.seconds,
                r.status().replace('|', "\\|"),
            );
        }
        s
    }

    /// Writes `report.md` and `report.json` into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json + "\n")
    }
}
