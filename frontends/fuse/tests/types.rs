//! Every element type with every metric it supports, through the mount only: one collection per
//! (type, metric) made with `setxattr`, 40 files given vectors in the collection's byte encoding,
//! then graph and exact searches through `/.vexfs/search` checked against distances this test
//! computes itself (in `f64`, from the SPEC §3 definitions). The data are small integers, which
//! every type represents exactly, so the expected distances are exact too.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

const FILES: usize = 40;
/// Dimension of the numeric collections; `bin` collections have `BIN_BITS` bits.
const DIM: usize = 8;
const BIN_BITS: usize = 16;
const K: usize = 10;

#[derive(Clone, Copy, Debug)]
enum Elem {
    F32,
    F16,
    I8,
    I16,
    Bin,
}

impl Elem {
    fn name(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::F16 => "f16",
            Elem::I8 => "i8",
            Elem::I16 => "i16",
            Elem::Bin => "bin",
        }
    }

    fn dim(self) -> usize {
        match self {
            Elem::Bin => BIN_BITS,
            _ => DIM,
        }
    }

    /// The raw `user.vexfs.vector` bytes of `v` (integers; 0/1 for `bin`, packed lowest bit
    /// first).
    fn encode(self, v: &[f64]) -> Vec<u8> {
        match self {
            Elem::F32 => v.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect(),
            Elem::F16 => v
                .iter()
                .flat_map(|&x| half::f16::from_f64(x).to_le_bytes())
                .collect(),
            Elem::I8 => v.iter().map(|&x| x as i8 as u8).collect(),
            Elem::I16 => v.iter().flat_map(|&x| (x as i16).to_le_bytes()).collect(),
            Elem::Bin => v
                .chunks(8)
                .map(|c| {
                    c.iter()
                        .enumerate()
                        .fold(0u8, |b, (i, &x)| b | (u8::from(x != 0.0) << i))
                })
                .collect(),
        }
    }
}

/// The SPEC §3 distance.
fn distance(metric: &str, a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    match metric {
        "l2" => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        "l1" => a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum(),
        "dot" => -dot,
        "cosine" => {
            let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
            let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
            1.0 - dot / (na * nb)
        }
        "hamming" => a.iter().zip(b).filter(|(x, y)| x != y).count() as f64,
        _ => unreachable!("{metric}"),
    }
}

/// A vector of small integers (0/1 for `bin`); never all zero, so cosine is defined.
fn point(elem: Elem, rng: &mut Rng) -> Vec<f64> {
    let mut v: Vec<f64> = (0..elem.dim())
        .map(|_| match elem {
            Elem::Bin => (rng.next_u64() & 1) as f64,
            _ => (rng.next_u64() % 17) as f64 - 8.0,
        })
        .collect();
    v[0] = if matches!(elem, Elem::Bin) {
        1.0
    } else {
        v[0].max(1.0)
    };
    v
}

fn query_json(dir: &str, v: &[f64], extra: &str) -> String {
    let values: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
    format!(
        "{{\"dir\":\"{dir}\",\"vector\":[{}],\"k\":{K}{extra}}}",
        values.join(",")
    )
}

/// Checks one search's results against the expected distances: K results, each distance the
/// expected one for its file, sorted, and a true top K (no closer file left out; ties may
/// resolve either way).
fn check(what: &str, got: &[(String, f64)], expected: &[(String, f64)]) {
    assert_eq!(got.len(), K, "{what}: {got:?}");
    let tol = |d: f64| 1e-4 * d.abs().max(1.0);
    for w in got.windows(2) {
        assert!(w[0].1 <= w[1].1, "{what}: not sorted: {got:?}");
    }
    for (path, d) in got {
        let want = expected
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{what}: {path}?"))
            .1;
        assert!(
            (d - want).abs() <= tol(want),
            "{what}: {path} at {d}, expected {want}"
        );
    }
    let kth = expected[K - 1].1;
    let last = got[K - 1].1;
    assert!(
        last <= kth + tol(kth),
        "{what}: k-th result at {last}, the true k-th at {kth}"
    );
}

#[test]
fn every_type_and_metric_through_the_mount() {
    let cases: Vec<(Elem, &str)> = [Elem::F32, Elem::F16, Elem::I8, Elem::I16]
        .into_iter()
        .flat_map(|e| ["l2", "cosine", "dot", "l1"].map(|m| (e, m)))
        .chain([(Elem::Bin, "hamming")])
        .collect();
    with_fresh_mount("types", |root| {
        let mut rng = Rng(7);
        for (elem, metric) in cases {
            let dir = format!("/{}_{metric}", elem.name());
            let p = root.join(&dir[1..]);
            std::fs::create_dir(&p).unwrap();
            let cfg = format!("dim={} metric={metric} type={}", elem.dim(), elem.name());
            setxattr(&p, b"user.vexfs.index", cfg.as_bytes(), 0).unwrap();
            let data: Vec<Vec<f64>> = (0..FILES).map(|_| point(elem, &mut rng)).collect();
            for (i, v) in data.iter().enumerate() {
                let f = p.join(format!("f{i:02}"));
                std::fs::write(&f, b"x").unwrap();
                setxattr(&f, b"user.vexfs.vector", &elem.encode(v), 0).unwrap();
                assert_eq!(getxattr(&f, b"user.vexfs.vector").unwrap(), elem.encode(v));
            }
            for _ in 0..5 {
                let q = point(elem, &mut rng);
                let mut expected: Vec<(String, f64)> = data
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{dir}/f{i:02}"), distance(metric, &q, v)))
                    .collect();
                expected.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                for extra in ["", ",\"exact\":true"] {
                    let what = format!("{dir} {}", if extra.is_empty() { "graph" } else { "exact" });
                    check(&what, &results(root, &query_json(&dir, &q, extra)), &expected);
                }
            }
            // A vector of the wrong length for this type is refused and changes nothing.
            let f = p.join("f00");
            let e = setxattr(&f, b"user.vexfs.vector", &[1, 2, 3], 0).unwrap_err();
            assert_eq!(e, libc::EINVAL, "{dir}");
            assert_eq!(getxattr(&f, b"user.vexfs.vector").unwrap(), elem.encode(&data[0]));
        }
    });
}
