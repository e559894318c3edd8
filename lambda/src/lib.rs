//! contact-data-sync: Contact Lens transcripts to Salesforce Service Cloud Voice.
//!
//! `domain` is pure; `ports` are the traits the `pipeline` needs; `adapters` implement them;
//! `handler` answers an invocation; `main.rs` only wires these together.

pub mod adapters;
pub mod backfill;
pub mod config;
pub mod domain;
pub mod handler;
pub mod metrics;
pub mod pipeline;
pub mod ports;
pub mod query;
pub mod repair;

use aws_config::SdkConfig;

use adapters::connect::Connect;
use adapters::contact_lens::ContactLens;
use adapters::pace::{Pace, PacedApi};
use adapters::s3::{AnalysisBucket, BackfillBucket};
use adapters::salesforce::{Salesforce, SalesforceSettings};
use adapters::secrets::SecretsManager;
use adapters::sqs::RepairQueueSqs;
use adapters::ssm::Ssm;
use config::Config;
use handler::Handler;
use pipeline::{AnalysisFiles, Pipeline, PipelineSettings};

/// The function as deployed: real adapters around the pipeline.
pub type App = Handler<
    Connect,
    ContactLens,
    AnalysisBucket,
    Salesforce<SecretsManager, Ssm>,
    BackfillBucket,
    RepairQueueSqs,
>;

/// The AWS SDK clients, built once per cold start.
pub struct AwsClients {
    pub connect: aws_sdk_connect::Client,
    pub contact_lens: aws_sdk_connectcontactlens::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl AwsClients {
    pub fn from_sdk_config(sdk: &SdkConfig) -> Self {
        Self {
            connect: aws_sdk_connect::Client::new(sdk),
            contact_lens: aws_sdk_connectcontactlens::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            s3: adapters::aws::s3_client(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
        }
    }
}

pub fn build_app(config: &Config, clients: AwsClients) -> Result<App, reqwest::Error> {
    let orgs = Salesforce::new(
        SecretsManager::new(clients.secrets),
        Ssm::new(clients.ssm),
        SalesforceSettings {
            api_version: config.salesforce_api_version.clone(),
            retry: config.retry,
            entries_reads: config.shares.entries_reads,
        },
        config.salesforce.clone(),
    )?;
    Ok(Handler {
        pipeline: Pipeline {
            contacts: Connect::new(
                clients.connect,
                config.connect_instance_id.clone(),
                PacedApi::new(Pace::every(config.shares.describe_contact), config.retry),
            ),
            transcripts: ContactLens::new(
                clients.contact_lens,
                config.connect_instance_id.clone(),
                PacedApi::new(Pace::every(Some(config.shares.contact_lens)), config.retry),
            ),
            analysis: config.analysis_bucket.clone().map(|bucket| AnalysisFiles {
                store: AnalysisBucket::new(clients.s3.clone(), bucket),
                prefer_redacted: config.analysis_prefer_redacted,
            }),
            settings: PipelineSettings {
                contact_concurrency: config.contact_concurrency,
                upload_batch_size: config.upload_batch_size,
                upload_max_bytes: config.upload_max_bytes,
                deadline_reserve: config.deadline_reserve,
                status_poll_delay: config.retry.base_delay,
                api_usage_ceiling_percent: config.api_usage_ceiling_percent,
            },
        },
        orgs,
        backfill: config
            .backfill_bucket
            .clone()
            .map(|bucket| BackfillBucket::new(clients.s3, bucket)),
        connect_instance_id: config.connect_instance_id.clone(),
        repair_transcript_horizon: config.repair_transcript_horizon,
        repair_queue: config
            .repair_queue_url
            .clone()
            .map(|url| RepairQueueSqs::new(clients.sqs, url)),
    })
}
