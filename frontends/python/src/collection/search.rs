//! `Collection.search`'s batch search below its argument parsing: the fields asked for
//! ([`Include`]), the search itself without the GIL ([`Collection::run_search`], every query
//! through `Engine::search` under one read lock) and the Python results built with the GIL
//! ([`SearchResults`]).
//!
//! Invariants: a search's results are `nq * k` slots, nearest first per query and padded past
//! each query's count (`inf` distances, `None` names, zero vectors, `-1` sizes, NaN mtimes);
//! the hits' inodes are kept in order, one per counted slot, and every hit is named in its
//! collection (from the name table when it is valid, else from the names read while searching).

use super::{Collection, Pairs, metadata_dict, user_metadata};
use crate::arrays::{self, Rows};
use crate::errors::{Fail, quote};
use crate::fs::name_out;
use crate::names::{Listing, NameTable, Plan, Tables};
use numpy::PyArray1;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use std::sync::Arc;
use vexfs::{IndexConfig, Ino, Query, Target, Vexfs};
use vexfs_core::VECTOR_XATTR;

/// One search's requested extra fields: the names of SPEC §4's `include` (`metadata`,
/// `metadata.KEY`, `vector`, `vector_b64`, `size`, `mtime`), read by the core's parser so the
/// mount and Python accept the same ones; `"vectors"` is also taken for `"vector"`, and
/// `"vector_b64"` gives the same numpy array as `"vector"` (Python has no use for base64).
#[derive(Debug, Default, Clone)]
pub(super) struct Include {
    metadata: bool,
    /// Only these keys (without `user.`), when `metadata.KEY` names were given.
    keys: Option<Vec<String>>,
    vector: bool,
    size: bool,
    mtime: bool,
}

impl Include {
    pub(super) fn parse(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let Some(obj) = obj else {
            return Ok(Include::default());
        };
        let names: Vec<String> = if let Ok(s) = obj.cast::<PyString>() {
            vec![s.to_cow()?.into_owned()]
        } else {
            obj.extract()
                .map_err(|_| PyTypeError::new_err("include must be a str or a sequence of str"))?
        };
        let core = vexfs::Include::parse(
            names
                .iter()
                .map(|n| if n == "vectors" { "vector" } else { n.as_str() }),
        )
        .map_err(Fail::from)?;
        Ok(Include {
            metadata: core.metadata != vexfs::Attrs::None,
            keys: match core.metadata {
                vexfs::Attrs::Named(keys) => Some(keys),
                _ => None,
            },
            vector: core.vector || core.vector_b64,
            size: core.size,
            mtime: core.mtime,
        })
    }
}

/// What a batch search found, in plain Rust values (built without the GIL).
#[derive(Debug, Default)]
struct Found {
    /// `nq * k` distances, `inf` past each query's count.
    distances: Vec<f32>,
    /// Number of results of each query.
    counts: Vec<usize>,
    /// The inode of every hit, in order.
    hits: Vec<Ino>,
    /// Where the hits' names come from: a valid table, a listing to build one from, or (with
    /// neither) `names`, all names back to back, and `name_ends`, where each ends.
    table: Option<Arc<NameTable>>,
    listing: Option<Listing>,
    names: Vec<u8>,
    name_ends: Vec<usize>,
    /// Per hit, when asked for.
    metadata: Vec<Pairs>,
    /// `nq * k` vectors (zeros past each count), when asked for.
    vectors: Vec<u8>,
    /// `nq * k` sizes (`-1` past each count) and mtimes (NaN), when asked for.
    sizes: Vec<i64>,
    mtimes: Vec<f64>,
}

/// The result of `Collection.search`.
///
/// For a batch of `q` queries: `distances` (`float32`, shape `(q, k)`, nearest first, `inf`
/// past a query's count), `names` (`object` array of `str`, `None` past the count), `counts`
/// (`int64`, shape `(q,)`: how many results each query has; fewer than `k` only when fewer
/// files match). Fields asked for with `include`: `metadata` (a list per query of one dict per
/// result), `vectors` (shape `(q, k, d)` in the collection's dtype, zeros past the count),
/// `sizes` (`int64`, `-1` past the count), `mtimes` (`float64` seconds, NaN past the count);
/// the others are `None`. For a single query vector the leading axis is dropped: `distances`
/// and `names` have shape `(k,)`, `counts` is an int and `metadata` one list.
#[pyclass(frozen, module = "vexfs", name = "SearchResults", get_all)]
#[derive(Debug)]
pub struct SearchResults {
    distances: Py<PyAny>,
    names: Py<PyAny>,
    counts: Py<PyAny>,
    metadata: Py<PyAny>,
    vectors: Py<PyAny>,
    sizes: Py<PyAny>,
    mtimes: Py<PyAny>,
}

#[pymethods]
impl SearchResults {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SearchResults(distances={}, names={}, counts={})",
            self.distances.bind(py).repr()?,
            self.names.bind(py).repr()?,
            self.counts.bind(py).repr()?
        ))
    }

    /// `distances, names = col.search(...)` unpacks the two main arrays.
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pyo3::types::PyTuple::new(py, [self.distances.clone_ref(py), self.names.clone_ref(py)])?
            .as_any()
            .try_iter()
            .map(Bound::into_any)
    }
}

impl Collection {
    /// Searches for the `k` nearest of every row of `rows` with query `q` (its target is set
    /// to each row in turn) under one read lock without the GIL, then builds the results.
    pub(super) fn search_rows(
        &self,
        py: Python<'_>,
        cfg: &IndexConfig,
        rows: &Rows,
        q: &mut Query,
        k: usize,
        inc: &Include,
    ) -> PyResult<SearchResults> {
        let found = self.shared.read(py, |fs| self.run_search(fs, rows, q, k, inc))?;
        self.results(py, cfg, rows, k, inc, found)
    }

    /// Runs every query of `rows` (without the GIL), collecting what `inc` asks for.
    fn run_search(
        &self,
        fs: &Vexfs,
        rows: &Rows,
        q: &mut Query,
        k: usize,
        inc: &Include,
    ) -> Result<Found, Fail> {
        let e = fs.engine();
        let (dir_ino, cfg) = self.cfg(fs)?;
        let vbytes = cfg.elem.vector_bytes(cfg.dim);
        if rows.bytes.len() != rows.n * vbytes {
            return Err(Fail::Vector(format!(
                "queries: the collection changed to dim {} type {} during the call",
                cfg.dim,
                cfg.elem.name()
            )));
        }
        let slots = rows.n * k;
        let mut f = Found {
            distances: vec![f32::INFINITY; slots],
            counts: Vec::with_capacity(rows.n),
            hits: Vec::with_capacity(slots),
            ..Found::default()
        };
        let generation = self.shared.generation.get();
        let len = e.collection(dir_ino).map_or(0, |c| c.index.len()) as u64;
        match self.shared.tables.plan(dir_ino, generation, slots as u64, len) {
            Plan::Table(t) => f.table = Some(t),
            Plan::Lookup { build } => {
                f.listing = if build {
                    Tables::list(fs, dir_ino, generation)
                } else {
                    None
                };
                if f.listing.is_none() {
                    f.names = Vec::with_capacity(slots * 12);
                    f.name_ends = Vec::with_capacity(slots);
                }
            }
        }
        let lookup = f.table.is_none() && f.listing.is_none();
        if inc.vector {
            f.vectors = vec![0; slots * vbytes];
        }
        if inc.size {
            f.sizes = vec![-1; slots];
        }
        if inc.mtime {
            f.mtimes = vec![f64::NAN; slots];
        }
        let mut scratch = self.shared.take_scratch();
        let mut hits = Vec::with_capacity(k);
        let mut result = Ok(());
        for (r, v) in rows.bytes.chunks_exact(vbytes.max(1)).take(rows.n).enumerate() {
            if let Target::Bytes(b) = &mut q.target {
                b.clear();
                b.extend_from_slice(v);
            }
            // Trusted credentials: the Python process holds the whole image.
            let dir = match e.search(q, &vexfs::Creds::ROOT, &mut scratch, &mut hits) {
                Ok(d) => d,
                Err(err) => {
                    result = Err(err);
                    break;
                }
            };
            f.counts.push(hits.len());
            for (j, h) in hits.iter().enumerate() {
                let slot = r * k + j;
                f.distances[slot] = h.distance;
                f.hits.push(h.ino);
                if lookup {
                    let node = e.namespace().get(h.ino);
                    f.names
                        .extend_from_slice(node.ok().and_then(|n| n.name_in(dir)).unwrap_or_default());
                    f.name_ends.push(f.names.len());
                }
                if inc.metadata {
                    let mut pairs = user_metadata(fs, h.ino);
                    if let Some(keys) = &inc.keys {
                        // In the order named, as the mount writes them.
                        pairs = keys
                            .iter()
                            .filter_map(|k| pairs.iter().find(|(n, _)| n == k.as_bytes()).cloned())
                            .collect();
                    }
                    f.metadata.push(pairs);
                }
                if inc.vector
                    && let Ok(raw) = e.getxattr(h.ino, VECTOR_XATTR)
                    && raw.len() == vbytes
                {
                    f.vectors[slot * vbytes..(slot + 1) * vbytes].copy_from_slice(raw);
                }
                if (inc.size || inc.mtime)
                    && let Ok(a) = e.getattr(h.ino)
                {
                    if inc.size {
                        f.sizes[slot] = i64::try_from(a.size).unwrap_or(i64::MAX);
                    }
                    if inc.mtime {
                        f.mtimes[slot] = a.mtime.secs() as f64 + f64::from(a.mtime.nanos()) / 1e9;
                    }
                }
            }
        }
        self.shared.give_scratch(scratch);
        result.map_err(|error| Fail::Core {
            error,
            what: Some(format!("search of {}", quote(self.dir.as_bytes()))),
        })?;
        Ok(f)
    }
}

impl Collection {
    /// Builds the Python results of a search (with the GIL).
    fn results(
        &self,
        py: Python<'_>,
        cfg: &IndexConfig,
        rows: &Rows,
        k: usize,
        inc: &Include,
        f: Found,
    ) -> PyResult<SearchResults> {
        let nq = rows.n;
        let lead: Vec<usize> = if rows.single { vec![k] } else { vec![nq, k] };
        let none = py.None();
        let table = match (f.table, f.listing) {
            (Some(t), _) => Some(t),
            (None, Some(l)) => Some(self.shared.tables.build(py, l)?),
            (None, None) => None,
        };
        let mut names: Vec<Py<PyAny>> = Vec::with_capacity(nq * k);
        let mut start = 0;
        let mut hit = 0;
        for &c in &f.counts {
            for j in 0..k {
                if j >= c {
                    names.push(none.clone_ref(py));
                    continue;
                }
                let name = match &table {
                    Some(t) => t.name(py, f.hits[hit]).map(Py::into_any),
                    None => {
                        let end = f.name_ends[hit];
                        let n = name_out(py, &f.names[start..end], false)?.unbind();
                        start = end;
                        Some(n)
                    }
                };
                debug_assert!(name.is_some(), "every hit is named in its collection");
                names.push(name.unwrap_or_else(|| none.clone_ref(py)));
                hit += 1;
            }
        }
        let reshape = |a: Bound<'_, PyAny>, shape: &[usize]| -> PyResult<Py<PyAny>> {
            Ok(
                a.call_method1("reshape", (pyo3::types::PyTuple::new(py, shape)?,))?
                    .unbind(),
            )
        };
        let distances = reshape(PyArray1::from_vec(py, f.distances).into_any(), &lead)?;
        let names = reshape(PyArray1::from_vec(py, names).into_any(), &lead)?;
        let counts: Py<PyAny> = if rows.single {
            f.counts
                .first()
                .copied()
                .unwrap_or(0)
                .into_pyobject(py)?
                .into_any()
                .unbind()
        } else {
            let c: Vec<i64> = f.counts.iter().map(|&c| c as i64).collect();
            PyArray1::from_vec(py, c).into_any().unbind()
        };
        let metadata: Py<PyAny> = if inc.metadata {
            let mut per_query = Vec::with_capacity(nq);
            let mut it = f.metadata.iter();
            for &c in &f.counts {
                let dicts = it
                    .by_ref()
                    .take(c)
                    .map(|m| metadata_dict(py, m))
                    .collect::<PyResult<Vec<_>>>()?;
                per_query.push(PyList::new(py, dicts)?);
            }
            if rows.single {
                per_query.into_iter().next().map_or_else(
                    || PyList::empty(py).into_any().unbind(),
                    |l| l.into_any().unbind(),
                )
            } else {
                PyList::new(py, per_query)?.into_any().unbind()
            }
        } else {
            none.clone_ref(py)
        };
        let vectors = if inc.vector {
            let mut shape = lead.clone();
            shape.push(arrays::row_len(cfg));
            arrays::decode(py, cfg.elem, f.vectors, &shape)?.unbind()
        } else {
            none.clone_ref(py)
        };
        let sizes = if inc.size {
            reshape(PyArray1::from_vec(py, f.sizes).into_any(), &lead)?
        } else {
            none.clone_ref(py)
        };
        let mtimes = if inc.mtime {
            reshape(PyArray1::from_vec(py, f.mtimes).into_any(), &lead)?
        } else {
            none.clone_ref(py)
        };
        Ok(SearchResults {
            distances,
            names,
            counts,
            metadata,
            vectors,
            sizes,
            mtimes,
        })
    }
}
