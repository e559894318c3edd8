//! Automatic repair: a batch of Amazon Connect contact events from SQS. One SOQL query finds
//! the VoiceCalls of all its calls, then the calls go through the upload pipeline in fill-gaps
//! mode. The answer lists exactly the messages worth delivering again.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::domain::contact::ContactRequest;
use crate::domain::existing::ExistingEntries;
use crate::domain::ids::{contact_id, salesforce_id_15};
use crate::domain::outcome::FailureCode;
use crate::domain::repair::{
    LOOKUP_FAILED, MALFORMED_EVENT, MessageOutcome, NO_VOICE_CALL, SqsMessage, Verdict,
    transcript_may_still_come, verdict, worth_retrying,
};
use crate::domain::request::UploadOptions;
use crate::domain::soql::voice_calls_of_contacts;
use crate::pipeline::Pipeline;
use crate::ports::{
    AnalysisStore, ContactDirectory, ConversationSink, TranscriptSource, VoiceCallDirectory,
};
use crate::query::all_voice_calls;

/// Each message's outcome, in batch order, and how many were DISCONNECTED calls to check.
pub struct RepairReport {
    pub outcomes: Vec<(SqsMessage, Option<String>, MessageOutcome)>,
    pub checked: usize,
}

impl RepairReport {
    /// The SQS partial batch response: only the messages to deliver again.
    pub fn batch_item_failures(&self) -> Value {
        let failures: Vec<Value> = self
            .outcomes
            .iter()
            .filter(|(_, _, outcome)| matches!(outcome, MessageOutcome::Retry(_)))
            .map(|(message, _, _)| json!({ "itemIdentifier": message.message_id }))
            .collect();
        json!({ "batchItemFailures": failures })
    }
}

pub async fn repair<C, T, A, S>(
    pipeline: &Pipeline<C, T, A>,
    sink: &S,
    instance_id: &str,
    transcript_horizon: Duration,
    messages: Vec<SqsMessage>,
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
                (message, Some(id), outcome)
            }
        })
        .collect();
    RepairReport { outcomes, checked }
}

/// The outcome of each contact: its VoiceCalls found with one query, then filled in.
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
    let records = match all_voice_calls(sink, &soql).await {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(error = %e, contacts = contact_ids.len(), "VoiceCall lookup failed");
            return HashMap::new();
        }
    };
    let mut voice_calls: HashMap<String, Vec<String>> = HashMap::new();
    for record in records {
        let key = record.vendor_call_key.as_deref().and_then(contact_id);
        let (Some(key), Ok(id15)) = (key, salesforce_id_15(&record.id)) else {
            continue;
        };
        let ids = voice_calls.entry(key).or_default();
        if !ids.iter().any(|id| id == id15) {
            ids.push(id15.to_owned());
        }
    }
    let mut outcomes = HashMap::new();
    let mut requests = Vec::new();
    for id in contact_ids {
        match voice_calls.remove(*id) {
            Some(related_records) => requests.push(ContactRequest {
                contact_id: (*id).to_owned(),
                as_requested: (*id).to_owned(),
                related_records,
            }),
            None => {
                outcomes.insert(
                    (*id).to_owned(),
                    MessageOutcome::Final(NO_VOICE_CALL.into()),
                );
            }
        }
    }
    let options = UploadOptions {
        dry_run: false,
        existing_entries: ExistingEntries::Fill,
        add_post_call_to_existing: false,
    };
    if requests.is_empty() {
        return outcomes;
    }
    let report = pipeline.upload(sink, &requests, options, deadline).await;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    for o in report.outcomes {
        let late = transcript_may_still_come(o.disconnected_ms, now_ms, transcript_horizon);
        let outcome = match o.failure {
            Some(code) if worth_retrying(code) => MessageOutcome::Retry(code.as_str().into()),
            Some(code @ FailureCode::TranscriptUnavailable) if late => {
                MessageOutcome::Retry(code.as_str().into())
            }
            Some(code) => MessageOutcome::Final(code.as_str().into()),
            None if o.skipped || o.entries == 0 => MessageOutcome::AlreadyComplete,
            None => MessageOutcome::Repaired { entries: o.entries },
        };
        outcomes.insert(o.contact_id, outcome);
    }
    outcomes
}
