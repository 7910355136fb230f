//! The query language: Kestrel's syntax and Lucene's (the Elasticsearch API's `query_string`);
//! a parsed query's canonical text must parse again.
#![no_main]

use kestrel_query::language::{parse, parse_lucene};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [parse(text), parse_lucene(text)] {
        if let Ok(query) = parsed {
            let canonical = query.to_string();
            if let Err(error) = parse(&canonical) {
                panic!("canonical form {canonical:?} of {text:?} does not parse: {error}");
            }
        }
    }
});
