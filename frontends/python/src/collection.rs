//! `vexfs.Collection`: a collection directory's files, vectors and searches, in batches.
//!
//! A `Collection` names its directory by its canonical path (a rename of the directory leaves
//! the object pointing at the old path) and reads the configuration afresh on every call.
//! Each call works in three steps: read what it needs of the collection (the configuration)
//! without the GIL; convert the Python arguments into plain Rust values with the GIL; run the
//! whole batch in one locked section without the GIL; then build the Python results. So a
//! bulk add holds the write lock once, and a batch search holds the read lock once and runs
//! every query through the same core call as the mount's `/.vexfs/search` (`Engine::search`),
//! with the same validation, filter, ordering (distance, then name: SPEC §4) and results.
//!
//! This module owns the `Collection` class and its argument parsing; `search` below it owns the
//! batch search after its arguments are parsed and the `SearchResults` it returns.

mod search;

pub use search::SearchResults;

use crate::arrays;
use crate::errors::{Fail, batch, quote};
use crate::fs::{Shared, bytes_arg, name_out, path_arg};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};
use search::Include;
use std::sync::Arc;
use vexfs::{Error, FileUpsert, IndexConfig, Ino, Query, Target, Vexfs};
use vexfs_core::VECTOR_XATTR;
use vexfs_core::limits::{EF_MAX, K_MAX};
use vexfs_core::query::Filter;

/// A collection: a directory whose files' vectors are indexed for search.
///
/// Get one from `FileSystem.create_collection` or `FileSystem.collection`. Files are named
/// by their name in the directory. `len(col)` is the number of indexed vectors; `name in col`
/// tells whether a file is indexed.
#[pyclass(frozen, module = "vexfs", name = "Collection")]
#[derive(Debug)]
pub struct Collection {
    shared: Arc<Shared>,
    /// Canonical absolute path of the directory.
    dir: String,
}

/// Metadata as (key without `user.`, value) pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The `user.*` metadata of inode `ino` (without the vector), as (key, value) pairs.
pub fn user_metadata(fs: &Vexfs, ino: Ino) -> Pairs {
    let e = fs.engine();
    let mut names = Vec::new();
    if e.listxattr(ino, &mut names).is_err() {
        return Vec::new();
    }
    names
        .split(|&b| b == 0)
        .filter(|n| n.starts_with(b"user.") && *n != VECTOR_XATTR)
        .filter_map(|n| {
            let v = e.getxattr(ino, n).ok()?;
            Some((n[b"user.".len()..].to_vec(), v.to_vec()))
        })
        .collect()
}

/// Metadata pairs as a dict: keys `str`, values `str` when UTF-8, else `bytes`.
pub fn metadata_dict<'py>(py: Python<'py>, pairs: &[(Vec<u8>, Vec<u8>)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in pairs {
        let value = match std::str::from_utf8(v) {
            Ok(s) => PyString::new(py, s).into_any(),
            Err(_) => PyBytes::new(py, v).into_any(),
        };
        d.set_item(name_out(py, k, false)?, value)?;
    }
    Ok(d)
}

/// A metadata value given by Python, as the bytes stored: str (UTF-8), bytes, bool
/// (`true`/`false`), int and float (their decimal text, so numeric filters compare them).
fn metadata_value(v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(if b.is_true() {
            b"true".to_vec()
        } else {
            b"false".to_vec()
        });
    }
    if v.is_instance_of::<PyInt>() || v.is_instance_of::<PyFloat>() {
        return Ok(v.str()?.to_cow()?.as_bytes().to_vec());
    }
    bytes_arg(v, "a metadata value", true).map_err(|_| {
        PyTypeError::new_err(format!(
            "metadata values must be str, bytes, int, float or bool, not {}",
            v.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })
}

/// Names given by Python: one `str`/`bytes`, or an iterable of them.
fn names_arg(obj: &Bound<'_, PyAny>) -> PyResult<(Vec<Vec<u8>>, bool)> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Ok((vec![path_arg(obj)?.0], true));
    }
    let mut out = Vec::new();
    for item in obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err("names must be a str or an iterable of str"))?
    {
        out.push(path_arg(&item?)?.0);
    }
    Ok((out, false))
}

/// A per-item argument (`metadata`, `contents`): `None`, or one entry per name.
fn per_item<'py>(
    obj: Option<&Bound<'py, PyAny>>,
    n: usize,
    what: &str,
) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let items: Vec<Bound<'py, PyAny>> = if n == 1 && (obj.is_instance_of::<PyDict>() || !is_sequence(obj)) {
        vec![obj.clone()]
    } else {
        obj.try_iter()?.collect::<PyResult<_>>()?
    };
    if items.len() != n {
        return Err(PyValueError::new_err(format!(
            "{what} has {} entries for {n} names",
            items.len()
        )));
    }
    Ok(Some(items))
}

fn is_sequence(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyList>() || obj.is_instance_of::<pyo3::types::PyTuple>()
}

impl Collection {
    pub(crate) fn new(shared: Arc<Shared>, dir: String) -> Self {
        Collection { shared, dir }
    }

    /// The canonical path of collection directory `d` (it must be UTF-8: queries name
    /// collections by text paths, as SPEC §4 does).
    pub(crate) fn canonical_dir(fs: &Vexfs, d: &[u8]) -> Result<String, Fail> {
        let e = fs.engine();
        let ino = e.resolve(d, true).map_err(crate::errors::at_path(d))?;
        let mut buf = Vec::new();
        e.namespace().path_of(ino, &mut buf)?;
        String::from_utf8(buf)
            .map_err(|_| Fail::Invalid(format!("collection path {} is not UTF-8", quote(d))))
    }

    fn cfg(&self, fs: &Vexfs) -> Result<(Ino, IndexConfig), Fail> {
        let e = fs.engine();
        let at = crate::errors::at_path(self.dir.as_bytes());
        let ino = e.resolve(self.dir.as_bytes(), true).map_err(at)?;
        let cfg = e
            .collection(ino)
            .map(|c| c.config)
            .ok_or_else(|| crate::errors::at_path(self.dir.as_bytes())(Error::Invalid("not a collection")))?;
        Ok((ino, cfg))
    }

    fn config(&self, py: Python<'_>) -> PyResult<IndexConfig> {
        self.shared.read(py, |fs| self.cfg(fs).map(|(_, c)| c))
    }
}

#[pymethods]
impl Collection {
    fn __repr__(&self, py: Python<'_>) -> String {
        match self.config(py) {
            Ok(c) => format!("<vexfs.Collection {} {c}>", self.dir),
            Err(_) => format!("<vexfs.Collection {} (unavailable)>", self.dir),
        }
    }

    /// The collection's directory (canonical absolute path).
    #[getter]
    fn dir(&self) -> &str {
        &self.dir
    }

    /// Dimension of the vectors (bits for `bin`).
    #[getter]
    fn dim(&self, py: Python<'_>) -> PyResult<u32> {
        Ok(self.config(py)?.dim)
    }

    /// Distance metric: `l2`, `cosine`, `dot`, `l1` or `hamming`.
    #[getter]
    fn metric(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.config(py)?.metric.name())
    }

    /// Element type: `f32`, `f16`, `i8`, `i16` or `bin`.
    #[getter]
    fn r#type(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.config(py)?.elem.name())
    }

    /// The numpy dtype of vectors returned by `get` and `include=("vector",)`.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let elem = self.config(py)?.elem;
        arrays::numpy(py)?.call_method1("dtype", (arrays::dtype_name(elem),))
    }

    /// The full configuration, as `user.vexfs.index` holds it.
    #[getter]
    fn config_string(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.config(py)?.to_string())
    }

    /// Default search breadth; assigning it changes the collection's `ef_search` (allowed at
    /// any time, unlike the other parameters).
    #[getter]
    fn ef_search(&self, py: Python<'_>) -> PyResult<u32> {
        Ok(self.config(py)?.ef_search)
    }

    #[setter]
    fn set_ef_search(&self, py: Python<'_>, ef: u32) -> PyResult<()> {
        self.shared.write(py, |fs| {
            let (_, mut cfg) = self.cfg(fs)?;
            cfg.ef_search = ef;
            cfg.validate()?;
            fs.create_collection(&self.dir, &cfg)
                .map_err(crate::errors::at_path(self.dir.as_bytes()))
        })
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.shared.read(py, |fs| {
            let (ino, _) = self.cfg(fs)?;
            Ok(fs.engine().collection(ino).map_or(0, |c| c.index.len()))
        })
    }

    fn __contains__(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (n, _) = path_arg(name)?;
        self.shared.read(py, |fs| {
            let (dir, _) = self.cfg(fs)?;
            let e = fs.engine();
            Ok(match e.namespace().lookup(dir, &n) {
                Ok(ino) => e.collection(dir).is_some_and(|c| c.index.contains(ino)),
                Err(_) => false,
            })
        })
    }

    /// Adds or updates files: `names` (a list of str, or one str) and `vectors`, an `(n, d)`
    /// array (or one `(d,)` vector) in the collection's type (see the dtype table in the
    /// README). Missing files are created; existing ones get the new vector (upsert).
    /// `metadata`: a list with one dict per name (or `None` entries) of `user.*` attributes to
    /// set, values str, bytes, int, float or bool; `contents`: a list of bytes (or str, or
    /// `None` to keep) to write as the files' contents. Returns the number of files created.
    ///
    /// Everything is checked before anything changes (`TypeError` for a wrong dtype,
    /// `vexfs.InvalidVector` for a wrong shape or value, `vexfs.InvalidArgument` for a bad
    /// name, ...). The GIL is released while the batch is applied.
    #[pyo3(signature = (names, vectors, metadata = None, contents = None))]
    fn add(
        &self,
        py: Python<'_>,
        names: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        metadata: Option<&Bound<'_, PyAny>>,
        contents: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let cfg = self.config(py)?;
        let (names, _) = names_arg(names)?;
        let rows = arrays::encode(vectors, &cfg, "vectors")?;
        if rows.n != names.len() {
            return Err(
                Fail::Vector(format!("vectors has {} rows for {} names", rows.n, names.len())).into(),
            );
        }
        let metadata: Option<Vec<Pairs>> = per_item(metadata, names.len(), "metadata")?
            .map(|items| {
                items
                    .iter()
                    .map(|m| {
                        if m.is_none() {
                            return Ok(Vec::new());
                        }
                        let d = m
                            .cast::<PyDict>()
                            .map_err(|_| PyTypeError::new_err("metadata entries must be dicts (or None)"))?;
                        d.iter()
                            .map(|(k, v)| Ok((path_arg(&k)?.0, metadata_value(&v)?)))
                            .collect::<PyResult<Vec<_>>>()
                    })
                    .collect::<PyResult<Vec<_>>>()
            })
            .transpose()?;
        let contents: Option<Vec<Option<Vec<u8>>>> = per_item(contents, names.len(), "contents")?
            .map(|items| {
                items
                    .iter()
                    .map(|c| {
                        if c.is_none() {
                            Ok(None)
                        } else {
                            bytes_arg(c, "contents entries", true).map(Some)
                        }
                    })
                    .collect::<PyResult<Vec<_>>>()
            })
            .transpose()?;
        let vbytes = cfg.elem.vector_bytes(cfg.dim);
        self.shared.write(py, |fs| {
            let (_, now) = self.cfg(fs)?;
            if now.elem != cfg.elem || now.dim != cfg.dim {
                return Err(Fail::Vector(
                    "the collection's dim or type changed during the call".into(),
                ));
            }
            let meta_pairs: Vec<Vec<(&[u8], &[u8])>> = metadata
                .iter()
                .flatten()
                .map(|m| m.iter().map(|(k, v)| (&k[..], &v[..])).collect())
                .collect();
            let files: Vec<FileUpsert<'_>> = names
                .iter()
                .enumerate()
                .map(|(i, name)| FileUpsert {
                    name,
                    vector: Some(&rows.bytes[i * vbytes..(i + 1) * vbytes]),
                    metadata: meta_pairs.get(i).map_or(&[][..], |m| &m[..]),
                    contents: contents.as_ref().and_then(|c| c[i].as_deref()),
                })
                .collect();
            fs.upsert_files(&self.dir, &files).map_err(|e| {
                batch(e, |i| {
                    names.get(i).map(|n| String::from_utf8_lossy(n).into_owned())
                })
            })
        })
    }

    /// Removes files (and so their vectors) by name; every name must exist and none may be
    /// given twice, otherwise nothing is removed.
    fn remove(&self, py: Python<'_>, names: &Bound<'_, PyAny>) -> PyResult<()> {
        let (names, _) = names_arg(names)?;
        self.shared.write(py, |fs| {
            self.cfg(fs)?;
            fs.remove_files(&self.dir, &names).map_err(|e| {
                batch(e, |i| {
                    names.get(i).map(|n| String::from_utf8_lossy(n).into_owned())
                })
            })
        })
    }

    /// The vectors of files, as an `(n, d)` array in the collection's dtype (`(d,)` for one
    /// name given as a str). `vexfs.NotFound` for a missing file, `vexfs.NoAttribute` for a
    /// file without a vector.
    fn get<'py>(&self, py: Python<'py>, names: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (names, single) = names_arg(names)?;
        let (cfg, bytes) = self.shared.read(py, |fs| {
            let (dir, cfg) = self.cfg(fs)?;
            let e = fs.engine();
            let vbytes = cfg.elem.vector_bytes(cfg.dim);
            let mut out = Vec::with_capacity(names.len() * vbytes);
            for n in &names {
                let at = crate::errors::at_path(n);
                let ino = e.namespace().lookup(dir, n).map_err(at)?;
                let raw = e.getxattr(ino, VECTOR_XATTR).map_err(crate::errors::at_path(n))?;
                if raw.len() != vbytes {
                    return Err(Fail::Vector(format!(
                        "the vector of {} does not fit the collection (unindexed)",
                        quote(n)
                    )));
                }
                out.extend_from_slice(raw);
            }
            Ok((cfg, out))
        })?;
        let row = arrays::row_len(&cfg);
        let shape: Vec<usize> = if single { vec![row] } else { vec![names.len(), row] };
        arrays::decode(py, cfg.elem, bytes, &shape)
    }

    /// The `user.*` metadata of a file, as a dict (without the vector).
    fn metadata<'py>(&self, py: Python<'py>, name: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let (n, _) = path_arg(name)?;
        let pairs = self.shared.read(py, |fs| {
            let (dir, _) = self.cfg(fs)?;
            let ino = fs
                .engine()
                .namespace()
                .lookup(dir, &n)
                .map_err(crate::errors::at_path(&n))?;
            Ok(user_metadata(fs, ino))
        })?;
        metadata_dict(py, &pairs)
    }

    /// Searches for the `k` nearest files of one query vector `(d,)` or of each row of a
    /// `(q, d)` array, nearest first, ties broken by name (SPEC §4). `filter`: an expression
    /// over the files' metadata (`lang = en and year >= 2020`); `ef`: search breadth (default
    /// the collection's `ef_search`, at least `k`); `exact=True`: brute force instead of the
    /// graph; `max_distance`: only results at most this far (radius search, still at most `k`;
    /// negative only for `dot`); `include`: any of `"metadata"` (every attribute),
    /// `"metadata.KEY"` (those named), `"vector"`, `"size"`, `"mtime"`, as SPEC §4's `include`.
    /// Returns a `SearchResults`. The GIL is released during the search, so threads search in
    /// parallel.
    #[pyo3(signature = (queries, k = 10, filter = None, ef = None, exact = false, include = None, max_distance = None))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: i64,
        filter: Option<&str>,
        ef: Option<i64>,
        exact: bool,
        include: Option<&Bound<'py, PyAny>>,
        max_distance: Option<f64>,
    ) -> PyResult<SearchResults> {
        if let Some(d) = max_distance
            && !d.is_finite()
        {
            return Err(Fail::Invalid(format!("max_distance must be a finite number, not {d}")).into());
        }
        if !(1..=i64::from(K_MAX)).contains(&k) {
            return Err(Fail::Invalid(format!("k must be in 1..={K_MAX}, not {k}")).into());
        }
        if let Some(ef) = ef
            && !(1..=i64::from(EF_MAX)).contains(&ef)
        {
            return Err(Fail::Invalid(format!("ef must be in 1..={EF_MAX}, not {ef}")).into());
        }
        let inc = Include::parse(include)?;
        let filter = filter.map(Filter::parse).transpose().map_err(Fail::from)?;
        let cfg = self.config(py)?;
        let rows = arrays::encode(queries, &cfg, "queries")?;
        let k = k as usize;
        let mut q = Query::new(self.dir.clone(), Target::Bytes(Vec::new()));
        q.k = k as u32;
        q.ef = ef.map(|e| e as u32);
        q.filter = filter;
        q.exact = exact;
        q.max_distance = max_distance;
        self.search_rows(py, &cfg, &rows, &mut q, k, &inc)
    }
}
