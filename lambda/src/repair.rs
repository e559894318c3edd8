//! Automatic repair: a batch of Amazon Connect contact events from SQS. One SOQL query finds
//! the VoiceCalls of all its calls, then the calls go through the upload pipeline in fill-gaps
//! mode. The answer lists exactly the messages worth delivering again.
//!
//! The SQS event and the partial batch response are `aws_lambda_events`' types; the domain sees
//! each message as its id, its body and how often it was sent back to wait for a budget.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::{Instant, timeout_at};

use crate::adapters::sqs::DEFERRALS_ATTRIBUTE;
use crate::domain::call::{self, Placement, Placements, last_leg};
use crate::domain::contact::ContactRequest;
use crate::domain::existing::ExistingEntries;
use crate::domain::outcome::FailureCode;
use crate::domain::repair::{
    LOOKUP_FAILED, MALFORMED_EVENT, MessageOutcome, NO_VOICE_CALL, RepairMessage, Verdict, bounded,
    deferral_delay, verdict, waits_for_budget, within_horizon, worth_retrying,
};
use crate::domain::request::UploadOptions;
use crate::domain::soql::{voice_calls_in_conversations, voice_calls_of_contacts};
use crate::pipeline::Pipeline;
use crate::ports::{
    AnalysisStore, ContactDirectory, ConversationSink, RepairQueue, TranscriptSource,
    VoiceCallDirectory,
};
use crate::query::all_voice_calls;

/// The messages of a standard SQS event, or `None` when the event is not one: an operation
/// request, or records not in SQS's format. A record without a message id cannot be reported
/// back and is left out; one without a body is kept, to be logged as malformed by its id. A
/// message never sent back has no `deferrals` attribute: 0.
pub fn sqs_messages(event: &Value) -> Option<Vec<RepairMessage>> {
    let event = SqsEvent::deserialize(event).ok()?;
    let from_sqs = |r: &SqsMessage| r.event_source.as_deref() == Some("aws:sqs");
    if event.records.is_empty() || !event.records.iter().all(from_sqs) {
        return None;
    }
    Some(
        event
            .records
            .into_iter()
            .filter_map(|r| {
                let deferrals = r
                    .message_attributes
                    .get(DEFERRALS_ATTRIBUTE)
                    .filter(|a| {
                        a.data_type
                            .as_deref()
                            .is_some_and(|t| t.starts_with("Number"))
                    })
                    .and_then(|a| a.string_value.as_deref()?.trim().parse().ok())
                    .unwrap_or(0);
                Some(RepairMessage::new(
                    r.message_id?,
                    r.body.unwrap_or_default(),
                    deferrals,
                ))
            })
            .collect(),
    )
}

/// The partial batch response that has SQS deliver every one of these messages again.
pub fn retry_all(messages: &[RepairMessage]) -> SqsBatchResponse {
    let mut answer = SqsBatchResponse::default();
    answer.set_failures(messages.iter().map(|m| m.message_id.as_str()));
    answer
}

/// Each message's outcome, in batch order, and how many were DISCONNECTED calls to check.
pub struct RepairReport {
    pub outcomes: Vec<(RepairMessage, Option<String>, MessageOutcome)>,
    pub checked: usize,
}

impl RepairReport {
    /// Sends every deferred message back to the queue, delayed by its number of deferrals so
    /// far. One that cannot be (no queue configured, SendMessage failed, or no answer before
    /// `deadline`) takes the ordinary retry path instead. A message both sent back and delivered
    /// again (a send that succeeded unanswered) only has its call checked twice, which is safe:
    /// filling reads the conversation's entries and uploads only what it lacks.
    pub async fn send_back_deferred<Q: RepairQueue>(
        &mut self,
        queue: Option<&Q>,
        deadline: Instant,
    ) {
        let sends = self
            .outcomes
            .iter_mut()
            .filter(|(_, _, outcome)| matches!(outcome, MessageOutcome::Deferred(_)))
            .map(|(message, _, outcome)| async move {
                let deferrals = message.deferrals.saturating_add(1);
                let delay = deferral_delay(message.deferrals);
                let sent = match queue {
                    None => Err("REPAIR_QUEUE_URL is not set".to_owned()),
                    Some(queue) => {
                        match timeout_at(deadline, queue.send_back(&message.body, delay, deferrals))
                            .await
                        {
                            Ok(sent) => sent.map_err(|e| e.to_string()),
                            Err(_) => Err("the invocation's deadline came first".to_owned()),
                        }
                    }
                };
                match sent {
                    Ok(()) => tracing::info!(
                        messageId = %message.message_id,
                        deferrals,
                        delaySeconds = delay.as_secs(),
                        "sent back to the queue to wait for a budget"
                    ),
                    Err(error) => {
                        tracing::warn!(
                            messageId = %message.message_id,
                            error = %error,
                            "the message could not be sent back to the queue; SQS delivers it again"
                        );
                        let reason = outcome.reason().unwrap_or_default().to_owned();
                        *outcome = MessageOutcome::Retry(reason);
                    }
                }
            });
        join_all(sends).await;
    }

    /// How long ago the oldest call among the messages left waiting (deferred or delivered
    /// again) ended, by its event's time; `None` without any.
    pub fn oldest_waiting_age(&self, now_ms: i64) -> Option<Duration> {
        self.outcomes
            .iter()
            .filter(|(_, _, o)| matches!(o, MessageOutcome::Deferred(_) | MessageOutcome::Retry(_)))
            .filter_map(|(message, _, _)| message.event_ms)
            .map(|at| Duration::from_millis(u64::try_from(now_ms.saturating_sub(at)).unwrap_or(0)))
            .max()
    }

    /// The SQS partial batch response: only the messages to deliver again.
    pub fn batch_item_failures(&self) -> SqsBatchResponse {
        let mut answer = SqsBatchResponse::default();
        answer.set_failures(
            self.outcomes
                .iter()
                .filter(|(_, _, outcome)| matches!(outcome, MessageOutcome::Retry(_)))
                .map(|(message, _, _)| message.message_id.as_str()),
        );
        answer
    }
}

pub async fn repair<C, T, A, S>(
    pipeline: &Pipeline<C, T, A>,
    sink: &S,
    instance_id: &str,
    transcript_horizon: Duration,
    messages: Vec<RepairMessage>,
    deadline: Instant,
) -> RepairReport
where
    C: ContactDirectory,
    T: TranscriptSource,
    A: AnalysisStore,
    S: ConversationSink + VoiceCallDirectory,
{
    let verdicts: Vec<Verdict> = messages
        .iter()
        .map(|m| verdict(&m.body, instance_id))
        .collect();
    let mut contact_ids: Vec<&str> = Vec::new();
    for v in &verdicts {
        if let Verdict::Check(id) = v
            && !contact_ids.contains(&id.as_str())
        {
            contact_ids.push(id);
        }
    }
    let checked = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Check(_)))
        .count();
    let per_contact =
        repair_contacts(pipeline, sink, &contact_ids, transcript_horizon, deadline).await;

    let now = now_ms();
    let outcomes = messages
        .into_iter()
        .zip(verdicts)
        .map(|(message, verdict)| match verdict {
            Verdict::Malformed => (message, None, MessageOutcome::Final(MALFORMED_EVENT.into())),
            Verdict::Ignored(reason) => (message, None, MessageOutcome::Final(reason.into())),
            Verdict::Check(id) => {
                let outcome = per_contact
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| MessageOutcome::Retry(LOOKUP_FAILED.into()));
                let outcome = bounded(outcome, message.event_ms, now, transcript_horizon);
                (message, Some(id), outcome)
            }
        })
        .collect();
    RepairReport { outcomes, checked }
}

/// The outcome of each contact: its VoiceCalls found with one query (every leg of the
/// transferred calls among them with a second), then filled in. A transferred call is repaired
/// by its last leg's event once Salesforce closed its conversation, all legs in one
/// conversation file; the other legs' events are done without an upload.
async fn repair_contacts<C, T, A, S>(
    pipeline: &Pipeline<C, T, A>,
    sink: &S,
    contact_ids: &[&str],
    transcript_horizon: Duration,
    deadline: Instant,
) -> HashMap<String, MessageOutcome>
where
    C: ContactDirectory,
    T: TranscriptSource,
    A: AnalysisStore,
    S: ConversationSink + VoiceCallDirectory,
{
    let Some(soql) = voice_calls_of_contacts(contact_ids.iter().copied()) else {
        return HashMap::new();
    };
    let every = |outcome: MessageOutcome| -> HashMap<String, MessageOutcome> {
        contact_ids
            .iter()
            .map(|id| ((*id).to_owned(), outcome.clone()))
            .collect()
    };
    if let Some(failure) = pipeline.above_ceiling(sink) {
        // Known from an earlier answer: not even the lookup is spent.
        tracing::warn!(detail = %failure.detail, "the org's API usage is at or above the ceiling; the batch waits in the queue");
        return every(MessageOutcome::Deferred(failure.code.as_str().into()));
    }
    let records = match all_voice_calls(sink, &soql).await {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(error = %e, contacts = contact_ids.len(), "VoiceCall lookup failed");
            // The refusal's own answer may have put the org at the ceiling.
            let code = pipeline
                .above_ceiling(sink)
                .map_or_else(|| e.failure().code, |failure| failure.code);
            if waits_for_budget(code, true) {
                return every(MessageOutcome::Deferred(code.as_str().into()));
            }
            return HashMap::new();
        }
    };
    let mut placements = call::placements(&records);
    let legs_of = legs_of_calls(sink, contact_ids, &mut placements).await;

    let mut outcomes = HashMap::new();
    let mut requests: Vec<ContactRequest> = Vec::new();
    // Each checked contact and the legs whose outcomes make its own.
    let mut calls: Vec<(&str, Vec<String>)> = Vec::new();
    for id in contact_ids {
        let Some(placement) = placements.get(*id) else {
            outcomes.insert(
                (*id).to_owned(),
                MessageOutcome::Final(NO_VOICE_CALL.into()),
            );
            continue;
        };
        let legs = match (placement.transferred, &placement.conversation_record) {
            (true, Some(record)) => {
                if !placement.ended {
                    let waiting = FailureCode::CallInProgress.as_str();
                    outcomes.insert((*id).to_owned(), MessageOutcome::Retry(waiting.into()));
                    continue;
                }
                let Some(legs) = legs_of.as_ref() else {
                    outcomes.insert(
                        (*id).to_owned(),
                        MessageOutcome::Retry(LOOKUP_FAILED.into()),
                    );
                    continue;
                };
                let legs = legs
                    .get(record)
                    .cloned()
                    .unwrap_or_else(|| vec![(*id).to_owned()]);
                let last = last_leg(
                    legs.iter()
                        .filter_map(|leg| placements.get(leg).map(|p| (leg.as_str(), p))),
                );
                if last != Some(*id) {
                    outcomes.insert((*id).to_owned(), MessageOutcome::CoveredByLastLeg);
                    continue;
                }
                legs
            }
            _ => vec![(*id).to_owned()],
        };
        for leg in &legs {
            if !requests.iter().any(|r| &r.contact_id == leg) {
                requests.push(ContactRequest {
                    contact_id: leg.clone(),
                    as_requested: leg.clone(),
                    related_records: placements
                        .get(leg)
                        .map(|p| p.voice_calls.clone())
                        .unwrap_or_default(),
                });
            }
        }
        calls.push((id, legs));
    }
    if requests.is_empty() {
        return outcomes;
    }
    let options = UploadOptions {
        dry_run: false,
        existing_entries: ExistingEntries::Fill,
        add_post_call_to_existing: false,
    };
    let report = pipeline
        .upload(sink, &requests, Some(&placements), options, deadline)
        .await;
    let now_ms = now_ms();
    let mut per_leg: HashMap<String, MessageOutcome> = HashMap::new();
    for o in report.outcomes {
        let late = within_horizon(o.disconnected_ms, now_ms, transcript_horizon);
        let outcome = match o.failure {
            Some(code) if waits_for_budget(code, o.started) => {
                MessageOutcome::Deferred(code.as_str().into())
            }
            Some(code) if worth_retrying(code) => MessageOutcome::Retry(code.as_str().into()),
            Some(code @ FailureCode::TranscriptUnavailable) if late => {
                MessageOutcome::Retry(code.as_str().into())
            }
            Some(code) => MessageOutcome::Final(code.as_str().into()),
            None if o.skipped || o.entries == 0 => MessageOutcome::AlreadyComplete,
            None => MessageOutcome::Repaired { entries: o.entries },
        };
        per_leg.insert(o.contact_id, outcome);
    }
    for (id, legs) in calls {
        if legs.len() > 1 {
            for leg in &legs {
                let outcome = per_leg.get(leg);
                tracing::info!(
                    contactId = %leg,
                    lastLeg = id,
                    outcome = outcome.map(MessageOutcome::name),
                    reason = outcome.and_then(MessageOutcome::reason),
                    "leg of a transferred call checked"
                );
            }
        }
        let outcome = MessageOutcome::of_legs(legs.iter().filter_map(|leg| per_leg.get(leg)))
            .unwrap_or_else(|| MessageOutcome::Retry(LOOKUP_FAILED.into()));
        outcomes.insert(id.to_owned(), outcome);
    }
    outcomes
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The contactIds of every leg of the transferred calls among `contact_ids`, by Conversation
/// record id, found with one query; each leg's placement joins `placements`. `None` when the
/// query failed.
async fn legs_of_calls<S: VoiceCallDirectory>(
    sink: &S,
    contact_ids: &[&str],
    placements: &mut Placements,
) -> Option<HashMap<String, Vec<String>>> {
    let mut conversations: Vec<String> = Vec::new();
    for placement in contact_ids.iter().filter_map(|id| placements.get(*id)) {
        if let (true, Some(record)) = (placement.transferred, &placement.conversation_record)
            && !conversations.contains(record)
        {
            conversations.push(record.clone());
        }
    }
    let mut legs_of: HashMap<String, Vec<String>> = HashMap::new();
    let Some(soql) = voice_calls_in_conversations(conversations.iter().map(String::as_str)) else {
        return Some(legs_of);
    };
    let records = match all_voice_calls(sink, &soql).await {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(error = %e, calls = conversations.len(), "the transferred calls' legs could not be read");
            return None;
        }
    };
    let mut legs: Vec<(String, Placement)> = call::placements(&records).into_iter().collect();
    legs.sort_by(|a, b| a.0.cmp(&b.0));
    for (contact, placement) in legs {
        if let Some(record) = &placement.conversation_record {
            legs_of
                .entry(record.clone())
                .or_default()
                .push(contact.clone());
        }
        placements.entry(contact).or_insert(placement);
    }
    Some(legs_of)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sqs_events_are_told_apart_from_operation_requests() {
        let sqs = json!({"Records": [
            {"messageId": "m1", "receiptHandle": "r", "body": "b1", "attributes": {"ApproximateReceiveCount": "1"},
             "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
             "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"},
            {"messageId": "m2", "body": "b2", "eventSource": "aws:sqs"},
            {"messageId": "m3", "eventSource": "aws:sqs"}
        ]});
        assert_eq!(
            sqs_messages(&sqs).unwrap(),
            [
                RepairMessage::new("m1".into(), "b1".into(), 0),
                RepairMessage::new("m2".into(), "b2".into(), 0),
                RepairMessage::new("m3".into(), String::new(), 0),
            ]
        );
        assert_eq!(verdict("", "any-instance"), Verdict::Malformed);

        // The count of earlier deferrals, as the repair queue's SendMessage set it.
        let deferred = |attributes: Value| {
            let event = json!({"Records": [{"messageId": "m", "body": "b", "eventSource": "aws:sqs",
                "messageAttributes": attributes}]});
            sqs_messages(&event).unwrap()[0].deferrals
        };
        let number = |value: &str, data_type: &str| {
            json!({"deferrals": {"stringValue": value, "stringListValues": [], "binaryListValues": [],
                "dataType": data_type}})
        };
        assert_eq!(deferred(number("3", "Number")), 3);
        assert_eq!(deferred(json!({})), 0);
        assert_eq!(deferred(number("3", "String")), 0);
        assert_eq!(deferred(number("-1", "Number")), 0);
        assert_eq!(
            sqs_messages(&json!({"operation": "uploadTranscript"})),
            None
        );
        assert_eq!(
            sqs_messages(&json!({"Records": [{"eventSource": "aws:s3"}]})),
            None
        );
        assert_eq!(sqs_messages(&json!({"Records": []})), None);

        let sandbox: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/events/sqs-contact-disconnected.json"
        ))
        .unwrap();
        let messages = sqs_messages(&sandbox).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(
            messages[0].message_id,
            "2f1c7a5e-3b9d-4e6f-8a1b-9c0d1e2f3a4b"
        );
        assert_eq!(
            verdict(&messages[0].body, "8e7b2f4c-1d3a-4e5b-9c6d-0a1b2c3d4e5f"),
            Verdict::Check("3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a08".into())
        );
        assert_eq!(
            serde_json::to_string(&retry_all(&messages)).unwrap(),
            r#"{"batchItemFailures":[{"itemIdentifier":"2f1c7a5e-3b9d-4e6f-8a1b-9c0d1e2f3a4b"}]}"#
        );

        // The sandbox's transferred call: its second leg's event, the first's, the second's again.
        let transferred: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/events/sqs-transferred-call-disconnected.json"
        ))
        .unwrap();
        let messages = sqs_messages(&transferred).unwrap();
        let (a, b) = (
            "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a09",
            "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a10",
        );
        let checked: Vec<Verdict> = messages
            .iter()
            .map(|m| verdict(&m.body, "8e7b2f4c-1d3a-4e5b-9c6d-0a1b2c3d4e5f"))
            .collect();
        assert_eq!(
            checked,
            [b, a, b].map(|id| Verdict::Check(id.into())).to_vec()
        );
        let mut ids: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3, "distinct message ids");
    }
}
