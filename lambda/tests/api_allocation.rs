//! The org's API allocation is shared with its other systems: every Salesforce REST answer says
//! where it stands (`Sforce-Limit-Info`), and at the ceiling the function reads and uploads
//! nothing more.

mod support;

use std::collections::BTreeSet;

use emulators::{SAMPLE_NO_TRANSCRIPT, World};
use support::*;

const CEILING: (&str, &str) = ("SALESFORCE_API_USAGE_CEILING_PERCENT", "80");

#[tokio::test]
async fn below_the_ceiling_uploads_run_and_the_usage_is_reported() {
    let (h, contacts) = Harness::generated(3, 4, 901, &[CEILING]).await;
    h.world.set_api_allocation(10_000, 100_000);
    let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();

    let response = h.invoke(&upload_request(&h.world, &ids)).await;

    for result in results_by_contact(&response, &ids).values() {
        assert_eq!(result["status"], "SUCCESS", "{result}");
    }
    let (used, max) = h.world.api_usage();
    assert!(used > 10_000 && max == 100_000, "{used}/{max}");
}

#[tokio::test]
async fn at_the_ceiling_a_request_costs_one_lookup_and_reads_nothing() {
    let (h, contacts) = Harness::generated(3, 4, 902, &[CEILING]).await;
    h.world.set_api_allocation(80_000, 100_000);
    let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();

    let response = h.invoke(&upload_request(&h.world, &ids)).await;

    for result in results_by_contact(&response, &ids).values() {
        assert_eq!(code(result), "SALESFORCE_API_CEILING", "{result}");
        let detail = result["errorDetail"].as_str().unwrap();
        assert!(detail.contains("80001 of its 100000"), "{detail}");
    }
    let stats = h.world.stats();
    assert_eq!(
        (stats.connect.requests, stats.contact_lens.requests),
        (0, 0)
    );
    assert!(h.world.uploads().is_empty());
    assert_eq!(h.world.api_usage().0, 80_001, "the VoiceCall lookup only");
}

#[tokio::test]
async fn at_the_ceiling_repair_batches_wait_in_the_queue_and_a_warm_instance_spends_nothing() {
    let world = World::new(INSTANCE);
    let contacts = emulators::generated_contacts(2, 4, 903);
    for c in &contacts {
        world.add_contact(c.clone());
        world.add_voice_call(
            &c.voice_call_id,
            Some(&c.contact_id),
            c.initiation_ms,
            c.disconnect_ms,
        );
    }
    let h = Harness::with(world, &[CEILING]).await;
    h.world.set_api_allocation(95_000, 100_000);
    let events: Vec<String> = contacts
        .iter()
        .map(|c| disconnected_event(&c.contact_id))
        .collect();
    let every_message = BTreeSet::from(["message-0".to_owned(), "message-1".to_owned()]);

    let answer = h.invoke(&sqs_event(&events)).await;
    assert_eq!(failed_messages(&answer), every_message);
    assert_eq!(h.world.api_usage().0, 95_001, "the VoiceCall lookup only");

    let answer = h.invoke(&sqs_event(&events)).await;
    assert_eq!(failed_messages(&answer), every_message);
    assert_eq!(h.world.api_usage().0, 95_001, "nothing more");
    assert_eq!(h.world.stats().contact_lens.requests, 0);
    assert!(h.world.uploads().is_empty());
}

#[tokio::test]
async fn a_transcript_without_speech_spends_no_entries_read() {
    let h = Harness::sample().await;

    let response = h
        .invoke(&upload_request(&h.world, &[SAMPLE_NO_TRANSCRIPT]))
        .await;

    let result = &results_by_contact(&response, &[SAMPLE_NO_TRANSCRIPT])[SAMPLE_NO_TRANSCRIPT];
    assert_eq!(code(result), "NO_TRANSCRIPT", "{result}");
    assert_eq!(entries_reads(&h.world), vec![]);
}

#[tokio::test]
async fn the_entries_hourly_limit_is_reported_and_not_retried() {
    let (h, contacts) = Harness::generated(1, 4, 904, &[]).await;
    h.world.set_entries_reads_per_hour(0);
    let id = contacts[0].contact_id.as_str();

    let response = h.invoke(&upload_request(&h.world, &[id])).await;

    let result = &results_by_contact(&response, &[id])[id];
    assert_eq!(code(result), "SALESFORCE_ENTRIES_LIMIT", "{result}");
    let reads = entries_reads(&h.world);
    assert_eq!(reads.len(), 1, "one GET, no retry: {reads:?}");
    assert_eq!(reads[0].status(), Some(503));
    assert_eq!(h.world.stats().entries_reads_refused, 1);
    assert!(h.world.uploads().is_empty());
}
