//! Never doubled, never stuck: what the function does when Salesforce misbehaves. An upload
//! that may have been stored is never sent blindly again, every phase ends by the deadline,
//! and a conversation Salesforce rejects fails alone.

mod support;

use std::time::Duration;

use contact_data_sync::config;
use emulators::{
    Fault, SAMPLE_ANALYSIS_BUCKET, SAMPLE_OLD_CALL, Service, World, generated_contacts,
    sample_world,
};
use serde_json::{Value, json};
use support::*;

const TOKEN_PATH: &str = "/oauth2/token";
const ENTRIES_PATH: &str = "/entries";
/// Long enough that a call waiting for it would outlive any test's patience.
const HANG: Duration = Duration::from_secs(600);

async fn generated(n: usize, seed: u64, settings: &[(&str, &str)]) -> (Harness, Vec<String>) {
    let (h, contacts) = Harness::generated(n, 20, seed, settings).await;
    (h, contacts.into_iter().map(|c| c.contact_id).collect())
}

fn refs(ids: &[String]) -> Vec<&str> {
    ids.iter().map(String::as_str).collect()
}

/// Invokes uploadTranscript for `ids` with `remaining` before the deadline; results by contact.
async fn upload(
    h: &Harness,
    ids: &[String],
    remaining: Duration,
) -> (Value, std::collections::HashMap<String, Value>) {
    let ids = refs(ids);
    let response = h
        .invoke_within(&upload_request(&h.world, &ids), remaining)
        .await;
    let results = results_by_contact(&response, &ids);
    (response, results)
}

fn outcome(result: &Value) -> &str {
    if result["status"] == "SUCCESS" {
        "SUCCESS"
    } else {
        code(result)
    }
}

// ---- One rejected conversation fails alone -----------------------------------------------------

#[tokio::test]
async fn a_request_rejected_as_a_whole_is_split_until_the_rejected_conversation_stands_alone() {
    let (h, ids) = generated(8, 301, &[("UPLOAD_BATCH_SIZE", "8")]).await;
    let bad = ids[5].clone();
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(400, "INVALID_INPUT", "Conversation entries are invalid")
            .for_contact(&bad)
            .on_path(UPLOAD_PATH)
            .always(),
    );
    let (response, results) = upload(&h, &ids, Duration::from_secs(60)).await;
    for (id, result) in &results {
        let want = if *id == bad {
            "SALESFORCE_REJECTED"
        } else {
            "SUCCESS"
        };
        assert_eq!(outcome(result), want, "{response}");
    }
    let detail = results[&bad]["errorDetail"].as_str().unwrap();
    assert!(
        detail.contains("INVALID_INPUT: Conversation entries are invalid"),
        "{detail}"
    );
    // 8 rejected, then halves: 4 + 4, 2 + 2, 1 + 1; every other conversation sent once.
    assert_eq!(h.world.upload_requests(), 7);
    assert_eq!(h.world.uploads().len(), 7);
    assert_no_duplicate_entries(&h.world);
}

#[tokio::test]
async fn a_conversation_salesforce_refuses_in_its_answer_leads_with_a_stable_code() {
    let (h, ids) = generated(3, 302, &[]).await;
    let mut request = upload_request(&h.world, &refs(&ids));
    // A VoiceCall that is not the conversation's: Salesforce refuses that conversation only.
    request["payload"][1]["relatedRecords"] = json!(["0LQ1Q000009ZZZZ"]);
    let response = h.invoke(&request).await;
    let results = results_by_contact(&response, &refs(&ids));
    assert_eq!(outcome(&results[&ids[0]]), "SUCCESS");
    assert_eq!(outcome(&results[&ids[2]]), "SUCCESS");
    let detail = results[&ids[1]]["errorDetail"].as_str().unwrap();
    assert!(
        detail.starts_with("SALESFORCE_REJECTED: line 2: payload.relatedRecords"),
        "{detail}"
    );
}

// ---- Uploads that may have landed ----------------------------------------------------------------

#[tokio::test]
async fn a_503_without_retry_after_or_a_502_may_have_been_stored_and_is_not_sent_again() {
    for (status, body) in [
        (
            503,
            r#"[{"errorCode":"SERVER_UNAVAILABLE","message":"down"}]"#,
        ),
        (502, "<html>Bad Gateway</html>"),
    ] {
        let (h, ids) = generated(3, 304, &[]).await;
        h.world.inject(
            Service::Salesforce,
            Fault::http(status, body).on_path(UPLOAD_PATH),
        );
        let (response, results) = upload(&h, &ids, Duration::from_secs(60)).await;
        for result in results.values() {
            assert_eq!(outcome(result), "UPLOAD_UNCONFIRMED", "{response}");
            let detail = result["errorDetail"].as_str().unwrap();
            assert!(detail.contains("existingEntries \"fill\""), "{detail}");
        }
        assert_eq!(response[0]["StatusCode"], status);
        assert_eq!(
            h.world.upload_requests(),
            1,
            "HTTP {status} must not be resent"
        );
        // A token, the VoiceCall lookup, each conversation's entries read before the upload,
        // the upload, and each conversation read back once to confirm it.
        assert_eq!(h.world.stats().salesforce.requests, 1 + 1 + 3 + 1 + 3);
    }
}

#[tokio::test]
async fn after_ignore_an_unconfirmed_upload_is_not_read_back() {
    let (h, ids) = generated(2, 305, &[]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(500, "UNKNOWN_EXCEPTION", "boom").on_path(UPLOAD_PATH),
    );
    let mut request = upload_request(&h.world, &refs(&ids));
    request["existingEntries"] = json!("ignore");
    let response = h.invoke(&request).await;
    for result in results_by_contact(&response, &refs(&ids)).values() {
        assert_eq!(outcome(result), "UPLOAD_UNCONFIRMED");
    }
    // A token, the VoiceCall lookup and the upload: no entries read, before or after.
    assert_eq!(h.world.stats().salesforce.requests, 3);
}

#[tokio::test]
async fn a_404_from_the_entries_listing_uploads_nothing_for_that_contact() {
    let (h, ids) = generated(3, 306, &[]).await;
    h.world.deliver_realtime(&ids[1], |i| i < 4);
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(404, "NOT_FOUND", "The requested resource does not exist")
            .for_contact(&ids[1])
            .on_path(ENTRIES_PATH)
            .always(),
    );
    let (_, results) = upload(&h, &ids, Duration::from_secs(60)).await;
    assert_eq!(outcome(&results[&ids[1]]), "SALESFORCE_ERROR");
    assert_eq!(outcome(&results[&ids[0]]), "SUCCESS");
    assert!(
        h.world
            .uploads()
            .iter()
            .all(|u| u.conversation_id != ids[1])
    );
    assert_eq!(h.world.duplicate_entries(), 0);
}

// ---- Every phase answers before the deadline -----------------------------------------------------

/// Three contacts uploaded with `remaining` left while every Salesforce request on `path`
/// hangs; asserts each ends with `code`.
async fn with_a_hang_on(path: &str, remaining: Duration, code: &str) -> Harness {
    let (h, ids) = generated(3, 307, &[]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::delay(HANG).on_path(path).always(),
    );
    let (_, results) = upload(&h, &ids, remaining).await;
    for result in results.values() {
        assert_eq!(outcome(result), code, "{result}");
    }
    h
}

#[tokio::test]
async fn a_token_endpoint_that_hangs_leaves_every_contact_deadline_exceeded() {
    let h = with_a_hang_on(TOKEN_PATH, Duration::from_secs(2), "DEADLINE_EXCEEDED").await;
    let stats = h.world.stats();
    assert_eq!(
        (stats.connect.requests, stats.contact_lens.requests),
        (0, 0)
    );
}

#[tokio::test]
async fn an_upload_that_hangs_is_reported_unconfirmed_before_the_deadline() {
    let h = with_a_hang_on(UPLOAD_PATH, Duration::from_secs(3), "UPLOAD_UNCONFIRMED").await;
    assert_eq!(h.world.upload_requests(), 1);
}

#[tokio::test]
async fn a_status_poll_that_hangs_answers_with_the_last_statuses_and_what_is_pending() {
    let h = Harness::sample().await;
    h.world.set_upload_processing_polls(100);
    let response = h.invoke_documented().await;
    let upload_ids: Vec<Value> = results(&response)
        .iter()
        .map(|r| r["uploadId"].clone())
        .collect();
    // The first poll answers; the next one never does.
    h.world.inject(
        Service::Salesforce,
        Fault::delay(HANG).on_path(UPLOAD_PATH).after(1).always(),
    );
    let request =
        json!({"operation": "fetchUploadIdsStatus", "uploadIds": upload_ids, "waitSeconds": 600});
    let answer = h.invoke_within(&request, Duration::from_secs(3)).await;
    assert_eq!(answer["StatusCode"], 200, "{answer}");
    let payload: Value = serde_json::from_str(answer["Payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["pendingUploadIds"].as_array().unwrap().len(), 2);
}

// ---- Security -------------------------------------------------------------------------------------

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_not_followed() {
    let (h, ids) = generated(2, 309, &[]).await;
    // Followed, a 307 would post the credentials again, here to a token endpoint that works.
    let location = format!("{}/services/oauth2/token", h.emulators.salesforce.url());
    h.world.inject(
        Service::Salesforce,
        Fault::http(307, "")
            .header("Location", &location)
            .on_path(TOKEN_PATH),
    );
    let (_, results) = upload(&h, &ids, Duration::from_secs(60)).await;
    for result in results.values() {
        assert_eq!(outcome(result), "SALESFORCE_AUTH_FAILED", "{result}");
    }
    assert_eq!(h.world.token_mints(), 0);
}

#[tokio::test]
async fn an_answer_larger_than_the_cap_is_refused_not_read_whole() {
    let (h, ids) = generated(2, 315, &[]).await;
    let huge = format!("[{}]", "0,".repeat(17 * 1024 * 1024) + "0");
    h.world.inject(
        Service::Salesforce,
        Fault::http(200, &huge)
            .for_contact(&ids[0])
            .on_path(ENTRIES_PATH),
    );
    let (_, results) = upload(&h, &ids, Duration::from_secs(60)).await;
    assert_eq!(outcome(&results[&ids[0]]), "SALESFORCE_ERROR");
    let detail = results[&ids[0]]["errorDetail"].as_str().unwrap();
    assert!(detail.contains("larger than 33554432 bytes"), "{detail}");
    assert_eq!(outcome(&results[&ids[1]]), "SUCCESS");
}

// ---- Transcripts that are late, not missing -------------------------------------------------------

#[tokio::test]
async fn a_post_call_transcript_goes_only_into_an_empty_conversation_unless_asked() {
    let with_bucket = (config::ANALYSIS_BUCKET, SAMPLE_ANALYSIS_BUCKET);
    let h = Harness::with(sample_world(INSTANCE), &[with_bucket]).await;
    // Real-time delivery stored part of the call under its own ids and timestamps.
    h.world.deliver_realtime(SAMPLE_OLD_CALL, |i| i < 3);
    let request = upload_request(&h.world, &[SAMPLE_OLD_CALL]);
    let response = h.invoke(&request).await;
    let result = &results_by_contact(&response, &[SAMPLE_OLD_CALL])[SAMPLE_OLD_CALL];
    assert_eq!(outcome(result), "CONVERSATION_NOT_EMPTY", "{result}");
    assert!(h.world.uploads().is_empty());

    let mut anyway = request.clone();
    anyway["addPostCallToExisting"] = json!(true);
    let response = h.invoke(&anyway).await;
    let result = &results_by_contact(&response, &[SAMPLE_OLD_CALL])[SAMPLE_OLD_CALL];
    assert_eq!(result["status"], "SUCCESS", "{result}");

    // Run again: the conversation holds this transcript now, which is no reason to stop.
    let h = Harness::with(sample_world(INSTANCE), &[with_bucket]).await;
    h.invoke(&request).await;
    let again = h.invoke(&request).await;
    let result = &results_by_contact(&again, &[SAMPLE_OLD_CALL])[SAMPLE_OLD_CALL];
    assert_eq!(result["status"], "SKIPPED", "{result}");
}

fn sqs_event_for(contact_id: &str) -> Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/events/contact-disconnected.json"),
    )
    .unwrap();
    let body = text.replace("faaa3a21-5990-48cd-a035-e85ca8c861ff", contact_id);
    json!({"Records": [{
        "messageId": "message-0", "receiptHandle": "handle-0", "body": body,
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ContactDataSync-AutoRepair",
        "awsRegion": "us-east-1"
    }]})
}

/// A call of eight hours ago whose transcript is nowhere yet, repaired with this horizon.
async fn repair_of_a_call_without_transcript(horizon_hours: &str) -> Value {
    let world = World::new(INSTANCE);
    let mut contact = generated_contacts(1, 12, 310).remove(0);
    contact.realtime_available = false;
    world.add_contact(contact.clone());
    world.add_voice_call(
        &contact.voice_call_id,
        Some(&contact.contact_id),
        contact.initiation_ms,
        contact.disconnect_ms,
    );
    let setting = (config::REPAIR_TRANSCRIPT_HORIZON_HOURS, horizon_hours);
    let h = Harness::with(world, &[setting]).await;
    h.invoke(&sqs_event_for(&contact.contact_id)).await
}

#[tokio::test]
async fn automatic_repair_waits_for_a_missing_transcript_until_the_horizon() {
    let young = repair_of_a_call_without_transcript("48").await;
    assert_eq!(
        young,
        json!({"batchItemFailures": [{"itemIdentifier": "message-0"}]})
    );
    let old = repair_of_a_call_without_transcript("1").await;
    assert_eq!(old, json!({"batchItemFailures": []}));
}

#[tokio::test]
async fn a_voice_call_lookup_that_hangs_returns_every_message_for_later() {
    let (h, ids) = generated(1, 311, &[]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::delay(HANG).on_path("/query").always(),
    );
    let answer = h
        .invoke_within(&sqs_event_for(&ids[0]), Duration::from_secs(2))
        .await;
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "message-0"}]})
    );
}
