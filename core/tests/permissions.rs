//! Searches, `like`, filters, errors and stats on behalf of unprivileged callers (issue 15,
//! SPEC §4): each rule of `Engine::search` and `Engine::stats` as a unit case, then a property
//! test over random trees, modes, owners, groups and queries that compares an unprivileged
//! search with a brute-force answer over exactly the files that caller may read, computed by a
//! separate, deliberately plain model of the POSIX rules.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use vexfs_core::query::{Query, parse_query};
use vexfs_core::{
    Creds, Ctx, Engine, EngineConfig, Error, INDEX_XATTR, Ino, ROOT_INO, Scratch, SetAttr, Timestamp,
    VECTOR_XATTR, XattrMode,
};

fn root_ctx() -> Ctx {
    Ctx::new(Timestamp::new(1_700_000_000, 0), 0, 0)
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A tree built as root, each node then given its mode and owner.
struct Tree {
    e: Engine,
}

impl Tree {
    fn new() -> Self {
        Tree {
            e: Engine::new(EngineConfig::default()),
        }
    }

    fn own(&mut self, ino: Ino, mode: u32, uid: u32, gid: u32) {
        let change = SetAttr {
            perm: Some(mode),
            uid: Some(uid),
            gid: Some(gid),
            ..SetAttr::default()
        };
        self.e.setattr(ino, change, &root_ctx()).unwrap();
    }

    fn mkdir(&mut self, parent: Ino, name: &str, mode: u32, uid: u32, gid: u32) -> Ino {
        let ino = self
            .e
            .mkdir(parent, name.as_bytes(), 0o755, &root_ctx())
            .unwrap()
            .ino;
        self.own(ino, mode, uid, gid);
        ino
    }

    fn collection(&mut self, parent: Ino, name: &str, mode: u32, uid: u32, gid: u32) -> Ino {
        let ino = self.mkdir(parent, name, mode, uid, gid);
        self.e
            .setxattr(
                ino,
                INDEX_XATTR,
                b"dim=2 ef_search=64",
                XattrMode::Any,
                &root_ctx(),
            )
            .unwrap();
        ino
    }

    #[allow(clippy::too_many_arguments)]
    fn file(
        &mut self,
        dir: Ino,
        name: &str,
        mode: u32,
        uid: u32,
        gid: u32,
        v: [f32; 2],
        attrs: &[(&str, &str)],
    ) -> Ino {
        let ino = self
            .e
            .create(dir, name.as_bytes(), 0o644, &root_ctx())
            .unwrap()
            .ino;
        self.e
            .setxattr(ino, VECTOR_XATTR, &f32s(&v), XattrMode::Any, &root_ctx())
            .unwrap();
        for (k, val) in attrs {
            let key = format!("user.{k}");
            self.e
                .setxattr(ino, key.as_bytes(), val.as_bytes(), XattrMode::Any, &root_ctx())
                .unwrap();
        }
        self.own(ino, mode, uid, gid);
        ino
    }

    /// `(path, distance)` lines of a search, or its error.
    fn search(&self, creds: &Creds, json: &str) -> Result<Vec<(String, f32)>, Error> {
        search(&self.e, creds, &parse_query(json.as_bytes()).unwrap())
    }
}

fn search(e: &Engine, creds: &Creds, q: &Query) -> Result<Vec<(String, f32)>, Error> {
    let mut hits = Vec::new();
    let dir = e.search(q, creds, &mut Scratch::new(), &mut hits)?;
    let mut p = Vec::new();
    Ok(hits
        .iter()
        .map(|h| {
            e.hit_path(dir, h.ino, &mut p).unwrap();
            (String::from_utf8(p.clone()).unwrap(), h.distance)
        })
        .collect())
}

fn paths(r: &[(String, f32)]) -> Vec<&str> {
    r.iter().map(|(p, _)| p.as_str()).collect()
}

const NOBODY: Creds = Creds::user(65534, 65534);

/// `/pub` (0755, a collection of three world-readable files and one 0600 file of root's),
/// `/secret` (0700, root's; a collection `/secret/coll` inside, a plain directory `/secret/plain`
/// and a file `/secret/hidden` with a vector), `/open` (0711: searchable, not readable).
fn sample() -> Tree {
    let mut t = Tree::new();
    let p = t.collection(ROOT_INO, "pub", 0o755, 0, 0);
    t.file(
        p,
        "a",
        0o644,
        0,
        0,
        [1.0, 0.0],
        &[("salary", "10"), ("lang", "en")],
    );
    t.file(
        p,
        "b",
        0o644,
        0,
        0,
        [2.0, 0.0],
        &[("salary", "20"), ("lang", "en")],
    );
    t.file(
        p,
        "c",
        0o644,
        0,
        0,
        [3.0, 0.0],
        &[("salary", "30"), ("lang", "de")],
    );
    t.file(
        p,
        "private",
        0o600,
        0,
        0,
        [0.0, 0.0],
        &[("salary", "5"), ("lang", "en")],
    );
    let s = t.mkdir(ROOT_INO, "secret", 0o700, 0, 0);
    let c = t.collection(s, "coll", 0o755, 0, 0);
    t.file(c, "x", 0o644, 0, 0, [0.5, 0.5], &[]);
    t.mkdir(s, "plain", 0o755, 0, 0);
    t.file(s, "hidden", 0o644, 0, 0, [9.0, 9.0], &[]);
    let o = t.mkdir(ROOT_INO, "open", 0o711, 0, 0);
    let oc = t.collection(o, "coll", 0o755, 0, 0);
    t.file(oc, "y", 0o644, 0, 0, [1.0, 1.0], &[]);
    t.mkdir(o, "plain", 0o755, 0, 0);
    t.mkdir(o, "shut", 0o700, 0, 0);
    t.collection(o, "xonly", 0o711, 0, 0);
    t.collection(o, "ronly", 0o744, 0, 0);
    t
}

#[test]
fn a_collection_in_an_unsearchable_directory_is_refused() {
    let t = sample();
    let q = r#"{"dir":"/secret/coll","vector":[0,0],"k":5}"#;
    assert_eq!(t.search(&NOBODY, q), Err(Error::Access));
    assert_eq!(paths(&t.search(&Creds::ROOT, q).unwrap()), ["/secret/coll/x"]);
    // The owner of /secret (uid 0 without privilege is an ordinary owner) may.
    assert_eq!(t.search(&Creds::user(0, 0), q).unwrap().len(), 1);
    // Through `..`, `.` and a symlink the same.
    assert_eq!(
        t.search(&NOBODY, r#"{"dir":"/pub/../secret/coll","vector":[0,0]}"#),
        Err(Error::Access)
    );
    let mut t = t;
    t.e.symlink(ROOT_INO, b"link", b"/secret/coll", &root_ctx())
        .unwrap();
    assert_eq!(
        t.search(&NOBODY, r#"{"dir":"/link","vector":[0,0]}"#),
        Err(Error::Access)
    );
}

#[test]
fn ancestors_need_search_only_and_the_collection_read_and_search() {
    let t = sample();
    // /open is 0711: passing through is allowed.
    assert_eq!(
        paths(
            &t.search(&NOBODY, r#"{"dir":"/open/coll","vector":[0,0]}"#)
                .unwrap()
        ),
        ["/open/coll/y"]
    );
    // A collection with x but no r, or r but no x, is refused.
    for dir in ["/open/xonly", "/open/ronly"] {
        let q = format!(r#"{{"dir":"{dir}","vector":[0,0]}}"#);
        assert_eq!(t.search(&NOBODY, &q), Err(Error::Access), "{dir}");
        assert_eq!(t.search(&Creds::ROOT, &q).unwrap(), vec![], "{dir}");
    }
}

#[test]
fn errors_are_no_existence_oracle() {
    let t = sample();
    // Inside an unsearchable directory: a collection, a plain directory, a file and nothing
    // at all give the same error.
    for dir in [
        "/secret/coll",
        "/secret/plain",
        "/secret/hidden",
        "/secret/nothing",
        "/secret/a/b",
    ] {
        let q = format!(r#"{{"dir":"{dir}","vector":[0,0]}}"#);
        assert_eq!(t.search(&NOBODY, &q), Err(Error::Access), "{dir}");
    }
    // An unlistable directory in a searchable one: refused before "not a collection".
    assert_eq!(
        t.search(&NOBODY, r#"{"dir":"/open/shut","vector":[0,0]}"#),
        Err(Error::Access)
    );
    // Where `stat` would tell, the errors tell too.
    assert_eq!(
        t.search(&NOBODY, r#"{"dir":"/open/nothing","vector":[0,0]}"#),
        Err(Error::NotFound)
    );
    assert!(matches!(
        t.search(&NOBODY, r#"{"dir":"/open/plain","vector":[0,0]}"#),
        Err(Error::Query(m)) if m.contains("not a collection")
    ));
    // Root sees the difference.
    assert_eq!(
        t.search(&Creds::ROOT, r#"{"dir":"/secret/nothing","vector":[0,0]}"#),
        Err(Error::NotFound)
    );
    assert!(matches!(
        t.search(&Creds::ROOT, r#"{"dir":"/secret/plain","vector":[0,0]}"#),
        Err(Error::Query(_))
    ));
}

#[test]
fn unreadable_files_are_no_candidates_and_k_stays_full() {
    let t = sample();
    let q = r#"{"dir":"/pub","vector":[0,0],"k":3}"#;
    assert_eq!(
        paths(&t.search(&NOBODY, q).unwrap()),
        ["/pub/a", "/pub/b", "/pub/c"]
    );
    assert_eq!(
        paths(&t.search(&Creds::ROOT, q).unwrap()),
        ["/pub/private", "/pub/a", "/pub/b"]
    );
    // The same through the graph, exact and with k larger than what may be read.
    for extra in [r#","exact":true"#, r#","ef":1"#, r#","k":10"#] {
        let q = format!(r#"{{"dir":"/pub","vector":[0,0]{extra}}}"#);
        let r = t.search(&NOBODY, &q).unwrap();
        assert!(!paths(&r).contains(&"/pub/private"), "{extra}: {r:?}");
        assert_eq!(r.len(), 3, "{extra}");
    }
}

#[test]
fn l2_queries_do_not_reconstruct_an_unreadable_vector() {
    let mut t = Tree::new();
    let d = t.collection(ROOT_INO, "d", 0o755, 0, 0);
    t.file(d, "secret", 0o600, 0, 0, [3.0, -7.0], &[]);
    for v in ["[0,0]", "[1,0]", "[0,1]"] {
        let q = format!(r#"{{"dir":"/d","vector":{v},"k":5}}"#);
        assert_eq!(t.search(&NOBODY, &q).unwrap(), vec![]);
        assert_eq!(t.search(&Creds::ROOT, &q).unwrap().len(), 1);
    }
}

#[test]
fn like_needs_read_permission_on_its_file() {
    let t = sample();
    // A readable file's vector works; an unreadable one, or one in an unsearchable directory
    // (even outside every collection), is refused whether or not it exists or has a vector.
    let ok = t
        .search(&NOBODY, r#"{"dir":"/pub","like":"/pub/c","k":1}"#)
        .unwrap();
    assert_eq!(paths(&ok), ["/pub/c"]);
    for like in [
        "/pub/private",
        "/secret/hidden",
        "/secret/coll/x",
        "/secret/nothing",
    ] {
        let q = format!(r#"{{"dir":"/pub","like":"{like}"}}"#);
        assert_eq!(t.search(&NOBODY, &q), Err(Error::Access), "{like}");
    }
    assert_eq!(
        paths(
            &t.search(&Creds::ROOT, r#"{"dir":"/pub","like":"/secret/hidden","k":1}"#)
                .unwrap()
        ),
        ["/pub/c"]
    );
}

#[test]
fn filters_never_see_unreadable_metadata() {
    let t = sample();
    // The private file is the only one with salary <= 5, @name private, @size 0 among them
    // all being 0, lang=en nearest: none of it may decide anything.
    for filter in [
        "salary <= 5",
        "salary < 10",
        "@name = private",
        "@name >= p",
        "lang = en and salary < 15",
        "not has(missing) and salary = 5",
    ] {
        let q = format!(r#"{{"dir":"/pub","vector":[0,0],"k":5,"filter":"{filter}"}}"#);
        let nobody = t.search(&NOBODY, &q).unwrap();
        assert!(!paths(&nobody).contains(&"/pub/private"), "{filter}: {nobody:?}");
        let root = t.search(&Creds::ROOT, &q).unwrap();
        assert!(paths(&root).contains(&"/pub/private"), "{filter}: {root:?}");
    }
    // `@size`: all four are empty; nobody counts three.
    let q = r#"{"dir":"/pub","vector":[0,0],"k":10,"filter":"@size = 0"}"#;
    assert_eq!(t.search(&NOBODY, q).unwrap().len(), 3);
    assert_eq!(t.search(&Creds::ROOT, q).unwrap().len(), 4);
}

#[test]
fn supplementary_groups_count_as_the_kernel_counts_them() {
    let mut t = Tree::new();
    let d = t.collection(ROOT_INO, "d", 0o755, 0, 0);
    t.file(d, "staff", 0o640, 0, 50, [1.0, 0.0], &[]);
    // Group members are refused by the group bits although other may read.
    t.file(d, "notstaff", 0o604, 0, 50, [2.0, 0.0], &[]);
    t.file(d, "owner", 0o400, 7, 0, [3.0, 0.0], &[]);
    // A group dir: only members may list it.
    let g = t.collection(ROOT_INO, "g", 0o750, 0, 50);
    t.file(g, "f", 0o640, 0, 50, [1.0, 0.0], &[]);
    let q = r#"{"dir":"/d","vector":[0,0],"k":5}"#;
    let member = Creds::user(1000, 1000).with_groups(&[49, 50]);
    assert_eq!(paths(&t.search(&member, q).unwrap()), ["/d/staff"]);
    let primary = Creds::user(1000, 50);
    assert_eq!(paths(&t.search(&primary, q).unwrap()), ["/d/staff"]);
    let other = Creds::user(1000, 1000).with_groups(&[49]);
    assert_eq!(paths(&t.search(&other, q).unwrap()), ["/d/notstaff"]);
    let owner = Creds::user(7, 7);
    assert_eq!(paths(&t.search(&owner, q).unwrap()), ["/d/notstaff", "/d/owner"]);
    let qg = r#"{"dir":"/g","vector":[0,0]}"#;
    assert_eq!(paths(&t.search(&member, qg).unwrap()), ["/g/f"]);
    assert_eq!(t.search(&other, qg), Err(Error::Access));
}

#[test]
fn stats_list_only_listable_collections_and_count_readable_files() {
    let t = sample();
    let all = t.e.stats(&Creds::ROOT);
    let root_paths: Vec<&str> = all.collections.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        root_paths,
        ["/open/coll", "/open/ronly", "/open/xonly", "/pub", "/secret/coll"]
    );
    let pub_root = all.collections.iter().find(|c| c.path == "/pub").unwrap();
    assert_eq!(pub_root.vectors, 4);
    assert!(pub_root.memory_bytes.is_some() && pub_root.deleted.is_some());

    let s = t.e.stats(&NOBODY);
    let nobody_paths: Vec<&str> = s.collections.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(nobody_paths, ["/open/coll", "/pub"]);
    let pub_nobody = s.collections.iter().find(|c| c.path == "/pub").unwrap();
    assert_eq!(pub_nobody.vectors, 3);
    // Index figures count every node: not shown when some are hidden.
    assert_eq!((pub_nobody.memory_bytes, pub_nobody.deleted), (None, None));
    let open = s.collections.iter().find(|c| c.path == "/open/coll").unwrap();
    assert!(open.memory_bytes.is_some());
    // The counts cover what `ls -l` shows nobody: the root and its entries, /pub's four files
    // and /open/coll's file; the entries of /open (0711) and /secret (0700) are not listable.
    assert_eq!((s.directories, s.files), (4, 5), "{s:?}");
    assert_eq!((all.directories, all.files), (11, 7));
}

// ----- property test ------------------------------------------------------------------------

const DIR_MODES: [u32; 10] = [
    0o755, 0o700, 0o711, 0o750, 0o705, 0o744, 0o770, 0o701, 0o055, 0o710,
];
const FILE_MODES: [u32; 9] = [0o644, 0o600, 0o640, 0o604, 0o400, 0o040, 0o004, 0o000, 0o444];
const UIDS: [u32; 4] = [0, 1, 2, 3];
const GIDS: [u32; 4] = [0, 10, 11, 12];

#[derive(Debug, Clone)]
struct DirSpec {
    /// Index of the parent among earlier directories, or the root.
    parent: Option<usize>,
    mode: u32,
    uid: u32,
    gid: u32,
    collection: bool,
}

#[derive(Debug, Clone)]
struct FileSpec {
    dir: usize,
    mode: u32,
    uid: u32,
    gid: u32,
    v: [i8; 2],
    n: Option<i8>,
}

#[derive(Debug, Clone)]
enum TargetSpec {
    Vector([i8; 2]),
    /// A file by index, or a missing name in a directory by index.
    Like(usize),
    LikeMissing(usize),
}

#[derive(Debug, Clone)]
struct QuerySpec {
    /// A directory by index; past the end: a missing name in the directory at index - len.
    dir: usize,
    missing: bool,
    target: TargetSpec,
    k: u32,
    filter: Option<i8>,
    exact: bool,
}

#[derive(Debug, Clone)]
struct Case {
    dirs: Vec<DirSpec>,
    files: Vec<FileSpec>,
    caller_uid: u32,
    caller_gid: u32,
    groups: Vec<u32>,
    queries: Vec<QuerySpec>,
}

fn pick<T: Copy + std::fmt::Debug + 'static>(xs: &'static [T]) -> impl Strategy<Value = T> {
    (0..xs.len()).prop_map(move |i| xs[i])
}

fn case() -> impl Strategy<Value = Case> {
    let dir = (
        any::<prop::sample::Index>(),
        pick(&DIR_MODES),
        pick(&UIDS),
        pick(&GIDS),
        any::<bool>(),
    );
    prop::collection::vec(dir, 1..6)
        .prop_flat_map(|raw| {
            let dirs: Vec<DirSpec> = raw
                .iter()
                .enumerate()
                .map(|(i, (p, mode, uid, gid, coll))| DirSpec {
                    // Parent: the root, or one of the earlier directories.
                    parent: match p.index(i + 1) {
                        0 => None,
                        j => Some(j - 1),
                    },
                    mode: *mode,
                    uid: *uid,
                    gid: *gid,
                    collection: *coll || i == 0,
                })
                .collect();
            let nd = dirs.len();
            let file = (
                0..nd,
                pick(&FILE_MODES),
                pick(&UIDS),
                pick(&GIDS),
                [-4i8..5, -4i8..5],
                prop::option::of(-3i8..4),
            )
                .prop_map(|(dir, mode, uid, gid, v, n)| FileSpec {
                    dir,
                    mode,
                    uid,
                    gid,
                    v,
                    n,
                });
            let files = prop::collection::vec(file, 0..14);
            (Just(dirs), files)
        })
        .prop_flat_map(|(dirs, files)| {
            let nd = dirs.len();
            let nf = files.len().max(1);
            let target = prop_oneof![
                3 => [-4i8..5, -4i8..5].prop_map(TargetSpec::Vector),
                2 => (0..nf).prop_map(TargetSpec::Like),
                1 => (0..nd).prop_map(TargetSpec::LikeMissing),
            ];
            let query = (
                0..nd,
                prop::bool::weighted(0.15),
                target,
                1u32..8,
                prop::option::of(-3i8..4),
                any::<bool>(),
            )
                .prop_map(|(dir, missing, target, k, filter, exact)| QuerySpec {
                    dir,
                    missing,
                    target,
                    k,
                    filter,
                    exact,
                });
            (
                Just(dirs),
                Just(files),
                pick(&UIDS[1..]),
                pick(&GIDS),
                prop::collection::vec(pick(&GIDS[1..]), 0..3),
                prop::collection::vec(query, 1..8),
            )
        })
        .prop_map(|(dirs, files, caller_uid, caller_gid, groups, queries)| Case {
            dirs,
            files,
            caller_uid,
            caller_gid,
            groups,
            queries,
        })
}

/// The model's permission rule, written out independently of `Creds::permits`.
fn model_may(c: &Case, mode: u32, uid: u32, gid: u32, want: u32) -> bool {
    let bits = if c.caller_uid == uid {
        (mode >> 6) & 7
    } else if c.caller_gid == gid || c.groups.contains(&gid) {
        (mode >> 3) & 7
    } else {
        mode & 7
    };
    bits & want == want
}

fn dir_path(c: &Case, i: usize) -> String {
    let mut parts = vec![format!("d{i}")];
    let mut cur = c.dirs[i].parent;
    while let Some(p) = cur {
        parts.push(format!("d{p}"));
        cur = c.dirs[p].parent;
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

/// Whether the caller may search every directory from the root down to (not including) `i`'s
/// own entry: the root (0755) always; then each ancestor of `i`.
fn model_reaches(c: &Case, i: usize) -> bool {
    let mut cur = c.dirs[i].parent;
    while let Some(p) = cur {
        let d = &c.dirs[p];
        if !model_may(c, d.mode, d.uid, d.gid, 1) {
            return false;
        }
        cur = d.parent;
    }
    true
}

fn build(c: &Case) -> (Engine, Vec<Ino>) {
    let mut t = Tree::new();
    let mut dirs = Vec::new();
    for (i, d) in c.dirs.iter().enumerate() {
        let parent = d.parent.map_or(ROOT_INO, |p| dirs[p]);
        let name = format!("d{i}");
        let ino = if d.collection {
            t.collection(parent, &name, 0o755, 0, 0)
        } else {
            t.mkdir(parent, &name, 0o755, 0, 0)
        };
        dirs.push(ino);
    }
    for (i, f) in c.files.iter().enumerate() {
        let v = [f32::from(f.v[0]), f32::from(f.v[1])];
        let n = f.n.map(|n| n.to_string());
        let attrs: Vec<(&str, &str)> = n.iter().map(|n| ("n", n.as_str())).collect();
        t.file(dirs[f.dir], &format!("f{i}"), f.mode, f.uid, f.gid, v, &attrs);
    }
    // Modes last, so building needed no permission.
    for (i, d) in c.dirs.iter().enumerate() {
        t.own(dirs[i], d.mode, d.uid, d.gid);
    }
    (t.e, dirs)
}

/// The answer the rule promises, or the error.
fn model_search(c: &Case, q: &QuerySpec) -> Result<Vec<(String, f32)>, &'static str> {
    let d = &c.dirs[q.dir];
    if q.missing {
        // `/dN/zz`: a missing name inside dN.
        return Err(
            if model_reaches(c, q.dir) && model_may(c, d.mode, d.uid, d.gid, 1) {
                "NotFound"
            } else {
                "Access"
            },
        );
    }
    if !model_reaches(c, q.dir) || !model_may(c, d.mode, d.uid, d.gid, 5) {
        return Err("Access");
    }
    if !d.collection {
        return Err("Query");
    }
    let target: [i8; 2] = match &q.target {
        TargetSpec::Vector(v) => *v,
        TargetSpec::LikeMissing(i) => {
            let ld = &c.dirs[*i];
            return Err(
                if model_reaches(c, *i) && model_may(c, ld.mode, ld.uid, ld.gid, 1) {
                    "NotFound"
                } else {
                    "Access"
                },
            );
        }
        TargetSpec::Like(i) => match c.files.get(*i) {
            None => return Err("NotFound"),
            Some(f) => {
                let fd = &c.dirs[f.dir];
                let path_ok = model_reaches(c, f.dir) && model_may(c, fd.mode, fd.uid, fd.gid, 1);
                if !path_ok || !model_may(c, f.mode, f.uid, f.gid, 4) {
                    return Err("Access");
                }
                f.v
            }
        },
    };
    let mut all: Vec<(String, f32)> = c
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.dir == q.dir && model_may(c, f.mode, f.uid, f.gid, 4))
        .filter(|(_, f)| q.filter.is_none_or(|x| f.n.is_some_and(|n| n <= x)))
        .map(|(i, f)| {
            let dx = f32::from(f.v[0]) - f32::from(target[0]);
            let dy = f32::from(f.v[1]) - f32::from(target[1]);
            (format!("{}/f{i}", dir_path(c, q.dir)), dx * dx + dy * dy)
        })
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(all)
}

/// Whether `got` is a right top-`k` of `all` (every candidate, sorted): the same distances as
/// the first `k`, the same files where the distance is below the `k`-th, and files of the
/// group tied at the `k`-th distance for the rest (which of a tied group an index keeps at the
/// boundary is its own choice), in (distance, path) order.
fn is_top_k(got: &[(String, f32)], all: &[(String, f32)], k: usize) -> bool {
    let want = &all[..k.min(all.len())];
    if got.len() != want.len() || got.iter().zip(want).any(|(g, w)| g.1 != w.1) {
        return false;
    }
    let Some(last) = want.last().map(|w| w.1) else {
        return true;
    };
    let sorted = got.windows(2).all(|p| (p[0].1, &p[0].0) < (p[1].1, &p[1].0));
    sorted
        && got.iter().zip(want).all(|(g, w)| {
            if g.1 < last {
                g.0 == w.0
            } else {
                all.iter().any(|a| a.1 == last && a.0 == g.0)
            }
        })
}

/// [`is_top_k`] for results or errors.
fn check(
    got: &Result<Vec<(String, f32)>, &'static str>,
    want: &Result<Vec<(String, f32)>, &'static str>,
    k: u32,
) -> bool {
    match (got, want) {
        (Ok(g), Ok(all)) => is_top_k(g, all, k as usize),
        (g, w) => g == w,
    }
}

fn query_json(c: &Case, q: &QuerySpec) -> String {
    let dir = if q.missing {
        format!("{}/zz", dir_path(c, q.dir))
    } else {
        dir_path(c, q.dir)
    };
    let target = match &q.target {
        TargetSpec::Vector(v) => format!(r#""vector":[{},{}]"#, v[0], v[1]),
        TargetSpec::Like(i) => match c.files.get(*i) {
            Some(f) => format!(r#""like":"{}/f{i}""#, dir_path(c, f.dir)),
            None => r#""like":"/nothing-here""#.to_owned(),
        },
        TargetSpec::LikeMissing(i) => format!(r#""like":"{}/zz""#, dir_path(c, *i)),
    };
    let filter = q
        .filter
        .map(|x| format!(r#","filter":"n <= {x}""#))
        .unwrap_or_default();
    format!(
        r#"{{"dir":"{dir}",{target},"k":{},"ef":64,"exact":{}{filter}}}"#,
        q.k, q.exact
    )
}

fn error_name(e: &Error) -> &'static str {
    match e {
        Error::Access => "Access",
        Error::NotFound => "NotFound",
        Error::Query(_) => "Query",
        _ => "other",
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// An unprivileged search returns exactly the brute-force answer over the files the caller
    /// may read (same distances, same paths, same order; at the `k`-th distance any of the
    /// files tied there), or the error the model predicts; the trusted search returns the
    /// answer over every file.
    #[test]
    fn unprivileged_search_is_the_search_over_readable_files(c in case()) {
        let (e, _) = build(&c);
        let creds = Creds::user(c.caller_uid, c.caller_gid).with_groups(&c.groups);
        // Stats: exactly the collections the caller may list, counting the files it may read.
        let mut want: Vec<(String, u64)> = c
            .dirs
            .iter()
            .enumerate()
            .filter(|(i, d)| d.collection && model_reaches(&c, *i) && model_may(&c, d.mode, d.uid, d.gid, 5))
            .map(|(i, _)| {
                let readable = c
                    .files
                    .iter()
                    .filter(|f| f.dir == i && model_may(&c, f.mode, f.uid, f.gid, 4))
                    .count();
                (dir_path(&c, i), readable as u64)
            })
            .collect();
        want.sort();
        let got: Vec<(String, u64)> = e
            .stats(&creds)
            .collections
            .iter()
            .map(|s| (s.path.clone(), s.vectors))
            .collect();
        prop_assert_eq!(got, want);
        for q in &c.queries {
            let json = query_json(&c, q);
            let parsed = parse_query(json.as_bytes()).unwrap();
            let got = search(&e, &creds, &parsed).map_err(|e| error_name(&e));
            let want = model_search(&c, q);
            prop_assert!(check(&got, &want, q.k), "query {}: got {:?}, all candidates {:?}", json, got, want);
            // Trusted: the same query over every file (a caller who may read everything).
            let everyone = Case { caller_uid: 99, caller_gid: 99, groups: vec![], ..c.clone() };
            let mut open = everyone.clone();
            for d in &mut open.dirs { d.mode = 0o777; }
            for f in &mut open.files { f.mode = 0o444; }
            let trusted = search(&e, &Creds::ROOT, &parsed).map_err(|e| error_name(&e));
            let all = model_search(&open, q);
            prop_assert!(check(&trusted, &all, q.k), "trusted {}: got {:?}, all {:?}", json, trusted, all);
        }
    }
}
