//! The filter lexer: splits the source into tokens ([`Tok`]), each with the byte offset where it
//! starts, and owns the spelling of syntax errors ([`err`]: `filter: <what> at byte <at>`) and
//! of the tokens they quote ([`Tok::describe`], one line and short).
//!
//! Invariants: `Lexer::pos` only moves forward and always lies on a character boundary of
//! `src`; at the end of the source the lexer returns [`Tok::End`] (again on every call), and a
//! quoted string is returned unescaped.

use std::fmt;

use super::{CmpOp, DELIMITERS, QUOTE_CHARS_MAX};
use crate::error::{Error, Result};

/// Whether `word` is one of the reserved (lowercase) keywords.
pub(super) fn is_keyword(word: &str) -> bool {
    matches!(word, "and" | "or" | "not" | "in" | "has")
}

/// A token of the filter source.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
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
    pub(super) fn describe(&self) -> String {
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
pub(super) fn quote_excerpt(s: &str) -> String {
    super::super::one_line(s, QUOTE_CHARS_MAX)
}

/// A filter syntax error: `filter: <what> at byte <at>`.
pub(super) fn err(at: usize, what: impl fmt::Display) -> Error {
    Error::query(format!("filter: {what} at byte {at}"))
}

/// Splits the source into tokens; `pos` is the byte offset of the next unread character.
pub(super) struct Lexer<'a> {
    pub(super) src: &'a str,
    pub(super) pos: usize,
}

impl<'a> Lexer<'a> {
    /// The next token and the byte offset where it starts.
    pub(super) fn next(&mut self) -> Result<(usize, Tok<'a>)> {
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
