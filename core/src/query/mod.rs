//! Search queries: the JSON query format of SPEC §4 and the filter language.
//!
//! Every frontend (the FUSE `/.vexfs/search` file, the CLI, the in-process API) reads queries
//! through this one module, so all of them accept and reject exactly the same inputs:
//! - [`filter`]: the filter expression language (`lang = en and not has(hidden)`), parsed
//!   without recursion into a program that [`Filter::eval`] runs with no allocation and no stack;
//! - [`json`]: the JSON query object and batches of them ([`parse_query`], [`parse_queries`],
//!   [`Query::to_json`]).
//!
//! Parsing is the only place a malformed query is detected; what the engine receives is
//! validated except for what depends on the collection (dimension, element type, existence).

pub mod filter;
pub mod json;

pub use filter::{FileMeta, Filter};
pub use json::{Attrs, Include, Queries, Query, Target, batch_to_json, parse_queries, parse_query};

/// `s` made one line and short, for quoting in an error message: at most `max_chars`
/// characters (then `...`), with control characters (newlines included) escaped. Shared by the
/// filter's token quotes and the JSON query's messages, so both quote alike.
fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}
