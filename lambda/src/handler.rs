//! The invocation: parse the request, run the operation, answer in the documented shape.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::domain::outcome::{bad_request, invoke_result, render_upload_response};
use crate::domain::request::{Request, parse_request};
use crate::metrics::emf_records;
use crate::pipeline::Pipeline;
use crate::ports::{ContactDirectory, ConversationSink, TranscriptSource};

/// What the handler needs from the Lambda invocation context.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Epoch milliseconds, as the Lambda runtime API gives it.
    pub deadline_ms: u64,
    pub function_name: String,
    pub executed_version: String,
}

impl Invocation {
    fn deadline(&self) -> Instant {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Instant::now() + Duration::from_millis(self.deadline_ms.saturating_sub(now_ms))
    }
}

pub struct Handler<C, T, S> {
    pub pipeline: Pipeline<C, T, S>,
}

impl<C, T, S> Handler<C, T, S>
where
    C: ContactDirectory,
    T: TranscriptSource,
    S: ConversationSink,
{
    pub async fn handle(&self, event: &Value, invocation: &Invocation) -> Value {
        let request = match parse_request(event) {
            Ok(request) => request,
            Err(e) => {
                tracing::warn!(error = %e, "bad request");
                return bad_request(&e.to_string());
            }
        };
        match request {
            Request::UploadTranscript(contacts) => {
                let report = self.pipeline.upload(&contacts, invocation.deadline()).await;
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
            Request::FetchUploadIdsStatus(ids) => {
                match self.pipeline.sink.upload_status(&ids).await {
                    Ok(answer) => {
                        invoke_result(answer.status, &invocation.executed_version, answer.body)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "fetchUploadIdsStatus failed");
                        let payload = json!({ "error": e.failure().error_detail() }).to_string();
                        invoke_result(e.status_code(), &invocation.executed_version, payload)
                    }
                }
            }
        }
    }
}
