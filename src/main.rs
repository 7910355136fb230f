//! `kestrel`: one binary for every part of the pipeline.

mod cli;
mod cli_audit;
mod commands;
mod detection;
mod limits;
mod memory;
mod metrics_catalog;
mod pipeline;
mod serve;
mod store_retention;
mod telemetry;

use clap::Parser;

// Indexing allocates and frees many small buffers per event (documents, tokens, JSON): a
// thread-caching allocator spends far less time there than the system one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}
