//! The commands' flows: the domain's decisions around the adapter's calls.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use contact_data_sync::domain::request::{RequestError, parse_window};
use serde_json::json;
use thiserror::Error;

use crate::aws::{Aws, AwsError};
use crate::domain::manifest::{self, FormatError, ManifestFormat, Problems};
use crate::domain::naming::{StartNames, WindowNames, console_url};
use crate::domain::progress::MapRun;
use crate::domain::report::{self, Execution, Outcome, Report, ReportError};

/// The stack whose outputs name the state machine and the bucket, unless overridden.
pub const DEFAULT_STACK: &str = "ContactDataSync";
pub const STATE_MACHINE_OUTPUT: &str = "BackfillStateMachineArn";
pub const BUCKET_OUTPUT: &str = "BackfillBucketName";

#[derive(Debug, Error)]
pub enum AppError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a manifest file name", path.display())]
    NoFileName { path: PathBuf },
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The manifest's problems; nothing was uploaded or started.
    #[error("{}: {} problem(s)", path.display(), problems.0.len())]
    Invalid { path: PathBuf, problems: Problems },
    /// A window the function would refuse, in its words; nothing was started.
    #[error(transparent)]
    Window(RequestError),
    #[error(
        "stack {stack} has no output {output}: deploy the stack with the backfill state machine, pass --stack with the right stack, or pass {flag}"
    )]
    MissingOutput {
        stack: String,
        output: &'static str,
        flag: &'static str,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// The global options: the stack, and overrides of its outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub stack: String,
    pub state_machine_arn: Option<String>,
    pub bucket: Option<String>,
}

impl Targets {
    /// `backfill` with the options that `watch` and `report` need to find the same bucket.
    pub fn command_prefix(&self) -> String {
        let mut prefix = "backfill".to_owned();
        if self.stack != DEFAULT_STACK {
            let _ = write!(prefix, " --stack {}", self.stack);
        }
        if let Some(bucket) = &self.bucket {
            let _ = write!(prefix, " --bucket {bucket}");
        }
        prefix
    }

    async fn outputs(&self, aws: &Aws) -> Result<Vec<(String, String)>, AppError> {
        Ok(aws.stack_outputs(&self.stack).await?)
    }

    fn output(
        &self,
        outputs: &[(String, String)],
        output: &'static str,
        flag: &'static str,
    ) -> Result<String, AppError> {
        outputs
            .iter()
            .find(|(key, _)| key == output)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| AppError::MissingOutput {
                stack: self.stack.clone(),
                output,
                flag,
            })
    }

    /// The bucket, from `--bucket` or the stack.
    pub async fn bucket(&self, aws: &Aws) -> Result<String, AppError> {
        match &self.bucket {
            Some(bucket) => Ok(bucket.clone()),
            None => self.output(&self.outputs(aws).await?, BUCKET_OUTPUT, "--bucket"),
        }
    }

    /// The state machine and the bucket, asking the stack at most once.
    pub async fn state_machine_and_bucket(&self, aws: &Aws) -> Result<(String, String), AppError> {
        if let (Some(arn), Some(bucket)) = (&self.state_machine_arn, &self.bucket) {
            return Ok((arn.clone(), bucket.clone()));
        }
        let outputs = self.outputs(aws).await?;
        let arn = match &self.state_machine_arn {
            Some(arn) => arn.clone(),
            None => self.output(&outputs, STATE_MACHINE_OUTPUT, "--state-machine-arn")?,
        };
        let bucket = match &self.bucket {
            Some(bucket) => bucket.clone(),
            None => self.output(&outputs, BUCKET_OUTPUT, "--bucket")?,
        };
        Ok((arn, bucket))
    }
}

/// A manifest that passed validation, with its bytes as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidManifest {
    pub file_name: String,
    pub format: ManifestFormat,
    pub contacts: usize,
    pub data: Vec<u8>,
}

/// Reads and checks a manifest, without any AWS call.
pub fn validate(path: &Path) -> Result<ValidManifest, AppError> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| AppError::NoFileName {
            path: path.to_owned(),
        })?
        .to_owned();
    let format = ManifestFormat::from_file_name(&file_name)?;
    let data = std::fs::read(path).map_err(|source| AppError::Read {
        path: path.to_owned(),
        source,
    })?;
    let contacts = manifest::check(format, &data).map_err(|problems| AppError::Invalid {
        path: path.to_owned(),
        problems,
    })?;
    Ok(ValidManifest {
        file_name,
        format,
        contacts,
        data,
    })
}

/// What a backfill was started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A manifest file, uploaded.
    Manifest { contacts: usize },
    /// A time window, as given: the function lists its calls into the manifest.
    Window { from: String, to: String },
}

/// A started backfill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub source: Source,
    pub bucket: String,
    pub manifest_key: String,
    pub execution_name: String,
    pub execution_arn: String,
}

/// Validates, uploads the manifest, and starts the state machine on it. A manifest with any
/// problem is refused before any AWS call.
pub async fn start(
    aws: &Aws,
    targets: &Targets,
    path: &Path,
    now: SystemTime,
) -> Result<Started, AppError> {
    let manifest = validate(path)?;
    let (state_machine_arn, bucket) = targets.state_machine_and_bucket(aws).await?;
    let names = StartNames::new(&manifest.file_name, now);
    let content_type = match manifest.format {
        ManifestFormat::Csv => "text/csv",
        ManifestFormat::JsonLines => "application/jsonl",
    };
    aws.put_object(&bucket, &names.manifest_key, manifest.data, content_type)
        .await?;
    let input = json!({ "manifestKey": names.manifest_key }).to_string();
    let execution_arn = aws
        .start_execution(&state_machine_arn, &names.execution_name, &input)
        .await?;
    Ok(Started {
        source: Source::Manifest {
            contacts: manifest.contacts,
        },
        bucket,
        manifest_key: names.manifest_key,
        execution_name: names.execution_name,
        execution_arn,
    })
}

/// Starts the state machine on the calls that started in `[from, to)`, which its first step
/// lists from Salesforce: nothing is uploaded. A window the function would refuse is refused
/// here, in the function's words, before any AWS call.
pub async fn start_window(
    aws: &Aws,
    targets: &Targets,
    from: &str,
    to: &str,
    now: SystemTime,
) -> Result<Started, AppError> {
    let window = parse_window(Some(&json!(from)), Some(&json!(to))).map_err(AppError::Window)?;
    let (state_machine_arn, bucket) = targets.state_machine_and_bucket(aws).await?;
    let names = WindowNames::new(&window, now);
    // As given, not normalized: the function parses them again, and the console shows them.
    let input = json!({ "from": from, "to": to }).to_string();
    let execution_arn = aws
        .start_execution(&state_machine_arn, &names.execution_name, &input)
        .await?;
    Ok(Started {
        source: Source::Window {
            from: from.to_owned(),
            to: to.to_owned(),
        },
        bucket,
        manifest_key: names.manifest_key,
        execution_name: names.execution_name,
        execution_arn,
    })
}

/// What `start` prints: the manifest, the execution, where to see it, and what to run next.
pub fn render_started(started: &Started, prefix: &str) -> String {
    let mut text = String::new();
    let (bucket, key) = (&started.bucket, &started.manifest_key);
    let _ = match &started.source {
        Source::Manifest { contacts } => {
            writeln!(text, "Uploaded {contacts} contacts to s3://{bucket}/{key}")
        }
        Source::Window { from, to } => writeln!(
            text,
            "The calls that started from {from} up to (not including) {to} will be listed from Salesforce into s3://{bucket}/{key}"
        ),
    };
    let _ = writeln!(text, "Started execution {}", started.execution_arn);
    if let Some(url) = console_url(&started.execution_arn) {
        let _ = writeln!(text, "Console: {url}");
    }
    let _ = writeln!(text, "Next:");
    let _ = writeln!(text, "  {prefix} watch {}", started.execution_arn);
    let _ = writeln!(text, "  {prefix} report {}", started.execution_arn);
    text
}

/// One look at a running backfill.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub execution: Execution,
    pub map_run: Option<MapRun>,
    /// The clock's time when the look was taken.
    pub now: SystemTime,
}

/// Polls the execution and its Map Run every `interval` until the execution is no longer
/// running, calling `on_tick` after each look; returns the last look.
pub async fn watch(
    aws: &Aws,
    execution_arn: &str,
    interval: Duration,
    clock: impl Fn() -> SystemTime,
    mut on_tick: impl FnMut(&Tick),
) -> Result<Tick, AppError> {
    let mut map_run_arn: Option<String> = None;
    loop {
        let execution = aws.describe_execution(execution_arn).await?;
        if map_run_arn.is_none() {
            map_run_arn = aws.find_map_run(execution_arn).await?;
        }
        let map_run = match &map_run_arn {
            Some(arn) => Some(aws.describe_map_run(arn).await?),
            None => None,
        };
        let tick = Tick {
            execution,
            map_run,
            now: clock(),
        };
        on_tick(&tick);
        if !tick.execution.status.is_active() {
            return Ok(tick);
        }
        tokio::time::sleep(interval).await;
    }
}

/// A report, and what became of `--failed-manifest`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reported {
    pub report: Report,
    pub text: String,
}

/// Describes the execution (and its Map Run while it runs), and reports on it.
pub async fn report(
    aws: &Aws,
    bucket: &str,
    execution_arn: &str,
    failed_manifest: Option<&Path>,
    prefix: &str,
    now: SystemTime,
) -> Result<Reported, AppError> {
    let execution = aws.describe_execution(execution_arn).await?;
    let map_run = if execution.status.is_active() {
        match aws.find_map_run(execution_arn).await? {
            Some(arn) => Some(aws.describe_map_run(&arn).await?),
            None => None,
        }
    } else {
        None
    };
    let tick = Tick {
        execution,
        map_run,
        now,
    };
    finish_report(aws, bucket, &tick, failed_manifest, prefix).await
}

/// The report on a look at an execution; downloads `failed.csv` to `failed_manifest` when the
/// execution succeeded with failures.
pub async fn finish_report(
    aws: &Aws,
    bucket: &str,
    tick: &Tick,
    failed_manifest: Option<&Path>,
    prefix: &str,
) -> Result<Reported, AppError> {
    let report = report::report(&tick.execution, tick.map_run.as_ref(), bucket, tick.now)?;
    let mut text = report.text.clone();
    let arn = &tick.execution.arn;
    match &report.outcome {
        Outcome::Succeeded(summary) => match (&summary.failed_manifest_key, failed_manifest) {
            (Some(key), Some(path)) => {
                let data = aws.get_object(bucket, key).await?;
                std::fs::write(path, &data).map_err(|source| AppError::Write {
                    path: path.to_owned(),
                    source,
                })?;
                let contacts = manifest::check(ManifestFormat::Csv, &data)
                    .map_or_else(|_| "the failed".to_owned(), |n| n.to_string());
                let _ = writeln!(
                    text,
                    "Saved {contacts} contacts to {}; retry them with:\n  {prefix} start {}",
                    path.display(),
                    path.display()
                );
            }
            (Some(_), None) => {
                let _ = writeln!(
                    text,
                    "To retry the failed contacts:\n  {prefix} report {arn} --failed-manifest failed.csv\n  {prefix} start failed.csv"
                );
            }
            (None, Some(_)) => {
                text.push_str("Nothing failed: there is no failed manifest to save.\n");
            }
            (None, None) => {}
        },
        Outcome::NotFinished => {
            let _ = writeln!(text, "Follow it with:\n  {prefix} watch {arn}");
        }
        Outcome::Failed => {}
    }
    Ok(Reported { report, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_prefix_repeats_only_what_differs_from_the_defaults() {
        let mut targets = Targets {
            stack: DEFAULT_STACK.into(),
            state_machine_arn: Some("arn".into()),
            bucket: None,
        };
        assert_eq!(targets.command_prefix(), "backfill");
        targets.stack = "Staging".into();
        targets.bucket = Some("b".into());
        assert_eq!(
            targets.command_prefix(),
            "backfill --stack Staging --bucket b"
        );
    }

    #[test]
    fn started_output_names_the_next_commands() {
        let started = Started {
            source: Source::Manifest { contacts: 3 },
            bucket: "b".into(),
            manifest_key: "manifests/20260101T000000Z-calls.csv".into(),
            execution_name: "calls-20260101T000000Z".into(),
            execution_arn: "arn:aws:states:us-east-1:1:execution:Backfill:calls-20260101T000000Z"
                .into(),
        };
        assert_eq!(
            render_started(&started, "backfill"),
            "Uploaded 3 contacts to s3://b/manifests/20260101T000000Z-calls.csv\n\
             Started execution arn:aws:states:us-east-1:1:execution:Backfill:calls-20260101T000000Z\n\
             Console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/arn:aws:states:us-east-1:1:execution:Backfill:calls-20260101T000000Z\n\
             Next:\n\
             \x20 backfill watch arn:aws:states:us-east-1:1:execution:Backfill:calls-20260101T000000Z\n\
             \x20 backfill report arn:aws:states:us-east-1:1:execution:Backfill:calls-20260101T000000Z\n"
        );
    }

    #[test]
    fn a_started_window_says_where_its_manifest_will_be_listed() {
        let name = "window-20261101T000000Z-20261108T000000Z-20261108T101500Z";
        let arn = format!("arn:aws:states:us-east-1:1:execution:Backfill:{name}");
        let started = Started {
            source: Source::Window {
                from: "2026-11-01T00:00:00Z".into(),
                to: "2026-11-08T00:00:00Z".into(),
            },
            bucket: "b".into(),
            manifest_key: format!("manifests/windows/{name}.csv"),
            execution_name: name.into(),
            execution_arn: arn.clone(),
        };
        assert_eq!(
            render_started(&started, "backfill --stack Staging"),
            format!(
                "The calls that started from 2026-11-01T00:00:00Z up to (not including) 2026-11-08T00:00:00Z will be listed from Salesforce into s3://b/manifests/windows/{name}.csv\n\
                 Started execution {arn}\n\
                 Console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{arn}\n\
                 Next:\n\
                 \x20 backfill --stack Staging watch {arn}\n\
                 \x20 backfill --stack Staging report {arn}\n"
            )
        );
    }

    #[test]
    fn unreadable_and_unsupported_manifests_are_refused() {
        assert!(matches!(
            validate(Path::new("/nonexistent/calls.csv")),
            Err(AppError::Read { .. })
        ));
        assert!(matches!(
            validate(Path::new("calls.xlsx")),
            Err(AppError::Format(FormatError::Unsupported { .. }))
        ));
        assert!(matches!(
            validate(Path::new("/")),
            Err(AppError::NoFileName { .. })
        ));
    }
}
