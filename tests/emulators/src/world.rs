//! The state shared by all emulators: what exists in the emulated accounts, what the client
//! did to it, and how the emulators are told to misbehave.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;

use crate::fault::{ArmedFault, Fault};
use crate::latency::TokenBucket;
use crate::s3::MultipartUpload;
use crate::salesforce::{ApiLimits, ApiUser, QueryCursor};
use crate::sqs::{SentMessage, SqsState, queue_name, queue_url};

/// The emulated services; used to aim faults and latency and to read counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Connect,
    ContactLens,
    SecretsManager,
    Salesforce,
    Ssm,
    S3,
    Sqs,
}

impl Service {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::Connect => "connect",
            Service::ContactLens => "contact-lens",
            Service::SecretsManager => "secrets-manager",
            Service::Salesforce => "salesforce",
            Service::Ssm => "ssm",
            Service::S3 => "s3",
            Service::Sqs => "sqs",
        }
    }
}

/// One transcript turn, as Contact Lens reports it in a `Transcript` segment (and as the
/// transcript fixtures hold it).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Segment {
    pub id: String,
    pub participant_id: String,
    /// "AGENT", "CUSTOMER", "SYSTEM", ...
    pub participant_role: String,
    pub content: String,
    /// Relative to the start of the analysis, not wall-clock time.
    pub begin_offset_millis: i64,
    pub end_offset_millis: i64,
    /// "POSITIVE", "NEUTRAL" or "NEGATIVE".
    pub sentiment: String,
}

/// A Contact Lens `Categories` segment. It carries no speech, so a client must skip it; it is
/// served right after the first `after_segment` transcript segments.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryMatch {
    pub after_segment: usize,
    pub matched_categories: Vec<String>,
}

/// A voice contact as all emulators see it: Connect describes it, Contact Lens serves its
/// segments and Salesforce knows its conversation (the VoiceCall `voice_call_id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactSpec {
    pub contact_id: String,
    /// The 15-character Salesforce VoiceCall id the upload must relate entries to.
    pub voice_call_id: String,
    pub initiation_ms: i64,
    pub connected_to_agent_ms: Option<i64>,
    /// None while the call is in progress; Salesforce only accepts uploads for closed calls.
    pub disconnect_ms: Option<i64>,
    pub segments: Vec<Segment>,
    pub categories: Vec<CategoryMatch>,
    /// Contact Lens keeps answering with a NextToken after the last segment.
    pub analysis_running: bool,
    /// false: Contact Lens answers 404 (no real-time analysis, or past its 24 h retention).
    pub realtime_available: bool,
    /// The first leg's contactId, on a later leg of a transferred or consulted call; None on
    /// the first leg and on a single-leg contact.
    pub initial_contact_id: Option<String>,
    /// The leg this one was transferred or consulted from; None on a first leg.
    pub previous_contact_id: Option<String>,
    pub initiation_method: InitiationMethod,
    /// false: a consult leg that never merged into the call. Salesforce transcribes it under
    /// its own VoiceCall's key, so it is a conversation of its own.
    pub joined_call: bool,
}

impl Default for ContactSpec {
    /// An empty, finished-shape contact; `realtime_available` defaults to true because a
    /// derived `false` would silently turn every contact built with `..Default::default()`
    /// into a Contact Lens 404.
    fn default() -> Self {
        ContactSpec {
            contact_id: String::new(),
            voice_call_id: String::new(),
            initiation_ms: 0,
            connected_to_agent_ms: None,
            disconnect_ms: None,
            segments: Vec::new(),
            categories: Vec::new(),
            analysis_running: false,
            realtime_available: true,
            initial_contact_id: None,
            previous_contact_id: None,
            initiation_method: InitiationMethod::Inbound,
            joined_call: true,
        }
    }
}

impl ContactSpec {
    /// The conversation Salesforce keeps this leg's transcript in: the call's first leg's
    /// contactId ("use the vendorCallKey of the first voice call record created for the
    /// call"), except for a consult that never merged, which keeps its own.
    pub fn conversation_identifier(&self) -> &str {
        match &self.initial_contact_id {
            Some(first) if self.joined_call => first,
            _ => &self.contact_id,
        }
    }
}

/// Connect's `InitiationMethod` of a voice contact, the values a transferred call's legs have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitiationMethod {
    /// A call's first leg.
    #[default]
    Inbound,
    /// A leg an agent transferred or consulted to with a quick connect: Connect has no CONSULT
    /// value, a consult leg is a TRANSFER too.
    Transfer,
}

impl InitiationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            InitiationMethod::Inbound => "INBOUND",
            InitiationMethod::Transfer => "TRANSFER",
        }
    }
}

/// One conversation accepted by the Salesforce upload resource.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadRecord {
    pub upload_id: String,
    pub conversation_id: String,
    /// The conversation its entries join: the part name, or the call's first leg's contactId
    /// when the part named a later leg (under [`LaterLegIdentifiers::CallConversation`]).
    pub held_in: String,
    /// The `payload` objects of the file's conversationEntry lines, as received, in file order.
    pub entries: Vec<serde_json::Value>,
    /// 1-based number of the upload request (see [`World::upload_requests`]) that carried it.
    pub request_index: u64,
    pub received_at_ms: i64,
}

/// What Salesforce does with an uploaded entry whose id its conversation already holds. It does
/// not say, so the default is the reading that costs a client that re-sends entries the most.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReuploadedEntries {
    /// The conversation keeps both: `.../entries` returns the entry twice.
    #[default]
    Doubled,
    /// It replaces what the conversation held under that id (uploads as upserts).
    Replaced,
}

/// Whether Salesforce takes a later leg's own contactId (its VoiceCall's VendorCallKey) as
/// the identifier of its call's conversation. Undocumented: the developer guide only says to
/// use the first leg's vendorCallKey.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LaterLegIdentifiers {
    /// It names no conversation: an upload to it is refused as unknown, `.../entries` is 404.
    /// The reading a client must be safe under.
    #[default]
    NotAConversation,
    /// It names its call's conversation, as the first leg's contactId does.
    CallConversation,
}

/// A conversation as the upload and entries resources see it: the legs that share it.
pub(crate) struct Conversation {
    pub identifier: String,
    /// In order of initiation.
    pub legs: Vec<ContactSpec>,
}

impl Conversation {
    pub fn start_ms(&self) -> i64 {
        self.legs
            .iter()
            .map(|leg| leg.initiation_ms)
            .min()
            .unwrap_or_default()
    }

    /// When it closed: when its last leg ended, once every leg has.
    pub fn end_ms(&self) -> Option<i64> {
        self.legs
            .iter()
            .map(|leg| leg.disconnect_ms)
            .collect::<Option<Vec<i64>>>()
            .and_then(|ends| ends.into_iter().max())
    }
}

/// When an accepted upload's entries join their conversation. Salesforce processes uploads
/// asynchronously, so a conversation read right after an upload may not show it yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UploadProcessing {
    /// Before the upload is answered.
    #[default]
    Immediate,
    /// At the next [`World::process_uploads`]; until then the upload's status is IN_PROGRESS.
    Deferred,
}

/// A Salesforce VoiceCall record, as the query resource reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceCall {
    /// 18 characters: the 15-character id and its case-checksum suffix.
    pub id: String,
    /// The Amazon Connect contactId; None for a call Service Cloud Voice has no contact for.
    pub vendor_call_key: Option<String>,
    pub call_start_ms: i64,
    pub call_end_ms: Option<i64>,
    /// The VoiceCall of the leg this one was transferred or consulted from (18 characters).
    pub previous_call_id: Option<String>,
    /// The VoiceCall of the leg this one was transferred or consulted to (18 characters).
    pub next_call_id: Option<String>,
    pub call_type: CallType,
    /// The `ConversationIdentifier` of its Conversation, shared by a call's legs; the
    /// Conversation record is derived from it (see [`SalesforceState::conversation_record`]).
    pub conversation_identifier: Option<String>,
}

impl VoiceCall {
    /// A single-leg call's VoiceCall: Inbound, in a conversation of its own named by its
    /// VendorCallKey (none without one).
    pub fn single(
        id: String,
        vendor_call_key: Option<String>,
        call_start_ms: i64,
        call_end_ms: Option<i64>,
    ) -> VoiceCall {
        VoiceCall {
            id,
            conversation_identifier: vendor_call_key.clone(),
            vendor_call_key,
            call_start_ms,
            call_end_ms,
            previous_call_id: None,
            next_call_id: None,
            call_type: CallType::Inbound,
        }
    }
}

/// The VoiceCall `CallType` values Service Cloud Voice gives a call's legs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallType {
    #[default]
    Inbound,
    Transfer,
    Consult,
}

impl CallType {
    pub fn as_str(self) -> &'static str {
        match self {
            CallType::Inbound => "Inbound",
            CallType::Transfer => "Transfer",
            CallType::Consult => "Consult",
        }
    }
}

/// A Conversation record as a VoiceCall query's `Conversation.` fields read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConversationRecord {
    /// 18 characters, key prefix [`CONVERSATION_KEY_PREFIX`].
    pub id: String,
    pub identifier: String,
    /// When its last VoiceCall ended; None while any is open. Salesforce documents EndTime
    /// as nillable, not that it is null while open: an inference.
    pub end_ms: Option<i64>,
}

/// The key prefix of Conversation ids: chosen, not sourced (no published list names it).
pub(crate) const CONVERSATION_KEY_PREFIX: &str = "0dw";

/// The 18-character id of the Conversation record whose `ConversationIdentifier` is
/// `identifier`: derived from it, so every leg sharing it reports the same id and a query
/// filtering by `ConversationId` finds them.
pub(crate) fn conversation_record_id(identifier: &str) -> String {
    let seed = identifier
        .bytes()
        .fold(0u64, |h, b| splitmix64(h ^ u64::from(b)));
    generated_id(CONVERSATION_KEY_PREFIX, seed)
}

/// One request an emulator received, as [`World::requests`] lists them after
/// [`World::record_requests`]: what tests assert order, retries and the spacing of
/// requests on, instead of timing the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub service: Service,
    pub method: String,
    /// Without the query string.
    pub path: String,
    /// What the request is about, as faults match it: the contactId of a Connect or Contact
    /// Lens request, the part names (contactIds) of a Salesforce upload, the SecretId, the
    /// parameter names, the S3 key or prefix. Empty when it names nothing or did not get that
    /// far (refused before its handler, e.g. an unauthenticated Salesforce call).
    pub about: Vec<String>,
    /// When it arrived, before the service's latency and any fault, on tokio's clock: the same
    /// instants as `tokio::time::Instant::now()` in a test, exact when the test pauses time.
    pub received: tokio::time::Instant,
    /// When the emulator's handler returned its response, and its status (a response dropped
    /// with its connection, as after `Fault::store_then_close`, included); None when it had
    /// not by the time of [`World::requests`]: still being handled (a delay fault, latency) or
    /// abandoned by its client.
    pub answered: Option<(tokio::time::Instant, u16)>,
}

impl RequestRecord {
    pub fn status(&self) -> Option<u16> {
        self.answered.map(|(_, status)| status)
    }

    /// Whether the request is about `id` alone (see [`RequestRecord::about`]).
    pub fn is_about(&self, id: &str) -> bool {
        self.about.len() == 1 && self.about[0] == id
    }
}

/// Counters of one emulator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    pub requests: u64,
    /// Responses that told the client to slow down: HTTP 429 or an AWS ThrottlingException.
    pub throttled: u64,
    /// Responses with status >= 400 (throttled ones included).
    pub errors: u64,
    /// Most requests this emulator was serving at the same moment: shows client concurrency.
    pub max_in_flight: u64,
}

/// A snapshot of all counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub connect: ServiceStats,
    pub contact_lens: ServiceStats,
    pub secrets_manager: ServiceStats,
    pub salesforce: ServiceStats,
    pub ssm: ServiceStats,
    pub token_mints: u64,
    pub upload_requests: u64,
    /// Salesforce query and `nextRecordsUrl` requests that got past authentication and the
    /// API allocation, whatever their outcome (injected faults and refused queries included).
    pub query_requests: u64,
    /// Salesforce conversation entries GETs refused for the hourly limit of their connected
    /// app and user ([`World::set_entries_reads_per_hour`]).
    pub entries_reads_refused: u64,
    /// Successful Secrets Manager PutSecretValue calls.
    pub secret_writes: u64,
    /// Successful SSM PutParameter calls.
    pub parameter_writes: u64,
    pub s3: ServiceStats,
    /// Signed S3 ListObjectsV2 requests, whatever their outcome: the cost of finding a file.
    pub s3_list_requests: u64,
    /// Signed S3 GetObject requests, whatever their outcome.
    pub s3_get_requests: u64,
    /// Signed S3 PutObject requests, whatever their outcome.
    pub s3_put_requests: u64,
    /// Signed S3 CreateMultipartUpload requests, whatever their outcome.
    pub s3_create_multipart_requests: u64,
    /// Signed S3 UploadPart requests, whatever their outcome.
    pub s3_upload_part_requests: u64,
    /// Signed S3 CompleteMultipartUpload requests, whatever their outcome.
    pub s3_complete_multipart_requests: u64,
    /// Signed S3 AbortMultipartUpload requests, whatever their outcome.
    pub s3_abort_multipart_requests: u64,
    pub sqs: ServiceStats,
}

impl Stats {
    pub fn service(&self, service: Service) -> ServiceStats {
        match service {
            Service::Connect => self.connect,
            Service::ContactLens => self.contact_lens,
            Service::SecretsManager => self.secrets_manager,
            Service::Salesforce => self.salesforce,
            Service::Ssm => self.ssm,
            Service::S3 => self.s3,
            Service::Sqs => self.sqs,
        }
    }

    fn service_mut(&mut self, service: Service) -> &mut ServiceStats {
        match service {
            Service::Connect => &mut self.connect,
            Service::ContactLens => &mut self.contact_lens,
            Service::SecretsManager => &mut self.secrets_manager,
            Service::Salesforce => &mut self.salesforce,
            Service::Ssm => &mut self.ssm,
            Service::S3 => &mut self.s3,
            Service::Sqs => &mut self.sqs,
        }
    }
}

pub(crate) struct Secret {
    pub value: String,
    pub version_id: String,
    pub created_ms: i64,
}

/// The three SSM parameter types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParameterType {
    String,
    StringList,
    SecureString,
}

impl ParameterType {
    pub fn from_name(name: &str) -> Option<ParameterType> {
        match name {
            "String" => Some(ParameterType::String),
            "StringList" => Some(ParameterType::StringList),
            "SecureString" => Some(ParameterType::SecureString),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ParameterType::String => "String",
            ParameterType::StringList => "StringList",
            ParameterType::SecureString => "SecureString",
        }
    }
}

/// What Parameter Store encrypts a SecureString with when PutParameter names no KeyId, even
/// when it overwrites one encrypted with a customer managed key.
pub const DEFAULT_SSM_KEY: &str = "alias/aws/ssm";

/// The current version of an SSM parameter; earlier versions are not kept.
pub(crate) struct Parameter {
    pub value: String,
    pub type_: ParameterType,
    /// The KMS key of a SecureString, as PutParameter named it.
    pub key_id: Option<String>,
    pub version: u64,
    pub modified_ms: i64,
}

pub(crate) struct JwtClient {
    pub client_id: String,
    pub username: String,
    pub key: DecodingKey,
}

#[derive(Default)]
pub(crate) struct SalesforceState {
    pub jwt_clients: Vec<JwtClient>,
    pub client_secrets: HashMap<String, String>,
    /// Live access tokens, and whom each acts for.
    pub tokens: HashMap<String, ApiUser>,
    pub uploads: Vec<UploadRecord>,
    pub upload_processing: UploadProcessing,
    /// Where in `uploads` the uploads not processed yet are, in the order received.
    pub pending_uploads: Vec<usize>,
    /// What each conversation holds, in the shape `.../entries` returns, by conversation id
    /// and entry identifier: uploaded and real-time entries alike, those of one identifier in
    /// arrival order (more than one when re-uploaded entries double).
    pub conversations: HashMap<String, HashMap<String, Vec<Value>>>,
    pub reuploaded_entries: ReuploadedEntries,
    pub later_leg_identifiers: LaterLegIdentifiers,
    /// Uploaded entries whose identifier their conversation already held.
    pub duplicate_entries: usize,
    /// Status queries a processed upload answers IN_PROGRESS to before its final status.
    pub processing_polls: u32,
    /// Status queries since processing, by upload id.
    pub status_polls: HashMap<String, u32>,
    /// The API request allocation (`Sforce-Limit-Info`) and the entries hourly limit.
    pub limits: ApiLimits,
    /// VoiceCall records in insertion order, the order a query without ORDER BY returns.
    pub voice_calls: Vec<VoiceCall>,
    /// Where each VoiceCall is in `voice_calls`, by id.
    pub voice_call_positions: HashMap<String, usize>,
    /// Query results with more pages to read, by query locator.
    pub query_cursors: HashMap<String, QueryCursor>,
}

impl SalesforceState {
    /// Puts an entry (`.../entries` shape) into its conversation, next to or instead of those
    /// with its identifier as `reuploaded_entries` says. Returns whether there were any.
    pub fn hold_entry(&mut self, conversation_id: &str, entry: Value) -> bool {
        let identifier = entry["identifier"].as_str().unwrap_or_default().to_owned();
        let held = self
            .conversations
            .entry(conversation_id.to_owned())
            .or_default()
            .entry(identifier)
            .or_default();
        let already_held = !held.is_empty();
        if self.reuploaded_entries == ReuploadedEntries::Replaced {
            held.clear();
        }
        held.push(entry);
        already_held
    }

    /// Records an accepted upload; its entries join the conversation now or, when processing
    /// is deferred, at the next [`SalesforceState::process_uploads`].
    pub fn accept_upload(&mut self, upload: UploadRecord) {
        self.uploads.push(upload);
        let at = self.uploads.len() - 1;
        match self.upload_processing {
            UploadProcessing::Immediate => self.apply_upload(at),
            UploadProcessing::Deferred => self.pending_uploads.push(at),
        }
    }

    /// Applies the pending uploads in the order received; returns how many there were.
    pub fn process_uploads(&mut self) -> usize {
        let pending = std::mem::take(&mut self.pending_uploads);
        for &at in &pending {
            self.apply_upload(at);
        }
        pending.len()
    }

    /// Whether `uploads[upload_at]` still waits for processing.
    pub fn is_pending(&self, upload_at: usize) -> bool {
        self.pending_uploads.contains(&upload_at)
    }

    /// Puts the entries of `uploads[at]` into its conversation, counting those whose id it
    /// already held.
    fn apply_upload(&mut self, at: usize) {
        let upload = &self.uploads[at];
        let conversation_id = upload.held_in.clone();
        let entries: Vec<Value> = upload
            .entries
            .iter()
            .map(|payload| crate::salesforce::held_entry(payload, upload.received_at_ms))
            .collect();
        for entry in entries {
            if self.hold_entry(&conversation_id, entry) {
                self.duplicate_entries += 1;
            }
        }
    }

    /// Adds a VoiceCall, or replaces the one with its id where it stands.
    pub fn insert_voice_call(&mut self, call: VoiceCall) {
        match self.voice_call_positions.get(&call.id) {
            Some(&at) => self.voice_calls[at] = call,
            None => {
                let at = self.voice_calls.len();
                self.voice_call_positions.insert(call.id.clone(), at);
                self.voice_calls.push(call);
            }
        }
    }

    pub fn voice_call(&self, id: &str) -> Option<&VoiceCall> {
        let at = *self.voice_call_positions.get(id)?;
        self.voice_calls.get(at)
    }

    /// The Conversation of a VoiceCall: its id derived from the identifier (stable, so every
    /// leg reports the same one), ended when all VoiceCalls sharing it have.
    pub fn conversation_record(&self, call: &VoiceCall) -> Option<ConversationRecord> {
        let identifier = call.conversation_identifier.as_deref()?;
        let ends: Option<Vec<i64>> = self
            .voice_calls
            .iter()
            .filter(|other| other.conversation_identifier.as_deref() == Some(identifier))
            .map(|other| other.call_end_ms)
            .collect();
        Some(ConversationRecord {
            id: conversation_record_id(identifier),
            identifier: identifier.to_owned(),
            end_ms: ends.and_then(|ends| ends.into_iter().max()),
        })
    }

    /// The conversation's entries, oldest first: by clientTimestamp, then identifier, then
    /// arrival (the sort is stable and an identifier's entries are held in arrival order).
    pub fn entries(&self, conversation_id: &str) -> Vec<Value> {
        let mut entries: Vec<Value> = self
            .conversations
            .get(conversation_id)
            .map(|held| held.values().flatten().cloned().collect())
            .unwrap_or_default();
        entries.sort_by(|a, b| {
            let key = |e: &Value| {
                (
                    e["clientTimestamp"].as_i64().unwrap_or_default(),
                    e["identifier"].as_str().unwrap_or_default().to_owned(),
                )
            };
            key(a).cmp(&key(b))
        });
        entries
    }
}

/// One S3 object.
pub(crate) struct S3Object {
    pub bytes: Vec<u8>,
    /// Quoted, as S3 sends it.
    pub etag: String,
    pub modified_ms: i64,
}

impl S3Object {
    /// The ETag is shaped like the MD5 S3 uses for single-part uploads (32 hex digits) but is a
    /// cheaper hash: clients may only compare ETags, never recompute them.
    fn new(bytes: Vec<u8>, modified_ms: i64) -> S3Object {
        S3Object {
            etag: format!("\"{}\"", content_hash(&bytes)),
            bytes,
            modified_ms,
        }
    }
}

/// 32 hex digits of a cheap hash of `bytes`, shaped like the MD5 S3 puts in ETags.
pub(crate) fn content_hash(bytes: &[u8]) -> String {
    let hash = |seed: u64| {
        bytes
            .iter()
            .fold(seed, |h, b| splitmix64(h ^ u64::from(*b)))
    };
    format!("{:016x}{:016x}", hash(1), hash(2))
}

#[derive(Default)]
pub(crate) struct S3State {
    /// Keys of a bucket in a BTreeMap: String order is UTF-8 byte order, the order S3 lists
    /// keys in.
    pub buckets: HashMap<String, BTreeMap<String, S3Object>>,
    pub denied_buckets: HashSet<String>,
    /// Multipart uploads started and neither completed nor aborted, by upload id.
    pub uploads: HashMap<String, MultipartUpload>,
}

pub(crate) struct State {
    pub instance_id: String,
    pub contacts: HashMap<String, ContactSpec>,
    pub secrets: HashMap<String, Secret>,
    pub denied_secrets: HashSet<String>,
    pub denied_secret_writes: HashSet<String>,
    pub parameters: HashMap<String, Parameter>,
    pub denied_parameters: HashSet<String>,
    pub salesforce: SalesforceState,
    pub s3: S3State,
    pub sqs: SqsState,
    pub faults: Vec<ArmedFault>,
    pub latency: HashMap<Service, Duration>,
    pub contact_lens_quota: Option<TokenBucket>,
    pub stats: Stats,
    in_flight: HashMap<Service, u64>,
    pub log_requests: bool,
    /// Every request received, in order, once [`World::record_requests`] was called.
    requests: Option<Vec<RequestRecord>>,
    /// Drives every generated id, so ids are the same from run to run.
    id_sequence: u64,
}

impl State {
    /// Whether `contact_id` is the first leg of a call other legs were transferred or
    /// consulted to.
    pub fn has_later_legs(&self, contact_id: &str) -> bool {
        self.contacts
            .values()
            .any(|leg| leg.initial_contact_id.as_deref() == Some(contact_id))
    }

    /// The conversation `identifier` names: that of the contact with this contactId, unless
    /// it is a later leg's and the world says such ids name no conversation.
    pub fn conversation(&self, identifier: &str) -> Option<Conversation> {
        let contact = self.contacts.get(identifier)?;
        let call = contact.conversation_identifier();
        if call != identifier
            && self.salesforce.later_leg_identifiers == LaterLegIdentifiers::NotAConversation
        {
            return None;
        }
        let mut legs: Vec<ContactSpec> = self
            .contacts
            .values()
            .filter(|leg| leg.conversation_identifier() == call)
            .cloned()
            .collect();
        legs.sort_by(|a, b| {
            (a.initiation_ms, &a.contact_id).cmp(&(b.initiation_ms, &b.contact_id))
        });
        Some(Conversation {
            identifier: call.to_owned(),
            legs,
        })
    }

    /// A fresh pseudo-random 64-bit value (splitmix64 over a counter): deterministic, yet ids
    /// look like the opaque ones the real services hand out.
    pub fn next_random(&mut self) -> u64 {
        self.id_sequence += 1;
        splitmix64(self.id_sequence)
    }

    /// A UUID-shaped id, like Salesforce upload ids and Secrets Manager version ids.
    pub fn next_uuid(&mut self) -> String {
        let (a, b) = (self.next_random(), self.next_random());
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    /// Makes `value` the secret's current version, creating the secret if needed.
    pub fn store_secret(&mut self, name: &str, value: &str, version_id: String) {
        let secret = Secret {
            value: value.to_owned(),
            version_id,
            created_ms: now_ms(),
        };
        self.secrets.insert(name.to_owned(), secret);
    }

    /// Stores a new version of a parameter (version 1 for a new one); returns its number. A
    /// SecureString is encrypted with `key_id`, or the account's default key without one.
    pub fn store_parameter(
        &mut self,
        name: &str,
        value: &str,
        type_: ParameterType,
        key_id: Option<&str>,
    ) -> u64 {
        let version = self.parameters.get(name).map_or(0, |p| p.version) + 1;
        let parameter = Parameter {
            value: value.to_owned(),
            type_,
            key_id: (type_ == ParameterType::SecureString)
                .then(|| key_id.unwrap_or(DEFAULT_SSM_KEY).to_owned()),
            version,
            modified_ms: now_ms(),
        };
        self.parameters.insert(name.to_owned(), parameter);
        version
    }

    /// Stores an object (replacing any under that key), creating the bucket if needed.
    pub fn store_object(&mut self, bucket: &str, key: &str, bytes: Vec<u8>, modified_ms: i64) {
        self.s3
            .buckets
            .entry(bucket.to_owned())
            .or_default()
            .insert(key.to_owned(), S3Object::new(bytes, modified_ms));
    }
}

/// The entry real-time transcription delivers for one turn, received when the turn ended;
/// None for roles it does not deliver.
fn realtime_entry(contact: &ContactSpec, turn: &Segment) -> Option<Value> {
    let role = match turn.participant_role.as_str() {
        "AGENT" => "AGENT",
        "CUSTOMER" => "END_USER",
        _ => return None,
    };
    let anchor = contact
        .connected_to_agent_ms
        .unwrap_or(contact.initiation_ms);
    let sent = anchor + turn.begin_offset_millis;
    let duration = turn.end_offset_millis - turn.begin_offset_millis;
    let payload = json!({
        "conversationId": contact.conversation_identifier(),
        "id": turn.id,
        "clientSentTimestamp": sent,
        "clientDuration": duration,
        "messageText": turn.content,
        "sender": {
            "appType": "TELEPHONY_INTEGRATION",
            "role": role,
            "subject": turn.participant_id,
        },
        "relatedRecords": [contact.voice_call_id],
    });
    Some(crate::salesforce::held_entry(&payload, sent + duration))
}

/// The canonical 18-character form of a Salesforce id given in 15 or 18 characters; None when
/// it is not one. The last three characters record, five characters each, which of the first
/// fifteen are upper case, so that the id survives case-insensitive handling: Salesforce reads
/// an 18-character id by restoring that case, whatever case it arrives in.
pub(crate) fn salesforce_id_18(id: &str) -> Option<String> {
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let id15 = match id.len() {
        15 => id.to_owned(),
        18 => restore_case(id)?,
        _ => return None,
    };
    let suffix = case_suffix(&id15);
    Some(id15 + &suffix)
}

/// An 18-character id made of a 3-character key prefix and `n` in 12 base-62 digits: every
/// `n` gives another id.
pub(crate) fn generated_id(key_prefix: &str, n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rest = n;
    let digits: String = (0..12)
        .map(|_| {
            let digit = DIGITS[usize::try_from(rest % 62).unwrap_or_default()];
            rest /= 62;
            char::from(digit)
        })
        .collect();
    let id15 = format!("{key_prefix}{digits}");
    let suffix = case_suffix(&id15);
    id15 + &suffix
}

const ID_SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Bit `i` of a suffix character is set when character `i` of its five is upper case.
fn case_suffix(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0usize, |bits, (i, _)| bits | (1 << i));
            char::from(ID_SUFFIX_ALPHABET[bits])
        })
        .collect()
}

/// The first fifteen characters of an 18-character id in the case its suffix records; None
/// when the suffix is not one (a character outside the alphabet, or a digit marked upper case).
fn restore_case(id18: &str) -> Option<String> {
    let (id15, suffix) = id18.split_at(15);
    let mut restored = String::with_capacity(15);
    for (chunk, mark) in id15.as_bytes().chunks(5).zip(suffix.bytes()) {
        let bits = ID_SUFFIX_ALPHABET
            .iter()
            .position(|&c| c == mark.to_ascii_uppercase())?;
        for (i, &c) in chunk.iter().enumerate() {
            if bits & (1 << i) == 0 {
                restored.push(char::from(c.to_ascii_lowercase()));
            } else if c.is_ascii_alphabetic() {
                restored.push(char::from(c.to_ascii_uppercase()));
            } else {
                return None;
            }
        }
    }
    Some(restored)
}

pub(crate) fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The instant `ms` milliseconds after the Unix epoch, in UTC.
///
/// # Panics
/// Outside the years -9999 to 9999, which only a test's own setup can produce.
pub(crate) fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("instants lie within the years -9999 to 9999")
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(at: OffsetDateTime) -> i64 {
    at.unix_timestamp() * 1000 + i64::from(at.millisecond())
}

/// The instant `ms` in UTC, written by `format`.
pub(crate) fn format_utc(ms: i64, format: &[BorrowedFormatItem<'_>]) -> String {
    utc(ms)
        .format(format)
        .expect("a UTC instant has every component a format can name")
}

/// Shared state of all emulators; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct World {
    inner: Arc<Mutex<State>>,
}

impl World {
    pub fn new(instance_id: &str) -> World {
        let state = State {
            instance_id: instance_id.to_owned(),
            contacts: HashMap::new(),
            secrets: HashMap::new(),
            denied_secrets: HashSet::new(),
            denied_secret_writes: HashSet::new(),
            parameters: HashMap::new(),
            denied_parameters: HashSet::new(),
            salesforce: SalesforceState::default(),
            s3: S3State::default(),
            sqs: SqsState::default(),
            faults: Vec::new(),
            latency: HashMap::new(),
            contact_lens_quota: None,
            stats: Stats::default(),
            in_flight: HashMap::new(),
            log_requests: false,
            requests: None,
            id_sequence: 0,
        };
        World {
            inner: Arc::new(Mutex::new(state)),
        }
    }

    /// Handlers never hold the lock across an await, and a panic in one test handler must not
    /// poison the world for the assertions that follow, hence the recovery.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn instance_id(&self) -> String {
        self.lock().instance_id.clone()
    }

    /// Adds (or replaces) a contact in Connect, Contact Lens and Salesforce at once.
    pub fn add_contact(&self, contact: ContactSpec) {
        self.lock()
            .contacts
            .insert(contact.contact_id.clone(), contact);
    }

    /// Adds the legs of one transferred or consulted call, first leg first, each as
    /// [`World::add_contact`] would: every later leg gets the first leg's contactId as
    /// `initial_contact_id`, the leg before it as `previous_contact_id` and, unless it says
    /// otherwise, `InitiationMethod::Transfer`. Each leg keeps its own Contact Lens analysis
    /// and gets its VoiceCall (its `voice_call_id`, VendorCallKey = its contactId), as Service
    /// Cloud Voice's transfer flows create one per leg: PreviousCallId and NextCallId chain
    /// them in leg order, CallType is Inbound for the first, Consult for a consult that never
    /// joined, Transfer otherwise, and each is in its leg's conversation. Returns the
    /// VoiceCalls' 18-character ids, in leg order.
    ///
    /// # Panics
    /// When a leg's `voice_call_id` is not a Salesforce id: a broken test setup.
    pub fn add_transferred_call(&self, legs: Vec<ContactSpec>) -> Vec<String> {
        let voice_calls: Vec<String> = legs
            .iter()
            .map(|leg| {
                self.add_voice_call(
                    &leg.voice_call_id,
                    Some(&leg.contact_id),
                    leg.initiation_ms,
                    leg.disconnect_ms,
                )
            })
            .collect();
        let mut state = self.lock();
        let first_id = legs.first().map(|leg| leg.contact_id.clone());
        for (at, leg) in legs.iter().enumerate() {
            let call_type = match (at, leg.joined_call) {
                (0, _) => CallType::Inbound,
                (_, false) => CallType::Consult,
                (_, true) => CallType::Transfer,
            };
            let conversation = match (&first_id, leg.joined_call) {
                (Some(first), true) => first.clone(),
                _ => leg.contact_id.clone(),
            };
            let mut call = VoiceCall::single(
                voice_calls[at].clone(),
                Some(leg.contact_id.clone()),
                leg.initiation_ms,
                leg.disconnect_ms,
            );
            call.previous_call_id = at.checked_sub(1).map(|before| voice_calls[before].clone());
            call.next_call_id = voice_calls.get(at + 1).cloned();
            call.call_type = call_type;
            call.conversation_identifier = Some(conversation);
            state.salesforce.insert_voice_call(call);
        }
        let mut first: Option<String> = None;
        let mut previous: Option<String> = None;
        for mut leg in legs {
            if let Some(first) = &first {
                leg.initial_contact_id = Some(first.clone());
                leg.previous_contact_id = previous.clone();
                if leg.initiation_method == InitiationMethod::Inbound {
                    leg.initiation_method = InitiationMethod::Transfer;
                }
            } else {
                first = Some(leg.contact_id.clone());
            }
            previous = Some(leg.contact_id.clone());
            state.contacts.insert(leg.contact_id.clone(), leg);
        }
        voice_calls
    }

    /// Ends a contact (a leg) at `at_ms`: its DisconnectTimestamp and its VoiceCall's
    /// CallEndDateTime. Returns false when there is no such contact.
    pub fn end_contact(&self, contact_id: &str, at_ms: i64) -> bool {
        let mut state = self.lock();
        let Some(contact) = state.contacts.get_mut(contact_id) else {
            return false;
        };
        contact.disconnect_ms = Some(at_ms);
        for call in &mut state.salesforce.voice_calls {
            if call.vendor_call_key.as_deref() == Some(contact_id) {
                call.call_end_ms = Some(at_ms);
            }
        }
        true
    }

    /// Changes a contact in place, e.g. to let a running analysis finish between two calls.
    /// Returns false when there is no such contact.
    pub fn update_contact(&self, contact_id: &str, change: impl FnOnce(&mut ContactSpec)) -> bool {
        match self.lock().contacts.get_mut(contact_id) {
            Some(contact) => {
                change(contact);
                true
            }
            None => false,
        }
    }

    pub fn contact(&self, contact_id: &str) -> Option<ContactSpec> {
        self.lock().contacts.get(contact_id).cloned()
    }

    /// Stores a secret (a new version if it exists) in Secrets Manager.
    pub fn put_secret(&self, name: &str, secret_string: &str) {
        let mut state = self.lock();
        let version_id = state.next_uuid();
        state.store_secret(name, secret_string, version_id);
    }

    /// The secret's current SecretString, e.g. to see what a client wrote with PutSecretValue.
    pub fn secret_value(&self, name: &str) -> Option<String> {
        self.lock().secrets.get(name).map(|s| s.value.clone())
    }

    /// Makes GetSecretValue on this name answer AccessDeniedException, as when the function's
    /// role lacks `secretsmanager:GetSecretValue` on it. Writes are governed separately, by
    /// [`World::deny_secret_writes`], as IAM governs the two actions.
    pub fn deny_secret(&self, name: &str) {
        self.lock().denied_secrets.insert(name.to_owned());
    }

    /// Makes PutSecretValue on this name answer AccessDeniedException while reads still work:
    /// a role allowed `secretsmanager:GetSecretValue` but not `secretsmanager:PutSecretValue`.
    pub fn deny_secret_writes(&self, name: &str) {
        self.lock().denied_secret_writes.insert(name.to_owned());
    }

    /// Stores an SSM parameter (a new version if it exists) of type `type_`: "String",
    /// "StringList" or "SecureString".
    ///
    /// # Panics
    /// On any other type: a broken test setup.
    pub fn put_parameter(&self, name: &str, value: &str, type_: &str) {
        let type_ = ParameterType::from_name(type_)
            .unwrap_or_else(|| panic!("put_parameter: {type_:?} is not an SSM parameter type"));
        self.lock().store_parameter(name, value, type_, None);
    }

    /// Stores a SecureString encrypted with this KMS key (a new version if it exists).
    pub fn put_secure_parameter(&self, name: &str, value: &str, key_id: &str) {
        self.lock()
            .store_parameter(name, value, ParameterType::SecureString, Some(key_id));
    }

    /// The KMS key a SecureString is encrypted with; `None` for other types.
    pub fn parameter_key_id(&self, name: &str) -> Option<String> {
        self.lock()
            .parameters
            .get(name)
            .and_then(|p| p.key_id.clone())
    }

    /// The parameter's current value, in plain text whatever its type.
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.lock().parameters.get(name).map(|p| p.value.clone())
    }

    /// The parameter's current version: 1 when created, one more per overwrite.
    pub fn parameter_version(&self, name: &str) -> Option<u64> {
        self.lock().parameters.get(name).map(|p| p.version)
    }

    /// Makes every SSM call naming this parameter answer AccessDeniedException, as when the
    /// function's role lacks `ssm:GetParameters` and `ssm:PutParameter` on it.
    pub fn deny_parameter(&self, name: &str) {
        self.lock().denied_parameters.insert(name.to_owned());
    }

    /// Registers a connected app for the JWT bearer flow, replacing any app registered under
    /// the same client id (so registering the sandbox app twice is harmless).
    ///
    /// # Panics
    /// When `public_key_pem` is not an RSA public key in PEM form: a broken test setup.
    pub fn salesforce_jwt_client(&self, client_id: &str, username: &str, public_key_pem: &str) {
        let key = DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
            .expect("salesforce_jwt_client needs an RSA public key in PEM form");
        let clients = &mut self.lock().salesforce.jwt_clients;
        clients.retain(|c| c.client_id != client_id);
        clients.push(JwtClient {
            client_id: client_id.to_owned(),
            username: username.to_owned(),
            key,
        });
    }

    /// Registers a connected app for the client credentials flow.
    pub fn salesforce_client_credentials(&self, client_id: &str, client_secret: &str) {
        self.lock()
            .salesforce
            .client_secrets
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// Revokes every access token issued so far: the next Salesforce API call gets 401.
    pub fn expire_tokens(&self) {
        self.lock().salesforce.tokens.clear();
    }

    /// Sets the org's API request allocation: `used` calls counted so far out of `max`. Every
    /// authenticated REST call (query, query page, upload, upload status, conversation
    /// entries) counts one and reports the count in `Sforce-Limit-Info: api-usage=used/max`;
    /// once `used` reaches `max` they answer 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit
    /// exceeded." and are not counted. A world starts at 0 of 100,000 (an Enterprise
    /// Edition org's base allocation, licences left out). The count never ages out of the
    /// 24 hours: tests set it.
    pub fn set_api_allocation(&self, used: u64, max: u64) {
        let limits = &mut self.lock().salesforce.limits;
        limits.used = used;
        limits.max = max;
    }

    /// The org's API usage as `(used, max)`, what the next `Sforce-Limit-Info` reports (plus
    /// one for the call that carries it).
    pub fn api_usage(&self) -> (u64, u64) {
        let limits = &self.lock().salesforce.limits;
        (limits.used, limits.max)
    }

    /// Sets how many conversation entries GETs each connected app may make per user in a
    /// rolling hour (default 1,000, Salesforce's default). A GET beyond it answers 503
    /// REQUEST_LIMIT_EXCEEDED and counts in [`Stats::entries_reads_refused`], not towards the
    /// hour. The user is the one the access token was issued for: the JWT's `sub`, or the
    /// connected app's execution user for the client credentials flow.
    pub fn set_entries_reads_per_hour(&self, n: u32) {
        self.lock().salesforce.limits.entries_reads_per_hour = n;
    }

    /// Makes the entries limit's rolling hour last `window` instead: for a benchmark that
    /// compresses time, so the same count is allowed per compressed hour.
    pub fn set_entries_reads_window(&self, window: Duration) {
        self.lock().salesforce.limits.entries_window_ms =
            i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
    }

    /// Conversations Salesforce accepted (processed or not), in the order it accepted them.
    /// Entries delivered by [`World::deliver_realtime`] are not among them.
    pub fn uploads(&self) -> Vec<UploadRecord> {
        self.lock().salesforce.uploads.clone()
    }

    /// Records entries of a contact's transcript the way Service Cloud Voice's real-time
    /// transcription delivers them, as if the function were filling the gaps it left: the
    /// segments `i` (in BeginOffsetMillis order) for which `keep(i)` holds. Entry id = segment
    /// id, clientSentTimestamp = agent connection (initiation without an agent) + begin
    /// offset, clientDuration = end - begin, sender role AGENT or END_USER (CUSTOMER; other
    /// roles are not delivered) with the participant id as subject, relatedRecords the
    /// VoiceCall. `.../entries` returns them like uploaded ones; they are not uploads.
    ///
    /// # Panics
    /// When there is no such contact: a broken test setup.
    pub fn deliver_realtime(&self, contact_id: &str, keep: impl Fn(usize) -> bool) {
        let contact = self
            .contact(contact_id)
            .unwrap_or_else(|| panic!("deliver_realtime: no contact {contact_id}"));
        let mut turns: Vec<&Segment> = contact.segments.iter().collect();
        turns.sort_by_key(|turn| turn.begin_offset_millis);
        // Built before locking: `keep` is the caller's code.
        let entries: Vec<Value> = turns
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .filter_map(|(_, turn)| realtime_entry(&contact, turn))
            .collect();
        let salesforce = &mut self.lock().salesforce;
        for entry in entries {
            salesforce.hold_entry(contact.conversation_identifier(), entry);
        }
    }

    /// Everything the conversation holds, uploaded and real-time entries alike (doubles
    /// included), as `.../entries` returns it (oldest first) without its record limit. A
    /// transferred call's legs share one conversation, under its first leg's contactId.
    pub fn conversation_entries(&self, conversation_identifier: &str) -> Vec<Value> {
        self.lock().salesforce.entries(conversation_identifier)
    }

    /// Uploaded entries whose identifier their conversation already held (from an earlier
    /// upload or real-time delivery) when their upload was processed. Under the default
    /// [`ReuploadedEntries::Doubled`] each is a second copy a reader of the conversation sees;
    /// either way a client filling gaps should send none.
    pub fn duplicate_entries(&self) -> usize {
        self.lock().salesforce.duplicate_entries
    }

    /// Whether an entry uploaded again under an id its conversation holds is kept as a second
    /// entry (the default) or replaces the held one. Real-time deliveries follow it too.
    pub fn set_reuploaded_entries(&self, mode: ReuploadedEntries) {
        self.lock().salesforce.reuploaded_entries = mode;
    }

    /// Whether a later leg's own contactId names its call's conversation (undocumented; by
    /// default it names none).
    pub fn set_later_leg_identifiers(&self, mode: LaterLegIdentifiers) {
        self.lock().salesforce.later_leg_identifiers = mode;
    }

    /// Whether accepted uploads join their conversations at once (the default) or only at
    /// [`World::process_uploads`]. Deferred uploads are still answered SUCCESS and listed by
    /// [`World::uploads`]. Switching back to immediate leaves the pending ones pending.
    pub fn set_upload_processing(&self, mode: UploadProcessing) {
        self.lock().salesforce.upload_processing = mode;
    }

    /// Processes every pending upload in the order received: its entries join the conversation
    /// (and count towards [`World::duplicate_entries`]) and its status polls start counting
    /// towards [`World::set_upload_processing_polls`]. Returns how many there were.
    pub fn process_uploads(&self) -> usize {
        self.lock().salesforce.process_uploads()
    }

    /// Makes each upload's status report IN_PROGRESS (successEntryCount 0) to its first `n`
    /// status queries once processed, before its final status; 0 (the default) reports the
    /// final one at once. A pending upload ([`UploadProcessing::Deferred`]) is IN_PROGRESS
    /// however often it is polled.
    pub fn set_upload_processing_polls(&self, n: u32) {
        self.lock().salesforce.processing_polls = n;
    }

    /// Adds a VoiceCall record for the query resource, replacing one with the same id (where it
    /// stands in insertion order). `id` may have 15 or 18 characters; returns the 18-character
    /// id queries report.
    ///
    /// # Panics
    /// When `id` is not a Salesforce id (15 letters and digits, or those and their suffix): a
    /// broken test setup.
    pub fn add_voice_call(
        &self,
        id: &str,
        vendor_call_key: Option<&str>,
        call_start_ms: i64,
        call_end_ms: Option<i64>,
    ) -> String {
        let id18 = salesforce_id_18(id)
            .filter(|id18| id18[..15] == id[..15])
            .unwrap_or_else(|| panic!("add_voice_call: {id:?} is not a Salesforce id"));
        self.lock().salesforce.insert_voice_call(VoiceCall::single(
            id18.clone(),
            vendor_call_key.map(str::to_owned),
            call_start_ms,
            call_end_ms,
        ));
        id18
    }

    /// The VoiceCall records, in insertion order.
    pub fn voice_calls(&self) -> Vec<VoiceCall> {
        self.lock().salesforce.voice_calls.clone()
    }

    /// Query and `nextRecordsUrl` requests that got past authentication and the API
    /// allocation, whatever their outcome.
    pub fn query_requests(&self) -> u64 {
        self.lock().stats.query_requests
    }

    /// Upload POSTs that got past authentication and the API allocation, whatever their outcome
    /// (injected faults and retries included).
    pub fn upload_requests(&self) -> u64 {
        self.lock().stats.upload_requests
    }

    /// Access tokens issued by the token endpoint.
    pub fn token_mints(&self) -> u64 {
        self.lock().stats.token_mints
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Stores an S3 object (replacing any under that key), creating the bucket if needed.
    pub fn put_object(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        self.lock()
            .store_object(bucket, key, bytes.into(), now_ms());
    }

    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let state = self.lock();
        let object = state.s3.buckets.get(bucket)?.get(key)?;
        Some(object.bytes.clone())
    }

    /// The (bucket, key) of each multipart upload started and neither completed nor aborted,
    /// sorted: the uploads S3 would still hold (and bill) parts for.
    pub fn open_multipart_uploads(&self) -> Vec<(String, String)> {
        let state = self.lock();
        let mut open: Vec<(String, String)> = state
            .s3
            .uploads
            .values()
            .map(|upload| (upload.bucket.clone(), upload.key.clone()))
            .collect();
        open.sort();
        open
    }

    /// Creates an empty S3 bucket (nothing happens to an existing one).
    pub fn create_bucket(&self, bucket: &str) {
        self.lock().s3.buckets.entry(bucket.to_owned()).or_default();
    }

    /// Makes every S3 request on this bucket answer 403 AccessDenied, as when the function's
    /// role lacks `s3:ListBucket` and `s3:GetObject` on it.
    pub fn deny_bucket(&self, bucket: &str) {
        self.lock().s3.denied_buckets.insert(bucket.to_owned());
    }

    /// Creates an SQS queue (nothing happens if it exists) and returns its URL: on the SQS
    /// emulator started first on this world, or in the regional AWS form before one is. Both
    /// forms name the same queue.
    pub fn create_queue(&self, name: &str) -> String {
        let mut state = self.lock();
        state.sqs.queues.entry(name.to_owned()).or_default();
        queue_url(state.sqs.endpoint.as_deref(), name)
    }

    /// The messages sent to the queue so far, in the order received; empty for a queue that
    /// does not exist.
    pub fn sent_messages(&self, queue_url: &str) -> Vec<SentMessage> {
        let state = self.lock();
        queue_name(queue_url)
            .and_then(|name| state.sqs.queues.get(&name))
            .cloned()
            .unwrap_or_default()
    }

    /// The messages sent to the queue so far, removed from it, as a consumer receiving and
    /// deleting them would.
    pub fn take_sent_messages(&self, queue_url: &str) -> Vec<SentMessage> {
        let mut state = self.lock();
        queue_name(queue_url)
            .and_then(|name| state.sqs.queues.get_mut(&name))
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Arms a fault; faults are tried in the order they were injected.
    pub fn inject(&self, service: Service, fault: Fault) {
        self.lock().faults.push(ArmedFault { service, fault });
    }

    /// Disarms all faults not used up yet.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Delays every response of a service by this much (zero removes the delay).
    pub fn set_latency(&self, service: Service, latency: Duration) {
        self.lock().latency.insert(service, latency);
    }

    /// Limits Contact Lens to a token bucket of `rate_per_sec` refills and `burst` capacity;
    /// requests beyond it get 429 ThrottlingException. The bucket starts full.
    pub fn set_contact_lens_quota(&self, rate_per_sec: f64, burst: u32) {
        self.lock().contact_lens_quota = Some(TokenBucket::new(rate_per_sec, burst));
    }

    /// Logs each request (service, method, path, status) to stderr; the sandbox binary uses it.
    pub fn log_requests(&self, on: bool) {
        self.lock().log_requests = on;
    }

    /// Starts recording every request the emulators receive, for [`World::requests`]. Off
    /// until called: a long sandbox session or a benchmark would otherwise keep every request
    /// it ever served.
    pub fn record_requests(&self) {
        self.lock().requests.get_or_insert_with(Vec::new);
    }

    /// The requests received since [`World::record_requests`], in the order they arrived;
    /// empty without it.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone().unwrap_or_default()
    }

    /// The recorded requests one emulator received, in the order they arrived.
    pub fn requests_to(&self, service: Service) -> Vec<RequestRecord> {
        self.lock()
            .requests
            .iter()
            .flatten()
            .filter(|r| r.service == service)
            .cloned()
            .collect()
    }

    pub(crate) fn latency(&self, service: Service) -> Duration {
        self.lock()
            .latency
            .get(&service)
            .copied()
            .unwrap_or_default()
    }

    /// Counts a request that arrived; returns where it is recorded, when requests are.
    pub(crate) fn request_started(
        &self,
        service: Service,
        method: &str,
        path: &str,
    ) -> Option<usize> {
        let mut state = self.lock();
        let in_flight = {
            let n = state.in_flight.entry(service).or_default();
            *n += 1;
            *n
        };
        let stats = state.stats.service_mut(service);
        stats.requests += 1;
        stats.max_in_flight = stats.max_in_flight.max(in_flight);
        let requests = state.requests.as_mut()?;
        requests.push(RequestRecord {
            service,
            method: method.to_owned(),
            path: path.to_owned(),
            about: Vec::new(),
            received: tokio::time::Instant::now(),
            answered: None,
        });
        Some(requests.len() - 1)
    }

    /// Notes what the recorded request `at` is about.
    pub(crate) fn request_about(&self, at: usize, about: &[&str]) {
        if let Some(record) = self.lock().requests.as_mut().and_then(|r| r.get_mut(at)) {
            record.about = about.iter().map(|&id| id.to_owned()).collect();
        }
    }

    /// Called when a request ends, answered or abandoned by the client.
    pub(crate) fn request_ended(&self, service: Service) {
        if let Some(n) = self.lock().in_flight.get_mut(&service) {
            *n = n.saturating_sub(1);
        }
    }

    /// Counts an answered request (recorded at `at`, when requests are); returns whether it
    /// should be logged.
    pub(crate) fn record_response(
        &self,
        service: Service,
        at: Option<usize>,
        status: u16,
        throttled: bool,
    ) -> bool {
        let mut state = self.lock();
        let error = status >= 400;
        if let Some(record) = at.and_then(|at| state.requests.as_mut()?.get_mut(at)) {
            record.answered = Some((tokio::time::Instant::now(), status));
        }
        let stats = state.stats.service_mut(service);
        stats.errors += u64::from(error);
        stats.throttled += u64::from(throttled);
        state.log_requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_deterministic_and_distinct() {
        let first = World::new("i");
        let second = World::new("i");
        let a: Vec<String> = (0..3).map(|_| first.lock().next_uuid()).collect();
        let b: Vec<String> = (0..3).map(|_| second.lock().next_uuid()).collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
        assert_eq!(a[0].len(), 36);
        assert_eq!(a[0].matches('-').count(), 4);
    }

    #[test]
    fn parameters_get_a_new_version_per_write() {
        let world = World::new("i");
        world.put_parameter("p", "one", "String");
        assert_eq!(world.parameter_key_id("p"), None);
        world.put_parameter("p", "two", "SecureString");
        assert_eq!(world.parameter("p").as_deref(), Some("two"));
        assert_eq!(world.parameter_version("p"), Some(2));
        assert_eq!(
            world.parameter_key_id("p").as_deref(),
            Some(DEFAULT_SSM_KEY)
        );
        world.put_secure_parameter("p", "three", "alias/scv");
        assert_eq!(world.parameter_key_id("p").as_deref(), Some("alias/scv"));
        assert_eq!(world.parameter_version("other"), None);
    }

    #[test]
    #[should_panic(expected = "not an SSM parameter type")]
    fn unknown_parameter_types_are_a_setup_error() {
        World::new("i").put_parameter("p", "v", "Binary");
    }

    #[test]
    fn ids_get_the_suffix_that_records_their_case() {
        // "0LQ1Q": L, Q, Q upper (bits 1, 2, 4: 22, W); "00000": none (A); "2TZtn": T, Z (6, G).
        let id = |s: &str| salesforce_id_18(s);
        assert_eq!(id("0LQ1Q000002TZtn").as_deref(), Some("0LQ1Q000002TZtnWAG"));
        assert_eq!(
            id("0LQ1Q000002TZtnWAG").as_deref(),
            Some("0LQ1Q000002TZtnWAG")
        );
        // The suffix restores the case of an id whose case was lost.
        assert_eq!(
            id("0lq1q000002tztnwag").as_deref(),
            Some("0LQ1Q000002TZtnWAG")
        );
        assert_eq!(
            id("0LQ1Q000002TZtnAAA").as_deref(),
            Some("0lq1q000002tztnAAA")
        );
        for bad in [
            "0LQ1Q000002TZt",
            "0LQ1Q000002TZ-n",
            "0LQ1Q000002TZtnWA",
            "0LQ1Q000002TZtnZAG",
        ] {
            assert_eq!(id(bad), None, "{bad}");
        }
        // A digit cannot be marked upper case ("0LQ1Q" with all five bits: 31, '5').
        assert_eq!(id("0LQ1Q000002TZtn5AG"), None);
    }

    #[test]
    fn generated_ids_are_distinct_and_valid() {
        let a = generated_id("0LQ", 0);
        let b = generated_id("0LQ", u64::MAX);
        assert_eq!(a, "0LQ000000000000GAA");
        assert_eq!(b.len(), 18);
        assert_ne!(generated_id("0LQ", 61), generated_id("0LQ", 62));
        assert_eq!(salesforce_id_18(&b[..15]), Some(b));
    }

    #[test]
    fn voice_calls_keep_insertion_order_and_are_replaced_in_place() {
        let world = World::new("i");
        let first = world.add_voice_call("0LQ1Q000002TZtn", Some("a"), 2, None);
        world.add_voice_call("0LQ1Q000002TAtn", None, 1, None);
        assert_eq!(first, "0LQ1Q000002TZtnWAG");
        assert_eq!(
            world.add_voice_call("0LQ1Q000002TZtnwag", Some("b"), 3, Some(4)),
            first
        );
        let calls = world.voice_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].vendor_call_key.as_deref(), Some("b"));
        assert_eq!(calls[0].call_end_ms, Some(4));
        assert_eq!(calls[1].id, "0LQ1Q000002TAtnWAG");
    }

    #[test]
    #[should_panic(expected = "is not a Salesforce id")]
    fn voice_calls_need_a_salesforce_id() {
        World::new("i").add_voice_call("0LQ1Q000002TZtnAAA", None, 0, None);
    }

    #[test]
    fn default_contact_serves_realtime_analysis() {
        assert!(ContactSpec::default().realtime_available);
    }

    #[test]
    fn transferred_calls_chain_their_legs() {
        let world = World::new("i");
        let leg = |id: &str, call: &str| ContactSpec {
            contact_id: id.into(),
            voice_call_id: call.into(),
            ..ContactSpec::default()
        };
        let calls = world.add_transferred_call(vec![
            leg("a", "0LQ00000000000a"),
            leg("b", "0LQ00000000000b"),
            leg("c", "0LQ00000000000c"),
        ]);
        assert_eq!(calls.len(), 3);
        assert_eq!(world.voice_calls()[2].vendor_call_key.as_deref(), Some("c"));
        let a = world.contact("a").unwrap();
        assert_eq!(a.initial_contact_id, None);
        assert_eq!(a.initiation_method, InitiationMethod::Inbound);
        let c = world.contact("c").unwrap();
        assert_eq!(c.initial_contact_id.as_deref(), Some("a"));
        assert_eq!(c.previous_contact_id.as_deref(), Some("b"));
        assert_eq!(c.initiation_method, InitiationMethod::Transfer);
        let state = world.lock();
        assert!(state.has_later_legs("a"));
        assert!(!state.has_later_legs("b"));
    }

    fn leg(id: &str, call: &str, start: i64, end: Option<i64>) -> ContactSpec {
        ContactSpec {
            contact_id: id.into(),
            voice_call_id: call.into(),
            initiation_ms: start,
            disconnect_ms: end,
            ..ContactSpec::default()
        }
    }

    #[test]
    fn a_call_is_one_conversation_closed_when_its_last_leg_ends() {
        let world = World::new("i");
        world.add_contact(leg("single", "0LQ00000000000s", 0, Some(5)));
        world.add_transferred_call(vec![
            leg("a", "0LQ00000000000a", 10, Some(20)),
            leg("b", "0LQ00000000000b", 20, None),
        ]);
        let conversation = |id: &str| world.lock().conversation(id);
        let single = conversation("single").unwrap();
        assert_eq!((single.start_ms(), single.end_ms()), (0, Some(5)));
        let call = conversation("a").unwrap();
        assert_eq!(call.identifier, "a");
        assert_eq!(call.legs.len(), 2);
        assert_eq!(call.end_ms(), None, "b is still on the line");
        assert!(world.end_contact("b", 30));
        assert_eq!(conversation("a").unwrap().end_ms(), Some(30));
        assert_eq!(world.voice_calls()[1].call_end_ms, Some(30));
        assert!(conversation("nobody").is_none());
    }

    #[test]
    fn later_leg_ids_name_the_call_only_when_the_world_says_so() {
        let world = World::new("i");
        world.add_transferred_call(vec![
            leg("a", "0LQ00000000000a", 10, Some(20)),
            leg("b", "0LQ00000000000b", 20, Some(30)),
        ]);
        assert!(world.lock().conversation("b").is_none());
        world.set_later_leg_identifiers(LaterLegIdentifiers::CallConversation);
        let call = world.lock().conversation("b").unwrap();
        assert_eq!(call.identifier, "a");
        assert_eq!(call.legs.len(), 2);
    }

    #[test]
    fn a_consult_that_never_joined_keeps_its_own_conversation() {
        let world = World::new("i");
        let consult = ContactSpec {
            joined_call: false,
            ..leg("k", "0LQ00000000000k", 15, Some(18))
        };
        world.add_transferred_call(vec![leg("a", "0LQ00000000000a", 10, None), consult]);
        let k = world.contact("k").unwrap();
        assert_eq!(k.initial_contact_id.as_deref(), Some("a"));
        assert_eq!(k.conversation_identifier(), "k");
        let own = world.lock().conversation("k").unwrap();
        assert_eq!((own.identifier.as_str(), own.end_ms()), ("k", Some(18)));
        assert_eq!(world.lock().conversation("a").unwrap().legs.len(), 1);
    }

    #[test]
    fn transferred_voice_calls_chain_and_share_the_call_conversation() {
        let world = World::new("i");
        let consult = ContactSpec {
            joined_call: false,
            ..leg("k", "0LQ00000000000k", 15, Some(18))
        };
        let ids = world.add_transferred_call(vec![
            leg("a", "0LQ00000000000a", 10, Some(20)),
            leg("b", "0LQ00000000000b", 20, None),
            consult,
        ]);
        let calls = world.voice_calls();
        let types: Vec<CallType> = calls.iter().map(|c| c.call_type).collect();
        assert_eq!(
            types,
            [CallType::Inbound, CallType::Transfer, CallType::Consult]
        );
        assert_eq!(calls[0].previous_call_id, None);
        assert_eq!(calls[0].next_call_id.as_ref(), Some(&ids[1]));
        assert_eq!(calls[1].previous_call_id.as_ref(), Some(&ids[0]));
        assert_eq!(calls[2].next_call_id, None);

        let record = |at: usize| {
            let state = world.lock();
            state
                .salesforce
                .conversation_record(&state.salesforce.voice_calls[at])
        };
        let (a, b, k) = (record(0).unwrap(), record(1).unwrap(), record(2).unwrap());
        assert_eq!(a, b);
        assert_eq!((a.identifier.as_str(), a.end_ms), ("a", None));
        assert_eq!(a.id.len(), 18);
        assert!(a.id.starts_with(CONVERSATION_KEY_PREFIX));
        assert_ne!(k.id, a.id);
        assert_eq!((k.identifier.as_str(), k.end_ms), ("k", Some(18)));
        world.end_contact("b", 40);
        assert_eq!(record(0).unwrap().end_ms, Some(40));
    }

    #[test]
    fn default_contact_is_a_single_inbound_leg() {
        let contact = ContactSpec::default();
        assert_eq!(contact.initiation_method, InitiationMethod::Inbound);
        assert_eq!(contact.initial_contact_id, None);
        assert_eq!(contact.previous_contact_id, None);
        assert!(contact.joined_call);
    }
}
