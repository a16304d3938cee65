//! `vexfs.FileSystem`: one open image (or in-memory filesystem) and its file calls.
//!
//! # Sharing the engine between Python threads
//!
//! The core's reads take `&Engine` and its changes `&mut Engine`, so the [`vexfs::Vexfs`] lives
//! in a [`Shared`] behind an `RwLock`: searches and other reads hold the read lock (several at a
//! time), changes the write lock. Every call releases the GIL *before* it takes the lock and
//! takes the GIL again only after the lock is released, so a thread waiting for the lock never
//! holds the GIL, and no lock is ever taken while the GIL is held: the two cannot deadlock.
//! Python objects are converted to plain Rust values before the GIL is released and built from
//! them after. Searches take a [`Scratch`] from a pool for the duration of one call, so each
//! concurrent search has its own working memory and a warm one allocates nothing in the core.
//!
//! After `close()` the slot is `None` and every call raises `vexfs.Closed`; the `Collection`
//! objects share the same [`Shared`], so they are closed too.

use crate::collection::Collection;
use crate::errors::{Fail, at_path, quote};
use crate::names::{Generation, Tables};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use vexfs::limits::API_SCRATCH_POOL_MAX;
use vexfs::vector::{ElemType, Metric};
use vexfs::{Attr, Error, FileKind, IndexConfig, OpenOptions, Scratch, Timestamp, Vexfs};

/// The filesystem and what its calls share.
#[derive(Debug)]
pub struct Shared {
    fs: RwLock<Option<Vexfs>>,
    scratch: Mutex<Vec<Scratch>>,
    /// Changes so far; bumped under the write lock (see [`crate::names`]).
    pub generation: Generation,
    /// The hit-name tables of the collections.
    pub tables: Tables,
}

impl Shared {
    fn new(fs: Vexfs) -> Arc<Self> {
        Arc::new(Shared {
            fs: RwLock::new(Some(fs)),
            scratch: Mutex::new(Vec::new()),
            generation: Generation::default(),
            tables: Tables::default(),
        })
    }

    /// Runs `f` on the filesystem under the read lock, with the GIL released.
    pub fn read<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Vexfs) -> Result<R, Fail> + Send,
    ) -> PyResult<R> {
        py.detach(|| {
            let g = self.fs.read().map_err(|_| Fail::Poisoned)?;
            f(g.as_ref().ok_or(Fail::Closed)?)
        })
        .map_err(|f| f.into_pyerr(py))
    }

    /// Runs `f` on the filesystem under the write lock, with the GIL released. Counts as a
    /// change (the generation moves on) whatever `f` does.
    pub fn write<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Vexfs) -> Result<R, Fail> + Send,
    ) -> PyResult<R> {
        py.detach(|| {
            let mut g = self.fs.write().map_err(|_| Fail::Poisoned)?;
            self.generation.bump();
            f(g.as_mut().ok_or(Fail::Closed)?)
        })
        .map_err(|f| f.into_pyerr(py))
    }

    /// A scratch area for one search call (from the pool, or new).
    pub fn take_scratch(&self) -> Scratch {
        self.scratch
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default()
    }

    /// Returns a scratch area to the pool.
    pub fn give_scratch(&self, s: Scratch) {
        if let Ok(mut p) = self.scratch.lock()
            && p.len() < API_SCRATCH_POOL_MAX
        {
            p.push(s);
        }
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            let mut g = self.fs.write().map_err(|_| Fail::Poisoned)?;
            self.generation.bump();
            match g.take() {
                Some(fs) => fs.close().map_err(Fail::from),
                None => Ok(()),
            }
        })
        .map_err(|f| f.into_pyerr(py))
    }

    fn is_closed(&self) -> bool {
        self.fs.read().map(|g| g.is_none()).unwrap_or(true)
    }
}

/// A path inside the image: `str` (encoded as `os.fsencode` does), `bytes` or `os.PathLike`.
/// Returns the bytes and whether the caller gave bytes (results then come back as bytes).
pub fn path_arg(obj: &Bound<'_, PyAny>) -> PyResult<(Vec<u8>, bool)> {
    use std::os::unix::ffi::OsStringExt;
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok((b.as_bytes().to_vec(), true));
    }
    match obj.extract::<PathBuf>() {
        Ok(p) => Ok((p.into_os_string().into_vec(), false)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "a path must be str, bytes or os.PathLike, not {}",
            obj.get_type().name()?
        ))),
    }
}

/// Bytes given by Python: `bytes`, `bytearray`, or `str` (encoded as UTF-8) when `allow_str`.
pub fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str, allow_str: bool) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if allow_str && let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes{}, not {}",
        if allow_str {
            ", bytearray or str"
        } else {
            " or bytearray"
        },
        obj.get_type().name()?
    )))
}

/// A name read from the image as Python text: `str` (undecodable bytes as surrogate escapes,
/// like `os.fsdecode`), or `bytes` when the caller passed bytes.
pub fn name_out<'py>(py: Python<'py>, name: &[u8], as_bytes: bool) -> PyResult<Bound<'py, PyAny>> {
    if as_bytes {
        return Ok(PyBytes::new(py, name).into_any());
    }
    match std::str::from_utf8(name) {
        Ok(s) => Ok(PyString::new(py, s).into_any()),
        Err(_) => PyBytes::new(py, name).call_method1("decode", ("utf-8", "surrogateescape")),
    }
}

fn secs(t: Timestamp) -> f64 {
    t.secs() as f64 + f64::from(t.nanos()) / 1e9
}

fn nanos(t: Timestamp) -> i128 {
    i128::from(t.secs()) * 1_000_000_000 + i128::from(t.nanos())
}

/// `Attr` as an `os.stat_result`.
fn stat_result<'py>(py: Python<'py>, a: &Attr) -> PyResult<Bound<'py, PyAny>> {
    let fields: Vec<Bound<'py, PyAny>> = vec![
        a.mode().into_pyobject(py)?.into_any(),
        a.ino.into_pyobject(py)?.into_any(),
        0u64.into_pyobject(py)?.into_any(),
        a.nlink.into_pyobject(py)?.into_any(),
        a.uid.into_pyobject(py)?.into_any(),
        a.gid.into_pyobject(py)?.into_any(),
        a.size.into_pyobject(py)?.into_any(),
        a.atime.secs().into_pyobject(py)?.into_any(),
        a.mtime.secs().into_pyobject(py)?.into_any(),
        a.ctime.secs().into_pyobject(py)?.into_any(),
        secs(a.atime).into_pyobject(py)?.into_any(),
        secs(a.mtime).into_pyobject(py)?.into_any(),
        secs(a.ctime).into_pyobject(py)?.into_any(),
        nanos(a.atime).into_pyobject(py)?.into_any(),
        nanos(a.mtime).into_pyobject(py)?.into_any(),
        nanos(a.ctime).into_pyobject(py)?.into_any(),
        (vexfs_core::limits::BLOCK_SIZE as u64)
            .into_pyobject(py)?
            .into_any(),
        a.blocks.into_pyobject(py)?.into_any(),
        a.rdev.into_pyobject(py)?.into_any(),
    ];
    py.import("os")?
        .getattr("stat_result")?
        .call1((PyTuple::new(py, fields)?,))
}

/// An open VexFS filesystem: an image file (`vexfs.create`, `vexfs.open`) or memory
/// (`vexfs.in_memory`).
///
/// Paths are absolute inside the filesystem (`"/docs/a.txt"`; a missing leading `/` is
/// accepted), given as `str` or `bytes`. Use it as a context manager, or call `close()`: closing
/// writes a checkpoint, so the next open replays nothing. Calls may come from several Python
/// threads at once: reads and searches run in parallel with the GIL released, changes one at a
/// time.
#[pyclass(frozen, module = "vexfs", name = "FileSystem")]
#[derive(Debug)]
pub struct FileSystem {
    pub(crate) shared: Arc<Shared>,
    /// What `repr` shows: the image path, or `<memory>`.
    origin: String,
    read_only: bool,
}

impl FileSystem {
    fn wrap(fs: Vexfs, origin: String, read_only: bool) -> Self {
        FileSystem {
            shared: Shared::new(fs),
            origin,
            read_only,
        }
    }
}

/// Creates a new image file at `path` (which must not exist, or be empty) and opens it.
#[pyfunction]
pub fn create(py: Python<'_>, path: PathBuf) -> PyResult<FileSystem> {
    let origin = path.display().to_string();
    let fs = py
        .detach(|| Vexfs::create(&path).map_err(at_path(path.as_os_str().as_encoded_bytes())))
        .map_err(|f| f.into_pyerr(py))?;
    Ok(FileSystem::wrap(fs, origin, false))
}

/// Opens the image file at `path`, recovering it if it was not closed cleanly. With
/// `read_only=True` nothing is written to it (and changes raise `vexfs.ReadOnly`).
#[pyfunction]
#[pyo3(signature = (path, read_only = false))]
pub fn open(py: Python<'_>, path: PathBuf, read_only: bool) -> PyResult<FileSystem> {
    let origin = path.display().to_string();
    let fs = py
        .detach(|| {
            Vexfs::open_with(
                &path,
                OpenOptions {
                    read_only,
                    ..OpenOptions::default()
                },
            )
            .map_err(at_path(path.as_os_str().as_encoded_bytes()))
        })
        .map_err(|f| f.into_pyerr(py))?;
    Ok(FileSystem::wrap(fs, origin, read_only))
}

/// An empty filesystem in memory (gone when closed).
#[pyfunction]
pub fn in_memory() -> FileSystem {
    FileSystem::wrap(Vexfs::in_memory(), "<memory>".into(), false)
}

/// Parses a metric name, defaulting to `cosine` (`hamming` for `bin`).
fn metric_of(metric: Option<&str>, elem: ElemType) -> Result<Metric, Fail> {
    match metric {
        None if elem == ElemType::Bin => Ok(Metric::Hamming),
        None => Ok(Metric::Cosine),
        Some(m) => Metric::parse(m).ok_or_else(|| {
            Fail::Invalid(format!(
                "metric must be l2, cosine, dot, l1 or hamming, not {m:?}"
            ))
        }),
    }
}

#[pymethods]
impl FileSystem {
    fn __repr__(&self) -> String {
        let state = if self.shared.is_closed() {
            " closed"
        } else if self.read_only {
            " read-only"
        } else {
            ""
        };
        format!("<vexfs.FileSystem {}{state}>", self.origin)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Closes the filesystem: writes a checkpoint if anything changed (an image reopens without
    /// replaying its log). Further calls raise `vexfs.Closed`; closing again does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.shared.close(py)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Whether the image was opened read-only.
    #[getter]
    fn read_only(&self) -> bool {
        self.read_only
    }

    /// Makes every change so far durable (fsync). Nothing to do in memory.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        self.shared.write(py, |fs| fs.sync().map_err(Fail::from))
    }

    /// Writes a checkpoint now (a later open replays nothing).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        self.shared.write(py, |fs| fs.checkpoint().map_err(Fail::from))
    }

    /// Creates a directory (mode 0755). With `parents=True` missing ancestors are created too;
    /// with `exist_ok=True` an existing directory is not an error.
    #[pyo3(signature = (path, parents = false, exist_ok = false))]
    fn mkdir(&self, py: Python<'_>, path: &Bound<'_, PyAny>, parents: bool, exist_ok: bool) -> PyResult<()> {
        let (p, _) = path_arg(path)?;
        self.shared.write(py, |fs| {
            let is_dir = |fs: &Vexfs| fs.metadata(&p).is_ok_and(|a| a.kind == FileKind::Directory);
            let r = if parents {
                if !exist_ok && fs.metadata(&p).is_ok() {
                    Err(Error::Exists)
                } else {
                    fs.create_dir_all(&p)
                }
            } else {
                match fs.create_dir(&p) {
                    Err(Error::Exists) if exist_ok && is_dir(fs) => Ok(()),
                    r => r,
                }
            };
            r.map_err(at_path(&p))
        })
    }

    /// Removes an empty directory.
    fn rmdir(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let (p, _) = path_arg(path)?;
        self.shared.write(py, |fs| fs.remove_dir(&p).map_err(at_path(&p)))
    }

    /// Removes a file (not a directory: see `rmdir`).
    fn remove(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let (p, _) = path_arg(path)?;
        self.shared
            .write(py, |fs| fs.remove_file(&p).map_err(at_path(&p)))
    }

    /// Renames `src` to `dst`, replacing an existing `dst` as POSIX `rename` does. A file
    /// moved into or out of a collection joins or leaves its index in the same call.
    fn rename(&self, py: Python<'_>, src: &Bound<'_, PyAny>, dst: &Bound<'_, PyAny>) -> PyResult<()> {
        let (a, _) = path_arg(src)?;
        let (b, _) = path_arg(dst)?;
        self.shared.write(py, |fs| {
            fs.rename(&a, &b).map_err(|error| Fail::Core {
                error,
                what: Some(format!("{} -> {}", quote(&a), quote(&b))),
            })
        })
    }

    /// Creates the file or replaces its contents with `data` (bytes or bytearray).
    fn write(&self, py: Python<'_>, path: &Bound<'_, PyAny>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let (p, _) = path_arg(path)?;
        let data = bytes_arg(data, "data", false)?;
        self.shared
            .write(py, |fs| fs.write(&p, &data).map_err(at_path(&p)))
    }

    /// The whole contents of a file, as bytes.
    fn read<'py>(&self, py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let (p, _) = path_arg(path)?;
        let data = self.shared.read(py, |fs| fs.read(&p).map_err(at_path(&p)))?;
        Ok(PyBytes::new(py, &data))
    }

    /// The names in a directory (without `.` and `..`), in creation order; `bytes` names when
    /// `path` is bytes, as `os.listdir` does.
    #[pyo3(signature = (path = None))]
    fn listdir<'py>(
        &self,
        py: Python<'py>,
        path: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (p, as_bytes) = match path {
            Some(p) => path_arg(p)?,
            None => (b"/".to_vec(), false),
        };
        let names = self.shared.read(py, |fs| {
            let entries = fs.read_dir(&p).map_err(at_path(&p))?;
            Ok(entries.into_iter().map(|e| e.name).collect::<Vec<_>>())
        })?;
        let items = names
            .iter()
            .map(|n| name_out(py, n, as_bytes))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Whether the path exists (following symbolic links).
    fn exists(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (p, _) = path_arg(path)?;
        self.shared.read(py, |fs| match fs.metadata(&p) {
            Ok(_) => Ok(true),
            Err(Error::NotFound | Error::NotDirectory) => Ok(false),
            Err(e) => Err(at_path(&p)(e)),
        })
    }

    /// Whether the path is a directory (following symbolic links).
    fn isdir(&self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (p, _) = path_arg(path)?;
        self.shared.read(py, |fs| match fs.metadata(&p) {
            Ok(a) => Ok(a.kind == FileKind::Directory),
            Err(Error::NotFound | Error::NotDirectory) => Ok(false),
            Err(e) => Err(at_path(&p)(e)),
        })
    }

    /// The attributes of a path (following symbolic links) as an `os.stat_result`.
    fn stat<'py>(&self, py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (p, _) = path_arg(path)?;
        let a = self.shared.read(py, |fs| fs.metadata(&p).map_err(at_path(&p)))?;
        stat_result(py, &a)
    }

    /// Sets an extended attribute (`user.*` or `trusted.*`); `value` is bytes or str (UTF-8).
    /// `user.vexfs.index` on a directory makes it a collection; `user.vexfs.vector` is a file's
    /// vector (raw little-endian bytes), validated and indexed in the same call.
    fn setxattr(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        name: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (p, _) = path_arg(path)?;
        let (n, _) = path_arg(name)?;
        let v = bytes_arg(value, "value", true)?;
        self.shared
            .write(py, |fs| fs.set_xattr(&p, &n, &v).map_err(at_path(&p)))
    }

    /// The value of an extended attribute, as bytes (`vexfs.NoAttribute` when missing).
    fn getxattr<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'py, PyAny>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (p, _) = path_arg(path)?;
        let (n, _) = path_arg(name)?;
        let v = self.shared.read(py, |fs| {
            fs.get_xattr(&p, &n).map_err(|error| Fail::Core {
                error,
                what: Some(format!("{} of {}", quote(&n), quote(&p))),
            })
        })?;
        Ok(PyBytes::new(py, &v))
    }

    /// The names of a path's extended attributes.
    fn listxattr<'py>(&self, py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let (p, as_bytes) = path_arg(path)?;
        let names = self
            .shared
            .read(py, |fs| fs.list_xattr(&p).map_err(at_path(&p)))?;
        let items = names
            .iter()
            .map(|n| name_out(py, n, as_bytes))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Removes an extended attribute.
    fn removexattr(&self, py: Python<'_>, path: &Bound<'_, PyAny>, name: &Bound<'_, PyAny>) -> PyResult<()> {
        let (p, _) = path_arg(path)?;
        let (n, _) = path_arg(name)?;
        self.shared.write(py, |fs| {
            fs.remove_xattr(&p, &n).map_err(|error| Fail::Core {
                error,
                what: Some(format!("{} of {}", quote(&n), quote(&p))),
            })
        })
    }

    /// Makes directory `dir` a collection of `dim`-dimensional vectors (creating it and its
    /// parents if missing) and returns it. `metric`: `cosine` (the default), `l2`, `dot`, `l1`,
    /// or `hamming` (the default and only metric of `type="bin"`); `type`: `f32`, `f16`, `i8`,
    /// `i16` or `bin`; `m`, `ef_construction`, `ef_search`: the HNSW parameters. An existing
    /// collection raises `vexfs.Exists`, unless `exist_ok=True` and its configuration is the
    /// same (then it is returned as it is).
    #[pyo3(signature = (dir, dim, metric = None, r#type = "f32", m = 16, ef_construction = 200, ef_search = 64, exist_ok = false))]
    #[allow(clippy::too_many_arguments)]
    fn create_collection(
        &self,
        py: Python<'_>,
        dir: &Bound<'_, PyAny>,
        dim: u32,
        metric: Option<&str>,
        r#type: &str,
        m: u32,
        ef_construction: u32,
        ef_search: u32,
        exist_ok: bool,
    ) -> PyResult<Collection> {
        let (d, _) = path_arg(dir)?;
        let elem = ElemType::parse(r#type)
            .ok_or_else(|| Fail::Invalid(format!("type must be f32, f16, i8, i16 or bin, not {type:?}")))?;
        let cfg = IndexConfig {
            dim,
            metric: metric_of(metric, elem)?,
            elem,
            m,
            ef_construction,
            ef_search,
            ..IndexConfig::new(dim, elem)
        };
        cfg.validate().map_err(Fail::from)?;
        let canonical = self.shared.write(py, |fs| {
            let at = at_path(&d);
            match fs.collection_config(&d) {
                Ok(have) if exist_ok && have == cfg => {}
                Ok(_) => return Err(at(Error::Exists)),
                Err(Error::NotFound | Error::Invalid(_)) => {
                    fs.create_dir_all(&d).map_err(at_path(&d))?;
                    fs.create_collection(&d, &cfg).map_err(at_path(&d))?;
                }
                Err(e) => return Err(at(e)),
            }
            Collection::canonical_dir(fs, &d)
        })?;
        Ok(Collection::new(self.shared.clone(), canonical))
    }

    /// The existing collection `dir` (`vexfs.NotFound` if the directory does not exist,
    /// `vexfs.InvalidArgument` if it is not a collection).
    fn collection(&self, py: Python<'_>, dir: &Bound<'_, PyAny>) -> PyResult<Collection> {
        let (d, _) = path_arg(dir)?;
        let canonical = self.shared.read(py, |fs| {
            fs.collection_config(&d).map_err(at_path(&d))?;
            Collection::canonical_dir(fs, &d)
        })?;
        Ok(Collection::new(self.shared.clone(), canonical))
    }

    /// The paths of every collection, sorted.
    fn collections(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.shared.read(py, |fs| {
            let e = fs.engine();
            let mut out = Vec::new();
            let mut buf = Vec::new();
            for (dir, _) in e.collections().iter() {
                if e.namespace().path_of(dir, &mut buf).is_ok() {
                    out.push(String::from_utf8_lossy(&buf).into_owned());
                }
            }
            out.sort();
            Ok(out)
        })
    }

    /// The stats document (SPEC §6) as a dict: counts of files, directories and bytes, every
    /// collection with its configuration and vector count, the image size.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let json = self.shared.read(py, |fs| {
            serde_json::to_string(&fs.stats())
                .map_err(|_| Fail::Invalid("stats are not representable as JSON".into()))
        })?;
        py.import("json")?.call_method1("loads", (json,))
    }

    /// Checks every invariant of the filesystem (as `vexfs fsck` does for an image); raises
    /// `vexfs.Corrupted` listing the problems found.
    fn check(&self, py: Python<'_>) -> PyResult<()> {
        let problems = self
            .shared
            .read(py, |fs| Ok(fs.check().err().map(|p| p.to_string())))?;
        match problems {
            None => Ok(()),
            Some(p) => {
                let cls = py.import("vexfs._errors")?.getattr("Corrupted")?;
                Err(PyErr::from_value(cls.call1((p,))?))
            }
        }
    }

    /// The attributes of `user.*` metadata of a path, as a dict (values as str when UTF-8,
    /// else bytes), without the vector.
    fn metadata<'py>(&self, py: Python<'py>, path: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let (p, _) = path_arg(path)?;
        let pairs = self.shared.read(py, |fs| {
            let ino = fs.engine().resolve(&p, true).map_err(at_path(&p))?;
            Ok(crate::collection::user_metadata(fs, ino))
        })?;
        crate::collection::metadata_dict(py, &pairs)
    }
}
