//! The invocation: parse the request, run the operation, answer in the documented shape.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::SqsBatchResponse;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::backfill::{BackfillError, build_manifest, summarize};
use crate::domain::contact::ContactRequest;
use crate::domain::org::OrgChoice;
use crate::domain::outcome::{
    Failure, bad_request, invoke_result, pending_uploads, render_upload_response,
};
use crate::domain::repair::{MessageOutcome, RepairMessage};
use crate::domain::request::{
    Request, RequestError, SummaryRequest, UploadOptions, WindowRequest, parse_org_choice,
    parse_request, parse_upload_options, parse_wait_seconds, requested_spellings,
};
use crate::metrics::{api_usage_record, emf_records, repair_records, waiting_age_record};
use crate::pipeline::{ContactOutcome, DryRunLine, Pipeline, TranscriptSourceUsed};
use crate::ports::{
    AnalysisStore, BackfillStore, ContactDirectory, ConversationSink, RawResponse, RepairQueue,
    SalesforceError, SalesforceOrgs, TranscriptSource,
};
use crate::repair::{repair, retry_all, sqs_messages};

/// What the handler needs from the Lambda invocation context.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The runtime's `Context::deadline()`.
    pub deadline: SystemTime,
    pub function_name: String,
    pub executed_version: String,
}

/// Before this a deadline cannot be a real one (it would be before 2001).
const EPOCH_MS_FLOOR: Duration = Duration::from_millis(1_000_000_000_000);
/// Time kept after the last Salesforce call for answering.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

impl Invocation {
    fn deadline(&self) -> Instant {
        Instant::now() + remaining(self.deadline, SystemTime::now())
    }

    /// When every Salesforce call of this invocation must have ended, so that the answer
    /// still goes out: a little before the deadline, less for a short one.
    fn calls_deadline(&self) -> Instant {
        let deadline = self.deadline();
        let margin = ANSWER_MARGIN.min(deadline.saturating_duration_since(Instant::now()) / 8);
        deadline.checked_sub(margin).unwrap_or(deadline)
    }
}

/// Lambda's deadline is a point in time; cargo-lambda's local runtime emulator sends the time
/// left instead (600000 ms), which the runtime turns into a point in 1970, read as time left.
fn remaining(deadline: SystemTime, now: SystemTime) -> Duration {
    let since_epoch = deadline.duration_since(UNIX_EPOCH).unwrap_or_default();
    if since_epoch < EPOCH_MS_FLOOR {
        since_epoch
    } else {
        deadline.duration_since(now).unwrap_or_default()
    }
}

pub struct Handler<C, T, A, O, B, Q> {
    pub pipeline: Pipeline<C, T, A>,
    pub orgs: O,
    /// The backfill state machine's bucket, when the stack has one.
    pub backfill: Option<B>,
    /// The Amazon Connect instance whose contact events automatic repair acts on.
    pub connect_instance_id: String,
    /// How long after a call automatic repair waits for a transcript that is not there yet,
    /// and sends back messages waiting for a budget.
    pub repair_transcript_horizon: Duration,
    /// Automatic repair's queue, when the stack names it.
    pub repair_queue: Option<Q>,
}

impl<C, T, A, O, B, Q> Handler<C, T, A, O, B, Q>
where
    C: ContactDirectory,
    T: TranscriptSource,
    A: AnalysisStore,
    O: SalesforceOrgs,
    B: BackfillStore,
    Q: RepairQueue,
{
    /// The answer to one invocation. Only the backfill state machine's own steps fail the
    /// invocation itself, so that its execution fails visibly rather than going on with made-up
    /// data; the documented operations always answer, errors included, in their own shape.
    pub async fn handle(
        &self,
        event: &Value,
        invocation: &Invocation,
    ) -> Result<Value, BackfillError> {
        if let Some(messages) = sqs_messages(event) {
            // Boxed: its future nests the whole pipeline, beyond the compiler's layout depth limit.
            let answer = Box::pin(self.repair_batch(messages, invocation)).await;
            return Ok(serde_json::to_value(answer)
                .expect("a partial batch response holds strings only, which always serialize"));
        }
        // The whole request is checked, flags and org included, before any AWS call.
        let parsed = parse_work(event).and_then(|work| {
            let sink = self
                .orgs
                .select(&parse_org_choice(event)?, invocation.calls_deadline())?;
            Ok((work, sink))
        });
        let (work, sink) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::warn!(error = %e, "bad request");
                return Ok(bad_request(&e.to_string()));
            }
        };
        let version = &invocation.executed_version;
        Ok(match work {
            Work::Summary(request) => summarize(self.backfill_store()?, &request)
                .await
                .inspect_err(|e| tracing::error!(error = %e, "summarizeBackfill failed"))?,
            Work::Window(request) => build_manifest(self.backfill_store()?, &sink, &request)
                .await
                .inspect_err(|e| tracing::error!(error = %e, "buildBackfillManifest failed"))?,
            Work::Upload(contacts, options) if options.dry_run => {
                let lines = self
                    .pipeline
                    .dry_run(&sink, &contacts, None, options, invocation.deadline())
                    .await;
                for line in &lines {
                    log_outcome(&line.outcome, true);
                }
                render_dry_run(&lines, &requested_spellings(&contacts), version)
            }
            Work::Upload(contacts, options) => {
                let mut report = self
                    .pipeline
                    .upload(&sink, &contacts, None, options, invocation.deadline())
                    .await;
                for o in &report.outcomes {
                    log_outcome(o, false);
                }
                for record in emf_records(&invocation.function_name, &report.outcomes, now_ms()) {
                    // EMF must be a log line of its own, outside the tracing format.
                    println!("{record}");
                }
                report_api_usage(&sink, &invocation.function_name);
                let spelled = requested_spellings(&contacts);
                for result in report.elements.iter_mut().flat_map(|e| &mut e.results) {
                    if let Some(id) = spelled.get(result.conversation_identifier.as_str()) {
                        result.conversation_identifier = (*id).to_owned();
                    }
                }
                render_upload_response(&report.elements, version)
            }
            Work::Status(ids, wait) => {
                // Polling stops early enough to answer before the invocation's deadline.
                let until = wait.map(|seconds| {
                    let deadline = invocation.deadline();
                    let margin = STATUS_ANSWER_MARGIN
                        .min(deadline.saturating_duration_since(Instant::now()) / 4);
                    (Instant::now() + Duration::from_secs(seconds))
                        .min(deadline.checked_sub(margin).unwrap_or(deadline))
                });
                match wait_for_statuses(
                    &sink,
                    &ids,
                    until,
                    self.pipeline.settings.status_poll_delay,
                )
                .await
                {
                    Ok(answer) => invoke_result(answer.status, version, answer.body),
                    Err(e) => {
                        tracing::error!(error = %e, "fetchUploadIdsStatus failed");
                        let payload = json!({ "error": e.failure().error_detail() }).to_string();
                        invoke_result(e.status_code(), version, payload)
                    }
                }
            }
        })
    }

    fn backfill_store(&self) -> Result<&B, BackfillError> {
        self.backfill
            .as_ref()
            .ok_or(BackfillError::NoBackfillBucket)
    }

    /// An SQS batch of contact events: the partial batch response, with one log line per
    /// message (its id, never its body) and the repair metrics.
    async fn repair_batch(
        &self,
        messages: Vec<RepairMessage>,
        invocation: &Invocation,
    ) -> SqsBatchResponse {
        let sink = match self
            .orgs
            .select(&OrgChoice::default(), invocation.calls_deadline())
        {
            Ok(sink) => sink,
            Err(e) => {
                // Cannot happen with the default org; every message stays in the queue if it does.
                tracing::error!(error = %e, "no Salesforce org for automatic repair");
                return retry_all(&messages);
            }
        };
        let mut report = repair(
            &self.pipeline,
            &sink,
            &self.connect_instance_id,
            self.repair_transcript_horizon,
            messages,
            invocation.deadline(),
        )
        .await;
        report
            .send_back_deferred(self.repair_queue.as_ref(), invocation.calls_deadline())
            .await;
        for (message, contact_id, outcome) in &report.outcomes {
            tracing::info!(
                messageId = %message.message_id,
                contactId = contact_id.as_deref(),
                deferrals = message.deferrals,
                outcome = outcome.name(),
                reason = outcome.reason(),
                entries = match outcome {
                    MessageOutcome::Repaired { entries } => *entries,
                    _ => 0,
                },
                "contact event processed"
            );
        }
        let outcomes: Vec<&MessageOutcome> = report.outcomes.iter().map(|(_, _, o)| o).collect();
        for record in repair_records(
            &invocation.function_name,
            report.checked,
            &outcomes,
            now_ms(),
        ) {
            println!("{record}");
        }
        let now = now_ms();
        if let Some(age) = report.oldest_waiting_age(i64::try_from(now).unwrap_or(i64::MAX)) {
            println!(
                "{}",
                waiting_age_record(&invocation.function_name, age, now)
            );
        }
        report_api_usage(&sink, &invocation.function_name);
        report.batch_item_failures()
    }
}

/// The org's API usage metric, when Salesforce has reported it to this instance.
fn report_api_usage<S: ConversationSink>(sink: &S, function_name: &str) {
    if let Some(usage) = sink.api_usage() {
        tracing::info!(
            used = usage.used,
            max = usage.max,
            "the org's API usage of the last 24 hours"
        );
        println!("{}", api_usage_record(function_name, usage, now_ms()));
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Time kept after the last status poll for answering.
const STATUS_ANSWER_MARGIN: Duration = Duration::from_secs(2);
/// The longest pause between two status polls.
const MAX_STATUS_POLL_DELAY: Duration = Duration::from_secs(10);

/// An operation with its flags, checked as a whole.
enum Work {
    Upload(Vec<ContactRequest>, UploadOptions),
    Status(Vec<String>, Option<u64>),
    Summary(SummaryRequest),
    Window(WindowRequest),
}

fn parse_work(event: &Value) -> Result<Work, RequestError> {
    Ok(match parse_request(event)? {
        Request::UploadTranscript(contacts) => Work::Upload(contacts, parse_upload_options(event)?),
        Request::FetchUploadIdsStatus(ids) => Work::Status(ids, parse_wait_seconds(event)?),
        Request::SummarizeBackfill(request) => Work::Summary(request),
        Request::BuildBackfillManifest(request) => Work::Window(request),
    })
}

/// The statuses of these uploads; with `until`, polled with backoff until every one is final
/// or the time is up. The answer then lists the uploads still pending in `pendingUploadIds`.
async fn wait_for_statuses<S: ConversationSink>(
    sink: &S,
    ids: &[String],
    until: Option<Instant>,
    first_delay: Duration,
) -> Result<RawResponse, SalesforceError> {
    let mut answer = sink.upload_status(ids).await?;
    let Some(until) = until else {
        return Ok(answer);
    };
    let mut delay = first_delay;
    let mut polls = 1;
    loop {
        let pending = pending_upload_ids(&answer, ids);
        let out_of_time = Instant::now() + delay > until;
        if pending.as_ref().is_none_or(Vec::is_empty) || out_of_time {
            tracing::info!(
                polls,
                pending = pending.as_ref().map_or(0, Vec::len),
                "fetchUploadIdsStatus waited for final statuses"
            );
            return Ok(with_pending(answer, pending));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_STATUS_POLL_DELAY);
        match sink.upload_status(ids).await {
            Ok(next) => answer = next,
            // The last answer is still true, and the pending ids say what it lacks.
            Err(SalesforceError::DeadlineExceeded) => {
                let pending = pending_upload_ids(&answer, ids);
                return Ok(with_pending(answer, pending));
            }
            Err(e) => return Err(e),
        }
        polls += 1;
    }
}

/// `None` when the answer is not a status list (an error passed through).
fn pending_upload_ids(answer: &RawResponse, ids: &[String]) -> Option<Vec<String>> {
    if answer.status != 200 {
        return None;
    }
    let body: Value = serde_json::from_str(&answer.body).ok()?;
    pending_uploads(&body, ids)
}

fn with_pending(mut answer: RawResponse, pending: Option<Vec<String>>) -> RawResponse {
    if let (Some(pending), Ok(Value::Object(mut body))) =
        (pending, serde_json::from_str::<Value>(&answer.body))
    {
        body.insert("pendingUploadIds".into(), json!(pending));
        answer.body = Value::Object(body).to_string();
    }
    answer
}

/// One log line per contact; never transcript text.
fn log_outcome(o: &ContactOutcome, dry_run: bool) {
    let status = match (o.failure, o.skipped) {
        (Some(_), _) => "FAILED",
        (None, true) => "SKIPPED",
        (None, false) if dry_run => "WOULD_UPLOAD",
        (None, false) => "SUCCESS",
    };
    tracing::info!(
        contactId = %o.contact_id,
        status,
        dryRun = dry_run,
        call = o.call.as_deref(),
        conversation = o.conversation.as_deref(),
        reason = o.failure.map(|c| c.as_str()),
        source = o.source.as_ref().map(TranscriptSourceUsed::name),
        analysisFile = o.source.as_ref().and_then(TranscriptSourceUsed::analysis_file),
        segments = o.segments,
        entries = o.entries,
        alreadyPresent = o.already_present,
        elapsedMs = o.elapsed.as_millis() as u64,
        "contact processed"
    );
}

/// A dry run's answer, in the documented envelope: one element whose Payload lists, per
/// contact (named as the request spelled it), what an upload would do. No transcript text.
fn render_dry_run(
    lines: &[DryRunLine],
    spelled: &HashMap<&str, &str>,
    executed_version: &str,
) -> Value {
    let results: Vec<Value> = lines
        .iter()
        .map(|line| {
            let o = &line.outcome;
            let status = match (o.failure, o.skipped) {
                (Some(_), _) => "FAILED",
                (None, true) => "WOULD_SKIP",
                (None, false) => "WOULD_UPLOAD",
            };
            json!({
                "conversationIdentifier": spelled.get(o.contact_id.as_str()).copied().unwrap_or(o.contact_id.as_str()),
                "status": status,
                "call": o.call,
                "conversation": o.conversation,
                "errorDetail": line.reason.as_ref().map(Failure::error_detail),
                "source": o.source.as_ref().map(TranscriptSourceUsed::name),
                "analysisFile": o.source.as_ref().and_then(TranscriptSourceUsed::analysis_file),
                "entries": o.entries,
                "alreadyInSalesforce": o.already_present,
                "firstEntryTimestamp": line.first_timestamp,
                "lastEntryTimestamp": line.last_timestamp,
            })
        })
        .collect();
    let payload = json!({ "dryRun": true, "dryRunResults": results });
    Value::Array(vec![invoke_result(
        200,
        executed_version,
        payload.to_string(),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_read_as_points_in_time_or_as_time_left() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        let now = 1_795_522_717_771;
        assert_eq!(
            remaining(at(now + 900_000), at(now)),
            Duration::from_secs(900)
        );
        assert_eq!(remaining(at(now - 5), at(now)), Duration::ZERO);
        assert_eq!(remaining(at(600_000), at(now)), Duration::from_secs(600));
    }
}
