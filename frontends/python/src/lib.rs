//! `vexfs._vexfs`: the native part of the Python package `vexfs` (PyO3, abi3 for CPython >= 3.9).
//!
//! The Python module is a thin frontend over the in-process API (crate `vexfs`), so it
//! performs the same core calls as the FUSE mount and the CLI and gives the same answers:
//! - [`fs`]: `FileSystem`, one open image or in-memory filesystem, its file and attribute calls,
//!   and how the engine is shared between Python threads (an `RwLock`, the GIL released around
//!   every locked section);
//! - [`collection`]: `Collection`, bulk add/remove/get and batch search with numpy arrays;
//! - [`names`]: the names of search hits from a per-collection table while nothing changes;
//! - [`arrays`]: numpy arrays to and from the raw vector bytes of each element type;
//! - [`errors`]: every failure as one exception of the hierarchy in `vexfs/_errors.py`.
//!
//! Nothing here panics on input: arguments are checked and converted with the GIL held, core
//! errors come back as values, and results are built from plain Rust values.

mod arrays;
mod collection;
mod errors;
mod fs;
mod names;

use pyo3::prelude::*;

/// The native module; `vexfs/__init__.py` re-exports what users see.
#[pymodule]
fn _vexfs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<fs::FileSystem>()?;
    m.add_class::<collection::Collection>()?;
    m.add_class::<collection::SearchResults>()?;
    m.add_function(wrap_pyfunction!(fs::create, m)?)?;
    m.add_function(wrap_pyfunction!(fs::open, m)?)?;
    m.add_function(wrap_pyfunction!(fs::in_memory, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
