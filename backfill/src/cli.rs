//! The command line: options, and what each command prints and exits with.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{ArgGroup, Parser, Subcommand};
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
    /// Validate, upload the manifest and start the backfill state machine on it; or, with
    /// --from and --to, start it on a time window whose calls it lists from Salesforce.
    // Exactly one form: the manifest, or --from with --to.
    #[command(
        group(ArgGroup::new("source").required(true).args(["manifest", "from"])),
        override_usage = "backfill start [OPTIONS] <MANIFEST>\n       backfill start [OPTIONS] --from <FROM> --to <TO>"
    )]
    Start {
        /// A .csv (header contactId,relatedRecords) or .jsonl manifest.
        manifest: Option<PathBuf>,
        /// Instead of a manifest, backfill the calls that started at or after this ISO 8601
        /// instant with a zone (2026-11-01T00:00:00Z), as Salesforce lists them.
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// With --from: and before this ISO 8601 instant, at most 31 days after --from.
        #[arg(long, requires = "from", conflicts_with = "manifest")]
        to: Option<String>,
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

/// What `start` was given: clap's rules allow a manifest, or --from with --to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartSource {
    Manifest(PathBuf),
    Window { from: String, to: String },
}

impl StartSource {
    pub fn from_args(manifest: Option<PathBuf>, from: Option<String>, to: Option<String>) -> Self {
        match manifest {
            Some(manifest) => Self::Manifest(manifest),
            // Both are there (clap requires them); were one not, the window's own check would
            // refuse the empty instant by name.
            None => Self::Window {
                from: from.unwrap_or_default(),
                to: to.unwrap_or_default(),
            },
        }
    }
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
            from,
            to,
            watch,
            interval,
        } => {
            let aws = Aws::from_env().await;
            let started = match StartSource::from_args(manifest, from, to) {
                StartSource::Manifest(manifest) => {
                    app::start(&aws, &targets, &manifest, SystemTime::now()).await
                }
                StartSource::Window { from, to } => {
                    app::start_window(&aws, &targets, &from, &to, SystemTime::now()).await
                }
            };
            match started {
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
                Err(AppError::Window(e)) => {
                    eprintln!("{e}\nthe window is refused; nothing was started");
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
    use contact_data_sync::domain::request::MAX_WINDOW_DAYS;

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

    fn start(args: &[&str]) -> Result<StartSource, clap::error::ErrorKind> {
        let cli =
            Cli::try_parse_from(["backfill", "start"].iter().chain(args)).map_err(|e| e.kind())?;
        let Command::Start {
            manifest, from, to, ..
        } = cli.command
        else {
            panic!("not start: {cli:?}")
        };
        Ok(StartSource::from_args(manifest, from, to))
    }

    #[test]
    fn start_takes_a_manifest_or_a_window_but_not_both() {
        use clap::error::ErrorKind::{ArgumentConflict, MissingRequiredArgument};
        let (from, to) = ("2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z");
        assert_eq!(
            start(&["calls.csv", "--watch"]),
            Ok(StartSource::Manifest("calls.csv".into()))
        );
        let window = Ok(StartSource::Window {
            from: from.into(),
            to: to.into(),
        });
        assert_eq!(start(&["--from", from, "--to", to]), window);
        assert_eq!(start(&["--to", to, "--watch", "--from", from]), window);
        assert_eq!(start(&[]), Err(MissingRequiredArgument));
        assert_eq!(start(&["--from", from]), Err(MissingRequiredArgument));
        assert_eq!(start(&["--to", to]), Err(MissingRequiredArgument));
        for mixed in [
            &["calls.csv", "--from", from, "--to", to][..],
            &["calls.csv", "--from", from],
            &["calls.csv", "--to", to],
            &["--from", from, "--to", to, "calls.csv"],
        ] {
            assert_eq!(start(mixed), Err(ArgumentConflict), "{mixed:?}");
        }
    }

    #[test]
    fn the_window_help_states_the_functions_limit() {
        let mut command = Cli::command();
        let start = command.find_subcommand_mut("start").unwrap();
        let to = start.get_arguments().find(|a| a.get_id() == "to").unwrap();
        let help = to.get_help().unwrap().to_string();
        assert!(
            help.contains(&format!("at most {MAX_WINDOW_DAYS} days")),
            "{help}"
        );
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
