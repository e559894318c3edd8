//! uploadTranscript end to end: contacts are read concurrently (bounded), each finished
//! conversation joins a batch, and full batches upload while reading goes on.

use std::collections::HashMap;
use std::time::Duration;

use futures::stream::{self, FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::domain::batch::Batcher;
use crate::domain::outcome::{
    BulkUploadResult, Failure, FailureCode, ResponseElement, reconcile_batch,
};
use crate::domain::request::ContactRequest;
use crate::domain::transcript::{ConversationFile, Turn, conversation_file};
use crate::ports::{ContactDirectory, ConversationSink, TranscriptSource};

/// Upload requests in flight at once; Salesforce, not the function, limits throughput here.
const UPLOAD_CONCURRENCY: usize = 4;
/// A transcript longer than this many pages (100 segments each) is treated as never ending.
const MAX_PAGES: usize = 500;
/// Time kept after the last upload for building and returning the response (at most).
const RESPONSE_MARGIN: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    pub contact_concurrency: usize,
    pub upload_batch_size: usize,
    pub upload_max_bytes: usize,
    pub deadline_reserve: Duration,
}

pub struct Pipeline<C, T> {
    pub contacts: C,
    pub transcripts: T,
    pub settings: PipelineSettings,
}

/// What happened to one contact, for its log line and the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactOutcome {
    pub contact_id: String,
    /// `None` when Salesforce accepted the conversation.
    pub failure: Option<FailureCode>,
    pub segments: usize,
    pub entries: usize,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UploadReport {
    /// Upload requests in the order they were sent, then (if any) the element listing the
    /// contacts that failed before upload.
    pub elements: Vec<ResponseElement>,
    /// One per requested contact, in request order.
    pub outcomes: Vec<ContactOutcome>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ReadStats {
    segments: usize,
    entries: usize,
    elapsed: Duration,
}

type ReadResult = Result<ConversationFile, Failure>;

impl<C, T> Pipeline<C, T>
where
    C: ContactDirectory,
    T: TranscriptSource,
{
    /// Uploads the contacts' transcripts to the org behind `sink`.
    pub async fn upload<S: ConversationSink>(
        &self,
        sink: &S,
        contacts: &[ContactRequest],
        deadline: Instant,
    ) -> UploadReport {
        let mut stats: HashMap<&str, ReadStats> = HashMap::new();
        let mut early_failures: Vec<BulkUploadResult> = Vec::new();
        let mut reasons: HashMap<String, FailureCode> = HashMap::new();
        let mut elements: Vec<(usize, ResponseElement)> = Vec::new();

        if let Err(e) = sink.prepare().await {
            let failure = e.failure();
            tracing::error!(error = %e, "Salesforce is not usable; no contact was read");
            for c in contacts {
                reasons.insert(c.contact_id.clone(), failure.code);
                early_failures.push(BulkUploadResult::failed(&c.contact_id, &failure));
            }
            return self.finish(contacts, elements, early_failures, &reasons, &stats);
        }

        // A short timeout must not leave no time at all for reading: the reserve is capped at
        // a quarter of what this invocation has left.
        let reserve = self
            .settings
            .deadline_reserve
            .min(deadline.saturating_duration_since(Instant::now()) / 4);
        let read_cutoff = deadline.checked_sub(reserve).unwrap_or(deadline);
        // Uploads use most of the reserve; the rest is for building the response.
        let upload_deadline = deadline
            .checked_sub(RESPONSE_MARGIN.min(reserve / 4))
            .unwrap_or(deadline);
        let upload_slots = Semaphore::new(UPLOAD_CONCURRENCY);

        let mut reads = stream::iter(contacts)
            .map(|contact| async move {
                let started = Instant::now();
                let result = if started >= read_cutoff {
                    (Err(deadline_failure()), ReadStats::default())
                } else {
                    timeout_at(read_cutoff, self.read_contact(contact))
                        .await
                        .unwrap_or_else(|_| (Err(deadline_failure()), ReadStats::default()))
                };
                let (file, mut read_stats) = result;
                read_stats.elapsed = started.elapsed();
                (contact, file, read_stats)
            })
            .buffer_unordered(self.settings.contact_concurrency);

        let mut batcher = Batcher::new(
            self.settings.upload_batch_size,
            self.settings.upload_max_bytes,
        );
        let mut uploads = FuturesUnordered::new();
        let mut batches_started = 0;
        let mut reading = true;
        loop {
            tokio::select! {
                next = reads.next(), if reading => {
                    let ready = match next {
                        Some((contact, file, read_stats)) => {
                            stats.insert(&contact.contact_id, read_stats);
                            match file {
                                Ok(file) => batcher.push(file),
                                Err(failure) => {
                                    reasons.insert(contact.contact_id.clone(), failure.code);
                                    early_failures.push(BulkUploadResult::failed(&contact.contact_id, &failure));
                                    Vec::new()
                                }
                            }
                        }
                        None => {
                            reading = false;
                            batcher.flush().into_iter().collect()
                        }
                    };
                    for batch in ready {
                        let index = batches_started;
                        batches_started += 1;
                        let slots = &upload_slots;
                        uploads.push(async move {
                            let _slot = slots.acquire().await.expect("the semaphore is never closed");
                            (index, self.upload_batch(sink, batch, upload_deadline).await)
                        });
                    }
                }
                Some((index, (element, batch_reasons))) = uploads.next(), if !uploads.is_empty() => {
                    reasons.extend(batch_reasons);
                    elements.push((index, element));
                }
                else => break,
            }
        }
        self.finish(contacts, elements, early_failures, &reasons, &stats)
    }

    fn finish(
        &self,
        contacts: &[ContactRequest],
        mut elements: Vec<(usize, ResponseElement)>,
        early_failures: Vec<BulkUploadResult>,
        reasons: &HashMap<String, FailureCode>,
        stats: &HashMap<&str, ReadStats>,
    ) -> UploadReport {
        elements.sort_by_key(|(index, _)| *index);
        let mut elements: Vec<ResponseElement> = elements.into_iter().map(|(_, e)| e).collect();
        if !early_failures.is_empty() {
            elements.push(ResponseElement {
                status_code: 200,
                results: early_failures,
            });
        }
        let outcomes = contacts
            .iter()
            .map(|c| {
                let s = stats
                    .get(c.contact_id.as_str())
                    .copied()
                    .unwrap_or_default();
                ContactOutcome {
                    contact_id: c.contact_id.clone(),
                    failure: reasons.get(&c.contact_id).copied(),
                    segments: s.segments,
                    entries: s.entries,
                    elapsed: s.elapsed,
                }
            })
            .collect();
        UploadReport { elements, outcomes }
    }

    async fn read_contact(&self, contact: &ContactRequest) -> (ReadResult, ReadStats) {
        let mut stats = ReadStats::default();
        let result = async {
            let details = self
                .contacts
                .describe_contact(&contact.contact_id)
                .await
                .map_err(|e| {
                    e.failure(
                        FailureCode::ContactNotFound,
                        "Amazon Connect has no such contact in this instance",
                    )
                })?;
            let window = details.call_window()?;
            let turns = self
                .read_transcript(&contact.contact_id, &mut stats)
                .await?;
            let file = conversation_file(contact, &window, turns);
            stats.entries = file.entries;
            if file.entries == 0 {
                return Err(Failure::new(
                    FailureCode::NoTranscript,
                    "Contact Lens finished the analysis but it holds no agent or customer speech",
                ));
            }
            Ok(file)
        }
        .await;
        (result, stats)
    }

    /// Reads every page. A page with a next token but no segments means Contact Lens is still
    /// analysing, so the transcript is not final and is not uploaded partially.
    async fn read_transcript(
        &self,
        contact_id: &str,
        stats: &mut ReadStats,
    ) -> Result<Vec<Turn>, Failure> {
        let mut turns = Vec::new();
        let mut next_token = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .transcripts
                .segments_page(contact_id, next_token)
                .await
                .map_err(|e| {
                    e.failure(
                        FailureCode::TranscriptUnavailable,
                        "Contact Lens has no real-time analysis for this contact: it was not enabled for the call, or the call ended more than 24 hours ago",
                    )
                })?;
            stats.segments += page.segments;
            turns.extend(page.turns);
            match page.next_token {
                None => return Ok(turns),
                Some(_) if page.segments == 0 => {
                    return Err(Failure::new(
                        FailureCode::TranscriptNotFinal,
                        "Contact Lens is still analysing this call; resubmit it once the analysis has finished",
                    ));
                }
                token => next_token = token,
            }
        }
        Err(Failure::new(
            FailureCode::TranscriptNotFinal,
            format!("the transcript did not end within {MAX_PAGES} pages"),
        ))
    }

    async fn upload_batch<S: ConversationSink>(
        &self,
        sink: &S,
        batch: Vec<ConversationFile>,
        deadline: Instant,
    ) -> (ResponseElement, Vec<(String, FailureCode)>) {
        let ids: Vec<String> = batch.iter().map(|f| f.contact_id.clone()).collect();
        let all_failed = |status_code: u16, failure: Failure| {
            let results = ids
                .iter()
                .map(|id| BulkUploadResult::failed(id, &failure))
                .collect();
            let reasons = ids.iter().map(|id| (id.clone(), failure.code)).collect();
            (
                ResponseElement {
                    status_code,
                    results,
                },
                reasons,
            )
        };
        match timeout_at(deadline, sink.upload(&batch)).await {
            Ok(Ok(response)) => {
                let (results, omitted) = reconcile_batch(&ids, response.results);
                let reasons = results
                    .iter()
                    .filter(|r| !r.succeeded())
                    .map(|r| {
                        let code = if omitted.contains(&r.conversation_identifier) {
                            FailureCode::SalesforceError
                        } else {
                            FailureCode::SalesforceRejected
                        };
                        (r.conversation_identifier.clone(), code)
                    })
                    .collect();
                (
                    ResponseElement {
                        status_code: response.status,
                        results,
                    },
                    reasons,
                )
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, conversations = ids.len(), "upload request failed");
                all_failed(e.status_code(), e.failure())
            }
            Err(_) => all_failed(
                504,
                Failure::new(
                    FailureCode::DeadlineExceeded,
                    "the upload did not finish before the function's deadline; Salesforce may have received it, so check the VoiceCall transcript before resubmitting",
                ),
            ),
        }
    }
}

fn deadline_failure() -> Failure {
    Failure::new(
        FailureCode::DeadlineExceeded,
        "the function ran out of time before this contact was read; resubmit it",
    )
}
