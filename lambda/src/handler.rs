//! The invocation: parse the request, run the operation, answer in the documented shape.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::domain::outcome::{bad_request, invoke_result, render_upload_response};
use crate::domain::request::{Request, parse_org_choice, parse_request};
use crate::metrics::emf_records;
use crate::pipeline::Pipeline;
use crate::ports::{ContactDirectory, ConversationSink, SalesforceOrgs, TranscriptSource};

/// What the handler needs from the Lambda invocation context.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Epoch milliseconds, as the Lambda runtime API gives it.
    pub deadline_ms: u64,
    pub function_name: String,
    pub executed_version: String,
}

/// Below this a deadline cannot be epoch milliseconds (it would be before 2001).
const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;

impl Invocation {
    fn deadline(&self) -> Instant {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Instant::now() + remaining(self.deadline_ms, now_ms)
    }
}

/// Lambda sends the deadline as epoch milliseconds; cargo-lambda's local runtime emulator
/// sends the time left instead (600000), which is read as such.
fn remaining(deadline_ms: u64, now_ms: u64) -> Duration {
    if deadline_ms < EPOCH_MS_FLOOR {
        Duration::from_millis(deadline_ms)
    } else {
        Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    }
}

pub struct Handler<C, T, O> {
    pub pipeline: Pipeline<C, T>,
    pub orgs: O,
}

impl<C, T, O> Handler<C, T, O>
where
    C: ContactDirectory,
    T: TranscriptSource,
    O: SalesforceOrgs,
{
    pub async fn handle(&self, event: &Value, invocation: &Invocation) -> Value {
        // The whole request is checked, org included, before any AWS call.
        let parsed = parse_request(event).and_then(|request| {
            let sink = self.orgs.select(&parse_org_choice(event)?)?;
            Ok((request, sink))
        });
        let (request, sink) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::warn!(error = %e, "bad request");
                return bad_request(&e.to_string());
            }
        };
        match request {
            Request::UploadTranscript(contacts) => {
                let report = self
                    .pipeline
                    .upload(&sink, &contacts, invocation.deadline())
                    .await;
                for o in &report.outcomes {
                    tracing::info!(
                        contactId = %o.contact_id,
                        status = if o.failure.is_some() { "FAILED" } else { "SUCCESS" },
                        reason = o.failure.map(|c| c.as_str()),
                        segments = o.segments,
                        entries = o.entries,
                        elapsedMs = o.elapsed.as_millis() as u64,
                        "contact processed"
                    );
                }
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                for record in emf_records(&invocation.function_name, &report.outcomes, now_ms) {
                    // EMF must be a log line of its own, outside the tracing format.
                    println!("{record}");
                }
                render_upload_response(&report.elements, &invocation.executed_version)
            }
            Request::FetchUploadIdsStatus(ids) => match sink.upload_status(&ids).await {
                Ok(answer) => {
                    invoke_result(answer.status, &invocation.executed_version, answer.body)
                }
                Err(e) => {
                    tracing::error!(error = %e, "fetchUploadIdsStatus failed");
                    let payload = json!({ "error": e.failure().error_detail() }).to_string();
                    invoke_result(e.status_code(), &invocation.executed_version, payload)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_read_as_epoch_millis_or_as_time_left() {
        let now = 1_795_522_717_771;
        assert_eq!(remaining(now + 900_000, now), Duration::from_secs(900));
        assert_eq!(remaining(now - 5, now), Duration::ZERO);
        assert_eq!(remaining(600_000, now), Duration::from_secs(600));
    }
}
