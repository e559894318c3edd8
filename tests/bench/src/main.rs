//! `bench`: measures the release build of contact-data-sync as Lambda runs it (a child process
//! polling a local Lambda Runtime API) against the wire-level emulators. See
//! `docs/benchmark.md`; `cargo run --release -p bench -- --help` lists the flags, and
//! `cargo run --release -p bench -- busy-hour --help` those of automatic repair's busy hour.

mod artifacts;
mod busy_hour;
mod function;
mod options;
mod report;
mod scenario;

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|first| first == "busy-hour") {
        let options = match busy_hour::BusyHour::parse(args.skip(1)) {
            Ok(options) => options,
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::from(2);
            }
        };
        return exit(busy_hour::run(&options).await);
    }
    let options = match options::Options::parse(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    exit(report::run(&options).await)
}

/// Exit status 1 when a run found its correctness checks failed, or could not run.
fn exit(outcome: Result<bool, String>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
