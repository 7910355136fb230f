//! `query_string` (Lucene syntax) onto Kestrel's query language, which is Lucene-like: the
//! differences are handled here or refused with a clear error.
//!
//! * Juxtaposed clauses follow Elasticsearch's default operator `OR` (see
//!   [`crate::language::parse_lucene`]) unless the request sets `default_operator: AND`.
//! * `_exists_:field` is `field:*`; `field.keyword` is `field` for keyword fields (Kestrel's
//!   keywords are exact already).
//! * Fuzzy and proximity (`~`) and boosts (`^`) are refused: they have no Kestrel equivalent
//!   (boosts change scores only, but a silent drop could hide a typo).

use kestrel_indexer::{EventSchema, FieldKind};

use crate::language::{parse, parse_lucene, Query};

use super::error::ElasticError;

/// Translates the text of a `query_string`; empty text and `*` match everything.
pub fn translate_query_string(
    text: &str,
    default_and: bool,
    schema: &EventSchema,
) -> Result<Query, ElasticError> {
    let text = text.trim();
    if text.is_empty() || text == "*" {
        return Ok(Query::All);
    }
    let parsed = if default_and {
        parse(text)
    } else {
        parse_lucene(text)
    }
    .map_err(|e| ElasticError::Query(format!("query_string {text:?}: {e}")))?;
    let rewritten = rewrite(parsed, schema).map_err(|reason| {
        ElasticError::Query(format!(
            "query_string {text:?} cannot be translated: {reason}"
        ))
    })?;
    Ok(rewritten.simplify())
}

fn rewrite(query: Query, schema: &EventSchema) -> Result<Query, String> {
    let field = |f: Option<String>| f.map(|f| field_name(&f, schema));
    Ok(match query {
        Query::Term {
            field: Some(f),
            value,
        } if f == "_exists_" => Query::Exists {
            field: field_name(&value, schema),
        },
        Query::Term { field: f, value } => {
            refuse_lucene_suffix(&value)?;
            Query::Term {
                field: field(f),
                value,
            }
        }
        Query::Phrase { field: f, text } => Query::Phrase {
            field: field(f),
            text,
        },
        Query::Wildcard { field: f, pattern } => {
            refuse_lucene_suffix(&pattern)?;
            Query::Wildcard {
                field: field(f),
                pattern,
            }
        }
        Query::Regex { field: f, pattern } => Query::Regex {
            field: field(f),
            pattern,
        },
        Query::Exists { field: f } => Query::Exists {
            field: field_name(&f, schema),
        },
        Query::Range {
            field: f,
            lower,
            upper,
        } => Query::Range {
            field: field_name(&f, schema),
            lower,
            upper,
        },
        Query::In { field: f, values } => Query::In {
            field: field_name(&f, schema),
            values,
        },
        Query::And(children) => Query::And(
            children
                .into_iter()
                .map(|c| rewrite(c, schema))
                .collect::<Result<_, _>>()?,
        ),
        Query::Or(children) => Query::Or(
            children
                .into_iter()
                .map(|c| rewrite(c, schema))
                .collect::<Result<_, _>>()?,
        ),
        Query::Not(inner) => Query::Not(Box::new(rewrite(*inner, schema)?)),
        Query::All => Query::All,
    })
}

/// `f.keyword` is `f` when `f` is a keyword field of the schema.
fn field_name(name: &str, schema: &EventSchema) -> String {
    if let Some(base) = name.strip_suffix(".keyword") {
        if schema
            .typed(base)
            .is_some_and(|(spec, _)| matches!(spec.kind, FieldKind::Keyword | FieldKind::Id))
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

/// Refuses Lucene's fuzzy/proximity (`word~`, `word~2`, `"a b"~3`) and boost (`word^2`)
/// suffixes.
fn refuse_lucene_suffix(value: &str) -> Result<(), String> {
    let trimmed = value.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    match trimmed.chars().last() {
        Some('~') => Err(format!(
            "fuzzy and proximity searches ({value:?}) are not supported; use a wildcard \
             (word*) or a regex instead, or quote the text to search a literal ~"
        )),
        Some('^') if trimmed.len() < value.len() => Err(format!(
            "boosts ({value:?}) are not supported (they only change scores): remove them"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(text: &str) -> String {
        translate_query_string(text, false, &EventSchema::new())
            .map(|q| q.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn match_all_forms() {
        assert_eq!(translate(""), "*");
        assert_eq!(translate("*"), "*");
        assert_eq!(translate("  "), "*");
    }

    #[test]
    fn field_values_phrases_and_booleans() {
        assert_eq!(translate("verb:get"), "verb:get");
        assert_eq!(
            translate("user.username:\"system:anonymous\""),
            "user.username:\"system:anonymous\""
        );
        assert_eq!(
            translate("verb:get AND NOT stage:ResponseStarted"),
            "verb:get AND NOT stage:ResponseStarted"
        );
        assert_eq!(translate("verb:get OR verb:list"), "verb:get OR verb:list");
        assert_eq!(
            translate("\"connection refused\""),
            "\"connection refused\""
        );
    }

    #[test]
    fn juxtaposition_follows_the_default_or_operator() {
        assert_eq!(translate("verb:get verb:list"), "verb:get OR verb:list");
        assert_eq!(
            translate("verb:get -level:Metadata"),
            "verb:get AND NOT level:Metadata"
        );
        assert_eq!(translate("+verb:get stage:x"), "verb:get");
        assert_eq!(translate("a AND b c"), "a AND b");
        assert_eq!(translate("-verb:get"), "NOT verb:get");
        assert_eq!(translate("verb:(get list)"), "verb:get OR verb:list");
        let and = translate_query_string("verb:get stage:x", true, &EventSchema::new()).unwrap();
        assert_eq!(and.to_string(), "verb:get AND stage:x");
    }

    #[test]
    fn ranges_wildcards_and_escapes() {
        assert_eq!(
            translate("responseStatus.code:[400 TO 499]"),
            "responseStatus.code:[400 TO 499]"
        );
        assert_eq!(
            translate("responseStatus.code:>=500"),
            "responseStatus.code:>=500"
        );
        assert_eq!(translate("userAgent:*curl*"), "userAgent:*curl*");
        assert_eq!(
            translate("kubernetes.namespace:kube\\-system"),
            "kubernetes.namespace:kube-system"
        );
        assert_eq!(translate("message:a\\:b"), "message:a:b");
    }

    #[test]
    fn elasticsearch_field_forms_are_mapped() {
        assert_eq!(
            translate("_exists_:objectRef.subresource"),
            "objectRef.subresource:*"
        );
        assert_eq!(translate("verb.keyword:get"), "verb:get");
        assert_eq!(translate("json.level.keyword:x"), "json.level.keyword:x");
    }

    #[test]
    fn untranslatable_syntax_is_refused_with_the_reason() {
        for (text, needle) in [
            ("roam~", "fuzzy"),
            ("roam~2", "fuzzy"),
            ("\"a b\"~3", "fuzzy"),
            ("verb:get^2", "boost"),
            ("verb:(get", "position"),
            ("a AND", "position"),
        ] {
            let out = translate(text);
            assert!(
                out.starts_with("error: ") && out.contains(needle),
                "{text}: {out}"
            );
        }
    }
}
