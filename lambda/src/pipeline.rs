//! uploadTranscript end to end: contacts are read concurrently (bounded) from Contact Lens, or
//! from its post-call analysis files once the real-time segments are gone; what the Salesforce
//! conversation already holds is left out; the legs of one call that a request names become one
//! conversation file once all are read, each finished conversation joins a batch, and full
//! batches upload while reading goes on. A dry run stops before the upload.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::stream::{self, FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

use crate::domain::analysis::{
    REALTIME_RETENTION_MS, candidate_prefixes, parse_analysis_file, pick_analysis_key,
};
use crate::domain::batch::Batcher;
use crate::domain::call::{Placement, Placements};
use crate::domain::contact::ContactRequest;
use crate::domain::existing::{ExistingEntries, missing_turns};
use crate::domain::outcome::{
    BulkUploadResult, Failure, FailureCode, ResponseElement, reconcile_batch,
};
use crate::domain::request::UploadOptions;
use crate::domain::transcript::{
    CallWindow, ConversationFile, LegTurns, Turn, conversation_file, entry_role, entry_timestamp,
};
use crate::ports::{
    AnalysisStore, ContactDirectory, ConversationSink, SalesforceError, SourceError,
    TranscriptSource, VoiceCallDirectory,
};
use crate::query::placements_of;

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
    /// The share of the org's daily API allocation at or above which no contact is read.
    pub api_usage_ceiling_percent: u8,
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
    /// The call's first leg's contactId (the contact's own for a call of one leg), once Amazon
    /// Connect said.
    pub call: Option<String>,
    /// The conversation its transcript goes to, once known.
    pub conversation: Option<String>,
    /// Whether its reading began: false for a contact left before any call about it, when the
    /// invocation had no time left to start it.
    pub started: bool,
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
    call: Option<String>,
    conversation: Option<String>,
    started: bool,
    elapsed: Duration,
}

/// A contact ready to upload, or one to leave alone (the reason's code is ALREADY_UPLOADED).
enum Read {
    Upload(LegRead),
    Skip(Failure),
}

/// A contact's (a leg's) turns still to upload, and where they go.
struct LegRead {
    conversation: String,
    window: CallWindow,
    turns: Vec<Turn>,
}

impl LegRead {
    /// clientSentTimestamp of its first and last entries.
    fn entry_span(&self) -> (Option<i64>, Option<i64>) {
        let times = self
            .turns
            .iter()
            .filter(|t| entry_role(t).is_some())
            .map(|t| entry_timestamp(&self.window, t));
        (times.clone().min(), times.max())
    }
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

    /// The failure of every contact when the org's API usage, as last reported, has reached
    /// the ceiling.
    pub fn above_ceiling<S: ConversationSink>(&self, sink: &S) -> Option<Failure> {
        let ceiling = self.settings.api_usage_ceiling_percent;
        sink.api_usage()
            .filter(|usage| usage.at_or_above(ceiling))
            .map(|usage| usage.ceiling_failure(ceiling))
    }

    /// Reads every contact, `contact_concurrency` at a time, each within `read_cutoff`.
    fn reads<'a, S: ConversationSink>(
        &'a self,
        sink: &'a S,
        contacts: &'a [ContactRequest],
        placements: &'a Placements,
        options: UploadOptions,
        read_cutoff: Instant,
    ) -> impl futures::Stream<Item = (&'a ContactRequest, ReadResult, ReadStats)> + 'a {
        stream::iter(contacts)
            .map(move |contact| async move {
                let started = Instant::now();
                let placement = placements.get(&contact.contact_id);
                let (result, mut read_stats) = if started >= read_cutoff {
                    (Err(deadline_failure()), ReadStats::default())
                } else {
                    timeout_at(
                        read_cutoff,
                        self.read_contact(sink, contact, placement, options),
                    )
                    .await
                    .unwrap_or_else(|_| (Err(deadline_failure()), ReadStats::default()))
                };
                read_stats.started = started < read_cutoff;
                read_stats.elapsed = started.elapsed();
                (contact, result, read_stats)
            })
            .buffer_unordered(self.settings.contact_concurrency)
    }

    /// Everything an upload does except uploading: what each contact would give, and where.
    /// Without `placements`, the contacts' VoiceCalls are looked up.
    pub async fn dry_run<S: ConversationSink + VoiceCallDirectory>(
        &self,
        sink: &S,
        contacts: &[ContactRequest],
        placements: Option<&Placements>,
        options: UploadOptions,
        deadline: Instant,
    ) -> Vec<DryRunLine> {
        let mut lines: HashMap<&str, DryRunLine> = HashMap::new();
        let line = |contact: &ContactRequest, read: Result<&Read, &Failure>, stats: ReadStats| {
            let (failure, skipped, reason, span) = match read {
                Ok(Read::Upload(leg)) => (None, false, None, leg.entry_span()),
                Ok(Read::Skip(reason)) => (None, true, Some(reason.clone()), (None, None)),
                Err(failure) => (
                    Some(failure.code),
                    false,
                    Some(failure.clone()),
                    (None, None),
                ),
            };
            DryRunLine {
                outcome: outcome(contact, failure, skipped, stats),
                reason,
                first_timestamp: span.0,
                last_timestamp: span.1,
            }
        };
        if let Err(e) = sink.prepare().await {
            let failure = e.failure();
            return contacts
                .iter()
                .map(|c| line(c, Err(&failure), ReadStats::default()))
                .collect();
        }
        let placements = placements_or_lookup(sink, contacts, placements).await;
        if let Some(failure) = self.above_ceiling(sink) {
            return contacts
                .iter()
                .map(|c| line(c, Err(&failure), ReadStats::default()))
                .collect();
        }
        let (read_cutoff, _) = self.cutoffs(deadline);
        let mut reads = self.reads(sink, contacts, &placements, options, read_cutoff);
        while let Some((contact, result, stats)) = reads.next().await {
            lines.insert(&contact.contact_id, line(contact, result.as_ref(), stats));
        }
        contacts
            .iter()
            .filter_map(|c| lines.remove(c.contact_id.as_str()))
            .collect()
    }

    /// Uploads the contacts' transcripts to the org behind `sink`, each into the conversation
    /// its placement names (its call's first leg's by default). Without `placements`, the
    /// contacts' VoiceCalls are looked up.
    pub async fn upload<S: ConversationSink + VoiceCallDirectory>(
        &self,
        sink: &S,
        contacts: &[ContactRequest],
        placements: Option<&Placements>,
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

        let placements = placements_or_lookup(sink, contacts, placements).await;
        if let Some(failure) = self.above_ceiling(sink) {
            tracing::warn!(detail = %failure.detail, "the org's API usage is at or above the ceiling; no contact was read");
            for c in contacts {
                reasons.insert(c.contact_id.clone(), failure.code);
                early_results.push(BulkUploadResult::failed(&c.contact_id, &failure));
            }
            return finish(contacts, elements, early_results, &reasons, &skipped, stats);
        }
        let (read_cutoff, upload_deadline) = self.cutoffs(deadline);
        let upload_slots = Semaphore::new(UPLOAD_CONCURRENCY);
        let mut reads = self.reads(sink, contacts, &placements, options, read_cutoff);
        let mut calls = CallGroups::new(contacts, &placements);

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
                            let leg = match read {
                                Ok(Read::Upload(leg)) => Some(leg),
                                Ok(Read::Skip(reason)) => {
                                    skipped.push(contact.contact_id.clone());
                                    early_results.push(BulkUploadResult::skipped(&contact.contact_id, &reason));
                                    None
                                }
                                Err(failure) => {
                                    reasons.insert(contact.contact_id.clone(), failure.code);
                                    early_results.push(BulkUploadResult::failed(&contact.contact_id, &failure));
                                    None
                                }
                            };
                            match calls.read(contact, leg) {
                                Some(file) => batcher.push(file),
                                None => Vec::new(),
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
                            let members: Vec<(String, Vec<String>)> = batch
                                .iter()
                                .map(|f| (f.conversation_id.clone(), f.contact_ids.clone()))
                                .collect();
                            let outcome = upload_batch(sink, batch, confirm_by_reading, upload_deadline).await;
                            (index, outcome.per_contact(&members))
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
        placement: Option<&Placement>,
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
            let call = details
                .initial_contact_id
                .clone()
                .unwrap_or_else(|| contact.contact_id.clone());
            let conversation = conversation_of(contact, placement, &call);
            stats.call = Some(call);
            stats.conversation = Some(conversation.clone());
            if placement.is_some_and(Placement::call_goes_on) {
                return Err(Failure::new(
                    FailureCode::CallInProgress,
                    format!(
                        "the call goes on in another leg: its Salesforce conversation {conversation} is not closed, and Salesforce takes uploads into closed conversations only; retry after the call ends"
                    ),
                ));
            }
            let window = details.call_window()?;
            stats.disconnected_ms = Some(window.disconnect_ms);
            let (turns, source) = self.transcript(&contact.contact_id, &window, &mut stats).await?;
            stats.source = Some(source);
            let turns = self
                .leave_out_existing(sink, &conversation, &window, turns, options, &mut stats)
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
            stats.entries = turns.iter().filter(|t| entry_role(t).is_some()).count();
            if stats.entries == 0 {
                return Err(Failure::new(
                    FailureCode::NoTranscript,
                    "Contact Lens finished the analysis but it holds no agent or customer speech",
                ));
            }
            Ok(Read::Upload(LegRead {
                conversation,
                window,
                turns,
            }))
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
        conversation: &str,
        window: &CallWindow,
        turns: Vec<Turn>,
        options: UploadOptions,
        stats: &mut ReadStats,
    ) -> Result<Option<Vec<Turn>>, Failure> {
        if options.existing_entries == ExistingEntries::Ignore {
            return Ok(Some(turns));
        }
        let existing = sink.existing_entries(conversation).await.map_err(|e| {
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
        call: stats.call,
        conversation: stats.conversation,
        started: stats.started,
        elapsed: stats.elapsed,
    }
}

/// The placements given, or else those of the contacts' VoiceCalls.
async fn placements_or_lookup<'a, S: VoiceCallDirectory>(
    sink: &S,
    contacts: &[ContactRequest],
    given: Option<&'a Placements>,
) -> Cow<'a, Placements> {
    match given {
        Some(placements) => Cow::Borrowed(placements),
        None => {
            let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();
            Cow::Owned(placements_of(sink, &ids).await)
        }
    }
}

/// The conversation a contact's transcript goes to: the one Salesforce keeps its VoiceCall in,
/// else its call's first leg's contactId, which Salesforce documents as the conversation's
/// identifier (logged, since Salesforce did not confirm it).
fn conversation_of(contact: &ContactRequest, placement: Option<&Placement>, call: &str) -> String {
    if let Some(conversation) = placement.and_then(|p| p.conversation.as_deref()) {
        return conversation.to_owned();
    }
    tracing::info!(
        contactId = %contact.contact_id,
        conversation = call,
        "no Salesforce conversation found for this contact's VoiceCall; using its call's first leg's contactId"
    );
    call.to_owned()
}

/// The legs a request names, grouped by the conversation they go to, so that each call's legs
/// travel as one conversation file. Contacts whose conversation Salesforce did not name are
/// groups of their own.
struct CallGroups<'a> {
    group_of: HashMap<&'a str, GroupKey<'a>>,
    groups: HashMap<GroupKey<'a>, Group<'a>>,
}

/// The legs of a group still being read, and those read with turns to upload.
#[derive(Default)]
struct Group<'a> {
    waiting: usize,
    legs: Vec<(&'a ContactRequest, LegRead)>,
}

/// A conversation Salesforce named, or a contact whose conversation it did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum GroupKey<'a> {
    Conversation(&'a str),
    Contact(&'a str),
}

impl<'a> CallGroups<'a> {
    fn new(contacts: &'a [ContactRequest], placements: &'a Placements) -> Self {
        let mut group_of = HashMap::new();
        let mut groups: HashMap<GroupKey<'a>, Group<'a>> = HashMap::new();
        for contact in contacts {
            let group = placements
                .get(&contact.contact_id)
                .and_then(|p| p.conversation.as_deref())
                .map_or(
                    GroupKey::Contact(&contact.contact_id),
                    GroupKey::Conversation,
                );
            group_of.insert(contact.contact_id.as_str(), group);
            groups.entry(group).or_default().waiting += 1;
        }
        Self { group_of, groups }
    }

    /// Takes a leg's read (`None` when it has nothing to upload); once every leg of its group
    /// is read, the group's conversation file, if any leg gave turns.
    fn read(
        &mut self,
        contact: &'a ContactRequest,
        leg: Option<LegRead>,
    ) -> Option<ConversationFile> {
        let group = self.group_of.get(contact.contact_id.as_str())?;
        let group = self.groups.get_mut(group)?;
        group.waiting = group.waiting.saturating_sub(1);
        group.legs.extend(leg.map(|leg| (contact, leg)));
        if group.waiting > 0 || group.legs.is_empty() {
            return None;
        }
        let legs = std::mem::take(&mut group.legs);
        let conversation = legs[0].1.conversation.clone();
        let legs: Vec<LegTurns<'_>> = legs
            .into_iter()
            .map(|(contact, leg)| LegTurns {
                contact,
                window: leg.window,
                turns: leg.turns,
            })
            .collect();
        Some(conversation_file(&conversation, &legs))
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
        let ids: Vec<String> = batch.iter().map(|f| f.conversation_id.clone()).collect();
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
                        .filter(|f| omitted.contains(&f.conversation_id))
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

    /// The outcome told per requested contact: a conversation's result once for each leg
    /// (`members`: conversation, its legs in the batch) that went into it, under that leg's id.
    fn per_contact(self, members: &[(String, Vec<String>)]) -> Self {
        let legs_of = |conversation: &str| {
            members
                .iter()
                .find(|(c, _)| c == conversation)
                .map(|(_, legs)| legs.clone())
                .unwrap_or_else(|| vec![conversation.to_owned()])
        };
        let elements = self
            .elements
            .into_iter()
            .map(|element| ResponseElement {
                status_code: element.status_code,
                results: element
                    .results
                    .into_iter()
                    .flat_map(|result| {
                        legs_of(&result.conversation_identifier)
                            .into_iter()
                            .map(move |leg| {
                                let mut result = result.clone();
                                if leg != result.conversation_identifier {
                                    // A later leg: say which conversation holds it now.
                                    let conversation =
                                        std::mem::replace(&mut result.conversation_identifier, leg);
                                    result
                                        .extra
                                        .insert("conversation".into(), conversation.into());
                                }
                                result
                            })
                    })
                    .collect(),
            })
            .collect();
        let reasons = self
            .reasons
            .into_iter()
            .flat_map(|(conversation, code)| {
                legs_of(&conversation)
                    .into_iter()
                    .map(move |leg| (leg, code))
            })
            .collect();
        Self { elements, reasons }
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
            match sink.existing_entries(&file.conversation_id).await {
                Ok(entries) => file
                    .entry_ids
                    .iter()
                    .all(|id| entries.iter().any(|e| &e.identifier == id)),
                Err(e) => {
                    tracing::warn!(conversation = %file.conversation_id, error = %e, "the conversation could not be read back");
                    false
                }
            }
        } else {
            false
        };
        if held {
            confirmed.push(BulkUploadResult::confirmed(&file.conversation_id));
        } else {
            unconfirmed.push(file.conversation_id);
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
