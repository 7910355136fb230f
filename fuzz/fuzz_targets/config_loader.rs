//! The configuration loader on arbitrary file content (TOML, then validation; the error
//! messages are rendered too).
#![no_main]

use std::io::Write;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    match kestrel_config::load(Some(file.path())) {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
