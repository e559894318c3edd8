//! Transferred and consulted calls: Amazon Connect has one contact per leg, Salesforce one
//! conversation per call under its first leg's contactId, closed once the last leg ended. Every
//! leg's transcript reaches that conversation, once, in one part per request, whichever leg a
//! request or a contact event names.

mod support;

use std::collections::BTreeSet;

use emulators::{ContactSpec, Fault, LaterLegIdentifiers, Service, UploadProcessing, World};
use serde_json::{Value, json};
use support::*;

/// The legs of one call, in order: each starts when the one before it ended, and keeps its own
/// Contact Lens analysis (offsets from its own ConnectedToAgentTimestamp).
fn call_legs(legs: usize, seed: u64) -> Vec<ContactSpec> {
    let mut contacts = emulators::generated_contacts(legs, 6, seed);
    for at in 1..contacts.len() {
        let before = contacts[at - 1].disconnect_ms.unwrap();
        let leg = &mut contacts[at];
        let shift = before - leg.initiation_ms;
        leg.initiation_ms += shift;
        leg.connected_to_agent_ms = leg.connected_to_agent_ms.map(|t| t + shift);
        leg.disconnect_ms = leg.disconnect_ms.map(|t| t + shift);
    }
    contacts
}

fn ids(legs: &[ContactSpec]) -> Vec<&str> {
    legs.iter().map(|l| l.contact_id.as_str()).collect()
}

/// Every segment id of these legs, in the order the legs were said.
fn segment_ids(legs: &[ContactSpec]) -> Vec<String> {
    legs.iter()
        .flat_map(|l| l.segments.iter().map(|s| s.id.clone()))
        .collect()
}

fn entry_ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            e["id"]
                .as_str()
                .or_else(|| e["identifier"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// A harness whose world holds this transferred call, with the legs' VoiceCalls.
async fn harness_with_call(legs: &[ContactSpec]) -> Harness {
    let world = World::new(INSTANCE);
    world.add_transferred_call(legs.to_vec());
    Harness::with(world, &[]).await
}

#[tokio::test]
async fn a_cold_transfer_goes_to_the_first_legs_conversation_in_one_part() {
    for mode in [
        LaterLegIdentifiers::NotAConversation,
        LaterLegIdentifiers::CallConversation,
    ] {
        let legs = call_legs(2, 801);
        let h = harness_with_call(&legs).await;
        h.world.set_later_leg_identifiers(mode);
        let (a, b) = (&legs[0].contact_id, &legs[1].contact_id);

        let response = h.invoke(&upload_request(&h.world, &[b, a])).await;

        let results = results_by_contact(&response, &[a, b]);
        for (leg, result) in &results {
            assert_eq!(result["status"], "SUCCESS", "{leg}: {result}");
        }
        assert_eq!(results[a]["uploadId"], results[b]["uploadId"]);
        assert_eq!(results[b]["conversation"], a.as_str(), "{mode:?}");
        assert!(results[a].get("conversation").is_none());
        let uploads = h.world.uploads();
        assert_eq!(uploads.len(), 1, "{mode:?}");
        assert_eq!(uploads[0].conversation_id, *a);
        // Each entry in the order said, naming its own leg's VoiceCall and sender.
        assert_eq!(entry_ids(&uploads[0].entries), segment_ids(&legs));
        for entry in &uploads[0].entries {
            let leg = legs
                .iter()
                .find(|l| l.segments.iter().any(|s| s.id == entry["id"]))
                .unwrap();
            assert_eq!(entry["relatedRecords"], json!([leg.voice_call_id]));
            assert!(
                entry["sender"]["subject"]
                    .as_str()
                    .unwrap()
                    .starts_with(&leg.contact_id)
            );
            assert_eq!(entry["conversationId"], a.as_str());
        }
        assert_eq!(
            entry_ids(&h.world.conversation_entries(a)),
            segment_ids(&legs)
        );
        assert_eq!(h.world.duplicate_entries(), 0);
    }
}

#[tokio::test]
async fn a_request_naming_only_the_second_leg_fills_the_calls_conversation() {
    let legs = call_legs(2, 802);
    let h = harness_with_call(&legs).await;
    let (a, b) = (&legs[0].contact_id, &legs[1].contact_id);
    // Real-time delivery stored all of the first leg and half of the second.
    h.world.deliver_realtime(a, |_| true);
    h.world.deliver_realtime(b, |i| i % 2 == 0);

    let response = h.invoke(&upload_request(&h.world, &[b])).await;

    let results = results_by_contact(&response, &[b]);
    assert_eq!(results[b.as_str()]["status"], "SUCCESS", "{response}");
    let uploads = h.world.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].conversation_id, *a);
    let odd: Vec<String> = legs[1]
        .segments
        .iter()
        .skip(1)
        .step_by(2)
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(entry_ids(&uploads[0].entries), odd);
    assert_eq!(
        entry_ids(&h.world.conversation_entries(a)).len(),
        legs[0].segments.len() + legs[1].segments.len()
    );
    assert_eq!(h.world.duplicate_entries(), 0);
}

#[tokio::test]
async fn a_leg_whose_call_goes_on_is_call_in_progress_and_costs_no_contact_lens_request() {
    let mut legs = call_legs(2, 803);
    legs[1].disconnect_ms = None;
    let h = harness_with_call(&legs).await;
    let a = legs[0].contact_id.as_str();

    let response = h.invoke(&upload_request(&h.world, &[a])).await;

    let result = &results_by_contact(&response, &[a])[a];
    assert_eq!(code(result), "CALL_IN_PROGRESS", "{result}");
    assert!(
        result["errorDetail"]
            .as_str()
            .unwrap()
            .contains("not closed"),
        "{result}"
    );
    assert_eq!(h.world.stats().contact_lens.requests, 0);
    assert!(h.world.uploads().is_empty());
}

#[tokio::test]
async fn a_consult_that_never_joined_keeps_its_own_conversation() {
    let mut legs = call_legs(2, 804);
    legs[1].joined_call = false;
    let h = harness_with_call(&legs).await;
    let (a, k) = (&legs[0].contact_id, &legs[1].contact_id);

    let response = h.invoke(&upload_request(&h.world, &[a, k])).await;

    for result in results_by_contact(&response, &[a, k]).values() {
        assert_eq!(result["status"], "SUCCESS", "{result}");
        assert!(result.get("conversation").is_none(), "{result}");
    }
    let mut conversations = uploaded_conversations(&h.world);
    conversations.sort();
    let mut expected = vec![a.clone(), k.clone()];
    expected.sort();
    assert_eq!(conversations, expected);
    assert_eq!(
        entry_ids(&h.world.conversation_entries(k)),
        segment_ids(&legs[1..])
    );
    assert_eq!(
        entry_ids(&h.world.conversation_entries(a)),
        segment_ids(&legs[..1])
    );
}

#[tokio::test]
async fn without_salesforces_answer_a_later_leg_goes_to_its_initial_contact() {
    let legs = call_legs(2, 805);
    let h = harness_with_call(&legs).await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(500, "UNKNOWN_EXCEPTION", "boom")
            .on_path("/query")
            .always(),
    );
    let (a, b) = (&legs[0].contact_id, &legs[1].contact_id);

    let response = h.invoke(&upload_request(&h.world, &[b])).await;

    let result = &results_by_contact(&response, &[b])[b.as_str()];
    assert_eq!(result["status"], "SUCCESS", "{result}");
    assert_eq!(uploaded_conversations(&h.world), [a.as_str()]);
}

#[tokio::test]
async fn a_dry_run_names_each_legs_call_and_conversation() {
    let legs = call_legs(2, 806);
    let h = harness_with_call(&legs).await;
    let (a, b) = (&legs[0].contact_id, &legs[1].contact_id);
    let mut request = upload_request(&h.world, &[a, b]);
    request["dryRun"] = json!(true);

    let response = h.invoke(&request).await;

    let payload: Value = serde_json::from_str(response[0]["Payload"].as_str().unwrap()).unwrap();
    let lines = payload["dryRunResults"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    for line in lines {
        assert_eq!(line["status"], "WOULD_UPLOAD", "{line}");
        assert_eq!(line["call"], a.as_str(), "{line}");
        assert_eq!(line["conversation"], a.as_str(), "{line}");
    }
    assert_eq!(lines[1]["conversationIdentifier"], b.as_str());
    assert!(h.world.uploads().is_empty());
}

/// Contact events of a two-step transfer A -> B -> C: while the call goes on they wait in the
/// queue; once it ended, in reverse order and repeated, they upload the call once, all legs in
/// one part, and a later delivery uploads nothing.
#[tokio::test]
async fn repair_uploads_a_two_step_transfer_once_whatever_order_its_events_arrive_in() {
    let mut legs = call_legs(3, 807);
    let last_end = legs[2].disconnect_ms.take().unwrap();
    let h = harness_with_call(&legs).await;
    let ids = ids(&legs);
    for (at, leg) in ids.iter().enumerate() {
        h.world.deliver_realtime(leg, |i| (i + at) % 3 != 0);
    }

    let early = sqs_event(&[disconnected_event(ids[0]), disconnected_event(ids[1])]);
    let answer = h.invoke(&early).await;
    assert_eq!(
        failed_messages(&answer),
        BTreeSet::from(["message-0".to_owned(), "message-1".to_owned()]),
        "the call goes on in its third leg"
    );
    assert!(h.world.uploads().is_empty());

    assert!(h.world.end_contact(ids[2], last_end));
    // Salesforce shows an upload only once it processed it: an event handled meanwhile must
    // not upload the call again.
    h.world.set_upload_processing(UploadProcessing::Deferred);
    let answer = h.invoke(&sqs_event(&[disconnected_event(ids[1])])).await;
    assert_eq!(failed_messages(&answer), BTreeSet::new());
    assert!(
        h.world.uploads().is_empty(),
        "the last leg's event repairs the call"
    );
    let events: Vec<String> = [ids[2], ids[0], ids[2]]
        .into_iter()
        .map(disconnected_event)
        .collect();
    let answer = h.invoke(&sqs_event(&events)).await;
    assert_eq!(failed_messages(&answer), BTreeSet::new());
    let uploads = h.world.uploads();
    assert_eq!(uploads.len(), 1, "one upload for the call");
    assert_eq!(uploads[0].conversation_id, ids[0]);
    let missing: Vec<String> = legs
        .iter()
        .enumerate()
        .flat_map(|(at, leg)| {
            leg.segments
                .iter()
                .enumerate()
                .filter(move |(i, _)| (i + at) % 3 == 0)
                .map(|(_, s)| s.id.clone())
        })
        .collect();
    assert_eq!(entry_ids(&uploads[0].entries), missing);
    h.world.process_uploads();
    assert_eq!(
        entry_ids(&h.world.conversation_entries(ids[0])),
        segment_ids(&legs)
    );

    let again = sqs_event(&[disconnected_event(ids[0]), disconnected_event(ids[2])]);
    assert_eq!(failed_messages(&h.invoke(&again).await), BTreeSet::new());
    assert_eq!(h.world.uploads().len(), 1, "nothing left to upload");
    assert_eq!(h.world.duplicate_entries(), 0);
}
