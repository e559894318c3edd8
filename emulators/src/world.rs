//! The state shared by all emulators: what exists in the emulated accounts, what the client
//! did to it, and how the emulators are told to misbehave.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::DecodingKey;

use crate::fault::{ArmedFault, Fault};
use crate::latency::TokenBucket;

/// The emulated services; used to aim faults and latency and to read counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Connect,
    ContactLens,
    SecretsManager,
    Salesforce,
    Ssm,
}

impl Service {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Service::Connect => "connect",
            Service::ContactLens => "contact-lens",
            Service::SecretsManager => "secrets-manager",
            Service::Salesforce => "salesforce",
            Service::Ssm => "ssm",
        }
    }
}

/// One transcript turn, as Contact Lens reports it in a `Transcript` segment.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
        }
    }
}

/// One conversation accepted by the Salesforce upload resource.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadRecord {
    pub upload_id: String,
    pub conversation_id: String,
    /// The `payload` objects of the file's conversationEntry lines, as received, in file order.
    pub entries: Vec<serde_json::Value>,
    /// 1-based number of the upload request (see [`World::upload_requests`]) that carried it.
    pub request_index: u64,
    pub received_at_ms: i64,
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
    /// Successful Secrets Manager PutSecretValue calls.
    pub secret_writes: u64,
    /// Successful SSM PutParameter calls.
    pub parameter_writes: u64,
}

impl Stats {
    pub fn service(&self, service: Service) -> ServiceStats {
        match service {
            Service::Connect => self.connect,
            Service::ContactLens => self.contact_lens,
            Service::SecretsManager => self.secrets_manager,
            Service::Salesforce => self.salesforce,
            Service::Ssm => self.ssm,
        }
    }

    fn service_mut(&mut self, service: Service) -> &mut ServiceStats {
        match service {
            Service::Connect => &mut self.connect,
            Service::ContactLens => &mut self.contact_lens,
            Service::SecretsManager => &mut self.secrets_manager,
            Service::Salesforce => &mut self.salesforce,
            Service::Ssm => &mut self.ssm,
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

/// The current version of an SSM parameter; earlier versions are not kept.
pub(crate) struct Parameter {
    pub value: String,
    pub type_: ParameterType,
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
    pub tokens: HashSet<String>,
    pub uploads: Vec<UploadRecord>,
    /// Successful API calls reported in `Sforce-Limit-Info`.
    pub api_usage: u64,
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
    pub faults: Vec<ArmedFault>,
    pub latency: HashMap<Service, Duration>,
    pub contact_lens_quota: Option<TokenBucket>,
    pub stats: Stats,
    in_flight: HashMap<Service, u64>,
    pub log_requests: bool,
    /// Drives every generated id, so ids are the same from run to run.
    id_sequence: u64,
}

impl State {
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

    /// Stores a new version of a parameter (version 1 for a new one); returns its number.
    pub fn store_parameter(&mut self, name: &str, value: &str, type_: ParameterType) -> u64 {
        let version = self.parameters.get(name).map_or(0, |p| p.version) + 1;
        let parameter = Parameter {
            value: value.to_owned(),
            type_,
            version,
            modified_ms: now_ms(),
        };
        self.parameters.insert(name.to_owned(), parameter);
        version
    }
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
            faults: Vec::new(),
            latency: HashMap::new(),
            contact_lens_quota: None,
            stats: Stats::default(),
            in_flight: HashMap::new(),
            log_requests: false,
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
        self.lock().store_parameter(name, value, type_);
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

    /// Conversations Salesforce accepted, in the order it accepted them.
    pub fn uploads(&self) -> Vec<UploadRecord> {
        self.lock().salesforce.uploads.clone()
    }

    /// Upload POSTs that got past authentication, whatever their outcome (injected faults and
    /// retries included).
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

    pub(crate) fn latency(&self, service: Service) -> Duration {
        self.lock()
            .latency
            .get(&service)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn request_started(&self, service: Service) {
        let mut state = self.lock();
        let in_flight = {
            let n = state.in_flight.entry(service).or_default();
            *n += 1;
            *n
        };
        let stats = state.stats.service_mut(service);
        stats.requests += 1;
        stats.max_in_flight = stats.max_in_flight.max(in_flight);
    }

    /// Called when a request ends, answered or abandoned by the client.
    pub(crate) fn request_ended(&self, service: Service) {
        if let Some(n) = self.lock().in_flight.get_mut(&service) {
            *n = n.saturating_sub(1);
        }
    }

    /// Counts an answered request; returns whether it should be logged.
    pub(crate) fn record_response(&self, service: Service, error: bool, throttled: bool) -> bool {
        let mut state = self.lock();
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
        world.put_parameter("p", "two", "SecureString");
        assert_eq!(world.parameter("p").as_deref(), Some("two"));
        assert_eq!(world.parameter_version("p"), Some(2));
        assert_eq!(world.parameter_version("other"), None);
    }

    #[test]
    #[should_panic(expected = "not an SSM parameter type")]
    fn unknown_parameter_types_are_a_setup_error() {
        World::new("i").put_parameter("p", "v", "Binary");
    }

    #[test]
    fn default_contact_serves_realtime_analysis() {
        assert!(ContactSpec::default().realtime_available);
    }
}
