//! A collection whose vectors are large enough for 1-bit sketches (384-d `f32` cosine, the
//! shape of MiniLM sentence embeddings; see `index::sketch` and `SKETCH_VECTOR_BYTES_MIN`)
//! through the mount: searches through `/.vexfs/search` against exact search (recall, and
//! every returned distance the exact one), removed files never returned, a replaced vector
//! found under its new value, vectors read back exactly, and identical results after a
//! remount and on a read-only mount (each rebuilds every sketch from the image).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

const N: usize = 600;
const DIM: usize = 384;
// The collection is sketched: its f32 vectors reach the size that gets sketches.
const _: () = assert!(4 * DIM >= vexfs_core::limits::SKETCH_VECTOR_BYTES_MIN);

#[test]
fn sketched_collection_through_the_mount() {
    let data = clustered(N + 30, DIM, 12, 29);
    let s = Scratch::new("sketched");
    let opts = vexfs_fuse::MountOptions::default();
    let mut before = Vec::new();
    let ran = s.with_mount(&opts, |root| {
        let e = root.join("e");
        std::fs::create_dir(&e).unwrap();
        setxattr(&e, b"user.vexfs.index", b"dim=384 metric=cosine", 0).unwrap();
        for (i, v) in data[..N].iter().enumerate() {
            let f = e.join(format!("v{i:04}"));
            std::fs::write(&f, b"x").unwrap();
            setxattr(&f, b"user.vexfs.vector", &vec_bytes(v), 0).unwrap();
        }
        // Every tenth file removed, and one vector replaced by a query's.
        for i in (0..N).step_by(10) {
            std::fs::remove_file(e.join(format!("v{i:04}"))).unwrap();
        }
        setxattr(&e.join("v0001"), b"user.vexfs.vector", &vec_bytes(&data[N]), 0).unwrap();
        let (mut got, mut want) = (0usize, 0usize);
        for v in &data[N..] {
            let approx = hits(&search_ok(root, &query("/e", v, 10, "")));
            let exact = hits(&search_ok(root, &query("/e", v, 10, ",\"exact\":true")));
            assert_eq!(approx.len(), 10);
            want += exact.len();
            for (p, d) in &approx {
                let i: usize = p.trim_start_matches("/e/v").parse().unwrap();
                assert_ne!(i % 10, 0, "{p} was removed");
                if let Some((_, de)) = exact.iter().find(|(pe, _)| pe == p) {
                    got += 1;
                    assert_eq!(d, de, "{p}: distance is not the exact one");
                }
            }
        }
        let recall = got as f64 / want as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
        let first = hits(&search_ok(root, &query("/e", &data[N], 1, "")));
        assert_eq!(first[0].0, "/e/v0001", "the replaced vector is found");
        assert!(first[0].1.abs() < 1e-6, "{:?}", first[0]);
        assert_eq!(
            getxattr(&e.join("v0007"), b"user.vexfs.vector").unwrap(),
            vec_bytes(&data[7])
        );
        before = top10_of_each(root, "/e", &data[N..]);
    });
    if !ran {
        return;
    }
    s.with_mount(&opts, |root| {
        assert_eq!(
            top10_of_each(root, "/e", &data[N..]),
            before,
            "results differ after a remount"
        );
    });
    // Read-only: the image is opened without writing, the sketches are rebuilt all the same,
    // and nothing can change.
    let ro = vexfs_fuse::MountOptions {
        read_only: true,
        ..vexfs_fuse::MountOptions::default()
    };
    s.with_mount(&ro, |root| {
        assert_eq!(
            top10_of_each(root, "/e", &data[N..]),
            before,
            "results differ on a read-only mount"
        );
        assert_eq!(
            setxattr(
                &root.join("e/v0002"),
                b"user.vexfs.vector",
                &vec_bytes(&data[3]),
                0
            ),
            Err(libc::EROFS)
        );
    });
}
