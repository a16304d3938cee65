//! Every entry point has a case, `EntryPoint::ALL` is complete, and the worst-case inputs are
//! at the limits they claim.

use stack_audit::cases::{case, worst_filter};
use vexfs_core::OpKind;
use vexfs_core::engine::EntryPoint;
use vexfs_core::limits::FILTER_DEPTH_MAX;
use vexfs_core::query::Filter;

#[test]
fn every_entry_point_has_a_case_with_distinct_shapes() {
    for e in EntryPoint::ALL {
        let c = case(e);
        assert!(!c.probes.is_empty(), "{e} has no probe");
        let mut shapes: Vec<&str> = c.probes.iter().map(|p| p.shape.as_str()).collect();
        shapes.sort_unstable();
        shapes.dedup();
        assert_eq!(shapes.len(), c.probes.len(), "{e} repeats a shape");
    }
}

#[test]
fn all_is_complete() {
    // Each operation kind executed and replayed, plus the other calls, each once.
    let ops = EntryPoint::ALL
        .iter()
        .filter(|e| matches!(e, EntryPoint::Op(_)))
        .count();
    let replays = EntryPoint::ALL
        .iter()
        .filter(|e| matches!(e, EntryPoint::Replay(_)))
        .count();
    assert_eq!(ops, OpKind::ALL.len());
    assert_eq!(replays, OpKind::ALL.len());
    for (i, e) in EntryPoint::ALL.iter().enumerate() {
        assert_eq!(e.index(), i);
    }
    let mut names: Vec<String> = EntryPoint::ALL.iter().map(ToString::to_string).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EntryPoint::ALL.len());
}

#[test]
fn the_worst_filter_is_at_the_depth_limit() {
    let f = worst_filter();
    assert!(Filter::parse(&f).is_ok(), "{f}");
    assert!(
        Filter::parse(&format!("({f})")).is_err(),
        "one more level must exceed {FILTER_DEPTH_MAX}"
    );
    assert!(
        Filter::parse(&format!("{f} or year = 1")).is_err(),
        "one more term must exceed the limit"
    );
}
