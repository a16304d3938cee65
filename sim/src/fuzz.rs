//! The bodies of the fuzz targets. `fuzz/fuzz_targets/*.rs` decode their input with
//! `arbitrary` (`fuzz_target!` uses `arbitrary_take_rest`) and call these; the corpus replay
//! test (`sim/tests/fuzz_corpus.rs`) decodes the committed corpus the same way and calls them
//! too, so CI checks every corpus input without libFuzzer.
//!
//! Each function returns `Err(reason)` when its property is violated (the fuzz target panics
//! with it); inputs are bounded by their types, so every call does bounded work.
//!
//! - [`ops`]: operation sequences (with syncs, checkpoints and crashes) against the model;
//! - [`image`]: a damaged or truncated image opens with a clear error or passes `check()`,
//!   and its files read back or report corruption;
//! - [`query`]: the JSON query and filter parsers never panic and round-trip;
//! - [`codec`]: index configuration, vector codecs and the log record codec round-trip and
//!   reject what they must;
//! - [`canary`]: must fail — it reports a state the operations can reach, proving that a
//!   failing target is noticed.

use crate::ops::FsOp;
use crate::scenario::Scenario;
use crate::world::World;
use arbitrary::Arbitrary;
use std::sync::{Arc, OnceLock};
use vexfs::{Clock, OpenOptions, Vexfs};
use vexfs_core::index::Quantization;
use vexfs_core::journal::codec::{Reader, decode_op, encode_op};
use vexfs_core::query::{Filter, Query, Target, parse_query};
use vexfs_core::storage::MemStorage;
use vexfs_core::vector::{self, ElemType, Metric};
use vexfs_core::{
    Ctx, Engine, Error, FallocMode, FileKind, IndexConfig, Op, RenameMode, SetAttr, SetTime, Timestamp,
    XattrMode,
};

/// Most operations one `ops` input runs.
pub const OPS_MAX: usize = 80;

/// Input of the `ops` and `canary` targets.
#[derive(Debug, Clone, Arbitrary)]
pub struct OpsInput {
    /// The operations (only the first [`OPS_MAX`] run).
    pub ops: Vec<FsOp>,
}

fn run_ops(input: &OpsInput, mut after: impl FnMut(&World) -> Result<(), String>) -> Result<(), String> {
    let mut w = World::new(Scenario::fuzz()).map_err(|f| f.to_string())?;
    for op in input.ops.iter().take(OPS_MAX) {
        w.apply(op).map_err(|f| f.to_string())?;
        after(&w)?;
    }
    w.finish().map_err(|f| f.to_string())
}

/// `ops`: every operation agrees with the model, and every oracle of [`World`] holds.
pub fn ops(input: &OpsInput) -> Result<(), String> {
    run_ops(input, |_| Ok(()))
}

/// `canary`: fails as soon as some directory is a collection — a state two well-chosen
/// operations reach (mkdir, then setting `user.vexfs.index` on it), so the fuzzer must find it
/// within a short run. (A deeper condition, a collection indexing a file, was not found in
/// 90k executions: see the issue 7 report.)
pub fn canary(input: &OpsInput) -> Result<(), String> {
    run_ops(input, |w| {
        let m = w.model();
        match m.collections.keys().next() {
            Some(d) => Err(format!("canary: collection {d} exists")),
            None => Ok(()),
        }
    })
}

// ----- image ---------------------------------------------------------------------------------

/// Input of the `image` target: a base image, byte edits and a truncation.
#[derive(Debug, Clone, Arbitrary)]
pub struct ImageInput {
    /// Which base image (modulo the number of bases).
    pub base: u8,
    /// (offset, xor mask) edits; offsets are taken modulo the image length, and the low bits
    /// of `region` steer some into the superblocks and the first blocks.
    pub edits: Vec<(u32, u8)>,
    /// Steers edits: 0 anywhere, 1 superblocks, 2 the first 16 KiB, 3 the last 16 KiB.
    pub region: u8,
    /// Truncate the image to this length (modulo its length) first.
    pub truncate: Option<u32>,
    /// Open read-only (recovery in memory) instead of writable.
    pub read_only: bool,
}

/// Base images: one closed cleanly, one with synced and unsynced log records after a
/// checkpoint, one with a large file and a graph. Built once, deterministically.
pub fn base_images() -> &'static [Vec<u8>] {
    static BASES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    BASES.get_or_init(|| {
        let scen = Scenario::fuzz();
        let build = |seed: u64, n: usize, close: bool| -> Vec<u8> {
            let mut w = World::new(Scenario { seed, ..scen.clone() }).expect("fresh image");
            let mut r = crate::rng::Rng::new(seed);
            for i in 0..n {
                let op = if i % 17 == 16 {
                    FsOp::Sync
                } else {
                    crate::ops::generate(&mut r, &w.scen, w.model())
                };
                w.apply(&op).expect("base image workloads pass");
            }
            if close {
                w.finish().expect("base image closes");
            }
            w.disk().durable()
        };
        vec![build(1, 60, true), build(2, 90, false), build(3, 150, false)]
    })
}

/// `image`: open a damaged image; a clear error, or an image whose invariants hold and whose
/// files read back (or report corruption). Never a panic, never another error.
pub fn image(input: &ImageInput) -> Result<(), String> {
    let bases = base_images();
    let mut img = bases[usize::from(input.base) % bases.len()].clone();
    if let Some(t) = input.truncate {
        img.truncate(t as usize % (img.len() + 1));
    }
    let len = img.len();
    if len > 0 {
        for &(at, mask) in input.edits.iter().take(64) {
            let span = match input.region % 4 {
                1 => 8192.min(len),
                2 => 16384.min(len),
                _ => len,
            };
            let mut off = at as usize % span;
            if input.region % 4 == 3 {
                off = len - 1 - off;
            }
            img[off] ^= mask.max(1);
        }
    }
    let clear = |e: &Error| matches!(e, Error::Corrupted { .. } | Error::NotAnImage);
    let storage: Arc<dyn vexfs_core::storage::Storage> = Arc::new(MemStorage::from_bytes(img.clone()));
    let opts = OpenOptions {
        read_only: input.read_only,
        ..OpenOptions::default()
    };
    match Vexfs::open_on(storage, opts, Clock::Fixed(Timestamp::new(1, 0))) {
        Err(e) if clear(&e) => {}
        Err(e) => {
            return Err(format!(
                "opening a damaged image failed with an unclear error: {e:?}"
            ));
        }
        Ok(fs) => {
            if let Err(p) = vexfs_core::check::check(fs.engine()) {
                return Err(format!("a damaged image opened but check() failed:\n{p}"));
            }
            let e = fs.engine();
            let files: Vec<(u64, u64)> = e
                .namespace()
                .iter()
                .filter(|(_, n)| n.kind == FileKind::Regular)
                .map(|(i, n)| (i, n.size()))
                .collect();
            for (ino, size) in files {
                let mut buf = vec![0u8; size.min(1 << 20) as usize];
                match e.read(ino, 0, &mut buf) {
                    Ok(_) => {}
                    Err(err) if clear(&err) => {}
                    Err(err) => return Err(format!("reading file {ino} of a damaged image: {err:?}")),
                }
            }
            // A search in every collection must not fail on a damaged-but-opened image.
            let dirs: Vec<u64> = e.collections().iter().map(|(d, _)| d).collect();
            for d in dirs {
                let mut p = Vec::new();
                if e.namespace().path_of(d, &mut p).is_err() {
                    continue;
                }
                let cfg = e.collections().get(d).map(|c| c.config);
                if let Some(cfg) = cfg {
                    let values = vec![if cfg.elem == ElemType::Bin { 1.0 } else { 0.5 }; cfg.dim as usize];
                    let q = Query::new(String::from_utf8_lossy(&p), Target::Values(values));
                    if let Err(err) = fs.search(&q) {
                        return Err(format!("search in a damaged image: {err:?}"));
                    }
                }
            }
        }
    }
    // fsck on the same bytes must not panic and must agree that the image opens or not.
    let _ = vexfs_core::engine::fsck(Arc::new(MemStorage::from_bytes(img)), false, false, |_, _, _| {});
    Ok(())
}

// ----- query ---------------------------------------------------------------------------------

/// Input of the `query` target.
#[derive(Debug, Clone, Arbitrary)]
pub enum QueryInput {
    /// Raw bytes given to the JSON query parser.
    Json(Vec<u8>),
    /// Raw text given to the filter parser.
    Filter(String),
    /// A query assembled from parts (so most are valid), printed and parsed back.
    Built(BuiltQuery),
}

/// Parts of a query.
#[derive(Debug, Clone, Arbitrary)]
pub struct BuiltQuery {
    /// Path components (names from a small set, or free text).
    pub dir: Vec<String>,
    /// Vector values, in 64ths (exact in every float type and in JSON).
    pub values: Vec<i16>,
    /// Which target form: values, base64 bytes or `like`.
    pub form: u8,
    /// k (1 + k % K_MAX).
    pub k: u16,
    /// ef (1 + ef % EF_MAX).
    pub ef: Option<u16>,
    /// Filter terms: (key, operator, value) joined by and/or/not.
    pub terms: Vec<(u8, u8, String, u8)>,
    /// Exact search.
    pub exact: bool,
}

fn close_enough(a: &Query, b: &Query) -> bool {
    if a == b {
        return true;
    }
    match (&a.target, &b.target) {
        (Target::Values(x), Target::Values(y)) if x.len() == y.len() => {
            let same = x
                .iter()
                .zip(y)
                .all(|(p, q)| p == q || (p - q).abs() <= p.abs().max(q.abs()) * 1e-14);
            same && Query {
                target: Target::Values(Vec::new()),
                ..a.clone()
            } == Query {
                target: Target::Values(Vec::new()),
                ..b.clone()
            }
        }
        _ => false,
    }
}

/// `query`: parsers never panic; whatever parses prints back to something that parses to the
/// same thing (queries: numbers within the documented round-trip precision).
pub fn query(input: &QueryInput) -> Result<(), String> {
    match input {
        QueryInput::Json(bytes) => {
            if let Ok(q) = parse_query(bytes) {
                let json = q.to_json();
                let back =
                    parse_query(json.as_bytes()).map_err(|e| format!("{json} does not parse back: {e}"))?;
                if !close_enough(&q, &back) {
                    return Err(format!(
                        "query round trip changed it: {q:?} -> {json} -> {back:?}"
                    ));
                }
            }
        }
        QueryInput::Filter(src) => filter_round_trip(src)?,
        QueryInput::Built(b) => {
            let filter = built_filter(b);
            let dir: String = if b.dir.is_empty() {
                "/".to_string()
            } else {
                b.dir
                    .iter()
                    .take(4)
                    .map(|c| format!("/{}", c.chars().take(20).collect::<String>()))
                    .collect()
            };
            let values: Vec<f64> = b.values.iter().take(64).map(|&v| f64::from(v) / 64.0).collect();
            let target = match b.form % 3 {
                0 => Target::Values(values),
                1 => Target::Bytes(b.values.iter().take(64).map(|&v| v as u8).collect()),
                _ => Target::Like(format!("{dir}/x")),
            };
            let mut q = Query::new(dir, target);
            q.k = 1 + u32::from(b.k) % vexfs_core::limits::K_MAX;
            q.ef = b.ef.map(|e| 1 + u32::from(e) % vexfs_core::limits::EF_MAX);
            q.exact = b.exact;
            if let Some(src) = &filter {
                filter_round_trip(src)?;
                q.filter = Filter::parse(src).ok();
            }
            let json = q.to_json();
            match parse_query(json.as_bytes()) {
                Ok(back) if close_enough(&q, &back) => {}
                Ok(back) => {
                    return Err(format!(
                        "built query round trip changed it: {q:?} -> {json} -> {back:?}"
                    ));
                }
                // A built query can be invalid (an empty target, a path with NUL); then the
                // parser must say why, never panic.
                Err(Error::Query(_)) => {}
                Err(e) => return Err(format!("query parser failed with a non-query error: {e:?}")),
            }
        }
    }
    Ok(())
}

fn built_filter(b: &BuiltQuery) -> Option<String> {
    const KEYS: [&str; 6] = ["k", "lang", "@name", "@size", "\"in\"", "year"];
    const OPS: [&str; 8] = ["=", "!=", "<", "<=", ">", ">=", "in", "has"];
    const JOIN: [&str; 4] = [" and ", " or ", " and not ", " or ("];
    if b.terms.is_empty() {
        return None;
    }
    let mut s = String::new();
    let mut open = 0;
    for (i, (k, op, v, j)) in b.terms.iter().take(12).enumerate() {
        if i > 0 {
            let join = JOIN[usize::from(*j) % JOIN.len()];
            if join.ends_with('(') {
                open += 1;
            }
            s.push_str(join);
        }
        let key = KEYS[usize::from(*k) % KEYS.len()];
        let value: String = v.chars().filter(|c| c.is_alphanumeric()).take(8).collect();
        let value = if value.is_empty() { "1".to_string() } else { value };
        match OPS[usize::from(*op) % OPS.len()] {
            "in" => s.push_str(&format!("{key} in ({value}, 2)")),
            "has" => s.push_str(&format!("has({})", key.trim_start_matches('@'))),
            o => s.push_str(&format!("{key} {o} {value}")),
        }
    }
    for _ in 0..open {
        s.push(')');
    }
    Some(s)
}

fn filter_round_trip(src: &str) -> Result<(), String> {
    if let Ok(f) = Filter::parse(src) {
        let printed = f.to_string();
        let back = Filter::parse(&printed)
            .map_err(|e| format!("filter {src:?} printed as {printed:?} does not parse back: {e}"))?;
        if back != f {
            return Err(format!("filter round trip changed it: {src:?} -> {printed:?}"));
        }
        if back.to_string() != printed {
            return Err(format!("filter printing is not canonical: {printed:?} -> {back}"));
        }
    }
    Ok(())
}

// ----- codec ---------------------------------------------------------------------------------

/// Input of the `codec` target.
#[derive(Debug, Clone, Arbitrary)]
pub enum CodecInput {
    /// Text given to `IndexConfig::parse`.
    ConfigText(Vec<u8>),
    /// A configuration from its fields: validated, printed, parsed back.
    ConfigFields {
        /// Dimension.
        dim: u32,
        /// Element type selector.
        elem: u8,
        /// Metric selector.
        metric: u8,
        /// m.
        m: u8,
        /// ef_construction.
        efc: u16,
        /// ef_search.
        efs: u16,
        /// Quantization selector.
        quant: u8,
        /// rerank.
        rerank: u16,
    },
    /// Raw bytes given to `vector::validate` (and, if valid, decoded and re-encoded).
    VectorBytes {
        /// Element type selector.
        elem: u8,
        /// Dimension (bounded by the type).
        dim: u16,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Values given to `vector::encode_values` (and, if accepted, validated and decoded).
    VectorValues {
        /// Element type selector.
        elem: u8,
        /// The values.
        values: Vec<f64>,
    },
    /// A log record built from parts: encoded, decoded, compared.
    Record(RecordSel),
    /// Raw bytes given to the log record decoder (and, if decoded, re-encoded).
    RawRecord(Vec<u8>),
}

/// The parts of one operation record.
#[derive(Debug, Clone, Arbitrary)]
pub struct RecordSel {
    /// Operation kind selector.
    pub kind: u8,
    /// Inode numbers.
    pub inos: (u64, u64),
    /// Names (bounded to the name limit).
    pub names: (Vec<u8>, Vec<u8>),
    /// Numbers: perm, rdev, offsets.
    pub nums: (u32, u32, u64, u64),
    /// Mode selectors.
    pub modes: (u8, u8, bool),
    /// Payload (bounded).
    pub payload: Vec<u8>,
    /// Context.
    pub ctx: (i64, u32, u32, u32),
}

fn elem_of(b: u8) -> ElemType {
    ElemType::ALL[usize::from(b) % ElemType::ALL.len()]
}

fn record_op(s: &RecordSel) -> Op<'_> {
    let name = &s.names.0[..s.names.0.len().min(vexfs_core::limits::NAME_LEN_MAX)];
    let name2 = &s.names.1[..s.names.1.len().min(vexfs_core::limits::NAME_LEN_MAX)];
    let payload = &s.payload[..s.payload.len().min(4096)];
    let (a, b) = s.inos;
    let (perm, rdev, o1, o2) = s.nums;
    let (m1, m2, flag) = s.modes;
    let time = |n: u32| SetTime::At(Timestamp::new(i64::from(n), n % 1_000_000_000));
    match s.kind % 13 {
        0 => Op::Mknod {
            parent: a,
            name,
            kind: FileKind::ALL[usize::from(m1) % FileKind::ALL.len()],
            perm,
            rdev,
        },
        1 => Op::Symlink {
            parent: a,
            name,
            target: payload,
        },
        2 => Op::Link {
            ino: a,
            parent: b,
            name,
        },
        3 => Op::Unlink { parent: a, name },
        4 => Op::Rmdir { parent: a, name },
        5 => Op::Rename {
            parent: a,
            name,
            new_parent: b,
            new_name: name2,
            mode: [RenameMode::Replace, RenameMode::NoReplace, RenameMode::Exchange][usize::from(m1 % 3)],
        },
        6 => Op::SetAttr {
            ino: a,
            attr: SetAttr {
                perm: flag.then_some(perm),
                uid: (m1 & 1 == 1).then_some(rdev),
                gid: (m1 & 2 == 2).then_some(perm ^ rdev),
                size: (m1 & 4 == 4).then_some(o1),
                atime: match m2 % 3 {
                    0 => None,
                    1 => Some(SetTime::Now),
                    _ => Some(time(rdev)),
                },
                mtime: (m1 & 8 == 8).then(|| time(perm)),
            },
        },
        7 => Op::Write {
            ino: a,
            offset: o1,
            data: payload,
            kill_suid: flag,
        },
        8 => Op::Fallocate {
            ino: a,
            offset: o1,
            len: o2,
            mode: [FallocMode::Allocate, FallocMode::KeepSize, FallocMode::PunchHole][usize::from(m1 % 3)],
        },
        9 => Op::SetXattr {
            ino: a,
            name,
            value: payload,
            mode: [XattrMode::Any, XattrMode::Create, XattrMode::Replace][usize::from(m1 % 3)],
        },
        10 => Op::RemoveXattr { ino: a, name },
        11 => Op::Touch { ino: a },
        _ => Op::Release { ino: a },
    }
}

/// `codec`: configuration, vector and record codecs round-trip, and reject what they must
/// without panicking.
pub fn codec(input: &CodecInput) -> Result<(), String> {
    match input {
        CodecInput::ConfigText(text) => {
            if let Ok(c) = IndexConfig::parse(text) {
                c.validate()
                    .map_err(|e| format!("parsed config {c} does not validate: {e}"))?;
                let back = IndexConfig::parse(c.to_string().as_bytes())
                    .map_err(|e| format!("{c} does not parse back: {e}"))?;
                if back != c {
                    return Err(format!("config round trip: {c} -> {back}"));
                }
            }
        }
        CodecInput::ConfigFields {
            dim,
            elem,
            metric,
            m,
            efc,
            efs,
            quant,
            rerank,
        } => {
            let c = IndexConfig {
                dim: *dim % 70_000,
                elem: elem_of(*elem),
                metric: Metric::ALL[usize::from(*metric) % Metric::ALL.len()],
                m: u32::from(*m),
                ef_construction: u32::from(*efc),
                ef_search: u32::from(*efs),
                quantization: Quantization::ALL[usize::from(*quant) % Quantization::ALL.len()],
                rerank: u32::from(*rerank),
            };
            let printed = c.to_string();
            match (c.validate(), IndexConfig::parse(printed.as_bytes())) {
                (Ok(()), Ok(back)) if back == c => {}
                (Err(_), Err(_)) => {}
                (v, p) => return Err(format!("{printed}: validate {v:?} but parse {p:?}")),
            }
        }
        CodecInput::VectorBytes { elem, dim, bytes } => {
            let ty = elem_of(*elem);
            let mut dim = u32::from(*dim) % (ty.dim_max() + 1);
            if ty == ElemType::Bin {
                // Collections only have whole-byte bin dimensions (IndexConfig::validate).
                dim -= dim % 8;
            }
            if vector::validate(ty, dim, bytes).is_ok() {
                let mut values = Vec::new();
                vector::decode_values(ty, bytes, &mut values);
                let mut again = Vec::new();
                vector::encode_values(ty, dim, &values, &mut again)
                    .map_err(|e| format!("valid {ty:?} vector decodes to values that do not encode: {e}"))?;
                if &again != bytes {
                    return Err(format!("{ty:?} vector round trip changed the bytes"));
                }
            }
        }
        CodecInput::VectorValues { elem, values } => {
            let ty = elem_of(*elem);
            let dim = values.len().min(4096) as u32;
            let values = &values[..dim as usize];
            let mut bytes = Vec::new();
            let encodable = ty != ElemType::Bin || dim.is_multiple_of(8);
            if encodable && vector::encode_values(ty, dim, values, &mut bytes).is_ok() {
                if ty == ElemType::Bin {
                    if bytes.len() != ty.vector_bytes(dim) {
                        return Err("bin encoding has the wrong length".to_string());
                    }
                } else {
                    vector::validate(ty, dim, &bytes)
                        .map_err(|e| format!("encoded {ty:?} vector does not validate: {e}"))?;
                }
                let mut back = Vec::new();
                vector::decode_values(ty, &bytes, &mut back);
                for (v, b) in values.iter().zip(&back) {
                    let want = match ty {
                        ElemType::F32 => f64::from(*v as f32),
                        ElemType::F16 => half::f16::from_f64(*v).to_f64(),
                        _ => *v,
                    };
                    if want.to_bits() != b.to_bits() && !(want == 0.0 && *b == 0.0) {
                        return Err(format!("{ty:?} value {v} decoded as {b}"));
                    }
                }
            }
        }
        CodecInput::Record(s) => {
            let op = record_op(s);
            let (secs, nanos, uid, gid) = s.ctx;
            let ctx = Ctx::new(Timestamp::new(secs, nanos % 1_000_000_000), uid, gid);
            let mut buf = Vec::new();
            encode_op(&op, &ctx, &mut buf);
            let (op2, ctx2) = decode_op(&mut Reader::new(&buf, 0, "record"))
                .map_err(|e| format!("{op:?} does not decode: {e}"))?;
            if op2 != op || ctx2 != ctx {
                return Err(format!("record round trip: {op:?} -> {op2:?}"));
            }
            // Every strict prefix is rejected as corruption.
            for cut in [0, buf.len() / 2, buf.len().saturating_sub(1)] {
                if cut < buf.len() && decode_op(&mut Reader::new(&buf[..cut], 0, "record")).is_ok() {
                    return Err(format!("a {cut}-byte prefix of {op:?} decoded"));
                }
            }
            // Applying a decoded record to an empty engine never panics.
            let _ = Engine::new(vexfs_core::EngineConfig::default()).execute(&op2, &ctx2);
        }
        CodecInput::RawRecord(bytes) => match decode_op(&mut Reader::new(bytes, 0, "record")) {
            Ok((op, ctx)) => {
                let mut again = Vec::new();
                encode_op(&op, &ctx, &mut again);
                if &again != bytes {
                    return Err(format!("raw record {op:?} re-encodes differently"));
                }
            }
            Err(Error::Corrupted { .. }) => {}
            Err(e) => {
                return Err(format!(
                    "record decoder failed with a non-corruption error: {e:?}"
                ));
            }
        },
    }
    Ok(())
}
