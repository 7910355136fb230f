//! The canonical Display form parses back to the same tree.

use super::p;
use crate::language::parse;

const QUERIES: &[&str] = &[
    "error",
    "\"connection refused\"",
    r#""quote \" and backslash \\""#,
    "objectRef.resource:secrets",
    "user.username:\"system:anonymous\"",
    "user.username:system:anonymous",
    "sourceIPs:10.0.0.1",
    "sourceIPs:fe80::1",
    "requestURI:/api/v1/pods",
    "requestURI:\\/api/",
    "requestURI:/healthz OR requestURI:/readyz",
    "/var/log/",
    "\\/a\\/",
    "a\\ b",
    "a\\:b",
    "\\-a",
    "\\AND OR \\NOT",
    "x:AND",
    "verb:\\IN",
    "\\(x\\)",
    "<none>",
    "f:\\>5",
    "f:\\<=a",
    "container.labels.app.kubernetes.io/name:web",
    "a\\:b:c",
    "a\\ b:c",
    "\\-x:y",
    "é:ü",
    "userAgent:*curl*",
    "kube-*",
    "a\\*b*",
    "a\\?b?",
    "a\\\\b*",
    "f:\\/a*/",
    "objectRef.subresource:*",
    "\\*:*",
    "*",
    "NOT *",
    "userAgent:/curl.*/",
    "message:/err(or|no)/",
    r"requestURI:/\/api\/v1\/.*/",
    r"/a\ b/",
    r"/a\\/",
    r"/a\\\/b/",
    "//",
    "f:/a x\\/",
    "f:/a \"b/ c\" g:/x/",
    "f:/a g:b/c/",
    "f:/a OR //",
    "a/ f:/x/",
    "x:[a TO \"b/\"] f:/a",
    "verb:IN [\"a/\" b]",
    "responseStatus.code:[400 TO 499]",
    "code:{400 TO 499}",
    "code:[400 TO 499}",
    "code:{* TO 499]",
    "code:[400 TO *]",
    "code:[* TO *]",
    "code:[-5 TO -1]",
    "code:>=500",
    "code:>500",
    "code:<=500",
    "code:<500",
    "code:>\"*\"",
    "code:>=\"a b\"",
    "@timestamp:>now-1h",
    "@timestamp:[2024-01-01T00:00:00Z TO now]",
    "@timestamp:[\"2024-01-01T00:00:00+02:00\" TO now-15m}",
    "name:[\"TO\" TO \"~\"]",
    "name:[\"*\" TO \"a b\"]",
    "verb:IN [create patch update]",
    "verb:IN [\"a b\" \"c,d\" \"\" -1 \"-\" x:y]",
    "a AND b",
    "a OR b",
    "a OR b AND c",
    "(a OR b) AND c",
    "NOT (a OR b)",
    "NOT (a AND b) OR c",
    "-a +b !c",
    "verb:(get OR list) AND -user.username:\"system:anonymous\"",
    "verb:(get (list OR watch))",
    "a (b OR (c (d OR e)))",
    "x:\"\"",
    "code:([1 TO 2] OR >=500 OR IN [7 8])",
    "objectRef.resource:secrets AND verb:(get OR list) AND NOT user.username:system\\:serviceaccount\\:*",
];

#[test]
fn display_reparses_to_the_same_tree() {
    for query in QUERIES {
        let first = p(query);
        let printed = first.to_string();
        let second =
            parse(&printed).unwrap_or_else(|e| panic!("{query:?} printed {printed:?}: {e}"));
        assert_eq!(first, second, "{query:?} printed as {printed:?}");
        assert_eq!(
            printed,
            second.to_string(),
            "{query:?} is not a fixed point"
        );
    }
}

#[test]
fn canonical_forms() {
    let cases = [
        ("a b OR c", "a AND b OR c"),
        ("a (b OR c)", "a AND (b OR c)"),
        ("-a", "NOT a"),
        ("!(a b)", "NOT (a AND b)"),
        ("a && b || c", "a AND b OR c"),
        ("verb:(get OR list)", "verb:get OR verb:list"),
        ("code:[500 TO *]", "code:>=500"),
        ("code:{* TO 500}", "code:<500"),
        ("code:{1 TO 2]", "code:{1 TO 2]"),
        ("verb:IN [create,patch]", "verb:IN [create patch]"),
        ("AND\\ x", "AND\\ x"),
        ("\\AND", "\\AND"),
        ("\\/api/", "/api\\/"),
        ("requestURI:/api/v1/pods", "requestURI:/api/v1/pods"),
        (
            "user.username:system:anonymous",
            "user.username:system:anonymous",
        ),
        ("a\\:b", "a\\:b"),
        ("f: \"x y\"", "f:\"x y\""),
        (r"f:/a\/b/", r"f:/a\/b/"),
        ("*:*", "*"),
    ];
    for (input, expected) in cases {
        assert_eq!(p(input).to_string(), expected, "{input:?}");
    }
}

#[test]
fn serde_round_trip() {
    for query in QUERIES {
        let q = p(query);
        let json = serde_json::to_string(&q).unwrap_or_else(|e| panic!("{query:?}: {e}"));
        let back: crate::language::Query =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{query:?} {json}: {e}"));
        assert_eq!(q, back, "{json}");
    }
    let json = serde_json::to_value(p("code:>=now-1h")).unwrap_or_default();
    assert_eq!(
        json,
        serde_json::json!({"range": {"field": "code", "lower": {"Included": "now-1h"}, "upper": "Unbounded"}})
    );
}
