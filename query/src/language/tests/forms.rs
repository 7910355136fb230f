//! Every syntactic form parses to the expected tree.

use std::ops::Bound;

use super::*;
use crate::language::{TimeValue, TypedValue};

#[test]
fn free_text_terms_and_phrases() {
    assert_eq!(p("error"), t("error"));
    assert_eq!(
        p("\"connection refused\""),
        phrase(None, "connection refused")
    );
    assert_eq!(
        p(r#""say \"hi\" \\ now""#),
        phrase(None, r#"say "hi" \ now"#)
    );
    assert_eq!(p(r"a\ b\:c"), t("a b:c"));
    assert_eq!(p("/var/log/pods"), t("/var/log/pods"));
    assert_eq!(p("<none>"), t("<none>"));
    assert_eq!(p("and or not"), and(vec![t("and"), t("or"), t("not")]));
}

#[test]
fn field_values() {
    assert_eq!(
        p("objectRef.resource:secrets"),
        ft("objectRef.resource", "secrets")
    );
    assert_eq!(p("sourceIPs:10.0.0.1"), ft("sourceIPs", "10.0.0.1"));
    assert_eq!(
        p("requestURI:/api/v1/pods"),
        ft("requestURI", "/api/v1/pods")
    );
    assert_eq!(p("requestURI:/healthz"), ft("requestURI", "/healthz"));
    assert_eq!(
        p("user.username:\"system:anonymous\""),
        phrase(Some("user.username"), "system:anonymous")
    );
    assert_eq!(
        p("user.username:system:anonymous"),
        ft("user.username", "system:anonymous")
    );
    assert_eq!(p("sourceIPs:fe80::1"), ft("sourceIPs", "fe80::1"));
    assert_eq!(
        p("@timestamp:2024-01-01T00:00:00Z"),
        ft("@timestamp", "2024-01-01T00:00:00Z")
    );
    assert_eq!(
        p("user.email:bob@example.com"),
        ft("user.email", "bob@example.com")
    );
    assert_eq!(p("ns:kube-system"), ft("ns", "kube-system"));
    assert_eq!(p("delta:-1"), ft("delta", "-1"));
    assert_eq!(p("json.level: warn"), ft("json.level", "warn"));
    assert_eq!(p("a\\:b:c"), ft("a:b", "c"));
    assert_eq!(
        p("container.labels.app.kubernetes.io/name:web"),
        ft("container.labels.app.kubernetes.io/name", "web")
    );
    assert_eq!(p("verb:IN"), ft("verb", "IN"));
    assert_eq!(p("é:ü"), ft("é", "ü"));
}

#[test]
fn wildcards_and_existence() {
    assert_eq!(p("userAgent:*curl*"), wildcard(Some("userAgent"), "*curl*"));
    assert_eq!(p("kube-*"), wildcard(None, "kube-*"));
    assert_eq!(p("*ing"), wildcard(None, "*ing"));
    assert_eq!(p("te?t"), wildcard(None, "te?t"));
    assert_eq!(p(r"a\*b*"), wildcard(None, r"a\*b*"));
    assert_eq!(p(r"a\*b"), t("a*b"));
    assert_eq!(
        p("objectRef.subresource:*"),
        Query::Exists {
            field: "objectRef.subresource".into()
        }
    );
    assert_eq!(p("*"), Query::All);
    assert_eq!(p("*:*"), Query::All);
    assert_eq!(
        p("verb:(*)"),
        Query::Exists {
            field: "verb".into()
        }
    );
}

#[test]
fn regexes() {
    assert_eq!(p("userAgent:/curl.*/"), regex(Some("userAgent"), "curl.*"));
    assert_eq!(
        p(r"requestURI:/\/api\/v[0-9]+\/.*/"),
        regex(Some("requestURI"), "/api/v[0-9]+/.*")
    );
    assert_eq!(
        p("message:/err(or|no)/"),
        regex(Some("message"), "err(or|no)")
    );
    assert_eq!(p(r"/a\ b\.c/"), regex(None, r"a b\.c"));
    assert_eq!(
        p("verb:(/ge./ OR list)"),
        or(vec![regex(Some("verb"), "ge."), ft("verb", "list")])
    );
    assert_eq!(p("f: /x/"), regex(Some("f"), "x"));
    // Paths are not regexes, even followed by more words or phrases.
    assert_eq!(
        p("requestURI:/healthz OR requestURI:/readyz"),
        or(vec![
            ft("requestURI", "/healthz"),
            ft("requestURI", "/readyz")
        ])
    );
    assert_eq!(
        p("(requestURI:/healthz) \"a/ b\" x:/y/"),
        and(vec![
            ft("requestURI", "/healthz"),
            phrase(None, "a/ b"),
            regex(Some("x"), "y")
        ])
    );
    // A trailing path segment after the closing slash makes it a path.
    assert_eq!(p("requestURI:/api/v1/"), ft("requestURI", "/api/v1/"));
}

#[test]
fn ranges_and_comparisons() {
    assert_eq!(
        p("responseStatus.code:[400 TO 499]"),
        range("responseStatus.code", inc("400"), inc("499"))
    );
    assert_eq!(
        p("code:{400 TO 499}"),
        range("code", exc("400"), exc("499"))
    );
    assert_eq!(
        p("code:[400 TO 499}"),
        range("code", inc("400"), exc("499"))
    );
    assert_eq!(
        p("code:{400 TO *]"),
        range("code", exc("400"), Bound::Unbounded)
    );
    assert_eq!(
        p("code:[* TO 500}"),
        range("code", Bound::Unbounded, exc("500"))
    );
    assert_eq!(p("code:[-5 TO -1]"), range("code", inc("-5"), inc("-1")));
    assert_eq!(p("code:>=500"), range("code", inc("500"), Bound::Unbounded));
    assert_eq!(p("code:>500"), range("code", exc("500"), Bound::Unbounded));
    assert_eq!(p("code:<=500"), range("code", Bound::Unbounded, inc("500")));
    assert_eq!(p("code:<500"), range("code", Bound::Unbounded, exc("500")));
    assert_eq!(
        p("code:>= 500"),
        range("code", inc("500"), Bound::Unbounded)
    );
    assert_eq!(
        p("code:>-1.5"),
        range("code", exc("-1.5"), Bound::Unbounded)
    );
    assert_eq!(
        p("@timestamp:>now-1h"),
        range("@timestamp", exc("now-1h"), Bound::Unbounded)
    );
    assert_eq!(
        p("@timestamp:[2024-01-01T00:00:00Z TO now]"),
        range("@timestamp", inc("2024-01-01T00:00:00Z"), inc("now"))
    );
    assert_eq!(
        p("@timestamp:[\"2024-01-01T00:00:00+02:00\" TO \"now-15m\"]"),
        range(
            "@timestamp",
            inc("2024-01-01T00:00:00+02:00"),
            inc("now-15m")
        )
    );
    assert_eq!(p("name:[a TO m]"), range("name", inc("a"), inc("m")));
    assert_eq!(
        p("code:([1 TO 2] OR >=500)"),
        or(vec![
            range("code", inc("1"), inc("2")),
            range("code", inc("500"), Bound::Unbounded),
        ])
    );
    let Query::Range {
        lower: Bound::Excluded(v),
        ..
    } = p("@timestamp:>now-1h")
    else {
        panic!("not a range");
    };
    assert_eq!(
        v.typed,
        TypedValue::Time(TimeValue::Relative { seconds: -3600 })
    );
    let Query::Range {
        upper: Bound::Included(v),
        ..
    } = p("code:[1 TO 1e3]")
    else {
        panic!("not a range");
    };
    assert_eq!(v.typed, TypedValue::Number(1000.0));
}

#[test]
fn sets() {
    let set = |field: &str, values: &[&str]| Query::In {
        field: field.to_string(),
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    assert_eq!(
        p("verb:IN [create patch update]"),
        set("verb", &["create", "patch", "update"])
    );
    assert_eq!(
        p("verb:IN [create, patch,update]"),
        set("verb", &["create", "patch", "update"])
    );
    assert_eq!(
        p("user.username:IN [\"system:anonymous\" admin \"a b\"]"),
        set("user.username", &["system:anonymous", "admin", "a b"])
    );
    assert_eq!(
        p("code:IN [-1 200 404]"),
        set("code", &["-1", "200", "404"])
    );
    assert_eq!(p("verb: IN [get]"), set("verb", &["get"]));
    assert_eq!(p("verb:(IN [get list])"), set("verb", &["get", "list"]));
}

#[test]
fn boolean_operators() {
    assert_eq!(p("a AND b"), and(vec![t("a"), t("b")]));
    assert_eq!(p("a && b"), and(vec![t("a"), t("b")]));
    assert_eq!(p("a b c"), and(vec![t("a"), t("b"), t("c")]));
    assert_eq!(p("a OR b"), or(vec![t("a"), t("b")]));
    assert_eq!(p("a || b || c"), or(vec![t("a"), t("b"), t("c")]));
    assert_eq!(p("NOT a"), not(t("a")));
    assert_eq!(p("!a"), not(t("a")));
    assert_eq!(p("! a"), not(t("a")));
    assert_eq!(p("-a"), not(t("a")));
    assert_eq!(p("+a"), t("a"));
    assert_eq!(p("+a -b"), and(vec![t("a"), not(t("b"))]));
    assert_eq!(p("-verb:get"), not(ft("verb", "get")));
    assert_eq!(p("-(a OR b)"), not(or(vec![t("a"), t("b")])));
    assert_eq!(p("NOT NOT a"), t("a"));
    assert_eq!(p("--a"), t("a"));
    assert_eq!(p("a&&b"), t("a&&b"));
}

#[test]
fn precedence_not_and_or() {
    assert_eq!(
        p("a OR b AND c"),
        or(vec![t("a"), and(vec![t("b"), t("c")])])
    );
    assert_eq!(
        p("a AND b OR c"),
        or(vec![and(vec![t("a"), t("b")]), t("c")])
    );
    assert_eq!(p("a OR b c"), or(vec![t("a"), and(vec![t("b"), t("c")])]));
    assert_eq!(p("NOT a AND b"), and(vec![not(t("a")), t("b")]));
    assert_eq!(p("NOT a OR b"), or(vec![not(t("a")), t("b")]));
    assert_eq!(p("a NOT b"), and(vec![t("a"), not(t("b"))]));
    assert_eq!(p("(a OR b) c"), and(vec![or(vec![t("a"), t("b")]), t("c")]));
    assert_eq!(p("NOT (a AND b)"), not(and(vec![t("a"), t("b")])));
}

#[test]
fn grouping_and_simplification() {
    assert_eq!(
        p("verb:(get OR list)"),
        or(vec![ft("verb", "get"), ft("verb", "list")])
    );
    assert_eq!(
        p("verb:(get -list \"watch\")"),
        and(vec![
            ft("verb", "get"),
            not(ft("verb", "list")),
            phrase(Some("verb"), "watch")
        ])
    );
    assert_eq!(
        p("verb:(get OR objectRef.resource:pods)"),
        or(vec![ft("verb", "get"), ft("objectRef.resource", "pods")])
    );
    assert_eq!(p("a:(b:(c))"), ft("b", "c"));
    assert_eq!(p("((a))"), t("a"));
    assert_eq!(p("a (b (c d))"), and(vec![t("a"), t("b"), t("c"), t("d")]));
    assert_eq!(p("a OR (b OR c)"), or(vec![t("a"), t("b"), t("c")]));
    assert_eq!(p("a AND *"), t("a"));
    assert_eq!(p("a OR *"), Query::All);
    assert_eq!(p("* *"), Query::All);
    assert_eq!(p("NOT *"), not(Query::All));
}

#[test]
fn realistic_queries() {
    let q = p("objectRef.resource:secrets AND verb:(get OR list) AND NOT user.username:system\\:serviceaccount\\:*");
    assert_eq!(
        q,
        and(vec![
            ft("objectRef.resource", "secrets"),
            or(vec![ft("verb", "get"), ft("verb", "list")]),
            not(wildcard(Some("user.username"), "system:serviceaccount:*")),
        ])
    );
    let q = p("container.labels.app:nginx (error OR \"connection refused\") -json.level:debug");
    assert_eq!(
        q,
        and(vec![
            ft("container.labels.app", "nginx"),
            or(vec![t("error"), phrase(None, "connection refused")]),
            not(ft("json.level", "debug")),
        ])
    );
}
