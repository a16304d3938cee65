//! Tests of the JSON query: one test per validation rule, adversarial inputs, and the
//! `to_json` -> `parse_query` round trip.

use proptest::prelude::*;

use super::*;
use crate::limits::BATCH_QUERIES_MAX;

fn ok(json: &str) -> Query {
    parse_query(json.as_bytes()).unwrap_or_else(|e| panic!("{json} should parse: {e}"))
}

/// The message for `json`, which must be rejected; messages are one line.
fn bad(json: impl AsRef<[u8]>) -> String {
    match parse_query(json.as_ref()) {
        Ok(q) => panic!("should be rejected, got {q:?}"),
        Err(Error::Query(msg)) => {
            assert!(!msg.contains(['\n', '\r']), "{msg:?}");
            assert!(msg.chars().count() <= MESSAGE_CHARS_MAX + 3, "{msg}");
            msg.into()
        }
        Err(e) => panic!("wrong error kind {e:?}"),
    }
}

#[test]
fn minimal_query_gets_defaults() {
    let q = ok(r#"{"dir":"/docs","vector":[1, -2.5, 3e2]}"#);
    assert_eq!(
        q,
        Query {
            dir: "/docs".into(),
            target: Target::Values(vec![1.0, -2.5, 300.0]),
            k: K_DEFAULT,
            ef: None,
            filter: None,
            exact: false,
            max_distance: None,
            include: Include::default(),
        }
    );
    assert_eq!(q, Query::new("/docs", Target::Values(vec![1.0, -2.5, 300.0])));
}

#[test]
fn every_field() {
    let q = ok(
        r#" { "exact": true, "filter": "lang = en", "ef": 64, "k": 5, "like": "/docs/a.txt", "dir": "/docs" } "#,
    );
    assert_eq!(q.dir, "/docs");
    assert_eq!(q.target, Target::Like("/docs/a.txt".into()));
    assert_eq!((q.k, q.ef, q.exact), (5, Some(64), true));
    assert_eq!(q.filter, Some(Filter::parse("lang = en").unwrap()));
    let q = ok(r#"{"dir":"/","vector_b64":"AACAPw=="}"#);
    assert_eq!(q.target, Target::Bytes(1.0f32.to_le_bytes().to_vec()));
}

#[test]
fn null_is_absent() {
    let q = ok(r#"{"dir":"/d","vector":null,"like":"/d/x","k":null,"ef":null,"filter":null,"exact":null}"#);
    assert_eq!(q, Query::new("/d", Target::Like("/d/x".into())));
}

#[test]
fn dir_is_required() {
    assert_eq!(bad(r#"{"vector":[1]}"#), "dir is required");
    assert_eq!(bad(r#"{"dir":null,"vector":[1]}"#), "dir is required");
}

#[test]
fn dir_must_be_a_string() {
    assert_eq!(
        bad(r#"{"dir":5,"vector":[1]}"#),
        "dir must be a string, not a number"
    );
    assert_eq!(
        bad(r#"{"dir":["/a"],"vector":[1]}"#),
        "dir must be a string, not an array of strings"
    );
}

#[test]
fn dir_must_be_absolute() {
    assert_eq!(
        bad(r#"{"dir":"docs","vector":[1]}"#),
        "dir must be an absolute path (starting with '/')"
    );
    assert_eq!(
        bad(r#"{"dir":"","vector":[1]}"#),
        "dir must be an absolute path (starting with '/')"
    );
}

#[test]
fn dir_length_and_nul() {
    let long = format!("/{}", "a".repeat(PATH_LEN_MAX));
    assert_eq!(
        bad(format!(r#"{{"dir":"{long}","vector":[1]}}"#)),
        "dir is longer than 4096 bytes"
    );
    assert!(parse_query(format!(r#"{{"dir":"{}","vector":[1]}}"#, &long[..PATH_LEN_MAX]).as_bytes()).is_ok());
    assert_eq!(
        bad(r#"{"dir":"/a\u0000b","vector":[1]}"#),
        "dir must not contain a NUL character"
    );
}

#[test]
fn exactly_one_target() {
    let msg = "give exactly one of vector, vector_b64, like";
    assert_eq!(bad(r#"{"dir":"/d"}"#), msg);
    assert_eq!(bad(r#"{"dir":"/d","vector":[1],"like":"/d/a"}"#), msg);
    assert_eq!(bad(r#"{"dir":"/d","vector":[1],"vector_b64":"AAAAAA=="}"#), msg);
    assert_eq!(bad(r#"{"dir":"/d","vector_b64":"AAAAAA==","like":"/d/a"}"#), msg);
    assert_eq!(
        bad(r#"{"dir":"/d","vector":[1],"vector_b64":"AAAAAA==","like":"/d/a"}"#),
        msg
    );
}

#[test]
fn vector_must_be_a_nonempty_array_of_numbers() {
    assert_eq!(
        bad(r#"{"dir":"/d","vector":"1,2"}"#),
        "vector must be an array of numbers, not a string"
    );
    assert_eq!(
        bad(r#"{"dir":"/d","vector":1}"#),
        "vector must be an array of numbers, not a number"
    );
    assert_eq!(bad(r#"{"dir":"/d","vector":[]}"#), "vector must not be empty");
    assert!(
        bad(r#"{"dir":"/d","vector":[1,"2"]}"#)
            .contains("an array mixes numbers and strings at line 1 column 28")
    );
    assert!(
        bad(r#"{"dir":"/d","vector":[1,true]}"#)
            .contains("invalid type: boolean `true`, expected a number or a string")
    );
    assert!(bad(r#"{"dir":"/d","vector":[[1]]}"#).contains("invalid type: sequence, expected a number"));
    assert!(bad(r#"{"dir":"/d","vector":[1,null]}"#).contains("invalid type: null, expected a number"));
    assert!(bad(r#"{"dir":"/d","vector":{"a":1}}"#).contains("invalid type: map"));
    assert!(bad(r#"{"dir":"/d","vector":[1e400]}"#).contains("number out of range"));
    assert!(bad(r#"{"dir":"/d","vector":[NaN]}"#).contains("expected value"));
}

#[test]
fn vector_length_is_capped() {
    let values = |n: usize| vec!["0"; n].join(",");
    let q = ok(&format!(
        r#"{{"dir":"/d","vector":[{}]}}"#,
        values(VECTOR_VALUES_MAX)
    ));
    assert!(matches!(q.target, Target::Values(v) if v.len() == VECTOR_VALUES_MAX));
    assert!(
        bad(format!(
            r#"{{"dir":"/d","vector":[{}]}}"#,
            values(VECTOR_VALUES_MAX + 1)
        ))
        .contains("an array has more than 65536 values")
    );
}

#[test]
fn vector_b64_must_be_standard_padded_base64() {
    assert_eq!(
        ok(r#"{"dir":"/d","vector_b64":"AQID"}"#).target,
        Target::Bytes(vec![1, 2, 3])
    );
    assert_eq!(
        ok(r#"{"dir":"/d","vector_b64":"+/8="}"#).target,
        Target::Bytes(vec![0xfb, 0xff])
    );
    assert!(
        bad(r#"{"dir":"/d","vector_b64":"AQI"}"#).starts_with("vector_b64 is not standard padded base64: ")
    );
    assert!(
        bad(r#"{"dir":"/d","vector_b64":"-_8="}"#).starts_with("vector_b64 is not standard padded base64: ")
    );
    assert!(
        bad(r#"{"dir":"/d","vector_b64":"AQ ID"}"#).starts_with("vector_b64 is not standard padded base64: ")
    );
    assert_eq!(
        bad(r#"{"dir":"/d","vector_b64":""}"#),
        "vector_b64 must not be empty"
    );
    assert_eq!(
        bad(r#"{"dir":"/d","vector_b64":[1]}"#),
        "vector_b64 must be a string, not an array"
    );
    let max = "A".repeat(VECTOR_BYTES_MAX.div_ceil(3) * 4);
    assert!(parse_query(format!(r#"{{"dir":"/d","vector_b64":"{max}"}}"#).as_bytes()).is_ok());
    assert_eq!(
        bad(format!(r#"{{"dir":"/d","vector_b64":"{max}AAAA"}}"#)),
        "vector_b64 is longer than the largest vector (16384 bytes)"
    );
}

#[test]
fn like_must_be_an_absolute_path() {
    assert_eq!(
        bad(r#"{"dir":"/d","like":"a.txt"}"#),
        "like must be an absolute path (starting with '/')"
    );
    assert_eq!(
        bad(r#"{"dir":"/d","like":true}"#),
        "like must be a string, not a boolean"
    );
    assert_eq!(
        bad(r#"{"dir":"/d","like":"/a\u0000"}"#),
        "like must not contain a NUL character"
    );
}

#[test]
fn k_range() {
    let q = |k: &str| parse_query(format!(r#"{{"dir":"/d","vector":[1],"k":{k}}}"#).as_bytes());
    assert_eq!(q("1").unwrap().k, 1);
    assert_eq!(q("1000").unwrap().k, K_MAX);
    assert_eq!(q("1e3").unwrap().k, 1000);
    assert_eq!(q("7.0").unwrap().k, 7);
    for k in ["0", "1001", "-1", "4294967297", "1e30", "-0"] {
        assert_eq!(
            q(k).unwrap_err(),
            Error::query("k must be between 1 and 1000"),
            "k = {k}"
        );
    }
    assert_eq!(
        q("2.5").unwrap_err(),
        Error::query("k must be an integer, not 2.5")
    );
    assert_eq!(
        q("\"10\"").unwrap_err(),
        Error::query("k must be an integer between 1 and 1000, not a string")
    );
}

#[test]
fn ef_range() {
    let q = |ef: &str| parse_query(format!(r#"{{"dir":"/d","vector":[1],"ef":{ef}}}"#).as_bytes());
    assert_eq!(q("1").unwrap().ef, Some(1));
    assert_eq!(q("4096").unwrap().ef, Some(EF_MAX));
    assert_eq!(q("0").unwrap_err(), Error::query("ef must be between 1 and 4096"));
    assert_eq!(
        q("4097").unwrap_err(),
        Error::query("ef must be between 1 and 4096")
    );
    assert_eq!(
        q("true").unwrap_err(),
        Error::query("ef must be an integer between 1 and 4096, not a boolean")
    );
}

#[test]
fn filter_must_be_a_valid_filter_string() {
    assert_eq!(
        bad(r#"{"dir":"/d","vector":[1],"filter":1}"#),
        "filter must be a string, not a number"
    );
    assert_eq!(
        bad(r#"{"dir":"/d","vector":[1],"filter":"year >= "}"#),
        "filter: expected a value after '>=', found the end of the filter at byte 8"
    );
    assert_eq!(
        bad(r#"{"dir":"/d","vector":[1],"filter":""}"#),
        "filter: empty expression"
    );
}

#[test]
fn exact_must_be_a_boolean() {
    assert!(!ok(r#"{"dir":"/d","vector":[1],"exact":false}"#).exact);
    assert_eq!(
        bad(r#"{"dir":"/d","vector":[1],"exact":1}"#),
        "exact must be true or false, not a number"
    );
    assert_eq!(
        bad(r#"{"dir":"/d","vector":[1],"exact":"true"}"#),
        "exact must be true or false, not a string"
    );
}

#[test]
fn unknown_and_duplicate_fields() {
    let msg = bad(r#"{"dir":"/d","vector":[1],"kk":3}"#);
    assert!(
        msg.starts_with("query is not a valid query object: unknown field `kk`, expected one of `dir`"),
        "{msg}"
    );
    assert!(msg.ends_with("at line 1 column 29"), "{msg}");
    assert!(bad(r#"{"dir":"/d","dir":"/e","vector":[1]}"#).contains("duplicate field `dir`"));
    // A field name with a newline still gives a one-line message.
    assert!(bad("{\"a\\nb\":1}").contains(r"unknown field `a\nb`"));
}

#[test]
fn not_a_json_object() {
    assert_eq!(bad(""), "query is empty: expected a JSON object");
    assert_eq!(bad(" \n "), "query is empty: expected a JSON object");
    assert_eq!(bad(r#"["/d",[1]]"#), "query must be a JSON object");
    assert_eq!(bad("null"), "query must be a JSON object");
    assert_eq!(bad("dir=/d"), "query must be a JSON object");
    assert!(bad("{").contains("EOF while parsing an object at line 1 column 1"));
    assert!(bad(r#"{"dir":"/d","vector":[1]"#).contains("EOF while parsing"));
    assert!(bad(r#"{"dir":"/d" "vector":[1]}"#).contains("expected `,` or `}` at line 1 column 13"));
    assert!(bad(r#"{dir:"/d"}"#).contains("key must be a string"));
}

#[test]
fn trailing_garbage() {
    assert!(bad(r#"{"dir":"/d","vector":[1]} x"#).contains("trailing characters at line 1 column 27"));
    assert!(bad(r#"{"dir":"/d","vector":[1]}{}"#).contains("trailing characters"));
    // Trailing whitespace (a newline from `echo`) is fine.
    assert!(parse_query(b"{\"dir\":\"/d\",\"vector\":[1]}\n").is_ok());
}

#[test]
fn invalid_utf8() {
    assert_eq!(
        bad(b"{\"dir\":\"/d\xff\",\"vector\":[1]}"),
        "query is not UTF-8 (byte 10)"
    );
    assert_eq!(bad(b"\xef\xbb"), "query is not UTF-8 (byte 0)");
}

#[test]
fn query_length_limit() {
    let pad = |total: usize| {
        let head = br#"{"dir":"/d","vector":[1]}"#;
        let mut q = head.to_vec();
        q.resize(total, b' ');
        q
    };
    assert!(parse_query(&pad(QUERY_LEN_MAX)).is_ok());
    assert_eq!(bad(pad(QUERY_LEN_MAX + 1)), "query is longer than 1048576 bytes");
    // Rejected before being looked at: not even UTF-8 matters.
    assert_eq!(bad(vec![0xff; 10 << 20]), "query is longer than 1048576 bytes");
}

#[test]
fn deep_nesting_fails_fast() {
    let deep = |prefix: &str| {
        let mut q = prefix.as_bytes().to_vec();
        q.resize(prefix.len() + 100_000, b'[');
        q
    };
    for prefix in [
        r#"{"dir":"/d","vector":"#,
        r#"{"dir":"#,
        r#"{"dir":"/d","vector":[1],"k":"#,
        r#"{"dir":"/d","vector":[1],"unknown":"#,
        r#"{"dir":"/d","vector":[1],"filter":"#,
    ] {
        let msg = bad(deep(prefix));
        assert!(
            msg.contains("expected") || msg.contains("unknown field"),
            "{prefix}: {msg}"
        );
    }
    assert!(bad(format!(r#"{{"dir":"/d","k":{}"#, "{\"a\":".repeat(100_000))).contains("invalid type: map"));
    assert!(bad("{".repeat(100_000)).contains("key must be a string"));
}

#[test]
fn adversarial_input_fits_a_small_stack() {
    // No recursion past two JSON levels: hostile queries parse in a thread with a small stack
    // (debug-build frames are several times release ones).
    let handle = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            for q in [
                format!(r#"{{"dir":"/d","vector":{}"#, "[".repeat(100_000)),
                format!(r#"{{"dir":"/d","vector":[1],"bogus":{}"#, "[".repeat(100_000)),
                format!(r#"{{"dir":"/d","vector":[1],"k":{}"#, "{\"a\":".repeat(100_000)),
                format!(
                    r#"{{"dir":"/d","vector":[1],"filter":"{}"}}"#,
                    "(".repeat(100_000)
                ),
            ] {
                assert!(parse_query(q.as_bytes()).is_err());
            }
            let q = format!(
                r#"{{"dir":"/d","vector":[{}],"filter":"a = 1"}}"#,
                vec!["0.5"; 4096].join(",")
            );
            assert!(parse_query(q.as_bytes()).is_ok());
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn to_json_format() {
    let mut q = Query::new("/docs", Target::Values(vec![1.0, -0.5, 1e-7, 3e20, 0.0, -0.0]));
    assert_eq!(
        q.to_json(),
        r#"{"dir":"/docs","vector":[1,-0.5,1e-7,3e20,0,-0.0],"k":10}"#
    );
    q.target = Target::Bytes(vec![0, 0, 128, 63]);
    q.k = 3;
    q.ef = Some(50);
    q.filter = Some(Filter::parse(r#"tag in (a,"b c") and not has(x)"#).unwrap());
    q.exact = true;
    assert_eq!(
        q.to_json(),
        r#"{"dir":"/docs","vector_b64":"AACAPw==","k":3,"ef":50,"filter":"tag in (a, \"b c\") and not has(x)","exact":true}"#
    );
    q.target = Target::Like("/docs/\"q\"\\\n\u{1}é".into());
    assert!(q.to_json().contains(r#""like":"/docs/\"q\"\\\n\u0001é""#));
    assert_eq!(parse_query(q.to_json().as_bytes()).unwrap(), q);
    // A value no valid query holds is written as null, which is rejected.
    q.target = Target::Values(vec![f64::NAN]);
    assert!(parse_query(q.to_json().as_bytes()).is_err());
}

/// A value as a user would type it: up to 15 significant digits, magnitude within 1e-22..1e22.
fn typed_value() -> impl Strategy<Value = f64> {
    (-999_999_999_999_999i64..=999_999_999_999_999, -22i32..=7)
        .prop_map(|(m, e)| format!("{m}e{e}").parse::<f64>().unwrap())
}

fn path() -> impl Strategy<Value = String> {
    "(/[a-zA-Z0-9 ._\"\\\\é\n-]{1,8}){1,3}|/"
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        prop::collection::vec(typed_value(), 1..20).prop_map(Target::Values),
        prop::collection::vec(any::<u8>(), 1..40).prop_map(Target::Bytes),
        path().prop_map(Target::Like),
    ]
}

const FILTERS: &[&str] = &[
    "lang = en",
    "lang = en and (year >= 2020 or tag in (draft, review)) and not has(hidden)",
    r#""my \"key\"" != "a\\b""#,
    "@size > 1e3 or @name = \"x y\"",
];

const INCLUDES: [&str; 7] = [
    "metadata",
    "vector",
    "vector_b64",
    "size",
    "mtime",
    "metadata.lang",
    "metadata.b",
];

#[test]
fn max_distance_is_a_finite_number() {
    assert_eq!(
        ok(r#"{"dir":"/d","vector":[1],"max_distance":0.5}"#).max_distance,
        Some(0.5)
    );
    assert_eq!(
        ok(r#"{"dir":"/d","vector":[1],"max_distance":0}"#).max_distance,
        Some(0.0)
    );
    // Negative is the engine's call (it depends on the metric).
    assert_eq!(
        ok(r#"{"dir":"/d","vector":[1],"max_distance":-2}"#).max_distance,
        Some(-2.0)
    );
    assert_eq!(
        ok(r#"{"dir":"/d","vector":[1],"max_distance":null}"#).max_distance,
        None
    );
    for v in [r#""1""#, "true", "[1]", r#"["a"]"#] {
        let m = bad(format!(r#"{{"dir":"/d","vector":[1],"max_distance":{v}}}"#));
        assert!(m.contains("max_distance must be a number"), "{v}: {m}");
    }
    // JSON has no NaN or infinity; a number too large for a double is refused by the parser.
    for v in ["NaN", "Infinity", "1e999"] {
        bad(format!(r#"{{"dir":"/d","vector":[1],"max_distance":{v}}}"#));
    }
}

#[test]
fn include_names_known_fields() {
    let q = ok(r#"{"dir":"/d","vector":[1],"include":["metadata","vector","vector_b64","size","mtime"]}"#);
    assert_eq!(
        q.include,
        Include {
            metadata: Attrs::All,
            vector: true,
            vector_b64: true,
            size: true,
            mtime: true
        }
    );
    let q =
        ok(r#"{"dir":"/d","vector":[1],"include":["metadata.lang","size","metadata.year","metadata.lang"]}"#);
    assert_eq!(
        q.include.metadata,
        Attrs::Named(vec!["lang".into(), "year".into()])
    );
    assert!(q.include.size && !q.include.vector);
    assert_eq!(
        ok(r#"{"dir":"/d","vector":[1],"include":"mtime"}"#)
            .include
            .names(),
        ["mtime"]
    );
    assert!(ok(r#"{"dir":"/d","vector":[1],"include":[]}"#).include.is_empty());
    assert!(bad(r#"{"dir":"/d","vector":[1],"include":["embeddings"]}"#).contains("\"embeddings\""));
    assert!(bad(r#"{"dir":"/d","vector":[1],"include":["metadata","metadata.a"]}"#).contains("not both"));
    assert!(bad(r#"{"dir":"/d","vector":[1],"include":["metadata.a","metadata"]}"#).contains("not both"));
    assert!(bad(r#"{"dir":"/d","vector":[1],"include":["metadata."]}"#).contains("needs a key"));
    assert!(bad(r#"{"dir":"/d","vector":[1],"include":["metadata.vexfs.vector"]}"#).contains("not metadata"));
    let long = format!(
        r#"{{"dir":"/d","vector":[1],"include":["metadata.{}"]}}"#,
        "k".repeat(251)
    );
    assert!(bad(long).contains("longer"));
    assert!(bad(r#"{"dir":"/d","vector":[1],"include":[1]}"#).contains("array of strings"));
    assert!(bad(r#"{"dir":"/d","vector":[1],"include":["size",1]}"#).contains("mixes"));
    assert!(bad(r#"{"dir":"/d","vector":[1],"include":true}"#).contains("include must be"));
    let many: Vec<String> = (0..=INCLUDE_ATTRS_MAX)
        .map(|i| format!("\"metadata.k{i}\""))
        .collect();
    let m = bad(format!(
        r#"{{"dir":"/d","vector":[1],"include":[{}]}}"#,
        many.join(",")
    ));
    assert!(m.contains("more than"), "{m}");
    // A vector of strings is still refused as a vector.
    assert!(bad(r#"{"dir":"/d","vector":["1"]}"#).contains("vector must be an array of numbers"));
}

#[test]
fn batches_are_arrays_of_query_objects() {
    let one = parse_queries(br#"{"dir":"/d","vector":[1]}"#).unwrap();
    assert!(!one.batch);
    assert_eq!(one.queries, [Query::new("/d", Target::Values(vec![1.0]))]);
    let two = parse_queries(br#" [{"dir":"/d","vector":[1]}, {"dir":"/e","like":"/e/x","k":3}] "#).unwrap();
    assert!(two.batch);
    assert_eq!(two.queries.len(), 2);
    assert_eq!((two.queries[1].dir.as_str(), two.queries[1].k), ("/e", 3));
    assert_eq!(
        parse_queries(batch_to_json(&two.queries).as_bytes()).unwrap(),
        two
    );
    let msg = |r: Result<Queries>| match r {
        Err(Error::Query(m)) => m.to_string(),
        other => panic!("{other:?}"),
    };
    // An error names the query and fails the whole batch.
    let m = msg(parse_queries(
        br#"[{"dir":"/d","vector":[1]},{"dir":"/d","vector":[1],"k":0}]"#,
    ));
    assert!(m.starts_with("query 1: k must be"), "{m}");
    assert!(msg(parse_queries(b"[]")).contains("at least one"));
    // Elements must be objects (not positional arrays, not numbers).
    assert!(msg(parse_queries(br#"[["/d",[1]]]"#)).contains("batch"));
    assert!(msg(parse_queries(b"[1]")).contains("batch"));
    assert!(msg(parse_queries(br#"[{"dir":"/d","vector":[1],"x":1}]"#)).contains("unknown field"));
    // Bounded: nesting and count.
    let deep = format!("[{}", "[".repeat(100_000));
    assert!(msg(parse_queries(deep.as_bytes())).contains("batch"));
    let q = r#"{"dir":"/d","vector":[1]}"#;
    let over = format!("[{}]", vec![q; BATCH_QUERIES_MAX + 1].join(","));
    assert!(msg(parse_queries(over.as_bytes())).contains("more than"));
    let full = format!("[{}]", vec![q; BATCH_QUERIES_MAX].join(","));
    assert_eq!(
        parse_queries(full.as_bytes()).unwrap().queries.len(),
        BATCH_QUERIES_MAX
    );
    // A single query is still refused as an array by parse_query.
    assert!(bad(format!("[{q}]")).contains("JSON object"));
}

proptest! {
    #[test]
    fn to_json_round_trips(
        dir in path(),
        target in target(),
        k in 1..=K_MAX,
        ef in prop::option::of(1..=EF_MAX),
        filter in prop::option::of(prop::sample::select(FILTERS)),
        exact in any::<bool>(),
        max_distance in prop::option::of((-4_000_000i64..4_000_000).prop_map(|n| n as f64 / 4.0)),
        include in prop::sample::subsequence(INCLUDES.to_vec(), 0..4),
    ) {
        let include = Include::parse(include.iter().copied()).unwrap_or_default();
        let q = Query {
            dir, target, k, ef, filter: filter.map(|f| Filter::parse(f).unwrap()), exact, max_distance, include,
        };
        let json = q.to_json();
        prop_assert!(!json.contains('\n'));
        prop_assert_eq!(parse_query(json.as_bytes()).map_err(|e| TestCaseError::fail(format!("{json}: {e}")))?, q);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_query(&bytes);
        let _ = parse_queries(&bytes);
    }

    #[test]
    fn json_like_text_never_panics(text in r#"[{}\[\]":,0-9a-z_/ .e\-\\]{0,80}"#) {
        if let Err(Error::Query(msg)) = parse_query(text.as_bytes()) {
            prop_assert!(!msg.contains('\n'));
        }
    }
}
