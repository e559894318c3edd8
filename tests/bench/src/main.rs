//! `bench`: measures the release build of contact-data-sync as Lambda runs it (a child process
//! polling a local Lambda Runtime API) against the wire-level emulators. See
//! `docs/benchmark.md`; `cargo run --release -p bench -- --help` lists the flags.

mod artifacts;
mod function;
mod options;
mod report;
mod scenario;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options::Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match report::run(&options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
