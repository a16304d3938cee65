//! A quantized (`quantization=sq8`) collection through the mount: configured with `setxattr`,
//! 600 files with 32-dimensional f32 vectors, searches through `/.vexfs/search` against exact
//! search (recall, and exact distances), the canonical configuration read back, `rerank`
//! changed on a populated collection, bad quantization settings refused with EINVAL (changing
//! nothing), and identical results after a remount.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

const N: usize = 600;
const DIM: usize = 32;

#[test]
fn sq8_collection_through_the_mount() {
    let data = clustered(N + 30, DIM, 12, 17);
    let s = Scratch::new("quantized");
    let opts = vexfs_fuse::MountOptions::default();
    let mut before = Vec::new();
    let ran = s.with_mount(&opts, |root| {
        let q = root.join("q");
        std::fs::create_dir(&q).unwrap();
        // Refused settings: EINVAL, and the directory stays a plain directory.
        for bad in [
            "dim=32 quantization=sq8 metric=l1",
            "dim=32 quantization=sq8 type=i8",
            "dim=32 quantization=zip",
            "dim=32 rerank=10",
            "dim=32 quantization=sq8 rerank=0",
        ] {
            assert_eq!(
                setxattr(&q, b"user.vexfs.index", bad.as_bytes(), 0),
                Err(libc::EINVAL),
                "{bad}"
            );
            assert_eq!(getxattr(&q, b"user.vexfs.index"), Err(libc::ENODATA), "{bad}");
        }
        setxattr(&q, b"user.vexfs.index", b"dim=32 quantization=sq8 rerank=40", 0).unwrap();
        assert_eq!(
            getxattr(&q, b"user.vexfs.index").unwrap(),
            b"dim=32 metric=l2 type=f32 m=16 ef_construction=200 ef_search=64 quantization=sq8 rerank=40"
        );
        for (i, v) in data[..N].iter().enumerate() {
            let f = q.join(format!("v{i:04}"));
            std::fs::write(&f, b"x").unwrap();
            setxattr(&f, b"user.vexfs.vector", &vec_bytes(v), 0).unwrap();
        }
        // Recall against exact search, and every returned distance is the exact one.
        let (mut got, mut want) = (0usize, 0usize);
        for v in &data[N..] {
            let approx = hits(&search_ok(root, &query("/q", v, 10, "")));
            let exact = hits(&search_ok(root, &query("/q", v, 10, ",\"exact\":true")));
            assert_eq!(approx.len(), 10);
            want += exact.len();
            for (p, d) in &approx {
                if let Some((_, de)) = exact.iter().find(|(pe, _)| pe == p) {
                    got += 1;
                    assert_eq!(d, de, "{p}: distance is not the exact one");
                }
            }
        }
        let recall = got as f64 / want as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
        // Populated: quantization cannot change (EBUSY), rerank can.
        assert_eq!(setxattr(&q, b"user.vexfs.index", b"dim=32", 0), Err(libc::EBUSY));
        setxattr(&q, b"user.vexfs.index", b"dim=32 quantization=sq8 rerank=64", 0).unwrap();
        assert!(
            String::from_utf8(getxattr(&q, b"user.vexfs.index").unwrap())
                .unwrap()
                .ends_with("quantization=sq8 rerank=64")
        );
        // A vector reads back exactly as set.
        assert_eq!(
            getxattr(&q.join("v0007"), b"user.vexfs.vector").unwrap(),
            vec_bytes(&data[7])
        );
        before = top10_of_each(root, "/q", &data[N..]);
    });
    if !ran {
        return;
    }
    s.with_mount(&opts, |root| {
        assert_eq!(
            top10_of_each(root, "/q", &data[N..]),
            before,
            "results differ after a remount"
        );
    });
}
