//! The kill -9 crash loop through a real mount (issue 14): a writer process does mixed
//! operations on a `vexfs mount` (create, writes of up to 1 MiB, truncate, unlink, rename,
//! metadata attributes, vectors in a collection and outside it, an fsync every 1 to 4
//! operations); the `vexfs mount` process is killed with SIGKILL at a random moment while the
//! writer is busy; then the image must pass `vexfs fsck`, and after remounting its state must be
//! the writer's state after some prefix of its operations that contains every operation before
//! its last acknowledged fsync; searches must name exactly the files that have vectors, at the
//! distances of the vectors they have. Then the next round mounts the recovered image again.
//!
//! **The writer's log.** Before each operation the writer appends `B <index> <operation>` to a
//! log outside the mount, and after each fsync that returned `A <index>` (and fsyncs the log).
//! When an operation fails (the mount is gone) it appends `E <index> <errno>` and exits. The
//! checker replays the logged operations on a model of the state: every state from the last
//! acknowledged fsync on to the last begun operation is a candidate, and the recovered state must
//! equal one of them, or one of them followed by part of the next operation when that is a
//! write that does not start on a page boundary: the kernel sends such a write as several `WRITE`
//! requests split at page boundaries, and what is durable is a prefix of the requests.
//!
//! **What a round does.** The rounds alternate the default log segment (256 blocks) and a small
//! one (2 to 16 blocks, `vexfs mount --log-segment-blocks`), so that thousands of syncs cross
//! many segment ends, and pick a commit interval (`-o commit=` 0, 1 or 5). The mount is killed
//! once the writer has acknowledged the round's number of syncs: after a random pause of up to
//! 3 ms, or the moment the writer begins a write of 64 KiB or more.
//!
//! **Configuration** (environment): `VEXFS_CRASH_SEED` (default: from the clock; printed, and
//! named in every failure), `VEXFS_CRASH_ROUNDS` (default 10), `VEXFS_CRASH_SYNCS` (syncs before
//! the kill in each round after the first, drawn between half of it and it; default 1500) and
//! `VEXFS_CRASH_LONG_SYNCS` (syncs before the kill in the first round; default 5000). The seed
//! fixes each round's operations (given the state the round starts from), segment size, commit
//! interval and kill rule; where exactly the kill lands depends on timing.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Mounted, Scratch, fuse_or_skip, ok, vexfs};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that makes this test binary the writer.
const WRITER_ENV: &str = "VEXFS_CRASH_WRITER";
/// Dimension of the vectors (f32, l2).
const DIM: usize = 8;
/// The two directories: `c` is a collection, `d` a plain directory.
const DIRS: [&str; 2] = ["c", "d"];
/// Names per directory: `f0` .. `f23`.
const NAMES: u32 = 24;
/// Largest file the writer makes.
const FILE_BYTES_MAX: u64 = 3 << 19;
/// Largest single write (one FUSE `WRITE`, one engine operation).
const WRITE_BYTES_MAX: u64 = 1 << 20;
/// The attributes the writer sets.
const ATTRS: [&str; 3] = ["user.tag", "user.n", "user.vexfs.vector"];

/// SplitMix64: a seeded stream, the same on every machine.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Bytes of a write, from its seed.
fn data(seed: u64, len: u64) -> Vec<u8> {
    let mut r = Rng::new(seed, 1);
    let mut out = Vec::with_capacity(len as usize + 8);
    while (out.len() as u64) < len {
        out.extend_from_slice(&r.next().to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// The vector set by an attribute operation, from its seed.
fn vector(seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed, 2);
    (0..DIM)
        .map(|_| (r.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
        .collect()
}

/// The value of attribute `ATTRS[attr]` set with `seed`.
fn attr_value(attr: usize, seed: u64) -> Vec<u8> {
    match attr {
        0 => ["en", "fr", "de"][(seed % 3) as usize].as_bytes().to_vec(),
        1 => (seed % 10_000).to_string().into_bytes(),
        _ => vector(seed).iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

/// A file of the model: directory index and name number.
type Key = (usize, u32);

/// What the writer expects of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FileState {
    data: Vec<u8>,
    attrs: BTreeMap<String, Vec<u8>>,
}

/// The state of the two directories.
type Model = BTreeMap<Key, FileState>;

/// One operation of the writer (one system call that changes the state, or an fsync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create(Key),
    Write {
        at: Key,
        offset: u64,
        len: u64,
        seed: u64,
    },
    Truncate(Key, u64),
    Unlink(Key),
    Rename(Key, Key),
    SetAttr {
        at: Key,
        attr: usize,
        seed: u64,
    },
    RemoveAttr(Key, usize),
    /// fsync of a file, or of a directory (`None`).
    Fsync(usize, Option<u32>),
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Create((d, n)) => write!(f, "create {d} {n}"),
            Op::Write {
                at: (d, n),
                offset,
                len,
                seed,
            } => write!(f, "write {d} {n} {offset} {len} {seed}"),
            Op::Truncate((d, n), len) => write!(f, "truncate {d} {n} {len}"),
            Op::Unlink((d, n)) => write!(f, "unlink {d} {n}"),
            Op::Rename((d, n), (d2, n2)) => write!(f, "rename {d} {n} {d2} {n2}"),
            Op::SetAttr {
                at: (d, n),
                attr,
                seed,
            } => write!(f, "setattr {d} {n} {attr} {seed}"),
            Op::RemoveAttr((d, n), attr) => write!(f, "rmattr {d} {n} {attr}"),
            Op::Fsync(d, Some(n)) => write!(f, "fsync {d} {n}"),
            Op::Fsync(d, None) => write!(f, "fsync {d} -"),
        }
    }
}

impl Op {
    fn parse(s: &str) -> Op {
        let w: Vec<&str> = s.split(' ').collect();
        let n = |i: usize| -> u64 { w[i].parse().unwrap_or_else(|_| panic!("bad log line {s:?}")) };
        let key = |i: usize| -> Key { (n(i) as usize, n(i + 1) as u32) };
        match w[0] {
            "create" => Op::Create(key(1)),
            "write" => Op::Write {
                at: key(1),
                offset: n(3),
                len: n(4),
                seed: n(5),
            },
            "truncate" => Op::Truncate(key(1), n(3)),
            "unlink" => Op::Unlink(key(1)),
            "rename" => Op::Rename(key(1), key(3)),
            "setattr" => Op::SetAttr {
                at: key(1),
                attr: n(3) as usize,
                seed: n(4),
            },
            "rmattr" => Op::RemoveAttr(key(1), n(3) as usize),
            "fsync" if w[2] == "-" => Op::Fsync(n(1) as usize, None),
            "fsync" => Op::Fsync(n(1) as usize, Some(n(2) as u32)),
            _ => panic!("bad log line {s:?}"),
        }
    }

    /// The model after the operation.
    fn apply(&self, m: &mut Model) {
        match *self {
            Op::Create(k) => {
                assert!(m.insert(k, FileState::default()).is_none());
            }
            Op::Write {
                at,
                offset,
                len,
                seed,
            } => {
                let f = m.get_mut(&at).unwrap();
                let end = (offset + len) as usize;
                if f.data.len() < end {
                    f.data.resize(end, 0);
                }
                f.data[offset as usize..end].copy_from_slice(&data(seed, len));
            }
            Op::Truncate(k, len) => m.get_mut(&k).unwrap().data.resize(len as usize, 0),
            Op::Unlink(k) => {
                m.remove(&k).unwrap();
            }
            Op::Rename(from, to) => {
                let f = m.remove(&from).unwrap();
                m.insert(to, f);
            }
            Op::SetAttr { at, attr, seed } => {
                let v = attr_value(attr, seed);
                m.get_mut(&at).unwrap().attrs.insert(ATTRS[attr].to_owned(), v);
            }
            Op::RemoveAttr(k, attr) => {
                m.get_mut(&k).unwrap().attrs.remove(ATTRS[attr]).unwrap();
            }
            Op::Fsync(..) => {}
        }
    }

    /// A random operation that succeeds on `m` (never an fsync: the writer places those).
    fn random(m: &Model, r: &mut Rng) -> Op {
        let files: Vec<Key> = m.keys().copied().collect();
        let pick = |r: &mut Rng| files[r.range(0, files.len() as u64 - 1) as usize];
        let any_key = |r: &mut Rng| (r.range(0, 1) as usize, r.range(0, u64::from(NAMES) - 1) as u32);
        loop {
            let roll = r.range(0, 99);
            if files.len() < 4 || roll < 12 {
                let k = any_key(r);
                if !m.contains_key(&k) {
                    return Op::Create(k);
                }
                continue;
            }
            let at = pick(r);
            let size = m[&at].data.len() as u64;
            match roll {
                12..=43 => {
                    let offset = match r.range(0, 3) {
                        0 => 0,
                        1 => r.range(0, size),
                        2 => size,
                        _ => r.range(0, FILE_BYTES_MAX - 1),
                    }
                    .min(FILE_BYTES_MAX - 1);
                    // At most 256 pages: one WRITE when it starts on a page boundary (otherwise
                    // the kernel may split it there, see `torn_write`).
                    let room = (WRITE_BYTES_MAX - offset % 4096).min(FILE_BYTES_MAX - offset);
                    let len = match r.range(0, 99) {
                        0..=69 => r.range(1, 8192),
                        70..=94 => r.range(1, 128 << 10),
                        _ => r.range(256 << 10, WRITE_BYTES_MAX),
                    }
                    .min(room);
                    return Op::Write {
                        at,
                        offset,
                        len,
                        seed: r.next(),
                    };
                }
                44..=49 => return Op::Truncate(at, r.range(0, (size + 8192).min(FILE_BYTES_MAX))),
                50..=59 => return Op::Unlink(at),
                60..=71 => {
                    let to = any_key(r);
                    if to != at {
                        return Op::Rename(at, to);
                    }
                }
                72..=91 => {
                    let attr = if r.chance(50) { 2 } else { r.range(0, 1) as usize };
                    return Op::SetAttr {
                        at,
                        attr,
                        seed: r.next(),
                    };
                }
                _ => {
                    let have: Vec<usize> = (0..ATTRS.len())
                        .filter(|&a| m[&at].attrs.contains_key(ATTRS[a]))
                        .collect();
                    if !have.is_empty() {
                        return Op::RemoveAttr(at, have[r.range(0, have.len() as u64 - 1) as usize]);
                    }
                }
            }
        }
    }
}

fn path(root: &Path, (d, n): Key) -> PathBuf {
    root.join(DIRS[d]).join(format!("f{n}"))
}

/// Runs `op` on the mount.
fn perform(root: &Path, op: &Op) -> std::io::Result<()> {
    match *op {
        Op::Create(k) => File::options()
            .write(true)
            .create_new(true)
            .open(path(root, k))
            .map(drop),
        Op::Write {
            at,
            offset,
            len,
            seed,
        } => {
            let f = File::options().write(true).open(path(root, at))?;
            f.write_all_at(&data(seed, len), offset)
        }
        Op::Truncate(k, len) => File::options().write(true).open(path(root, k))?.set_len(len),
        Op::Unlink(k) => std::fs::remove_file(path(root, k)),
        Op::Rename(from, to) => std::fs::rename(path(root, from), path(root, to)),
        Op::SetAttr { at, attr, seed } => xattr::set(path(root, at), ATTRS[attr], &attr_value(attr, seed)),
        Op::RemoveAttr(k, attr) => xattr::remove(path(root, k), ATTRS[attr]),
        Op::Fsync(d, Some(n)) => File::open(path(root, (d, n)))?.sync_all(),
        Op::Fsync(d, None) => File::open(root.join(DIRS[d]))?.sync_all(),
    }
}

/// The state of the two directories of a mount, as the model describes it.
fn read_state(root: &Path) -> Result<Model, String> {
    let mut m = Model::new();
    for (d, dir) in DIRS.iter().enumerate() {
        let entries = std::fs::read_dir(root.join(dir)).map_err(|e| format!("/{dir}: {e}"))?;
        for e in entries {
            let e = e.map_err(|e| format!("/{dir}: {e}"))?;
            let name = e.file_name().into_string().unwrap();
            let n = name
                .strip_prefix('f')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|&n| n < NAMES)
                .ok_or_else(|| format!("/{dir}/{name}: a name the writer never made"))?;
            let p = e.path();
            let data = std::fs::read(&p).map_err(|e| format!("reading /{dir}/{name}: {e}"))?;
            let mut attrs = BTreeMap::new();
            for a in xattr::list(&p).map_err(|e| format!("/{dir}/{name}: {e}"))? {
                let a = a.into_string().unwrap();
                let v = xattr::get(&p, &a)
                    .map_err(|e| format!("/{dir}/{name} {a}: {e}"))?
                    .ok_or_else(|| format!("/{dir}/{name}: {a} listed but missing"))?;
                attrs.insert(a, v);
            }
            m.insert((d, n), FileState { data, attrs });
        }
    }
    Ok(m)
}

/// One line about how two states differ (for failure messages).
fn difference(a: &Model, b: &Model) -> String {
    let mut out = Vec::new();
    for k in a.keys().chain(b.keys()) {
        let what = match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x.data != y.data => {
                format!("data {} vs {} bytes", x.data.len(), y.data.len())
            }
            (Some(x), Some(y)) if x.attrs != y.attrs => {
                format!("attrs {:?} vs {:?}", x.attrs.keys(), y.attrs.keys())
            }
            (Some(_), None) => "only in the first".to_owned(),
            (None, Some(_)) => "only in the second".to_owned(),
            _ => continue,
        };
        let s = format!("/{}/f{}: {what}", DIRS[k.0], k.1);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.truncate(8);
    out.join("; ")
}

/// The writer: `VEXFS_CRASH_WRITER` is `MOUNTPOINT\nLOG\nSEED\nROUND`.
fn writer_main(spec: &str) -> ! {
    let w: Vec<&str> = spec.split('\n').collect();
    let (root, log_path) = (Path::new(w[0]), Path::new(w[1]));
    let seed: u64 = w[2].parse().unwrap();
    let round: u64 = w[3].parse().unwrap();
    let mut log = File::options().append(true).open(log_path).unwrap();
    let mut model = read_state(root).unwrap_or_else(|e| {
        writeln!(log, "E 0 0 reading the state: {e}").unwrap();
        std::process::exit(0)
    });
    let mut r = Rng::new(seed, 1000 + round);
    let mut until_fsync = r.range(1, 4);
    for i in 0u64.. {
        let op = if until_fsync == 0 {
            until_fsync = r.range(1, 4);
            let d = r.range(0, 1) as usize;
            let in_dir: Vec<u32> = model.keys().filter(|k| k.0 == d).map(|k| k.1).collect();
            if in_dir.is_empty() || r.chance(20) {
                Op::Fsync(d, None)
            } else {
                Op::Fsync(d, Some(in_dir[r.range(0, in_dir.len() as u64 - 1) as usize]))
            }
        } else {
            until_fsync -= 1;
            Op::random(&model, &mut r)
        };
        // Unbuffered: in the log's page cache before the operation starts.
        log.write_all(format!("B {i} {op}\n").as_bytes()).unwrap();
        if let Err(e) = perform(root, &op) {
            writeln!(log, "E {i} {} {e}", e.raw_os_error().unwrap_or(0)).unwrap();
            log.sync_all().unwrap();
            std::process::exit(0);
        }
        op.apply(&mut model);
        if let Op::Fsync(..) = op {
            log.write_all(format!("A {i}\n").as_bytes()).unwrap();
            log.sync_data().unwrap();
        }
    }
    unreachable!()
}

/// What the checker reads from the writer's log.
#[derive(Debug, Default)]
struct Log {
    ops: Vec<Op>,
    /// Index of the last acknowledged fsync.
    acked: Option<usize>,
    acks: u64,
    /// The failure line, once the writer stopped.
    error: Option<String>,
    /// Bytes consumed, and a partial last line.
    offset: u64,
    partial: String,
}

impl Log {
    /// Reads what was appended since the last call.
    fn poll(&mut self, file: &mut File) {
        file.seek(SeekFrom::Start(self.offset)).unwrap();
        let mut s = String::new();
        let n = file.read_to_string(&mut s).unwrap();
        self.offset += n as u64;
        self.partial.push_str(&s);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            let line = line.trim_end();
            let (tag, rest) = line.split_once(' ').unwrap();
            match tag {
                "B" => {
                    let (i, op) = rest.split_once(' ').unwrap();
                    assert_eq!(i.parse::<usize>().unwrap(), self.ops.len(), "log line {line:?}");
                    self.ops.push(Op::parse(op));
                }
                "A" => {
                    self.acked = Some(rest.parse().unwrap());
                    self.acks += 1;
                }
                "E" => self.error = Some(line.to_owned()),
                _ => panic!("bad log line {line:?}"),
            }
        }
    }

    fn last_is_big_write(&self) -> bool {
        matches!(self.ops.last(), Some(Op::Write { len, .. }) if *len >= 64 << 10) && self.partial.is_empty()
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?}: not a number")),
        Err(_) => default,
    }
}

/// One exact and one approximate search of `/c` with a random query: the exact one names every
/// file of `/c` that has a vector, the approximate one a subset, each at its own distance.
fn check_searches(root: &Path, model: &Model, r: &mut Rng, what: &str) {
    let expected: BTreeMap<String, Vec<f32>> = model
        .iter()
        .filter(|(k, _)| k.0 == 0)
        .filter_map(|(k, f)| {
            let v = f.attrs.get(ATTRS[2])?;
            let v: Vec<f32> = v
                .chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            Some((format!("/c/f{}", k.1), v))
        })
        .collect();
    let q = vector(r.next());
    for exact in [true, false] {
        let query = serde_json::json!({"dir": "/c", "vector": q, "k": 1000, "exact": exact});
        let mut f = File::options()
            .read(true)
            .write(true)
            .open(root.join(".vexfs/search"))
            .unwrap();
        f.write_all(query.to_string().as_bytes()).unwrap();
        let mut out = String::new();
        f.read_to_string(&mut out).unwrap();
        let mut seen = 0;
        for line in out.lines() {
            let hit: serde_json::Value = serde_json::from_str(line).unwrap();
            let p = hit["path"].as_str().unwrap_or_else(|| panic!("{what}: {line}"));
            let v = expected.get(p).unwrap_or_else(|| {
                panic!("{what}: search (exact={exact}) named {p}, which has no vector in /c")
            });
            let want: f32 = v.iter().zip(&q).map(|(a, b)| (a - b) * (a - b)).sum();
            let got = hit["distance"].as_f64().unwrap() as f32;
            assert!(
                (got - want).abs() <= 1e-4 * want.max(1.0),
                "{what}: {p} at distance {got}, its vector is at {want}"
            );
            seen += 1;
        }
        if exact {
            assert_eq!(
                seen,
                expected.len(),
                "{what}: the exact search missed files: {out}"
            );
        }
    }
}

fn fsck_clean(image: &Path, what: &str) {
    let out = vexfs([OsStr::new("fsck"), image.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spawn_writer(root: &Path, log: &Path, seed: u64, round: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_9_crash_loop", "--nocapture", "--test-threads=1"])
        .env(
            WRITER_ENV,
            format!("{}\n{}\n{seed}\n{round}", root.display(), log.display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn kill_9_crash_loop() {
    if let Ok(spec) = std::env::var(WRITER_ENV) {
        writer_main(&spec);
    }
    if !fuse_or_skip("kill_9_crash_loop") {
        return;
    }
    let seed = env_u64(
        "VEXFS_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            % 1_000_000_000,
    );
    let rounds = env_u64("VEXFS_CRASH_ROUNDS", 10);
    let syncs = env_u64("VEXFS_CRASH_SYNCS", 1500).max(2);
    let long_syncs = env_u64("VEXFS_CRASH_LONG_SYNCS", 5000);
    let again = format!(
        "VEXFS_CRASH_SEED={seed} VEXFS_CRASH_ROUNDS={rounds} VEXFS_CRASH_SYNCS={syncs} \
         VEXFS_CRASH_LONG_SYNCS={long_syncs} cargo test -p vexfs-cli --test crash_loop -- --nocapture"
    );
    eprintln!("crash loop: seed {seed}; reproduce: {again}");

    let scratch = Scratch::new();
    let m = scratch.mount();
    std::fs::create_dir(m.p("c")).unwrap();
    std::fs::create_dir(m.p("d")).unwrap();
    xattr::set(m.p("c"), "user.vexfs.index", format!("dim={DIM}").as_bytes()).unwrap();
    m.unmount();
    let index = xattr_of_c(&scratch, &[]);
    let mut model = Model::new();
    let mut total_syncs = 0;
    let started = Instant::now();
    for round in 0..rounds {
        let what = format!("seed {seed} round {round} (reproduce: {again})");
        let mut r = Rng::new(seed, round);
        let seg = if round % 2 == 0 {
            256
        } else {
            [2, 3, 5, 8, 16][r.range(0, 4) as usize]
        };
        let commit = [0, 1, 5][r.range(0, 2) as usize];
        let target = if round == 0 {
            long_syncs
        } else {
            r.range(syncs / 2, syncs)
        };
        let big_write_kill = r.chance(50);
        let opts = [
            "--log-segment-blocks".to_owned(),
            seg.to_string(),
            "-o".to_owned(),
            format!("commit={commit}"),
        ];
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        let log_path = scratch.path(&format!("writer-{round}.log"));
        File::create(&log_path).unwrap();
        let m = scratch.mount_with(&opts);
        let mut writer = spawn_writer(&m.root, &log_path, seed, round);
        let mut log_file = File::open(&log_path).unwrap();
        let mut log = Log::default();
        // Wait for the round's syncs, then for the kill moment.
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            log.poll(&mut log_file);
            if let Some(e) = &log.error {
                panic!("{what}: the writer failed before the kill: {e}");
            }
            if let Some(st) = writer.try_wait().unwrap() {
                panic!("{what}: the writer exited before the kill: {st}");
            }
            assert!(Instant::now() < deadline, "{what}: {} syncs in 600 s", log.acks);
            if log.acks >= target && (!big_write_kill || log.last_is_big_write()) {
                break;
            }
            std::thread::sleep(Duration::from_micros(if log.acks >= target { 50 } else { 2000 }));
        }
        if !big_write_kill {
            std::thread::sleep(Duration::from_micros(r.range(0, 3000)));
        }
        let writer_status = std::cell::Cell::new(None);
        m.kill9_then(|| writer_status.set(Some(wait_child(&mut writer))));
        assert!(
            writer_status.get().unwrap().success(),
            "{what}: writer exit status"
        );
        log.poll(&mut log_file);
        let error = log
            .error
            .clone()
            .unwrap_or_else(|| panic!("{what}: the writer did not stop"));
        let errno: i32 = error.split(' ').nth(2).unwrap().parse().unwrap();
        assert!(
            [libc::ENOTCONN, libc::ECONNABORTED].contains(&errno),
            "{what}: after the kill the writer saw {error}, not the end of the connection"
        );

        // The crashed image, for a failure to keep (the remount recovers and checkpoints it).
        let crashed = scratch.path("crashed.img");
        std::fs::copy(&scratch.image, &crashed).unwrap();
        let keep = || keep_for_later(&[&crashed, &log_path], seed, round);
        let outcome = vexfs([OsStr::new("fsck"), scratch.image.as_os_str()]);
        if outcome.status.code() != Some(0) {
            panic!(
                "{what}: fsck after kill -9: {}{} ({})",
                String::from_utf8_lossy(&outcome.stdout),
                String::from_utf8_lossy(&outcome.stderr),
                keep()
            );
        }
        let m = scratch.mount_with(&opts);
        let actual = read_state(&m.root).unwrap_or_else(|e| panic!("{what}: {e}"));
        // The candidates: every state from the last acknowledged fsync to the last begun op.
        let durable = log.acked.map_or(0, |i| i + 1);
        for op in &log.ops[..durable] {
            op.apply(&mut model);
        }
        let at_fsync = model.clone();
        let mut found = None;
        for k in durable..=log.ops.len() {
            if k > durable {
                log.ops[k - 1].apply(&mut model);
            }
            if model == actual {
                found = Some(format!("{k}"));
                break;
            }
            if k < log.ops.len()
                && let Some(j) = torn_write(&model, &actual, &log.ops[k])
            {
                found = Some(format!("{k} and {j} bytes of the next (a write)"));
                model = actual.clone();
                break;
            }
        }
        let Some(k) = found else {
            panic!(
                "{what}: the recovered state is no prefix of the writer's operations with \
                 all {durable} fsynced ones ({} begun); against the state at the last fsync: {}; \
                 against the last: {}; the last operations: {} ({})",
                log.ops.len(),
                difference(&at_fsync, &actual),
                difference(&model, &actual),
                (durable.saturating_sub(4)..log.ops.len())
                    .map(|i| format!("{i}: {}", log.ops[i]))
                    .collect::<Vec<_>>()
                    .join(", "),
                keep()
            )
        };
        assert_eq!(
            xattr::get(m.p("c"), "user.vexfs.index").unwrap(),
            Some(index.clone()),
            "{what}"
        );
        check_searches(&m.root, &model, &mut r, &what);
        m.unmount();
        total_syncs += log.acks;
        eprintln!(
            "round {round}: segment {seg} blocks, commit={commit}, killed {}: {} syncs, {} \
             operations begun, {durable} durable, recovered {k}; image {} MiB ({:?} so far)",
            if big_write_kill {
                "as a write of 64 KiB+ began"
            } else {
                "after a pause"
            },
            log.acks,
            log.ops.len(),
            std::fs::metadata(&scratch.image).unwrap().len() >> 20,
            started.elapsed()
        );
    }
    fsck_clean(&scratch.image, &format!("seed {seed}, at the end"));
    let m = scratch.mount();
    assert_eq!(
        read_state(&m.root).unwrap(),
        model,
        "seed {seed}: after a clean remount"
    );
    m.unmount();
    eprintln!(
        "crash loop: seed {seed}, {rounds} rounds, {total_syncs} syncs, {:?}",
        started.elapsed()
    );
}

/// Whether `actual` is `before` with the write `op` applied in part: the kernel splits a write
/// that does not start on a page boundary into `WRITE` requests at page boundaries, so a crash
/// can land between them. Returns how many bytes of it were applied.
fn torn_write(before: &Model, actual: &Model, op: &Op) -> Option<u64> {
    let Op::Write {
        at,
        offset,
        len,
        seed,
    } = *op
    else {
        return None;
    };
    let (old, got) = (before.get(&at)?, actual.get(&at)?);
    let others_equal = before.len() == actual.len()
        && before
            .iter()
            .filter(|(k, _)| **k != at)
            .all(|(k, f)| actual.get(k) == Some(f));
    if !others_equal || old.attrs != got.attrs {
        return None;
    }
    let new = data(seed, len);
    (1..len).filter(|j| (offset + j) % 4096 == 0).find(|&j| {
        let mut d = old.data.clone();
        let end = (offset + j) as usize;
        if d.len() < end {
            d.resize(end, 0);
        }
        d[offset as usize..end].copy_from_slice(&new[..j as usize]);
        d == got.data
    })
}

/// Copies `files` to a directory that outlives the test and says where.
fn keep_for_later(files: &[&Path], seed: u64, round: u64) -> String {
    let dir = std::env::temp_dir().join(format!("vexfs-crash-loop-{seed}-{round}"));
    let _ = std::fs::create_dir_all(&dir);
    for f in files {
        let _ = std::fs::copy(f, dir.join(f.file_name().unwrap()));
    }
    format!("the crashed image and the writer's log are in {}", dir.display())
}

/// The collection's configuration, read through a mount.
fn xattr_of_c(scratch: &Scratch, opts: &[&str]) -> Vec<u8> {
    let m: Mounted = scratch.mount_with(opts);
    let v = xattr::get(m.p("c"), "user.vexfs.index").unwrap().unwrap();
    m.unmount();
    assert!(ok(["fsck", scratch.image.to_str().unwrap()]).contains("clean"));
    v
}

fn wait_child(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the writer did not stop within 60 s after the kill");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
