//! The Tantivy mapping of the event schema.
//!
//! Every field of the event schema that analysts filter or aggregate on has a typed Tantivy
//! field; open-ended maps (`json.*`, `container.labels.*`, `annotations.*`, `requestObject`,
//! `responseObject`) are Tantivy JSON fields; any other leaf lands in a catch-all JSON field, so
//! that every dotted path of an event stays searchable. The whole event is kept once, compressed,
//! in the stored `_source` field.

use tantivy::schema::{
    Field, IndexRecordOption, JsonObjectOptions, NumericOptions, Schema, TextFieldIndexing,
    TextOptions, FAST, INDEXED, STORED,
};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::Index;

/// Tokenizer of keyword fields: the whole value as one token, lowercased, so that matching is
/// exact but case-insensitive.
pub const KEYWORD_TOKENIZER: &str = "kestrel_keyword";
/// Tokenizer of text fields: words split on non-alphanumeric characters, lowercased.
pub const TEXT_TOKENIZER: &str = "kestrel_text";
/// Tokenizer of fast (columnar) keyword values: kept as written, for aggregations.
const FAST_TOKENIZER: &str = "raw";

/// How one schema field is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An instant, indexed and fast as `i64` nanoseconds since the Unix epoch.
    Timestamp,
    /// An exact, case-sensitive identifier (`event.id`).
    Id,
    /// A keyword: one token, lowercased; fast (original case) when `fast` is set.
    Keyword,
    /// Full text: words with positions, for phrase search.
    Text,
    /// A whole number, indexed and fast.
    Integer,
    /// A JSON object whose dotted sub-paths are searchable as text.
    Json,
    /// IP addresses (IPv4 mapped into IPv6), indexed and fast, for CIDR and range queries. Only
    /// used by the hidden companion of keyword fields that hold addresses (see
    /// [`EventSchema::ip_companion`]).
    Ip,
}

/// One row of the mapping table.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The dotted path in the event's JSON form.
    pub path: &'static str,
    /// How it is indexed.
    pub kind: FieldKind,
    /// Whether it has a columnar (fast) copy for sorting and aggregations.
    pub fast: bool,
    /// Whether it has an inverted index. Numbers and instants that are (nearly) unique per
    /// event are columns only: one term per event would cost more than the event's stored
    /// text, and their queries (ranges, exact values) are answered from the column.
    pub indexed: bool,
}

const fn spec(path: &'static str, kind: FieldKind, fast: bool) -> FieldSpec {
    FieldSpec {
        path,
        kind,
        fast,
        indexed: true,
    }
}

/// A number or instant kept as a column only (see [`FieldSpec::indexed`]).
const fn column(path: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec {
        path,
        kind,
        fast: true,
        indexed: false,
    }
}

use FieldKind::{Id, Integer, Json, Keyword, Text, Timestamp};

/// The mapping of every typed field, in schema order. The README's schema table mirrors it.
pub const FIELD_SPECS: &[FieldSpec] = &[
    column("@timestamp", Timestamp),
    spec("event.id", Id, true),
    spec("event.kind", Keyword, true),
    column("event.ingested", Timestamp),
    spec("message", Text, false),
    spec("log.file.path", Keyword, true),
    column("log.offset", Integer),
    spec("log.flags", Keyword, true),
    spec("host.name", Keyword, true),
    spec("stream", Keyword, true),
    spec("container.id", Keyword, true),
    spec("container.name", Keyword, true),
    spec("container.image", Keyword, true),
    spec("container.compose.project", Keyword, true),
    spec("container.compose.service", Keyword, true),
    spec("kubernetes.namespace", Keyword, true),
    spec("kubernetes.pod.name", Keyword, true),
    spec("kubernetes.pod.uid", Keyword, false),
    spec("kubernetes.container.name", Keyword, true),
    spec("kubernetes.pod.owner.kind", Keyword, true),
    spec("kubernetes.pod.owner.name", Keyword, true),
    spec("kubernetes.node.name", Keyword, true),
    spec("verb", Keyword, true),
    spec("user.username", Keyword, true),
    spec("user.uid", Keyword, false),
    spec("user.groups", Keyword, true),
    spec("impersonatedUser.username", Keyword, true),
    spec("impersonatedUser.groups", Keyword, false),
    spec("sourceIPs", Keyword, true),
    spec("userAgent", Keyword, true),
    spec("objectRef.resource", Keyword, true),
    spec("objectRef.subresource", Keyword, true),
    spec("objectRef.namespace", Keyword, true),
    spec("objectRef.name", Keyword, true),
    spec("objectRef.apiGroup", Keyword, true),
    spec("objectRef.apiVersion", Keyword, false),
    spec("requestURI", Keyword, false),
    spec("responseStatus.code", Integer, true),
    spec("responseStatus.reason", Keyword, false),
    spec("stage", Keyword, true),
    spec("level", Keyword, true),
    spec("auditID", Keyword, false),
    spec("json", Json, false),
    spec("container.labels", Json, false),
    spec("kubernetes.pod.labels", Json, false),
    spec("annotations", Json, false),
    spec("requestObject", Json, false),
    spec("responseObject", Json, false),
];

/// Keyword fields holding IP addresses; each gets a companion IP field named
/// `<tantivy name>_ip` for CIDR (`sourceIPs:10.0.0.0/8`) and address-range queries.
pub const IP_FIELDS: &[&str] = &["sourceIPs"];

/// Name of the catch-all JSON field holding every leaf without a typed field.
pub const OTHER_FIELD: &str = "_other";
/// Name of the stored field holding the event's JSON.
pub const SOURCE_FIELD: &str = "_source";

/// Where a dotted path of the event lives in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedField {
    /// The Tantivy field.
    pub field: Field,
    /// How it is indexed.
    pub kind: FieldKind,
    /// Whether it has a fast (columnar) copy.
    pub fast: bool,
    /// Whether it has an inverted index (exact values of a column-only field are matched as
    /// one-value ranges on the column).
    pub indexed: bool,
    /// The Tantivy field name (for fast-field access).
    pub name: String,
    /// For JSON fields: the path inside the JSON object (may be empty).
    pub json_path: Option<String>,
}

/// The Tantivy schema of events and the handles of its fields.
#[derive(Debug, Clone)]
pub struct EventSchema {
    schema: Schema,
    fields: Vec<(FieldSpec, Field)>,
    ip_companions: Vec<(&'static str, Field)>,
    other: Field,
    source: Field,
}

/// Tantivy field names are the schema paths with `.` replaced by `_` and without `@`, so that
/// Tantivy never mistakes a dot for a JSON path separator.
pub fn tantivy_name(path: &str) -> String {
    path.trim_start_matches('@').replace('.', "_")
}

impl Default for EventSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSchema {
    /// Builds the schema.
    pub fn new() -> EventSchema {
        let mut builder = Schema::builder();
        let text_indexing = TextFieldIndexing::default()
            .set_tokenizer(TEXT_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let keyword_indexing = TextFieldIndexing::default()
            .set_tokenizer(KEYWORD_TOKENIZER)
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::Basic);
        let id_indexing = TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::Basic);
        let fields = FIELD_SPECS
            .iter()
            .map(|spec| {
                let name = tantivy_name(spec.path);
                let field = match spec.kind {
                    FieldKind::Timestamp | FieldKind::Integer => {
                        let mut options = NumericOptions::default();
                        if spec.indexed {
                            options = options.set_indexed();
                        }
                        if spec.fast {
                            options = options.set_fast();
                        }
                        builder.add_i64_field(&name, options)
                    }
                    FieldKind::Id => {
                        let mut options =
                            TextOptions::default().set_indexing_options(id_indexing.clone());
                        if spec.fast {
                            options = options.set_fast(FAST_TOKENIZER);
                        }
                        builder.add_text_field(&name, options)
                    }
                    FieldKind::Keyword => {
                        let mut options =
                            TextOptions::default().set_indexing_options(keyword_indexing.clone());
                        if spec.fast {
                            options = options.set_fast(FAST_TOKENIZER);
                        }
                        builder.add_text_field(&name, options)
                    }
                    FieldKind::Text => builder.add_text_field(
                        &name,
                        TextOptions::default().set_indexing_options(text_indexing.clone()),
                    ),
                    FieldKind::Json => builder.add_json_field(&name, json_options(&text_indexing)),
                    FieldKind::Ip => builder.add_ip_addr_field(&name, INDEXED | FAST),
                };
                (*spec, field)
            })
            .collect();
        let ip_companions = IP_FIELDS
            .iter()
            .map(|path| {
                let name = format!("{}_ip", tantivy_name(path));
                (*path, builder.add_ip_addr_field(&name, INDEXED | FAST))
            })
            .collect();
        let other = builder.add_json_field(OTHER_FIELD, json_options(&text_indexing));
        let source = builder.add_text_field(SOURCE_FIELD, STORED);
        EventSchema {
            schema: builder.build(),
            fields,
            ip_companions,
            other,
            source,
        }
    }

    /// The Tantivy schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The stored `_source` field.
    pub fn source_field(&self) -> Field {
        self.source
    }

    /// The catch-all JSON field.
    pub fn other_field(&self) -> Field {
        self.other
    }

    /// The typed fields with their mapping.
    pub fn typed_fields(&self) -> &[(FieldSpec, Field)] {
        &self.fields
    }

    /// The IP companion field of a keyword path that holds addresses, if it has one.
    pub fn ip_companion(&self, path: &str) -> Option<ResolvedField> {
        self.ip_companions
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(p, field)| ResolvedField {
                field: *field,
                kind: FieldKind::Ip,
                fast: true,
                indexed: true,
                name: format!("{}_ip", tantivy_name(p)),
                json_path: None,
            })
    }

    /// The typed field of exactly this path, if any.
    pub fn typed(&self, path: &str) -> Option<(FieldSpec, Field)> {
        self.fields.iter().find(|(s, _)| s.path == path).copied()
    }

    /// Resolves a dotted path to where it is indexed: its typed field, the JSON field whose root
    /// is a prefix of it, or the catch-all field.
    pub fn resolve(&self, path: &str) -> ResolvedField {
        if let Some((spec, field)) = self.typed(path) {
            return ResolvedField {
                field,
                kind: spec.kind,
                fast: spec.fast,
                indexed: spec.indexed,
                name: tantivy_name(spec.path),
                json_path: (spec.kind == FieldKind::Json).then(String::new),
            };
        }
        for (spec, field) in &self.fields {
            if spec.kind != FieldKind::Json {
                continue;
            }
            if let Some(rest) = path
                .strip_prefix(spec.path)
                .and_then(|r| r.strip_prefix('.'))
            {
                return ResolvedField {
                    field: *field,
                    kind: FieldKind::Json,
                    fast: false,
                    indexed: true,
                    name: tantivy_name(spec.path),
                    json_path: Some(rest.to_owned()),
                };
            }
        }
        ResolvedField {
            field: self.other,
            kind: FieldKind::Json,
            fast: false,
            indexed: true,
            name: OTHER_FIELD.to_owned(),
            json_path: Some(path.to_owned()),
        }
    }

    /// Registers Kestrel's tokenizers on an index; required before writing or searching it.
    pub fn register_tokenizers(index: &Index) {
        let manager = index.tokenizers();
        manager.register(
            KEYWORD_TOKENIZER,
            TextAnalyzer::builder(RawTokenizer::default())
                .filter(LowerCaser)
                .build(),
        );
        manager.register(TEXT_TOKENIZER, text_analyzer());
    }
}

/// The analyzer of text fields, also used to tokenize query values the same way.
pub fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(256))
        .filter(LowerCaser)
        .build()
}

fn json_options(text_indexing: &TextFieldIndexing) -> JsonObjectOptions {
    JsonObjectOptions::default()
        .set_indexing_options(text_indexing.clone())
        .set_expand_dots_enabled()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_typed_json_and_other_paths() {
        let schema = EventSchema::new();
        let typed = schema.resolve("user.username");
        assert_eq!(typed.kind, FieldKind::Keyword);
        assert_eq!(typed.json_path, None);
        let json = schema.resolve("container.labels.app.kubernetes.io/name");
        assert_eq!(json.name, "container_labels");
        assert_eq!(json.json_path.as_deref(), Some("app.kubernetes.io/name"));
        let other = schema.resolve("user.extra.scopes");
        assert_eq!(other.name, OTHER_FIELD);
        assert_eq!(other.json_path.as_deref(), Some("user.extra.scopes"));
    }

    #[test]
    fn every_path_has_a_distinct_tantivy_name() {
        let mut names: Vec<String> = FIELD_SPECS.iter().map(|s| tantivy_name(s.path)).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FIELD_SPECS.len());
    }
}
