//! The filter parser: a shunting-yard pass over the lexer's tokens, with an explicit operator
//! stack and never recursion, producing the postfix expression (`nodes`), its terms and the keys
//! it reads; [`Parser::finish`] compiles them into the evaluation program.
//!
//! Invariants (checked as the input is read, so a limit is refused at the token that breaks
//! it): `depth` (open parentheses plus pending `not`s) never exceeds `FILTER_DEPTH_MAX`, `count`
//! (terms and operators) never exceeds `FILTER_TERMS_MAX`, an `in` list holds at most
//! `FILTER_IN_VALUES_MAX` values, and `and`/`or` chains are flattened as they are reduced, so no
//! `And` node has an `And` child (likewise `Or`).

use super::compile::compile;
use super::lex::{Lexer, Tok, err, is_keyword, quote_excerpt};
use super::{CmpOp, Filter, KEY_LEN_MAX, Key, Lit, Node, Term, number};
use crate::error::{Error, Result};
use crate::limits::{FILTER_DEPTH_MAX, FILTER_IN_VALUES_MAX, FILTER_TERMS_MAX, XATTR_NAME_LEN_MAX};

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
pub(super) struct Parser<'a> {
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
    pub(super) fn new(src: &'a str) -> Self {
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

    pub(super) fn run(&mut self) -> Result<()> {
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
    pub(super) fn finish(self) -> Filter {
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
