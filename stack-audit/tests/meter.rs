//! The meter can fail: known frames are measured to within ±10 % and the 8 KiB one is flagged,
//! known allocations are counted exactly. Stack figures only mean something in release builds
//! (`cargo test -p stack-audit --release`); in debug builds those tests are ignored.

use stack_audit::meter::Meter;
use stack_audit::selftest;
use vexfs_core::limits::STACK_BUDGET_BYTES;

fn meter() -> Meter {
    Meter::new().expect("map the measured stack")
}

fn within_10_percent(measured: usize, expected: usize) -> bool {
    measured.abs_diff(expected) * 10 <= expected
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stack sizes are measured in release builds")]
fn a_2_kib_frame_measures_2_kib_and_fits_the_budget() {
    let bytes = selftest::frame_bytes::<2048>(&mut meter());
    assert!(within_10_percent(bytes, 2048), "{bytes}");
    assert!(bytes <= STACK_BUDGET_BYTES);
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stack sizes are measured in release builds")]
fn an_8_kib_frame_measures_8_kib_and_is_over_budget() {
    let bytes = selftest::frame_bytes::<8192>(&mut meter());
    assert!(within_10_percent(bytes, 8192), "{bytes}");
    assert!(bytes > STACK_BUDGET_BYTES, "the gate would miss it: {bytes}");
}

#[test]
fn allocations_are_counted_exactly() {
    let mut m = meter();
    let counted = m.measure(|| {
        let v: Vec<Box<u32>> = (0..10).map(Box::new).collect();
        std::hint::black_box(v)
    });
    // One for the vector (exact size: the iterator's length is known), ten boxes.
    assert_eq!(counted.sample.allocations, 11);
    assert_eq!(counted.sample.alloc_bytes, 10 * 8 + 10 * 4);
    let mut buf = Vec::with_capacity(100);
    let none = m.measure(|| {
        buf.extend_from_slice(&[1u8; 100]);
        buf.len()
    });
    assert_eq!(none.sample.allocations, 0);
    assert_eq!(none.value, Some(100));
}

#[test]
fn a_panic_is_caught_and_reported() {
    let r = meter().measure(|| -> u8 { panic!("inside a measurement") });
    assert!(r.panicked());
}

#[test]
#[cfg_attr(debug_assertions, ignore = "stack sizes are measured in release builds")]
fn every_self_test_check_holds() {
    for c in selftest::run(&mut meter()) {
        assert!(c.ok, "{}: {}", c.name, c.detail);
    }
}
