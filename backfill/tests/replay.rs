//! `watch` and `report` against recorded Step Functions responses (`tests/fixtures/replay/`),
//! served over HTTP to the real `aws-sdk-sfn` client by the replay server in `common`.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use backfill::app::{self, AppError};
use backfill::cli::error_chain;
use backfill::domain::progress::progress_line;
use backfill::domain::report::{ExecutionStatus, Outcome};
use common::{Replay, clients, run_backfill};
use serde_json::json;

const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:ContactDataSyncBackfill:calls-20260101T000000Z";
const MAP_RUN: &str = "arn:aws:states:us-east-1:123456789012:mapRun:ContactDataSyncBackfill/UploadCsv:5f2ab1e0-4b8c-3d5e-9a6f-0c1d2e3f4a5b";
const BUCKET: &str = "contactdatasync-backfill";

/// The recorded execution's start, 2026-01-01T00:00:00Z; its Map Run starts 1.5 s later.
fn at(seconds: f64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1_767_225_600.0 + seconds)
}

fn map_run_at(seconds: f64) -> SystemTime {
    at(1.5 + seconds)
}

/// Watches with no pause between looks, each look taking the next time from `clock`: the line
/// each look printed, and the last look.
async fn watch_lines(
    aws: &backfill::aws::Aws,
    execution: &str,
    clock: &Mutex<Vec<SystemTime>>,
) -> (Vec<String>, app::Tick) {
    let now = || clock.lock().expect("clock").remove(0);
    let mut lines = Vec::new();
    let last = app::watch(aws, execution, Duration::ZERO, now, |tick| {
        lines.push(format!(
            "{} | {}",
            tick.execution.status.name(),
            progress_line(tick.map_run.as_ref(), tick.now)
        ));
    })
    .await
    .expect("watch");
    (lines, last)
}

async fn replay(scenario: &str) -> (Replay, backfill::aws::Aws) {
    let replay = Replay::start(scenario).await;
    // CloudFormation and S3 calls would reach the replay server too, which rejects them.
    let aws = clients(&replay.url, &replay.url, &replay.url).await;
    (replay, aws)
}

const REPORT_SUCCEEDED: &str = "\
Execution calls-20260101T000000Z SUCCEEDED in 12m00s (started 2026-01-01 00:00:00 UTC).
Manifest: s3://contactdatasync-backfill/manifests/20260101T000000Z-calls.csv
Contacts: 10,000
  SUCCESS  9,980  (99.8%)
  SKIPPED     12  (0.1%)
  FAILED       8  (0.1%)
Failure codes:
  THROTTLED      5
  NO_TRANSCRIPT  3
Batches: 99 succeeded, 1 failed
Summary: s3://contactdatasync-backfill/results/5f2ab1e0-4b8c-3d5e-9a6f-0c1d2e3f4a5b/summary.json
Failed contacts: s3://contactdatasync-backfill/results/5f2ab1e0-4b8c-3d5e-9a6f-0c1d2e3f4a5b/failed.csv
";

#[tokio::test]
async fn watch_renders_each_look_at_the_map_run_then_reports() {
    let (replay, aws) = replay("watch-succeeded").await;
    // One reading of the clock per look.
    let clock = Mutex::new(vec![
        at(1.0),
        map_run_at(30.0),
        map_run_at(300.0),
        map_run_at(600.0),
        map_run_at(700.0),
    ]);
    let begun = Instant::now();
    let (lines, last) = watch_lines(&aws, EXECUTION, &clock).await;
    assert!(
        begun.elapsed() < Duration::from_secs(1),
        "{:?}",
        begun.elapsed()
    );
    assert_eq!(
        lines,
        [
            "RUNNING | waiting for the Map Run to start",
            "RUNNING | 0/10,000 items (0.0%), failed 0, rate unknown, ETA unknown, elapsed 30s",
            "RUNNING | 4,200/10,000 items (42.0%), failed 100, 840 items/min, ETA 6m54s, elapsed 5m00s",
            "RUNNING | 9,000/10,000 items (90.0%), failed 100, 900 items/min, ETA 1m07s, elapsed 10m00s",
            // The run stopped at 11 minutes: its rate is over that, whenever it is looked at.
            "SUCCEEDED | 10,000/10,000 items (100.0%), failed 100, 909 items/min, ETA 0s, elapsed 11m00s",
        ]
    );
    assert_eq!(last.execution.status, ExecutionStatus::Succeeded);
    assert!(clock.lock().expect("clock").is_empty());

    let reported = app::finish_report(&aws, BUCKET, &last, None, "backfill")
        .await
        .expect("report");
    assert_eq!(
        reported.text,
        format!(
            "{REPORT_SUCCEEDED}To retry the failed contacts:\n  \
             backfill report {EXECUTION} --failed-manifest failed.csv\n  \
             backfill start failed.csv\n"
        )
    );

    replay.assert_done();
    let execution = json!({ "executionArn": EXECUTION });
    let map_run = json!({ "mapRunArn": MAP_RUN });
    let requests = replay.requests();
    let expected = [
        ("DescribeExecution", &execution),
        ("ListMapRuns", &execution),
        ("DescribeExecution", &execution),
        ("ListMapRuns", &execution),
        ("DescribeMapRun", &map_run),
        ("DescribeExecution", &execution),
        ("DescribeMapRun", &map_run),
        ("DescribeExecution", &execution),
        ("DescribeMapRun", &map_run),
        ("DescribeExecution", &execution),
        ("DescribeMapRun", &map_run),
    ];
    assert_eq!(requests.len(), expected.len(), "{requests:#?}");
    for ((operation, body), (expected_operation, expected_body)) in requests.iter().zip(expected) {
        assert_eq!(operation, expected_operation);
        assert_eq!(body, expected_body, "{operation}");
    }
}

#[tokio::test]
async fn report_while_running_shows_progress_and_says_it_is_not_finished() {
    let (replay, aws) = replay("report-running").await;
    let reported = app::report(&aws, BUCKET, EXECUTION, None, "backfill", map_run_at(300.0))
        .await
        .expect("report");
    assert_eq!(reported.report.outcome, Outcome::NotFinished);
    assert_eq!(
        reported.text,
        format!(
            "Execution calls-20260101T000000Z is RUNNING, not finished yet (started 2026-01-01 00:00:00 UTC, 5m02s ago).\n\
             Progress: 4,200/10,000 items (42.0%), failed 100, 840 items/min, ETA 6m54s, elapsed 5m00s\n\
             Follow it with:\n  backfill watch {EXECUTION}\n"
        )
    );
    replay.assert_done();
}

#[tokio::test]
async fn report_of_a_failed_execution_prints_error_and_cause() {
    let (replay, aws) = replay("report-failed").await;
    let reported = app::report(&aws, BUCKET, EXECUTION, None, "backfill", at(9_999.0))
        .await
        .expect("report");
    assert_eq!(reported.report.outcome, Outcome::Failed);
    assert_eq!(
        reported.text,
        "Execution calls-20260101T000000Z FAILED after 12m05s (started 2026-01-01 00:00:00 UTC).\n  \
         error: Lambda.Unknown\n  \
         cause: The cause could not be determined because Lambda did not return an error type. Returned payload: {\"errorMessage\":\"2026-01-01T00:12:05.250Z Task timed out after 60.00 seconds\"}\n"
    );
    replay.assert_done();
}

#[tokio::test]
async fn report_of_a_succeeded_execution_prints_the_summary() {
    let (replay, aws) = replay("report-succeeded").await;
    let reported = app::report(
        &aws,
        BUCKET,
        EXECUTION,
        None,
        "backfill --stack Staging",
        at(9_999.0),
    )
    .await
    .expect("report");
    assert!(matches!(reported.report.outcome, Outcome::Succeeded(_)));
    assert_eq!(
        reported.text,
        format!(
            "{REPORT_SUCCEEDED}To retry the failed contacts:\n  \
             backfill --stack Staging report {EXECUTION} --failed-manifest failed.csv\n  \
             backfill --stack Staging start failed.csv\n"
        )
    );
    replay.assert_done();
}

#[tokio::test]
async fn a_service_error_is_reported_with_its_code_and_message() {
    let (replay, aws) = replay("report-missing").await;
    let error = app::report(&aws, BUCKET, EXECUTION, None, "backfill", at(1.0))
        .await
        .expect_err("no such execution");
    assert!(matches!(error, AppError::Aws(_)), "{error:?}");
    let message = error_chain(&error);
    assert!(
        message.starts_with(&format!(
            "Step Functions DescribeExecution of {EXECUTION}: service error: ExecutionDoesNotExist: Execution Does Not Exist: '{EXECUTION}'"
        )),
        "{message}"
    );
    replay.assert_done();
}

#[tokio::test]
async fn the_replay_server_rejects_calls_that_are_not_in_the_recording() {
    let (_replay, aws) = replay("report-failed").await;
    // The recording starts with DescribeExecution, not ListMapRuns.
    let error = aws.find_map_run(EXECUTION).await.expect_err("rejected");
    let message = error_chain(&error);
    assert!(message.contains("UnknownOperationException"), "{message}");
    // Nor does it answer anything but Step Functions.
    let error = aws.get_object(BUCKET, "k").await.expect_err("rejected");
    assert!(error_chain(&error).contains("S3 GetObject"), "{error:?}");
    // The recorded call still works, and nothing is left.
    let execution = aws.describe_execution(EXECUTION).await.expect("recorded");
    assert_eq!(execution.status, ExecutionStatus::Failed);
    let error = aws
        .describe_execution(EXECUTION)
        .await
        .expect_err("one too many");
    assert!(error_chain(&error).contains("after the last recorded response"));
}

#[tokio::test]
async fn the_binary_reports_a_failed_execution_with_exit_code_1() {
    let replay = Replay::start("report-failed").await;
    let run = run_backfill(
        &["report", EXECUTION, "--bucket", BUCKET],
        &[("AWS_ENDPOINT_URL", &replay.url)],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.starts_with(
            "Execution calls-20260101T000000Z FAILED after 12m05s (started 2026-01-01 00:00:00 UTC).\n  error: Lambda.Unknown\n  cause: The cause could not be determined"
        ),
        "{}",
        run.stdout
    );
    assert_eq!(run.stderr, "");
    replay.assert_done();
}

/// An execution started (from the console, say) on a window the function refuses: it fails in
/// its first step, before any Map Run.
const WINDOW_EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:ContactDataSyncBackfill:b6a3c2d1-7e4f-4a5b-9c8d-0e1f2a3b4c5d";

const REPORT_WINDOW_REFUSED: &str = "\
Execution b6a3c2d1-7e4f-4a5b-9c8d-0e1f2a3b4c5d FAILED after 2s (started 2026-12-12 09:30:00 UTC).
  error: BadRequest
  cause: to: must be at most 31 days after from; backfill longer periods window by window
The function refused the window: nothing was listed or uploaded. Fix it and start again.
";

#[tokio::test]
async fn the_binary_reports_a_refused_window_with_the_functions_message() {
    let replay = Replay::start("report-window-refused").await;
    let run = run_backfill(
        &["report", WINDOW_EXECUTION, "--bucket", BUCKET],
        &[("AWS_ENDPOINT_URL", &replay.url)],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, REPORT_WINDOW_REFUSED);
    assert_eq!(run.stderr, "");
    replay.assert_done();
}

#[tokio::test]
async fn watch_waits_through_the_window_step_that_has_no_map_run() {
    let (replay, aws) = replay("watch-window-refused").await;
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_797_067_800);
    let clock = Mutex::new(vec![
        started + Duration::from_secs(1),
        started + Duration::from_secs(3),
    ]);
    let (lines, last) = watch_lines(&aws, WINDOW_EXECUTION, &clock).await;
    assert_eq!(
        lines,
        [
            "RUNNING | waiting for the Map Run to start",
            "FAILED | waiting for the Map Run to start",
        ]
    );
    let reported = app::finish_report(&aws, BUCKET, &last, None, "backfill")
        .await
        .expect("report");
    assert_eq!(reported.report.outcome, Outcome::Failed);
    assert_eq!(reported.text, REPORT_WINDOW_REFUSED);
    replay.assert_done();
}

#[tokio::test]
async fn the_binary_watches_until_the_execution_stops_then_reports() {
    let replay = Replay::start("watch-aborted").await;
    let begun = Instant::now();
    let run = run_backfill(
        &["watch", EXECUTION, "--interval", "1", "--bucket", BUCKET],
        &[("AWS_ENDPOINT_URL", &replay.url)],
    )
    .await;
    // Two looks, one interval apart.
    assert!(begun.elapsed() >= Duration::from_secs(1));
    assert_eq!(run.code, Some(1), "{run:?}");
    replay.assert_done();
    // Not a terminal: one progress line a look. The first is measured against the real clock.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines[0].starts_with("4,200/10,000 items (42.0%), failed 100, "),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "10,000/10,000 items (100.0%), failed 5,700, 1,511 items/min, ETA 0s, elapsed 6m37s"
    );
    assert_eq!(
        run.stdout,
        "Execution calls-20260101T000000Z ABORTED after 6m40s (started 2026-01-01 00:00:00 UTC).\n  \
         error: OperatorStop\n  \
         cause: Stopped from the console to retry with a smaller manifest\n"
    );
}

#[tokio::test]
async fn with_nothing_failed_there_is_no_failed_manifest_to_save() {
    let (replay, aws) = replay("report-succeeded-clean").await;
    let dir = common::scratch_dir("clean");
    let path = dir.join("failed.csv");
    let reported = app::report(&aws, BUCKET, EXECUTION, Some(&path), "backfill", at(60.0))
        .await
        .expect("report");
    assert_eq!(
        reported.text,
        "Execution calls-20260101T000000Z SUCCEEDED in 42s (started 2026-01-01 00:00:00 UTC).\n\
         Manifest: s3://contactdatasync-backfill/manifests/20260101T000000Z-good.jsonl\n\
         Contacts: 3\n\
         \x20 SUCCESS  2  (66.7%)\n\
         \x20 SKIPPED  1  (33.3%)\n\
         Batches: 1 succeeded, 0 failed\n\
         Summary: s3://contactdatasync-backfill/results/5f2ab1e0-4b8c-3d5e-9a6f-0c1d2e3f4a5b/summary.json\n\
         Failed contacts: none\n\
         Nothing failed: there is no failed manifest to save.\n"
    );
    assert!(!path.exists());
    // No S3 call either: the replay server would have rejected it.
    replay.assert_done();
    let _ = std::fs::remove_dir_all(&dir);
}
