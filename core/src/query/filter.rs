//! The filter language of SPEC §4: parsing, canonical printing and evaluation.
//!
//! ```text
//! lang = en and (year >= 2020 or tag in (draft, review)) and not has(hidden)
//! ```
//!
//! # Grammar
//!
//! ```text
//! expr    := and ('or' and)*                     left-associative
//! and     := unary ('and' unary)*                left-associative
//! unary   := 'not' unary | primary               'not' binds tightest
//! primary := '(' expr ')' | term
//! term    := key op value | key 'in' '(' value (',' value)* ')' | 'has' '(' key ')'
//! op      := '=' | '!=' | '<' | '<=' | '>' | '>='
//! key     := bare word | "quoted string"         a `user.*` attribute, named without `user.`
//!          | '@name' | '@size' | '@mtime'        pseudo-keys (bare only)
//! value   := bare word | "quoted string"
//! ```
//!
//! - A **bare word** is a run of characters other than whitespace (Unicode `White_Space`) and
//!   the delimiters `( ) = ! < > , "`; e.g. `en`, `2020`, `-3.5`, `foo-bar`, `a.b`, `x_y:z`.
//! - The keywords `and`, `or`, `not`, `in`, `has` are lowercase and reserved: a key or value
//!   spelled like one must be quoted (`"in" = "or"`). A quoted key always names an attribute, so
//!   `"@name"` is the attribute `user.@name`, not the pseudo-key.
//! - A **quoted string** is `"..."`; inside it `\"` is a quote and `\\` a backslash, every other
//!   backslash sequence is an error, and any other character (newlines included) stands for itself.
//!
//! # Semantics
//!
//! - A comparison is numeric when both sides are finite numbers (Rust's `f64` syntax restricted to
//!   the characters `0-9 + - . e E`, with no surrounding spaces), otherwise byte-wise
//!   lexicographic on the attribute value and the value's UTF-8 text. `1.0 = 1` and `-0 = 0` hold;
//!   `"1e400"` is not finite, so it compares as text.
//! - A comparison or `in` on a missing attribute is false, `!=` included; `not` inverts that, so
//!   `not x = 1` holds for files without `x`. `in` holds when any value compares equal.
//! - `has(key)` holds when the file has the attribute; every file has the pseudo-keys.
//! - `@name` is the file's name bytes (compared like an attribute value); `@size` (bytes) and
//!   `@mtime` (seconds since the epoch) are numbers and may only be compared with numbers.
//!
//! # Limits (from [`crate::limits`])
//!
//! - nesting: at any point of the source, the open parentheses plus the `not`s whose operand is
//!   still open number at most [`FILTER_DEPTH_MAX`];
//! - terms: comparisons, `in` lists, `has`, and the operators `and`, `or`, `not` number at most
//!   [`FILTER_TERMS_MAX`];
//! - values in one `in` list: at most [`FILTER_IN_VALUES_MAX`].
//!
//! # Representation and invariants
//!
//! Parsing uses an explicit operator stack (shunting-yard), never recursion, and produces:
//! - `nodes`: the expression tree in postfix order, with `and`/`or` chains flattened into n-ary
//!   nodes (`a and (b and c)` is the same filter as `a and b and c`). This is the filter's
//!   identity: equality and [`Display`](std::fmt::Display) use it.
//! - `code`: a short-circuit jump program derived from `nodes`, the only thing [`Filter::eval`]
//!   runs. Negation is pushed into the tests and jump conditions at compile time, so the program
//!   is a list of `Test` and forward `Jump` instructions over a single boolean register: the
//!   evaluator needs no stack at all, neither recursion nor a value stack.
//!
//! [`Display`](std::fmt::Display) prints the canonical form: single spaces, values and keys quoted
//! only when they must be, and the fewest parentheses that keep the tree (every `or` group under
//! an `and` and every `and`/`or` group under a `not`). Fully parenthesising every operator would
//! exceed the nesting limit for legal filters, so it is not done. The canonical form never nests
//! deeper, nor has more terms, than the source it came from, so it always parses back to an equal
//! filter.

mod compile;
mod lex;
mod parse;
mod print;

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::limits::{FILTER_DEPTH_MAX, FILTER_IN_VALUES_MAX, FILTER_TERMS_MAX, XATTR_NAME_LEN_MAX};
use parse::Parser;

/// What a filter can see of a file.
pub trait FileMeta {
    /// The value of the attribute `user.<key>`, if the file has it (`key` is without `user.`).
    fn attr(&self, key: &[u8]) -> Option<&[u8]>;
    /// The file's name (one path component).
    fn name(&self) -> &[u8];
    /// The file's size in bytes.
    fn size(&self) -> u64;
    /// The file's modification time, in whole seconds since the epoch.
    fn mtime_secs(&self) -> i64;
}

/// Longest attribute key a filter may name: the attribute name limit minus the `user.` prefix.
const KEY_LEN_MAX: usize = XATTR_NAME_LEN_MAX - USER_PREFIX.len();
const USER_PREFIX: &str = "user.";
/// Characters that end a bare word (besides whitespace).
const DELIMITERS: &[char] = &['(', ')', '=', '!', '<', '>', ',', '"'];
/// Longest token quoted in an error message, in characters.
const QUOTE_CHARS_MAX: usize = 40;

// Term and node indexes are `u16`: every node and instruction is counted by the term limit
// (nodes <= terms; instructions <= tests + jumps <= 2 * terms).
const _: () = assert!(2 * FILTER_TERMS_MAX <= u16::MAX as usize);
const _: () = assert!(FILTER_DEPTH_MAX >= 1 && FILTER_IN_VALUES_MAX >= 1);

/// A parsed filter expression. Build one with [`Filter::parse`] (or `str::parse`).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The flattened expression tree in postfix order (the filter's identity).
    nodes: Box<[Node]>,
    /// The comparisons, `in` lists and `has` tests, indexed by [`Node::Term`] and [`Insn::Test`].
    terms: Box<[Term]>,
    /// The evaluation program, derived from `nodes`.
    code: Box<[Insn]>,
    /// The attribute keys referenced, each once, in order of first appearance.
    keys: Box<[Box<str>]>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    #[inline]
    fn holds(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord == Ordering::Equal,
            CmpOp::Ne => ord != Ordering::Equal,
            CmpOp::Lt => ord == Ordering::Less,
            CmpOp::Le => ord != Ordering::Greater,
            CmpOp::Gt => ord == Ordering::Greater,
            CmpOp::Ge => ord != Ordering::Less,
        }
    }

    #[inline]
    fn holds_num(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// What a term looks at.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    /// The attribute `user.<name>`.
    Attr(Box<str>),
    /// `@name`: the file name.
    Name,
    /// `@size`: the size in bytes (a number).
    Size,
    /// `@mtime`: the modification time in seconds (a number).
    Mtime,
}

/// A value: its text, and its number when the text is a finite number (parsed once, here).
#[derive(Debug, Clone, PartialEq)]
struct Lit {
    text: Box<str>,
    num: Option<f64>,
}

/// A leaf of the expression.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Cmp {
        key: Key,
        op: CmpOp,
        lit: Lit,
    },
    /// `any_num`: some value is a number (so the attribute is worth parsing as one).
    In {
        key: Key,
        lits: Box<[Lit]>,
        any_num: bool,
    },
    Has(Key),
}

/// One node of the postfix expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    /// Pushes `terms[i]`.
    Term(u16),
    /// Negates the top operand.
    Not,
    /// Replaces the top `n >= 2` operands (none of them an `And`) by their conjunction.
    And(u16),
    /// Replaces the top `n >= 2` operands (none of them an `Or`) by their disjunction.
    Or(u16),
}

/// One instruction of the evaluation program. The program runs from the first instruction
/// until `pc` passes the end; every jump goes forward, so it runs at most `code.len()` steps.
/// The result is the register's final value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insn {
    /// `r = terms[term](file) != neg`.
    Test { term: u16, neg: bool },
    /// `if r == when { pc = to }` (`to > pc`; `to == code.len()` ends the program).
    Jump { when: bool, to: u16 },
}

/// The value a term compares: bytes (for a byte-wise comparison) and, when wanted and the bytes
/// are a finite number, that number.
struct Subject<'a> {
    bytes: &'a [u8],
    num: Option<f64>,
}

impl<'a> Subject<'a> {
    #[inline]
    fn of(key: &Key, meta: &'a impl FileMeta, want_num: bool) -> Option<Subject<'a>> {
        let text = |bytes: &'a [u8]| Subject {
            bytes,
            num: if want_num { number(bytes) } else { None },
        };
        match key {
            Key::Attr(k) => meta.attr(k.as_bytes()).map(text),
            Key::Name => Some(text(meta.name())),
            // Sizes are below 2^44 and realistic times below 2^53 seconds: both exact in f64.
            Key::Size => Some(Subject {
                bytes: b"",
                num: Some(meta.size() as f64),
            }),
            Key::Mtime => Some(Subject {
                bytes: b"",
                num: Some(meta.mtime_secs() as f64),
            }),
        }
    }

    #[inline]
    fn test(&self, op: CmpOp, lit: &Lit) -> bool {
        match (self.num, lit.num) {
            (Some(a), Some(b)) => op.holds_num(a, b),
            // Equality checks lengths first, which settles most mismatches without a memcmp.
            _ if op == CmpOp::Eq => self.bytes == lit.text.as_bytes(),
            _ if op == CmpOp::Ne => self.bytes != lit.text.as_bytes(),
            _ => op.holds(self.bytes.cmp(lit.text.as_bytes())),
        }
    }
}

impl Term {
    #[inline]
    fn eval(&self, meta: &impl FileMeta) -> bool {
        match self {
            Term::Cmp { key, op, lit } => {
                Subject::of(key, meta, lit.num.is_some()).is_some_and(|s| s.test(*op, lit))
            }
            Term::In { key, lits, any_num } => {
                Subject::of(key, meta, *any_num).is_some_and(|s| lits.iter().any(|l| s.test(CmpOp::Eq, l)))
            }
            Term::Has(Key::Attr(k)) => meta.attr(k.as_bytes()).is_some(),
            Term::Has(_) => true,
        }
    }
}

/// The number `bytes` spells, if it spells a finite one. Only ASCII digits, signs, `.` and
/// exponent markers can spell a finite `f64`, so anything else is rejected before (cheap, ASCII)
/// UTF-8 validation and parsing.
///
/// Fast path: an optional sign and at most 15 digits is an integer below 10^15 < 2^53, which
/// `f64` holds exactly, so accumulating it gives the same value as the general parser.
#[inline]
fn number(bytes: &[u8]) -> Option<f64> {
    let (neg, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, bytes),
    };
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        let n = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')) as f64;
        return Some(if neg { -n } else { n });
    }
    if bytes.is_empty()
        || !bytes
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    let n: f64 = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    n.is_finite().then_some(n)
}

impl Filter {
    /// Parses a filter expression (see the module documentation for the language and limits).
    ///
    /// Errors are [`Error::Query`] with a one-line message naming what was wrong and the byte
    /// offset in `src` where it was found, e.g. `filter: expected a value after '>=', found ')'
    /// at byte 12`.
    pub fn parse(src: &str) -> Result<Filter> {
        let mut parser = Parser::new(src);
        parser.run()?;
        Ok(parser.finish())
    }

    /// Whether the file described by `meta` matches.
    ///
    /// Runs the compiled program with one boolean register and a program counter: no
    /// allocation, no recursion and no stack beyond a few scalars, whatever the filter. Each
    /// term is evaluated at most once and evaluation stops as soon as the result is known.
    #[inline]
    pub fn eval(&self, meta: &impl FileMeta) -> bool {
        let code = &*self.code;
        let mut r = false;
        let mut pc = 0;
        while let Some(insn) = code.get(pc) {
            match *insn {
                Insn::Test { term, neg } => {
                    r = self.terms.get(usize::from(term)).is_some_and(|t| t.eval(meta)) != neg;
                    pc += 1;
                }
                Insn::Jump { when, to } => pc = if r == when { usize::from(to) } else { pc + 1 },
            }
        }
        r
    }

    /// The attribute keys (without `user.`) the filter reads, each once, in order of first
    /// appearance. Pseudo-keys are not included.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(|k| k.as_bytes())
    }
}

impl std::str::FromStr for Filter {
    type Err = Error;

    fn from_str(src: &str) -> Result<Filter> {
        Filter::parse(src)
    }
}

#[cfg(test)]
mod tests;
