//! The JSON search query of SPEC §4: parsing ([`parse_query`]) and printing ([`Query::to_json`]).
//!
//! A query is one JSON object with the fields `dir`, `vector` | `vector_b64` | `like`, `k`,
//! `ef`, `filter`, `exact`, `max_distance` and `include`; a batch is a JSON array of 1 to
//! [`BATCH_QUERIES_MAX`](crate::limits::BATCH_QUERIES_MAX) such objects ([`parse_queries`]). This module owns their validation:
//! after parsing succeeds, `dir` (and `like`) are absolute paths without NUL of at most
//! [`PATH_LEN_MAX`] bytes, exactly one target is given and non-empty, `1 <= k <= K_MAX`,
//! `1 <= ef <= EF_MAX`, the filter parsed, `max_distance` is a finite number, and `include`
//! names known fields and at most [`INCLUDE_ATTRS_MAX`] valid attribute keys. What depends on
//! the collection (its dimension, element type and metric, whether `dir` exists) is checked by
//! the engine.
//!
//! # Bounded work on hostile input
//!
//! The input is checked for length ([`QUERY_LEN_MAX`]) and UTF-8 before any JSON parsing, and
//! must start with `{`. It is then deserialised into a typed struct with
//! `deny_unknown_fields`, whose every field is a scalar or, for `vector` and `include`, an array
//! of numbers or of strings read by a visitor that refuses anything else as an element: serde_json
//! therefore never descends more than two levels (object, array) below the batch array, never
//! skips an unknown value, and fails at the first unexpected token. 100,000 nested `[` inside
//! `vector` fail at the second one; a batch's elements must be objects.
//!
//! `null` for a field is the same as leaving it out. Errors are [`Error::Query`] with a one-line
//! message (control characters escaped, at most 300 characters), since they are
//! returned to users as `{"error":"..."}`.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::filter::Filter;
use crate::error::{Error, Result};
use crate::limits::{
    BIN_DIM_MAX, DIM_MAX, EF_MAX, INCLUDE_ATTRS_MAX, K_DEFAULT, K_MAX, PATH_LEN_MAX, QUERY_LEN_MAX,
    XATTR_NAME_LEN_MAX,
};
use crate::vector::VECTOR_XATTR;
use wire::{Batch, Val, Wire};

/// Longest error message this module returns, in characters.
const MESSAGE_CHARS_MAX: usize = 300;
/// Most numbers a `vector` may hold: the largest dimension of any element type (`bin` vectors
/// are given as one 0/1 number per bit).
const VECTOR_VALUES_MAX: usize = if BIN_DIM_MAX > DIM_MAX {
    BIN_DIM_MAX as usize
} else {
    DIM_MAX as usize
};
/// Most bytes `vector_b64` may decode to: the largest vector of any element type (f32 at
/// [`DIM_MAX`], or `bin` at [`BIN_DIM_MAX`] bits).
const VECTOR_BYTES_MAX: usize = if DIM_MAX as usize * 4 > BIN_DIM_MAX as usize / 8 {
    DIM_MAX as usize * 4
} else {
    BIN_DIM_MAX as usize / 8
};

/// A search query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The collection, as an absolute path from the root (`/docs`).
    pub dir: String,
    /// What to search for.
    pub target: Target,
    /// Number of results, `1..=K_MAX`.
    pub k: u32,
    /// Search breadth, `1..=EF_MAX`; `None` means the collection's `ef_search`.
    pub ef: Option<u32>,
    /// Only files matching this filter are returned.
    pub filter: Option<Filter>,
    /// Exact (brute-force) search instead of the graph.
    pub exact: bool,
    /// Only hits at most this far from the query (radius search); finite. Whether a negative
    /// radius makes sense depends on the metric (only `dot` distances can be negative), which
    /// the engine checks.
    pub max_distance: Option<f64>,
    /// What each hit carries besides its path and distance.
    pub include: Include,
}

/// Which metadata attributes a hit carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Attrs {
    /// None (no `metadata` in `include`).
    #[default]
    None,
    /// Every `user.*` attribute but the vector (`"metadata"`).
    All,
    /// These keys, named without `user.` (`"metadata.lang"`), in the order given, without
    /// repeats; a key the file lacks is left out of its hit.
    Named(Vec<String>),
}

/// The `include` field: what each hit carries besides its path and distance (SPEC §4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Include {
    /// Metadata attributes (`"metadata"` or `"metadata.KEY"`).
    pub metadata: Attrs,
    /// The vector as numbers in the collection's type (`"vector"`; bits as 0/1 for `bin`).
    pub vector: bool,
    /// The vector as base64 of its stored little-endian bytes (`"vector_b64"`).
    pub vector_b64: bool,
    /// The file's size in bytes (`"size"`).
    pub size: bool,
    /// The file's modification time in seconds since the epoch, with its fraction (`"mtime"`).
    pub mtime: bool,
}

impl Include {
    /// Whether nothing is asked for.
    pub fn is_empty(&self) -> bool {
        *self == Include::default()
    }

    /// The include named by `names` (the strings of the `include` array): each one of
    /// `metadata`, `metadata.KEY`, `vector`, `vector_b64`, `size`, `mtime`. A name given twice
    /// counts once; `metadata` and `metadata.KEY` exclude each other.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Include> {
        let mut inc = Include::default();
        for name in names {
            match name {
                "vector" => inc.vector = true,
                "vector_b64" => inc.vector_b64 = true,
                "size" => inc.size = true,
                "mtime" => inc.mtime = true,
                "metadata" => match inc.metadata {
                    Attrs::Named(_) => return Err(query_err(METADATA_BOTH)),
                    _ => inc.metadata = Attrs::All,
                },
                _ => {
                    let Some(key) = name.strip_prefix("metadata.") else {
                        return Err(query_err(&format!(
                            "include takes \"metadata\", \"metadata.KEY\", \"vector\", \"vector_b64\", \
                             \"size\" and \"mtime\", not {name:?}"
                        )));
                    };
                    check_key(key)?;
                    match &mut inc.metadata {
                        Attrs::All => return Err(query_err(METADATA_BOTH)),
                        Attrs::Named(keys) if keys.iter().any(|k| k == key) => {}
                        Attrs::Named(keys) if keys.len() == INCLUDE_ATTRS_MAX => {
                            return Err(query_err(&format!(
                                "include names more than {INCLUDE_ATTRS_MAX} metadata keys"
                            )));
                        }
                        Attrs::Named(keys) => keys.push(key.to_owned()),
                        Attrs::None => inc.metadata = Attrs::Named(vec![key.to_owned()]),
                    }
                }
            }
        }
        Ok(inc)
    }

    /// The names [`Include::parse`] reads back as this include, in a fixed order.
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.metadata {
            Attrs::None => {}
            Attrs::All => out.push("metadata".to_owned()),
            Attrs::Named(keys) => out.extend(keys.iter().map(|k| format!("metadata.{k}"))),
        }
        for (on, name) in [
            (self.vector, "vector"),
            (self.vector_b64, "vector_b64"),
            (self.size, "size"),
            (self.mtime, "mtime"),
        ] {
            if on {
                out.push(name.to_owned());
            }
        }
        out
    }
}

const METADATA_BOTH: &str =
    "include takes either \"metadata\" (every attribute) or \"metadata.KEY\" names, not both";

/// Checks a metadata key named in `include` (without `user.`).
fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(query_err("include: metadata.KEY needs a key"));
    }
    if key.len() + b"user.".len() > XATTR_NAME_LEN_MAX {
        return Err(query_err(&format!(
            "include: metadata key {key:?} is longer than an attribute name may be"
        )));
    }
    if key.contains('\0') {
        return Err(query_err(
            "include: a metadata key must not contain a NUL character",
        ));
    }
    if key.as_bytes() == &VECTOR_XATTR[b"user.".len()..] {
        return Err(query_err(
            "include: the vector is not metadata (include \"vector\" or \"vector_b64\")",
        ));
    }
    Ok(())
}

/// The query vector, in one of the three forms a query can give it.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `vector`: the values, converted to the collection's element type by the engine.
    Values(Vec<f64>),
    /// `vector_b64`: raw little-endian bytes in the collection's element type.
    Bytes(Vec<u8>),
    /// `like`: the absolute path of a file whose vector is the query.
    Like(String),
}

impl Query {
    /// A query for the `K_DEFAULT` nearest neighbours of `target` in `dir`, with no `ef`, no
    /// filter and approximate search.
    pub fn new(dir: impl Into<String>, target: Target) -> Query {
        Query {
            dir: dir.into(),
            target,
            k: K_DEFAULT,
            ef: None,
            filter: None,
            exact: false,
            max_distance: None,
            include: Include::default(),
        }
    }

    /// The query as one line of JSON that [`parse_query`] reads back as an equal query
    /// (fields `ef`, `filter`, `max_distance` and `include` only when set, `exact` only when
    /// true).
    ///
    /// Numbers are written in their shortest round-trip form. serde_json (without its
    /// `float_roundtrip` feature) reads back exactly every value whose shortest decimal form has
    /// at most 15 significant digits and whose magnitude is within `1e-22..1e22` (or zero), which
    /// includes every such value typed as a decimal; others may come back a unit or so in the
    /// last place off. Non-finite values, which no valid query
    /// holds, are written as `null`, which [`parse_query`] rejects.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"dir\":");
        write_str(&mut s, &self.dir);
        match &self.target {
            Target::Values(values) => {
                s.push_str(",\"vector\":[");
                for (i, &v) in values.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    write_number(&mut s, v);
                }
                s.push(']');
            }
            Target::Bytes(bytes) => {
                s.push_str(",\"vector_b64\":\"");
                STANDARD.encode_string(bytes, &mut s);
                s.push('"');
            }
            Target::Like(path) => {
                s.push_str(",\"like\":");
                write_str(&mut s, path);
            }
        }
        let _ = write!(s, ",\"k\":{}", self.k);
        if let Some(ef) = self.ef {
            let _ = write!(s, ",\"ef\":{ef}");
        }
        if let Some(filter) = &self.filter {
            s.push_str(",\"filter\":");
            write_str(&mut s, &filter.to_string());
        }
        if self.exact {
            s.push_str(",\"exact\":true");
        }
        if let Some(d) = self.max_distance {
            s.push_str(",\"max_distance\":");
            write_number(&mut s, d);
        }
        if !self.include.is_empty() {
            s.push_str(",\"include\":[");
            for (i, name) in self.include.names().iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                write_str(&mut s, name);
            }
            s.push(']');
        }
        s.push('}');
        s
    }
}

/// A batch as one line of JSON that [`parse_queries`] reads back: a JSON array of the queries.
pub fn batch_to_json(queries: &[Query]) -> String {
    let mut s = String::from("[");
    for (i, q) in queries.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&q.to_json());
    }
    s.push(']');
    s
}

/// Appends `v` as a JSON number: plain decimal for moderate magnitudes, exponent form beyond,
/// so no value takes more than about 25 bytes.
fn write_number(s: &mut String, v: f64) {
    let _ = if !v.is_finite() {
        write!(s, "null")
    } else if v == 0.0 {
        // Keep the sign of -0.0: JSON `-0` would read back as the integer 0.
        write!(s, "{}", if v.is_sign_negative() { "-0.0" } else { "0" })
    } else if (1e-5..1e16).contains(&v.abs()) {
        write!(s, "{v}")
    } else {
        write!(s, "{v:e}")
    };
}

/// Appends `text` as a JSON string.
fn write_str(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

/// A query error with `msg` made one line and short.
fn query_err(msg: &str) -> Error {
    Error::query(super::one_line(msg, MESSAGE_CHARS_MAX))
}

/// Checks that `field`'s value `p` is an absolute path usable by the namespace.
fn check_path(field: &str, p: &str) -> Result<()> {
    if !p.starts_with('/') {
        return Err(query_err(&format!(
            "{field} must be an absolute path (starting with '/')"
        )));
    }
    if p.len() > PATH_LEN_MAX {
        return Err(query_err(&format!("{field} is longer than {PATH_LEN_MAX} bytes")));
    }
    if p.contains('\0') {
        return Err(query_err(&format!("{field} must not contain a NUL character")));
    }
    Ok(())
}

fn string(field: &str, v: Val) -> Result<String> {
    match v {
        Val::Str(s) => Ok(s),
        other => Err(query_err(&format!(
            "{field} must be a string, not {}",
            other.kind()
        ))),
    }
}

/// An integer field in `1..=max`.
fn count(field: &str, v: Option<Val>, max: u32) -> Result<Option<u32>> {
    match v {
        None => Ok(None),
        Some(Val::Num(n)) if n.fract() == 0.0 && (1.0..=f64::from(max)).contains(&n) => Ok(Some(n as u32)),
        Some(Val::Num(n)) if n.fract() != 0.0 => {
            Err(query_err(&format!("{field} must be an integer, not {n}")))
        }
        Some(Val::Num(_)) => Err(query_err(&format!("{field} must be between 1 and {max}"))),
        Some(other) => Err(query_err(&format!(
            "{field} must be an integer between 1 and {max}, not {}",
            other.kind()
        ))),
    }
}

/// The input's text, checked for length and UTF-8, and its first non-blank byte.
fn text_of(bytes: &[u8]) -> Result<(&str, Option<u8>)> {
    if bytes.len() > QUERY_LEN_MAX {
        return Err(query_err(&format!("query is longer than {QUERY_LEN_MAX} bytes")));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| query_err(&format!("query is not UTF-8 (byte {})", e.valid_up_to())))?;
    Ok((text, text.trim_start().as_bytes().first().copied()))
}

/// Parses and validates one query (see the module documentation for the rules).
pub fn parse_query(bytes: &[u8]) -> Result<Query> {
    let (text, first) = text_of(bytes)?;
    match first {
        Some(b'{') => {}
        None => return Err(query_err("query is empty: expected a JSON object")),
        Some(_) => return Err(query_err("query must be a JSON object")),
    }
    let wire: Wire = serde_json::from_str(text)
        .map_err(|e| query_err(&format!("query is not a valid query object: {e}")))?;
    check_wire(wire)
}

/// Parses and validates one query or a batch: a JSON object is one query (`batch` false), a
/// JSON array of 1 to [`BATCH_QUERIES_MAX`](crate::limits::BATCH_QUERIES_MAX) query objects is a batch (`batch` true). An error in
/// any query of a batch names its index (`query 3: ...`) and fails the whole batch.
pub fn parse_queries(bytes: &[u8]) -> Result<Queries> {
    let (text, first) = text_of(bytes)?;
    if first != Some(b'[') {
        return parse_query(bytes).map(|q| Queries {
            queries: vec![q],
            batch: false,
        });
    }
    let Batch(wires) = serde_json::from_str(text).map_err(|e| {
        query_err(&format!(
            "query is not a valid batch (an array of query objects): {e}"
        ))
    })?;
    if wires.is_empty() {
        return Err(query_err("a batch must hold at least one query"));
    }
    let mut queries = Vec::with_capacity(wires.len());
    for (i, w) in wires.into_iter().enumerate() {
        queries.push(check_wire(w).map_err(|e| match e {
            Error::Query(m) => query_err(&format!("query {i}: {m}")),
            other => other,
        })?);
    }
    Ok(Queries { queries, batch: true })
}

/// What [`parse_queries`] read: the queries, and whether they came as a batch (whose answer
/// lines then say which query they belong to).
#[derive(Debug, Clone, PartialEq)]
pub struct Queries {
    /// The queries, in the order given.
    pub queries: Vec<Query>,
    /// Whether the input was an array.
    pub batch: bool,
}

/// Validates one query object.
fn check_wire(wire: Wire) -> Result<Query> {
    let dir = string("dir", wire.dir.ok_or_else(|| query_err("dir is required"))?)?;
    check_path("dir", &dir)?;

    let target = match (wire.vector, wire.vector_b64, wire.like) {
        (Some(v), None, None) => match v {
            Val::Array(values) if values.is_empty() => return Err(query_err("vector must not be empty")),
            Val::Array(values) => Target::Values(values),
            other => {
                return Err(query_err(&format!(
                    "vector must be an array of numbers, not {}",
                    other.kind()
                )));
            }
        },
        (None, Some(v), None) => {
            let b64 = string("vector_b64", v)?;
            if b64.is_empty() {
                return Err(query_err("vector_b64 must not be empty"));
            }
            if b64.len() > VECTOR_BYTES_MAX.div_ceil(3) * 4 {
                return Err(query_err(&format!(
                    "vector_b64 is longer than the largest vector ({VECTOR_BYTES_MAX} bytes)"
                )));
            }
            let bytes = STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| query_err(&format!("vector_b64 is not standard padded base64: {e}")))?;
            Target::Bytes(bytes)
        }
        (None, None, Some(v)) => {
            let like = string("like", v)?;
            check_path("like", &like)?;
            Target::Like(like)
        }
        _ => return Err(query_err("give exactly one of vector, vector_b64, like")),
    };

    let k = count("k", wire.k, K_MAX)?.unwrap_or(K_DEFAULT);
    let ef = count("ef", wire.ef, EF_MAX)?;
    let filter = match wire.filter {
        None => None,
        Some(v) => Some(Filter::parse(&string("filter", v)?)?),
    };
    let exact = match wire.exact {
        None => false,
        Some(Val::Bool(b)) => b,
        Some(other) => {
            return Err(query_err(&format!(
                "exact must be true or false, not {}",
                other.kind()
            )));
        }
    };
    let max_distance = match wire.max_distance {
        None => None,
        Some(Val::Num(d)) if d.is_finite() => Some(d),
        Some(Val::Num(d)) => return Err(query_err(&format!("max_distance must be finite, not {d}"))),
        Some(other) => {
            return Err(query_err(&format!(
                "max_distance must be a number, not {}",
                other.kind()
            )));
        }
    };
    let include = match wire.include {
        None => Include::default(),
        Some(Val::Strings(names)) => Include::parse(names.iter().map(String::as_str))?,
        Some(Val::Str(name)) => Include::parse([name.as_str()])?,
        // `[]` reads as an empty array of numbers: nothing included.
        Some(Val::Array(v)) if v.is_empty() => Include::default(),
        Some(other) => {
            return Err(query_err(&format!(
                "include must be an array of strings, not {}",
                other.kind()
            )));
        }
    };
    Ok(Query {
        dir,
        target,
        k,
        ef,
        filter,
        exact,
        max_distance,
        include,
    })
}

#[cfg(test)]
mod tests;
mod wire;
