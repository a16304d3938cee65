//! Sketched graphs (1-bit sketches of vectors of at least `SKETCH_VECTOR_BYTES_MIN` bytes):
//! recall against exact search for every sketched type and metric, the sketch as derived state
//! (checked, never serialized, recomputed on decode, kept through mutations and compaction), and
//! which indexes get sketches.

use super::*;
use crate::limits::SKETCH_VECTOR_BYTES_MIN;

/// Points like sentence embeddings: clusters around a shared direction.
fn embedding_like(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let shared: Vec<f32> = clustered(1, dim, 1, 0.0, seed ^ 0xabc)[0].clone();
    clustered(n, dim, 40, 3.5, seed)
        .into_iter()
        .map(|v| v.iter().zip(&shared).map(|(x, s)| x + 0.5 * s).collect())
        .collect()
}

/// Which indexes get sketches: unquantized `f32`/`f16` under `l2`, `cosine` and `dot` with
/// vectors of at least `SKETCH_VECTOR_BYTES_MIN` bytes; no others.
#[test]
fn sketches_go_to_large_float_vectors_only() {
    let f32_dim = (SKETCH_VECTOR_BYTES_MIN / 4) as u32;
    for (elem, metric, dim, want) in [
        (ElemType::F32, Metric::Cosine, f32_dim, true),
        (ElemType::F32, Metric::L2, f32_dim, true),
        (ElemType::F32, Metric::Dot, f32_dim, true),
        (ElemType::F16, Metric::Cosine, 2 * f32_dim, true),
        (ElemType::F32, Metric::Cosine, f32_dim - 1, false),
        (ElemType::F16, Metric::L2, f32_dim, false),
        (ElemType::F32, Metric::L1, f32_dim, false),
        (ElemType::I16, Metric::Dot, 2 * f32_dim, false),
        (ElemType::I8, Metric::L2, 4 * f32_dim, false),
    ] {
        let h = Hnsw::new(params(elem, metric, dim, 8, 40));
        assert_eq!(h.sk.is_some(), want, "{elem:?} {metric:?} {dim}");
        assert_eq!(h.swords > 0, want);
    }
    let q = Hnsw::new(IndexParams {
        quant: Quantization::Sq8,
        ..params(ElemType::F32, Metric::Cosine, f32_dim, 8, 40)
    });
    assert!(q.sk.is_none(), "an sq8 index walks its codes, not sketches");
}

/// A sketched walk finds what exact search finds, for every sketched type and metric, and
/// within 0.025 of what the same graph walked without sketches finds (a bound too eager to skip
/// would cost more; one that skips everything is `a_bound_that_skips_everything_fails_recall`).
#[test]
fn sketched_recall_for_every_metric() {
    for (elem, metric, dim) in [
        (ElemType::F32, Metric::Cosine, 256),
        (ElemType::F32, Metric::L2, 256),
        (ElemType::F32, Metric::Dot, 256),
        (ElemType::F16, Metric::Cosine, 512),
    ] {
        let n = 2500;
        let pts = embedding_like(n + 100, dim, 5 ^ dim as u64);
        let h = build(params(elem, metric, dim as u32, 12, 100), &pts[..n]);
        assert!(h.sk.is_some());
        h.check().unwrap();
        let queries: Vec<Vec<u8>> = pts[n..].iter().map(|v| to_bytes(elem, v)).collect();
        let r = recall(&h, &queries, 10, 64, None);
        let r16 = recall(&h, &queries, 10, 16, None);
        let rf = recall(&h, &queries, 10, 64, Some(&|l| l % 3 == 0));
        let plain = Hnsw {
            sk: None,
            ..h.clone()
        };
        let p16 = recall(&plain, &queries, 10, 16, None);
        eprintln!(
            "sketched recall@10 {} {}: ef=64 {r:.4} ef=16 {r16:.4} (unsketched {p16:.4}) \
             filtered {rf:.4}",
            elem.name(),
            metric.name()
        );
        assert!(
            r16 >= p16 - 0.025,
            "{elem:?} {metric:?}: {r16} against {p16} unsketched"
        );
        assert!(r >= 0.95, "{elem:?} {metric:?}: recall {r}");
        assert!(r16 >= 0.85, "{elem:?} {metric:?}: recall {r16} at ef 16");
        assert!(rf >= 0.95, "{elem:?} {metric:?}: filtered recall {rf}");
    }
}

/// Sketches are derived state: every mutation keeps them equal to their vector's (the full
/// check verifies each), the checkpoint does not hold them (its size is the unsketched
/// record's), decoding recomputes them bit for bit, and a changed sketch word is reported.
#[test]
fn sketches_are_checked_never_serialized_and_recomputed() {
    let dim = 256;
    let p = params(ElemType::F32, Metric::Cosine, dim as u32, 8, 40);
    let pts = embedding_like(900, dim, 21);
    let mut h = Hnsw::new(p);
    for (i, v) in pts.iter().enumerate() {
        h.insert(i as u64, &f32v(v));
        if i % 4 == 3 {
            h.remove(i as u64 - 1);
        }
        if i % 9 == 8 && h.contains(i as u64 - 3) {
            h.replace(i as u64 - 3, &f32v(&pts[(i * 5) % pts.len()]));
        }
    }
    h.check().unwrap();
    let mut enc = Vec::new();
    h.encode(&mut enc);
    assert_eq!(
        h.serialized_rec(),
        h.stride0 + h.vwords,
        "the sketch is not serialized"
    );
    let d = Hnsw::decode(p, &enc).unwrap();
    assert_eq!(d.nodes, h.nodes, "decoding recomputes every sketch exactly");
    d.check().unwrap();

    let mut bad = d.clone();
    let id = bad.by_label.values().next().copied().unwrap();
    let s = id as usize * bad.rec + bad.soff + sketch::SKETCH_HEAD;
    bad.nodes[s] ^= 1;
    let err = bad.check().unwrap_err();
    assert!(err.contains("sketch"), "{err}");
}

/// The regression this test guards: a sketch bound with the wrong sign or scale (here, every
/// bound made infinite by forging the sketches' factors) is not a harmless slowdown; the walk
/// then skips everything once its result set is full, and recall collapses. So the recall test
/// above would catch a broken bound.
#[test]
fn a_bound_that_skips_everything_fails_recall() {
    let dim = 256;
    let n = 2000;
    let pts = embedding_like(n + 50, dim, 8);
    let mut h = build(params(ElemType::F32, Metric::L2, dim as u32, 12, 100), &pts[..n]);
    let queries: Vec<Vec<u8>> = pts[n..].iter().map(|v| f32v(v)).collect();
    let good = recall(&h, &queries, 10, 32, None);
    for id in 0..h.labels.len() {
        // `N`, the stored squared norm, made huge: every l2 bound is then far above any result.
        let s = id * h.rec + h.soff + 2;
        h.nodes[s] = 1e30f32.to_bits();
    }
    let broken = recall(&h, &queries, 10, 32, None);
    eprintln!("recall@10 at ef 32: sound bounds {good:.4}, forged {broken:.4}");
    assert!(good >= 0.9, "{good}");
    assert!(broken < good - 0.2, "forged bounds left recall at {broken}");
}
