//! The batch calls `upsert_files` and `remove_files`: what they apply, and that a bad item
//! anywhere in a batch fails the call before anything changes (the check names the item).

// Helpers outside #[test] functions unwrap too: these are tests.
#![allow(clippy::unwrap_used)]

use vexfs::{BatchError, Error, FileUpsert, IndexConfig, OpenOptions, Vexfs, vector::ElemType};

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn collection() -> Vexfs {
    let mut fs = Vexfs::in_memory();
    fs.create_dir("/c").unwrap();
    fs.create_collection("/c", &IndexConfig::new(2, ElemType::F32))
        .unwrap();
    fs
}

/// One file as [`snapshot`] sees it: name, contents, attributes.
type FileState = (Vec<u8>, Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// A bad batch, the position of its bad item, and what the error must be.
type Case<'a> = (Vec<FileUpsert<'a>>, usize, fn(&Error) -> bool);

/// Everything observable about the collection's files: names, contents, attributes.
fn snapshot(fs: &Vexfs) -> Vec<FileState> {
    let mut out = Vec::new();
    for e in fs.read_dir("/c").unwrap() {
        let path = [b"/c/".as_slice(), &e.name].concat();
        let data = fs.read(&path).unwrap_or_default();
        let attrs = fs
            .list_xattr(&path)
            .unwrap()
            .into_iter()
            .map(|n| {
                let v = fs.get_xattr(&path, &n).unwrap();
                (n, v)
            })
            .collect();
        out.push((e.name.to_vec(), data, attrs));
    }
    out
}

#[test]
fn upsert_creates_updates_and_keeps_what_is_not_given() {
    let mut fs = collection();
    let (a, b) = (f32s(&[1.0, 0.0]), f32s(&[0.0, 1.0]));
    let lang: &[(&[u8], &[u8])] = &[(b"lang", b"en")];
    let files = [
        FileUpsert {
            name: b"a",
            vector: Some(&a),
            metadata: lang,
            contents: Some(b"alpha"),
        },
        FileUpsert {
            name: b"b",
            vector: Some(&b),
            ..FileUpsert::default()
        },
    ];
    assert_eq!(fs.upsert_files("/c", &files).unwrap(), 2);
    assert_eq!(fs.read("/c/a").unwrap(), b"alpha");
    assert_eq!(fs.get_xattr("/c/a", "user.lang").unwrap(), b"en");
    assert_eq!(fs.vector_bytes("/c/b").unwrap(), b);
    // Upsert: a new vector for a, contents and metadata untouched; b's name given twice ends
    // with the later item.
    let files = [
        FileUpsert {
            name: b"a",
            vector: Some(&b),
            ..FileUpsert::default()
        },
        FileUpsert {
            name: b"b",
            vector: Some(&a),
            ..FileUpsert::default()
        },
        FileUpsert {
            name: b"b",
            vector: Some(&b),
            ..FileUpsert::default()
        },
    ];
    assert_eq!(fs.upsert_files("/c", &files).unwrap(), 0);
    assert_eq!(fs.read("/c/a").unwrap(), b"alpha");
    assert_eq!(fs.get_xattr("/c/a", "user.lang").unwrap(), b"en");
    assert_eq!(fs.vector_bytes("/c/a").unwrap(), b);
    assert_eq!(fs.vector_bytes("/c/b").unwrap(), b);
    let hits = fs
        .search_json(r#"{"dir":"/c","vector":[0,1],"k":5,"exact":true}"#)
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.distance == 0.0));
    fs.check().unwrap();
}

#[test]
fn a_bad_item_changes_nothing_and_is_named() {
    let mut fs = collection();
    fs.create_dir("/c/sub").unwrap();
    let good = f32s(&[1.0, 0.0]);
    let nan = f32s(&[f32::NAN, 0.0]);
    let short = f32s(&[1.0]);
    let long_key = vec![b'k'; 300];
    let cases: Vec<Case<'_>> = vec![
        (
            vec![FileUpsert {
                name: b"x/y",
                ..FileUpsert::default()
            }],
            0,
            |e| matches!(e, Error::Invalid(_)),
        ),
        (
            vec![FileUpsert {
                name: b"sub",
                ..FileUpsert::default()
            }],
            0,
            |e| *e == Error::IsDirectory,
        ),
        (
            vec![FileUpsert {
                name: &[b'n'; 256],
                ..FileUpsert::default()
            }],
            0,
            |e| *e == Error::NameTooLong,
        ),
        (
            vec![FileUpsert {
                name: b"v",
                vector: Some(&nan),
                ..FileUpsert::default()
            }],
            0,
            |e| matches!(e, Error::Invalid(_)),
        ),
        (
            vec![FileUpsert {
                name: b"v",
                vector: Some(&short),
                ..FileUpsert::default()
            }],
            0,
            |e| matches!(e, Error::Invalid(_)),
        ),
        (
            vec![FileUpsert {
                name: b"m",
                metadata: &[(b"vexfs.vector", b"x")],
                ..FileUpsert::default()
            }],
            0,
            |e| matches!(e, Error::Invalid(_)),
        ),
        (
            vec![FileUpsert {
                name: b"m",
                metadata: &[(b"", b"x")],
                ..FileUpsert::default()
            }],
            0,
            |e| matches!(e, Error::Invalid(_)),
        ),
    ];
    for (mut files, item, want) in cases {
        // Good items before and after the bad one: none of them may be applied.
        files.insert(
            0,
            FileUpsert {
                name: b"first",
                vector: Some(&good),
                contents: Some(b"1"),
                ..FileUpsert::default()
            },
        );
        files.push(FileUpsert {
            name: b"last",
            vector: Some(&good),
            ..FileUpsert::default()
        });
        let before = snapshot(&fs);
        let err = fs.upsert_files("/c", &files).unwrap_err();
        assert_eq!(err.item, Some(item + 1), "{err}");
        assert!(want(&err.error), "{err}");
        assert_eq!(snapshot(&fs), before, "{err}: nothing changed");
    }
    let key_pair: [(&[u8], &[u8]); 1] = [(&long_key, b"x")];
    let err = fs
        .upsert_files(
            "/c",
            &[FileUpsert {
                name: b"m",
                metadata: &key_pair,
                ..FileUpsert::default()
            }],
        )
        .unwrap_err();
    assert_eq!(err.error, Error::Range);
    let big = vec![0u8; 70 * 1024];
    let value_pair: [(&[u8], &[u8]); 1] = [(b"k", &big)];
    let err = fs
        .upsert_files(
            "/c",
            &[FileUpsert {
                name: b"m",
                metadata: &value_pair,
                ..FileUpsert::default()
            }],
        )
        .unwrap_err();
    assert_eq!(err.error, Error::ValueTooBig);
    assert_eq!(fs.read_dir("/c").unwrap().len(), 1, "only sub");
}

#[test]
fn whole_batch_errors_name_no_item() {
    let mut fs = collection();
    fs.create_dir("/plain").unwrap();
    let v = f32s(&[1.0, 0.0]);
    let one = [FileUpsert {
        name: b"a",
        vector: Some(&v),
        ..FileUpsert::default()
    }];
    let e = fs.upsert_files("/plain", &one).unwrap_err();
    assert_eq!(
        e,
        BatchError {
            item: None,
            error: Error::Invalid("not a collection")
        }
    );
    assert_eq!(
        fs.upsert_files("/missing", &one).unwrap_err().error,
        Error::NotFound
    );

    let dir = std::env::temp_dir().join(format!("vexfs-api-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ro.img");
    let _ = std::fs::remove_file(&path);
    let mut img = Vexfs::create(&path).unwrap();
    img.create_dir("/c").unwrap();
    img.create_collection("/c", &IndexConfig::new(2, ElemType::F32))
        .unwrap();
    img.close().unwrap();
    let mut ro = Vexfs::open_with(
        &path,
        OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        },
    )
    .unwrap();
    let e = ro.upsert_files("/c", &one).unwrap_err();
    assert_eq!(
        e,
        BatchError {
            item: None,
            error: Error::ReadOnly
        }
    );
    assert_eq!(e.to_string(), "read-only file system");
    ro.close().unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn remove_files_checks_every_name_first() {
    let mut fs = collection();
    let v = f32s(&[1.0, 0.0]);
    let files: Vec<FileUpsert<'_>> = [b"a", b"b", b"c"]
        .iter()
        .map(|n| FileUpsert {
            name: *n,
            vector: Some(&v),
            ..FileUpsert::default()
        })
        .collect();
    fs.upsert_files("/c", &files).unwrap();
    fs.create_dir("/c/d").unwrap();
    let before = snapshot(&fs);
    let e = fs.remove_files("/c", &["a", "zz"]).unwrap_err();
    assert_eq!((e.item, e.error), (Some(1), Error::NotFound));
    let e = fs.remove_files("/c", &["a", "d"]).unwrap_err();
    assert_eq!((e.item, e.error), (Some(1), Error::IsDirectory));
    let e = fs.remove_files("/c", &["a", "b", "a"]).unwrap_err();
    assert_eq!(e.item, Some(2));
    assert_eq!(e.to_string(), "item 2: no such file or directory");
    assert_eq!(snapshot(&fs), before);
    fs.remove_files("/c", &["a", "c"]).unwrap();
    let names: Vec<_> = fs.read_dir("/c").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, [b"b".as_slice().into(), b"d".as_slice().into()]);
    assert_eq!(fs.stats().collections[0].vectors, 1);
    fs.check().unwrap();
}
