//! Tests of the filter language: grammar, precedence, semantics, limits, adversarial inputs, and
//! property tests against a recursive reference evaluator.

use std::cell::Cell;
use std::collections::BTreeMap;

use super::*;
use crate::limits::{FILTER_DEPTH_MAX, FILTER_IN_VALUES_MAX, FILTER_TERMS_MAX};

/// A file as a filter sees it, counting attribute lookups.
#[derive(Debug, Clone, Default)]
struct Meta {
    attrs: BTreeMap<Vec<u8>, Vec<u8>>,
    name: Vec<u8>,
    size: u64,
    mtime: i64,
    lookups: Cell<usize>,
}

impl Meta {
    fn with(attrs: &[(&str, &str)]) -> Meta {
        Meta {
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            name: b"file.txt".to_vec(),
            size: 1234,
            mtime: 1_700_000_000,
            ..Meta::default()
        }
    }
}

impl FileMeta for Meta {
    fn attr(&self, key: &[u8]) -> Option<&[u8]> {
        self.lookups.set(self.lookups.get() + 1);
        self.attrs.get(key).map(Vec::as_slice)
    }
    fn name(&self) -> &[u8] {
        &self.name
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn mtime_secs(&self) -> i64 {
        self.mtime
    }
}

fn parse(src: &str) -> Filter {
    Filter::parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
}

/// The error message for `src`, which must fail to parse.
fn error(src: &str) -> String {
    match Filter::parse(src) {
        Ok(f) => panic!("{src:?} should not parse, got {f}"),
        Err(Error::Query(msg)) => {
            assert!(msg.starts_with("filter: "), "{msg}");
            assert!(!msg.contains('\n'), "{msg}");
            msg.into()
        }
        Err(e) => panic!("wrong error kind {e:?}"),
    }
}

fn eval(src: &str, meta: &Meta) -> bool {
    parse(src).eval(meta)
}

/// The canonical form of `src`, checked to parse back to an equal filter.
fn canon(src: &str) -> String {
    let f = parse(src);
    let s = f.to_string();
    assert_eq!(parse(&s), f, "{src:?} -> {s:?}");
    assert_eq!(parse(&s).to_string(), s);
    s
}

#[test]
fn spec_example() {
    let src = "lang = en and (year >= 2020 or tag in (draft, review)) and not has(hidden)";
    assert_eq!(canon(src), src);
    assert!(eval(src, &Meta::with(&[("lang", "en"), ("year", "2021")])));
    assert!(eval(
        src,
        &Meta::with(&[("lang", "en"), ("year", "2019"), ("tag", "review")])
    ));
    assert!(!eval(
        src,
        &Meta::with(&[("lang", "en"), ("year", "2019"), ("tag", "final")])
    ));
    assert!(!eval(
        src,
        &Meta::with(&[("lang", "en"), ("year", "2021"), ("hidden", "")])
    ));
    assert!(!eval(src, &Meta::with(&[("lang", "fr"), ("year", "2021")])));
    assert_eq!(
        parse(src).keys().collect::<Vec<_>>(),
        [&b"lang"[..], b"year", b"tag", b"hidden"]
    );
}

#[test]
fn precedence_not_and_or() {
    let m = |a: bool, b: bool, c: bool| {
        let mut v = vec![];
        for (k, on) in [("a", a), ("b", b), ("c", c)] {
            if on {
                v.push((k, "1"));
            }
        }
        Meta::with(&v)
    };
    for bits in 0..8 {
        let (a, b, c) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
        let meta = m(a, b, c);
        assert_eq!(eval("a = 1 or b = 1 and c = 1", &meta), a || (b && c));
        assert_eq!(eval("a = 1 and b = 1 or c = 1", &meta), (a && b) || c);
        assert_eq!(eval("(a = 1 or b = 1) and c = 1", &meta), (a || b) && c);
        assert_eq!(eval("not a = 1 and b = 1", &meta), !a && b);
        assert_eq!(eval("not (a = 1 and b = 1)", &meta), !(a && b));
        assert_eq!(eval("not a = 1 or not b = 1 and c = 1", &meta), !a || (!b && c));
        assert_eq!(eval("not not a = 1", &meta), a);
        assert_eq!(eval("not (not (a = 1 or b = 1) or c = 1)", &meta), (a || b) && !c);
        assert_eq!(eval("a = 1 and not (b = 1 or not c = 1)", &meta), a && !b && c);
    }
    assert_eq!(canon("a = 1 or b = 1 and c = 1"), "a = 1 or b = 1 and c = 1");
    assert_eq!(canon("(a = 1 or b = 1) and c = 1"), "(a = 1 or b = 1) and c = 1");
    assert_eq!(canon("((a = 1) and ((b = 1)))"), "a = 1 and b = 1");
    assert_eq!(canon("not ( a=1 )"), "not a = 1");
    assert_eq!(canon("not (a = 1 and b = 1)"), "not (a = 1 and b = 1)");
    assert_eq!(canon("not not a = 1"), "not not a = 1");
}

#[test]
fn associative_chains_are_flattened() {
    let flat = parse("a = 1 and b = 1 and c = 1");
    assert_eq!(parse("a = 1 and (b = 1 and c = 1)"), flat);
    assert_eq!(parse("(a = 1 and b = 1) and c = 1"), flat);
    assert_eq!(
        parse("a=1 or (b=1 or c=1) or d=1"),
        parse("a = 1 or b = 1 or c = 1 or d = 1")
    );
    // Different trees stay different.
    assert_ne!(
        parse("a = 1 and b = 1 or c = 1"),
        parse("a = 1 and (b = 1 or c = 1)")
    );
    assert_ne!(parse("a = 1"), parse("not not a = 1"));
}

#[test]
fn every_operator_numeric_and_bytewise() {
    let num = Meta::with(&[("n", "10")]);
    let cases = [
        ("n = 10", true),
        ("n = 10.0", true),
        ("n = 1e1", true),
        ("n != 10", false),
        ("n != 9", true),
        ("n < 9", false),
        ("n < 10", false),
        ("n < 11", true),
        ("n <= 10", true),
        ("n <= 9.5", false),
        ("n > 9", true), // byte-wise "10" < "9", numerically 10 > 9
        ("n > 10", false),
        ("n >= 10", true),
        ("n >= 10.5", false),
    ];
    for (src, want) in cases {
        assert_eq!(eval(src, &num), want, "{src}");
    }
    let text = Meta::with(&[("s", "abc")]);
    let cases = [
        ("s = abc", true),
        ("s != abc", false),
        ("s != abd", true),
        ("s < abd", true),
        ("s < abc", false),
        ("s <= abc", true),
        ("s > ab", true),
        ("s > b", false),
        ("s >= abc", true),
        ("s >= abcd", false),
        ("s > 5", true), // one side not a number: byte-wise, 'a' > '5'
    ];
    for (src, want) in cases {
        assert_eq!(eval(src, &text), want, "{src}");
    }
}

#[test]
fn numeric_only_when_both_sides_are_finite_numbers() {
    let m = |v: &str| Meta::with(&[("v", v)]);
    assert!(eval("v > 9", &m("10")));
    assert!(!eval("v > 9", &m("10a"))); // byte-wise: "10a" < "9"
    assert!(eval("v = 1", &m("1.0")));
    assert!(eval("v = 1", &m("+1")));
    assert!(eval("v = 0", &m("-0")));
    assert!(eval("v = -3.5", &m("-3.50")));
    assert!(eval("v < 0.5", &m(".25")));
    assert!(eval("v = 1000", &m("1e3")));
    // Not finite or not a number: byte-wise.
    assert!(!eval("v = 1e400", &m("1e401")));
    assert!(eval("v = 1e400", &m("1e400")));
    assert!(eval("v > 5", &m("inf"))); // 'i' > '5'
    assert!(!eval("v = nan", &m("NaN")));
    assert!(!eval("v = 1", &m(" 1")));
    assert!(!eval("v = 1", &m("1 ")));
    assert!(!eval("v = 1", &m("")));
    assert!(eval("v = \"\"", &m("")));
    // The literal text is kept for byte-wise comparison: "1.50" != "1.5" as text.
    assert!(!eval("v = 1.50", &m("1.5x")));
    assert!(eval("v = \"1.50\"", &m("1.5"))); // a quoted number is still a number
    // Invalid UTF-8 in the attribute: compared byte-wise, never a number.
    let mut bad = Meta::with(&[]);
    bad.attrs.insert(b"v".to_vec(), vec![0xff, b'1']);
    assert!(eval("v > zzz", &bad));
    assert!(!eval("v = 1", &bad));
}

#[test]
fn integer_fast_path_agrees_with_the_general_parser() {
    let general = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite());
    for s in [
        "0",
        "-0",
        "+0",
        "7",
        "-7",
        "+7",
        "2020",
        "999999999999999",
        "-999999999999999",
        "1000000000000000",
        "9007199254740993",
        "12345678901234567890",
        "007",
        "-",
        "+",
        "",
        "--1",
        "+-1",
        "1-",
        "1.",
        ".5",
        "1e3",
    ] {
        let got = number(s.as_bytes());
        assert_eq!(got.map(f64::to_bits), general(s).map(f64::to_bits), "{s:?}");
    }
}

#[test]
fn missing_attribute_is_false_for_every_comparison() {
    let none = Meta::with(&[("other", "1")]);
    for op in ["=", "!=", "<", "<=", ">", ">="] {
        assert!(!eval(&format!("x {op} 1"), &none), "x {op} 1");
        assert!(!eval(&format!("x {op} abc"), &none), "x {op} abc");
        assert!(eval(&format!("not x {op} 1"), &none), "not x {op} 1");
    }
    assert!(!eval("x in (1, 2)", &none));
    assert!(eval("not x in (1, 2)", &none));
    assert!(!eval("has(x)", &none));
    assert!(eval("has(other)", &none));
    assert!(eval("not has(x)", &none));
}

#[test]
fn in_lists() {
    let m = Meta::with(&[("tag", "draft"), ("n", "2.0")]);
    assert!(eval("tag in (draft)", &m));
    assert!(eval("tag in (final, draft, review)", &m));
    assert!(!eval("tag in (final, review)", &m));
    assert!(eval("n in (1, 2)", &m)); // numeric equality
    assert!(eval("n in (x, \"2\")", &m));
    assert!(!eval("n in (x, 2.5)", &m));
    assert_eq!(canon("tag in(a,b ,  c)"), "tag in (a, b, c)");
    assert!(error("tag in ()").contains("expected a value in the 'in' list, found ')' at byte 8"));
    assert!(error("tag in (a,)").contains("expected a value in the 'in' list"));
    assert!(error("tag in (a b)").contains("expected ',' or ')' in the 'in' list, found 'b' at byte 10"));
    assert!(error("tag in a").contains("expected '(' after 'in'"));
    assert!(error("tag in (a").contains("found the end of the filter"));
}

#[test]
fn has() {
    let m = Meta::with(&[("hidden", ""), ("my key", "v")]);
    assert!(eval("has(hidden)", &m));
    assert!(eval("has ( hidden )", &m));
    assert!(eval("has(\"my key\")", &m));
    assert!(!eval("has(shown)", &m));
    assert!(eval("has(@name) and has(@size) and has(@mtime)", &m));
    assert_eq!(canon("has( \"my key\" )"), "has(\"my key\")");
    assert!(error("has hidden").contains("expected '(' after 'has'"));
    assert!(error("has()").contains("expected a key in 'has(...)', found ')'"));
    assert!(error("has(a b)").contains("expected ')' to close 'has(', found 'b' at byte 6"));
    assert!(error("has(@bogus)").contains("unknown pseudo-key '@bogus'"));
}

#[test]
fn quoting_and_escapes() {
    let m = Meta::with(&[
        ("q", "say \"hi\" \\ bye"),
        ("my key", "x y"),
        ("@name", "attr"),
        ("and", "or"),
    ]);
    assert!(eval(r#"q = "say \"hi\" \\ bye""#, &m));
    assert!(eval(r#""my key" = "x y""#, &m));
    assert!(eval(r#""@name" = attr"#, &m)); // a quoted key is always an attribute
    assert!(!eval(r#"@name = attr"#, &m));
    assert!(eval(r#""and" = "or""#, &m));
    assert!(eval("q != \"\"", &m));
    assert_eq!(canon(r#"q = "say \"hi\" \\ bye""#), r#"q = "say \"hi\" \\ bye""#);
    assert_eq!(canon(r#""and" = "or""#), r#""and" = "or""#);
    assert_eq!(canon(r#""plain" = "word""#), "plain = word");
    assert_eq!(canon(r#""@x" = "@x""#), r#""@x" = @x"#);
    assert_eq!(canon("k = \"line\nbreak\""), "k = \"line\nbreak\"");
    assert_eq!(canon("k = \"a(b)c,d=e<f>g!h\""), "k = \"a(b)c,d=e<f>g!h\"");
    assert_eq!(canon("k = \"tab\there\""), "k = \"tab\there\"");
    assert!(
        error(r#"q = "a\nb""#)
            .contains(r#"unknown escape '\n' in a string (only \" and \\ are escapes) at byte 6"#)
    );
    assert!(error(r#"q = "abc"#).contains("unterminated string starting at byte 4"));
    assert!(error(r#"q = "abc\"#).contains("unterminated string starting at byte 4"));
    assert!(error(r#""" = 1"#).contains("empty key at byte 0"));
}

#[test]
fn bare_words() {
    for v in [
        "en", "2020", "-3.5", "foo-bar", "a.b", "x_y:z", "café", "a/b", "@x", "*", "+1e-3", "AND", "a'b",
    ] {
        let src = format!("k = {v}");
        let m = Meta::with(&[("k", v)]);
        assert!(eval(&src, &m), "{src}");
        assert_eq!(canon(&src), src);
    }
    // Delimiters end a bare word, so no spaces are needed around operators.
    assert_eq!(
        canon("a=1 and b!=2 and c<3 and d<=4 and e>5 and f>=6"),
        "a = 1 and b != 2 and c < 3 and d <= 4 and e > 5 and f >= 6"
    );
    assert_eq!(canon("(a=1)or(b=2)"), "a = 1 or b = 2");
    // Any Unicode whitespace separates tokens.
    assert_eq!(canon("a\u{a0}=\t1\u{2003}and\nb = 2"), "a = 1 and b = 2");
    // Keywords are reserved where a key or value goes; quoted they are ordinary words.
    assert!(error("k = and").contains("expected a value after '=', found 'and' at byte 4"));
    assert!(error("in = 1").contains("expected a key, 'has', 'not' or '(', found 'in' at byte 0"));
    assert!(error("has = 1").contains("expected '(' after 'has'"));
}

#[test]
fn pseudo_keys() {
    let mut m = Meta::with(&[("name", "not-the-name")]);
    m.name = b"report-2020.txt".to_vec();
    m.size = 4096;
    m.mtime = 1_600_000_000;
    assert!(eval("@name = report-2020.txt", &m));
    assert!(!eval("@name = not-the-name", &m));
    assert!(eval("name = not-the-name", &m));
    assert!(eval("@name > report", &m));
    assert!(eval("@name in (a, report-2020.txt)", &m));
    assert!(eval(
        "@size = 4096 and @size > 4000 and @size < 1e4 and @size != 1",
        &m
    ));
    assert!(eval("@size in (1, 4096.0)", &m));
    assert!(eval("@mtime >= 1600000000 and @mtime < 1600000001", &m));
    m.mtime = -5;
    assert!(eval("@mtime = -5", &m));
    m.name = b"42".to_vec();
    assert!(eval("@name = 42.0", &m)); // a numeric name compares numerically
    // Pseudo-keys never look up attributes.
    m.lookups.set(0);
    assert!(eval("@name = 42 and @size > 0 and has(@mtime)", &m));
    assert_eq!(m.lookups.get(), 0);
    assert_eq!(
        parse("@name = x and @size > 1 and a = 1")
            .keys()
            .collect::<Vec<_>>(),
        [&b"a"[..]]
    );

    assert!(error("@owner = root").contains("unknown pseudo-key '@owner' (known: @name, @size, @mtime"));
    assert!(error("@NAME = x").contains("unknown pseudo-key"));
    assert!(
        error("@size > big")
            .contains("@size is a number and compares only with numbers, found 'big' at byte 8")
    );
    assert!(
        error("@mtime in (1, x)")
            .contains("@mtime is a number and compares only with numbers, found 'x' at byte 14")
    );
    assert!(error("@size = 1e400").contains("@size is a number"));
}

#[test]
fn keys_are_deduplicated_in_order_of_appearance() {
    let f = parse("b = 1 or a in (1) and not has(b) or \"c d\" = 2 or a > 3");
    assert_eq!(f.keys().collect::<Vec<_>>(), [&b"b"[..], b"a", b"c d"]);
}

#[test]
fn evaluation_short_circuits() {
    let m = Meta::with(&[("a", "1")]);
    assert!(!eval("b = 1 and a = 1 and c = 1", &m));
    assert_eq!(m.lookups.take(), 1);
    assert!(eval("a = 1 or b = 1 or c = 1", &m));
    assert_eq!(m.lookups.take(), 1);
    assert!(eval("(a = 1 or b = 1) and (a = 1 or c = 1)", &m));
    assert_eq!(m.lookups.take(), 2);
    assert!(eval("not (b = 1 and c = 1) or d = 1", &m));
    assert_eq!(m.lookups.take(), 1);
    // Threaded jumps: after `a = 1` is true, `(a or b) and (c or d)` goes straight to `c`.
    let f = parse("(a = 1 or b = 1) and (c = 1 or d = 1)");
    assert!(matches!(f.code[1], Insn::Jump { when: true, to: 4 }));
}

#[test]
fn error_messages_name_what_and_where() {
    assert_eq!(
        error("lang = en and (year >= ) and x = 1"),
        "filter: expected a value after '>=', found ')' at byte 23"
    );
    assert_eq!(error(""), "filter: empty expression");
    assert_eq!(error("   "), "filter: empty expression");
    assert_eq!(
        error("a"),
        "filter: expected an operator (=, !=, <, <=, >, >=, in) after the key 'a', found the end of the filter at byte 1"
    );
    assert_eq!(
        error("a = 1 b = 2"),
        "filter: expected 'and', 'or' or ')', found 'b' at byte 6"
    );
    assert_eq!(
        error("a = 1 AND b = 2"),
        "filter: expected 'and', 'or' or ')', found 'AND' (keywords are lowercase) at byte 6"
    );
    assert_eq!(
        error("a = 1 and"),
        "filter: expected a key, 'has', 'not' or '(', found the end of the filter at byte 9"
    );
    assert_eq!(error("a = 1)"), "filter: unmatched ')' at byte 5");
    assert_eq!(
        error("(a = 1"),
        "filter: '(' not closed by the end of the filter at byte 0"
    );
    assert_eq!(error("()"), "filter: empty parentheses at byte 1");
    // Every message names one position, once.
    for src in ["a", "(a = 1", "has(a b)", "((a = 1)", "a b"] {
        let msg = error(src);
        assert_eq!(msg.matches("at byte").count(), 1, "{msg}");
    }
    assert_eq!(
        error("a == 1"),
        "filter: expected a value after '=', found '=' (write '=', not '==') at byte 3"
    );
    assert_eq!(
        error("a ! 1"),
        "filter: expected '=' after '!' (write '!=', or 'not' to negate) at byte 2"
    );
    assert_eq!(
        error("a <> 1"),
        "filter: expected a value after '<', found '>' at byte 3"
    );
    assert_eq!(
        error("not"),
        "filter: expected a key, 'has', 'not' or '(', found the end of the filter at byte 3"
    );
    assert_eq!(
        error("a = 1 or or"),
        "filter: expected a key, 'has', 'not' or '(', found 'or' at byte 9"
    );
    assert_eq!(
        error(", = 1"),
        "filter: expected a key, 'has', 'not' or '(', found ',' at byte 0"
    );
    // Offsets are bytes, not characters.
    assert_eq!(
        error("é = )"),
        "filter: expected a value after '=', found ')' at byte 5"
    );
    // Long or multi-line tokens are quoted short and on one line.
    let long = format!("a = 1 {}", "x".repeat(1000));
    assert!(error(&long).len() < 200);
    assert!(error("a = 1 \"x\ny\"").contains(r#"found "x\ny""#));
}

/// `n` nested parentheses around one comparison.
fn parens(n: usize) -> String {
    format!("{}a = 1{}", "(".repeat(n), ")".repeat(n))
}

#[test]
fn nesting_limit() {
    assert_eq!(FILTER_DEPTH_MAX, 16);
    assert!(Filter::parse(&parens(FILTER_DEPTH_MAX)).is_ok());
    assert!(
        error(&parens(FILTER_DEPTH_MAX + 1))
            .contains("nesting deeper than 16 (parentheses and 'not' count) at byte 16")
    );
    let nots = |n: usize| format!("{}a = 1", "not ".repeat(n));
    assert!(Filter::parse(&nots(FILTER_DEPTH_MAX)).is_ok());
    assert!(error(&nots(FILTER_DEPTH_MAX + 1)).contains("nesting deeper than 16"));
    // Mixed: each `not (` opens two levels.
    let mixed = |n: usize| format!("{}a = 1{}", "not (".repeat(n), ")".repeat(n));
    assert!(Filter::parse(&mixed(FILTER_DEPTH_MAX / 2)).is_ok());
    assert!(error(&format!("not {}", mixed(FILTER_DEPTH_MAX / 2))).contains("nesting deeper"));
    // Depth is the nesting at one point, not the total: many shallow groups are fine.
    let wide = vec![parens(FILTER_DEPTH_MAX); 8].join(" or ");
    assert!(Filter::parse(&wide).is_ok());
    // A `not` stops counting once its operand ends.
    let sequential = vec![format!("not {}", parens(FILTER_DEPTH_MAX - 1)); 4].join(" and ");
    assert!(Filter::parse(&sequential).is_ok());
}

#[test]
fn canonical_form_of_deepest_filter_round_trips() {
    // The deepest filter of each shape: canonical printing never nests deeper than the source.
    let mut src = "x = 1".to_string();
    for i in 0..FILTER_DEPTH_MAX {
        src = if i % 2 == 0 {
            format!("k{i} = 1 and ({src} or y = 2)")
        } else {
            format!("k{i} = 1 or ({src} and y = 2)")
        };
    }
    canon(&src);
    let mut src = "x = 1".to_string();
    for i in 0..FILTER_DEPTH_MAX / 2 {
        src = format!("not (k{i} = 1 and {src})");
    }
    canon(&src);
}

#[test]
fn term_limit() {
    assert_eq!(FILTER_TERMS_MAX, 256);
    // n comparisons joined by `and` count 2n - 1 terms.
    let chain = |n: usize| {
        (0..n)
            .map(|i| format!("k{i} = {i}"))
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let at_limit = format!("not {}", chain(FILTER_TERMS_MAX / 2)); // 1 + 128 + 127 = 256
    let f = parse(&at_limit);
    assert_eq!(f.terms.len(), FILTER_TERMS_MAX / 2);
    assert_eq!(parse(&f.to_string()), f);
    let over = format!("not not {}", chain(FILTER_TERMS_MAX / 2));
    assert!(error(&over).contains("more than 256 terms (comparisons, has, in and operators) at byte"));
    // Pure comparisons joined by `or`, just over.
    let or_chain = (0..=FILTER_TERMS_MAX / 2)
        .map(|i| format!("has(k{i})"))
        .collect::<Vec<_>>()
        .join(" or ");
    assert!(error(&or_chain).contains("more than 256 terms"));
}

#[test]
fn in_values_limit() {
    assert_eq!(FILTER_IN_VALUES_MAX, 256);
    let list = |n: usize| {
        format!(
            "k in ({})",
            (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    let f = parse(&list(FILTER_IN_VALUES_MAX));
    assert!(f.eval(&Meta::with(&[("k", "255")])));
    assert!(!f.eval(&Meta::with(&[("k", "256")])));
    assert_eq!(parse(&f.to_string()), f);
    assert!(error(&list(FILTER_IN_VALUES_MAX + 1)).contains("more than 256 values in an 'in' list at byte"));
}

#[test]
fn key_length_limit() {
    let ok = "k".repeat(KEY_LEN_MAX);
    assert!(Filter::parse(&format!("{ok} = 1")).is_ok());
    assert!(error(&format!("{ok}k = 1")).contains("key longer than 250 bytes"));
    assert!(error(&format!("has(\"{ok}k\")")).contains("key longer than 250 bytes"));
}

#[test]
fn adversarial_inputs_fail_cleanly() {
    let opens = "(".repeat(100_000);
    assert!(
        error(&opens).contains("nesting deeper than 16 at byte 16")
            || error(&opens).contains("nesting deeper")
    );
    assert!(error(&"not ".repeat(100_000)).contains("nesting deeper"));
    assert!(error(&")".repeat(100_000)).contains("found ')' at byte 0"));
    // A 1 MiB filter: stops at the term limit, long before the end.
    let mut big = String::new();
    while big.len() < 1 << 20 {
        big.push_str("a = 1 and ");
    }
    big.push_str("a = 1");
    assert!(error(&big).contains("more than 256 terms"));
    // A 1 MiB quoted value, an unterminated one, and a 1 MiB bare word parse or fail normally.
    let value = "v".repeat(1 << 20);
    assert!(parse(&format!("a = \"{value}\"")).eval(&Meta::with(&[("a", &value)])));
    assert!(error(&format!("a = \"{value}")).contains("unterminated string starting at byte 4"));
    assert!(parse(&format!("a = {value}")).eval(&Meta::with(&[("a", &value)])));
    assert!(error(&value).contains("key longer than 250 bytes"));
    let msg = error(&value[..200]);
    assert!(
        msg.contains("after the key 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv...', found the end"),
        "{msg}"
    );
    // Control characters and NULs are ordinary word characters.
    assert!(parse("a = \u{0}\u{1}").eval(&Meta::with(&[("a", "\u{0}\u{1}")])));
}

#[test]
fn parse_and_eval_fit_a_small_stack() {
    // Nothing recurses: the deepest and largest legal filters parse, print and evaluate in a
    // thread with a small stack (debug-build frames are several times release ones).
    let handle = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let mut src = "x = 1".to_string();
            for i in 0..FILTER_DEPTH_MAX {
                src = format!("k{i} = 1 and ({src} or y = 2)");
            }
            let f = parse(&src);
            let _ = f.eval(&Meta::with(&[("x", "1")]));
            assert_eq!(parse(&f.to_string()), f);
            let _ = Filter::parse(&"(".repeat(100_000));
            let _ = Filter::parse(&"a = 1 or ".repeat(100_000));
        })
        .unwrap();
    handle.join().unwrap();
}

mod properties;
