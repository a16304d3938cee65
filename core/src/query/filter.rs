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
//!   identity: equality and [`Display`](fmt::Display) use it.
//! - `code`: a short-circuit jump program derived from `nodes`, the only thing [`Filter::eval`]
//!   runs. Negation is pushed into the tests and jump conditions at compile time, so the program
//!   is a list of `Test` and forward `Jump` instructions over a single boolean register: the
//!   evaluator needs no stack at all, neither recursion nor a value stack.
//!
//! [`Display`](fmt::Display) prints the canonical form: single spaces, values and keys quoted
//! only when they must be, and the fewest parentheses that keep the tree (every `or` group under
//! an `and` and every `and`/`or` group under a `not`). Fully parenthesising every operator would
//! exceed the nesting limit for legal filters, so it is not done. The canonical form never nests
//! deeper, nor has more terms, than the source it came from, so it always parses back to an equal
//! filter.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Result};
use crate::limits::{FILTER_DEPTH_MAX, FILTER_IN_VALUES_MAX, FILTER_TERMS_MAX, XATTR_NAME_LEN_MAX};

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

    fn write(&self, out: &mut String) {
        match self {
            Term::Cmp { key, op, lit } => {
                write_key(out, key);
                out.push(' ');
                out.push_str(op.as_str());
                out.push(' ');
                write_word(out, &lit.text, false);
            }
            Term::In { key, lits, .. } => {
                write_key(out, key);
                out.push_str(" in (");
                for (i, l) in lits.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_word(out, &l.text, false);
                }
                out.push(')');
            }
            Term::Has(key) => {
                out.push_str("has(");
                write_key(out, key);
                out.push(')');
            }
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

fn is_keyword(word: &str) -> bool {
    matches!(word, "and" | "or" | "not" | "in" | "has")
}

fn is_bare(word: &str) -> bool {
    !word.is_empty()
        && !is_keyword(word)
        && !word.contains(|c: char| c.is_whitespace() || DELIMITERS.contains(&c))
}

/// Appends `word` bare when it reads back as the same word, else quoted. A key that starts
/// with `@` is quoted so that it does not read back as a pseudo-key.
fn write_word(out: &mut String, word: &str, is_key: bool) {
    if is_bare(word) && !(is_key && word.starts_with('@')) {
        out.push_str(word);
        return;
    }
    out.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn write_key(out: &mut String, key: &Key) {
    match key {
        Key::Attr(k) => write_word(out, k, true),
        Key::Name => out.push_str("@name"),
        Key::Size => out.push_str("@size"),
        Key::Mtime => out.push_str("@mtime"),
    }
}

/// A token of the filter source.
#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Open,
    Close,
    Comma,
    Op(CmpOp),
    Word(&'a str),
    Quoted(String),
    End,
}

impl Tok<'_> {
    /// The token as an error message quotes it: one line, at most [`QUOTE_CHARS_MAX`] characters.
    fn describe(&self) -> String {
        match self {
            Tok::Open => "'('".into(),
            Tok::Close => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Op(op) => format!("'{}'", op.as_str()),
            Tok::Word(w) => format!("'{}'", quote_excerpt(w)),
            Tok::Quoted(s) => format!("\"{}\"", quote_excerpt(s)),
            Tok::End => "the end of the filter".into(),
        }
    }
}

/// `s` shortened to [`QUOTE_CHARS_MAX`] characters, with control characters escaped, for
/// quoting in a one-line message.
fn quote_excerpt(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == QUOTE_CHARS_MAX {
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

/// A filter syntax error: `filter: <what> at byte <at>`.
fn err(at: usize, what: impl fmt::Display) -> Error {
    Error::query(format!("filter: {what} at byte {at}"))
}

/// Splits the source into tokens; `pos` is the byte offset of the next unread character.
struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// The next token and the byte offset where it starts.
    fn next(&mut self) -> Result<(usize, Tok<'a>)> {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let trimmed = rest.trim_start();
        let at = self.pos + (rest.len() - trimmed.len());
        let mut chars = trimmed.chars();
        let Some(c) = chars.next() else {
            self.pos = at;
            return Ok((at, Tok::End));
        };
        let second = chars.next();
        let (len, tok) = match c {
            '(' => (1, Tok::Open),
            ')' => (1, Tok::Close),
            ',' => (1, Tok::Comma),
            '=' => (1, Tok::Op(CmpOp::Eq)),
            '!' if second == Some('=') => (2, Tok::Op(CmpOp::Ne)),
            '!' => return Err(err(at, "expected '=' after '!' (write '!=', or 'not' to negate)")),
            '<' if second == Some('=') => (2, Tok::Op(CmpOp::Le)),
            '<' => (1, Tok::Op(CmpOp::Lt)),
            '>' if second == Some('=') => (2, Tok::Op(CmpOp::Ge)),
            '>' => (1, Tok::Op(CmpOp::Gt)),
            '"' => return self.quoted(at),
            _ => {
                let len = trimmed
                    .find(|c: char| c.is_whitespace() || DELIMITERS.contains(&c))
                    .unwrap_or(trimmed.len());
                (len, Tok::Word(&trimmed[..len]))
            }
        };
        self.pos = at + len;
        Ok((at, tok))
    }

    /// A quoted string starting at byte `at` (the opening quote).
    fn quoted(&mut self, at: usize) -> Result<(usize, Tok<'a>)> {
        let bytes = self.src.as_bytes();
        let mut out = String::new();
        let mut chunk = at + 1;
        let mut i = at + 1;
        loop {
            match bytes.get(i) {
                None => return Err(err(at, "unterminated string starting")),
                Some(b'"') => {
                    out.push_str(&self.src[chunk..i]);
                    self.pos = i + 1;
                    return Ok((at, Tok::Quoted(out)));
                }
                Some(b'\\') => {
                    out.push_str(&self.src[chunk..i]);
                    match bytes.get(i + 1) {
                        Some(&b @ (b'"' | b'\\')) => out.push(char::from(b)),
                        Some(_) => {
                            let seq: String = self.src[i..].chars().take(2).collect();
                            return Err(err(
                                i,
                                format_args!(
                                    "unknown escape '{}' in a string (only \\\" and \\\\ are escapes)",
                                    quote_excerpt(&seq)
                                ),
                            ));
                        }
                        None => return Err(err(at, "unterminated string starting")),
                    }
                    i += 2;
                    chunk = i;
                }
                // Quotes and backslashes are ASCII, so every `i` stopped at is a char boundary.
                Some(_) => i += 1,
            }
        }
    }
}

/// An entry of the operator stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// `(` at this byte offset.
    Open(usize),
    Not,
    And,
    Or,
}

/// The shunting-yard parser state.
struct Parser<'a> {
    lex: Lexer<'a>,
    /// The postfix output.
    out: Vec<Node>,
    terms: Vec<Term>,
    keys: Vec<Box<str>>,
    /// Start (in `out`) of each complete operand; operands are contiguous, in stack order.
    operands: Vec<usize>,
    ops: Vec<Pending>,
    /// Open parentheses plus pending `not`s: the entries of `ops` other than `And`/`Or`.
    depth: usize,
    /// Terms and operators so far.
    count: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            lex: Lexer { src, pos: 0 },
            out: Vec::new(),
            terms: Vec::new(),
            keys: Vec::new(),
            operands: Vec::new(),
            ops: Vec::new(),
            depth: 0,
            count: 0,
        }
    }

    fn run(&mut self) -> Result<()> {
        let mut want_operand = true;
        // The token before the current one was `(` (for the "empty parentheses" message).
        let mut after_open = false;
        loop {
            let (at, tok) = self.lex.next()?;
            if want_operand {
                let was_open = std::mem::replace(&mut after_open, tok == Tok::Open);
                match tok {
                    Tok::Word("not") => {
                        self.count_term(at)?;
                        self.enter(at)?;
                        self.ops.push(Pending::Not);
                    }
                    Tok::Open => {
                        self.enter(at)?;
                        self.ops.push(Pending::Open(at));
                    }
                    Tok::Word("has") => {
                        self.count_term(at)?;
                        let key = self.has_key()?;
                        self.push_term(Term::Has(key));
                        want_operand = false;
                    }
                    Tok::Word(w) if !is_keyword(w) => {
                        self.count_term(at)?;
                        let key = self.bare_key(at, w)?;
                        let term = self.comparison(key, w)?;
                        self.push_term(term);
                        want_operand = false;
                    }
                    Tok::Quoted(s) => {
                        self.count_term(at)?;
                        let key = self.quoted_key(at, s)?;
                        let name = match &key {
                            Key::Attr(k) => k.to_string(),
                            _ => String::new(),
                        };
                        let term = self.comparison(key, &name)?;
                        self.push_term(term);
                        want_operand = false;
                    }
                    Tok::Close if was_open => return Err(err(at, "empty parentheses")),
                    Tok::End if self.out.is_empty() && self.ops.is_empty() => {
                        return Err(Error::query("filter: empty expression"));
                    }
                    other => {
                        return Err(err(
                            at,
                            format_args!("expected a key, 'has', 'not' or '(', found {}", other.describe()),
                        ));
                    }
                }
            } else {
                match tok {
                    Tok::Word("and") => {
                        self.count_term(at)?;
                        self.reduce_while(at, |p| p == Pending::And)?;
                        self.ops.push(Pending::And);
                        want_operand = true;
                    }
                    Tok::Word("or") => {
                        self.count_term(at)?;
                        self.reduce_while(at, |p| matches!(p, Pending::And | Pending::Or))?;
                        self.ops.push(Pending::Or);
                        want_operand = true;
                    }
                    Tok::Close => {
                        self.reduce_while(at, |p| matches!(p, Pending::And | Pending::Or))?;
                        // Only `(` can be left on top: `not`s are applied as soon as their operand ends.
                        if !matches!(self.ops.pop(), Some(Pending::Open(_))) {
                            return Err(err(at, "unmatched ')'"));
                        }
                        self.depth -= 1;
                        self.apply_nots();
                    }
                    Tok::End => {
                        self.reduce_while(at, |p| matches!(p, Pending::And | Pending::Or))?;
                        if let Some(&Pending::Open(open)) = self.ops.last() {
                            return Err(err(open, "'(' not closed by the end of the filter"));
                        }
                        return Ok(());
                    }
                    other => {
                        let hint = match &other {
                            Tok::Word(w) if is_keyword(&w.to_ascii_lowercase()) => {
                                " (keywords are lowercase)"
                            }
                            _ => "",
                        };
                        return Err(err(
                            at,
                            format_args!("expected 'and', 'or' or ')', found {}{hint}", other.describe()),
                        ));
                    }
                }
            }
        }
    }

    /// Counts one term or operator at byte `at` against [`FILTER_TERMS_MAX`].
    fn count_term(&mut self, at: usize) -> Result<()> {
        self.count += 1;
        if self.count > FILTER_TERMS_MAX {
            return Err(err(
                at,
                format_args!("more than {FILTER_TERMS_MAX} terms (comparisons, has, in and operators)"),
            ));
        }
        Ok(())
    }

    /// Opens one nesting level (a `(` or a `not`) at byte `at`.
    fn enter(&mut self, at: usize) -> Result<()> {
        if self.depth == FILTER_DEPTH_MAX {
            return Err(err(
                at,
                format_args!("nesting deeper than {FILTER_DEPTH_MAX} (parentheses and 'not' count)"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    /// Adds a complete term as an operand, then applies the `not`s waiting for it.
    fn push_term(&mut self, term: Term) {
        if let Term::Cmp {
            key: Key::Attr(k), ..
        }
        | Term::In {
            key: Key::Attr(k), ..
        }
        | Term::Has(Key::Attr(k)) = &term
            && !self.keys.contains(k)
        {
            self.keys.push(k.clone());
        }
        // `count_term` bounds the terms by FILTER_TERMS_MAX, which fits u16 (asserted above).
        self.out.push(Node::Term(self.terms.len() as u16));
        self.terms.push(term);
        self.operands.push(self.out.len() - 1);
        self.apply_nots();
    }

    /// Applies every `not` directly waiting for the operand just completed.
    fn apply_nots(&mut self) {
        while self.ops.last() == Some(&Pending::Not) {
            self.ops.pop();
            self.out.push(Node::Not);
            self.depth -= 1;
        }
    }

    /// Pops and applies binary operators while `pred` holds for the top of the stack.
    fn reduce_while(&mut self, at: usize, pred: impl Fn(Pending) -> bool) -> Result<()> {
        while let Some(&top) = self.ops.last() {
            if !pred(top) {
                break;
            }
            self.ops.pop();
            self.reduce(at, top == Pending::Or)?;
        }
        Ok(())
    }

    /// Replaces the top two operands by their conjunction (`or == false`) or disjunction,
    /// flattening an operand that is already the same kind of chain into the new node.
    fn reduce(&mut self, at: usize, or: bool) -> Result<()> {
        let chain = |node: Option<&Node>| match (node, or) {
            (Some(&Node::And(n)), false) | (Some(&Node::Or(n)), true) => Some(n),
            _ => None,
        };
        // Both operands exist whenever a binary operator is reduced: the parser only pushes one
        // after an operand and reduces it only after the next operand is complete.
        let (Some(right), Some(&left)) = (self.operands.pop(), self.operands.last()) else {
            return Err(err(at, "malformed expression"));
        };
        debug_assert!(left < right && right < self.out.len());
        let mut n = 0u16;
        // The right operand's root is the last node; the left operand's is just before `right`.
        match chain(self.out.last()) {
            Some(k) => {
                n += k;
                self.out.pop();
            }
            None => n += 1,
        }
        match chain(self.out.get(right - 1)) {
            Some(k) => {
                n += k;
                self.out.remove(right - 1);
            }
            None => n += 1,
        }
        self.out.push(if or { Node::Or(n) } else { Node::And(n) });
        Ok(())
    }

    /// The key of a term that starts with bare word `w` at byte `at`.
    fn bare_key(&self, at: usize, w: &str) -> Result<Key> {
        match w {
            "@name" => Ok(Key::Name),
            "@size" => Ok(Key::Size),
            "@mtime" => Ok(Key::Mtime),
            _ if w.starts_with('@') => Err(err(
                at,
                format_args!(
                    "unknown pseudo-key '{}' (known: @name, @size, @mtime; quote an attribute named with '@')",
                    quote_excerpt(w)
                ),
            )),
            _ => attr_key(at, w.into()),
        }
    }

    fn quoted_key(&self, at: usize, s: String) -> Result<Key> {
        if s.is_empty() {
            return Err(err(at, "empty key"));
        }
        attr_key(at, s)
    }

    /// The key inside `has( ... )`, after the word `has`.
    fn has_key(&mut self) -> Result<Key> {
        let (open_at, open) = self.lex.next()?;
        if open != Tok::Open {
            return Err(err(
                open_at,
                format_args!("expected '(' after 'has', found {}", open.describe()),
            ));
        }
        let (key_at, tok) = self.lex.next()?;
        let key = match tok {
            Tok::Word(w) if !is_keyword(w) => self.bare_key(key_at, w)?,
            Tok::Quoted(s) => self.quoted_key(key_at, s)?,
            other => {
                return Err(err(
                    key_at,
                    format_args!("expected a key in 'has(...)', found {}", other.describe()),
                ));
            }
        };
        let (close_at, close) = self.lex.next()?;
        if close != Tok::Close {
            return Err(err(
                close_at,
                format_args!("expected ')' to close 'has(', found {}", close.describe()),
            ));
        }
        Ok(key)
    }

    /// The rest of a comparison or `in` term after its key (`name`, for messages).
    fn comparison(&mut self, key: Key, name: &str) -> Result<Term> {
        let (op_at, tok) = self.lex.next()?;
        match tok {
            Tok::Op(op) => {
                let (val_at, val) = self.lex.next()?;
                let Some(lit) = lit(&val) else {
                    let hint = if op == CmpOp::Eq && val == Tok::Op(CmpOp::Eq) {
                        " (write '=', not '==')"
                    } else {
                        ""
                    };
                    return Err(err(
                        val_at,
                        format_args!(
                            "expected a value after '{}', found {}{hint}",
                            op.as_str(),
                            val.describe()
                        ),
                    ));
                };
                check_numeric(&key, val_at, &lit)?;
                Ok(Term::Cmp { key, op, lit })
            }
            Tok::Word("in") => {
                let (open_at, open) = self.lex.next()?;
                if open != Tok::Open {
                    return Err(err(
                        open_at,
                        format_args!("expected '(' after 'in', found {}", open.describe()),
                    ));
                }
                let mut lits = Vec::new();
                loop {
                    let (val_at, val) = self.lex.next()?;
                    let Some(lit) = lit(&val) else {
                        return Err(err(
                            val_at,
                            format_args!("expected a value in the 'in' list, found {}", val.describe()),
                        ));
                    };
                    if lits.len() == FILTER_IN_VALUES_MAX {
                        return Err(err(
                            val_at,
                            format_args!("more than {FILTER_IN_VALUES_MAX} values in an 'in' list"),
                        ));
                    }
                    check_numeric(&key, val_at, &lit)?;
                    lits.push(lit);
                    let (sep_at, sep) = self.lex.next()?;
                    match sep {
                        Tok::Comma => {}
                        Tok::Close => break,
                        other => {
                            return Err(err(
                                sep_at,
                                format_args!(
                                    "expected ',' or ')' in the 'in' list, found {}",
                                    other.describe()
                                ),
                            ));
                        }
                    }
                }
                let any_num = lits.iter().any(|l| l.num.is_some());
                Ok(Term::In {
                    key,
                    lits: lits.into_boxed_slice(),
                    any_num,
                })
            }
            other => Err(err(
                op_at,
                format_args!(
                    "expected an operator (=, !=, <, <=, >, >=, in) after the key '{}', found {}",
                    quote_excerpt(name),
                    other.describe()
                ),
            )),
        }
    }

    /// The finished filter.
    fn finish(self) -> Filter {
        let code = compile(&self.out);
        Filter {
            nodes: self.out.into_boxed_slice(),
            terms: self.terms.into_boxed_slice(),
            code,
            keys: self.keys.into_boxed_slice(),
        }
    }
}

/// An attribute key, checked against the attribute name limit.
fn attr_key(at: usize, k: String) -> Result<Key> {
    if k.len() > KEY_LEN_MAX {
        return Err(err(
            at,
            format_args!(
                "key longer than {KEY_LEN_MAX} bytes (attribute names are at most {XATTR_NAME_LEN_MAX} with 'user.')"
            ),
        ));
    }
    Ok(Key::Attr(k.into_boxed_str()))
}

/// The value a token spells, if it is a value (a non-keyword bare word or a quoted string).
fn lit(tok: &Tok<'_>) -> Option<Lit> {
    let text: Box<str> = match tok {
        Tok::Word(w) if !is_keyword(w) => (*w).into(),
        Tok::Quoted(s) => s.as_str().into(),
        _ => return None,
    };
    let num = number(text.as_bytes());
    Some(Lit { text, num })
}

/// `@size` and `@mtime` are numbers: a value compared with them must be one too.
fn check_numeric(key: &Key, at: usize, lit: &Lit) -> Result<()> {
    let name = match key {
        Key::Size => "@size",
        Key::Mtime => "@mtime",
        _ => return Ok(()),
    };
    if lit.num.is_none() {
        return Err(err(
            at,
            format_args!(
                "{name} is a number and compares only with numbers, found '{}'",
                quote_excerpt(&lit.text)
            ),
        ));
    }
    Ok(())
}

/// An instruction while compiling: jumps are relative (`skip` instructions after the next
/// one), so fragments can be concatenated without relocation.
#[derive(Debug, Clone, Copy)]
enum Frag {
    Test { term: u16, neg: bool },
    Jump { when: bool, skip: usize },
}

/// Compiles postfix `nodes` into the evaluation program.
///
/// Each operand becomes a fragment that leaves the operand's value in the register and whose
/// jumps all land inside it or at its end, with the register then holding the value of the
/// fragment ending there. `and` chains its children with "jump to the end if false", `or` with
/// "jump to the end if true". `not` flips every test and jump condition of its fragment, which by
/// De Morgan computes the negation with the same invariant. Finally jumps are threaded: a jump
/// landing on another jump whose outcome is then known goes straight to where that one goes.
fn compile(nodes: &[Node]) -> Box<[Insn]> {
    let mut frags: Vec<Vec<Frag>> = Vec::new();
    for node in nodes {
        match *node {
            Node::Term(term) => frags.push(vec![Frag::Test { term, neg: false }]),
            Node::Not => {
                for insn in frags.last_mut().into_iter().flatten() {
                    match insn {
                        Frag::Test { neg, .. } => *neg = !*neg,
                        Frag::Jump { when, .. } => *when = !*when,
                    }
                }
            }
            Node::And(n) | Node::Or(n) => {
                let when = matches!(node, Node::Or(_));
                let children = frags.split_off(frags.len().saturating_sub(usize::from(n)));
                let total = children.iter().map(Vec::len).sum::<usize>() + children.len().saturating_sub(1);
                let mut frag = Vec::with_capacity(total);
                let last = children.len().saturating_sub(1);
                for (i, child) in children.into_iter().enumerate() {
                    frag.extend(child);
                    if i < last {
                        frag.push(Frag::Jump {
                            when,
                            skip: total - frag.len() - 1,
                        });
                    }
                }
                frags.push(frag);
            }
        }
    }
    let frag = frags.pop().unwrap_or_default();
    // Fits u16: at most FILTER_TERMS_MAX tests and as many jumps (asserted above).
    let mut code: Vec<Insn> = frag
        .iter()
        .enumerate()
        .map(|(pc, f)| match *f {
            Frag::Test { term, neg } => Insn::Test { term, neg },
            Frag::Jump { when, skip } => Insn::Jump {
                when,
                to: (pc + 1 + skip) as u16,
            },
        })
        .collect();
    // Thread jumps, last first, so that every target is already threaded when it is followed.
    for pc in (0..code.len()).rev() {
        if let Insn::Jump { when, to } = code[pc] {
            let mut to = usize::from(to);
            while let Some(&Insn::Jump { when: w, to: t }) = code.get(to) {
                to = if w == when { usize::from(t) } else { to + 1 };
            }
            code[pc] = Insn::Jump { when, to: to as u16 };
        }
    }
    code.into_boxed_slice()
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

/// How tightly a printed operand binds, to decide where parentheses are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bind {
    /// A term or a `not`.
    Atom,
    And,
    Or,
}

impl fmt::Display for Filter {
    /// The canonical form (see the module documentation), built bottom-up over the postfix
    /// nodes with an explicit stack.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut stack: Vec<(String, Bind)> = Vec::new();
        for node in self.nodes.iter() {
            match *node {
                Node::Term(t) => {
                    let mut s = String::new();
                    self.terms.get(usize::from(t)).ok_or(fmt::Error)?.write(&mut s);
                    stack.push((s, Bind::Atom));
                }
                Node::Not => {
                    let (s, bind) = stack.pop().ok_or(fmt::Error)?;
                    let s = if bind == Bind::Atom {
                        format!("not {s}")
                    } else {
                        format!("not ({s})")
                    };
                    stack.push((s, Bind::Atom));
                }
                Node::And(n) | Node::Or(n) => {
                    let (bind, sep) = if matches!(node, Node::And(_)) {
                        (Bind::And, " and ")
                    } else {
                        (Bind::Or, " or ")
                    };
                    let start = stack.len().checked_sub(usize::from(n)).ok_or(fmt::Error)?;
                    let mut s = String::new();
                    for (i, (child, child_bind)) in stack.drain(start..).enumerate() {
                        if i > 0 {
                            s.push_str(sep);
                        }
                        // Only an `or` under an `and` binds more loosely than its position.
                        if bind == Bind::And && child_bind == Bind::Or {
                            s.push('(');
                            s.push_str(&child);
                            s.push(')');
                        } else {
                            s.push_str(&child);
                        }
                    }
                    stack.push((s, bind));
                }
            }
        }
        match stack.pop() {
            Some((s, _)) if stack.is_empty() => f.write_str(&s),
            _ => Err(fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests;
