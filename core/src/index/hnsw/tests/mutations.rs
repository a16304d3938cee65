//! The graph's mutations against a model: a property test of insert/replace/remove (with
//! compaction and slot reuse) checked against a `BTreeMap` after every step, and the churn
//! tests (far points stay findable, recall holds next to static clusters).

use super::*;

/// Checks `h` against the model after one step.
fn check_against_model(
    h: &Hnsw,
    model: &BTreeMap<u64, Vec<u8>>,
    query: &[u8],
    k: usize,
    ef: usize,
    modulus: u64,
) -> Result<(), TestCaseError> {
    if let Err(e) = h.check() {
        return Err(TestCaseError::fail(e));
    }
    prop_assert_eq!(h.len(), model.len());
    prop_assert!(h.labels().eq(model.keys().copied()));
    let kern = crate::vector::kernel(ElemType::F32, Metric::L2);
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    let pass = |l: u64| l.is_multiple_of(modulus);
    for filtered in [false, true] {
        if filtered {
            let mut f = pass;
            h.search(query, k, ef, Some(&mut f), &mut s, &mut out);
        } else {
            h.search(query, k, ef, None, &mut s, &mut out);
        }
        let eligible = model.keys().filter(|&&l| !filtered || pass(l)).count();
        prop_assert_eq!(out.len(), k.min(eligible));
        for n in &out {
            let v = model.get(&n.label);
            prop_assert!(v.is_some(), "search returned removed label {}", n.label);
            prop_assert!(!filtered || pass(n.label));
            prop_assert_eq!(n.distance, kern(query, v.map_or(&[][..], |v| v)));
        }
        prop_assert!(
            out.windows(2)
                .all(|w| (w[0].distance, w[0].label) < (w[1].distance, w[1].label))
        );
        // Exact search equals brute force over the model.
        if filtered {
            let mut f = pass;
            h.search_exact(query, k, Some(&mut f), &mut s, &mut out);
        } else {
            h.search_exact(query, k, None, &mut s, &mut out);
        }
        let mut all: Vec<Neighbor> = model
            .iter()
            .filter(|&(&l, _)| !filtered || pass(l))
            .map(|(&l, v)| Neighbor {
                distance: kern(query, v),
                label: l,
            })
            .collect();
        all.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.label.cmp(&b.label)));
        if all.len() > k {
            let kth = all[k - 1].distance;
            all.retain(|n| n.distance <= kth);
        }
        prop_assert_eq!(&out, &all);
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u64, [i8; 3]),
    Remove(u64),
    Search([i8; 3], usize, usize, u64),
}

fn op() -> impl Strategy<Value = Op> {
    ops_over(40, 5, 3)
}

/// Operations over labels `0..labels`, inserting and removing with the given weights.
fn ops_over(labels: u64, insert: u32, remove: u32) -> impl Strategy<Value = Op> {
    let label = 0u64..labels;
    let v = prop::array::uniform3(-4i8..4);
    prop_oneof![
        insert => (label.clone(), v.clone()).prop_map(|(l, v)| Op::Insert(l, v)),
        remove => label.prop_map(Op::Remove),
        2 => (v, 1usize..8, 1usize..12, 1u64..5).prop_map(|(v, k, ef, m)| Op::Search(v, k, ef, m)),
    ]
}

/// Many labels inserted, then a removal-heavy mix: reaches compaction and slot reuse.
fn compaction_ops() -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(prop::array::uniform3(-4i8..4), 120..160),
        prop::collection::vec(ops_over(170, 1, 8), 150..250),
    )
        .prop_map(|(fill, mix)| {
            let mut ops: Vec<Op> = fill
                .into_iter()
                .enumerate()
                .map(|(i, v)| Op::Insert(i as u64, v))
                .collect();
            ops.extend(mix);
            ops
        })
}

fn vec3(v: [i8; 3]) -> Vec<u8> {
    f32v(&[f32::from(v[0]), f32::from(v[1]), f32::from(v[2])])
}

/// Cases per property: `PROPTEST_CASES` when set (for long runs), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn compaction_strategy_reaches_compaction() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let before = COMPACTIONS.with(Cell::get);
    for _ in 0..10 {
        let ops = compaction_ops().new_tree(&mut runner).unwrap().current();
        run_model(2, ops).unwrap();
    }
    let n = COMPACTIONS.with(Cell::get) - before;
    eprintln!("compactions in 10 cases: {n}");
    assert!(n >= 3, "{n}");
}

/// Applies `ops` to an index and a `BTreeMap` model, checking them against each other after
/// every step, and the codec round trip at the end.
fn run_model(m: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let p = params(ElemType::F32, Metric::L2, 3, m, 8);

    let mut h = Hnsw::new(p);
    let mut model: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for op in ops {
        let mut q = vec3([0, 0, 0]);
        let (mut k, mut ef, mut modulus) = (3, 4, 2);
        match op {
            Op::Insert(l, v) => {
                let v = vec3(v);
                if model.contains_key(&l) {
                    h.replace(l, &v);
                } else {
                    h.insert(l, &v);
                }
                // The replaced vector's old position must be gone: query the new one.
                q = v.clone();
                model.insert(l, v);
            }
            Op::Remove(l) => {
                prop_assert_eq!(h.remove(l), model.remove(&l).is_some());
            }
            Op::Search(v, kk, e, md) => {
                q = vec3(v);
                k = kk;
                ef = e;
                modulus = md;
            }
        }
        check_against_model(&h, &model, &q, k, ef, modulus)?;
    }
    // Determinism: the encoding round-trips exactly.
    let mut e = Vec::new();
    h.encode(&mut e);
    let d = Hnsw::decode(p, &e).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut e2 = Vec::new();
    d.encode(&mut e2);
    prop_assert_eq!(e, e2);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn graph_matches_model(m in 2u32..5, ops in prop::collection::vec(op(), 1..120)) {
        run_model(m, ops)?;
    }

    #[test]
    fn graph_matches_model_through_compaction(m in 2u32..4, ops in compaction_ops()) {
        run_model(m, ops)?;
    }

    #[test]
    fn decode_never_panics(
        cut in 0usize..4000,
        flips in prop::collection::vec((0usize..4000, 0u8..8), 0..4),
        junk in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let p = params(ElemType::F32, Metric::L2, 3, 3, 8);
        let mut h = Hnsw::new(p);
        for i in 0..40u64 {
            h.insert(i, &vec3([(i % 7) as i8, (i % 5) as i8, (i % 3) as i8]));
        }
        for i in 0..5u64 {
            h.remove(i * 3);
        }
        let mut e = Vec::new();
        h.encode(&mut e);
        let mut variants = vec![junk.clone()];
        let mut t = e.clone();
        t.truncate(cut.min(e.len()));
        variants.push(t);
        let mut f = e.clone();
        for &(at, bit) in &flips {
            let i = at % f.len();
            f[i] ^= 1 << bit;
        }
        variants.push(f);
        let mut j = e[..56].to_vec();
        j.extend_from_slice(&junk);
        variants.push(j);
        for v in variants {
            if let Ok(d) = Hnsw::decode(p, &v) {
                prop_assert!(d.check().is_ok());
                // A decoded index must also be usable.
                let mut s = SearchScratch::new();
                let mut out = Vec::new();
                d.search(&vec3([1, 1, 1]), 5, 8, None, &mut s, &mut out);
                let mut d = d;
                d.insert(1 << 60, &vec3([0, 1, 2]));
                prop_assert!(d.check().is_ok());
            }
        }
    }
}

/// A point of one of four small static groups far from where the churn happens: coordinate
/// `group` is `10 + j`, coordinate `15 - j` is `-5`.
fn far_static_point(group: usize, j: usize) -> Vec<f32> {
    let mut v = vec![0.0; 16];
    v[group] = 10.0 + j as f32;
    v[15 - j] = -5.0;
    v
}

/// Twenty points inserted first, then first-in-first-out churn (insert, remove the oldest,
/// replace) in a region about 100 away: the links into the static points come from the
/// oldest churn nodes, so every one of them is eventually removed. Searching for a static
/// point must still find it first, after every step. With the strict heuristic in repair this
/// missed 858 of the 20,000 searches made; the relaxed one (`REPAIR_ALPHA`) misses none.
#[test]
fn far_points_stay_findable_through_fifo_churn() {
    let p = params(ElemType::F32, Metric::L2, 16, 16, 200);
    let mut h = Hnsw::new(p);
    for g in 0..4 {
        for j in 0..5 {
            h.insert((g * 5 + j) as u64 + 1, &f32v(&far_static_point(g, j)));
        }
    }
    let queries: Vec<Vec<u8>> = (0..20).map(|i| f32v(&far_static_point(i / 5, i % 5))).collect();
    let mut r = Rng(1);
    let mut live = std::collections::VecDeque::new();
    let (mut s, mut out, mut misses) = (SearchScratch::new(), Vec::new(), Vec::new());
    for n in 0..4000u64 {
        let label = 1000 + n;
        let mut v: Vec<f32> = (0..16).map(|_| r.unit()).collect();
        v[0] += 100.0;
        h.insert(label, &f32v(&v));
        live.push_back(label);
        match n % 4 {
            0 | 1 if live.len() > 20 => {
                let oldest = live.pop_front().unwrap();
                assert!(h.remove(oldest));
            }
            2 => {
                v[1] += 1.0;
                h.replace(label, &f32v(&v));
            }
            _ => {}
        }
        if n % 4 == 3 {
            for (i, q) in queries.iter().enumerate() {
                h.search(q, 3, 64, None, &mut s, &mut out);
                if out[0].label != i as u64 + 1 {
                    misses.push((n, i));
                }
            }
        }
    }
    h.check().unwrap();
    assert!(
        misses.is_empty(),
        "{} misses, first {:?}",
        misses.len(),
        &misses[..misses.len().min(5)]
    );
}

/// Churn in five clusters (insert, remove the oldest once 3,000 are live) next to three small
/// clusters that never change. Mean recall@10 at ef 64 over the run, measured every 1,000
/// operations against exact search: the static clusters lose their in-links as the churn
/// nodes that held them go; with the strict heuristic in repair this seed fell to 0.73 (the
/// static clusters) and 0.993 (churn); with `REPAIR_ALPHA` it measures 0.96 and 0.995.
#[test]
fn recall_holds_through_fifo_churn_next_to_static_clusters() {
    let (dim, live_target, ops) = (16, 3000, 20_000);
    let p = params(ElemType::F32, Metric::L2, dim as u32, 8, 100);
    let mut r = Rng(2);
    let centres: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..dim).map(|_| r.unit() * 10.0).collect())
        .collect();
    let spread = [1.0f32, 0.8, 1.2, 0.5, 1.0, 0.7, 1.0, 0.6];
    let point = |r: &mut Rng, c: usize| -> Vec<f32> {
        centres[c].iter().map(|&a| a + r.normal() * spread[c]).collect()
    };
    // Churn clusters 0..5, weighted 40/25/15/12/8.
    let pick = |r: &mut Rng| match r.below(100) {
        0..40 => 0,
        40..65 => 1,
        65..80 => 2,
        80..92 => 3,
        _ => 4,
    };
    let mut h = Hnsw::new(p);
    let mut next = 1u64;
    let (mut static_q, mut churn_q) = (Vec::new(), Vec::new());
    for (c, n) in [(5usize, 200usize), (6, 60), (7, 20)] {
        for _ in 0..n {
            h.insert(next, &f32v(&point(&mut r, c)));
            next += 1;
        }
        static_q.extend((0..30).map(|_| f32v(&point(&mut r, c))));
    }
    churn_q.extend((0..200).map(|_| {
        let c = pick(&mut r);
        f32v(&point(&mut r, c))
    }));
    let mut live = std::collections::VecDeque::new();
    let (mut done, mut samples, mut sum_static, mut sum_churn) = (0, 0.0, 0.0, 0.0);
    while done < ops {
        let c = pick(&mut r);
        h.insert(next, &f32v(&point(&mut r, c)));
        live.push_back(next);
        next += 1;
        done += 1;
        if live.len() > live_target {
            assert!(h.remove(live.pop_front().unwrap()));
            done += 1;
        }
        if done % 1000 < 2 && done > 3000 {
            sum_static += recall(&h, &static_q, 10, 64, None);
            sum_churn += recall(&h, &churn_q, 10, 64, None);
            samples += 1.0;
        }
    }
    h.check().unwrap();
    let (rs, rc) = (sum_static / samples, sum_churn / samples);
    assert!(
        rs >= 0.9 && rc >= 0.98,
        "mean recall@10: static clusters {rs:.4}, churn {rc:.4}"
    );
}
