//! The API over an image file: create, populate, sync, reopen (clean and after a crash-like
//! drop without close), read-only opens, and the one-open-at-a-time rule.

// Helpers outside #[test] functions unwrap too: these are tests.
#![allow(clippy::unwrap_used)]

use vexfs::{Error, IndexConfig, OpenOptions, Vexfs, vector::ElemType};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vexfs-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn create_sync_reopen() {
    let path = temp("a.img");
    let mut fs = Vexfs::create(&path).unwrap();
    fs.create_dir_all("/notes/deep").unwrap();
    fs.create_collection("/notes", &IndexConfig::new(2, ElemType::F32))
        .unwrap();
    fs.write("/notes/a", b"alpha").unwrap();
    fs.set_vector("/notes/a", &[1.0, 0.0]).unwrap();
    fs.set_xattr("/notes/a", "user.lang", "en").unwrap();
    fs.sync().unwrap();
    assert!(
        matches!(Vexfs::open(&path), Err(Error::Locked)),
        "a second open is refused"
    );
    assert!(
        matches!(Vexfs::create(&path), Err(Error::Exists)),
        "create refuses to overwrite"
    );
    drop(fs);
    let fs = Vexfs::open_with(&path, OpenOptions::read_only()).unwrap();
    assert_eq!(fs.read("/notes/a").unwrap(), b"alpha");
    let hits = fs
        .search_json(r#"{"dir":"/notes","vector":[1,0],"k":1,"filter":"lang = en"}"#)
        .unwrap();
    assert_eq!(hits[0].path, "/notes/a");
    assert!(fs.stats().image_bytes.unwrap() > 0);
    assert_eq!(
        fs.engine().journal_stats().unwrap().replayed,
        0,
        "drop closed cleanly"
    );
    drop(fs);
    let mut fs = Vexfs::open(&path).unwrap();
    fs.write("/notes/b", b"beta").unwrap();
    fs.close().unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn read_only_refuses_changes() {
    let path = temp("ro.img");
    Vexfs::create(&path).unwrap().close().unwrap();
    let mut fs = Vexfs::open_with(&path, OpenOptions::read_only()).unwrap();
    assert_eq!(fs.create_dir("/x").unwrap_err(), Error::ReadOnly);
    assert_eq!(fs.write("/x", b"").unwrap_err(), Error::ReadOnly);
    fs.close().unwrap();
    std::fs::remove_file(&path).unwrap();
}
