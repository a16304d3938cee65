//! Unit tests of the HNSW graph: recall against exact search for every element type, filtered
//! recall, a model-based property test of insert/replace/remove, compaction and slot reuse,
//! determinism, and the codec (round trip and corrupted input).

use super::*;
use crate::index::{IndexParams, Neighbor};
use crate::vector::{ElemType, Metric};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::cell::Cell;
use std::collections::BTreeMap;

thread_local! {
    /// Compactions run on this thread (to show the property tests reach them).
    pub(super) static COMPACTIONS: Cell<usize> = const { Cell::new(0) };
}

fn params(elem: ElemType, metric: Metric, dim: u32, m: u32, ef_c: u32) -> IndexParams {
    IndexParams {
        elem,
        metric,
        dim,
        m,
        ef_construction: ef_c,
        seed: 0x5eed,
        quant: Quantization::None,
    }
}

/// Small deterministic generator for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GAMMA);
        splitmix64(self.0)
    }
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// Roughly normal (sum of uniforms), standard deviation about 1.
    fn normal(&mut self) -> f32 {
        (self.unit() + self.unit() + self.unit()) * 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `n` points around `clusters` random centres in `dim` dimensions.
fn clustered(n: usize, dim: usize, clusters: usize, spread: f32, seed: u64) -> Vec<Vec<f32>> {
    let mut r = Rng(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| r.unit() * 4.0).collect())
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[r.below(clusters)];
            c.iter().map(|&x| x + r.normal() * spread).collect()
        })
        .collect()
}

/// Encodes a float point as `elem` bytes (integers scaled, bins thresholded at 0).
fn to_bytes(elem: ElemType, v: &[f32]) -> Vec<u8> {
    match elem {
        ElemType::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ElemType::F16 => v
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect(),
        ElemType::I8 => v
            .iter()
            .map(|x| (x * 20.0).round().clamp(-128.0, 127.0) as i8 as u8)
            .collect(),
        ElemType::I16 => v
            .iter()
            .flat_map(|x| ((x * 3000.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes())
            .collect(),
        ElemType::Bin => v
            .chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &x)| b | (u8::from(x > 0.0) << i))
            })
            .collect(),
    }
}

/// Mean recall@k of `search` against `search_exact` (ties in the exact answer count as hits).
fn recall(
    h: &Hnsw,
    queries: &[Vec<u8>],
    k: usize,
    ef: usize,
    mut filter: Option<&dyn Fn(u64) -> bool>,
) -> f64 {
    let mut s = SearchScratch::new();
    let (mut got, mut want) = (0usize, 0usize);
    let (mut approx, mut exact) = (Vec::new(), Vec::new());
    for q in queries {
        match filter.as_mut() {
            Some(f) => {
                let mut g = |l: u64| f(l);
                h.search(q, k, ef, Some(&mut g), &mut s, &mut approx);
                let mut g = |l: u64| f(l);
                h.search_exact(q, k, Some(&mut g), &mut s, &mut exact);
            }
            None => {
                h.search(q, k, ef, None, &mut s, &mut approx);
                h.search_exact(q, k, None, &mut s, &mut exact);
            }
        }
        let expect = k.min(exact.len());
        assert_eq!(approx.len(), expect, "search returned too few results");
        want += expect;
        got += approx
            .iter()
            .filter(|a| exact.iter().any(|e| e.label == a.label))
            .count();
    }
    got as f64 / want.max(1) as f64
}

fn build(p: IndexParams, points: &[Vec<f32>]) -> Hnsw {
    let mut h = Hnsw::new(p);
    for (i, v) in points.iter().enumerate() {
        h.insert(i as u64 + 1, &to_bytes(p.elem, v));
    }
    h
}

fn recall_case(elem: ElemType, metric: Metric, dim: u32, spread: f32, floor: f64) {
    let n = 5000;
    let pts = clustered(
        n + 200,
        dim as usize,
        100,
        spread,
        u64::from(dim) ^ elem.code() as u64,
    );
    let p = params(elem, metric, dim, 12, 100);
    let h = build(p, &pts[..n]);
    h.check().unwrap();
    let queries: Vec<Vec<u8>> = pts[n..].iter().map(|v| to_bytes(elem, v)).collect();
    let r = recall(&h, &queries, 10, 64, None);
    let r16 = recall(&h, &queries, 10, 16, None);
    eprintln!(
        "recall@10 {} {}: ef=64 {r:.4} ef=16 {r16:.4}",
        elem.name(),
        metric.name()
    );
    assert!(r >= floor, "recall {r} below {floor} for {elem:?} {metric:?}");
    assert!(
        r16 >= floor - 0.05,
        "recall {r16} at ef 16 for {elem:?} {metric:?}"
    );
}

/// Cluster spread: clusters overlap, so the graph has real work to do.
const SPREAD: f32 = 2.0;

#[test]
fn recall_f32_l2() {
    recall_case(ElemType::F32, Metric::L2, 32, SPREAD, 0.95);
}

#[test]
fn recall_f32_cosine() {
    recall_case(ElemType::F32, Metric::Cosine, 32, SPREAD, 0.95);
}

#[test]
fn recall_f32_dot() {
    recall_case(ElemType::F32, Metric::Dot, 32, SPREAD, 0.95);
}

#[test]
fn recall_f16_l2() {
    recall_case(ElemType::F16, Metric::L2, 32, SPREAD, 0.95);
}

#[test]
fn recall_i8_l2() {
    recall_case(ElemType::I8, Metric::L2, 32, SPREAD, 0.95);
}

#[test]
fn recall_i16_l1() {
    recall_case(ElemType::I16, Metric::L1, 32, SPREAD, 0.95);
}

#[test]
fn recall_bin_hamming() {
    recall_case(ElemType::Bin, Metric::Hamming, 256, SPREAD, 0.95);
}

#[test]
fn filtered_recall_and_count() {
    let n = 6000;
    let pts = clustered(n + 100, 32, 100, SPREAD, 77);
    let p = params(ElemType::F32, Metric::L2, 32, 12, 100);
    let h = build(p, &pts[..n]);
    let queries: Vec<Vec<u8>> = pts[n..].iter().map(|v| to_bytes(ElemType::F32, v)).collect();
    for (name, modulus) in [("10%", 10u64), ("1%", 100)] {
        let f = move |l: u64| (l.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32).is_multiple_of(modulus);
        let r = recall(&h, &queries, 10, 64, Some(&f));
        eprintln!("filtered recall@10 ef=64 {name}: {r:.4}");
        assert!(r >= 0.95, "filtered recall {r} for {name}");
    }
    // Exactly k and fewer than k matching labels.
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    for want in [3usize, 10, 11] {
        let mut f = |l: u64| l <= want as u64;
        h.search(&queries[0], 10, 16, Some(&mut f), &mut s, &mut out);
        assert_eq!(out.len(), want.min(10));
        assert!(out.iter().all(|x| x.label <= want as u64));
    }
}

/// Measures the filtered walk alone at several match rates (run with --ignored --nocapture).
#[test]
#[ignore]
fn filtered_walk_rates() {
    let n = 20000;
    let pts = clustered(n + 200, 32, 40, 0.6, 78);
    let p = params(ElemType::F32, Metric::L2, 32, 16, 100);
    let h = build(p, &pts[..n]);
    let queries: Vec<Vec<u8>> = pts[n..].iter().map(|v| to_bytes(ElemType::F32, v)).collect();
    for modulus in [2u64, 5, 10, 20, 33, 50, 100] {
        let f = move |l: u64| (l.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32).is_multiple_of(modulus);
        let mut s = SearchScratch::new();
        let (mut got, mut want) = (0, 0);
        let (mut a, mut e) = (Vec::new(), Vec::new());
        for q in &queries {
            s.prepare(&h, 64, true);
            s.begin();
            let q = h.query(q);
            let (ep, epd) = h.greedy_descent(&q, h.entry, h.dist(q, h.entry), 1);
            let mut res: Vec<u64> = {
                let mut g = |l: u64| f(l);
                let SearchScratch { beam, memo, .. } = &mut s;
                let mut gate = search::tests_support::gate(&mut g, memo, beam.tag);
                h.beam_filtered_no_abort(q, ep, epd, 64, &mut gate, beam);
                beam.res.as_slice().to_vec()
            };
            a.clear();
            res.sort_unstable();
            a.extend(res.iter().take(10).map(|&k| h.labels[key_id(k) as usize]));
            let mut g = |l: u64| f(l);
            h.search_exact(q.v, 10, Some(&mut g), &mut s, &mut e);
            want += 10.min(e.len());
            got += a.iter().filter(|l| e.iter().any(|x| x.label == **l)).count();
        }
        eprintln!("rate 1/{modulus}: walk recall {:.4}", got as f64 / want as f64);
    }
}

#[test]
fn structs_stay_small_on_the_stack() {
    // Entry points keep big buffers on the heap; the structs themselves are small.
    assert!(
        std::mem::size_of::<Hnsw>() <= 1024,
        "{}",
        std::mem::size_of::<Hnsw>()
    );
    assert!(
        std::mem::size_of::<SearchScratch>() <= 384,
        "{}",
        std::mem::size_of::<SearchScratch>()
    );
}

#[test]
fn levels_follow_the_distribution_and_the_seed() {
    let mut h = Hnsw::new(params(ElemType::F32, Metric::L2, 4, 16, 10));
    let mut counts = [0usize; 5];
    for _ in 0..100_000 {
        let l = h.draw_level() as usize;
        counts[l.min(4)] += 1;
    }
    // P(level >= 1) = 1/16.
    let above = 100_000 - counts[0];
    assert!((5_600..6_900).contains(&above), "{counts:?}");
    let mut a = Hnsw::new(params(ElemType::F32, Metric::L2, 4, 16, 10));
    let mut b = Hnsw::new(params(ElemType::F32, Metric::L2, 4, 16, 10));
    let xs: Vec<u8> = (0..50).map(|_| a.draw_level()).collect();
    let ys: Vec<u8> = (0..50).map(|_| b.draw_level()).collect();
    assert_eq!(xs, ys);
}

fn f32v(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn small_cases() {
    let p = params(ElemType::F32, Metric::L2, 2, 2, 8);
    let mut h = Hnsw::new(p);
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    h.search(&f32v(&[0.0, 0.0]), 5, 10, None, &mut s, &mut out);
    assert!(out.is_empty());
    h.insert(7, &f32v(&[1.0, 0.0]));
    h.check().unwrap();
    h.search(&f32v(&[0.0, 0.0]), 5, 10, None, &mut s, &mut out);
    assert_eq!(
        out,
        vec![Neighbor {
            distance: 1.0,
            label: 7
        }]
    );
    for i in 0..50u64 {
        h.insert(100 + i, &f32v(&[i as f32, (i % 7) as f32]));
        h.check().unwrap();
    }
    assert!(h.remove(7));
    assert!(!h.remove(7));
    assert_eq!(h.deleted(), 1);
    h.check().unwrap();
    let before = h.node_count();
    h.insert(8, &f32v(&[3.0, 3.0]));
    assert_eq!(h.node_count(), before, "the freed slot is reused");
    assert_eq!(h.deleted(), 0);
    h.check().unwrap();
    h.replace(8, &f32v(&[40.0, 1.0]));
    h.check().unwrap();
    h.search(&f32v(&[40.0, 1.0]), 1, 10, None, &mut s, &mut out);
    assert_eq!(out[0].label, 8);
    assert_eq!(out[0].distance, 0.0);
    h.search(&f32v(&[3.0, 3.0]), 51, 64, None, &mut s, &mut out);
    let e = out.iter().find(|n| n.label == 8).unwrap();
    assert_eq!(e.distance, 37.0 * 37.0 + 4.0);
    for l in h.labels().collect::<Vec<_>>() {
        assert!(h.remove(l));
        h.check().unwrap();
    }
    assert!(h.is_empty());
    assert_eq!(h.node_count(), 0);
    assert_eq!(h.deleted(), 0);
}

#[test]
fn compaction_triggers_and_keeps_everything() {
    let p = params(ElemType::F32, Metric::L2, 8, 4, 32);
    let pts = clustered(600, 8, 10, 0.5, 5);
    let mut h = build(p, &pts);
    let mut compacted = false;
    for i in 0..400u64 {
        let nodes = h.node_count();
        assert!(h.remove(i + 1));
        if h.node_count() < nodes {
            compacted = true;
            assert_eq!(h.deleted(), 0);
            assert_eq!(h.node_count(), h.len());
            // It fired exactly when the threshold was passed.
            assert!((nodes - h.len()) as u64 >= TOMBSTONE_COMPACT_MIN);
            assert!((nodes - h.len()) as u64 * 100 > nodes as u64 * TOMBSTONE_COMPACT_PERCENT);
        } else {
            let d = h.deleted() as u64;
            assert!(d < TOMBSTONE_COMPACT_MIN || d * 100 <= nodes as u64 * TOMBSTONE_COMPACT_PERCENT);
        }
        if i % 37 == 0 {
            h.check().unwrap();
        }
    }
    assert!(compacted);
    h.check().unwrap();
    assert_eq!(h.len(), 200);
    let queries: Vec<Vec<u8>> = pts[..50].iter().map(|v| f32v(v)).collect();
    let r = recall(&h, &queries, 10, 64, None);
    assert!(r >= 0.95, "{r}");
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    for q in &queries {
        h.search(q, 10, 32, None, &mut s, &mut out);
        assert!(out.iter().all(|n| n.label > 400));
    }
}

#[test]
fn determinism_and_codec_round_trip() {
    let p = params(ElemType::F32, Metric::Cosine, 16, 6, 40);
    let pts = clustered(1500, 16, 12, 0.5, 9);
    let run = || {
        let mut h = Hnsw::new(p);
        for (i, v) in pts.iter().enumerate() {
            h.insert(i as u64, &f32v(v));
            if i % 5 == 4 {
                h.remove(i as u64 - 2);
            }
            if i % 11 == 10 {
                h.replace(i as u64 - 1, &f32v(&pts[(i * 7) % pts.len()]));
            }
        }
        h
    };
    let (a, b) = (run(), run());
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    a.encode(&mut ea);
    b.encode(&mut eb);
    assert_eq!(ea, eb);
    let d = Hnsw::decode(p, &ea).unwrap();
    let mut ed = Vec::new();
    d.encode(&mut ed);
    assert_eq!(ea, ed);
    // Same answers, and further operations continue identically (levels included).
    let mut s = SearchScratch::new();
    let (mut oa, mut od) = (Vec::new(), Vec::new());
    for q in pts.iter().take(40) {
        let q = f32v(q);
        a.search(&q, 10, 20, None, &mut s, &mut oa);
        d.search(&q, 10, 20, None, &mut s, &mut od);
        assert_eq!(oa, od);
    }
    let (mut a, mut d) = (a, d);
    for (i, v) in pts.iter().enumerate().take(300) {
        a.insert(10_000 + i as u64, &f32v(v));
        d.insert(10_000 + i as u64, &f32v(v));
    }
    let (mut ea, mut ed) = (Vec::new(), Vec::new());
    a.encode(&mut ea);
    d.encode(&mut ed);
    assert_eq!(ea, ed);
    // Parameters must match.
    let other = IndexParams { seed: 1, ..p };
    assert!(matches!(
        Hnsw::decode(other, &ea),
        Err(crate::Error::Corrupted { .. })
    ));
    // Empty index.
    let e = Hnsw::new(p);
    let mut ee = Vec::new();
    e.encode(&mut ee);
    let e2 = Hnsw::decode(p, &ee).unwrap();
    assert!(e2.is_empty());
}

/// Split cosine (stored norms) measures exactly what the fused kernel measures, zero and tiny
/// vectors included; the norm words are checked and never serialized.
#[test]
fn cosine_with_stored_norms_is_the_fused_kernel() {
    for elem in [ElemType::F32, ElemType::F16] {
        let p = params(elem, Metric::Cosine, 24, 6, 40);
        let kern = crate::vector::kernel(elem, Metric::Cosine);
        let mut pts = clustered(600, 24, 8, 0.5, 31);
        pts[5] = vec![0.0; 24];
        pts[9] = vec![1e-30; 24];
        pts[13] = vec![3e4; 24];
        let mut h = Hnsw::new(p);
        assert!(h.cos.is_some());
        for (i, v) in pts.iter().enumerate() {
            h.insert(i as u64, &to_bytes(elem, v));
        }
        h.check().unwrap();
        let mut s = SearchScratch::new();
        let mut out = Vec::new();
        for (qi, q) in pts.iter().enumerate().step_by(7) {
            let q = to_bytes(elem, q);
            for exact in [false, true] {
                if exact {
                    h.search_exact(&q, 10, None, &mut s, &mut out);
                } else {
                    h.search(&q, 10, 32, None, &mut s, &mut out);
                }
                for nb in &out {
                    let want = kern(&q, h.vector(nb.label).unwrap());
                    assert_eq!(nb.distance.to_bits(), want.to_bits(), "{elem:?} query {qi}");
                }
            }
        }
        let mut e = Vec::new();
        h.encode(&mut e);
        let want =
            56 + h.node_count() * (1 + 8 + 4 + 4 * h.serialized_rec()) + 4 * h.upper.len() + 4 * h.free.len();
        assert_eq!(e.len(), want, "the checkpoint holds no norm words");
        assert_eq!(h.encoded_len(), want);
        let d = Hnsw::decode(p, &e).unwrap();
        assert_eq!(d.nodes, h.nodes, "decoding recomputes the norms");
        let mut bad = h.clone();
        bad.nodes[3 * bad.rec + bad.stride0] ^= 1;
        assert!(bad.check().is_err(), "a wrong norm is caught");
    }
    // Other metrics keep the plain record.
    let h = Hnsw::new(params(ElemType::F32, Metric::L2, 24, 6, 40));
    assert!(h.cos.is_none() && h.voff == h.stride0);
}

#[test]
fn tree_links_have_slots_of_their_own() {
    let p = params(ElemType::F32, Metric::L2, 8, 4, 32);
    let h = build(p, &clustered(3000, 8, 10, 0.3, 5));
    h.check().unwrap();
    let child = |y: u32, t: u32| h.parent[t as usize] == y;
    let (mut full_with_kids, mut spare) = (0, None);
    for y in 0..h.node_count() as u32 {
        let links = h.links(y, 0);
        let kids = links.iter().filter(|&&t| child(y, t)).count();
        let others = links.len() - kids;
        assert!(
            kids <= TREE_SLOTS && others <= h.m0,
            "node {y}: {kids} children, {others} others"
        );
        full_with_kids += usize::from(kids > 0 && others == h.m0);
        if others == h.m0 && kids < TREE_SLOTS {
            spare = Some(y);
        }
    }
    // Links to children come on top of full heuristic lists (they used to displace them).
    assert!(full_with_kids > 0);
    // A non-child link in a child's slot is over the bound, and check() says so.
    let y = spare.expect("a full list with a free tree slot");
    let mut bad = h.clone();
    let mut list = bad.links(y, 0).to_vec();
    let t = (0..bad.node_count() as u32)
        .find(|&t| t != y && !list.contains(&t) && !child(y, t))
        .unwrap();
    list.push(t);
    bad.set_links(y, 0, &list);
    assert!(bad.check().unwrap_err().contains("degree over its bound"));
    // A graph in the layout before tree slots (magic version 1) is refused.
    let mut e = Vec::new();
    h.encode(&mut e);
    e[7] = 1;
    assert!(matches!(Hnsw::decode(p, &e), Err(crate::Error::Corrupted { .. })));
}

#[test]
fn decode_rejects_forged_counts_without_allocating() {
    let p = params(ElemType::F32, Metric::L2, 4, 4, 16);
    let mut h = Hnsw::new(p);
    for i in 0..20u64 {
        h.insert(i, &f32v(&[i as f32, 0.0, 1.0, 2.0]));
    }
    let mut e = Vec::new();
    h.encode(&mut e);
    for (at, v) in [
        (40usize, u32::MAX - 1),
        (40, 1 << 30),
        (44, 1 << 31),
        (52, u32::MAX),
    ] {
        let mut f = e.clone();
        f[at..at + 4].copy_from_slice(&v.to_le_bytes());
        assert!(matches!(Hnsw::decode(p, &f), Err(crate::Error::Corrupted { .. })));
    }
}

mod mutations;
mod quantized;
mod sketched;
