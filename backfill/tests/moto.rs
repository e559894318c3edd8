//! `start` (of a manifest or a time window) and `report --failed-manifest` against moto's S3, Step Functions and CloudFormation
//! (`python3 -m moto.server`, installed by scripts/setup.sh; these tests fail without it).
//!
//! The stack is made from `tests/fixtures/moto/stack.json`: a bucket, a role and a state machine
//! (a Pass state: moto does not run Distributed Maps), with the two outputs the CLI reads.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_sdk_cloudformation::types::StackStatus;
use backfill::app::{self, AppError, Source, Targets};
use backfill::aws::Aws;
use common::{Moto, Replay, clients, fixtures, run_backfill, scratch_dir};
use serde_json::{Value, json};

const STACK: &str = "ContactDataSync";

fn manifest(name: &str) -> PathBuf {
    fixtures().join("manifests").join(name)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The stack's state machine ARN and bucket, as CloudFormation reports them.
struct Stack {
    state_machine_arn: String,
    bucket: String,
}

async fn create_stack(aws: &Aws, name: &str, template: &str) {
    let body =
        std::fs::read_to_string(fixtures().join("moto").join(template)).expect("read the template");
    aws.cloudformation
        .create_stack()
        .stack_name(name)
        .template_body(body)
        .send()
        .await
        .expect("create the stack");
    let stacks = aws
        .cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .expect("describe the stack");
    assert_eq!(
        stacks.stacks()[0].stack_status(),
        Some(&StackStatus::CreateComplete)
    );
}

async fn backfill_stack(aws: &Aws) -> Stack {
    create_stack(aws, STACK, "stack.json").await;
    let outputs = aws.stack_outputs(STACK).await.expect("the outputs");
    let output = |key: &str| {
        outputs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no output {key} in {outputs:?}"))
    };
    Stack {
        state_machine_arn: output("BackfillStateMachineArn"),
        bucket: output("BackfillBucketName"),
    }
}

async fn keys(aws: &Aws, bucket: &str) -> Vec<String> {
    aws.s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list the bucket")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

async fn executions(aws: &Aws, state_machine_arn: &str) -> Vec<String> {
    aws.sfn
        .list_executions()
        .state_machine_arn(state_machine_arn)
        .send()
        .await
        .expect("list executions")
        .executions()
        .iter()
        .map(|e| e.execution_arn().to_owned())
        .collect()
}

/// moto, clients of it, and the stack with the backfill outputs.
async fn moto_with_stack() -> (Moto, Aws, Stack) {
    let moto = Moto::start();
    let aws = clients(&moto.url, &moto.url, &moto.url).await;
    let stack = backfill_stack(&aws).await;
    (moto, aws, stack)
}

/// Nothing was uploaded to the stack's bucket, and no execution was started.
async fn assert_nothing_started(aws: &Aws, stack: &Stack) {
    assert_eq!(keys(aws, &stack.bucket).await, Vec::<String>::new());
    assert_eq!(
        executions(aws, &stack.state_machine_arn).await,
        Vec::<String>::new()
    );
}

async fn object(aws: &Aws, bucket: &str, key: &str) -> Vec<u8> {
    aws.get_object(bucket, key).await.expect("get the object")
}

/// `yyyymmddThhmmssZ`.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
}

#[tokio::test]
async fn start_uploads_the_manifest_and_starts_the_stacks_state_machine() {
    let (moto, aws, stack) = moto_with_stack().await;
    let good = manifest("good.csv");

    let run = run_backfill(
        &["start", path_str(&good)],
        &[("AWS_ENDPOINT_URL", &moto.url)],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "");

    // The manifest, byte for byte, under manifests/<stamp>-good.csv.
    let uploaded = keys(&aws, &stack.bucket).await;
    assert_eq!(uploaded.len(), 1, "{uploaded:?}");
    let key = &uploaded[0];
    let stamp = key
        .strip_prefix("manifests/")
        .and_then(|k| k.strip_suffix("-good.csv"))
        .unwrap_or_else(|| panic!("{key}"));
    assert!(is_stamp(stamp), "{key}");
    assert_eq!(
        object(&aws, &stack.bucket, key).await,
        std::fs::read(&good).expect("read the fixture")
    );

    // One execution of the stack's state machine, named after the file, on that key.
    let started = executions(&aws, &stack.state_machine_arn).await;
    assert_eq!(started.len(), 1, "{started:?}");
    let execution = aws
        .sfn
        .describe_execution()
        .execution_arn(&started[0])
        .send()
        .await
        .expect("describe the execution");
    assert_eq!(execution.state_machine_arn(), stack.state_machine_arn);
    assert_eq!(execution.name(), Some(format!("good-{stamp}").as_str()));
    let input: Value =
        serde_json::from_str(execution.input().expect("an input")).expect("JSON input");
    assert_eq!(input, json!({ "manifestKey": key }));

    let arn = &started[0];
    assert_eq!(
        run.stdout,
        format!(
            "Uploaded 5 contacts to s3://{bucket}/{key}\n\
             Started execution {arn}\n\
             Console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{arn}\n\
             Next:\n  backfill watch {arn}\n  backfill report {arn}\n",
            bucket = stack.bucket
        )
    );
}

#[tokio::test]
async fn start_in_process_names_key_and_execution_after_the_clock() {
    let (_moto, aws, stack) = moto_with_stack().await;
    let targets = Targets {
        stack: STACK.into(),
        state_machine_arn: None,
        bucket: None,
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_261_599);
    let good = manifest("good.jsonl");
    let started = app::start(&aws, &targets, &good, now).await.expect("start");
    assert_eq!(started.source, Source::Manifest { contacts: 3 });
    assert_eq!(started.bucket, stack.bucket);
    assert_eq!(
        started.manifest_key,
        "manifests/20260101T095959Z-good.jsonl"
    );
    assert_eq!(started.execution_name, "good-20260101T095959Z");
    assert_eq!(
        object(&aws, &stack.bucket, &started.manifest_key).await,
        std::fs::read(&good).expect("read the fixture")
    );
    let head = aws
        .s3
        .head_object()
        .bucket(&stack.bucket)
        .key(&started.manifest_key)
        .send()
        .await
        .expect("head the manifest");
    assert_eq!(head.content_type(), Some("application/jsonl"));
    let execution = aws
        .sfn
        .describe_execution()
        .execution_arn(&started.execution_arn)
        .send()
        .await
        .expect("describe the execution");
    assert_eq!(execution.name(), Some("good-20260101T095959Z"));
    assert_eq!(
        serde_json::from_str::<Value>(execution.input().expect("an input")).expect("JSON"),
        json!({ "manifestKey": "manifests/20260101T095959Z-good.jsonl" })
    );
}

#[tokio::test]
async fn a_bad_manifest_uploads_nothing_and_starts_nothing() {
    let (moto, aws, stack) = moto_with_stack().await;
    let env = [("AWS_ENDPOINT_URL", moto.url.as_str())];

    let bad = manifest("bad-rows.csv");
    let run = run_backfill(&["start", path_str(&bad)], &env).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "");
    let expected = std::fs::read_to_string(manifest("bad-rows.csv.expected")).expect("expected");
    assert_eq!(
        run.stderr,
        format!(
            "{expected}{}: 10 problem(s); nothing was uploaded or started\n",
            path_str(&bad)
        )
    );

    let json = manifest("calls.json");
    let run = run_backfill(&["start", path_str(&json)], &env).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: calls.json: unsupported manifest type")
    );

    assert_nothing_started(&aws, &stack).await;
}

#[tokio::test]
async fn start_a_window_starts_one_execution_on_it_and_uploads_nothing() {
    let (moto, aws, stack) = moto_with_stack().await;
    // Any zone: the input keeps it, the name is in UTC.
    let (from, to) = ("2026-11-01T01:00:00+01:00", "2026-11-08T00:00:00Z");

    let run = run_backfill(
        &["start", "--from", from, "--to", to],
        &[("AWS_ENDPOINT_URL", &moto.url)],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "");
    assert_eq!(keys(&aws, &stack.bucket).await, Vec::<String>::new());

    let started = executions(&aws, &stack.state_machine_arn).await;
    assert_eq!(started.len(), 1, "{started:?}");
    let arn = &started[0];
    let execution = aws
        .sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .expect("describe the execution");
    let name = execution.name().expect("a name");
    let stamp = name
        .strip_prefix("window-20261101T000000Z-20261108T000000Z-")
        .unwrap_or_else(|| panic!("{name}"));
    assert!(is_stamp(stamp), "{name}");
    assert_eq!(
        execution.input(),
        Some(r#"{"from":"2026-11-01T01:00:00+01:00","to":"2026-11-08T00:00:00Z"}"#)
    );
    assert_eq!(
        run.stdout,
        format!(
            "The calls that started from {from} up to (not including) {to} will be listed from Salesforce into s3://{bucket}/manifests/windows/{name}.csv\n\
             Started execution {arn}\n\
             Console: https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/{arn}\n\
             Next:\n  backfill watch {arn}\n  backfill report {arn}\n",
            bucket = stack.bucket
        )
    );

    // In process, against a fixed clock: the name and key in full.
    let targets = Targets {
        stack: STACK.into(),
        state_machine_arn: None,
        bucket: None,
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_261_599);
    let started = app::start_window(&aws, &targets, from, to, now)
        .await
        .expect("start");
    let name = "window-20261101T000000Z-20261108T000000Z-20260101T095959Z";
    assert_eq!(started.execution_name, name);
    assert_eq!(
        started.manifest_key,
        format!("manifests/windows/{name}.csv")
    );
    assert_eq!(
        started.source,
        Source::Window {
            from: from.into(),
            to: to.into()
        }
    );
    let execution = aws
        .sfn
        .describe_execution()
        .execution_arn(&started.execution_arn)
        .send()
        .await
        .expect("describe the execution");
    assert_eq!(execution.name(), Some(name));
    assert_eq!(
        serde_json::from_str::<Value>(execution.input().expect("an input")).expect("JSON"),
        json!({ "from": from, "to": to })
    );
    assert_eq!(keys(&aws, &stack.bucket).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_refused_window_or_mixed_forms_start_nothing() {
    let (moto, aws, stack) = moto_with_stack().await;
    let env = [("AWS_ENDPOINT_URL", moto.url.as_str())];

    for (from, to, message) in [
        (
            "2026-11-08T00:00:00Z",
            "2026-11-01T00:00:00Z",
            "to: must be after from",
        ),
        (
            "2026-11-01T00:00:00Z",
            "2026-11-01T00:00:00Z",
            "to: must be after from",
        ),
        (
            "2026-11-01T00:00:00Z",
            "2026-12-11T00:00:00Z",
            "to: must be at most 31 days after from; backfill longer periods window by window",
        ),
        (
            "2026-11-01T00:00:00",
            "2026-11-08T00:00:00Z",
            r#"from: must be an ISO 8601 date and time with a zone, like 2026-11-01T00:00:00Z, got "2026-11-01T00:00:00""#,
        ),
        (
            "2026-11-01T00:00:00Z",
            "next week",
            r#"to: must be an ISO 8601 date and time with a zone, like 2026-11-01T00:00:00Z, got "next week""#,
        ),
    ] {
        let run = run_backfill(&["start", "--from", from, "--to", to], &env).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(
            run.stderr,
            format!("{message}\nthe window is refused; nothing was started\n")
        );
    }
    // Refused before any AWS call: not even the stack is asked for.
    let run = run_backfill(
        &[
            "--stack",
            "Nowhere",
            "start",
            "--from",
            "2026-11-08T00:00:00Z",
            "--to",
            "2026-11-01T00:00:00Z",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.starts_with("to: must be after from\n"),
        "{run:?}"
    );
    let targets = Targets {
        stack: "Nowhere".into(),
        state_machine_arn: None,
        bucket: None,
    };
    let refused = app::start_window(&aws, &targets, "x", "y", SystemTime::now()).await;
    assert!(matches!(refused, Err(AppError::Window(_))), "{refused:?}");

    // A manifest and a window at once is a usage error, from clap.
    let good = manifest("good.csv");
    let run = run_backfill(
        &[
            "start",
            path_str(&good),
            "--from",
            "2026-11-01T00:00:00Z",
            "--to",
            "2026-11-08T00:00:00Z",
        ],
        &env,
    )
    .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: the argument '[MANIFEST]' cannot be used with:\n  \
         --from <FROM>\n  \
         --to <TO>\n\n\
         Usage: backfill start [OPTIONS] <MANIFEST>\n       \
         backfill start [OPTIONS] --from <FROM> --to <TO>\n\n\
         For more information, try '--help'.\n"
    );

    assert_nothing_started(&aws, &stack).await;
}

#[tokio::test]
async fn missing_stacks_and_outputs_are_named_and_overrides_need_no_stack() {
    let (moto, aws, stack) = moto_with_stack().await;
    create_stack(&aws, "Unrelated", "no-outputs.json").await;
    let env = [("AWS_ENDPOINT_URL", moto.url.as_str())];
    let good = manifest("good.csv");
    let good = path_str(&good);

    let run = run_backfill(&["--stack", "Unrelated", "start", good], &env).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "error: stack Unrelated has no output BackfillStateMachineArn: deploy the stack with the backfill state machine, pass --stack with the right stack, or pass --state-machine-arn\n"
    );
    let run = run_backfill(&["--stack", "Unrelated", "report", "arn:x"], &env).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: stack Unrelated has no output BackfillBucketName"),
        "{}",
        run.stderr
    );

    let run = run_backfill(&["--stack", "Nowhere", "start", good], &env).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: CloudFormation DescribeStacks of stack Nowhere: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert_eq!(keys(&aws, &stack.bucket).await, Vec::<String>::new());

    // With both overrides (here from the environment), no stack is asked for.
    let with_overrides = [
        ("AWS_ENDPOINT_URL", moto.url.as_str()),
        (
            "BACKFILL_STATE_MACHINE_ARN",
            stack.state_machine_arn.as_str(),
        ),
        ("BACKFILL_BUCKET", stack.bucket.as_str()),
    ];
    let run = run_backfill(&["--stack", "Nowhere", "start", good], &with_overrides).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(keys(&aws, &stack.bucket).await.len(), 1);
    assert_eq!(executions(&aws, &stack.state_machine_arn).await.len(), 1);
    assert!(
        run.stdout.contains(&format!(
            "  backfill --stack Nowhere --bucket {} watch ",
            stack.bucket
        )),
        "{}",
        run.stdout
    );
}

/// The report's execution comes from the replay server (moto cannot run the Distributed Map
/// that would write a summary); the stack and `failed.csv` are moto's.
#[tokio::test]
async fn report_saves_the_failed_manifest_and_it_starts_again() {
    let moto = Moto::start();
    let replay = Replay::start("report-succeeded").await;
    let aws = clients(&moto.url, &moto.url, &moto.url).await;
    let stack = backfill_stack(&aws).await;
    let failed_key = "results/5f2ab1e0-4b8c-3d5e-9a6f-0c1d2e3f4a5b/failed.csv";
    let failed_csv = "contactId,relatedRecords\n\
        faaa3a21-5990-48cd-a035-e85ca8c861ff,0LQ1Q000002TZtn\n\
        f15c9342-65a1-41e8-a752-81d630a2890d,0LQ1Q000002TAtn;0LQ1Q000002TBtn\n";
    aws.put_object(
        &stack.bucket,
        failed_key,
        failed_csv.as_bytes().to_vec(),
        "text/csv",
    )
    .await
    .expect("put failed.csv");
    let dir = scratch_dir("report");
    let saved = dir.join("failed.csv");
    let execution = "arn:aws:states:us-east-1:123456789012:execution:ContactDataSyncBackfill:calls-20260101T000000Z";

    let run = run_backfill(
        &["report", execution, "--failed-manifest", path_str(&saved)],
        &[
            ("AWS_ENDPOINT_URL", &moto.url),
            ("AWS_ENDPOINT_URL_SFN", &replay.url),
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "");
    replay.assert_done();
    assert_eq!(
        std::fs::read_to_string(&saved).expect("the saved manifest"),
        failed_csv
    );
    let bucket = &stack.bucket;
    let saved_path = path_str(&saved);
    assert_eq!(
        run.stdout,
        format!(
            "Execution calls-20260101T000000Z SUCCEEDED in 12m00s (started 2026-01-01 00:00:00 UTC).\n\
             Manifest: s3://{bucket}/manifests/20260101T000000Z-calls.csv\n\
             Contacts: 10,000\n\
             \x20 SUCCESS  9,980  (99.8%)\n\
             \x20 SKIPPED     12  (0.1%)\n\
             \x20 FAILED       8  (0.1%)\n\
             Failure codes:\n\
             \x20 THROTTLED      5\n\
             \x20 NO_TRANSCRIPT  3\n\
             Batches: 99 succeeded, 1 failed\n\
             Summary: s3://{bucket}/results/5f2ab1e0-4b8c-3d5e-9a6f-0c1d2e3f4a5b/summary.json\n\
             Failed contacts: s3://{bucket}/{failed_key}\n\
             Saved 2 contacts to {saved_path}; retry them with:\n  backfill start {saved_path}\n"
        )
    );

    // The saved manifest goes straight back to `start`.
    let run = run_backfill(&["start", saved_path], &[("AWS_ENDPOINT_URL", &moto.url)]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let manifests: Vec<String> = keys(&aws, bucket)
        .await
        .into_iter()
        .filter(|k| k.starts_with("manifests/"))
        .collect();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert!(manifests[0].ends_with("-failed.csv"), "{manifests:?}");
    assert_eq!(
        object(&aws, bucket, &manifests[0]).await,
        failed_csv.as_bytes()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
