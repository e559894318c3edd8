//! Sample data: the documented example contacts plus one contact per failure path, generated
//! contacts for benchmarks, Contact Lens post-call analysis files, the test RSA keypair, the
//! function's secret JSON and the Service Cloud Voice (SCV) secrets and parameters the function
//! can read instead.
//!
//! Sample contacts (all in [`sample_world`]):
//!
//! | id | VoiceCall | what it exercises |
//! | --- | --- | --- |
//! | `faaa3a21-5990-48cd-a035-e85ca8c861ff` ([`SAMPLE_INTERNATIONAL`]) | `0LQ1Q000002TZtn` | finished, agent, 9 turns with accented Latin text and emoji (one with a skin-tone modifier), a Categories segment after turn 2 |
//! | `f15c9342-65a1-41e8-a752-81d630a2890d` ([`SAMPLE_CJK`]) | `0LQ1Q000002TAtn` | finished, agent, 9 turns of Japanese, Chinese and Korean with emoji (one ZWJ sequence), a Categories segment after turn 3 |
//! | [`SAMPLE_IN_PROGRESS`] | `0LQ1Q000003SB01` | call still in progress: no DisconnectTimestamp, analysis running |
//! | [`SAMPLE_NO_AGENT`] | `0LQ1Q000003SB02` | finished without reaching an agent: no AgentInfo (has customer turns) |
//! | [`SAMPLE_ANALYSIS_RUNNING`] | `0LQ1Q000003SB03` | finished, but Contact Lens still answers with a NextToken after the last segment |
//! | [`SAMPLE_NO_TRANSCRIPT`] | `0LQ1Q000003SB04` | finished, agent, only a Categories segment: zero transcript turns |
//! | [`SAMPLE_REALTIME_UNAVAILABLE`] | `0LQ1Q000003SB05` | finished 30 h ago: Contact Lens answers 404 ResourceNotFoundException, and there is no analysis file either |
//! | [`SAMPLE_OLD_CALL`] | `0LQ1Q000003SB06` | finished about 50 h ago: Contact Lens 404, analysis files (raw and redacted) in [`SAMPLE_ANALYSIS_BUCKET`]; 6 turns of German, French and Japanese, a Categories match after turn 2 |
//! | [`SAMPLE_PARTIALLY_DELIVERED`] | `0LQ1Q000003SB08` | finished 40 min ago, agent, 8 turns; real-time delivery reached Salesforce with only turns 1, 3, 5 and 7: what automatic repair fills in |
//! | [`SAMPLE_OLD_CALL_MIDNIGHT`] | `0LQ1Q000003SB07` | connected at 23:58 UTC three days ago, ended 00:02 the next day: Contact Lens 404, analysis files dated by the first day (timed by the second); 5 turns of French and Japanese |
//! | [`SAMPLE_TRANSFERRED`]`[0]` (`…1a09`) | `0LQ1Q000003SBT1` | first leg of a cold transfer, started 35 min ago, agent, 4 turns; real-time delivery reached Salesforce with only turns 1 and 2 |
//! | [`SAMPLE_TRANSFERRED`]`[1]` (`…1a10`) | `0LQ1Q000003SBT2` | second leg, from when the first ended: InitialContactId and PreviousContactId the first leg, InitiationMethod TRANSFER, 6 turns; real-time delivery reached Salesforce with only turns 1, 3 and 5 |
//!
//! The two legs of [`SAMPLE_TRANSFERRED`] are one call (`transferred-calls.json`, added with
//! [`World::add_transferred_call`]): their VoiceCalls are chained by PreviousCallId and
//! NextCallId, and both are in the Conversation of the first leg's contactId, which holds the
//! five entries real-time delivery stored; automatic repair fills the other five, all legs in
//! one part, from the event of the leg that ended last.
//!
//! Wall-clock times are relative to when the world is built (recent calls, inside Contact
//! Lens' 24-hour window, except the three that ended more than 24 hours ago); everything else
//! is fixed. Each contact's disconnect time leaves room for the last turn whether a client
//! anchors the offsets at the contact's initiation or at the agent connection.
//!
//! Each sample contact also has its VoiceCall record for the query resource: the 18-character
//! form of its VoiceCall id, VendorCallKey = the contactId, CallStartDateTime = the initiation,
//! CallEndDateTime = the disconnect (null while in progress). Three more VoiceCalls,
//! [`SAMPLE_VOICE_CALLS_WITHOUT_KEY`], have a null VendorCallKey (calls Service Cloud Voice
//! holds no contact for): 25 minutes, 3 hours and 49 hours ago, 6 minutes long each.
//!
//! The contacts and VoiceCalls are data, in `tests/fixtures/sample-world/` (compiled in);
//! analysis files, generated contacts and the secrets are made here.

use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use time::Time;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::aws::ACCOUNT_ID;
use crate::world::{
    CategoryMatch, ContactSpec, Segment, VoiceCall, World, format_utc, generated_id, now_ms,
    splitmix64, unix_ms, utc,
};

pub const SAMPLE_INTERNATIONAL: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";
pub const SAMPLE_CJK: &str = "f15c9342-65a1-41e8-a752-81d630a2890d";
pub const SAMPLE_IN_PROGRESS: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a01";
pub const SAMPLE_NO_AGENT: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a02";
pub const SAMPLE_ANALYSIS_RUNNING: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a03";
pub const SAMPLE_NO_TRANSCRIPT: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a04";
pub const SAMPLE_REALTIME_UNAVAILABLE: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a05";
pub const SAMPLE_OLD_CALL: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a06";
pub const SAMPLE_OLD_CALL_MIDNIGHT: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a07";
pub const SAMPLE_PARTIALLY_DELIVERED: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a08";
/// The legs of the sample world's transferred call, first leg first (a cold transfer A -> B).
pub const SAMPLE_TRANSFERRED: [&str; 2] = [
    "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a09",
    "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a10",
];

/// The VoiceCalls of [`sample_world`] whose VendorCallKey is null, 18-character ids
/// (`0LQ1Q000003SBN1` to `N3`), started 25 minutes, 3 hours and 49 hours before the world was
/// built: what a `VendorCallKey != null` filter leaves out.
pub const SAMPLE_VOICE_CALLS_WITHOUT_KEY: [&str; 3] = [
    "0LQ1Q000003SBN1WAO",
    "0LQ1Q000003SBN2WAO",
    "0LQ1Q000003SBN3WAO",
];

/// The bucket [`sample_world`] keeps Contact Lens post-call analysis files in.
pub const SAMPLE_ANALYSIS_BUCKET: &str = "amazon-connect-sample-recordings";

/// The sandbox's connected app, user and secret name (see [`register_sandbox_salesforce`]).
pub const SANDBOX_CLIENT_ID: &str = "3MVG9emulator.sandbox.consumer.key";
pub const SANDBOX_USERNAME: &str = "integration@contact-data-sync.example";
pub const SANDBOX_SECRET_ID: &str = "contact-data-sync/salesforce";
/// The call center whose SCV secrets and parameters the sandbox holds (see
/// [`register_scv_salesforce`]).
pub const SANDBOX_CALL_CENTER: &str = "SandboxCallCenter";
/// What SCV's token-cache secret and parameter hold in the sandbox: shaped like a Salesforce
/// access token, but never issued by the emulator (hex is all it mints), so the API answers
/// 401 INVALID_SESSION_ID to it, as to an expired token SCV left behind.
pub const SCV_STALE_TOKEN: &str = "00DEMU000000000!AQ4AQStaleTokenLeftInTheScvSecretNotIssued";

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The date folders of Contact Lens output and call recordings: `2024/02/29`.
const DATE_PATH: &[BorrowedFormatItem<'_>] = format_description!("[year]/[month]/[day]");
/// The time in analysis file names: `2024-03-01T00:02:15Z`.
const FILE_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
/// The start in call recording names: `20240229T23:58`.
const RECORDING_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]T[hour]:[minute]");

/// The start of the UTC day holding `ms`.
fn day_start(ms: i64) -> i64 {
    unix_ms(utc(ms).replace_time(Time::MIDNIGHT))
}

/// The test RSA private key (PKCS#8 PEM) that signs JWT assertions in tests.
pub fn test_private_key_pem() -> &'static str {
    include_str!("../../fixtures/keys/test-jwt-key.pem")
}

/// The public half of [`test_private_key_pem`], to register with
/// [`World::salesforce_jwt_client`].
pub fn test_public_key_pem() -> &'static str {
    include_str!("../../fixtures/keys/test-jwt-key.pub.pem")
}

/// The function's Salesforce secret for the JWT bearer flow.
pub fn jwt_secret_json(
    login_url: &str,
    client_id: &str,
    username: &str,
    private_key_pem: &str,
) -> String {
    json!({
        "authFlow": "jwt-bearer",
        "loginUrl": login_url,
        "clientId": client_id,
        "username": username,
        "privateKey": private_key_pem,
    })
    .to_string()
}

/// The function's Salesforce secret for the client credentials flow.
pub fn client_credentials_secret_json(
    login_url: &str,
    client_id: &str,
    client_secret: &str,
) -> String {
    json!({
        "authFlow": "client-credentials",
        "loginUrl": login_url,
        "clientId": client_id,
        "clientSecret": client_secret,
    })
    .to_string()
}

/// Registers the test keypair's connected app and stores the function's secret (JWT bearer,
/// loginUrl = `salesforce_url`) as [`SANDBOX_SECRET_ID`].
pub fn register_sandbox_salesforce(world: &World, salesforce_url: &str) {
    world.salesforce_jwt_client(SANDBOX_CLIENT_ID, SANDBOX_USERNAME, test_public_key_pem());
    let secret = jwt_secret_json(
        salesforce_url,
        SANDBOX_CLIENT_ID,
        SANDBOX_USERNAME,
        test_private_key_pem(),
    );
    world.put_secret(SANDBOX_SECRET_ID, &secret);
}

/// The name of the secret an SCV deployment keeps its Salesforce connection in.
pub fn scv_secret_name(call_center: &str) -> String {
    format!("{call_center}-salesforce-secret")
}

/// The name of the secret SCV caches its Salesforce access token in.
pub fn scv_token_secret_name(call_center: &str) -> String {
    format!("{call_center}-salesforce-access-token-secret")
}

/// The key of the access token inside [`scv_token_secret_name`]'s JSON, which is also the name
/// of the SSM parameter older deployments cache it in.
pub fn scv_token_key(call_center: &str) -> String {
    scv_key(call_center, "access-token")
}

/// SCV names its JWT values `<call center>-salesforce-rest-api-<what>`, both as keys of its
/// secret and as SSM parameter names.
fn scv_key(call_center: &str, what: &str) -> String {
    format!("{call_center}-salesforce-rest-api-{what}")
}

/// The SCV secret: the JWT bearer values of the sandbox connected app ([`SANDBOX_CLIENT_ID`],
/// [`SANDBOX_USERNAME`], [`test_private_key_pem`]) plus the full token URL, the REST API base
/// (`.../services/data/vNN.N/`) and the JWT audience.
pub fn scv_secret_json(
    call_center: &str,
    auth_endpoint: &str,
    rest_api_endpoint_base: &str,
    audience: &str,
) -> String {
    let mut secret = serde_json::Map::new();
    let mut put = |key: String, value: &str| secret.insert(key, Value::from(value));
    put("CALL_CENTER_API_NAME".into(), call_center);
    put("SALESFORCE_AUTH_ENDPOINT".into(), auth_endpoint);
    put(
        "SALESFORCE_REST_API_ENDPOINT_BASE".into(),
        rest_api_endpoint_base,
    );
    for (what, value) in scv_jwt_values(audience) {
        put(scv_key(call_center, what), value);
    }
    Value::Object(secret).to_string()
}

/// The JWT bearer values SCV keeps under [`scv_key`] names, in its secret and in SSM.
fn scv_jwt_values(audience: &str) -> [(&'static str, &str); 4] {
    [
        ("auth-consumer-key", SANDBOX_CLIENT_ID),
        ("auth-private-key", test_private_key_pem()),
        ("audience", audience),
        ("subject", SANDBOX_USERNAME),
    ]
}

/// Sets up Salesforce the way an SCV deployment for `call_center` sees it: the sandbox JWT
/// connected app (as [`register_sandbox_salesforce`] registers it; doing both is harmless),
/// the SCV secret (token URL on `login_url`, audience `login_url`, REST API base
/// `rest_api_endpoint_base`, e.g. a second Salesforce server's `{url}/services/data/v62.0/`),
/// the token-cache secret holding [`SCV_STALE_TOKEN`], and the SSM parameters of older
/// deployments: the four JWT values (the private key a SecureString) and the stale token (a
/// SecureString).
pub fn register_scv_salesforce(
    world: &World,
    call_center: &str,
    login_url: &str,
    rest_api_endpoint_base: &str,
) {
    world.salesforce_jwt_client(SANDBOX_CLIENT_ID, SANDBOX_USERNAME, test_public_key_pem());
    let login_url = login_url.trim_end_matches('/');
    let auth_endpoint = format!("{login_url}/services/oauth2/token");
    world.put_secret(
        &scv_secret_name(call_center),
        &scv_secret_json(
            call_center,
            &auth_endpoint,
            rest_api_endpoint_base,
            login_url,
        ),
    );
    let token_cache = json!({ scv_token_key(call_center): SCV_STALE_TOKEN });
    world.put_secret(
        &scv_token_secret_name(call_center),
        &token_cache.to_string(),
    );
    for (what, value) in scv_jwt_values(login_url) {
        let type_ = if what == "auth-private-key" {
            "SecureString"
        } else {
            "String"
        };
        world.put_parameter(&scv_key(call_center, what), value, type_);
    }
    world.put_parameter(&scv_token_key(call_center), SCV_STALE_TOKEN, "SecureString");
}

/// A world holding the sample contacts of the table above, as
/// `tests/fixtures/sample-world/contacts.json` describes them, their VoiceCalls, the
/// VoiceCalls of `voice-calls-without-key.json`, and the legs of `transferred-calls.json`
/// with theirs (added last).
pub fn sample_world(instance_id: &str) -> World {
    let world = World::new(instance_id);
    let now = now_ms();
    let contacts: Vec<SampleContact> = fixture(
        "contacts.json",
        include_str!("../../fixtures/sample-world/contacts.json"),
    );
    for sample in &contacts {
        let contact = sample.contact(now);
        if sample.analysis_files {
            for redacted in [false, true] {
                put_analysis_file(&world, SAMPLE_ANALYSIS_BUCKET, &contact, redacted);
            }
        }
        world.add_voice_call(
            &contact.voice_call_id,
            Some(&contact.contact_id),
            contact.initiation_ms,
            contact.disconnect_ms,
        );
        world.add_contact(contact);
        if let Some(delivered) = &sample.realtime_delivered_turns {
            world.deliver_realtime(&sample.contact_id, |turn| delivered.contains(&turn));
        }
    }
    let unkeyed: Vec<SampleVoiceCall> = fixture(
        "voice-calls-without-key.json",
        include_str!("../../fixtures/sample-world/voice-calls-without-key.json"),
    );
    for call in unkeyed {
        let started = call.start.initiation(now);
        let ended = started + call.length_seconds * 1000;
        world.add_voice_call(&call.id, None, started, Some(ended));
    }
    let transferred: Vec<SampleTransferredCall> = fixture(
        "transferred-calls.json",
        include_str!("../../fixtures/sample-world/transferred-calls.json"),
    );
    for call in &transferred {
        world.add_transferred_call(call.legs(now));
        // After the legs are added: real-time entries go to the call's conversation.
        for leg in &call.legs {
            if let Some(delivered) = &leg.realtime_delivered_turns {
                world.deliver_realtime(&leg.contact_id, |turn| delivered.contains(&turn));
            }
        }
    }
    world
}

/// How long after its initiation a sample call reaches its agent.
const AGENT_ANSWERS_MS: i64 = 35_000;

/// When a sample call started, relative to when the world is built.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum Start {
    MinutesAgo(i64),
    /// Reached its agent this many minutes before the day before yesterday began (UTC): so a
    /// call of a few minutes that crosses midnight ended more than 24 h ago whatever the time
    /// now (one that ended just after yesterday began would be younger in the first minutes of
    /// today).
    ConnectedMinutesBeforeDayBeforeYesterday(i64),
}

impl Start {
    fn initiation(&self, now: i64) -> i64 {
        match self {
            Start::MinutesAgo(minutes) => now - minutes * MINUTE_MS,
            Start::ConnectedMinutesBeforeDayBeforeYesterday(minutes) => {
                day_start(now) - 2 * DAY_MS - minutes * MINUTE_MS - AGENT_ANSWERS_MS
            }
        }
    }
}

/// A sample contact as `contacts.json` describes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SampleContact {
    contact_id: String,
    voice_call_id: String,
    start: Start,
    /// Its turns and categories are `tests/fixtures/transcripts/<contactId>.json`.
    #[serde(default)]
    transcript_fixture: bool,
    /// Turn `n` (from 1) is this followed by `n` in 8 digits.
    #[serde(default)]
    turn_id_prefix: String,
    /// (participant, content), offsets paced by the content's length.
    #[serde(default)]
    turns: Vec<(String, String)>,
    #[serde(default)]
    categories: Vec<CategoryMatch>,
    /// From initiation to disconnect; without it, the call ends 15 s after its last turn.
    length_seconds: Option<i64>,
    /// No disconnect yet.
    #[serde(default)]
    in_progress: bool,
    #[serde(default)]
    no_agent: bool,
    #[serde(default)]
    analysis_running: bool,
    #[serde(default = "available")]
    realtime_available: bool,
    /// Its post-call analysis files, raw and redacted, are in [`SAMPLE_ANALYSIS_BUCKET`].
    #[serde(default)]
    analysis_files: bool,
    /// The turns (from 0) real-time transcription delivered to Salesforce.
    realtime_delivered_turns: Option<Vec<usize>>,
}

fn available() -> bool {
    true
}

impl SampleContact {
    fn contact(&self, now: i64) -> ContactSpec {
        let (segments, categories) = if self.transcript_fixture {
            transcript_fixture(&self.contact_id)
        } else {
            (
                turns(&self.turn_id_prefix, &self.turns),
                self.categories.clone(),
            )
        };
        let initiation = self.start.initiation(now);
        let connected = initiation + AGENT_ANSWERS_MS;
        let disconnect = match self.length_seconds {
            _ if self.in_progress => None,
            Some(seconds) => Some(initiation + seconds * 1000),
            None => Some(connected + last_end(&segments) + 15_000),
        };
        ContactSpec {
            contact_id: self.contact_id.clone(),
            voice_call_id: self.voice_call_id.clone(),
            initiation_ms: initiation,
            connected_to_agent_ms: (!self.no_agent).then_some(connected),
            disconnect_ms: disconnect,
            segments,
            categories,
            analysis_running: self.analysis_running,
            realtime_available: self.realtime_available,
            ..ContactSpec::default()
        }
    }
}

/// A finished call that reached its agent [`AGENT_ANSWERS_MS`] after `initiation` and ended
/// 15 s after its last turn.
fn finished_call(
    contact_id: &str,
    voice_call_id: &str,
    initiation: i64,
    segments: Vec<Segment>,
) -> ContactSpec {
    let connected = initiation + AGENT_ANSWERS_MS;
    ContactSpec {
        contact_id: contact_id.to_owned(),
        voice_call_id: voice_call_id.to_owned(),
        initiation_ms: initiation,
        connected_to_agent_ms: Some(connected),
        disconnect_ms: Some(connected + last_end(&segments) + 15_000),
        segments,
        ..ContactSpec::default()
    }
}

/// A transferred call as `transferred-calls.json` describes it: its first leg starts at
/// `start`, each later leg when the one before it ended.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SampleTransferredCall {
    start: Start,
    legs: Vec<SampleLeg>,
}

/// One leg of a [`SampleTransferredCall`]: a finished call that reached its agent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SampleLeg {
    contact_id: String,
    voice_call_id: String,
    /// As [`SampleContact`]'s.
    turn_id_prefix: String,
    turns: Vec<(String, String)>,
    /// The turns (from 0) real-time transcription delivered to Salesforce.
    realtime_delivered_turns: Option<Vec<usize>>,
}

impl SampleTransferredCall {
    /// The legs, first leg first, for [`World::add_transferred_call`] (which links them).
    fn legs(&self, now: i64) -> Vec<ContactSpec> {
        let mut starts = self.start.initiation(now);
        self.legs
            .iter()
            .map(|leg| {
                let contact = finished_call(
                    &leg.contact_id,
                    &leg.voice_call_id,
                    starts,
                    turns(&leg.turn_id_prefix, &leg.turns),
                );
                starts = contact.disconnect_ms.unwrap_or(starts);
                contact
            })
            .collect()
    }
}

/// A VoiceCall of `voice-calls-without-key.json`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SampleVoiceCall {
    id: String,
    start: Start,
    length_seconds: i64,
}

/// How long each VoiceCall [`fill_voice_calls`] adds lasts.
const FILLED_CALL_MS: i64 = 4 * MINUTE_MS;

/// Adds `count` VoiceCalls to `world`, the `i`-th starting at `start_ms + i * step_ms` and
/// lasting four minutes, each with a new id (`0LQ` and 12 generated characters, with their
/// checksum: 18 characters) and a new UUID as VendorCallKey. Returns (id, VendorCallKey) in
/// insertion order. Both come from the world's id sequence, so they differ from each other
/// and from earlier calls', and are the same from run to run.
pub fn fill_voice_calls(
    world: &World,
    start_ms: i64,
    count: usize,
    step_ms: i64,
) -> Vec<(String, String)> {
    let mut state = world.lock();
    (0..count)
        .zip(0_i64..)
        .map(|(_, i)| {
            let id = generated_id("0LQ", state.next_random());
            let vendor_call_key = state.next_uuid();
            let started = start_ms + i * step_ms;
            state.salesforce.insert_voice_call(VoiceCall::single(
                id.clone(),
                Some(vendor_call_key.clone()),
                started,
                Some(started + FILLED_CALL_MS),
            ));
            (id, vendor_call_key)
        })
        .collect()
}

/// What analysis files give as CustomerMetadata.InstanceId. The file is built from the contact
/// alone, which does not name its instance, so it is a fixed placeholder, not the world's.
const ANALYSIS_INSTANCE_ID: &str = "00000000-0000-4000-8000-0000000a11a5";

/// Where Contact Lens writes a contact's post-call analysis file:
/// `Analysis/Voice/YYYY/MM/DD/<contactId>_analysis_<YYYY-MM-DDTHH:MM:SSZ>.json`, dated by the
/// agent connection (UTC) and timed by the disconnect, since the file is written after the
/// call; the redacted copy is
/// `Analysis/Voice/Redacted/YYYY/MM/DD/<contactId>_analysis_redacted_<time>.json`.
///
/// # Panics
/// For a contact without an agent connection or a disconnect: there is no such file.
pub fn analysis_key(contact: &ContactSpec, redacted: bool) -> String {
    let (connected, ended) = analysed_call(contact);
    let (folder, name) = if redacted {
        ("Analysis/Voice/Redacted", "analysis_redacted")
    } else {
        ("Analysis/Voice", "analysis")
    };
    format!(
        "{folder}/{}/{}_{name}_{}.json",
        format_utc(connected, DATE_PATH),
        contact.contact_id,
        format_utc(ended, FILE_TIME)
    )
}

/// (agent connection, disconnect) of a call Contact Lens analysed after it ended.
fn analysed_call(contact: &ContactSpec) -> (i64, i64) {
    match (contact.connected_to_agent_ms, contact.disconnect_ms) {
        (Some(connected), Some(ended)) => (connected, ended),
        _ => panic!(
            "contact {} has no post-call analysis: it needs an agent connection and a disconnect",
            contact.contact_id
        ),
    }
}

/// The post-call transcript is a transcription of its own: its turns have ids of their own,
/// not those of the real-time segments (apis.md, "How SCV's own live path writes entries").
/// Derived from the segment's id so that files stay reproducible.
fn post_call_id(segment_id: &str) -> String {
    let hex: String = segment_id.chars().filter(char::is_ascii_hexdigit).collect();
    let (front, back) = hex.split_at(hex.len() / 2);
    let swapped = format!("{back}{front}");
    if swapped.len() != 32 {
        return format!("{segment_id}-post-call");
    }
    let part = |from: usize, to: usize| &swapped[from..to];
    format!(
        "{}-{}-{}-{}-{}",
        part(0, 8),
        part(8, 12),
        part(12, 16),
        part(16, 20),
        part(20, 32)
    )
}

/// A contact's post-call analysis file as Contact Lens writes it (version 1.1.0): metadata,
/// participants, categories, conversation characteristics and the `Transcript` turns with the
/// same ParticipantId, Content, offsets and Sentiment as the real-time segments (but Ids of
/// their own: [`post_call_id`]), plus a
/// LoudnessScore per second. The redacted file differs only in `ContentMetadata` and in the
/// turns' Content, where every run of digits and every name of a fixed list (those the sample
/// speech uses) reads `[PII]`. CustomerMetadata.InstanceId is a fixed placeholder: the contact
/// does not name its instance.
///
/// # Panics
/// For a contact without an agent connection or a disconnect, as [`analysis_key`].
pub fn analysis_file_json(contact: &ContactSpec, redacted: bool) -> String {
    let (connected, _) = analysed_call(contact);
    let content_metadata = if redacted {
        json!({ "Output": "Redacted", "RedactionTypes": ["PII"] })
    } else {
        json!({ "Output": "Raw" })
    };
    let transcript: Vec<Value> = contact
        .segments
        .iter()
        .map(|turn| {
            json!({
                "BeginOffsetMillis": turn.begin_offset_millis,
                "EndOffsetMillis": turn.end_offset_millis,
                "Id": post_call_id(&turn.id),
                "ParticipantId": turn.participant_id,
                "Content": if redacted { redact(&turn.content) } else { turn.content.clone() },
                "Sentiment": turn.sentiment,
                "LoudnessScore": loudness(turn),
            })
        })
        .collect();
    let recording = format!(
        "s3://{SAMPLE_ANALYSIS_BUCKET}/connect/sample/CallRecordings/{}/{}_{}_UTC.wav",
        format_utc(connected, DATE_PATH),
        contact.contact_id,
        format_utc(connected, RECORDING_TIME)
    );
    json!({
        "Version": "1.1.0",
        "AccountId": ACCOUNT_ID,
        "Channel": "VOICE",
        "ContentMetadata": content_metadata,
        "JobStatus": "COMPLETED",
        "LanguageCode": "en-US",
        "Participants": participants(&contact.segments),
        "Categories": categories(contact),
        "ConversationCharacteristics": characteristics(&contact.segments),
        "CustomerMetadata": {
            "ContactId": contact.contact_id,
            "InstanceId": ANALYSIS_INSTANCE_ID,
            "InputS3Uri": recording,
        },
        "Transcript": transcript,
    })
    .to_string()
}

/// Each ParticipantId the transcript uses, with its role, in order of first appearance.
fn participants(segments: &[Segment]) -> Vec<Value> {
    let mut seen: Vec<&Segment> = Vec::new();
    for segment in segments {
        if !seen
            .iter()
            .any(|s| s.participant_id == segment.participant_id)
        {
            seen.push(segment);
        }
    }
    seen.iter()
        .map(
            |s| json!({ "ParticipantId": s.participant_id, "ParticipantRole": s.participant_role }),
        )
        .collect()
}

/// The matched categories, each pointing at the turn that matched it (the one before it).
fn categories(contact: &ContactSpec) -> Value {
    let mut names = Vec::new();
    let mut details = Map::new();
    for category in &contact.categories {
        let turn = category
            .after_segment
            .checked_sub(1)
            .and_then(|i| contact.segments.get(i));
        let points: Vec<Value> = turn
            .map(|t| json!({ "BeginOffsetMillis": t.begin_offset_millis, "EndOffsetMillis": t.end_offset_millis }))
            .into_iter()
            .collect();
        for name in &category.matched_categories {
            names.push(name.clone());
            details.insert(name.clone(), json!({ "PointsOfInterest": points }));
        }
    }
    json!({ "MatchedCategories": names, "MatchedDetails": details })
}

/// Talk time and overall sentiment (-5 to 5) by role; no interruptions, no silences measured.
fn characteristics(segments: &[Segment]) -> Value {
    let mut talk = Map::new();
    let mut sentiment = Map::new();
    let mut roles: Vec<&str> = segments
        .iter()
        .map(|s| s.participant_role.as_str())
        .collect();
    roles.sort_unstable();
    roles.dedup();
    for role in roles {
        let turns: Vec<&Segment> = segments
            .iter()
            .filter(|s| s.participant_role == role)
            .collect();
        let millis: i64 = turns
            .iter()
            .map(|t| t.end_offset_millis - t.begin_offset_millis)
            .sum();
        let score: f64 = turns
            .iter()
            .map(|t| match t.sentiment.as_str() {
                "POSITIVE" => 5.0,
                "NEGATIVE" => -5.0,
                _ => 0.0,
            })
            .sum::<f64>()
            / turns.len() as f64;
        talk.insert(role.to_owned(), json!({ "TotalTimeMillis": millis }));
        sentiment.insert(role.to_owned(), json!((score * 10.0).round() / 10.0));
    }
    let talk_total: i64 = segments
        .iter()
        .map(|t| t.end_offset_millis - t.begin_offset_millis)
        .sum();
    json!({
        "TotalConversationDurationMillis": segments.iter().map(|s| s.end_offset_millis).max().unwrap_or(0),
        "TalkTime": { "TotalTimeMillis": talk_total, "DetailsByParticipant": talk },
        "Sentiment": { "OverallSentiment": sentiment },
        "Interruptions": { "TotalCount": 0, "TotalTimeMillis": 0, "InterruptionsByInterrupter": {} },
        "NonTalkTime": { "TotalTimeMillis": 0, "Instances": [] },
    })
}

/// One loudness score (decibels) per started second of the turn, derived from its id.
fn loudness(turn: &Segment) -> Vec<f64> {
    let seconds = (turn.end_offset_millis - turn.begin_offset_millis + 999) / 1000;
    let seed = turn
        .id
        .bytes()
        .fold(0u64, |h, b| splitmix64(h ^ u64::from(b)));
    (0..seconds.max(1))
        .map(|second| {
            let noise = splitmix64(seed.wrapping_add(second.unsigned_abs())) % 3000;
            55.0 + noise as f64 / 100.0
        })
        .collect()
}

/// The names and places the sample speech uses; redaction replaces them and every run of
/// digits with `[PII]`, as Contact Lens marks redacted PII.
static PII_WORDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    fixture(
        "pii-words.json",
        include_str!("../../fixtures/sample-world/pii-words.json"),
    )
});

fn redact(content: &str) -> String {
    let mut redacted = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(c) = rest.chars().next() {
        let starts_word = !redacted
            .chars()
            .last()
            .is_some_and(|p: char| p.is_ascii_alphanumeric());
        let name = PII_WORDS.iter().find(|word| {
            rest.strip_prefix(word.as_str()).is_some_and(|after| {
                starts_word
                    && !after
                        .chars()
                        .next()
                        .is_some_and(|n| n.is_ascii_alphanumeric())
            })
        });
        if let Some(name) = name {
            redacted.push_str("[PII]");
            rest = &rest[name.len()..];
        } else if c.is_numeric() {
            redacted.push_str("[PII]");
            rest = rest.trim_start_matches(char::is_numeric);
        } else {
            redacted.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    redacted
}

/// Stores the contact's analysis file (raw or redacted) under [`analysis_key`] in `bucket`,
/// last modified at the disconnect.
///
/// # Panics
/// For a contact without an agent connection or a disconnect, as [`analysis_key`].
pub fn put_analysis_file(world: &World, bucket: &str, contact: &ContactSpec, redacted: bool) {
    let (_, ended) = analysed_call(contact);
    let file = analysis_file_json(contact, redacted).into_bytes();
    world
        .lock()
        .store_object(bucket, &analysis_key(contact, redacted), file, ended);
}

/// Makes the UTC day holding `day_prefix_ms` a busy one: the analysis files, raw and redacted,
/// of `n` other contacts (as [`generated_contacts`] makes them from `seed`, with 4 turns each)
/// whose calls connected at evenly spread times of that day, so each of the day's two
/// prefixes holds `n` more keys. The contacts themselves are not added to the world.
pub fn fill_analysis_day(world: &World, bucket: &str, day_prefix_ms: i64, n: usize, seed: u64) {
    let start = day_start(day_prefix_ms);
    let spacing = DAY_MS / i64::try_from(n.max(1)).unwrap_or(i64::MAX);
    for (contact, slot) in generated_contacts(n, 4, seed).into_iter().zip(0..) {
        let connected = start + slot * spacing;
        let shift = connected - contact.connected_to_agent_ms.unwrap_or(connected);
        let contact = ContactSpec {
            initiation_ms: contact.initiation_ms + shift,
            connected_to_agent_ms: Some(connected),
            disconnect_ms: contact.disconnect_ms.map(|ended| ended + shift),
            ..contact
        };
        for redacted in [false, true] {
            put_analysis_file(world, bucket, &contact, redacted);
        }
    }
}

fn last_end(segments: &[Segment]) -> i64 {
    segments.last().map_or(0, |s| s.end_offset_millis)
}

/// A compiled-in fixture of `tests/fixtures/sample-world/`.
///
/// # Panics
/// On a malformed fixture: they are compiled in, so that is a bug in this crate.
fn fixture<T: DeserializeOwned>(name: &str, json: &str) -> T {
    serde_json::from_str(json).unwrap_or_else(|error| panic!("fixture {name}: {error}"))
}

/// A Contact Lens response (`{"Segments":[...]}`), as the transcript fixtures hold it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Transcript {
    segments: Vec<TranscriptSegment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TranscriptSegment {
    transcript: Option<Segment>,
    categories: Option<Categories>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Categories {
    matched_categories: Vec<String>,
}

/// The turns and categories of `tests/fixtures/transcripts/<contact_id>.json`.
///
/// # Panics
/// For a contact without one, or a malformed one: a bug in `contacts.json` or the fixture.
fn transcript_fixture(contact_id: &str) -> (Vec<Segment>, Vec<CategoryMatch>) {
    let json = match contact_id {
        SAMPLE_INTERNATIONAL => {
            include_str!("../../fixtures/transcripts/faaa3a21-5990-48cd-a035-e85ca8c861ff.json")
        }
        SAMPLE_CJK => {
            include_str!("../../fixtures/transcripts/f15c9342-65a1-41e8-a752-81d630a2890d.json")
        }
        other => panic!("no transcript fixture for {other}"),
    };
    let transcript: Transcript = fixture(contact_id, json);
    let mut segments = Vec::new();
    let mut categories = Vec::new();
    for segment in transcript.segments {
        if let Some(turn) = segment.transcript {
            segments.push(turn);
        } else if let Some(matched) = segment.categories {
            categories.push(CategoryMatch {
                after_segment: segments.len(),
                matched_categories: matched.matched_categories,
            });
        }
    }
    (segments, categories)
}

/// Turns with offsets paced by their length, ids `id_prefix` + turn number.
fn turns(id_prefix: &str, lines: &[(String, String)]) -> Vec<Segment> {
    let mut at = 0;
    lines
        .iter()
        .zip(1..)
        .map(|((role, content), number)| {
            let duration = speaking_time_ms(content);
            let segment = Segment {
                id: format!("{id_prefix}{number:08}"),
                participant_id: role.clone(),
                participant_role: role.clone(),
                content: content.clone(),
                begin_offset_millis: at,
                end_offset_millis: at + duration,
                sentiment: "NEUTRAL".to_owned(),
            };
            at += duration + 600;
            segment
        })
        .collect()
}

/// Roughly 2.5 words a second.
fn speaking_time_ms(content: &str) -> i64 {
    let words = i64::try_from(content.split_whitespace().count()).unwrap_or(i64::MAX);
    400 + words.saturating_mul(400)
}

/// What generated contacts say.
static WORDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    fixture(
        "generated-words.json",
        include_str!("../../fixtures/sample-world/generated-words.json"),
    )
});

/// `n` finished contacts with `segments_each` alternating AGENT/CUSTOMER turns each, for
/// benchmarks. Ids, texts (3 to 30 words a turn) and offsets are a pure function of `seed`; the
/// wall-clock anchor is a few hours before the call, like the sample contacts.
pub fn generated_contacts(n: usize, segments_each: usize, seed: u64) -> Vec<ContactSpec> {
    let mut rng = Rng(seed);
    let anchor = now_ms() - 8 * HOUR_MS;
    (0..n)
        .map(|i| {
            let contact_id = rng.uuid();
            let voice_call_id = format!("0LQ{}", rng.alphanumeric(12));
            let mut at = 0;
            let segments: Vec<Segment> = (0..segments_each)
                .map(|turn| {
                    let words = 3 + rng.below(28);
                    let content = (0..words)
                        .map(|_| WORDS[rng.below(WORDS.len())].as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    let duration = speaking_time_ms(&content);
                    let role = if turn % 2 == 0 { "AGENT" } else { "CUSTOMER" };
                    let segment = Segment {
                        id: rng.uuid(),
                        participant_id: role.to_owned(),
                        participant_role: role.to_owned(),
                        content: format!("{content}."),
                        begin_offset_millis: at,
                        end_offset_millis: at + duration,
                        sentiment: "NEUTRAL".to_owned(),
                    };
                    at += duration + 200 + i64::try_from(rng.below(1300)).unwrap_or_default();
                    segment
                })
                .collect();
            let initiation = anchor + i64::try_from(i).unwrap_or_default() * 1_000;
            let connected = initiation + 20_000;
            ContactSpec {
                contact_id,
                voice_call_id,
                initiation_ms: initiation,
                connected_to_agent_ms: Some(connected),
                disconnect_ms: Some(connected + at + 5_000),
                segments,
                categories: Vec::new(),
                analysis_running: false,
                realtime_available: true,
                ..ContactSpec::default()
            }
        })
        .collect()
}

/// splitmix64 as a stream: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix64(self.0)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-9{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    fn alphanumeric(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..len)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len())]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{CallType, InitiationMethod};

    /// Every sample contact but the legs of the transferred call, in the order of the table
    /// above and of `contacts.json`.
    const SAMPLE_CONTACTS: [&str; 10] = [
        SAMPLE_INTERNATIONAL,
        SAMPLE_CJK,
        SAMPLE_IN_PROGRESS,
        SAMPLE_NO_AGENT,
        SAMPLE_ANALYSIS_RUNNING,
        SAMPLE_NO_TRANSCRIPT,
        SAMPLE_REALTIME_UNAVAILABLE,
        SAMPLE_OLD_CALL,
        SAMPLE_OLD_CALL_MIDNIGHT,
        SAMPLE_PARTIALLY_DELIVERED,
    ];

    #[test]
    fn fixtures_hold_non_ascii_speech_and_a_category() {
        let world = sample_world("instance");
        let international = world.contact(SAMPLE_INTERNATIONAL).unwrap();
        let cjk = world.contact(SAMPLE_CJK).unwrap();
        assert_eq!(international.voice_call_id, "0LQ1Q000002TZtn");
        assert_eq!(cjk.voice_call_id, "0LQ1Q000002TAtn");
        assert!((6..=12).contains(&international.segments.len()));
        assert!(
            international
                .segments
                .iter()
                .any(|s| s.content.contains('ñ'))
        );
        assert!(cjk.segments.iter().any(|s| s.content.contains("佐藤")));
        assert!(
            cjk.segments
                .iter()
                .any(|s| s.content.contains("👩\u{200d}💻"))
        );
        assert_eq!(international.categories[0].after_segment, 2);
        for contact in [&international, &cjk] {
            let start = contact.connected_to_agent_ms.unwrap();
            assert!(start + last_end(&contact.segments) <= contact.disconnect_ms.unwrap());
        }
    }

    #[test]
    fn failure_path_contacts_have_their_shape() {
        let world = sample_world("instance");
        let get = |id| world.contact(id).unwrap();
        assert!(get(SAMPLE_IN_PROGRESS).disconnect_ms.is_none());
        assert!(get(SAMPLE_NO_AGENT).connected_to_agent_ms.is_none());
        assert!(get(SAMPLE_ANALYSIS_RUNNING).analysis_running);
        assert!(get(SAMPLE_NO_TRANSCRIPT).segments.is_empty());
        assert!(!get(SAMPLE_REALTIME_UNAVAILABLE).realtime_available);
    }

    #[test]
    fn every_sample_contact_has_its_voice_call_and_three_have_no_key() {
        let world = sample_world("instance");
        let calls = world.voice_calls();
        // Then the legs of the transferred call (see the next test).
        assert_eq!(
            calls.len(),
            SAMPLE_CONTACTS.len() + 3 + SAMPLE_TRANSFERRED.len()
        );
        for (call, contact_id) in calls.iter().zip(SAMPLE_CONTACTS) {
            let contact = world.contact(contact_id).unwrap();
            assert_eq!(call.id.len(), 18);
            assert_eq!(call.id[..15], contact.voice_call_id);
            assert_eq!(call.vendor_call_key.as_deref(), Some(contact_id));
            assert_eq!(call.call_start_ms, contact.initiation_ms);
            assert_eq!(call.call_end_ms, contact.disconnect_ms);
        }
        assert_eq!(calls[0].id, "0LQ1Q000002TZtnWAG");
        assert_eq!(
            world
                .voice_calls()
                .iter()
                .find(|c| c.vendor_call_key.as_deref() == Some(SAMPLE_IN_PROGRESS))
                .unwrap()
                .call_end_ms,
            None
        );
        let unkeyed: Vec<&str> = calls[SAMPLE_CONTACTS.len()..SAMPLE_CONTACTS.len() + 3]
            .iter()
            .map(|c| {
                assert_eq!(c.vendor_call_key, None);
                c.id.as_str()
            })
            .collect();
        assert_eq!(unkeyed, SAMPLE_VOICE_CALLS_WITHOUT_KEY);
        for id in SAMPLE_VOICE_CALLS_WITHOUT_KEY {
            assert_eq!(
                crate::world::salesforce_id_18(&id[..15]).as_deref(),
                Some(id)
            );
        }
    }

    #[test]
    fn the_transferred_call_has_two_chained_legs_in_one_conversation_half_delivered() {
        let world = sample_world("instance");
        let [a, b] = SAMPLE_TRANSFERRED.map(|id| world.contact(id).unwrap());
        assert_eq!(
            (
                a.initial_contact_id.as_deref(),
                a.previous_contact_id.as_deref()
            ),
            (None, None)
        );
        assert_eq!(a.initiation_method, InitiationMethod::Inbound);
        assert_eq!(b.initial_contact_id.as_deref(), Some(a.contact_id.as_str()));
        assert_eq!(
            b.previous_contact_id.as_deref(),
            Some(a.contact_id.as_str())
        );
        assert_eq!(b.initiation_method, InitiationMethod::Transfer);
        let now = now_ms();
        assert_eq!(Some(b.initiation_ms), a.disconnect_ms, "a cold transfer");
        assert!(b.disconnect_ms.unwrap() < now - 20 * MINUTE_MS);
        for leg in [&a, &b] {
            assert!(leg.realtime_available);
            assert_eq!(leg.voice_call_id.len(), 15);
            assert!(
                leg.connected_to_agent_ms.unwrap() + last_end(&leg.segments)
                    < leg.disconnect_ms.unwrap()
            );
        }
        assert_eq!((a.segments.len(), b.segments.len()), (4, 6));

        let calls = world.voice_calls();
        let [call_a, call_b] = [&a, &b].map(|leg| {
            calls
                .iter()
                .find(|c| c.vendor_call_key.as_deref() == Some(leg.contact_id.as_str()))
                .unwrap()
        });
        assert_eq!(call_a.id, "0LQ1Q000003SBT1WAO");
        assert_eq!(call_b.id[..15], *"0LQ1Q000003SBT2");
        assert_eq!(call_a.next_call_id.as_deref(), Some(call_b.id.as_str()));
        assert_eq!(call_b.previous_call_id.as_deref(), Some(call_a.id.as_str()));
        assert_eq!(
            (call_a.call_type, call_b.call_type),
            (CallType::Inbound, CallType::Transfer)
        );
        for call in [call_a, call_b] {
            assert_eq!(
                call.conversation_identifier.as_deref(),
                Some(a.contact_id.as_str())
            );
        }
        // Neither the legs nor their VoiceCalls replaced another sample's.
        let ids: std::collections::HashSet<&str> = calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), calls.len());
        assert_eq!(
            world.lock().contacts.len(),
            SAMPLE_CONTACTS.len() + SAMPLE_TRANSFERRED.len()
        );

        // Real-time delivery stored A's first two turns and B's first, third and fifth, all in
        // the conversation of A; B has none of its own.
        let held: Vec<String> = world
            .conversation_entries(&a.contact_id)
            .iter()
            .map(|e| e["identifier"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = [(&a, vec![0, 1]), (&b, vec![0, 2, 4])]
            .into_iter()
            .flat_map(|(leg, turns)| turns.into_iter().map(|i| leg.segments[i].id.clone()))
            .collect();
        assert_eq!(held, expected);
        assert!(world.conversation_entries(&b.contact_id).is_empty());
    }

    #[test]
    fn filled_voice_calls_have_distinct_valid_ids_and_uuid_keys() {
        let world = World::new("instance");
        let first = fill_voice_calls(&world, 1_000, 3, 60_000);
        let second = fill_voice_calls(&world, 0, 2, 0);
        let calls = world.voice_calls();
        assert_eq!(calls.len(), 5);
        let ids: std::collections::HashSet<&str> = calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 5);
        for ((id, key), call) in first.iter().chain(&second).zip(&calls) {
            assert_eq!((&call.id, call.vendor_call_key.as_ref()), (id, Some(key)));
            assert!(id.starts_with("0LQ"));
            assert_eq!(crate::world::salesforce_id_18(&id[..15]).as_ref(), Some(id));
            assert_eq!((key.len(), key.matches('-').count()), (36, 4));
        }
        let starts: Vec<i64> = calls.iter().map(|c| c.call_start_ms).collect();
        assert_eq!(starts, [1_000, 61_000, 121_000, 0, 0]);
        assert_eq!(calls[1].call_end_ms, Some(61_000 + FILLED_CALL_MS));
        let again = World::new("instance");
        assert_eq!(fill_voice_calls(&again, 1_000, 3, 60_000), first);
    }

    #[test]
    fn scv_secret_has_exactly_the_scv_keys() {
        let secret: Value = serde_json::from_str(&scv_secret_json(
            "CC",
            "https://login.example/services/oauth2/token",
            "https://org.example/services/data/v62.0/",
            "https://login.example",
        ))
        .unwrap();
        let mut keys: Vec<&str> = secret
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "CALL_CENTER_API_NAME",
                "CC-salesforce-rest-api-audience",
                "CC-salesforce-rest-api-auth-consumer-key",
                "CC-salesforce-rest-api-auth-private-key",
                "CC-salesforce-rest-api-subject",
                "SALESFORCE_AUTH_ENDPOINT",
                "SALESFORCE_REST_API_ENDPOINT_BASE",
            ]
        );
        assert_eq!(secret["CALL_CENTER_API_NAME"], "CC");
        assert_eq!(
            secret["CC-salesforce-rest-api-audience"],
            "https://login.example"
        );
        assert_eq!(
            secret["CC-salesforce-rest-api-auth-consumer-key"],
            SANDBOX_CLIENT_ID
        );
        assert_eq!(secret["CC-salesforce-rest-api-subject"], SANDBOX_USERNAME);
        assert_eq!(
            secret["CC-salesforce-rest-api-auth-private-key"],
            test_private_key_pem()
        );
        assert_eq!(scv_token_key("CC"), "CC-salesforce-rest-api-access-token");
        assert_eq!(scv_secret_name("CC"), "CC-salesforce-secret");
        assert_eq!(
            scv_token_secret_name("CC"),
            "CC-salesforce-access-token-secret"
        );
    }

    #[test]
    fn scv_registration_stores_secrets_and_parameters_and_may_be_repeated() {
        let world = World::new("instance");
        register_sandbox_salesforce(&world, "http://login");
        for _ in 0..2 {
            register_scv_salesforce(
                &world,
                "CC",
                "http://login/",
                "http://api/services/data/v62.0/",
            );
        }
        assert_eq!(world.lock().salesforce.jwt_clients.len(), 1);
        let secret: Value =
            serde_json::from_str(&world.secret_value("CC-salesforce-secret").unwrap()).unwrap();
        assert_eq!(
            secret["SALESFORCE_AUTH_ENDPOINT"],
            "http://login/services/oauth2/token"
        );
        assert_eq!(secret["CC-salesforce-rest-api-audience"], "http://login");
        assert_eq!(
            secret["SALESFORCE_REST_API_ENDPOINT_BASE"],
            "http://api/services/data/v62.0/"
        );
        let cache = world
            .secret_value("CC-salesforce-access-token-secret")
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&cache).unwrap(),
            json!({ "CC-salesforce-rest-api-access-token": SCV_STALE_TOKEN })
        );
        let parameter = |name: &str| world.parameter(name);
        assert_eq!(
            parameter("CC-salesforce-rest-api-access-token").as_deref(),
            Some(SCV_STALE_TOKEN)
        );
        assert_eq!(
            parameter("CC-salesforce-rest-api-auth-private-key").as_deref(),
            Some(test_private_key_pem())
        );
        assert_eq!(
            parameter("CC-salesforce-rest-api-audience").as_deref(),
            Some("http://login")
        );
        let state = world.lock();
        let type_of = |name: &str| state.parameters[name].type_.name();
        assert_eq!(
            type_of("CC-salesforce-rest-api-auth-private-key"),
            "SecureString"
        );
        assert_eq!(
            type_of("CC-salesforce-rest-api-access-token"),
            "SecureString"
        );
        assert_eq!(
            type_of("CC-salesforce-rest-api-auth-consumer-key"),
            "String"
        );
        assert_eq!(type_of("CC-salesforce-rest-api-subject"), "String");
    }

    #[test]
    fn generated_contacts_are_deterministic_per_seed() {
        let strip_times = |contacts: Vec<ContactSpec>| -> Vec<(String, String, Vec<Segment>)> {
            contacts
                .into_iter()
                .map(|c| (c.contact_id, c.voice_call_id, c.segments))
                .collect()
        };
        let a = strip_times(generated_contacts(3, 20, 7));
        assert_eq!(a, strip_times(generated_contacts(3, 20, 7)));
        assert_ne!(a, strip_times(generated_contacts(3, 20, 8)));
        assert_eq!(a[0].1.len(), 15);
        assert_eq!(a[0].2.len(), 20);
        let ids: std::collections::HashSet<_> = a.iter().map(|c| &c.0).collect();
        assert_eq!(ids.len(), 3);
    }

    /// 2024-02-29T23:58:00Z: a leap day, and the last minutes of a month.
    const LEAP_DAY_2358: i64 = 1_709_251_080_000;

    fn call(connected: i64, ended: i64) -> ContactSpec {
        ContactSpec {
            contact_id: "c-1".into(),
            initiation_ms: connected - 30_000,
            connected_to_agent_ms: Some(connected),
            disconnect_ms: Some(ended),
            ..ContactSpec::default()
        }
    }

    #[test]
    fn days_start_at_utc_midnight() {
        assert_eq!(day_start(1_704_067_199_999), 1_704_067_200_000 - DAY_MS);
        assert_eq!(day_start(1_704_067_200_000), 1_704_067_200_000);
        assert_eq!(day_start(-1), -DAY_MS);
    }

    #[test]
    fn analysis_keys_are_dated_by_the_connection_and_timed_by_the_disconnect() {
        let across_midnight = call(LEAP_DAY_2358, LEAP_DAY_2358 + 4 * MINUTE_MS + 15_000);
        assert_eq!(
            analysis_key(&across_midnight, false),
            "Analysis/Voice/2024/02/29/c-1_analysis_2024-03-01T00:02:15Z.json"
        );
        assert_eq!(
            analysis_key(&across_midnight, true),
            "Analysis/Voice/Redacted/2024/02/29/c-1_analysis_redacted_2024-03-01T00:02:15Z.json"
        );
        // 2023-12-31T23:59:59.999Z to 2024-01-01T00:00:30Z.
        let new_year = call(1_704_067_199_999, 1_704_067_230_000);
        assert_eq!(
            analysis_key(&new_year, false),
            "Analysis/Voice/2023/12/31/c-1_analysis_2024-01-01T00:00:30Z.json"
        );
    }

    #[test]
    #[should_panic(expected = "has no post-call analysis")]
    fn calls_still_in_progress_have_no_analysis_file() {
        let world = sample_world("instance");
        analysis_key(&world.contact(SAMPLE_IN_PROGRESS).unwrap(), false);
    }

    #[test]
    fn redaction_replaces_listed_names_and_digit_runs_only() {
        assert_eq!(
            redact("Zoë paid 49,90 € for A-1024, not Zoëlle."),
            "[PII] paid [PII],[PII] € for A-[PII], not Zoëlle."
        );
        assert_eq!(redact("担当の佐藤です。"), "担当の[PII]です。");
        assert_eq!(redact("Señora Muñoz-Gérard 🙏🏽"), "Señora [PII]-[PII] 🙏🏽");
    }

    fn parse(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn analysis_files_keep_utf8_speech_and_redact_only_content() {
        let world = sample_world("instance");
        let contact = world.contact(SAMPLE_OLD_CALL).unwrap();
        let raw = parse(&analysis_file_json(&contact, false));
        let redacted = parse(&analysis_file_json(&contact, true));
        assert_eq!(raw["Version"], "1.1.0");
        assert_eq!(raw["Channel"], "VOICE");
        assert_eq!(raw["JobStatus"], "COMPLETED");
        assert_eq!(raw["ContentMetadata"]["Output"], "Raw");
        assert_eq!(redacted["ContentMetadata"]["Output"], "Redacted");
        assert_eq!(raw["CustomerMetadata"]["ContactId"], SAMPLE_OLD_CALL);
        assert_eq!(
            raw["Participants"],
            json!([
                { "ParticipantId": "AGENT", "ParticipantRole": "AGENT" },
                { "ParticipantId": "CUSTOMER", "ParticipantRole": "CUSTOMER" },
            ])
        );
        assert_eq!(
            raw["Categories"]["MatchedCategories"],
            json!(["Delivery issue"])
        );
        let poi = &raw["Categories"]["MatchedDetails"]["Delivery issue"]["PointsOfInterest"][0];
        assert_eq!(
            poi["BeginOffsetMillis"],
            contact.segments[1].begin_offset_millis
        );

        let turns = |file: &Value| file["Transcript"].as_array().unwrap().clone();
        let (raw_turns, redacted_turns) = (turns(&raw), turns(&redacted));
        assert_eq!(raw_turns.len(), contact.segments.len());
        for ((raw_turn, redacted_turn), segment) in
            raw_turns.iter().zip(&redacted_turns).zip(&contact.segments)
        {
            assert_eq!(raw_turn["Content"], segment.content.as_str());
            assert_eq!(raw_turn["Id"], post_call_id(&segment.id));
            assert_ne!(raw_turn["Id"], segment.id.as_str());
            assert_eq!(raw_turn["ParticipantId"], segment.participant_role.as_str());
            assert_eq!(raw_turn["BeginOffsetMillis"], segment.begin_offset_millis);
            assert!(!raw_turn["LoudnessScore"].as_array().unwrap().is_empty());
            let mut unredacted = redacted_turn.clone();
            unredacted["Content"] = raw_turn["Content"].clone();
            assert_eq!(&unredacted, raw_turn, "only Content may differ");
        }
        let text = |turns: &[Value]| {
            turns
                .iter()
                .map(|t| t["Content"].as_str().unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (raw_text, redacted_text) = (text(&raw_turns), text(&redacted_turns));
        for secret in ["Jürgen", "58213", "Köln", "田中", "12"] {
            assert!(raw_text.contains(secret), "{secret}");
            assert!(!redacted_text.contains(secret), "{secret}");
        }
        for kept in [
            "Grüß Gott",
            "Ça marche très bien",
            "ありがとうございました。🙇",
        ] {
            assert!(redacted_text.contains(kept), "{kept}");
        }
    }

    #[test]
    fn old_sample_calls_have_their_files_under_the_connection_day() {
        let world = sample_world("instance");
        let now = now_ms();
        for id in [SAMPLE_OLD_CALL, SAMPLE_OLD_CALL_MIDNIGHT] {
            let contact = world.contact(id).unwrap();
            assert!(!contact.realtime_available);
            assert!(contact.disconnect_ms.unwrap() < now - 24 * HOUR_MS);
            assert!(
                contact.connected_to_agent_ms.unwrap() + last_end(&contact.segments)
                    < contact.disconnect_ms.unwrap()
            );
            assert_eq!(contact.voice_call_id.len(), 15);
            for redacted in [false, true] {
                let stored =
                    world.object(SAMPLE_ANALYSIS_BUCKET, &analysis_key(&contact, redacted));
                assert_eq!(
                    stored,
                    Some(analysis_file_json(&contact, redacted).into_bytes())
                );
            }
        }
        let midnight = world.contact(SAMPLE_OLD_CALL_MIDNIGHT).unwrap();
        let connected = midnight.connected_to_agent_ms.unwrap();
        let ended = midnight.disconnect_ms.unwrap();
        assert_eq!(utc(connected).to_hms(), (23, 58, 0));
        assert_eq!(
            day_start(now) - 2 * DAY_MS - 2 * MINUTE_MS,
            midnight.connected_to_agent_ms.unwrap()
        );
        let date_path = |ms| format_utc(ms, DATE_PATH);
        assert_ne!(date_path(connected), date_path(ended));
        let key = analysis_key(&midnight, false);
        assert!(
            key.starts_with(&format!("Analysis/Voice/{}/", date_path(connected))),
            "{key}"
        );
        assert!(
            key.ends_with(&format!("_{}.json", format_utc(ended, FILE_TIME))),
            "{key}"
        );
        assert!(midnight.segments.iter().any(|s| s.content.contains('€')));
    }

    #[test]
    fn a_filled_day_holds_n_more_keys_under_each_prefix() {
        let world = World::new("instance");
        let day = 1_768_435_200_000; // 2026-01-15
        fill_analysis_day(&world, "bucket", day + 5 * HOUR_MS, 30, 9);
        let state = world.lock();
        let keys = &state.s3.buckets["bucket"];
        let under = |prefix: &str| keys.keys().filter(|k| k.starts_with(prefix)).count();
        assert_eq!(under("Analysis/Voice/2026/01/15/"), 30);
        assert_eq!(under("Analysis/Voice/Redacted/2026/01/15/"), 30);
        assert_eq!(keys.len(), 60);
    }
}
