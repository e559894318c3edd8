//! Transcripts that never go missing: the function consumes Amazon Connect's DISCONNECTED
//! events from SQS, finds each call's VoiceCall with one SOQL query, and fills only what the
//! conversation lacks; and the backfill state machine's first step lists a time window's calls
//! from Salesforce.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use contact_data_sync::backfill::BackfillError;
use contact_data_sync::config;
use contact_data_sync::domain::paging::PagingError;
use contact_data_sync::ports::SalesforceError;
use emulators::{ContactSpec, Fault, Service, World};
use serde_json::{Value, json};
use support::*;

const BUCKET: &str = "contact-data-sync-backfill-test";

/// S3 multipart requests: (create, upload part, complete, abort).
fn multipart_requests(world: &World) -> (u64, u64, u64, u64) {
    let stats = world.stats();
    (
        stats.s3_create_multipart_requests,
        stats.s3_upload_part_requests,
        stats.s3_complete_multipart_requests,
        stats.s3_abort_multipart_requests,
    )
}

fn add_voice_call(world: &World, contact: &ContactSpec) {
    world.add_voice_call(
        &contact.voice_call_id,
        Some(&contact.contact_id),
        contact.initiation_ms,
        contact.disconnect_ms,
    );
}

#[tokio::test]
async fn a_batch_of_ten_events_repairs_the_gaps_and_returns_exactly_the_retryable_messages() {
    let world = World::new(INSTANCE);
    let mut contacts = emulators::generated_contacts(9, 12, 8);
    contacts[6].analysis_running = true;
    for c in &contacts {
        world.add_contact(c.clone());
    }
    let (complete, gaps) = (&contacts[0..3], &contacts[3..6]);
    let (running, no_voice_call, throttled) = (&contacts[6], &contacts[7], &contacts[8]);
    for c in complete {
        world.deliver_realtime(&c.contact_id, |_| true);
    }
    for c in gaps {
        world.deliver_realtime(&c.contact_id, |i| i % 2 == 0);
    }
    for c in contacts
        .iter()
        .filter(|c| c.contact_id != no_voice_call.contact_id)
    {
        add_voice_call(&world, c);
    }
    world.inject(
        Service::ContactLens,
        Fault::throttling()
            .for_contact(&throttled.contact_id)
            .always(),
    );
    let h = Harness::with(world, &[]).await;
    let mut bodies: Vec<String> = contacts
        .iter()
        .map(|c| disconnected_event(&c.contact_id))
        .collect();
    bodies.push("{\"detail-type\": \"Amazon Connect Contact Event\", \"detail\": 1}".into());
    let held_before: Vec<usize> = gaps
        .iter()
        .map(|c| h.world.conversation_entries(&c.contact_id).len())
        .collect();

    let started = Instant::now();
    let answer = h.invoke(&sqs_event(&bodies)).await;
    println!("10-message batch: {:?}", started.elapsed());

    // Only the analysis still running and the throttled call come back; the malformed body,
    // the call with no VoiceCall and the complete conversations are done.
    assert_eq!(
        failed_messages(&answer),
        BTreeSet::from(["message-6".to_owned(), "message-8".to_owned()])
    );
    let uploaded: BTreeSet<String> = uploaded_conversations(&h.world).into_iter().collect();
    let expected: BTreeSet<String> = gaps.iter().map(|c| c.contact_id.clone()).collect();
    assert_eq!(uploaded, expected);
    for (c, before) in gaps.iter().zip(held_before) {
        let held = h.world.conversation_entries(&c.contact_id).len();
        assert_eq!(
            before, 6,
            "half of the 12 turns were delivered in real time"
        );
        assert_eq!(
            held,
            c.segments.len(),
            "the gaps of {} are filled",
            c.contact_id
        );
    }
    for c in complete {
        assert_eq!(h.world.conversation_entries(&c.contact_id).len(), 12);
    }
    assert_eq!(h.world.duplicate_entries(), 0);
    assert_eq!(h.world.query_requests(), 1, "one SOQL query for the batch");
    let uploaded_entries: usize = h.world.uploads().iter().map(|u| u.entries.len()).sum();
    println!(
        "uploads: {} requests, {uploaded_entries} entries",
        h.world.uploads().len()
    );
    assert_eq!(uploaded_entries, 18);

    // Delivered again once the throttling and the analysis are over, both are repaired.
    h.world.clear_faults();
    h.world
        .update_contact(&running.contact_id, |c| c.analysis_running = false);
    let retry = sqs_event(&[
        disconnected_event(&running.contact_id),
        disconnected_event(&throttled.contact_id),
    ]);
    let answer = h.invoke(&retry).await;
    assert_eq!(failed_messages(&answer), BTreeSet::new());
    assert_eq!(
        h.world.conversation_entries(&throttled.contact_id).len(),
        12
    );
    assert_eq!(h.world.duplicate_entries(), 0);
}

#[tokio::test]
async fn a_failed_voice_call_lookup_retries_every_call_of_the_batch_but_not_the_rest() {
    let world = World::new(INSTANCE);
    let contacts = emulators::generated_contacts(2, 4, 9);
    for c in &contacts {
        world.add_contact(c.clone());
        add_voice_call(&world, c);
    }
    let h = Harness::with(world, &[(config::RETRY_MAX_ATTEMPTS, "2")]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "down")
            .on_path("/query")
            .always(),
    );
    let other_channel =
        disconnected_event(&contacts[1].contact_id).replace("\"VOICE\"", "\"CHAT\"");
    let answer = h
        .invoke(&sqs_event(&[
            disconnected_event(&contacts[0].contact_id),
            other_channel,
        ]))
        .await;
    assert_eq!(
        failed_messages(&answer),
        BTreeSet::from(["message-0".to_owned()])
    );
    assert!(h.world.uploads().is_empty());
}

#[tokio::test]
async fn a_window_of_5000_voice_calls_becomes_one_manifest_in_three_queries() {
    let world = World::new(INSTANCE);
    // 2026-11-01T00:00:00Z, one call a minute: 5,000 calls end on Nov 4th; the window is a week.
    let start_ms = 1_793_491_200_000;
    let inside = emulators::fill_voice_calls(&world, start_ms, 5_000, 60_000);
    let outside = emulators::fill_voice_calls(&world, start_ms - 3_600_000, 30, 60_000);
    world.add_voice_call("0LQ1Q000009NoKy", None, start_ms + 5_000, None);
    let h = Harness::with(world, &[(config::BACKFILL_BUCKET, BUCKET)]).await;
    h.world.create_bucket(BUCKET);
    let request = json!({
        "operation": "buildBackfillManifest",
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-11-08T00:00:00Z",
        "executionName": "window-20261101T000000Z-20261108T000000Z-20261124T101500Z",
    });

    let started = Instant::now();
    let answer = h.invoke(&request).await;
    let elapsed = started.elapsed();
    println!(
        "window of 5,000 VoiceCalls: {} query requests, {elapsed:?}",
        h.world.query_requests()
    );

    let key = "manifests/windows/window-20261101T000000Z-20261108T000000Z-20261124T101500Z.csv";
    assert_eq!(
        answer,
        json!({
            "manifestKey": key,
            "from": "2026-11-01T00:00:00Z",
            "to": "2026-11-08T00:00:00Z",
            "contacts": 5000,
            "voiceCalls": 5000,
            "voiceCallsLeftOut": 0,
            "queryRequests": 3,
        })
    );
    assert_eq!(h.world.query_requests(), 3);
    let manifest = String::from_utf8(h.world.object(BUCKET, key).unwrap()).unwrap();
    let mut lines = manifest.lines();
    assert_eq!(lines.next(), Some("contactId,relatedRecords"));
    let rows: Vec<(String, String)> = lines
        .map(|l| {
            let (a, b) = l.split_once(',').unwrap();
            (a.to_owned(), b.to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = inside
        .iter()
        .map(|(id18, key)| (key.clone(), id18[..15].to_owned()))
        .collect();
    assert_eq!(rows, expected, "every call of the window, oldest first");
    assert!(
        outside
            .iter()
            .all(|(_, key)| !manifest.contains(key.as_str()))
    );
}

#[tokio::test]
async fn a_window_the_function_refuses_is_a_bad_request_naming_the_field() {
    let h = Harness::with(World::new(INSTANCE), &[(config::BACKFILL_BUCKET, BUCKET)]).await;
    let answer = h
        .invoke(&json!({
            "operation": "buildBackfillManifest",
            "from": "2026-11-08T00:00:00Z",
            "to": "2026-11-01T00:00:00Z",
            "executionName": "w",
        }))
        .await;
    assert_eq!(answer["statusCode"], 400);
    assert_eq!(
        answer["body"],
        json!({"error": "to: must be after from"}).to_string()
    );
    assert_eq!(h.world.query_requests(), 0);
}

/// 2026-11-01T00:00:00Z.
const NOVEMBER_MS: i64 = 1_793_491_200_000;
/// VoiceCalls of [`busy_month`]: enough that the manifest (53 bytes a row) spans two parts.
const BUSY_MONTH_CALLS: usize = 120_000;

fn busy_month_request() -> Value {
    json!({
        "operation": "buildBackfillManifest",
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-12-01T00:00:00Z",
        "executionName": "busy-month",
    })
}

const BUSY_MONTH_KEY: &str = "manifests/windows/busy-month.csv";

/// A center's month: a call every 20 seconds, three contacts with a second VoiceCall just
/// after their first (across a query page boundary, near the manifest's part boundary, and
/// with an upper-case VendorCallKey), and one VoiceCall whose key is no contact id. Returns
/// the manifest the whole-in-memory listing made of it: one row per contact, oldest first,
/// each with all its VoiceCalls.
fn busy_month(world: &World) -> String {
    let step_ms = 20_000;
    let inside = emulators::fill_voice_calls(world, NOVEMBER_MS, BUSY_MONTH_CALLS, step_ms);
    let second_voice_calls = [
        (1_999, "0LQ1Q00000DUP01", false),
        (50_000, "0LQ1Q00000DUP02", true),
        (99_000, "0LQ1Q00000DUP03", false),
    ];
    let mut extra = std::collections::HashMap::new();
    for (of, id, upper) in second_voice_calls {
        let key = &inside[of].1;
        let key = if upper {
            key.to_uppercase()
        } else {
            key.clone()
        };
        // Ten calls later: the next page for the first, and within a row's lookahead.
        let start = NOVEMBER_MS + (of as i64 + 10) * step_ms + 1;
        world.add_voice_call(id, Some(&key), start, None);
        extra.insert(of, id);
    }
    world.add_voice_call(
        "0LQ1Q00000BAD01",
        Some("not-a-contact"),
        NOVEMBER_MS + 7,
        None,
    );
    let mut csv = String::from("contactId,relatedRecords\n");
    for (i, (id18, key)) in inside.iter().enumerate() {
        csv.push_str(&format!("{key},{}", &id18[..15]));
        if let Some(id) = extra.get(&i) {
            csv.push_str(&format!(";{id}"));
        }
        csv.push('\n');
    }
    csv
}

#[tokio::test]
async fn a_month_larger_than_one_part_streams_to_s3_as_a_multipart_upload_byte_for_byte() {
    let world = World::new(INSTANCE);
    let expected = busy_month(&world);
    assert!(
        expected.len() > 5 * 1024 * 1024,
        "more than one part's worth"
    );
    let h = Harness::with(world, &[(config::BACKFILL_BUCKET, BUCKET)]).await;
    h.world.create_bucket(BUCKET);

    let answer = h.invoke(&busy_month_request()).await;

    // 120,004 VoiceCalls listed: 61 pages of 2,000.
    assert_eq!(
        answer,
        json!({
            "manifestKey": BUSY_MONTH_KEY,
            "from": "2026-11-01T00:00:00Z",
            "to": "2026-12-01T00:00:00Z",
            "contacts": BUSY_MONTH_CALLS,
            "voiceCalls": BUSY_MONTH_CALLS + 3,
            "voiceCallsLeftOut": 1,
            "queryRequests": 61,
        })
    );
    let stored = h.world.object(BUCKET, BUSY_MONTH_KEY).unwrap();
    assert!(
        stored == expected.as_bytes(),
        "the streamed manifest differs from the whole one ({} bytes, {} expected)",
        stored.len(),
        expected.len()
    );
    assert_eq!(
        (
            multipart_requests(&h.world),
            h.world.stats().s3_put_requests
        ),
        ((1, 2, 1, 0), 0),
        "one upload of two parts, no PutObject"
    );
    assert!(h.world.open_multipart_uploads().is_empty());
}

#[tokio::test]
async fn a_window_whose_query_fails_after_a_part_was_uploaded_aborts_the_upload() {
    let world = World::new(INSTANCE);
    busy_month(&world);
    let h = Harness::with(world, &[(config::BACKFILL_BUCKET, BUCKET)]).await;
    h.world.create_bucket(BUCKET);
    // The 59th page is refused; the first part went to S3 after the 55th.
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            .on_path("/query/")
            .after(57),
    );

    let error = try_invoke_app(&h.app, &busy_month_request(), Duration::from_secs(120))
        .await
        .unwrap_err();

    assert!(
        matches!(
            &error,
            BackfillError::Query(SalesforceError::Http { status: 400, .. })
        ),
        "{error}"
    );
    assert_eq!(h.world.query_requests(), 59);
    assert_eq!(
        multipart_requests(&h.world),
        (1, 1, 0, 1),
        "the part uploaded is discarded"
    );
    assert!(h.world.open_multipart_uploads().is_empty());
    assert!(h.world.object(BUCKET, BUSY_MONTH_KEY).is_none());
}

#[tokio::test]
async fn a_query_whose_server_hands_out_a_cursor_again_fails_naming_it() {
    let world = World::new(INSTANCE);
    emulators::fill_voice_calls(&world, NOVEMBER_MS, 5_000, 60_000);
    let h = Harness::with(world, &[(config::BACKFILL_BUCKET, BUCKET)]).await;
    h.world.create_bucket(BUCKET);
    h.world.inject(
        Service::Salesforce,
        Fault::repeat_query_cursor().on_path("/query/"),
    );

    let error = try_invoke_app(&h.app, &busy_month_request(), Duration::from_secs(60))
        .await
        .unwrap_err();

    let BackfillError::Query(SalesforceError::Paging(PagingError::Loop(url))) = &error else {
        panic!("not a loop: {error}");
    };
    assert!(
        url.starts_with("/services/data/") && url.ends_with("-2000"),
        "{url}"
    );
    assert!(error.to_string().contains(url.as_str()), "{error}");
    // The second page named itself; it was not asked for again.
    assert_eq!(h.world.query_requests(), 2);
    let stats = h.world.stats();
    assert_eq!(
        (stats.s3_put_requests, stats.s3_create_multipart_requests),
        (0, 0)
    );
    assert!(h.world.object(BUCKET, BUSY_MONTH_KEY).is_none());
}

/// Amazon Connect writes contact ids in lower case, but an event or a VoiceCall may carry
/// upper case: each call is still checked once, found, and filled under its lower-case id.
#[tokio::test]
async fn mixed_case_events_and_vendor_call_keys_find_their_calls_once() {
    let world = World::new(INSTANCE);
    let contacts = emulators::generated_contacts(2, 6, 11);
    for c in &contacts {
        world.add_contact(c.clone());
        world.deliver_realtime(&c.contact_id, |i| i % 2 == 0);
    }
    add_voice_call(&world, &contacts[0]);
    world.add_voice_call(
        &contacts[1].voice_call_id,
        Some(&contacts[1].contact_id.to_uppercase()),
        contacts[1].initiation_ms,
        contacts[1].disconnect_ms,
    );
    let h = Harness::with(world, &[]).await;
    let answer = h
        .invoke(&sqs_event(&[
            disconnected_event(&contacts[0].contact_id.to_uppercase()),
            disconnected_event(&contacts[0].contact_id),
            disconnected_event(&contacts[1].contact_id),
        ]))
        .await;
    assert_eq!(failed_messages(&answer), BTreeSet::new());
    let uploaded = uploaded_conversations(&h.world);
    assert_eq!(uploaded.len(), 2, "one upload per call: {uploaded:?}");
    for c in &contacts {
        assert!(uploaded.contains(&c.contact_id), "{uploaded:?}");
        assert_eq!(
            h.world.conversation_entries(&c.contact_id).len(),
            c.segments.len()
        );
    }
    assert_eq!(h.world.duplicate_entries(), 0);
    assert_eq!(h.world.query_requests(), 1);
}
