//! Failures of a call, and their one mapping to the Python exceptions of `vexfs._errors`.
//!
//! Work done without the GIL returns a [`Fail`]; it becomes a Python exception only once the
//! GIL is held again (`From<Fail> for PyErr`). Every core [`Error`] variant maps to exactly one
//! exception class in [`class_of`] (an exhaustive `match`, so a new variant does not compile
//! without a class), and the exception's message is the core's message followed by what the
//! call was about (a path, or a batch item). Nothing here panics: a poisoned lock (a panic in
//! an earlier call, which the core does not do on any input) is reported as [`Fail::Poisoned`].

use pyo3::PyErr;
use pyo3::prelude::*;
use vexfs::{BatchError, Error};

/// Why a call failed.
#[derive(Debug)]
pub enum Fail {
    /// The core refused; `what` says what the call concerned (`'/docs/a'`, `item 3 ('a')`).
    Core {
        /// The core's error.
        error: Error,
        /// Context appended to the message.
        what: Option<String>,
    },
    /// A vector does not fit the collection (shape, values): `vexfs.InvalidVector`.
    Vector(String),
    /// An argument this frontend checks itself is wrong: `vexfs.InvalidArgument`.
    Invalid(String),
    /// The filesystem was closed: `vexfs.Closed`.
    Closed,
    /// A lock was poisoned by a panic in an earlier call: `vexfs.Error`.
    Poisoned,
}

impl From<Error> for Fail {
    fn from(error: Error) -> Self {
        Fail::Core { error, what: None }
    }
}

/// Formats a path of the image for a message: `'/docs/a'`.
pub fn quote(path: &[u8]) -> String {
    format!("'{}'", String::from_utf8_lossy(path))
}

/// A core error about `path`.
pub fn at_path(path: &[u8]) -> impl FnOnce(Error) -> Fail + '_ {
    move |error| Fail::Core {
        error,
        what: Some(quote(path)),
    }
}

/// A batch error, naming the item (and its name when known).
pub fn batch(e: BatchError, name_of: impl Fn(usize) -> Option<String>) -> Fail {
    let what = e.item.map(|i| match name_of(i) {
        Some(n) => format!("item {i} ('{n}')"),
        None => format!("item {i}"),
    });
    Fail::Core { error: e.error, what }
}

const ENOENT: i32 = 2;

/// The exception class (in `vexfs._errors`) of a core error.
fn class_of(e: &Error) -> &'static str {
    match e {
        Error::NotFound => "NotFound",
        Error::Exists => "Exists",
        Error::NotDirectory => "NotADirectory",
        Error::IsDirectory => "IsADirectory",
        Error::NotEmpty => "NotEmpty",
        Error::Invalid(_) | Error::Loop => "InvalidArgument",
        Error::Query(_) => "InvalidQuery",
        Error::NameTooLong | Error::ValueTooBig | Error::Range | Error::FileTooBig | Error::TooManyLinks => {
            "LimitExceeded"
        }
        Error::NoAttribute => "NoAttribute",
        // `Access` is only for untrusted callers of the core (the FUSE mount); this module
        // searches with trusted credentials and never sees it.
        Error::CrossDevice | Error::NotPermitted | Error::Access | Error::NotSupported => "NotSupported",
        Error::Busy(_) => "Busy",
        Error::Locked => "Locked",
        Error::NoSpace => "NoSpace",
        Error::ReadOnly => "ReadOnly",
        // Not an image: as unusable as a damaged one; the message says which.
        Error::Corrupted { .. } | Error::NotAnImage => "Corrupted",
        // The image file itself is missing (opening it): the same as any missing path.
        Error::Io { errno: ENOENT, .. } => "NotFound",
        Error::Io { .. } => "StorageError",
    }
}

impl Fail {
    fn class_and_message(&self) -> (&'static str, String) {
        match self {
            Fail::Core { error, what } => {
                let msg = match what {
                    Some(w) => format!("{error}: {w}"),
                    None => error.to_string(),
                };
                (class_of(error), msg)
            }
            Fail::Vector(m) => ("InvalidVector", m.clone()),
            Fail::Invalid(m) => ("InvalidArgument", m.clone()),
            Fail::Closed => ("Closed", "the filesystem is closed".into()),
            Fail::Poisoned => (
                "Error",
                "an earlier call panicked while holding the filesystem; close and reopen it".into(),
            ),
        }
    }

    /// The Python exception, built while the GIL is held.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let (class, msg) = self.class_and_message();
        let made = (|| -> PyResult<PyErr> {
            let cls = py.import("vexfs._errors")?.getattr(class)?;
            let value = match &self {
                // An I/O error keeps the host's errno, as OSError(errno, strerror) does.
                Fail::Core {
                    error: Error::Io { errno, .. },
                    ..
                } => cls.call1((*errno, msg))?,
                _ => cls.call1((msg,))?,
            };
            Ok(PyErr::from_value(value))
        })();
        made.unwrap_or_else(|e| e)
    }
}

impl From<Fail> for PyErr {
    fn from(f: Fail) -> Self {
        Python::attach(|py| f.into_pyerr(py))
    }
}
