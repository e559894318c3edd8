//! uploadTranscript end to end: contacts are read concurrently (bounded) from Contact Lens, or
//! from its post-call analysis files once the real-time segments are gone; what the Salesforce
//! conversation already holds is left out; each finished conversation joins a batch, and full
//! batches upload while reading goes on. A dry run stops before the upload.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{self, FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::domain::analysis::{
    REALTIME_RETENTION_MS, candidate_prefixes, parse_analysis_file, pick_analysis_key,
};
use crate::domain::batch::Batcher;
use crate::domain::contact::ContactRequest;
use crate::domain::existing::{ExistingEntries, missing_turns};
use crate::domain::outcome::{
    BulkUploadResult, Failure, FailureCode, ResponseElement, reconcile_batch,
};
use crate::domain::request::UploadOptions;
use crate::domain::transcript::{CallWindow, ConversationFile, Turn, conversation_file};
use crate::ports::{
    AnalysisStore, ContactDirectory, ConversationSink, SalesforceError, SourceError,
    TranscriptSource,
};

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
    /// First pause between two upload-status polls; it doubles up to 10 s.
    pub status_poll_delay: Duration,
}

pub struct Pipeline<C, T, A> {
    pub contacts: C,
    pub transcripts: T,
    /// Contact Lens post-call analysis files; `None` when no bucket is configured.
    pub analysis: Option<AnalysisFiles<A>>,
    pub settings: PipelineSettings,
}

pub struct AnalysisFiles<A> {
    pub store: A,
    pub prefer_redacted: bool,
}

/// Where a contact's transcript came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptSourceUsed {
    RealTime,
    PostCallAnalysis { key: String },
}

impl TranscriptSourceUsed {
    pub fn name(&self) -> &'static str {
        match self {
            Self::RealTime => "REALTIME",
            Self::PostCallAnalysis { .. } => "POST_CALL_ANALYSIS",
        }
    }

    pub fn analysis_file(&self) -> Option<&str> {
        match self {
            Self::RealTime => None,
            Self::PostCallAnalysis { key } => Some(key),
        }
    }
}

/// What happened to one contact, for its log line and the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactOutcome {
    pub contact_id: String,
    /// `None` when Salesforce accepted the conversation or it was skipped.
    pub failure: Option<FailureCode>,
    /// The conversation already held the transcript; nothing was uploaded.
    pub skipped: bool,
    pub source: Option<TranscriptSourceUsed>,
    pub segments: usize,
    /// Entries uploaded (or, in a dry run, to upload).
    pub entries: usize,
    /// Entries the conversation already held.
    pub already_present: usize,
    /// When the call ended (epoch ms), once Amazon Connect said.
    pub disconnected_ms: Option<i64>,
    pub elapsed: Duration,
}

/// What a dry run found for one contact.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRunLine {
    pub outcome: ContactOutcome,
    /// Why the contact would be skipped or would fail.
    pub reason: Option<Failure>,
    pub first_timestamp: Option<i64>,
    pub last_timestamp: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UploadReport {
    /// Upload requests in the order they were sent, then (if any) the element listing the
    /// contacts that failed before upload.
    pub elements: Vec<ResponseElement>,
    /// One per requested contact, in request order.
    pub outcomes: Vec<ContactOutcome>,
}

#[derive(Debug, Default, Clone)]
struct ReadStats {
    source: Option<TranscriptSourceUsed>,
    segments: usize,
    entries: usize,
    already_present: usize,
    disconnected_ms: Option<i64>,
    elapsed: Duration,
}

/// A contact ready to upload, or one to leave alone (the reason's code is ALREADY_UPLOADED).
enum Read {
    Upload(ConversationFile),
    Skip(Failure),
}

type ReadResult = Result<Read, Failure>;

impl<C, T, A> Pipeline<C, T, A>
where
    C: ContactDirectory,
    T: TranscriptSource,
    A: AnalysisStore,
{
    /// The time left for reading contacts and, after it, for uploading. A short timeout must
    /// not leave no time at all for reading: the reserve is capped at a quarter of what this
    /// invocation has left. Uploads use most of the reserve; the rest is for the response.
    fn cutoffs(&self, deadline: Instant) -> (Instant, Instant) {
        let reserve = self
            .settings
            .deadline_reserve
            .min(deadline.saturating_duration_since(Instant::now()) / 4);
        let read_cutoff = deadline.checked_sub(reserve).unwrap_or(deadline);
        let upload_deadline = deadline
            .checked_sub(RESPONSE_MARGIN.min(reserve / 4))
            .unwrap_or(deadline);
        (read_cutoff, upload_deadline)
    }

    /// Reads every contact, `contact_concurrency` at a time, each within `read_cutoff`.
    fn reads<'a, S: ConversationSink>(
        &'a self,
        sink: &'a S,
        contacts: &'a [ContactRequest],
        options: UploadOptions,
        read_cutoff: Instant,
    ) -> impl futures::Stream<Item = (&'a ContactRequest, ReadResult, ReadStats)> + 'a {
        stream::iter(contacts)
            .map(move |contact| async move {
                let started = Instant::now();
                let (result, mut read_stats) = if started >= read_cutoff {
                    (Err(deadline_failure()), ReadStats::default())
                } else {
                    timeout_at(read_cutoff, self.read_contact(sink, contact, options))
                        .await
                        .unwrap_or_else(|_| (Err(deadline_failure()), ReadStats::default()))
                };
                read_stats.elapsed = started.elapsed();
                (contact, result, read_stats)
            })
            .buffer_unordered(self.settings.contact_concurrency)
    }

    /// Everything an upload does except uploading: what each contact would give.
    pub async fn dry_run<S: ConversationSink>(
        &self,
        sink: &S,
        contacts: &[ContactRequest],
        options: UploadOptions,
        deadline: Instant,
    ) -> Vec<DryRunLine> {
        let mut lines: HashMap<&str, DryRunLine> = HashMap::new();
        let line = |contact: &ContactRequest, read: Result<&Read, &Failure>, stats: ReadStats| {
            let (failure, skipped, reason, file) = match read {
                Ok(Read::Upload(file)) => (None, false, None, Some(file)),
                Ok(Read::Skip(reason)) => (None, true, Some(reason.clone()), None),
                Err(failure) => (Some(failure.code), false, Some(failure.clone()), None),
            };
            DryRunLine {
                outcome: outcome(contact, failure, skipped, stats),
                reason,
                first_timestamp: file.and_then(|f| f.first_timestamp),
                last_timestamp: file.and_then(|f| f.last_timestamp),
            }
        };
        if let Err(e) = sink.prepare().await {
            let failure = e.failure();
            return contacts
                .iter()
                .map(|c| line(c, Err(&failure), ReadStats::default()))
                .collect();
        }
        let (read_cutoff, _) = self.cutoffs(deadline);
        let mut reads = self.reads(sink, contacts, options, read_cutoff);
        while let Some((contact, result, stats)) = reads.next().await {
            lines.insert(&contact.contact_id, line(contact, result.as_ref(), stats));
        }
        contacts
            .iter()
            .filter_map(|c| lines.remove(c.contact_id.as_str()))
            .collect()
    }

    /// Uploads the contacts' transcripts to the org behind `sink`.
    pub async fn upload<S: ConversationSink>(
        &self,
        sink: &S,
        contacts: &[ContactRequest],
        options: UploadOptions,
        deadline: Instant,
    ) -> UploadReport {
        let mut stats: HashMap<&str, ReadStats> = HashMap::new();
        let mut early_results: Vec<BulkUploadResult> = Vec::new();
        let mut reasons: HashMap<String, FailureCode> = HashMap::new();
        let mut skipped: Vec<String> = Vec::new();
        let mut elements: Vec<(usize, Vec<ResponseElement>)> = Vec::new();

        if let Err(e) = sink.prepare().await {
            let failure = e.failure();
            tracing::error!(error = %e, "Salesforce is not usable; no contact was read");
            for c in contacts {
                reasons.insert(c.contact_id.clone(), failure.code);
                early_results.push(BulkUploadResult::failed(&c.contact_id, &failure));
            }
            return finish(contacts, elements, early_results, &reasons, &skipped, stats);
        }

        let (read_cutoff, upload_deadline) = self.cutoffs(deadline);
        let upload_slots = Semaphore::new(UPLOAD_CONCURRENCY);
        let mut reads = self.reads(sink, contacts, options, read_cutoff);

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
                        Some((contact, read, read_stats)) => {
                            stats.insert(&contact.contact_id, read_stats);
                            match read {
                                Ok(Read::Upload(file)) => batcher.push(file),
                                Ok(Read::Skip(reason)) => {
                                    skipped.push(contact.contact_id.clone());
                                    early_results.push(BulkUploadResult::skipped(&contact.contact_id, &reason));
                                    Vec::new()
                                }
                                Err(failure) => {
                                    reasons.insert(contact.contact_id.clone(), failure.code);
                                    early_results.push(BulkUploadResult::failed(&contact.contact_id, &failure));
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
                        let confirm_by_reading = options.existing_entries != ExistingEntries::Ignore;
                        uploads.push(async move {
                            let _slot = slots.acquire().await.expect("the semaphore is never closed");
                            (index, upload_batch(sink, batch, confirm_by_reading, upload_deadline).await)
                        });
                    }
                }
                Some((index, outcome)) = uploads.next(), if !uploads.is_empty() => {
                    reasons.extend(outcome.reasons);
                    elements.push((index, outcome.elements));
                }
                else => break,
            }
        }
        finish(contacts, elements, early_results, &reasons, &skipped, stats)
    }

    async fn read_contact<S: ConversationSink>(
        &self,
        sink: &S,
        contact: &ContactRequest,
        options: UploadOptions,
    ) -> (ReadResult, ReadStats) {
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
            stats.disconnected_ms = Some(window.disconnect_ms);
            let (turns, source) = self.transcript(&contact.contact_id, &window, &mut stats).await?;
            stats.source = Some(source);
            let turns = self
                .leave_out_existing(sink, &contact.contact_id, &window, turns, options, &mut stats)
                .await?;
            let Some(turns) = turns else {
                return Ok(Read::Skip(Failure::new(
                    FailureCode::AlreadyUploaded,
                    format!(
                        "the conversation already holds {} entries of this transcript; nothing was uploaded",
                        stats.already_present
                    ),
                )));
            };
            let file = conversation_file(contact, &window, turns);
            stats.entries = file.entry_ids.len();
            if file.entry_ids.is_empty() {
                return Err(Failure::new(
                    FailureCode::NoTranscript,
                    "Contact Lens finished the analysis but it holds no agent or customer speech",
                ));
            }
            Ok(Read::Upload(file))
        }
        .await;
        (result, stats)
    }

    /// The transcript's turns: Contact Lens real-time segments while it keeps them (24 hours),
    /// else the post-call analysis file when a bucket is configured.
    async fn transcript(
        &self,
        contact_id: &str,
        window: &CallWindow,
        stats: &mut ReadStats,
    ) -> Result<(Vec<Turn>, TranscriptSourceUsed), Failure> {
        let analysis = self.analysis.as_ref();
        let realtime_expired =
            now_ms().saturating_sub(window.disconnect_ms) > REALTIME_RETENTION_MS;
        if let (Some(analysis), true) = (analysis, realtime_expired) {
            return self.analysis_transcript(analysis, contact_id, window).await;
        }
        match self.read_transcript(contact_id, stats).await {
            Ok(turns) => Ok((turns, TranscriptSourceUsed::RealTime)),
            Err(Ok(failure)) => Err(failure),
            Err(Err(e)) => match (analysis, e) {
                // Real-time analysis is gone or never ran: the post-call file may exist.
                (Some(analysis), SourceError::NotFound { .. }) => {
                    self.analysis_transcript(analysis, contact_id, window).await
                }
                (_, e) => Err(e.failure(
                    FailureCode::TranscriptUnavailable,
                    "Contact Lens has no real-time analysis for this contact (not enabled for the call, or the call ended more than 24 hours ago), and no ANALYSIS_BUCKET is configured to read its post-call analysis",
                )),
            },
        }
    }

    async fn analysis_transcript(
        &self,
        analysis: &AnalysisFiles<A>,
        contact_id: &str,
        window: &CallWindow,
    ) -> Result<(Vec<Turn>, TranscriptSourceUsed), Failure> {
        let unavailable = |e: SourceError| {
            e.failure(
                FailureCode::TranscriptUnavailable,
                "the analysis bucket could not be read",
            )
        };
        for prefix in candidate_prefixes(
            contact_id,
            window.connected_to_agent_ms,
            analysis.prefer_redacted,
        ) {
            let keys = analysis.store.keys(&prefix).await.map_err(unavailable)?;
            let Some(key) = pick_analysis_key(contact_id, &keys) else {
                continue;
            };
            let bytes = analysis.store.object(key).await.map_err(unavailable)?;
            let turns = parse_analysis_file(&bytes).map_err(|e| {
                Failure::new(FailureCode::TranscriptUnavailable, format!("{e} ({key})"))
            })?;
            return Ok((
                turns,
                TranscriptSourceUsed::PostCallAnalysis { key: key.clone() },
            ));
        }
        Err(Failure::new(
            FailureCode::TranscriptUnavailable,
            "Contact Lens has neither real-time segments (kept 24 hours) nor a post-call analysis file for this contact in the analysis bucket",
        ))
    }

    /// The turns still to upload, or `None` when the contact is to be skipped because its
    /// conversation already holds the transcript (all of it, or anything with `skip`). A
    /// post-call transcript goes only into an empty conversation unless the request says
    /// otherwise: its ids and words differ from what real-time delivery stored.
    async fn leave_out_existing<S: ConversationSink>(
        &self,
        sink: &S,
        contact_id: &str,
        window: &CallWindow,
        turns: Vec<Turn>,
        options: UploadOptions,
        stats: &mut ReadStats,
    ) -> Result<Option<Vec<Turn>>, Failure> {
        if options.existing_entries == ExistingEntries::Ignore {
            return Ok(Some(turns));
        }
        let existing = sink.existing_entries(contact_id).await.map_err(|e| {
            let mut failure = e.failure();
            failure.detail = format!(
                "the conversation's entries could not be read, so nothing was uploaded (no duplicates): {}",
                failure.detail
            );
            failure
        })?;
        if existing.is_empty() {
            return Ok(Some(turns));
        }
        let post_call = matches!(
            stats.source,
            Some(TranscriptSourceUsed::PostCallAnalysis { .. })
        );
        if post_call && !options.add_post_call_to_existing {
            // Entries of this very transcript (an earlier run's) are no reason to stop.
            let own: HashSet<&str> = turns.iter().map(|t| t.id.as_str()).collect();
            let others = existing
                .iter()
                .filter(|e| !own.contains(e.identifier.as_str()))
                .count();
            if others > 0 {
                return Err(Failure::new(
                    FailureCode::ConversationNotEmpty,
                    format!(
                        "the real-time segments are gone, and the post-call transcript is a separate transcription that cannot be matched with the {others} entries the conversation already holds, so nothing was uploaded; set addPostCallToExisting to add it anyway"
                    ),
                ));
            }
        }
        let (missing, present) = missing_turns(window, turns, &existing);
        stats.already_present = present;
        let any_missing = missing
            .iter()
            .any(|t| crate::domain::transcript::entry_role(t).is_some());
        if !any_missing || options.existing_entries == ExistingEntries::Skip {
            return Ok(None);
        }
        Ok(Some(missing))
    }

    /// Reads every page. A page with a next token but no segments means Contact Lens is still
    /// analysing, so the transcript is not final and is not uploaded partially. The error is
    /// the source's own (`Err`) or this function's verdict (`Ok`).
    async fn read_transcript(
        &self,
        contact_id: &str,
        stats: &mut ReadStats,
    ) -> Result<Vec<Turn>, Result<Failure, SourceError>> {
        let mut turns = Vec::new();
        let mut next_token = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .transcripts
                .segments_page(contact_id, next_token)
                .await
                .map_err(Err)?;
            stats.segments += page.segments;
            turns.extend(page.turns);
            match page.next_token {
                None => return Ok(turns),
                Some(_) if page.segments == 0 => {
                    return Err(Ok(Failure::new(
                        FailureCode::TranscriptNotFinal,
                        "Contact Lens is still analysing this call; resubmit it once the analysis has finished",
                    )));
                }
                token => next_token = token,
            }
        }
        Err(Ok(Failure::new(
            FailureCode::TranscriptNotFinal,
            format!("the transcript did not end within {MAX_PAGES} pages"),
        )))
    }
}

fn outcome(
    contact: &ContactRequest,
    failure: Option<FailureCode>,
    skipped: bool,
    stats: ReadStats,
) -> ContactOutcome {
    ContactOutcome {
        contact_id: contact.contact_id.clone(),
        failure,
        skipped,
        source: stats.source,
        segments: stats.segments,
        entries: stats.entries,
        already_present: stats.already_present,
        disconnected_ms: stats.disconnected_ms,
        elapsed: stats.elapsed,
    }
}

fn finish(
    contacts: &[ContactRequest],
    mut elements: Vec<(usize, Vec<ResponseElement>)>,
    early_results: Vec<BulkUploadResult>,
    reasons: &HashMap<String, FailureCode>,
    skipped: &[String],
    mut stats: HashMap<&str, ReadStats>,
) -> UploadReport {
    elements.sort_by_key(|(index, _)| *index);
    let mut elements: Vec<ResponseElement> = elements.into_iter().flat_map(|(_, e)| e).collect();
    if !early_results.is_empty() {
        elements.push(ResponseElement {
            status_code: 200,
            results: early_results,
        });
    }
    let outcomes = contacts
        .iter()
        .map(|c| {
            let failure = reasons.get(&c.contact_id).copied();
            let was_skipped = skipped.contains(&c.contact_id);
            let s = stats.remove(c.contact_id.as_str()).unwrap_or_default();
            outcome(c, failure, was_skipped, s)
        })
        .collect();
    UploadReport { elements, outcomes }
}

/// Uploads one batch, never sending a conversation twice: a request Salesforce rejected as a
/// whole is split in halves until the conversation it refuses stands alone; a request that may
/// have been stored is confirmed by reading the conversations back, or reported unconfirmed.
/// One response element per upload request, then one for the conversations confirmed by
/// reading.
fn upload_batch<'a, S: ConversationSink>(
    sink: &'a S,
    batch: Vec<ConversationFile>,
    confirm_by_reading: bool,
    deadline: Instant,
) -> futures::future::BoxFuture<'a, BatchOutcome> {
    Box::pin(async move {
        let ids: Vec<String> = batch.iter().map(|f| f.contact_id.clone()).collect();
        if Instant::now() >= deadline {
            return BatchOutcome::all_failed(&ids, 504, &unsent_failure());
        }
        match sink.upload(&batch).await {
            Ok(response) => {
                let (results, omitted) = reconcile_batch(&ids, response.results);
                let mut outcome = BatchOutcome::default();
                let mut answered = Vec::new();
                for mut result in results {
                    if !result.succeeded() {
                        let reason = result.error_detail.as_deref().unwrap_or("no reason given");
                        result.error_detail = Some(
                            Failure::new(FailureCode::SalesforceRejected, reason).error_detail(),
                        );
                        outcome.reasons.push((
                            result.conversation_identifier.clone(),
                            FailureCode::SalesforceRejected,
                        ));
                    }
                    answered.push(result);
                }
                if !answered.is_empty() {
                    outcome.elements.push(ResponseElement {
                        status_code: response.status,
                        results: answered,
                    });
                }
                if !omitted.is_empty() {
                    let unanswered: Vec<ConversationFile> = batch
                        .into_iter()
                        .filter(|f| omitted.contains(&f.contact_id))
                        .collect();
                    let why = "Salesforce's upload answer did not mention this conversation";
                    outcome.extend(
                        confirm(sink, unanswered, confirm_by_reading, response.status, why).await,
                    );
                }
                outcome
            }
            Err(e) if e.is_rejection() && batch.len() > 1 => {
                tracing::warn!(error = %e, conversations = batch.len(), "Salesforce rejected the upload request; splitting it");
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                let mut outcome = upload_batch(sink, first, confirm_by_reading, deadline).await;
                outcome.extend(upload_batch(sink, second, confirm_by_reading, deadline).await);
                outcome
            }
            Err(e) if e.is_rejection() => {
                tracing::warn!(error = %e, "Salesforce rejected a conversation");
                let failure = Failure::new(FailureCode::SalesforceRejected, e.to_string());
                BatchOutcome::all_failed(&ids, e.status_code(), &failure)
            }
            Err(SalesforceError::MayHaveStored(cause)) => {
                tracing::warn!(error = %cause, conversations = ids.len(), "the upload may have been stored; confirming it");
                let status = cause.status_code();
                confirm(sink, batch, confirm_by_reading, status, &cause.to_string()).await
            }
            Err(e) => {
                tracing::warn!(error = %e, conversations = ids.len(), "upload request failed");
                BatchOutcome::all_failed(&ids, e.status_code(), &e.failure())
            }
        }
    })
}

/// What one batch came to: a response element per upload request, and each failed contact's
/// code.
#[derive(Default)]
struct BatchOutcome {
    elements: Vec<ResponseElement>,
    reasons: Vec<(String, FailureCode)>,
}

impl BatchOutcome {
    fn all_failed(ids: &[String], status_code: u16, failure: &Failure) -> Self {
        Self {
            elements: vec![ResponseElement {
                status_code,
                results: ids
                    .iter()
                    .map(|id| BulkUploadResult::failed(id, failure))
                    .collect(),
            }],
            reasons: ids.iter().map(|id| (id.clone(), failure.code)).collect(),
        }
    }

    fn extend(&mut self, other: Self) {
        self.elements.extend(other.elements);
        self.reasons.extend(other.reasons);
    }
}

/// After an upload that Salesforce may have stored (`why` it is unknown), each conversation
/// that now holds every entry of its file is confirmed; the others are UPLOAD_UNCONFIRMED and
/// are not sent again, since Salesforce may still be processing the upload. Without
/// `by_reading` (the request ignored existing entries, so ids found may be older ones) nothing
/// is read.
async fn confirm<S: ConversationSink>(
    sink: &S,
    files: Vec<ConversationFile>,
    by_reading: bool,
    status_code: u16,
    why: &str,
) -> BatchOutcome {
    let mut confirmed = Vec::new();
    let mut outcome = BatchOutcome::default();
    let mut unconfirmed = Vec::new();
    for file in files {
        let held = if by_reading {
            match sink.existing_entries(&file.contact_id).await {
                Ok(entries) => file
                    .entry_ids
                    .iter()
                    .all(|id| entries.iter().any(|e| &e.identifier == id)),
                Err(e) => {
                    tracing::warn!(contactId = %file.contact_id, error = %e, "the conversation could not be read back");
                    false
                }
            }
        } else {
            false
        };
        if held {
            confirmed.push(BulkUploadResult::confirmed(&file.contact_id));
        } else {
            unconfirmed.push(file.contact_id);
        }
    }
    if !unconfirmed.is_empty() {
        let failure = Failure::new(
            FailureCode::UploadUnconfirmed,
            format!(
                "{why}; Salesforce may have stored this transcript and may still be processing it, so it was not sent again. Do not resubmit it with existingEntries \"ignore\": run it again later with existingEntries \"fill\" (the default), which uploads only what the conversation still lacks"
            ),
        );
        outcome.extend(BatchOutcome::all_failed(
            &unconfirmed,
            status_code,
            &failure,
        ));
    }
    if !confirmed.is_empty() {
        outcome.elements.push(ResponseElement {
            status_code: 200,
            results: confirmed,
        });
    }
    outcome
}

fn unsent_failure() -> Failure {
    Failure::new(
        FailureCode::DeadlineExceeded,
        "the function ran out of time before this contact's upload was sent; resubmit it",
    )
}

fn deadline_failure() -> Failure {
    Failure::new(
        FailureCode::DeadlineExceeded,
        "the function ran out of time before this contact was read; resubmit it",
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
