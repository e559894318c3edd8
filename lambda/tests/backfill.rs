//! Backfills beyond what Salesforce's contactDataSync can do: calls older than 24 hours from
//! Contact Lens post-call analysis files in S3, re-runs that double nothing, partly delivered
//! conversations filled in, dry runs, and waiting for upload statuses.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use contact_data_sync::config;
use emulators::{
    ContactSpec, Fault, SAMPLE_ANALYSIS_BUCKET, SAMPLE_CJK, SAMPLE_IN_PROGRESS,
    SAMPLE_INTERNATIONAL, SAMPLE_OLD_CALL, SAMPLE_OLD_CALL_MIDNIGHT, SAMPLE_REALTIME_UNAVAILABLE,
    Service, analysis_file_json, analysis_key, fill_analysis_day, put_analysis_file, sample_world,
};
use serde_json::{Value, json};
use support::*;

const OLD_CALLS: [&str; 2] = [SAMPLE_OLD_CALL, SAMPLE_OLD_CALL_MIDNIGHT];
const DOCUMENTED: [&str; 2] = [SAMPLE_INTERNATIONAL, SAMPLE_CJK];
const WITH_BUCKET: (&str, &str) = (config::ANALYSIS_BUCKET, SAMPLE_ANALYSIS_BUCKET);

/// The message texts Salesforce received for a conversation, in upload order.
fn uploaded_texts(h: &Harness, contact_id: &str) -> Vec<String> {
    h.world
        .uploads()
        .iter()
        .filter(|u| u.conversation_id == contact_id)
        .flat_map(|u| u.entries.iter())
        .map(|e| e["messageText"].as_str().unwrap().to_owned())
        .collect()
}

/// The `Content` of an analysis file's transcript turns, in file order.
fn file_texts(contact: &ContactSpec, redacted: bool) -> Vec<String> {
    let file: Value = serde_json::from_str(&analysis_file_json(contact, redacted)).unwrap();
    file["Transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Content"].as_str().unwrap().to_owned())
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn with(mut request: Value, field: &str, value: Value) -> Value {
    request[field] = value;
    request
}

fn dry_run_results(response: &Value) -> Vec<Value> {
    let elements = response.as_array().unwrap();
    assert_eq!(elements.len(), 1, "{response}");
    assert_eq!(elements[0]["StatusCode"], 200);
    let payload: Value = serde_json::from_str(elements[0]["Payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["dryRun"], true);
    payload["dryRunResults"].as_array().unwrap().clone()
}

#[tokio::test]
async fn calls_older_than_a_day_come_from_their_post_call_analysis_files() {
    let h = Harness::with(sample_world(INSTANCE), &[WITH_BUCKET]).await;
    let response = h.invoke(&upload_request(&h.world, &OLD_CALLS)).await;
    for result in results_by_contact(&response, &OLD_CALLS).values() {
        assert_eq!(result["status"], "SUCCESS", "{result}");
    }
    for id in OLD_CALLS {
        let contact = h.world.contact(id).unwrap();
        assert!(!contact.realtime_available);
        // Accents, CJK and all: byte for byte what the file holds.
        assert_eq!(uploaded_texts(&h, id), file_texts(&contact, false));
    }
    assert!(
        uploaded_texts(&h, SAMPLE_OLD_CALL)
            .iter()
            .any(|t| !t.is_ascii())
    );
    // Past 24 hours the real-time API is not even asked.
    assert_eq!(h.world.stats().contact_lens.requests, 0);
    assert_no_duplicate_entries(&h.world);
}

#[tokio::test]
async fn the_midnight_call_is_found_under_the_day_it_connected() {
    let h = Harness::with(sample_world(INSTANCE), &[WITH_BUCKET]).await;
    let contact = h.world.contact(SAMPLE_OLD_CALL_MIDNIGHT).unwrap();
    let key = analysis_key(&contact, false);
    let response = h
        .invoke(&with(
            upload_request(&h.world, &[SAMPLE_OLD_CALL_MIDNIGHT]),
            "dryRun",
            json!(true),
        ))
        .await;
    let results = dry_run_results(&response);
    assert_eq!(results[0]["source"], "POST_CALL_ANALYSIS");
    assert_eq!(results[0]["analysisFile"], key);
    // The first day's listing holds it: one listing, one read.
    let stats = h.world.stats();
    assert_eq!((stats.s3_list_requests, stats.s3_get_requests), (1, 1));
}

#[tokio::test]
async fn without_a_bucket_an_old_call_fails_naming_the_setting() {
    let h = Harness::sample().await;
    let response = h
        .invoke(&upload_request(&h.world, &[SAMPLE_OLD_CALL]))
        .await;
    let result = &results_by_contact(&response, &[SAMPLE_OLD_CALL])[SAMPLE_OLD_CALL];
    assert_eq!(code(result), "TRANSCRIPT_UNAVAILABLE");
    assert!(
        result["errorDetail"]
            .as_str()
            .unwrap()
            .contains("ANALYSIS_BUCKET"),
        "{result}"
    );
}

#[tokio::test]
async fn a_realtime_404_within_a_day_falls_back_to_the_analysis_file() {
    let h = Harness::with(sample_world(INSTANCE), &[WITH_BUCKET]).await;
    // A call of two hours ago whose real-time analysis never ran (Contact Lens answers 404).
    let two_hours = 2 * 3_600_000;
    h.world.update_contact(SAMPLE_REALTIME_UNAVAILABLE, |c| {
        let shift = now_ms() - two_hours - c.initiation_ms;
        c.initiation_ms += shift;
        c.connected_to_agent_ms = c.connected_to_agent_ms.map(|t| t + shift);
        c.disconnect_ms = c.disconnect_ms.map(|t| t + shift);
    });
    let contact = h.world.contact(SAMPLE_REALTIME_UNAVAILABLE).unwrap();
    assert!(!contact.realtime_available);
    put_analysis_file(&h.world, SAMPLE_ANALYSIS_BUCKET, &contact, false);
    let response = h
        .invoke(&upload_request(&h.world, &[SAMPLE_REALTIME_UNAVAILABLE]))
        .await;
    let result =
        &results_by_contact(&response, &[SAMPLE_REALTIME_UNAVAILABLE])[SAMPLE_REALTIME_UNAVAILABLE];
    assert_eq!(result["status"], "SUCCESS", "{result}");
    assert_eq!(h.world.stats().contact_lens.requests, 1);
    assert_eq!(
        uploaded_texts(&h, SAMPLE_REALTIME_UNAVAILABLE),
        file_texts(&contact, false)
    );
}

#[tokio::test]
async fn redacted_files_are_read_first_when_preferred() {
    let h = Harness::with(
        sample_world(INSTANCE),
        &[WITH_BUCKET, (config::ANALYSIS_PREFER_REDACTED, "true")],
    )
    .await;
    let response = h
        .invoke(&upload_request(&h.world, &[SAMPLE_OLD_CALL]))
        .await;
    results_by_contact(&response, &[SAMPLE_OLD_CALL]);
    let contact = h.world.contact(SAMPLE_OLD_CALL).unwrap();
    let redacted = file_texts(&contact, true);
    assert_ne!(redacted, file_texts(&contact, false));
    assert_eq!(uploaded_texts(&h, SAMPLE_OLD_CALL), redacted);
}

#[tokio::test]
async fn a_day_of_5000_analysis_files_costs_one_listing_per_contact() {
    let h = Harness::with(sample_world(INSTANCE), &[WITH_BUCKET]).await;
    let contact = h.world.contact(SAMPLE_OLD_CALL).unwrap();
    let connected = contact.connected_to_agent_ms.unwrap();
    fill_analysis_day(&h.world, SAMPLE_ANALYSIS_BUCKET, connected, 5_000, 7);
    let started = std::time::Instant::now();
    let response = h
        .invoke(&upload_request(&h.world, &[SAMPLE_OLD_CALL]))
        .await;
    let elapsed = started.elapsed();
    let result = &results_by_contact(&response, &[SAMPLE_OLD_CALL])[SAMPLE_OLD_CALL];
    assert_eq!(result["status"], "SUCCESS", "{result}");
    let stats = h.world.stats();
    assert_eq!((stats.s3_list_requests, stats.s3_get_requests), (1, 1));
    // A figure for the record, not an assertion: the machines are shared and noisy.
    eprintln!(
        "S3 lookup with 5,000 other files that day: {} ListObjectsV2, {} GetObject, contact done in {elapsed:?}",
        stats.s3_list_requests, stats.s3_get_requests
    );
}

#[tokio::test]
async fn running_a_request_again_uploads_nothing_twice() {
    let h = Harness::sample().await;
    let first = h.invoke_documented().await;
    for result in results_by_contact(&first, &DOCUMENTED).values() {
        assert_eq!(result["status"], "SUCCESS");
    }
    let uploads = h.world.upload_requests();
    let again = h.invoke_documented().await;
    for result in results_by_contact(&again, &DOCUMENTED).values() {
        assert_eq!(result["status"], "SKIPPED", "{result}");
        assert!(result["uploadId"].is_null());
        assert!(
            result["errorDetail"]
                .as_str()
                .unwrap()
                .starts_with("ALREADY_UPLOADED: the conversation already holds 9 entries"),
            "{result}"
        );
    }
    assert_eq!(h.world.upload_requests(), uploads);
    assert_eq!(h.world.duplicate_entries(), 0);
}

#[tokio::test]
async fn a_partly_delivered_conversation_gets_only_its_missing_entries() {
    let h = Harness::sample().await;
    // Real-time delivery dropped every other message.
    h.world
        .deliver_realtime(SAMPLE_INTERNATIONAL, |i| i % 2 == 0);
    let delivered = h.world.conversation_entries(SAMPLE_INTERNATIONAL).len();
    assert!(delivered > 0);
    let response = h.invoke_documented().await;
    for result in results_by_contact(&response, &DOCUMENTED).values() {
        assert_eq!(result["status"], "SUCCESS", "{result}");
    }
    let uploaded: usize = h
        .world
        .uploads()
        .iter()
        .filter(|u| u.conversation_id == SAMPLE_INTERNATIONAL)
        .map(|u| u.entries.len())
        .sum();
    assert_eq!(delivered + uploaded, 9);
    assert_eq!(h.world.conversation_entries(SAMPLE_INTERNATIONAL).len(), 9);
    assert_eq!(h.world.duplicate_entries(), 0);
}

#[tokio::test]
async fn skip_leaves_partial_conversations_alone_and_ignore_sends_everything() {
    let h = Harness::sample().await;
    h.world.deliver_realtime(SAMPLE_INTERNATIONAL, |i| i < 3);
    let request = |mode: &str| {
        with(
            upload_request(&h.world, &[SAMPLE_INTERNATIONAL]),
            "existingEntries",
            json!(mode),
        )
    };
    let skipped = h.invoke(&request("skip")).await;
    let result = &results_by_contact(&skipped, &[SAMPLE_INTERNATIONAL])[SAMPLE_INTERNATIONAL];
    assert_eq!(result["status"], "SKIPPED", "{result}");
    assert_eq!(h.world.upload_requests(), 0);

    let ignored = h.invoke(&request("ignore")).await;
    let result = &results_by_contact(&ignored, &[SAMPLE_INTERNATIONAL])[SAMPLE_INTERNATIONAL];
    assert_eq!(result["status"], "SUCCESS", "{result}");
    // The whole transcript went, so the three delivered entries arrived a second time.
    assert_eq!(h.world.duplicate_entries(), 3);

    let bad = h.invoke(&request("everything")).await;
    assert_eq!(bad["statusCode"], 400);
    assert!(
        bad["body"]
            .as_str()
            .unwrap()
            .contains("existingEntries: must be one of fill, skip, ignore")
    );
}

#[tokio::test]
async fn when_the_entries_cannot_be_read_nothing_is_uploaded() {
    let h = Harness::sample().await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(500, "UNKNOWN_EXCEPTION", "boom")
            .on_path("/entries")
            .always(),
    );
    let response = h.invoke_documented().await;
    for result in results_by_contact(&response, &DOCUMENTED).values() {
        assert_eq!(code(result), "SALESFORCE_ERROR");
        assert!(
            result["errorDetail"]
                .as_str()
                .unwrap()
                .contains("could not be read, so nothing was uploaded"),
            "{result}"
        );
    }
    assert_eq!(h.world.upload_requests(), 0);
}

#[tokio::test]
async fn a_dry_run_reports_every_contact_and_uploads_nothing() {
    let h = Harness::with(sample_world(INSTANCE), &[WITH_BUCKET]).await;
    h.world.deliver_realtime(SAMPLE_INTERNATIONAL, |i| i < 4);
    h.world.deliver_realtime(SAMPLE_CJK, |_| true);
    let ids = [
        SAMPLE_INTERNATIONAL,
        SAMPLE_CJK,
        SAMPLE_OLD_CALL,
        SAMPLE_IN_PROGRESS,
    ];
    let request = with(upload_request(&h.world, &ids), "dryRun", json!(true));
    let response = h.invoke(&request).await;
    let results = dry_run_results(&response);
    let got: Vec<&str> = results
        .iter()
        .map(|r| r["conversationIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids, "every contact once, in request order");

    let by_id = |id: &str| {
        results
            .iter()
            .find(|r| r["conversationIdentifier"] == id)
            .unwrap()
    };
    let partial = by_id(SAMPLE_INTERNATIONAL);
    assert_eq!(partial["status"], "WOULD_UPLOAD");
    assert_eq!(partial["source"], "REALTIME");
    assert_eq!(
        (
            partial["entries"].as_u64(),
            partial["alreadyInSalesforce"].as_u64()
        ),
        (Some(5), Some(4))
    );
    assert!(partial["firstEntryTimestamp"].as_i64() <= partial["lastEntryTimestamp"].as_i64());
    assert!(partial["firstEntryTimestamp"].is_i64());
    let complete = by_id(SAMPLE_CJK);
    assert_eq!(complete["status"], "WOULD_SKIP");
    assert!(
        complete["errorDetail"]
            .as_str()
            .unwrap()
            .starts_with("ALREADY_UPLOADED")
    );
    let old = by_id(SAMPLE_OLD_CALL);
    assert_eq!(old["status"], "WOULD_UPLOAD");
    assert_eq!(old["source"], "POST_CALL_ANALYSIS");
    assert_eq!(
        old["analysisFile"],
        analysis_key(&h.world.contact(SAMPLE_OLD_CALL).unwrap(), false)
    );
    let failing = by_id(SAMPLE_IN_PROGRESS);
    assert_eq!(failing["status"], "FAILED");
    assert!(
        failing["errorDetail"]
            .as_str()
            .unwrap()
            .starts_with("CALL_IN_PROGRESS")
    );

    assert_eq!(h.world.upload_requests(), 0);
    // No transcript text in the answer.
    let text = response.to_string();
    for id in ids {
        for segment in h.world.contact(id).unwrap().segments {
            assert!(!text.contains(&segment.content), "{}", segment.content);
        }
    }
}

/// The upload ids of a successful upload response.
fn upload_ids(response: &Value) -> Vec<String> {
    results(response)
        .iter()
        .map(|r| r["uploadId"].as_str().unwrap().to_owned())
        .collect()
}

fn statuses(response: &Value) -> Value {
    assert_eq!(response["StatusCode"], 200, "{response}");
    serde_json::from_str(response["Payload"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn status_requests_can_wait_until_every_upload_is_final() {
    let h = Harness::sample().await;
    h.world.set_upload_processing_polls(3);
    let ids = upload_ids(&h.invoke_documented().await);
    assert_eq!(ids.len(), 2);
    let request = json!({"operation": "fetchUploadIdsStatus", "uploadIds": ids});

    // Without waitSeconds: the contract's single GET, passed through.
    let now = statuses(&h.invoke(&request).await);
    assert!(now.get("pendingUploadIds").is_none());
    assert!(
        now["conversationBulkUploadStatuses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "IN_PROGRESS")
    );

    let waited = statuses(
        &h.invoke(&with(request.clone(), "waitSeconds", json!(30)))
            .await,
    );
    assert_eq!(waited["pendingUploadIds"], json!([]));
    let all: HashSet<&str> = waited["conversationBulkUploadStatuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(all, HashSet::from(["SUCCESS"]));
}

#[tokio::test]
async fn a_wait_that_runs_out_names_the_uploads_still_pending() {
    let h = Harness::sample().await;
    h.world.set_upload_processing_polls(1_000);
    let ids = upload_ids(&h.invoke_documented().await);
    let request = json!({"operation": "fetchUploadIdsStatus", "uploadIds": ids, "waitSeconds": 1});
    let earlier = status_polls(&h.world).len();
    let answer = statuses(&h.invoke(&request).await);
    // The wait of 1 s ended it, not the invocation's 120 s: polls back off from 10 ms
    // (RETRY_BASE_DELAY_MS), doubling, so a 7th poll comes 630 ms in at the earliest and an
    // 8th could not before 1.27 s. Each poll waited at least its delay after the one before.
    let polls = status_polls(&h.world).split_off(earlier);
    assert!((1..=7).contains(&polls.len()), "{} polls", polls.len());
    for (k, pair) in polls.windows(2).enumerate() {
        let waited = wait_between(&pair[0], &pair[1]);
        assert!(
            waited >= Duration::from_millis(10 << k),
            "poll {}: {waited:?}",
            k + 2
        );
    }
    let mut pending: Vec<String> =
        serde_json::from_value(answer["pendingUploadIds"].clone()).unwrap();
    pending.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(pending, expected);

    // The invocation's own deadline bounds the wait too.
    let answer = h
        .invoke_within(
            &with(request, "waitSeconds", json!(900)),
            Duration::from_secs(4),
        )
        .await;
    assert_eq!(
        statuses(&answer)["pendingUploadIds"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let bad = h
        .invoke(
            &json!({"operation": "fetchUploadIdsStatus", "uploadIds": ["a"], "waitSeconds": 901}),
        )
        .await;
    assert_eq!(bad["statusCode"], 400);
}

/// A file whose field has the wrong type: serde would quote the text it found there.
#[tokio::test]
async fn an_analysis_file_of_another_shape_is_reported_without_its_text() {
    let h = Harness::with(sample_world(INSTANCE), &[WITH_BUCKET]).await;
    let contact = h.world.contact(SAMPLE_OLD_CALL).unwrap();
    let file = json!({"Transcript": [{"Id": "t1", "ParticipantId": "CUSTOMER", "Content": "hi",
        "BeginOffsetMillis": "my card number is 4111 1111 1111 1111"}]});
    h.world.put_object(
        SAMPLE_ANALYSIS_BUCKET,
        &analysis_key(&contact, false),
        file.to_string(),
    );
    let response = h
        .invoke(&upload_request(&h.world, &[SAMPLE_OLD_CALL]))
        .await;
    assert!(!response.to_string().contains("4111"), "{response}");
    let result = &results_by_contact(&response, &[SAMPLE_OLD_CALL])[SAMPLE_OLD_CALL];
    assert_eq!(code(result), "TRANSCRIPT_UNAVAILABLE", "{result}");
}
