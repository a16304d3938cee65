//! Quantized (`quantization=sq8`) collections through the engine: recall against exact search
//! and against the same data unquantized, a round trip through a real image (the training is
//! in the checkpoint, the codes are recomputed and equal), fsck and `--rebuild-index`, and
//! configurations that are refused and change nothing.

// Helpers outside #[test] functions unwrap too: these are tests.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use vexfs_core::check::{check, state_digest};
use vexfs_core::engine::fsck;
use vexfs_core::journal::OpenOptions;
use vexfs_core::query::{Query, Target};
use vexfs_core::storage::{FileStorage, Storage};
use vexfs_core::{
    Creds, Ctx, Engine, EngineConfig, Error, INDEX_XATTR, Ino, ROOT_INO, Scratch, Timestamp, VECTOR_XATTR,
    XattrMode,
};

const DIM: usize = 24;
const N: u32 = 1500;

fn ctx() -> Ctx {
    Ctx::new(Timestamp::new(1_700_000_000, 0), 0, 0)
}

/// A deterministic clustered point.
fn point(i: u32) -> Vec<f32> {
    let mut x = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5eed;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let c = (i % 20) as f32;
    (0..DIM)
        .map(|d| (c * (d as f32 + 1.0)).sin() * 2.0 + next())
        .collect()
}

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Two collections with the same files and vectors: `/plain` unquantized, `/quant` sq8.
fn populate(e: &mut Engine) {
    let c = ctx();
    for (name, cfg) in [
        ("plain", format!("dim={DIM} metric=cosine")),
        ("quant", format!("dim={DIM} metric=cosine quantization=sq8")),
    ] {
        let d = e.mkdir(ROOT_INO, name.as_bytes(), 0o755, &c).unwrap().ino;
        e.setxattr(d, INDEX_XATTR, cfg.as_bytes(), XattrMode::Create, &c)
            .unwrap();
        for i in 0..N {
            let f = e.create(d, format!("f{i}").as_bytes(), 0o644, &c).unwrap().ino;
            e.setxattr(f, VECTOR_XATTR, &bytes(&point(i)), XattrMode::Any, &c)
                .unwrap();
            if i % 9 == 0 && i > 0 {
                // Replace and remove some, so tombstones and reused slots are coded too.
                let g = e
                    .resolve(format!("/{name}/f{}", i - 1).as_bytes(), false)
                    .unwrap();
                e.setxattr(g, VECTOR_XATTR, &bytes(&point(i + 7)), XattrMode::Any, &c)
                    .unwrap();
                e.unlink(d, format!("f{}", i - 5).as_bytes(), &c).unwrap();
            }
        }
    }
}

/// The paths' inodes and distances of a search of `dir` for each query.
fn search(e: &Engine, dir: &str, exact: bool) -> Vec<Vec<(Ino, f32)>> {
    let mut s = Scratch::new();
    (0..60)
        .map(|q| {
            let target = Target::Values(point(N + q * 13).iter().map(|&x| f64::from(x)).collect());
            let query = Query {
                k: 10,
                exact,
                ..Query::new(dir, target)
            };
            let mut hits = Vec::new();
            e.search(&query, &Creds::ROOT, &mut s, &mut hits).unwrap();
            hits.iter().map(|h| (h.ino, h.distance)).collect()
        })
        .collect()
}

/// Recall@10 of `dir`'s searches against its exact searches (by inode).
fn recall(e: &Engine, dir: &str) -> f64 {
    let (got, want) = (search(e, dir, false), search(e, dir, true));
    let hits: usize = got
        .iter()
        .zip(&want)
        .map(|(g, w)| g.iter().filter(|(i, _)| w.iter().any(|(j, _)| j == i)).count())
        .sum();
    hits as f64 / want.iter().map(Vec::len).sum::<usize>() as f64
}

fn temp_image(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vexfs-quantized-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn sq8_trained(e: &Engine, dir: &str) -> bool {
    let d = e.resolve(dir.as_bytes(), false).unwrap();
    e.collections()
        .get(d)
        .unwrap()
        .index
        .sq8()
        .is_some_and(|q| q.is_trained())
}

#[test]
fn sq8_recall_round_trip_fsck_and_rebuild() {
    let path = temp_image("sq8.img");
    let open = |create| Arc::new(FileStorage::open(&path, create, true).unwrap()) as Arc<dyn Storage>;
    let mut e = Engine::create_image(open(true), EngineConfig::default()).unwrap();
    populate(&mut e);
    check(&e).unwrap();
    assert!(sq8_trained(&e, "/quant"));
    let (rp, rq) = (recall(&e, "/plain"), recall(&e, "/quant"));
    eprintln!("recall@10 at the default ef: none {rp:.4}, sq8 {rq:.4}");
    assert!(rq >= rp - 0.01, "sq8 {rq} against none {rp}");
    // Distances are exact: a quantized search's hits carry the distances exact search gives.
    for (g, w) in search(&e, "/quant", false).iter().zip(search(&e, "/quant", true)) {
        for (ino, d) in g {
            if let Some((_, dw)) = w.iter().find(|(j, _)| j == ino) {
                assert_eq!(d.to_bits(), dw.to_bits());
            }
        }
    }
    let d = e.resolve(b"/quant", false).unwrap();
    let cfg = e.getxattr(d, INDEX_XATTR).unwrap().to_vec();
    assert_eq!(
        String::from_utf8(cfg.clone()).unwrap(),
        format!(
            "dim={DIM} metric=cosine type=f32 m=16 ef_construction=200 ef_search=64 quantization=sq8 rerank=32"
        )
    );
    let digest = state_digest(&e);
    let results = search(&e, "/quant", false);
    e.close().unwrap();

    // Reopened: the training came from the checkpoint, the codes were recomputed identically.
    let e = Engine::open_image(open(false), OpenOptions::default()).unwrap();
    assert_eq!(e.journal_stats().unwrap().indexes_loaded, 2);
    assert_eq!(state_digest(&e), digest);
    check(&e).unwrap();
    assert!(sq8_trained(&e, "/quant"));
    assert_eq!(search(&e, "/quant", false), results);
    e.close().unwrap();

    // fsck is clean; --rebuild-index rebuilds (and retrains) and stays clean.
    let report = fsck(open(false), false, false, |_, _, _| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let report = fsck(open(false), false, true, |_, _, _| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let e = Engine::open_image(open(false), OpenOptions::default()).unwrap();
    check(&e).unwrap();
    assert!(sq8_trained(&e, "/quant"));
    let rq2 = recall(&e, "/quant");
    assert!(rq2 >= recall(&e, "/plain") - 0.01, "after rebuild: {rq2}");
    e.close().unwrap();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bad_quantization_settings_are_refused_and_change_nothing() {
    let mut e = Engine::new(EngineConfig::default());
    let c = ctx();
    let d = e.mkdir(ROOT_INO, b"q", 0o755, &c).unwrap().ino;
    for bad in [
        "dim=8 quantization=sq8 metric=l1",
        "dim=8 quantization=sq8 type=i8",
        "dim=8 quantization=sq8 type=bin",
        "dim=8 quantization=sq4",
        "dim=8 rerank=10",
        "dim=8 quantization=sq8 rerank=0",
        "dim=8 quantization=sq8 rerank=5000",
    ] {
        let before = state_digest(&e);
        assert!(
            matches!(
                e.setxattr(d, INDEX_XATTR, bad.as_bytes(), XattrMode::Any, &c),
                Err(Error::Invalid(_))
            ),
            "{bad} accepted"
        );
        assert_eq!(state_digest(&e), before, "{bad} changed something");
    }
    e.setxattr(d, INDEX_XATTR, b"dim=8 quantization=sq8", XattrMode::Any, &c)
        .unwrap();
    for i in 0..40u32 {
        let f = e.create(d, format!("f{i}").as_bytes(), 0o644, &c).unwrap().ino;
        let v: Vec<f32> = (0..8).map(|j| (i * 8 + j) as f32).collect();
        e.setxattr(f, VECTOR_XATTR, &bytes(&v), XattrMode::Any, &c)
            .unwrap();
    }
    check(&e).unwrap();
    // Holding vectors: quantization cannot change; rerank and ef_search can.
    let before = state_digest(&e);
    assert!(matches!(
        e.setxattr(d, INDEX_XATTR, b"dim=8", XattrMode::Any, &c),
        Err(Error::Busy(_))
    ));
    assert_eq!(state_digest(&e), before);
    e.setxattr(
        d,
        INDEX_XATTR,
        b"dim=8 quantization=sq8 rerank=3 ef_search=20",
        XattrMode::Any,
        &c,
    )
    .unwrap();
    assert_eq!(
        e.getxattr(d, INDEX_XATTR).unwrap(),
        b"dim=8 metric=l2 type=f32 m=16 ef_construction=200 ef_search=20 quantization=sq8 rerank=3"
    );
    assert_eq!(e.collections().get(d).unwrap().index.rerank(), 3);
    check(&e).unwrap();
}
