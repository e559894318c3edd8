//! The backfill state machine around the function: the batches its Distributed Map hands the
//! function (rendered from `cdk/backfill-state-machine.asl.json`, the definition the stack
//! deploys) pass the function's own request parser, and the summary step counts every contact
//! of a run from the ResultWriter's files and lists the failed ones as a manifest that goes
//! straight back in.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use contact_data_sync::backfill::BackfillError;
use contact_data_sync::config;
use contact_data_sync::domain::contact::ContactRequest;
use contact_data_sync::domain::request::{Request, parse_request};
use emulators::{
    SAMPLE_CJK, SAMPLE_IN_PROGRESS, SAMPLE_INTERNATIONAL, SAMPLE_NO_AGENT, SAMPLE_NO_TRANSCRIPT,
};
use serde_json::{Map, Value, json};
use support::*;

const BUCKET: &str = "contact-data-sync-backfill-test";
const RUN: &str = "results/7d3c3a8e-52a4-3bd2-8a41-2bd1d1f0c8b1";
const WITH_BUCKET: (&str, &str) = (config::BACKFILL_BUCKET, BUCKET);
/// The context's `$$.Execution.Name` when a template is rendered.
const EXECUTION_NAME: &str = "window-20261101T000000Z-20261108T000000Z-20261124T101500Z";

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn state_machine() -> Value {
    let text = std::fs::read_to_string(repo_file("cdk/backfill-state-machine.asl.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The manifest's rows as Step Functions' CSV reader gives them with `CSVHeaderLocation:
/// FIRST_ROW`: one object per row, keyed by the header, every value a string.
fn csv_items(csv_text: &[u8]) -> Vec<Value> {
    let mut reader = csv::Reader::from_reader(csv_text);
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            Value::Object(
                header
                    .iter()
                    .zip(row.iter())
                    .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                    .collect(),
            )
        })
        .collect()
}

fn jsonl_items(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Evaluates one JSONPath payload template of the definition. Only the constructs the backfill
/// definition uses are understood; anything else fails the test rather than being guessed at.
fn render_template(template: &Value, input: &Value, item: Option<&Value>) -> Value {
    let path = |path: &str| -> Value {
        if let Some(field) = path.strip_prefix("$$.Map.Item.Value.") {
            item.expect("$$.Map.Item.Value outside ItemSelector")[field].clone()
        } else if path == "$$.Execution.Name" {
            Value::String(EXECUTION_NAME.to_owned())
        } else if let Some(field) = path.strip_prefix("$.") {
            input[field].clone()
        } else {
            panic!("this test does not evaluate the path {path}")
        }
    };
    let Value::Object(fields) = template else {
        return template.clone();
    };
    let mut rendered = Map::new();
    for (key, value) in fields {
        match key.strip_suffix(".$") {
            None => {
                rendered.insert(key.clone(), render_template(value, input, item));
            }
            Some(name) => {
                let expression = value.as_str().unwrap();
                let evaluated = match expression
                    .strip_prefix("States.StringSplit(")
                    .and_then(|e| e.strip_suffix(')'))
                {
                    Some(arguments) => {
                        let (source, separator) = arguments.split_once(", ").unwrap();
                        let separator = separator.trim_matches('\'');
                        let text = path(source);
                        Value::Array(
                            text.as_str()
                                .unwrap()
                                .split(separator)
                                .filter(|s| !s.is_empty())
                                .map(|s| Value::String(s.to_owned()))
                                .collect(),
                        )
                    }
                    None => path(expression),
                };
                rendered.insert(name.to_owned(), evaluated);
            }
        }
    }
    Value::Object(rendered)
}

/// What one Map state of the definition hands the function for these manifest items: the
/// ItemSelector applied to each item, ItemBatcher's batches, and the task's Payload template.
fn function_payloads(map_state: &str, items: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let definition = state_machine();
    let map = &definition["States"][map_state];
    assert_eq!(
        map["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    let selected: Vec<Value> = match map.get("ItemSelector") {
        Some(selector) => items
            .iter()
            .map(|item| render_template(selector, &json!({}), Some(item)))
            .collect(),
        None => items.to_vec(),
    };
    let batch_size = map["ItemBatcher"]["MaxItemsPerBatch"].as_u64().unwrap() as usize;
    let processor = &map["ItemProcessor"];
    let task = &processor["States"][processor["StartAt"].as_str().unwrap()];
    assert_eq!(task["Resource"], "arn:aws:states:::lambda:invoke");
    let batch_inputs: Vec<Value> = selected
        .chunks(batch_size)
        .map(|chunk| json!({ "Items": chunk }))
        .collect();
    let payloads = batch_inputs
        .iter()
        .map(|input| render_template(&task["Parameters"]["Payload"], input, None))
        .collect();
    (batch_inputs, payloads)
}

fn parsed_contacts(payload: &Value) -> Vec<ContactRequest> {
    match parse_request(payload) {
        Ok(Request::UploadTranscript(contacts)) => contacts,
        other => panic!("the function would not upload {payload}: {other:?}"),
    }
}

fn ids(contacts: &[ContactRequest]) -> Vec<(String, Vec<String>)> {
    contacts
        .iter()
        .map(|c| (c.contact_id.clone(), c.related_records.clone()))
        .collect()
}

fn expected_sample_run() -> Vec<(String, Vec<String>)> {
    let rows = [
        (SAMPLE_INTERNATIONAL, vec!["0LQ1Q000002TZtn"]),
        (SAMPLE_CJK, vec!["0LQ1Q000002TAtn"]),
        (
            SAMPLE_IN_PROGRESS,
            vec!["0LQ1Q000003SB01", "0LQ1Q000003SB09"],
        ),
        (SAMPLE_NO_AGENT, vec!["0LQ1Q000003SB02"]),
        (SAMPLE_NO_TRANSCRIPT, vec!["0LQ1Q000003SB04"]),
    ];
    rows.iter()
        .map(|(id, rr)| (id.to_string(), rr.iter().map(|s| s.to_string()).collect()))
        .collect()
}

#[test]
fn the_map_hands_the_function_batches_its_parser_accepts() {
    let csv = std::fs::read(repo_file("tests/fixtures/backfill/sample-run.csv")).unwrap();
    let (_, payloads) = function_payloads("UploadCsv", &csv_items(&csv));
    assert_eq!(payloads.len(), 1);
    assert_eq!(payloads[0]["operation"], "uploadTranscript");
    assert_eq!(ids(&parsed_contacts(&payloads[0])), expected_sample_run());

    let jsonl =
        std::fs::read_to_string(repo_file("tests/fixtures/backfill/sample-run.jsonl")).unwrap();
    let (_, payloads) = function_payloads("UploadJsonLines", &jsonl_items(&jsonl));
    assert_eq!(ids(&parsed_contacts(&payloads[0])), expected_sample_run());
}

#[test]
fn a_time_window_reaches_the_function_as_a_manifest_request_its_parser_accepts() {
    let definition = state_machine();
    let states = &definition["States"];
    let input = json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z"});
    let source = &states[definition["StartAt"].as_str().unwrap()];
    assert_eq!(source["Choices"][0]["Variable"], "$.from");
    let task = &states[source["Choices"][0]["Next"].as_str().unwrap()];
    let payload = render_template(&task["Parameters"]["Payload"], &input, None);
    match parse_request(&payload) {
        Ok(Request::BuildBackfillManifest(window)) => {
            assert_eq!(window.execution_name, EXECUTION_NAME);
            assert_eq!(
                window.window.to - window.window.from,
                time::Duration::days(7)
            );
        }
        other => panic!("the function would not list {payload}: {other:?}"),
    }
    // A refused window ends the execution as a failure carrying the function's message.
    let accepted = &states[task["Next"].as_str().unwrap()];
    assert_eq!(accepted["Choices"][0]["Variable"], "$.statusCode");
    let rejected = &states[accepted["Choices"][0]["Next"].as_str().unwrap()];
    assert_eq!(
        (rejected["Type"].as_str(), rejected["CausePath"].as_str()),
        (Some("Fail"), Some("$.body"))
    );
    assert_eq!(accepted["Default"], source["Default"]);
}

#[test]
fn a_large_manifest_reaches_the_function_100_contacts_at_a_time() {
    let mut csv = String::from("contactId,relatedRecords\n");
    for i in 0..250 {
        csv.push_str(&format!(
            "{i:08x}-0000-4000-8000-000000000000,0LQ1Q{i:010};0LQ2Q{i:010}\n"
        ));
    }
    let (_, payloads) = function_payloads("UploadCsv", &csv_items(csv.as_bytes()));
    let sizes: Vec<usize> = payloads.iter().map(|p| parsed_contacts(p).len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let last = parsed_contacts(&payloads[2]);
    assert_eq!(last[49].contact_id, "000000f9-0000-4000-8000-000000000000");
    assert_eq!(
        last[49].related_records,
        ["0LQ1Q0000000249", "0LQ2Q0000000249"]
    );
}

/// One ResultWriter entry for a child execution, as Step Functions writes it with the default
/// `Transformation: NONE`: input and output as JSON text.
fn child_execution(index: usize, input: &Value, status: &str, output: Option<&Value>) -> Value {
    let mut child = json!({
        "ExecutionArn": format!("arn:aws:states:us-east-1:123456789012:execution:ContactDataSync-Backfill/UploadCsv:{index}"),
        "Input": input.to_string(),
        "InputDetails": {"Included": true},
        "Name": index.to_string(),
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "StartDate": "2026-11-24T10:00:00.000Z",
        "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:ContactDataSync-Backfill/UploadCsv",
        "Status": status,
        "StopDate": "2026-11-24T10:01:00.000Z",
    });
    match output {
        Some(output) => {
            child["Output"] = Value::String(output.to_string());
            child["OutputDetails"] = json!({"Included": true});
        }
        None => {
            child["Error"] = json!("States.TaskFailed");
            child["Cause"] = json!("{\"errorType\":\"Sandbox.Timedout\"}");
        }
    }
    child
}

fn summary_request() -> Value {
    json!({
        "operation": "summarizeBackfill",
        "manifestKey": "manifests/20261124T100000Z-sample-run.csv",
        "resultsManifestKey": format!("{RUN}/manifest.json"),
    })
}

#[tokio::test]
async fn a_runs_summary_counts_every_contact_and_lists_the_failed_ones_as_a_manifest() {
    let h = Harness::with(emulators::sample_world(INSTANCE), &[WITH_BUCKET]).await;
    h.world.create_bucket(BUCKET);
    let csv = std::fs::read(repo_file("tests/fixtures/backfill/sample-run.csv")).unwrap();
    let items = csv_items(&csv);
    // Two batches: the first the function really uploads; the second's invocation failed.
    let (first, payloads) = function_payloads("UploadCsv", &items[..3]);
    let answer = invoke_app(&h.app, &payloads[0], Duration::from_secs(60)).await;
    let (second, _) = function_payloads("UploadCsv", &items[3..]);
    let succeeded = json!([child_execution(0, &first[0], "SUCCEEDED", Some(&answer))]);
    let failed = json!([child_execution(1, &second[0], "FAILED", None)]);
    let index = json!({
        "DestinationBucket": BUCKET,
        "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:ContactDataSync-Backfill/UploadCsv:7d3c3a8e",
        "ResultFiles": {
            "FAILED": [{"Key": format!("{RUN}/FAILED_0.json"), "Size": failed.to_string().len()}],
            "PENDING": [],
            "SUCCEEDED": [{"Key": format!("{RUN}/SUCCEEDED_0.json"), "Size": succeeded.to_string().len()}]
        }
    });
    for (name, body) in [
        ("manifest.json", &index),
        ("SUCCEEDED_0.json", &succeeded),
        ("FAILED_0.json", &failed),
    ] {
        h.world
            .put_object(BUCKET, &format!("{RUN}/{name}"), body.to_string());
    }

    let summary = invoke_app(&h.app, &summary_request(), Duration::from_secs(60)).await;

    assert_eq!(
        summary,
        json!({
            "manifestKey": "manifests/20261124T100000Z-sample-run.csv",
            "contacts": 5,
            "statuses": {"SUCCESS": 2, "FAILED": 3},
            "failureCodes": {"CALL_IN_PROGRESS": 1, "BATCH_FAILED": 2},
            "batches": {"succeeded": 1, "failed": 1},
            "summaryKey": format!("{RUN}/summary.json"),
            "failedManifestKey": format!("{RUN}/failed.csv"),
        })
    );
    let stored: Value = serde_json::from_slice(
        &h.world
            .object(BUCKET, &format!("{RUN}/summary.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored, summary);
    // The failed contacts go straight back in: the CSV map reads them into one valid batch.
    let failed_csv = h
        .world
        .object(BUCKET, &format!("{RUN}/failed.csv"))
        .unwrap();
    let (_, retry) = function_payloads("UploadCsv", &csv_items(&failed_csv));
    assert_eq!(
        ids(&parsed_contacts(&retry[0])),
        expected_sample_run()[2..].to_vec()
    );
    assert_eq!(h.world.stats().s3_put_requests, 2);
}

#[tokio::test]
async fn a_run_with_nothing_failed_writes_no_failed_manifest() {
    let h = Harness::with(emulators::sample_world(INSTANCE), &[WITH_BUCKET]).await;
    h.world.create_bucket(BUCKET);
    let csv = std::fs::read(repo_file("tests/fixtures/backfill/sample-run.csv")).unwrap();
    let (input, payloads) = function_payloads("UploadCsv", &csv_items(&csv)[..2]);
    let answer = invoke_app(&h.app, &payloads[0], Duration::from_secs(60)).await;
    let succeeded = json!([child_execution(0, &input[0], "SUCCEEDED", Some(&answer))]);
    let index = json!({"ResultFiles": {"SUCCEEDED": [{"Key": format!("{RUN}/SUCCEEDED_0.json")}]}});
    h.world
        .put_object(BUCKET, &format!("{RUN}/manifest.json"), index.to_string());
    h.world.put_object(
        BUCKET,
        &format!("{RUN}/SUCCEEDED_0.json"),
        succeeded.to_string(),
    );

    let summary = invoke_app(&h.app, &summary_request(), Duration::from_secs(60)).await;

    assert_eq!(summary["statuses"], json!({"SUCCESS": 2}));
    assert_eq!(summary["failedManifestKey"], Value::Null);
    assert!(
        h.world
            .object(BUCKET, &format!("{RUN}/failed.csv"))
            .is_none()
    );
}

#[tokio::test]
async fn a_summary_that_cannot_be_made_fails_the_execution_and_says_why() {
    let h = Harness::with(emulators::sample_world(INSTANCE), &[WITH_BUCKET]).await;
    h.world.create_bucket(BUCKET);
    let index = json!({"ResultFiles": {"SUCCEEDED": [{"Key": format!("{RUN}/SUCCEEDED_0.json")}]}});
    h.world
        .put_object(BUCKET, &format!("{RUN}/manifest.json"), index.to_string());

    let error = try_invoke_app(&h.app, &summary_request(), Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, BackfillError::Read { key, .. } if *key == format!("{RUN}/SUCCEEDED_0.json")),
        "{error}"
    );

    // Without the bucket setting (a stack deployed without backfill) nothing is read at all.
    let without = h.another_instance(&[]).await;
    let error = try_invoke_app(&without, &summary_request(), Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(error, BackfillError::NoBackfillBucket), "{error}");
    // A request outside results/ is refused like any bad request, before any S3 call.
    let gets = h.world.stats().s3_get_requests;
    let mut outside = summary_request();
    outside["resultsManifestKey"] = json!("manifests/../results/x/manifest.json");
    let answer = invoke_app(&h.app, &outside, Duration::from_secs(60)).await;
    assert_eq!(answer["statusCode"], 400);
    assert_eq!(h.world.stats().s3_get_requests, gets);
}
