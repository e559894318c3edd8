//! Runs the real function (real SDK clients, reqwest, the real adapters) against the emulators.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::Region;
use aws_sdk_connect::config::Credentials;
use aws_sdk_connect::config::retry::RetryPartition;
use contact_data_sync::adapters::aws::sdk_config_loader;
use contact_data_sync::config::{self, Config};
use contact_data_sync::handler::Invocation;
use contact_data_sync::{App, AwsClients, build_app};
use emulators::{
    ContactSpec, Emulators, RequestRecord, RuntimeApi, Service, World, register_sandbox_salesforce,
};
use serde_json::{Value, json};

pub const INSTANCE: &str = "11111111-2222-4333-8444-555555555555";
/// The Salesforce upload resource, to aim faults at uploads only (not the entries check).
pub const UPLOAD_PATH: &str = "/conversations/upload";
/// A delay no test waits out: a request held this long and a test that finishes show that the
/// function gave up on it, whatever the machine's speed.
pub const HANG: Duration = Duration::from_secs(600);
pub const DOCUMENTED_UPLOAD: &str =
    include_str!("../../../tests/fixtures/requests/upload-transcript.json");

pub struct Harness {
    pub world: World,
    pub emulators: Emulators,
    pub app: App,
}

impl Harness {
    /// The sample world with the sandbox's Salesforce connected app and secret.
    pub async fn sample() -> Self {
        Self::with(emulators::sample_world(INSTANCE), &[]).await
    }

    /// `settings` override the function's environment variables; retries are fast by default.
    /// The emulators record every request ([`World::requests`]).
    pub async fn with(world: World, settings: &[(&str, &str)]) -> Self {
        world.record_requests();
        let emulators = Emulators::start(&world).await;
        register_sandbox_salesforce(&world, &emulators.salesforce.url());
        let app = instance(&emulators, settings).await;
        Self {
            world,
            emulators,
            app,
        }
    }

    /// Another function instance (its own caches, like another Lambda execution environment)
    /// against the same emulators.
    pub async fn another_instance(&self, settings: &[(&str, &str)]) -> App {
        instance(&self.emulators, settings).await
    }

    /// A world of `n` generated contacts of `segments` turns each, and those contacts.
    pub async fn generated(
        n: usize,
        segments: usize,
        seed: u64,
        settings: &[(&str, &str)],
    ) -> (Self, Vec<ContactSpec>) {
        let world = World::new(INSTANCE);
        let contacts = emulators::generated_contacts(n, segments, seed);
        for c in &contacts {
            world.add_contact(c.clone());
        }
        (Self::with(world, settings).await, contacts)
    }

    /// The documented uploadTranscript example (the two sample contacts).
    pub async fn invoke_documented(&self) -> Value {
        self.invoke(&serde_json::from_str(DOCUMENTED_UPLOAD).unwrap())
            .await
    }

    pub async fn invoke(&self, request: &Value) -> Value {
        self.invoke_within(request, Duration::from_secs(120)).await
    }

    pub async fn invoke_within(&self, request: &Value, remaining: Duration) -> Value {
        invoke_app(&self.app, request, remaining).await
    }
}

/// The function's environment for the emulators, with `settings` on top of the test defaults.
pub fn function_env(settings: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        (config::CONNECT_INSTANCE_ID, INSTANCE),
        (config::SALESFORCE_SECRET_ID, emulators::SANDBOX_SECRET_ID),
        (config::RETRY_BASE_DELAY_MS, "10"),
        (config::DEADLINE_RESERVE_MS, "1000"),
        // Tests enforce quotas in the emulator where they mean to; pacing stays out of the way.
        (config::CONTACT_LENS_REQUESTS_PER_SECOND, "1000"),
    ]
    .into_iter()
    .chain(settings.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // An empty value removes a default, e.g. SALESFORCE_SECRET_ID when SSM replaces it.
    vars.retain(|_, v| !v.is_empty());
    vars
}

/// One function instance: configuration, SDK clients and adapters, built as at a cold start.
pub async fn instance(emulators: &Emulators, settings: &[(&str, &str)]) -> App {
    let vars = function_env(settings);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let sdk = sdk_config_loader(config.retry)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            emulators::TEST_ACCESS_KEY_ID,
            emulators::TEST_SECRET_ACCESS_KEY,
            None,
            None,
            "emulators",
        ))
        .load()
        .await;
    // The SDK shares retry state (token bucket) per partition across the process; each
    // instance is its own "Lambda process".
    static INSTANCES: AtomicUsize = AtomicUsize::new(0);
    let partition = RetryPartition::new(format!(
        "instance-{}",
        INSTANCES.fetch_add(1, Ordering::Relaxed)
    ));
    macro_rules! client {
        ($sdk_crate:ident, $server:ident) => {
            $sdk_crate::Client::from_conf(
                $sdk_crate::config::Builder::from(&sdk)
                    .retry_partition(partition.clone())
                    .endpoint_url(emulators.$server.url())
                    .build(),
            )
        };
    }
    let clients = AwsClients {
        connect: client!(aws_sdk_connect, connect),
        contact_lens: client!(aws_sdk_connectcontactlens, contact_lens),
        secrets: client!(aws_sdk_secretsmanager, secrets_manager),
        ssm: client!(aws_sdk_ssm, ssm),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .retry_partition(partition.clone())
                .endpoint_url(emulators.s3.url())
                .force_path_style(true)
                .build(),
        ),
        sqs: client!(aws_sdk_sqs, sqs),
    };
    build_app(&config, clients).unwrap()
}

pub async fn invoke_app(app: &App, request: &Value, remaining: Duration) -> Value {
    try_invoke_app(app, request, remaining)
        .await
        .expect("the invocation failed")
}

/// The invocation's answer, or the error that fails it (summarizeBackfill only).
pub async fn try_invoke_app(
    app: &App,
    request: &Value,
    remaining: Duration,
) -> Result<Value, contact_data_sync::backfill::BackfillError> {
    let invocation = Invocation {
        deadline: std::time::SystemTime::now() + remaining,
        function_name: "contact-data-sync-test".into(),
        executed_version: "$LATEST".into(),
    };
    app.handle(request, &invocation).await
}

/// `{"operation":"uploadTranscript"}` for these contacts, each related to its own VoiceCall.
pub fn upload_request(world: &World, contact_ids: &[&str]) -> Value {
    let payload: Vec<Value> = contact_ids
        .iter()
        .map(|id| {
            let voice_call = world
                .contact(id)
                .map_or_else(|| "0LQ1Q000009ZZZZ".to_owned(), |c| c.voice_call_id);
            serde_json::json!({"contactId": id, "relatedRecords": [voice_call]})
        })
        .collect();
    serde_json::json!({"operation": "uploadTranscript", "payload": payload})
}

/// The admin guide's DISCONNECTED event (a fixture), for this contact.
pub fn disconnected_event(contact_id: &str) -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/events/contact-disconnected.json"),
    )
    .unwrap();
    text.replace("faaa3a21-5990-48cd-a035-e85ca8c861ff", contact_id)
}

/// A standard SQS event as Lambda's event source mapping hands it over.
pub fn sqs_event(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("message-{i}"),
                "receiptHandle": format!("handle-{i}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795500000000",
                               "SenderId": "AIDAEVENTBRIDGE", "ApproximateFirstReceiveTimestamp": "1795500600000"},
                "messageAttributes": {},
                "md5OfBody": "0d6e7c0a0a3f2b9f9a4b1f6b1c1f5e3d",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ContactDataSync-AutoRepair",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

pub fn failed_messages(answer: &Value) -> std::collections::BTreeSet<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a partial batch response: {answer}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

/// All `conversationBulkUploadsResults` of an uploadTranscript response, after checking each
/// element's documented shape.
pub fn results(response: &Value) -> Vec<Value> {
    let elements = response.as_array().expect("the response is an array");
    elements
        .iter()
        .flat_map(|element| {
            assert_eq!(element["ExecutedVersion"], "$LATEST");
            assert!(element["StatusCode"].is_u64(), "{element}");
            let payload: Value =
                serde_json::from_str(element["Payload"].as_str().expect("Payload is a string"))
                    .expect("Payload is JSON text");
            payload["conversationBulkUploadsResults"]
                .as_array()
                .expect("conversationBulkUploadsResults")
                .clone()
        })
        .collect()
}

/// Results by contactId, asserting each requested contact appears exactly once and no other.
pub fn results_by_contact(response: &Value, contact_ids: &[&str]) -> HashMap<String, Value> {
    let mut by_contact = HashMap::new();
    for r in results(response) {
        let id = r["conversationIdentifier"].as_str().unwrap().to_owned();
        assert!(
            by_contact.insert(id.clone(), r).is_none(),
            "{id} appears twice"
        );
    }
    let mut expected: Vec<&str> = contact_ids.to_vec();
    expected.sort();
    let mut got: Vec<&str> = by_contact.keys().map(String::as_str).collect();
    got.sort();
    assert_eq!(got, expected, "every contact exactly once");
    by_contact
}

/// The stable code at the start of a failed result's errorDetail.
pub fn code(result: &Value) -> &str {
    assert_eq!(result["status"], "FAILED", "{result}");
    assert!(result["uploadId"].is_null(), "{result}");
    result["errorDetail"]
        .as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
}

/// The conversation of each upload Salesforce accepted, in the order received.
pub fn uploaded_conversations(world: &World) -> Vec<String> {
    world
        .uploads()
        .into_iter()
        .map(|u| u.conversation_id)
        .collect()
}

/// No conversation got the same entry twice.
pub fn assert_no_duplicate_entries(world: &World) {
    let mut seen = std::collections::HashSet::new();
    for upload in world.uploads() {
        for entry in &upload.entries {
            let key = (
                upload.conversation_id.clone(),
                entry["id"].as_str().unwrap().to_owned(),
            );
            assert!(seen.insert(key.clone()), "entry uploaded twice: {key:?}");
        }
    }
}

/// The Salesforce upload POSTs received, in order (status polls on the same path left out).
pub fn upload_posts(world: &World) -> Vec<RequestRecord> {
    world
        .requests_to(Service::Salesforce)
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(UPLOAD_PATH))
        .collect()
}

/// The conversation entries GETs received, in order.
pub fn entries_reads(world: &World) -> Vec<RequestRecord> {
    world
        .requests_to(Service::Salesforce)
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/entries"))
        .collect()
}

/// The fetchUploadIdsStatus polls received (GETs of the upload resource), in order.
pub fn status_polls(world: &World) -> Vec<RequestRecord> {
    world
        .requests_to(Service::Salesforce)
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(UPLOAD_PATH))
        .collect()
}

/// How long after the emulator answered `earlier` the request `later` arrived: at least what
/// the client waited in between, however slow the machine (a sleep is never shorter).
pub fn wait_between(earlier: &RequestRecord, later: &RequestRecord) -> Duration {
    let (answered, _) = earlier
        .answered
        .unwrap_or_else(|| panic!("{earlier:?} was never answered"));
    assert!(
        later.received >= answered,
        "{later:?} came before {earlier:?} was answered"
    );
    later.received - answered
}

/// The built function binary in a process of its own, polling its own Lambda Runtime API
/// emulator: what one Lambda execution environment is.
pub struct FunctionProcess {
    api: RuntimeApi,
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl FunctionProcess {
    /// Starts the binary with exactly the test environment (nothing inherited) and waits for
    /// its first poll.
    pub async fn start(emulators: &Emulators, settings: &[(&str, &str)], name: &str) -> Self {
        let api = RuntimeApi::start(name).await;
        static PROCESSES: AtomicUsize = AtomicUsize::new(0);
        let log = std::env::temp_dir().join(format!(
            "contact-data-sync-{name}-{}-{}.log",
            std::process::id(),
            PROCESSES.fetch_add(1, Ordering::Relaxed)
        ));
        let out = std::fs::File::create(&log).unwrap();
        let mut env = function_env(settings);
        env.extend(emulators.aws_env());
        env.extend(
            [
                ("AWS_LAMBDA_RUNTIME_API", api.host_port()),
                ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_contact-data-sync"))
            .env_clear()
            .envs(&env)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), api.first_poll())
            .await
            .expect("the function polls its Runtime API");
        Self { api, child, log }
    }

    pub async fn invoke(&self, request: &Value) -> Value {
        self.api
            .invoke(request.clone(), Duration::from_secs(60))
            .await
            .unwrap()
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
