//! A backfill execution's state, its summary, and the report printed about it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Deserialize;
use thiserror::Error;

use super::format::{Utc, duration, thousands};
use super::progress::{MapRun, progress_line};

/// A Step Functions execution status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    /// Redriven, about to run again.
    PendingRedrive,
    /// A status this tool does not know.
    Other(String),
}

impl ExecutionStatus {
    pub fn from_name(name: &str) -> Self {
        match name {
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "TIMED_OUT" => Self::TimedOut,
            "ABORTED" => Self::Aborted,
            "PENDING_REDRIVE" => Self::PendingRedrive,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Aborted => "ABORTED",
            Self::PendingRedrive => "PENDING_REDRIVE",
            Self::Other(name) => name,
        }
    }

    /// Still going: running, or redriven and about to run.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Running | Self::PendingRedrive)
    }
}

/// What DescribeExecution says about a backfill.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    pub start: SystemTime,
    pub stop: Option<SystemTime>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The output of the state machine's Summarize step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub manifest_key: String,
    pub contacts: u64,
    pub statuses: BTreeMap<String, u64>,
    #[serde(default)]
    pub failure_codes: BTreeMap<String, u64>,
    pub batches: Batches,
    pub summary_key: String,
    pub failed_manifest_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Batches {
    pub succeeded: u64,
    pub failed: u64,
}

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("execution {name} SUCCEEDED without an output")]
    NoOutput { name: String },
    #[error("the output of execution {name} is not a backfill summary")]
    NotASummary {
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The error of the state machine's Fail state when the function refuses its input (a time
/// window it does not accept); the cause is the function's answer body.
pub const BAD_REQUEST: &str = "BadRequest";

/// How a report ends: the CLI's exit code follows from it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded(Summary),
    /// Still running: the report shows progress so far.
    NotFinished,
    /// FAILED, TIMED_OUT, ABORTED or a status this tool does not know.
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub text: String,
    pub outcome: Outcome,
}

/// The report on an execution; `map_run` is used while it is still running.
pub fn report(
    execution: &Execution,
    map_run: Option<&MapRun>,
    bucket: &str,
    now: SystemTime,
) -> Result<Report, ReportError> {
    let mut text = String::new();
    let started = Utc::at(execution.start).readable();
    let took = execution
        .stop
        .unwrap_or(now)
        .duration_since(execution.start)
        .unwrap_or_default();
    let outcome = match &execution.status {
        ExecutionStatus::Succeeded => {
            let output = execution
                .output
                .as_deref()
                .ok_or_else(|| ReportError::NoOutput {
                    name: execution.name.clone(),
                })?;
            let summary: Summary =
                serde_json::from_str(output).map_err(|source| ReportError::NotASummary {
                    name: execution.name.clone(),
                    source,
                })?;
            let _ = writeln!(
                text,
                "Execution {} SUCCEEDED in {} (started {started}).",
                execution.name,
                duration(took)
            );
            text.push_str(&render_summary(&summary, bucket));
            Outcome::Succeeded(summary)
        }
        status if status.is_active() => {
            let _ = writeln!(
                text,
                "Execution {} is {}, not finished yet (started {started}, {} ago).",
                execution.name,
                status.name(),
                duration(took)
            );
            let _ = writeln!(text, "Progress: {}", progress_line(map_run, now));
            Outcome::NotFinished
        }
        status => {
            let _ = writeln!(
                text,
                "Execution {} {} after {} (started {started}).",
                execution.name,
                status.name(),
                duration(took)
            );
            let _ = writeln!(
                text,
                "  error: {}",
                execution.error.as_deref().unwrap_or("(none given)")
            );
            let refused = execution.error.as_deref() == Some(BAD_REQUEST);
            let cause = execution.cause.as_deref().map(|cause| {
                if refused {
                    function_message(cause)
                } else {
                    cause.to_owned()
                }
            });
            let _ = writeln!(
                text,
                "  cause: {}",
                cause.as_deref().unwrap_or("(none given)")
            );
            if refused {
                text.push_str(
                    "The function refused the window: nothing was listed or uploaded. Fix it and start again.\n",
                );
            }
            Outcome::Failed
        }
    };
    Ok(Report { text, outcome })
}

/// The message of a refusal's `{"error": "<message>"}` body; any other cause as it is.
fn function_message(cause: &str) -> String {
    #[derive(Deserialize)]
    struct Refusal {
        error: String,
    }
    serde_json::from_str::<Refusal>(cause).map_or_else(|_| cause.to_owned(), |r| r.error)
}

/// Totals per status and failure code, batches, and where the result files are.
pub fn render_summary(summary: &Summary, bucket: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "Manifest: s3://{bucket}/{}", summary.manifest_key);
    let _ = writeln!(text, "Contacts: {}", thousands(summary.contacts));
    let percent = |n: u64| {
        if summary.contacts == 0 {
            String::new()
        } else {
            format!("  ({:.1}%)", n as f64 * 100.0 / summary.contacts as f64)
        }
    };
    // The function's three statuses first, in their usual order, then any others by name.
    const KNOWN: [&str; 3] = ["SUCCESS", "SKIPPED", "FAILED"];
    let statuses = KNOWN
        .iter()
        .filter_map(|k| summary.statuses.get_key_value(*k))
        .chain(
            summary
                .statuses
                .iter()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str())),
        );
    table(&mut text, statuses, percent);
    if !summary.failure_codes.is_empty() {
        text.push_str("Failure codes:\n");
        let mut codes: Vec<_> = summary.failure_codes.iter().collect();
        codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        table(&mut text, codes.into_iter(), |_| String::new());
    }
    let _ = writeln!(
        text,
        "Batches: {} succeeded, {} failed",
        thousands(summary.batches.succeeded),
        thousands(summary.batches.failed)
    );
    let _ = writeln!(text, "Summary: s3://{bucket}/{}", summary.summary_key);
    match &summary.failed_manifest_key {
        Some(key) => {
            let _ = writeln!(text, "Failed contacts: s3://{bucket}/{key}");
        }
        None => text.push_str("Failed contacts: none\n"),
    }
    text
}

/// `  NAME  count` rows, names padded to the longest and counts right-aligned.
fn table<'a>(
    text: &mut String,
    rows: impl Iterator<Item = (&'a String, &'a u64)>,
    suffix: impl Fn(u64) -> String,
) {
    let rows: Vec<(&String, String, u64)> = rows.map(|(k, v)| (k, thousands(*v), *v)).collect();
    let name_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let count_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    for (name, count, n) in rows {
        let _ = writeln!(
            text,
            "  {name:<name_width$}  {count:>count_width$}{}",
            suffix(n)
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::progress::ItemCounts;

    const OUTPUT: &str = r#"{"manifestKey":"manifests/20260101T000000Z-calls.csv","contacts":10000,"statuses":{"SUCCESS":9980,"SKIPPED":12,"FAILED":8},"failureCodes":{"THROTTLED":5,"NO_TRANSCRIPT":3},"batches":{"succeeded":99,"failed":1},"summaryKey":"results/abc/summary.json","failedManifestKey":"results/abc/failed.csv"}"#;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + secs)
    }

    fn execution(status: ExecutionStatus) -> Execution {
        Execution {
            arn: "arn:aws:states:us-east-1:123456789012:execution:Backfill:calls".into(),
            name: "calls".into(),
            status,
            start: t(0),
            stop: None,
            output: None,
            error: None,
            cause: None,
        }
    }

    #[test]
    fn a_succeeded_execution_reports_its_summary() {
        let e = Execution {
            stop: Some(t(3_725)),
            output: Some(OUTPUT.into()),
            ..execution(ExecutionStatus::Succeeded)
        };
        let r = report(&e, None, "bf-bucket", t(9_999)).unwrap();
        assert_eq!(
            r.text,
            "Execution calls SUCCEEDED in 1h02m (started 2026-01-01 00:00:00 UTC).\n\
             Manifest: s3://bf-bucket/manifests/20260101T000000Z-calls.csv\n\
             Contacts: 10,000\n\
             \x20 SUCCESS  9,980  (99.8%)\n\
             \x20 SKIPPED     12  (0.1%)\n\
             \x20 FAILED       8  (0.1%)\n\
             Failure codes:\n\
             \x20 THROTTLED      5\n\
             \x20 NO_TRANSCRIPT  3\n\
             Batches: 99 succeeded, 1 failed\n\
             Summary: s3://bf-bucket/results/abc/summary.json\n\
             Failed contacts: s3://bf-bucket/results/abc/failed.csv\n"
        );
        let Outcome::Succeeded(summary) = r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert_eq!(summary.statuses["SUCCESS"], 9980);
    }

    #[test]
    fn nothing_failed_and_unknown_statuses_are_listed_after_known_ones() {
        let output = r#"{"manifestKey":"manifests/m.jsonl","contacts":3,"statuses":{"SUCCESS":2,"PARTIAL":1},"failureCodes":{},"batches":{"succeeded":1,"failed":0},"summaryKey":"results/x/summary.json","failedManifestKey":null}"#;
        let summary: Summary = serde_json::from_str(output).unwrap();
        assert_eq!(
            render_summary(&summary, "b"),
            "Manifest: s3://b/manifests/m.jsonl\n\
             Contacts: 3\n\
             \x20 SUCCESS  2  (66.7%)\n\
             \x20 PARTIAL  1  (33.3%)\n\
             Batches: 1 succeeded, 0 failed\n\
             Summary: s3://b/results/x/summary.json\n\
             Failed contacts: none\n"
        );
    }

    #[test]
    fn a_running_execution_reports_progress_so_far() {
        let run = MapRun {
            arn: "run".into(),
            status: "RUNNING".into(),
            start: t(60),
            stop: None,
            counts: ItemCounts {
                succeeded: 4100,
                failed: 100,
                total: 10_000,
                ..ItemCounts::default()
            },
        };
        let e = execution(ExecutionStatus::Running);
        let r = report(&e, Some(&run), "b", t(360)).unwrap();
        assert_eq!(r.outcome, Outcome::NotFinished);
        assert_eq!(
            r.text,
            "Execution calls is RUNNING, not finished yet (started 2026-01-01 00:00:00 UTC, 6m00s ago).\n\
             Progress: 4,200/10,000 items (42.0%), failed 100, 840 items/min, ETA 6m54s, elapsed 5m00s\n"
        );
        let r = report(&e, None, "b", t(5)).unwrap();
        assert!(
            r.text
                .ends_with("Progress: waiting for the Map Run to start\n"),
            "{}",
            r.text
        );
    }

    #[test]
    fn a_failed_execution_reports_error_and_cause() {
        for status in ["FAILED", "TIMED_OUT", "ABORTED"] {
            let e = Execution {
                stop: Some(t(90)),
                error: Some("States.ExceedToleratedFailureThreshold".into()),
                cause: Some("too many failures".into()),
                ..execution(ExecutionStatus::from_name(status))
            };
            let r = report(&e, None, "b", t(100)).unwrap();
            assert_eq!(r.outcome, Outcome::Failed);
            assert_eq!(
                r.text,
                format!(
                    "Execution calls {status} after 1m30s (started 2026-01-01 00:00:00 UTC).\n  \
                     error: States.ExceedToleratedFailureThreshold\n  cause: too many failures\n"
                )
            );
        }
        let aborted = execution(ExecutionStatus::Aborted);
        assert!(
            report(&aborted, None, "b", t(1))
                .unwrap()
                .text
                .contains("error: (none given)\n  cause: (none given)")
        );
    }

    #[test]
    fn a_refused_window_reports_the_functions_message() {
        let refused = |cause: &str| Execution {
            stop: Some(t(2)),
            error: Some(BAD_REQUEST.into()),
            cause: Some(cause.into()),
            ..execution(ExecutionStatus::Failed)
        };
        let r = report(
            &refused(r#"{"error":"to: must be after from"}"#),
            None,
            "b",
            t(100),
        )
        .unwrap();
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(
            r.text,
            "Execution calls FAILED after 2s (started 2026-01-01 00:00:00 UTC).\n  \
             error: BadRequest\n  \
             cause: to: must be after from\n\
             The function refused the window: nothing was listed or uploaded. Fix it and start again.\n"
        );
        // A cause in another shape is shown as it is.
        let r = report(&refused("from: must be a string"), None, "b", t(100)).unwrap();
        assert!(
            r.text.contains("  cause: from: must be a string\n"),
            "{}",
            r.text
        );
        // Only BadRequest's cause is the function's answer: other JSON causes stay whole.
        let other = Execution {
            error: Some("States.TaskFailed".into()),
            ..refused(r#"{"error":"x"}"#)
        };
        let r = report(&other, None, "b", t(100)).unwrap();
        assert!(
            r.text.ends_with("  cause: {\"error\":\"x\"}\n"),
            "{}",
            r.text
        );
    }

    #[test]
    fn a_succeeded_execution_without_a_summary_is_an_error() {
        let e = execution(ExecutionStatus::Succeeded);
        assert!(matches!(
            report(&e, None, "b", t(1)),
            Err(ReportError::NoOutput { .. })
        ));
        let e = Execution {
            output: Some("{\"ok\":true}".into()),
            ..e
        };
        let err = report(&e, None, "b", t(1)).unwrap_err();
        assert!(matches!(err, ReportError::NotASummary { .. }));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn statuses_round_trip_their_names() {
        for name in [
            "RUNNING",
            "SUCCEEDED",
            "FAILED",
            "TIMED_OUT",
            "ABORTED",
            "PENDING_REDRIVE",
            "NEW",
        ] {
            assert_eq!(ExecutionStatus::from_name(name).name(), name);
        }
        assert!(ExecutionStatus::PendingRedrive.is_active());
        assert!(!ExecutionStatus::Succeeded.is_active());
    }
}
