//! The command line: options, and what each command prints and exits with.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::{self, AppError, DEFAULT_STACK, Targets, Tick};
use crate::aws::Aws;
use crate::domain::manifest::PRINTED_PROBLEMS;
use crate::domain::progress::progress_line;
use crate::domain::report::Outcome;

#[derive(Debug, Parser)]
#[command(
    name = "backfill",
    version,
    about = "Start, watch and report contact-data-sync backfills run by the Step Functions Distributed Map"
)]
pub struct Cli {
    /// CloudFormation stack whose outputs name the state machine and the bucket.
    #[arg(long, global = true, default_value = DEFAULT_STACK)]
    pub stack: String,
    /// Backfill state machine, instead of the stack's BackfillStateMachineArn output.
    #[arg(long, global = true, env = "BACKFILL_STATE_MACHINE_ARN")]
    pub state_machine_arn: Option<String>,
    /// Backfill bucket, instead of the stack's BackfillBucketName output.
    #[arg(long, global = true, env = "BACKFILL_BUCKET")]
    pub bucket: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a manifest offline: prints "<n> contacts OK" or every problem with its line.
    Validate {
        /// A .csv (header contactId,relatedRecords) or .jsonl manifest.
        manifest: PathBuf,
    },
    /// Validate, upload the manifest and start the backfill state machine on it.
    Start {
        /// A .csv (header contactId,relatedRecords) or .jsonl manifest.
        manifest: PathBuf,
        /// Then follow its progress until it ends, and report.
        #[arg(long)]
        watch: bool,
        /// Seconds between looks with --watch.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        interval: u64,
    },
    /// Follow an execution's progress until it ends, then report.
    Watch {
        execution_arn: String,
        /// Seconds between looks.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        interval: u64,
    },
    /// Report on an execution: totals when it succeeded, progress while it runs, the error when
    /// it failed (exit code 1).
    Report {
        execution_arn: String,
        /// Save the failed contacts (a manifest for `backfill start`) to this file.
        #[arg(long)]
        failed_manifest: Option<PathBuf>,
    },
}

impl Cli {
    fn targets(&self) -> Targets {
        Targets {
            stack: self.stack.clone(),
            state_machine_arn: self.state_machine_arn.clone(),
            bucket: self.bucket.clone(),
        }
    }
}

/// Runs a parsed command line against the real clock and terminal.
pub async fn run(cli: Cli) -> ExitCode {
    let targets = cli.targets();
    let prefix = targets.command_prefix();
    let result = match cli.command {
        Command::Validate { manifest } => match app::validate(&manifest) {
            Ok(valid) => {
                println!("{} contacts OK", valid.contacts);
                Ok(ExitCode::SUCCESS)
            }
            Err(AppError::Invalid { path, problems }) => {
                print!("{}", problems.render(PRINTED_PROBLEMS));
                println!("{}: {} problem(s)", path.display(), problems.0.len());
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e),
        },
        Command::Start {
            manifest,
            watch,
            interval,
        } => {
            let aws = Aws::from_env().await;
            match app::start(&aws, &targets, &manifest, SystemTime::now()).await {
                Ok(started) => {
                    print!("{}", app::render_started(&started, &prefix));
                    if watch {
                        watch_and_report(
                            &aws,
                            &started.bucket,
                            &started.execution_arn,
                            interval,
                            &prefix,
                        )
                        .await
                    } else {
                        Ok(ExitCode::SUCCESS)
                    }
                }
                Err(AppError::Invalid { path, problems }) => {
                    eprint!("{}", problems.render(PRINTED_PROBLEMS));
                    eprintln!(
                        "{}: {} problem(s); nothing was uploaded or started",
                        path.display(),
                        problems.0.len()
                    );
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e),
            }
        }
        Command::Watch {
            execution_arn,
            interval,
        } => {
            let aws = Aws::from_env().await;
            match targets.bucket(&aws).await {
                Ok(bucket) => {
                    watch_and_report(&aws, &bucket, &execution_arn, interval, &prefix).await
                }
                Err(e) => Err(e),
            }
        }
        Command::Report {
            execution_arn,
            failed_manifest,
        } => {
            let aws = Aws::from_env().await;
            match targets.bucket(&aws).await {
                Ok(bucket) => app::report(
                    &aws,
                    &bucket,
                    &execution_arn,
                    failed_manifest.as_deref(),
                    &prefix,
                    SystemTime::now(),
                )
                .await
                .map(|reported| {
                    print!("{}", reported.text);
                    exit_code(&reported.report.outcome)
                }),
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn exit_code(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::Succeeded(_) | Outcome::NotFinished => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::FAILURE,
    }
}

/// Follows the execution with a progress bar on a terminal (progress lines otherwise), then
/// prints the report.
async fn watch_and_report(
    aws: &Aws,
    bucket: &str,
    execution_arn: &str,
    interval: u64,
    prefix: &str,
) -> Result<ExitCode, AppError> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let terminal = std::io::stderr().is_terminal() && !bar.is_hidden();
    let mut last_line = String::new();
    let on_tick = |tick: &Tick| {
        if let Some(run) = &tick.map_run {
            bar.set_length(run.counts.total);
            bar.set_position(run.counts.done());
        }
        let line = progress_line(tick.map_run.as_ref(), tick.now);
        if terminal {
            bar.set_message(line);
        } else if line != last_line {
            let _ = writeln!(std::io::stderr(), "{line}");
            last_line = line;
        }
    };
    let tick = app::watch(
        aws,
        execution_arn,
        Duration::from_secs(interval),
        SystemTime::now,
        on_tick,
    )
    .await;
    bar.finish();
    let tick = tick?;
    let reported = app::finish_report(aws, bucket, &tick, None, prefix).await?;
    print!("{}", reported.text);
    Ok(exit_code(&reported.report.outcome))
}

/// An error and its sources: `S3 PutObject of s3://b/k: service error: NoSuchBucket: …`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let message = e.to_string();
        // Some errors repeat their source's message in their own.
        if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_anywhere_and_intervals_are_positive() {
        let cli = Cli::try_parse_from([
            "backfill",
            "report",
            "arn:x",
            "--stack",
            "Staging",
            "--failed-manifest",
            "f.csv",
        ])
        .unwrap();
        assert_eq!(cli.stack, "Staging");
        assert!(matches!(
            cli.command,
            Command::Report {
                failed_manifest: Some(_),
                ..
            }
        ));
        let cli = Cli::try_parse_from(["backfill", "watch", "arn:x"]).unwrap();
        assert!(matches!(cli.command, Command::Watch { interval: 5, .. }));
        assert!(Cli::try_parse_from(["backfill", "watch", "arn:x", "--interval", "0"]).is_err());
    }

    #[test]
    fn error_chains_name_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&e), "outer: inner");
    }
}
