//! A repair message whose call could not be checked for lack of a budget goes back to the
//! queue with a growing delay (SQS SendMessage), never to the dead-letter queue for that; once
//! its call is older than the transcript horizon it takes the ordinary retry path.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use contact_data_sync::App;
use emulators::{Fault, MessageAttribute, SentMessage, Service, World};
use serde_json::{Value, json};
use support::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const CEILING: (&str, &str) = ("SALESFORCE_API_USAGE_CEILING_PERCENT", "80");
const QUEUE: &str = "contact-data-sync-auto-repair";

/// Calls with their VoiceCalls, the emulators, and the repair queue's URL on them.
async fn setup(calls: usize, seed: u64) -> (Harness, Vec<String>, String) {
    let world = World::new(INSTANCE);
    let contacts = emulators::generated_contacts(calls, 4, seed);
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
    let queue = h.world.create_queue(QUEUE);
    let ids = contacts.into_iter().map(|c| c.contact_id).collect();
    (h, ids, queue)
}

/// An instance that sends deferred messages back to `queue`.
async fn with_queue(h: &Harness, queue: &str) -> App {
    h.another_instance(&[CEILING, ("REPAIR_QUEUE_URL", queue)])
        .await
}

/// The contact's DISCONNECTED event, emitted `ago` before now.
fn event(contact_id: &str, ago: Duration) -> String {
    let at = OffsetDateTime::now_utc() - ago;
    let mut event: Value = serde_json::from_str(&disconnected_event(contact_id)).unwrap();
    event["time"] = json!(at.format(&Rfc3339).unwrap());
    event.to_string()
}

fn recent_events(ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| event(id, Duration::from_secs(60)))
        .collect()
}

/// The SQS event of these bodies, each carrying the `deferrals` count given.
fn sqs_event_with_deferrals(bodies: &[String], deferrals: &[u32]) -> Value {
    let mut event = sqs_event(bodies);
    for (record, n) in event["Records"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(deferrals)
    {
        record["messageAttributes"] = json!({"deferrals": {
            "stringValue": n.to_string(), "stringListValues": [], "binaryListValues": [],
            "dataType": "Number"}});
    }
    event
}

async fn invoke(app: &App, event: &Value) -> Value {
    invoke_app(app, event, Duration::from_secs(120)).await
}

fn deferrals(message: &SentMessage) -> &MessageAttribute {
    &message.attributes["deferrals"]
}

/// The message sent back for this body.
fn sent_for<'a>(sent: &'a [SentMessage], body: &str) -> &'a SentMessage {
    let matching: Vec<&SentMessage> = sent.iter().filter(|m| m.body == body).collect();
    assert_eq!(matching.len(), 1, "sent back once: {sent:?}");
    matching[0]
}

/// The EMF records a function process printed, one JSON object per line.
fn metric_records(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record.get("_aws").is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn above_the_ceiling_every_message_is_sent_back_for_a_minute_and_counted() {
    let (h, ids, queue) = setup(2, 951).await;
    h.world.set_api_allocation(95_000, 100_000);
    let events = recent_events(&ids);
    let process = FunctionProcess::start(
        &h.emulators,
        &[CEILING, ("REPAIR_QUEUE_URL", &queue)],
        "deferral",
    )
    .await;

    let answer = process.invoke(&sqs_event(&events)).await;

    assert_eq!(failed_messages(&answer), BTreeSet::new(), "{answer}");
    let sent = h.world.sent_messages(&queue);
    assert_eq!(sent.len(), 2);
    for body in &events {
        let message = sent_for(&sent, body);
        assert_eq!(message.delay_seconds, 60);
        assert_eq!(deferrals(message).data_type, "Number");
        assert_eq!(deferrals(message).string_value.as_deref(), Some("1"));
    }
    assert_eq!(h.world.api_usage().0, 95_001, "the VoiceCall lookup only");
    assert!(h.world.uploads().is_empty());

    let records = metric_records(&process.log());
    let totals = records
        .iter()
        .find(|r| r.get("CallsChecked").is_some())
        .expect("the repair totals");
    assert_eq!(totals["RepairDeferred"], 2, "{totals}");
    assert_eq!(totals["RepairRetried"], 0, "{totals}");
    let by_reason = records
        .iter()
        .find(|r| r.get("RepairDeferred").is_some() && r.get("Reason").is_some())
        .expect("deferrals by reason");
    assert_eq!(by_reason["Reason"], "SALESFORCE_API_CEILING");
    let age = records
        .iter()
        .find(|r| r.get("OldestWaitingCallAgeSeconds").is_some())
        .expect("the oldest waiting call's age");
    // The events were emitted a minute before the invocation.
    let seconds = age["OldestWaitingCallAgeSeconds"].as_u64().unwrap();
    assert!(seconds >= 60, "{age}");
    assert_eq!(
        age["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
        "Seconds"
    );
}

#[tokio::test]
async fn the_delay_doubles_with_each_deferral_up_to_sqs_maximum() {
    let (h, ids, queue) = setup(2, 952).await;
    h.world.set_api_allocation(95_000, 100_000);
    let app = with_queue(&h, &queue).await;
    let events = recent_events(&ids);

    let answer = invoke(&app, &sqs_event_with_deferrals(&events, &[3, 5])).await;

    assert_eq!(failed_messages(&answer), BTreeSet::new(), "{answer}");
    let sent = h.world.take_sent_messages(&queue);
    let third = sent_for(&sent, &events[0]);
    assert_eq!(third.delay_seconds, 480);
    assert_eq!(deferrals(third).string_value.as_deref(), Some("4"));
    let fifth = sent_for(&sent, &events[1]);
    assert_eq!(fifth.delay_seconds, 900, "SQS's maximum");
    assert_eq!(deferrals(fifth).string_value.as_deref(), Some("6"));
}

#[tokio::test]
async fn when_send_message_fails_the_messages_return_through_batch_item_failures() {
    let (h, ids, queue) = setup(2, 953).await;
    h.world.set_api_allocation(95_000, 100_000);
    h.world.inject(
        Service::Sqs,
        Fault::aws_error(500, "InternalError").always(),
    );
    let app = with_queue(&h, &queue).await;

    let answer = invoke(&app, &sqs_event(&recent_events(&ids))).await;

    let every_message = BTreeSet::from(["message-0".to_owned(), "message-1".to_owned()]);
    assert_eq!(failed_messages(&answer), every_message);
    assert!(h.world.sent_messages(&queue).is_empty());
    assert!(h.world.stats().sqs.requests >= 2, "SendMessage was tried");
}

#[tokio::test]
async fn without_a_repair_queue_the_messages_return_through_batch_item_failures() {
    let (h, ids, queue) = setup(2, 954).await;
    h.world.set_api_allocation(95_000, 100_000);

    let answer = invoke(&h.app, &sqs_event(&recent_events(&ids))).await;

    let every_message = BTreeSet::from(["message-0".to_owned(), "message-1".to_owned()]);
    assert_eq!(failed_messages(&answer), every_message);
    assert!(h.world.sent_messages(&queue).is_empty());
    assert_eq!(h.world.stats().sqs.requests, 0);
}

#[tokio::test]
async fn a_spent_entries_hour_defers_the_message_after_one_read() {
    let (h, ids, queue) = setup(1, 955).await;
    h.world.set_entries_reads_per_hour(0);
    let app = with_queue(&h, &queue).await;
    let events = recent_events(&ids);

    let answer = invoke(&app, &sqs_event(&events)).await;

    assert_eq!(failed_messages(&answer), BTreeSet::new(), "{answer}");
    let sent = h.world.sent_messages(&queue);
    assert_eq!(sent_for(&sent, &events[0]).delay_seconds, 60);
    let reads = entries_reads(&h.world);
    assert_eq!(reads.len(), 1, "one entries GET, not retried: {reads:?}");
    assert!(h.world.uploads().is_empty());
}

#[tokio::test]
async fn a_call_older_than_the_horizon_takes_the_ordinary_retry_path() {
    let (h, ids, queue) = setup(1, 956).await;
    h.world.set_api_allocation(95_000, 100_000);
    let app = with_queue(&h, &queue).await;
    // REPAIR_TRANSCRIPT_HORIZON_HOURS is 48 by default.
    let old = event(&ids[0], Duration::from_secs(49 * 3_600));

    let answer = invoke(&app, &sqs_event(&[old])).await;

    assert_eq!(
        failed_messages(&answer),
        BTreeSet::from(["message-0".to_owned()])
    );
    assert!(h.world.sent_messages(&queue).is_empty());
    assert_eq!(h.world.stats().sqs.requests, 0);
}

#[tokio::test]
async fn a_contact_the_invocation_had_no_time_to_start_is_deferred_and_one_cut_short_is_retried() {
    let (h, ids, queue) = setup(2, 957).await;
    // One contact at a time: the first one's DescribeContact outlasts the time for reading, so
    // the second never starts.
    h.world.inject(
        Service::Connect,
        Fault::delay(HANG).for_contact(&ids[0]).always(),
    );
    let app = h
        .another_instance(&[("CONTACT_CONCURRENCY", "1"), ("REPAIR_QUEUE_URL", &queue)])
        .await;
    let events = recent_events(&ids);

    let answer = invoke_app(&app, &sqs_event(&events), Duration::from_secs(4)).await;

    assert_eq!(
        failed_messages(&answer),
        BTreeSet::from(["message-0".to_owned()]),
        "the contact cut short takes the ordinary retry path"
    );
    let sent = h.world.sent_messages(&queue);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent_for(&sent, &events[1]).delay_seconds, 60);
}

#[tokio::test]
async fn a_lookup_refused_for_a_used_up_allocation_defers_the_batch() {
    let (h, ids, queue) = setup(1, 958).await;
    // The lookup's 403 REQUEST_LIMIT_EXCEEDED reports the usage that puts the org at the ceiling.
    h.world.set_api_allocation(100_000, 100_000);
    let app = with_queue(&h, &queue).await;
    let events = recent_events(&ids);

    let answer = invoke(&app, &sqs_event(&events)).await;

    assert_eq!(failed_messages(&answer), BTreeSet::new(), "{answer}");
    let sent = h.world.sent_messages(&queue);
    assert_eq!(sent_for(&sent, &events[0]).delay_seconds, 60);
    assert_eq!(h.world.stats().connect.requests, 0);
}
