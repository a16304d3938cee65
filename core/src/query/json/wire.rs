//! The wire form of a query: what serde reads from the JSON text before any validation.
//!
//! This module owns the bounded-work guarantee of the parent's documentation: every field is
//! read as a [`Val`] (a scalar, or an array whose every element is a number or every element a
//! string) by a visitor that refuses anything else at the first token, so the deserialiser never
//! descends into an object or a nested array and never skips an unknown value; a batch is read
//! as query objects only (never arrays read positionally), at most [`BATCH_QUERIES_MAX`] of
//! them, and a vector holds at most [`VECTOR_VALUES_MAX`] values (refused as the next one
//! arrives, before it is stored).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::VECTOR_VALUES_MAX;
use crate::limits::BATCH_QUERIES_MAX;

/// The query as sent, with each field in whatever JSON type it came as: validation, with
/// messages naming the field, happens in [`parse_query`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Wire {
    pub(super) dir: Option<Val>,
    pub(super) vector: Option<Val>,
    pub(super) vector_b64: Option<Val>,
    pub(super) like: Option<Val>,
    pub(super) k: Option<Val>,
    pub(super) ef: Option<Val>,
    pub(super) filter: Option<Val>,
    pub(super) exact: Option<Val>,
    pub(super) max_distance: Option<Val>,
    pub(super) include: Option<Val>,
}

/// A field's value: a scalar, or an array of numbers (objects and other arrays are refused
/// by the deserialiser, without descending into them).
#[derive(Debug)]
pub(super) enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    Array(Vec<f64>),
    Strings(Vec<String>),
}

impl Val {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Num(_) => "a number",
            Val::Bool(_) => "a boolean",
            Val::Array(_) => "an array",
            Val::Strings(_) => "an array of strings",
        }
    }
}

impl<'de> serde::Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Val, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean, or array of numbers or of strings")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Val, E> {
        Ok(Val::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Val, E> {
        Ok(Val::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Val, E> {
        Ok(Val::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Val, E> {
        Ok(Val::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Val, E> {
        Ok(Val::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Val, E> {
        Ok(Val::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Val, A::Error> {
        // All numbers (`vector`) or all strings (`include`), decided by the first element.
        let mut values = Vec::new();
        let mut strings = Vec::new();
        while let Some(e) = seq.next_element::<Elem>()? {
            if values.len() + strings.len() == VECTOR_VALUES_MAX {
                return Err(de::Error::custom(format_args!(
                    "an array has more than {VECTOR_VALUES_MAX} values"
                )));
            }
            match e {
                Elem::Num(v) if strings.is_empty() => values.push(v),
                Elem::Str(s) if values.is_empty() => strings.push(s),
                _ => return Err(de::Error::custom("an array mixes numbers and strings")),
            }
        }
        Ok(if strings.is_empty() {
            Val::Array(values)
        } else {
            Val::Strings(strings)
        })
    }
}

/// One element of an array: a number or a string, nothing else (in particular not a nested
/// array or an object).
enum Elem {
    Num(f64),
    Str(String),
}

impl<'de> serde::Deserialize<'de> for Elem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Elem, D::Error> {
        d.deserialize_any(ElemVisitor)
    }
}

struct ElemVisitor;

impl<'de> Visitor<'de> for ElemVisitor {
    type Value = Elem;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a string as an array element")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Elem, E> {
        Ok(Elem::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Elem, E> {
        Ok(Elem::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Elem, E> {
        Ok(Elem::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Elem, E> {
        Ok(Elem::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Elem, E> {
        Ok(Elem::Str(v))
    }
}

/// One element of a batch: a query object, never an array (which serde's derived `Wire` would
/// otherwise read positionally).
struct Obj(Wire);

impl<'de> serde::Deserialize<'de> for Obj {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Obj, D::Error> {
        d.deserialize_map(ObjVisitor)
    }
}

struct ObjVisitor;

impl<'de> Visitor<'de> for ObjVisitor {
    type Value = Obj;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a query object")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> std::result::Result<Obj, A::Error> {
        use serde::Deserialize as _;
        Wire::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj)
    }
}

/// The elements of a batch: query objects (each a [`Wire`]), at most [`BATCH_QUERIES_MAX`].
pub(super) struct Batch(pub(super) Vec<Wire>);

impl<'de> serde::Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Batch, D::Error> {
        d.deserialize_seq(BatchVisitor)
    }
}

struct BatchVisitor;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = Batch;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of query objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Batch, A::Error> {
        let mut wires = Vec::new();
        while let Some(Obj(w)) = seq.next_element::<Obj>()? {
            if wires.len() == BATCH_QUERIES_MAX {
                return Err(de::Error::custom(format_args!(
                    "a batch has more than {BATCH_QUERIES_MAX} queries"
                )));
            }
            wires.push(w);
        }
        Ok(Batch(wires))
    }
}
