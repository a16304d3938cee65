//! Property tests of the filter language against a recursive reference evaluator: random
//! expressions are rendered (minimally or fully parenthesised), parsed, printed canonically,
//! parsed again, and evaluated against the reference on random files; random text never panics.

use std::cell::Cell;

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum TKey {
    Attr(String),
    Name,
    Size,
    Mtime,
}

#[derive(Debug, Clone)]
enum Ast {
    Cmp(TKey, CmpOp, String),
    In(TKey, Vec<String>),
    Has(TKey),
    Not(Box<Ast>),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
}

const ATTR_KEYS: &[&str] = &["lang", "year", "tag", "my key", "in", "@x", "q\"k", "b\\s", "é"];
const VALUES: &[&str] = &[
    "en",
    "fr",
    "2020",
    "2019.5",
    "-3",
    "1e3",
    "1000",
    "1.0",
    "1",
    "-0",
    "0",
    "",
    "a b",
    "and",
    "x\"y",
    "back\\slash",
    "9a",
    "1e400",
    "inf",
    "NaN",
    "(",
    "@name",
    "=",
    "é",
];
const NUMBERS: &[&str] = &["0", "5", "10", "1e3", "-3", "4096", "1000.0"];

fn key() -> impl Strategy<Value = TKey> {
    prop_oneof![
        6 => prop::sample::select(ATTR_KEYS).prop_map(|k| TKey::Attr(k.to_string())),
        1 => Just(TKey::Name),
        1 => Just(TKey::Size),
        1 => Just(TKey::Mtime),
    ]
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(&[CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge][..])
}

/// A value for `key`: numeric keys get numbers.
fn fit(key: &TKey, v: &str, i: usize) -> String {
    match key {
        TKey::Size | TKey::Mtime if number(v.as_bytes()).is_none() => NUMBERS[i % NUMBERS.len()].to_string(),
        _ => v.to_string(),
    }
}

fn ast() -> impl Strategy<Value = Ast> {
    let leaf = prop_oneof![
        (key(), op(), prop::sample::select(VALUES), any::<usize>()).prop_map(|(k, op, v, i)| {
            let v = fit(&k, v, i);
            Ast::Cmp(k, op, v)
        }),
        (
            key(),
            prop::collection::vec(prop::sample::select(VALUES), 1..4),
            any::<usize>()
        )
            .prop_map(|(k, vs, i)| {
                let vs = vs.iter().map(|v| fit(&k, v, i)).collect();
                Ast::In(k, vs)
            }),
        key().prop_map(Ast::Has),
    ];
    leaf.prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Ast::Not(Box::new(a))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Ast::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Ast::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn render_word(out: &mut String, w: &str, is_key: bool) {
    super::print::write_word(out, w, is_key);
}

fn render_key(out: &mut String, k: &TKey) {
    match k {
        TKey::Attr(a) => render_word(out, a, true),
        TKey::Name => out.push_str("@name"),
        TKey::Size => out.push_str("@size"),
        TKey::Mtime => out.push_str("@mtime"),
    }
}

/// Source text for `a`: with every compound operand parenthesised (`full`), or with only the
/// parentheses precedence and associativity require.
fn render(a: &Ast, full: bool, out: &mut String) {
    let compound = |a: &Ast| matches!(a, Ast::And(..) | Ast::Or(..));
    let group = |a: &Ast, paren: bool, out: &mut String| {
        if paren {
            out.push('(');
            render(a, full, out);
            out.push(')');
        } else {
            render(a, full, out);
        }
    };
    match a {
        Ast::Cmp(k, op, v) => {
            render_key(out, k);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            render_word(out, v, false);
        }
        Ast::In(k, vs) => {
            render_key(out, k);
            out.push_str(" in (");
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_word(out, v, false);
            }
            out.push(')');
        }
        Ast::Has(k) => {
            out.push_str("has(");
            render_key(out, k);
            out.push(')');
        }
        Ast::Not(x) => {
            out.push_str("not ");
            group(x, compound(x), out);
        }
        Ast::And(l, r) => {
            group(l, full && compound(l) || matches!(**l, Ast::Or(..)), out);
            out.push_str(" and ");
            group(r, full && compound(r) || compound(r), out);
        }
        Ast::Or(l, r) => {
            group(l, full && compound(l), out);
            out.push_str(" or ");
            group(r, full && compound(r) || matches!(**r, Ast::Or(..)), out);
        }
    }
}

fn ref_number(b: &[u8]) -> Option<f64> {
    std::str::from_utf8(b)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
}

fn ref_subject(k: &TKey, m: &Meta) -> Option<Vec<u8>> {
    match k {
        TKey::Attr(a) => m.attrs.get(a.as_bytes()).cloned(),
        TKey::Name => Some(m.name.clone()),
        TKey::Size => Some(m.size.to_string().into_bytes()),
        TKey::Mtime => Some(m.mtime.to_string().into_bytes()),
    }
}

fn ref_cmp(subject: &[u8], v: &str) -> Ordering {
    match (ref_number(subject), ref_number(v.as_bytes())) {
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap(),
        _ => subject.cmp(v.as_bytes()),
    }
}

fn reference(a: &Ast, m: &Meta) -> bool {
    match a {
        Ast::Cmp(k, op, v) => ref_subject(k, m).is_some_and(|s| op.holds(ref_cmp(&s, v))),
        Ast::In(k, vs) => {
            ref_subject(k, m).is_some_and(|s| vs.iter().any(|v| ref_cmp(&s, v) == Ordering::Equal))
        }
        Ast::Has(k) => ref_subject(k, m).is_some(),
        Ast::Not(x) => !reference(x, m),
        Ast::And(l, r) => reference(l, m) && reference(r, m),
        Ast::Or(l, r) => reference(l, m) || reference(r, m),
    }
}

fn ref_keys(a: &Ast, out: &mut Vec<Vec<u8>>) {
    match a {
        Ast::Cmp(TKey::Attr(k), ..) | Ast::In(TKey::Attr(k), _) | Ast::Has(TKey::Attr(k))
            if !out.contains(&k.as_bytes().to_vec()) =>
        {
            out.push(k.as_bytes().to_vec());
        }
        Ast::Not(x) => ref_keys(x, out),
        Ast::And(l, r) | Ast::Or(l, r) => {
            ref_keys(l, out);
            ref_keys(r, out);
        }
        _ => {}
    }
}

fn meta() -> impl Strategy<Value = Meta> {
    (
        prop::collection::btree_map(
            prop::sample::select(ATTR_KEYS),
            prop::sample::select(VALUES),
            0..6,
        ),
        prop::sample::select(VALUES),
        prop::sample::select(&[0u64, 5, 10, 1000, 4096][..]),
        prop::sample::select(&[-3i64, 0, 5, 1000, 4096][..]),
    )
        .prop_map(|(attrs, name, size, mtime)| Meta {
            attrs: attrs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
            name: name.as_bytes().to_vec(),
            size,
            mtime,
            lookups: Cell::new(0),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn display_parses_back_and_eval_matches_reference(
        a in ast(),
        full in any::<bool>(),
        metas in prop::collection::vec(meta(), 8),
    ) {
        let mut src = String::new();
        render(&a, full, &mut src);
        let f = Filter::parse(&src).map_err(|e| TestCaseError::fail(format!("{src:?}: {e}")))?;
        let canonical = f.to_string();
        let g = Filter::parse(&canonical).map_err(|e| TestCaseError::fail(format!("{canonical:?}: {e}")))?;
        prop_assert_eq!(&g, &f, "{} -> {}", src, canonical);
        prop_assert_eq!(g.to_string(), canonical.clone());
        for m in &metas {
            prop_assert_eq!(f.eval(m), reference(&a, m), "{} on {:?}", canonical, m);
        }
        let mut keys = Vec::new();
        ref_keys(&a, &mut keys);
        prop_assert_eq!(f.keys().map(<[u8]>::to_vec).collect::<Vec<_>>(), keys);
    }

    #[test]
    fn arbitrary_text_never_panics_and_valid_text_round_trips(
        src in "[a-c1 ()=!<>,\"\\\\@]{0,40}|((not |\\(|\\)|a|b|=|1|and |or |in |has|,|\"|@size| )){0,30}",
    ) {
        if let Ok(f) = Filter::parse(&src) {
            let canonical = f.to_string();
            prop_assert_eq!(Filter::parse(&canonical).ok(), Some(f));
        }
    }
}
