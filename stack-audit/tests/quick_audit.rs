//! The whole audit on a small world: every probe runs its shape (no setup failure, no
//! unexpected result) and every warmed-up search is allocation-free. Budgets are not asserted
//! here: the binary gates them on the full world.

use stack_audit::meter::Meter;
use stack_audit::world::{Size, World};

#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds; run with --release")]
fn every_probe_runs_on_a_quick_world() {
    let mut world = World::build(Size::QUICK);
    world.verify().expect("the quick world is as the cases assume");
    let mut meter = Meter::new().expect("map the measured stack");
    let rows = stack_audit::audit(&mut world, &mut meter, None, |_| {});
    assert!(rows.len() > vexfs_core::engine::EntryPoint::ALL.len());
    for r in &rows {
        assert!(r.error.is_none(), "{} [{}]: {:?}", r.name, r.shape, r.error);
        assert!(
            !r.warm_allocated(),
            "{} [{}] allocated when warm",
            r.name,
            r.shape
        );
        assert!(r.stack_bytes > 0, "{} [{}] measured nothing", r.name, r.shape);
    }
}
