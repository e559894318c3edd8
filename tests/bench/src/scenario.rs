//! One benchmark run: a world of generated contacts behind the emulators, the function as a
//! child process on a fresh Runtime API, one uploadTranscript invocation of every contact, and
//! the checks that every contact arrived whole in Salesforce.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use emulators::{
    ContactSpec, Emulators, RuntimeApi, SANDBOX_SECRET_ID, Service, ServiceStats, Stats, World,
    generated_contacts, register_sandbox_salesforce,
};
use serde_json::{Value, json};

use crate::function::Function;

pub const INSTANCE_ID: &str = "8e7b2f4c-1d3a-4e5b-9c6d-0a1b2c3d4e5f";
pub const FUNCTION_NAME: &str = "contact-data-sync";
/// The CDK stack's default memory size, which Lambda passes to the runtime.
const MEMORY_SIZE_MB: &str = "256";
/// The CDK stack's default timeout: the invocation's deadline.
pub const INVOCATION_TIMEOUT: Duration = Duration::from_secs(900);
/// A function that has not polled by then has failed to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What one run is made of.
#[derive(Clone, Debug)]
pub struct Setup {
    pub contacts: usize,
    pub segments: usize,
    pub seed: u64,
    pub aws_latency: Duration,
    pub salesforce_latency: Duration,
    /// Contact Lens (rate per second, burst); None = unlimited.
    pub quota: Option<(f64, u32)>,
    /// The function's settings that differ between runs: CONTACT_CONCURRENCY and the retries.
    pub function_env: Vec<(String, String)>,
}

/// The emulators and their world, with the function's environment pointing at them.
pub struct Stage {
    pub world: World,
    pub contacts: Vec<ContactSpec>,
    // Kept for its Drop: the emulators stop with the stage.
    _emulators: Emulators,
    env: Vec<(String, String)>,
}

impl Stage {
    pub async fn new(setup: &Setup) -> Stage {
        let world = World::new(INSTANCE_ID);
        let contacts = generated_contacts(setup.contacts, setup.segments, setup.seed);
        for contact in &contacts {
            world.add_contact(contact.clone());
        }
        let emulators = Emulators::start(&world).await;
        register_sandbox_salesforce(&world, &emulators.salesforce.url());
        for service in [
            Service::Connect,
            Service::ContactLens,
            Service::SecretsManager,
        ] {
            world.set_latency(service, setup.aws_latency);
        }
        // The emulator applies it to every Salesforce request: token and uploads alike.
        world.set_latency(Service::Salesforce, setup.salesforce_latency);
        let mut env = lambda_env(&emulators);
        env.extend(setup.function_env.iter().cloned());
        Stage {
            world,
            contacts,
            _emulators: emulators,
            env,
        }
    }

    /// Starts the function on a fresh Runtime API and waits for its first poll; returns the
    /// time from spawn to that poll (the cold start) too.
    pub async fn start_function(
        &self,
        binary: &Path,
        log: &Path,
    ) -> Result<(Function, RuntimeApi, Duration), String> {
        start_function(&self.env, binary, log).await
    }
}

/// What Lambda and the stack set for every function process, pointed at `emulators`.
pub fn lambda_env(emulators: &Emulators) -> Vec<(String, String)> {
    let mut env = emulators.aws_env();
    env.extend(
        [
            ("CONNECT_INSTANCE_ID", INSTANCE_ID),
            ("SALESFORCE_SECRET_ID", SANDBOX_SECRET_ID),
            ("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_SIZE_MB),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

/// Starts `binary` with `env` on a fresh Runtime API and waits for its first poll; returns the
/// time from spawn to that poll (the cold start) too.
pub async fn start_function(
    env: &[(String, String)],
    binary: &Path,
    log: &Path,
) -> Result<(Function, RuntimeApi, Duration), String> {
    let api = RuntimeApi::start(FUNCTION_NAME).await;
    let mut env = env.to_vec();
    env.push(("AWS_LAMBDA_RUNTIME_API".to_owned(), api.host_port()));
    let (function, spawned) = Function::spawn(binary, &env, log)?;
    let polled = tokio::time::timeout(START_TIMEOUT, api.first_poll())
        .await
        .map_err(|_| {
            format!(
                "the function did not poll the Runtime API within {START_TIMEOUT:?}; see {}",
                log.display()
            )
        })?;
    Ok((function, api, polled.duration_since(spawned)))
}

/// What a run measured and found.
pub struct Outcome {
    pub wall: Duration,
    /// Counters of the invocation alone.
    pub stats: Stats,
    pub peak_rss_kib: Option<u64>,
    /// Empty when every contact was uploaded whole; else what went wrong.
    pub failures: Vec<String>,
}

/// Runs one invocation of every contact of `stage` through a fresh function process.
pub async fn run(
    stage: &Stage,
    quota: Option<(f64, u32)>,
    binary: &Path,
    log: &Path,
) -> Result<Outcome, String> {
    let (function, api, _) = stage.start_function(binary, log).await?;
    let payload: Vec<Value> = stage
        .contacts
        .iter()
        .map(|c| json!({"contactId": c.contact_id, "relatedRecords": [c.voice_call_id]}))
        .collect();
    let event = json!({"operation": "uploadTranscript", "payload": payload});
    // The bucket starts full when set: set it now so the start-up does not refill it.
    if let Some((rate, burst)) = quota {
        stage.world.set_contact_lens_quota(rate, burst);
    }
    let before = stage.world.stats();
    let started = Instant::now();
    let answer = api.invoke(event, INVOCATION_TIMEOUT).await;
    let wall = started.elapsed();
    let stats = difference(&stage.world.stats(), &before);
    let peak_rss_kib = function.peak_rss_kib();
    function.stop().await;
    let failures = match answer {
        Ok(response) => check(&response, stage),
        Err(e) => vec![format!("the invocation failed: {e}")],
    };
    Ok(Outcome {
        wall,
        stats,
        peak_rss_kib,
        failures,
    })
}

/// Checks the documented response (every contact exactly once, SUCCESS) and what Salesforce
/// received (every turn of every contact, related to its VoiceCall).
fn check(response: &Value, stage: &Stage) -> Vec<String> {
    let mut failures = Vec::new();
    let mut statuses: HashMap<String, Vec<String>> = HashMap::new();
    for (i, element) in response.as_array().into_iter().flatten().enumerate() {
        if element["StatusCode"] != 200 {
            failures.push(format!(
                "response[{i}].StatusCode is {}",
                element["StatusCode"]
            ));
        }
        let payload: Value = element["Payload"]
            .as_str()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        for result in payload["conversationBulkUploadsResults"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let id = result["conversationIdentifier"]
                .as_str()
                .unwrap_or_default();
            let status = match result["status"].as_str() {
                Some("SUCCESS") => "SUCCESS".to_owned(),
                _ => format!("{} {}", result["status"], result["errorDetail"]),
            };
            statuses.entry(id.to_owned()).or_default().push(status);
        }
    }
    if statuses.is_empty() {
        failures.push(format!(
            "no conversationBulkUploadsResults in the response: {response}"
        ));
    }
    // A conversation uploaded again (a retried request) replaces its entries: count the last.
    let entries: HashMap<String, usize> = stage
        .world
        .uploads()
        .into_iter()
        .map(|upload| (upload.conversation_id, upload.entries.len()))
        .collect();
    for contact in &stage.contacts {
        let id = &contact.contact_id;
        match statuses.remove(id).as_deref() {
            Some([status]) if status == "SUCCESS" => {}
            Some([status]) => failures.push(format!("{id}: {status}")),
            Some(many) => failures.push(format!("{id}: reported {} times: {many:?}", many.len())),
            None => failures.push(format!("{id}: missing from the response")),
        }
        let received = entries.get(id).copied().unwrap_or_default();
        if received != contact.segments.len() {
            failures.push(format!(
                "{id}: Salesforce received {received} entries of {}",
                contact.segments.len()
            ));
        }
    }
    failures.extend(
        statuses
            .keys()
            .map(|id| format!("{id}: reported but never requested")),
    );
    failures
}

fn difference(after: &Stats, before: &Stats) -> Stats {
    let service = |s: Service| {
        let (a, b) = (after.service(s), before.service(s));
        ServiceStats {
            requests: a.requests - b.requests,
            throttled: a.throttled - b.throttled,
            errors: a.errors - b.errors,
            // A maximum cannot be split; the start-up makes no concurrent requests.
            max_in_flight: a.max_in_flight,
        }
    };
    Stats {
        connect: service(Service::Connect),
        contact_lens: service(Service::ContactLens),
        secrets_manager: service(Service::SecretsManager),
        salesforce: service(Service::Salesforce),
        ssm: service(Service::Ssm),
        token_mints: after.token_mints - before.token_mints,
        upload_requests: after.upload_requests - before.upload_requests,
        query_requests: after.query_requests - before.query_requests,
        entries_reads_refused: after.entries_reads_refused - before.entries_reads_refused,
        secret_writes: after.secret_writes - before.secret_writes,
        parameter_writes: after.parameter_writes - before.parameter_writes,
        s3: service(Service::S3),
        s3_list_requests: after.s3_list_requests - before.s3_list_requests,
        s3_get_requests: after.s3_get_requests - before.s3_get_requests,
        s3_put_requests: after.s3_put_requests - before.s3_put_requests,
        s3_create_multipart_requests: after.s3_create_multipart_requests
            - before.s3_create_multipart_requests,
        s3_upload_part_requests: after.s3_upload_part_requests - before.s3_upload_part_requests,
        s3_complete_multipart_requests: after.s3_complete_multipart_requests
            - before.s3_complete_multipart_requests,
        s3_abort_multipart_requests: after.s3_abort_multipart_requests
            - before.s3_abort_multipart_requests,
        sqs: service(Service::Sqs),
    }
}
