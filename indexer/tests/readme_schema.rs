//! The README's schema table lists every typed field of the index mapping.

use kestrel_indexer::schema::FIELD_SPECS;

#[test]
fn readme_documents_every_indexed_field() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the repository root");
    let table: String = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Event schema"))
        .take_while(|l| !l.starts_with("## Command line"))
        .collect::<Vec<_>>()
        .join("\n");
    for spec in FIELD_SPECS {
        let documented = table.contains(&format!("`{}`", spec.path))
            || table.contains(&format!("`{}.*`", spec.path));
        assert!(documented, "README schema table misses `{}`", spec.path);
    }
}
