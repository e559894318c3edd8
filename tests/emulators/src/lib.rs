//! In-process HTTP emulators of the services contact-data-sync talks to: Amazon Connect
//! (DescribeContact), Contact Lens (ListRealtimeContactAnalysisSegments), Secrets Manager
//! (GetSecretValue, PutSecretValue), SSM Parameter Store (GetParameters, PutParameter), S3
//! (ListObjectsV2, GetObject: Contact Lens post-call analysis files; PutObject and multipart
//! uploads: the backfill bucket), SQS (SendMessage: automatic repair's deferred messages) and
//! Salesforce (OAuth token endpoint and the Connect REST API's conversation upload resources).
//!
//! They speak the services' real wire formats so that the function's integration tests can use
//! the real AWS SDK clients and reqwest against them. All of them share one [`World`]: the
//! contacts, secrets, parameters, S3 objects, Salesforce clients, recorded uploads and
//! conversation entries, injected faults and counters.
//!
//! ```no_run
//! # async fn demo() {
//! let world = emulators::sample_world("11111111-2222-4333-8444-555555555555");
//! let emus = emulators::Emulators::start(&world).await;
//! emulators::register_sandbox_salesforce(&world, &emus.salesforce.url());
//! for (key, value) in emus.aws_env() {
//!     println!("{key}={value}");
//! }
//! # }
//! ```
//!
//! This crate is test support only; it is never linked into the function.

mod aws;
mod connect;
mod contact_lens;
mod fault;
mod latency;
mod runtime_api;
mod s3;
mod salesforce;
mod sample;
mod secrets_manager;
mod server;
mod sqs;
mod ssm;
mod world;

pub use connect::start_connect;
pub use contact_lens::start_contact_lens;
pub use fault::Fault;
pub use runtime_api::{InvokeError, MAX_PAYLOAD_BYTES, RuntimeApi};
pub use s3::start_s3;
pub use salesforce::{start_salesforce, start_salesforce_on};
pub use sample::{
    SAMPLE_ANALYSIS_BUCKET, SAMPLE_ANALYSIS_RUNNING, SAMPLE_CJK, SAMPLE_IN_PROGRESS,
    SAMPLE_INTERNATIONAL, SAMPLE_NO_AGENT, SAMPLE_NO_TRANSCRIPT, SAMPLE_OLD_CALL,
    SAMPLE_OLD_CALL_MIDNIGHT, SAMPLE_PARTIALLY_DELIVERED, SAMPLE_REALTIME_UNAVAILABLE,
    SAMPLE_TRANSFERRED, SAMPLE_VOICE_CALLS_WITHOUT_KEY, SANDBOX_CALL_CENTER, SANDBOX_CLIENT_ID,
    SANDBOX_SECRET_ID, SANDBOX_USERNAME, SCV_STALE_TOKEN, analysis_file_json, analysis_key,
    client_credentials_secret_json, fill_analysis_day, fill_voice_calls, generated_contacts,
    jwt_secret_json, put_analysis_file, register_sandbox_salesforce, register_scv_salesforce,
    sample_world, scv_secret_json, scv_secret_name, scv_token_key, scv_token_secret_name,
    test_private_key_pem, test_public_key_pem,
};
pub use secrets_manager::start_secrets_manager;
pub use server::{Emulators, Ports, Server, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};
pub use sqs::{MessageAttribute, SentMessage, start_sqs};
pub use ssm::start_ssm;
pub use world::{
    CallType, CategoryMatch, ContactSpec, DEFAULT_SSM_KEY, InitiationMethod, LaterLegIdentifiers,
    RequestRecord, ReuploadedEntries, Segment, Service, ServiceStats, Stats, UploadProcessing,
    UploadRecord, VoiceCall, World,
};
