//! Sample data: the documented example contacts plus one contact per failure path, generated
//! contacts for benchmarks, the test RSA keypair, the function's secret JSON and the Service
//! Cloud Voice (SCV) secrets and parameters the function can read instead.
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
//! | [`SAMPLE_REALTIME_UNAVAILABLE`] | `0LQ1Q000003SB05` | finished 30 h ago: Contact Lens answers 404 ResourceNotFoundException |
//!
//! Wall-clock times are relative to when the world is built (recent calls, inside Contact
//! Lens' 24-hour window, except the unavailable one); everything else is fixed. Each contact's
//! disconnect time leaves room for the last turn whether a client anchors the offsets at the
//! contact's initiation or at the agent connection.

use serde_json::{Value, json};

use crate::world::{CategoryMatch, ContactSpec, Segment, World, now_ms, splitmix64};

pub const SAMPLE_INTERNATIONAL: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";
pub const SAMPLE_CJK: &str = "f15c9342-65a1-41e8-a752-81d630a2890d";
pub const SAMPLE_IN_PROGRESS: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a01";
pub const SAMPLE_NO_AGENT: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a02";
pub const SAMPLE_ANALYSIS_RUNNING: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a03";
pub const SAMPLE_NO_TRANSCRIPT: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a04";
pub const SAMPLE_REALTIME_UNAVAILABLE: &str = "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a05";

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

/// The test RSA private key (PKCS#8 PEM) that signs JWT assertions in tests.
pub fn test_private_key_pem() -> &'static str {
    include_str!("../fixtures/test-jwt-key.pem")
}

/// The public half of [`test_private_key_pem`], to register with
/// [`World::salesforce_jwt_client`].
pub fn test_public_key_pem() -> &'static str {
    include_str!("../fixtures/test-jwt-key.pub.pem")
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

/// A world holding the sample contacts of the table above.
pub fn sample_world(instance_id: &str) -> World {
    let world = World::new(instance_id);
    let now = now_ms();
    let finished = |contact_id: &str,
                    voice_call_id: &str,
                    started_ms: i64,
                    segments: Vec<Segment>,
                    categories: Vec<CategoryMatch>| {
        let connected = started_ms + 35_000;
        ContactSpec {
            contact_id: contact_id.to_owned(),
            voice_call_id: voice_call_id.to_owned(),
            initiation_ms: started_ms,
            connected_to_agent_ms: Some(connected),
            disconnect_ms: Some(connected + last_end(&segments) + 15_000),
            segments,
            categories,
            analysis_running: false,
            realtime_available: true,
        }
    };

    let (segments, categories) = fixture(include_str!(
        "../fixtures/transcripts/faaa3a21-5990-48cd-a035-e85ca8c861ff.json"
    ));
    world.add_contact(finished(
        SAMPLE_INTERNATIONAL,
        "0LQ1Q000002TZtn",
        now - 2 * HOUR_MS,
        segments,
        categories,
    ));
    let (segments, categories) = fixture(include_str!(
        "../fixtures/transcripts/f15c9342-65a1-41e8-a752-81d630a2890d.json"
    ));
    world.add_contact(finished(
        SAMPLE_CJK,
        "0LQ1Q000002TAtn",
        now - 90 * MINUTE_MS,
        segments,
        categories,
    ));

    let in_progress_turns = [
        (
            "AGENT",
            "Thanks for holding, I'm pulling up your account now.",
        ),
        ("CUSTOMER", "Great, it's the one ending in four two seven."),
        (
            "AGENT",
            "Got it. I can see the duplicate charge from Tuesday.",
        ),
    ];
    world.add_contact(ContactSpec {
        disconnect_ms: None,
        analysis_running: true,
        ..finished(
            SAMPLE_IN_PROGRESS,
            "0LQ1Q000003SB01",
            now - 5 * MINUTE_MS,
            turns("1a01", &in_progress_turns),
            Vec::new(),
        )
    });

    let no_agent_turns = [
        ("CUSTOMER", "I'd like to check the status of my refund."),
        ("CUSTOMER", "Hello? Is anyone there?"),
    ];
    let started = now - HOUR_MS;
    world.add_contact(ContactSpec {
        connected_to_agent_ms: None,
        disconnect_ms: Some(started + 3 * MINUTE_MS),
        ..finished(
            SAMPLE_NO_AGENT,
            "0LQ1Q000003SB02",
            started,
            turns("1a02", &no_agent_turns),
            Vec::new(),
        )
    });

    let running_turns = [
        ("AGENT", "You're all set, the replacement card ships today."),
        ("CUSTOMER", "Thank you, that was quick."),
        ("AGENT", "My pleasure. Is there anything else?"),
        ("CUSTOMER", "No, goodbye."),
    ];
    world.add_contact(ContactSpec {
        analysis_running: true,
        ..finished(
            SAMPLE_ANALYSIS_RUNNING,
            "0LQ1Q000003SB03",
            now - 10 * MINUTE_MS,
            turns("1a03", &running_turns),
            Vec::new(),
        )
    });

    let silent_call = vec![CategoryMatch {
        after_segment: 0,
        matched_categories: vec!["Dead air".to_owned()],
    }];
    world.add_contact(finished(
        SAMPLE_NO_TRANSCRIPT,
        "0LQ1Q000003SB04",
        now - 45 * MINUTE_MS,
        Vec::new(),
        silent_call,
    ));

    let old_turns = [
        ("AGENT", "Good morning, how can I help?"),
        ("CUSTOMER", "I need to update my address."),
    ];
    world.add_contact(ContactSpec {
        realtime_available: false,
        ..finished(
            SAMPLE_REALTIME_UNAVAILABLE,
            "0LQ1Q000003SB05",
            now - 30 * HOUR_MS,
            turns("1a05", &old_turns),
            Vec::new(),
        )
    });
    world
}

fn last_end(segments: &[Segment]) -> i64 {
    segments.last().map_or(0, |s| s.end_offset_millis)
}

/// Reads a fixture in the Contact Lens response shape (`{"Segments":[...]}`).
///
/// # Panics
/// On a malformed fixture: they are compiled in, so that is a bug in this crate.
fn fixture(json: &str) -> (Vec<Segment>, Vec<CategoryMatch>) {
    let parsed: Value = serde_json::from_str(json).expect("transcript fixture is valid JSON");
    let mut segments = Vec::new();
    let mut categories = Vec::new();
    for segment in parsed["Segments"].as_array().expect("fixture has Segments") {
        let text = |key: &str| {
            segment["Transcript"][key]
                .as_str()
                .unwrap_or_else(|| panic!("fixture transcript lacks {key}"))
                .to_owned()
        };
        let offset = |key: &str| {
            segment["Transcript"][key]
                .as_i64()
                .unwrap_or_else(|| panic!("fixture transcript lacks {key}"))
        };
        if segment.get("Transcript").is_some() {
            segments.push(Segment {
                id: text("Id"),
                participant_id: text("ParticipantId"),
                participant_role: text("ParticipantRole"),
                content: text("Content"),
                begin_offset_millis: offset("BeginOffsetMillis"),
                end_offset_millis: offset("EndOffsetMillis"),
                sentiment: text("Sentiment"),
            });
        } else if let Some(matched) = segment["Categories"]["MatchedCategories"].as_array() {
            categories.push(CategoryMatch {
                after_segment: segments.len(),
                matched_categories: matched
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect(),
            });
        }
    }
    (segments, categories)
}

/// Turns with offsets paced by their length, ids `<tag>` + turn number in a fixed UUID shape.
fn turns(tag: &str, lines: &[(&str, &str)]) -> Vec<Segment> {
    let mut at = 0;
    lines
        .iter()
        .zip(1..)
        .map(|(&(role, content), number)| {
            let duration = speaking_time_ms(content);
            let segment = Segment {
                id: format!("9e0c5d2a-4b7f-4c1e-8a6d-{tag}{number:08}"),
                participant_id: role.to_owned(),
                participant_role: role.to_owned(),
                content: content.to_owned(),
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

const WORDS: &[&str] = &[
    "the",
    "account",
    "payment",
    "thank",
    "you",
    "for",
    "calling",
    "I",
    "can",
    "see",
    "your",
    "order",
    "was",
    "shipped",
    "on",
    "Tuesday",
    "and",
    "should",
    "arrive",
    "by",
    "Friday",
    "could",
    "please",
    "confirm",
    "address",
    "card",
    "number",
    "refund",
    "processed",
    "within",
    "five",
    "business",
    "days",
    "is",
    "there",
    "anything",
    "else",
    "help",
    "with",
    "today",
    "café",
    "résumé",
    "naïve",
    "delivery",
    "warehouse",
    "billing",
    "statement",
    "balance",
    "appointment",
    "reschedule",
    "next",
    "week",
    "morning",
    "afternoon",
    "sure",
    "okay",
    "yes",
    "no",
    "maybe",
    "let",
    "me",
    "check",
    "that",
    "moment",
];

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
                        .map(|_| WORDS[rng.below(WORDS.len())])
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
}
