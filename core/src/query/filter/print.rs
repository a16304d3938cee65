//! The canonical form of a filter ([`Display`](fmt::Display) for [`Filter`]): single spaces,
//! keys and values quoted only when they must be, and the fewest parentheses that keep the tree.
//!
//! Invariant: the printed form parses back to an equal filter and never nests deeper, nor has
//! more terms, than the source it came from (so it stays within the parser's limits).

use std::fmt;

use super::lex::is_keyword;
use super::{DELIMITERS, Filter, Key, Node, Term};

fn is_bare(word: &str) -> bool {
    !word.is_empty()
        && !is_keyword(word)
        && !word.contains(|c: char| c.is_whitespace() || DELIMITERS.contains(&c))
}

/// Appends `word` bare when it reads back as the same word, else quoted. A key that starts
/// with `@` is quoted so that it does not read back as a pseudo-key.
pub(super) fn write_word(out: &mut String, word: &str, is_key: bool) {
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

impl Term {
    pub(super) fn write(&self, out: &mut String) {
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
