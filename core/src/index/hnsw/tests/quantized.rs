//! The 8-bit scalar-quantized (sq8) graph: recall against the unquantized walk, training and
//! retraining, compaction, the codec (round trip, corruption, version 2 images) and scratch
//! reuse.

use super::*;

fn sq8_params(elem: ElemType, metric: Metric, dim: u32) -> IndexParams {
    IndexParams {
        quant: Quantization::Sq8,
        ..params(elem, metric, dim, 12, 100)
    }
}

/// A quantized index's search against exact search, and against the same graph unquantized:
/// with the default rerank its recall stays within 0.01 of the exact walk's (the same graph:
/// construction is exact either way), and every returned distance is the exact one.
#[test]
fn sq8_recall_matches_the_unquantized_walk() {
    for (elem, metric) in [
        (ElemType::F32, Metric::L2),
        (ElemType::F32, Metric::Cosine),
        (ElemType::F32, Metric::Dot),
        (ElemType::F16, Metric::L2),
        (ElemType::I16, Metric::Cosine),
    ] {
        let dim = 32;
        let n = 4000;
        let pts = clustered(n + 200, dim, 100, SPREAD, 77 ^ elem.code() as u64);
        let plain = build(params(elem, metric, dim as u32, 12, 100), &pts[..n]);
        let quant = build(sq8_params(elem, metric, dim as u32), &pts[..n]);
        quant.check().unwrap();
        assert!(quant.sq8().unwrap().is_trained());
        let queries: Vec<Vec<u8>> = pts[n..].iter().map(|v| to_bytes(elem, v)).collect();
        let rp = recall(&plain, &queries, 10, 64, None);
        let rq = recall(&quant, &queries, 10, 64, None);
        eprintln!(
            "sq8 recall@10 {} {}: none {rp:.4} sq8 {rq:.4}",
            elem.name(),
            metric.name()
        );
        assert!(rq >= rp - 0.01, "{elem:?} {metric:?}: sq8 {rq} against none {rp}");
        let mut s = SearchScratch::new();
        let mut out = Vec::new();
        let kernel = vector::kernel(elem, metric);
        for q in &queries[..20] {
            quant.search(q, 10, 64, None, &mut s, &mut out);
            for nb in &out {
                let v = quant.vector(nb.label).unwrap();
                assert_eq!(nb.distance.to_bits(), kernel(q, v).to_bits());
            }
        }
        // A filtered quantized search returns k matches too.
        let mut even = |l: u64| l.is_multiple_of(2);
        quant.search(&queries[0], 10, 64, Some(&mut even), &mut s, &mut out);
        assert_eq!(out.len(), 10);
        assert!(out.iter().all(|nb| nb.label.is_multiple_of(2)));
    }
}

/// Below the training threshold the index is untrained (codes zero, exact walk); the insert
/// that reaches it trains; doubling retrains; removing everything resets.
#[test]
fn sq8_trains_at_the_threshold_and_retrains_on_doubling() {
    let p = sq8_params(ElemType::F32, Metric::L2, 8);
    let pts = clustered(400, 8, 4, 1.0, 5);
    let mut h = Hnsw::new(p);
    let t = crate::limits::SQ8_TRAIN_MIN;
    for (i, v) in pts.iter().enumerate().take(t as usize - 1) {
        h.insert(i as u64, &f32v(v));
    }
    assert!(!h.sq8().unwrap().is_trained());
    h.check().unwrap();
    h.insert(t - 1, &f32v(&pts[t as usize - 1]));
    assert_eq!(h.sq8().unwrap().trained_at, t);
    h.check().unwrap();
    for (i, v) in pts.iter().enumerate().skip(t as usize).take(t as usize) {
        h.insert(i as u64, &f32v(v));
    }
    assert_eq!(h.sq8().unwrap().trained_at, 2 * t);
    h.check().unwrap();
    // A vector far outside the ranges is clamped, indexed, and found exactly.
    let far = f32v(&[1e6; 8]);
    h.insert(9_999, &far);
    h.check().unwrap();
    let mut s = SearchScratch::new();
    let mut out = Vec::new();
    h.search(&far, 1, 16, None, &mut s, &mut out);
    assert_eq!(out[0].label, 9_999);
    for l in h.labels().collect::<Vec<_>>() {
        h.remove(l);
    }
    assert!(!h.sq8().unwrap().is_trained());
}

/// Compaction retrains on the live vectors: ranges of vectors removed before it are gone.
#[test]
fn sq8_compaction_retrains() {
    let p = sq8_params(ElemType::F32, Metric::L2, 4);
    let mut h = Hnsw::new(p);
    let mut r = Rng(3);
    let n = 400u64;
    for i in 0..n {
        let scale = if i < 200 { 100.0 } else { 1.0 };
        h.insert(i, &f32v(&[r.unit() * scale, r.unit(), r.unit(), r.unit()]));
    }
    let before = h.sq8().unwrap().hi[0];
    assert!(before > 10.0);
    let c0 = COMPACTIONS.with(|c| c.get());
    for i in 0..200 {
        h.remove(i);
    }
    assert!(COMPACTIONS.with(|c| c.get()) > c0, "no compaction ran");
    // The automatic compactions ran while some wide vectors were still live; one more now.
    h.compact();
    h.check().unwrap();
    let q = h.sq8().unwrap();
    assert!(
        q.hi[0] <= 1.0 && q.lo[0] >= -1.0,
        "ranges not retrained: {:?}",
        q.hi
    );
    assert_eq!(q.trained_at, 200);
}

/// The checkpoint form keeps the training and recomputes the codes: a round trip gives the
/// same bytes, the same answers and identical further operations; a corrupted code is found
/// by the check, and corrupted training ranges by decoding.
#[test]
fn sq8_codec_round_trip_and_corruption() {
    let p = sq8_params(ElemType::F32, Metric::Cosine, 16);
    let pts = clustered(600, 16, 8, 0.5, 11);
    let mut a = build(p, &pts[..500]);
    for i in (1..100).step_by(3) {
        a.remove(i);
    }
    let mut ea = Vec::new();
    a.encode(&mut ea);
    assert_eq!(ea.len(), a.encoded_len());
    assert_eq!(ea[11], Quantization::Sq8.code());
    let mut d = Hnsw::decode(p, &ea).unwrap();
    let mut ed = Vec::new();
    d.encode(&mut ed);
    assert_eq!(ea, ed);
    assert_eq!(a.nodes, d.nodes, "codes recomputed differently");
    let mut s = SearchScratch::new();
    let (mut oa, mut od) = (Vec::new(), Vec::new());
    for q in &pts[500..540] {
        a.search(&f32v(q), 10, 32, None, &mut s, &mut oa);
        d.search(&f32v(q), 10, 32, None, &mut s, &mut od);
        assert_eq!(oa, od);
    }
    for (i, v) in pts[500..].iter().enumerate() {
        a.insert(5_000 + i as u64, &f32v(v));
        d.insert(5_000 + i as u64, &f32v(v));
    }
    let (mut ea, mut ed) = (Vec::new(), Vec::new());
    a.encode(&mut ea);
    d.encode(&mut ed);
    assert_eq!(ea, ed);
    // The same graph unquantized does not decode as sq8, nor the other way round.
    let none = IndexParams {
        quant: Quantization::None,
        ..p
    };
    assert!(Hnsw::decode(none, &ea).is_err());
    let mut en = Vec::new();
    build(none, &pts[..100]).encode(&mut en);
    assert!(Hnsw::decode(p, &en).is_err());
    // A corrupted code: the check names it.
    let mut c = a.clone();
    let at = 7 * c.rec + c.coff + 1;
    c.nodes[at] ^= 0x0100;
    let err = c.check().unwrap_err();
    assert!(err.contains("sq8 code"), "{err}");
    // A corrupted statistic too.
    let mut c = a.clone();
    c.nodes[3 * c.rec + c.coff] ^= 1;
    assert!(c.check().unwrap_err().contains("sq8 code"));
    // Corrupted training: lo above hi, NaN, untrained with ranges.
    let base = ea.len() - 8 - 8 * 16;
    for (off, bytes) in [
        (base + 8, 1e9f32.to_le_bytes()),
        (base + 8 + 64, f32::NAN.to_le_bytes()),
    ] {
        let mut bad = ea.clone();
        bad[off..off + 4].copy_from_slice(&bytes);
        assert!(matches!(
            Hnsw::decode(p, &bad),
            Err(crate::Error::Corrupted {
                what: "hnsw sq8: bad training ranges",
                ..
            })
        ));
    }
    let mut bad = ea.clone();
    bad[base..base + 8].copy_from_slice(&0u64.to_le_bytes());
    assert!(Hnsw::decode(p, &bad).is_err());
    // Truncated section.
    assert!(Hnsw::decode(p, &ea[..ea.len() - 4]).is_err());
}

/// A layout-version-2 graph (written before quantization existed) still decodes.
#[test]
fn version_2_graphs_still_decode() {
    let p = params(ElemType::F32, Metric::L2, 8, 6, 40);
    let pts = clustered(300, 8, 4, 1.0, 2);
    let h = build(p, &pts);
    let mut e = Vec::new();
    h.encode(&mut e);
    assert_eq!(e[7], 3);
    e[7] = 2;
    let d = Hnsw::decode(p, &e).unwrap();
    assert_eq!(d.len(), h.len());
    let mut again = Vec::new();
    d.encode(&mut again);
    e[7] = 3;
    assert_eq!(again, e);
}

/// A warm quantized search allocates nothing and its scratch holds the prepared query.
#[test]
fn sq8_search_reuses_its_scratch() {
    let p = sq8_params(ElemType::F32, Metric::L2, 24);
    let pts = clustered(800, 24, 8, 1.0, 4);
    let h = build(p, &pts);
    let mut s = SearchScratch::new();
    let mut out = Vec::with_capacity(16);
    h.search(&f32v(&pts[0]), 10, 64, None, &mut s, &mut out);
    let bytes = s.heap_bytes();
    for q in &pts[1..50] {
        h.search(&f32v(q), 10, 64, None, &mut s, &mut out);
        assert_eq!(out.len(), 10);
    }
    assert_eq!(s.heap_bytes(), bytes);
}
