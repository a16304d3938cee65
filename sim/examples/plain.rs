//! Runs seeds sequentially without madsim (development aid): `cargo run -p vexfs-sim --example plain -- A B OPS PROFILE`.
#![allow(clippy::unwrap_used)]
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (lo, hi, ops) = (
        a[1].parse::<u64>().unwrap(),
        a[2].parse::<u64>().unwrap(),
        a[3].parse::<u64>().unwrap(),
    );
    let prof = vexfs_sim::scenario::Profile::parse(a.get(4).map_or("swarm", |s| s)).unwrap();
    let mut failed = 0;
    for seed in lo..hi {
        let scen = vexfs_sim::scenario::Scenario::from_seed(seed, prof);
        match vexfs_sim::world::run_sequential(scen.clone(), ops) {
            Ok(w) => println!("seed {seed} ok {:?}", w.stats),
            Err((f, w)) => {
                failed += 1;
                println!("seed {seed} FAILED {f}\n  {scen}\n  {:?}", w.stats)
            }
        }
    }
    println!("{failed} failed");
}
