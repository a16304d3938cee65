//! numpy arrays in and out: vectors given by Python become the raw little-endian bytes of the
//! collection's element type, and stored vectors become arrays again.
//!
//! What each collection type takes (anything else is a `TypeError` naming the dtype):
//!
//! | type | native dtype (copied as is) | also accepted (converted) |
//! |---|---|---|
//! | `f32` | `float32` | other floats, integers |
//! | `f16` | `float16` | other floats (rounded to nearest), integers |
//! | `i8` | `int8` | other integer dtypes, values in `-128..=127` |
//! | `i16` | `int16` | other integer dtypes, values in `-32768..=32767` |
//! | `bin` | `uint8`, `dim / 8` packed bytes per vector, lowest bit first (`np.packbits(x, bitorder="little")`) | `bool`, `dim` per vector |
//!
//! Integer collections refuse floats rather than round them. Arrays may be one vector `(d,)`
//! or a batch `(n, d)`, in any memory layout and byte order; lists are passed through
//! `numpy.asarray` first. Every converted vector is then checked with the core's
//! `IndexConfig::check_vector` (length, no NaN or infinity, no zero vector for `cosine`), so
//! what reaches the engine is exactly
//! what the `user.vexfs.vector` attribute accepts. Shape and value problems are
//! `vexfs.InvalidVector` (a `ValueError`), naming the vector.

use crate::errors::Fail;
use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use vexfs::IndexConfig;
use vexfs::vector::ElemType;

/// Vectors converted for a collection: `n` of them, back to back.
#[derive(Debug)]
pub struct Rows {
    /// The raw vectors, `n * vector_bytes` bytes.
    pub bytes: Vec<u8>,
    /// How many.
    pub n: usize,
    /// Whether the input was one vector (`(d,)`) rather than a batch.
    pub single: bool,
}

static NUMPY: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `numpy` module.
pub fn numpy(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    NUMPY
        .get_or_try_init(py, || Ok::<_, PyErr>(py.import("numpy")?.unbind()))
        .map(|m| m.bind(py))
}

/// The numpy dtype string of a collection's stored vectors.
pub fn dtype_name(elem: ElemType) -> &'static str {
    match elem {
        ElemType::F32 => "<f4",
        ElemType::F16 => "<f2",
        ElemType::I8 => "i1",
        ElemType::I16 => "<i2",
        ElemType::Bin => "u1",
    }
}

/// Components per stored vector in its array form: `dim`, or `dim / 8` bytes for `bin`.
pub fn row_len(cfg: &IndexConfig) -> usize {
    match cfg.elem {
        ElemType::Bin => cfg.dim as usize / 8,
        _ => cfg.dim as usize,
    }
}

fn bad(msg: String) -> PyErr {
    Fail::Vector(msg).into()
}

/// Calls `f` on every element of `a` (as `T`) in logical (row-major) order.
fn each<T: Element + Copy>(
    a: &Bound<'_, PyUntypedArray>,
    mut f: impl FnMut(T) -> PyResult<()>,
) -> PyResult<()> {
    let typed = a
        .cast::<PyArrayDyn<T>>()
        .map_err(|_| PyTypeError::new_err("array dtype changed while it was read"))?;
    let ro = typed
        .try_readonly()
        .map_err(|_| PyTypeError::new_err("the array is borrowed mutably elsewhere"))?;
    // `as_slice` is memory order, which is the logical order only for C-contiguous arrays.
    match ro.as_slice() {
        Ok(s) if a.is_c_contiguous() => s.iter().try_for_each(|&x| f(x)),
        _ => ro.as_array().iter().try_for_each(|&x| f(x)),
    }
}

/// The native bytes of a C-contiguous array of `T`, when it is one.
fn contiguous_bytes<T: Element + bytemuck::Pod>(
    a: &Bound<'_, PyUntypedArray>,
    out: &mut Vec<u8>,
) -> PyResult<bool> {
    let Ok(typed) = a.cast::<PyArrayDyn<T>>() else {
        return Ok(false);
    };
    let ro = typed
        .try_readonly()
        .map_err(|_| PyTypeError::new_err("the array is borrowed mutably elsewhere"))?;
    match ro.as_slice() {
        Ok(s) if a.is_c_contiguous() => {
            out.extend_from_slice(bytemuck::cast_slice(s));
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Runs `f` on every element of an integer array as `i128`.
fn each_int(
    a: &Bound<'_, PyUntypedArray>,
    kind: u8,
    size: usize,
    mut f: impl FnMut(i128) -> PyResult<()>,
) -> PyResult<()> {
    match (kind, size) {
        (b'i', 1) => each::<i8>(a, |x| f(x.into())),
        (b'i', 2) => each::<i16>(a, |x| f(x.into())),
        (b'i', 4) => each::<i32>(a, |x| f(x.into())),
        (b'i', 8) => each::<i64>(a, |x| f(x.into())),
        (b'u', 1) => each::<u8>(a, |x| f(x.into())),
        (b'u', 2) => each::<u16>(a, |x| f(x.into())),
        (b'u', 4) => each::<u32>(a, |x| f(x.into())),
        (b'u', 8) => each::<u64>(a, |x| f(x.into())),
        _ => Err(PyTypeError::new_err("unsupported integer dtype")),
    }
}

/// Runs `f` on every element of a float or integer array as `f64`.
fn each_number(
    a: &Bound<'_, PyUntypedArray>,
    kind: u8,
    size: usize,
    mut f: impl FnMut(f64) -> PyResult<()>,
) -> PyResult<()> {
    match (kind, size) {
        (b'f', 2) => each::<half::f16>(a, |x| f(x.to_f64())),
        (b'f', 4) => each::<f32>(a, |x| f(x.into())),
        (b'f', 8) => each::<f64>(a, f),
        (b'i' | b'u', _) => each_int(a, kind, size, |x| f(x as f64)),
        _ => Err(PyTypeError::new_err("unsupported numeric dtype")),
    }
}

/// A shape as Python prints it: `(3,)`, `(2, 4)`.
fn py_shape(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Converts `obj` (an array or array-like of one or many vectors) for collection `cfg`.
/// `what` names the argument in messages (`vectors`, `queries`).
pub fn encode(obj: &Bound<'_, PyAny>, cfg: &IndexConfig, what: &str) -> PyResult<Rows> {
    let py = obj.py();
    let arr: Bound<'_, PyUntypedArray> = match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => numpy(py)?.call_method1("asarray", (obj,))?.cast_into()?,
    };
    let arr = if arr.dtype().is_native_byteorder() == Some(false) {
        let native = arr.dtype().call_method1("newbyteorder", ("=",))?;
        arr.call_method1("astype", (native,))?.cast_into()?
    } else {
        arr
    };
    let dtype = arr.dtype();
    let (kind, size) = (dtype.kind(), dtype.itemsize());
    let type_name = cfg.elem.name();
    let dtype_str = dtype.str()?.to_string();
    let accepted = match cfg.elem {
        ElemType::F32 | ElemType::F16 => matches!(kind, b'f' | b'i' | b'u'),
        ElemType::I8 | ElemType::I16 => matches!(kind, b'i' | b'u'),
        ElemType::Bin => (kind, size) == (b'u', 1) || kind == b'b',
    };
    if !accepted {
        let wants = match cfg.elem {
            ElemType::F32 => "float32 (or another float or integer dtype)",
            ElemType::F16 => "float16 (or another float or integer dtype)",
            ElemType::I8 => "int8 (or another integer dtype; floats are not rounded)",
            ElemType::I16 => "int16 (or another integer dtype; floats are not rounded)",
            ElemType::Bin => "uint8 packed bits (np.packbits(..., bitorder='little')) or bool",
        };
        return Err(PyTypeError::new_err(format!(
            "{what}: a collection of type {type_name} takes {wants} arrays, not dtype {dtype_str}"
        )));
    }
    let dim = cfg.dim as usize;
    let per_row = if kind == b'b' { dim } else { row_len(cfg) };
    let shape = arr.shape().to_vec();
    let (n, single) = match shape.as_slice() {
        [d] if *d == per_row => (1, true),
        [n, d] if *d == per_row => (*n, false),
        _ => {
            return Err(bad(format!(
                "{what}: expected shape ({per_row},) or (n, {per_row}) for a collection of dim {dim} type {type_name} \
                 (dtype {dtype_str}), got {}",
                py_shape(&shape)
            )));
        }
    };
    let vbytes = cfg.elem.vector_bytes(cfg.dim);
    let mut out = Vec::with_capacity(n * vbytes);
    let mut i = 0usize;
    let row = |i: usize| i / per_row.max(1);
    match cfg.elem {
        ElemType::F32 => {
            if !contiguous_bytes::<f32>(&arr, &mut out)? {
                each_number(&arr, kind, size, |x| {
                    let v = x as f32;
                    if x.is_finite() && !v.is_finite() {
                        return Err(bad(format!(
                            "{what}: vector {}: value {x} is out of the f32 range",
                            row(i)
                        )));
                    }
                    out.extend_from_slice(&v.to_le_bytes());
                    i += 1;
                    Ok(())
                })?;
            }
        }
        ElemType::F16 => {
            if !contiguous_bytes::<half::f16>(&arr, &mut out)? {
                each_number(&arr, kind, size, |x| {
                    let v = half::f16::from_f64(x);
                    if x.is_finite() && !v.is_finite() {
                        return Err(bad(format!(
                            "{what}: vector {}: value {x} is out of the f16 range",
                            row(i)
                        )));
                    }
                    out.extend_from_slice(&v.to_le_bytes());
                    i += 1;
                    Ok(())
                })?;
            }
        }
        ElemType::I8 | ElemType::I16 => {
            let wide = cfg.elem == ElemType::I16;
            let native = if wide {
                contiguous_bytes::<i16>(&arr, &mut out)?
            } else {
                contiguous_bytes::<i8>(&arr, &mut out)?
            };
            if !native {
                let (lo, hi) = if wide { (-32768, 32767) } else { (-128, 127) };
                each_int(&arr, kind, size, |x| {
                    if !(lo..=hi).contains(&x) {
                        return Err(bad(format!(
                            "{what}: vector {}: value {x} is out of the {type_name} range {lo}..={hi}",
                            row(i)
                        )));
                    }
                    if wide {
                        out.extend_from_slice(&(x as i16).to_le_bytes());
                    } else {
                        out.push(x as i8 as u8);
                    }
                    i += 1;
                    Ok(())
                })?;
            }
        }
        ElemType::Bin => {
            if kind == b'b' {
                out.resize(n * vbytes, 0);
                each::<bool>(&arr, |bit| {
                    let (r, j) = (i / dim, i % dim);
                    if bit {
                        out[r * vbytes + j / 8] |= 1 << (j % 8);
                    }
                    i += 1;
                    Ok(())
                })?;
            } else if !contiguous_bytes::<u8>(&arr, &mut out)? {
                each::<u8>(&arr, |b| {
                    out.push(b);
                    Ok(())
                })?;
            }
        }
    }
    debug_assert_eq!(out.len(), n * vbytes);
    for (r, v) in out.chunks_exact(vbytes.max(1)).enumerate() {
        if let Err(e) = cfg.check_vector(v) {
            let e = e.to_string();
            let e = e.strip_prefix("invalid argument: ").unwrap_or(&e);
            return Err(bad(if single {
                format!("{what}: {e}")
            } else {
                format!("{what}: vector {r}: {e}")
            }));
        }
    }
    Ok(Rows {
        bytes: out,
        n,
        single,
    })
}

/// Stored vectors (`bytes`, back to back) as an array of `shape` (the last axis: [`row_len`])
/// in the collection's dtype ([`dtype_name`]).
pub fn decode<'py>(
    py: Python<'py>,
    elem: ElemType,
    bytes: Vec<u8>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let raw = numpy::PyArray1::<u8>::from_vec(py, bytes);
    let typed = raw.call_method1("view", (dtype_name(elem),))?;
    typed.call_method1("reshape", (pyo3::types::PyTuple::new(py, shape)?,))
}
