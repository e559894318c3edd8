//! Salesforce: OAuth token (JWT bearer or client credentials), shared with other instances
//! through SCV's token store when one is configured, and the Connect REST conversation upload
//! resources, over reqwest with rustls. One function may serve several orgs.
//!
//! Here are the orgs, the session a request uses and the ports they implement. The token is
//! obtained and shared in `token`, the conversation resources are in `conversations`, the
//! query resource is in `query`, and every call goes through `http`.

mod conversations;
pub mod credentials;
mod http;
mod query;
mod token;

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use self::credentials::Credentials;
use self::token::AccessToken;
use super::pace::Pace;
use crate::config::{CredentialSource, OrgSettings, RetrySettings, TokenPairing};
use crate::domain::existing::ExistingEntry;
use crate::domain::org::{OrgChoice, same_secret};
use crate::domain::paging::Cursor;
use crate::domain::request::{RequestError, quoted};
use crate::domain::soql::Soql;
use crate::domain::transcript::ConversationFile;
use crate::domain::usage::ApiUsage;
use crate::ports::{
    ConversationSink, ParameterStore, RawResponse, SalesforceError, SalesforceOrgs, SecretStore,
    UploadResponse, VoiceCallDirectory, VoiceCallPage,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

pub struct SalesforceSettings {
    pub api_version: String,
    pub retry: RetrySettings,
    /// This instance's share of each org's conversation entries reads, as the time between two;
    /// `None`: not paced.
    pub entries_reads: Option<Duration>,
}

/// Every org's secret and access token, held across warm invocations.
pub struct Salesforce<S, P> {
    client: Arc<Client<S, P>>,
    default: Arc<Org>,
    extras: Vec<(String, Arc<Org>)>,
    token_secret_id: Option<String>,
    extra_token_secret_ids: Vec<TokenPairing>,
}

struct Client<S, P> {
    http: reqwest::Client,
    secrets: S,
    parameters: P,
    settings: SalesforceSettings,
}

/// One org: its credentials and the access token in use, each read or minted once and shared
/// by concurrent callers; the share of its entries reads; its API usage as last reported.
struct Org {
    source: CredentialSource,
    credentials: Mutex<Option<Arc<Credentials>>>,
    token: Mutex<Option<Arc<AccessToken>>>,
    entries_reads: Pace,
    api_usage: std::sync::Mutex<Option<ApiUsage>>,
}

impl Org {
    fn new(source: CredentialSource, entries_reads: Option<Duration>) -> Arc<Self> {
        Arc::new(Self {
            source,
            credentials: Mutex::new(None),
            token: Mutex::new(None),
            entries_reads: Pace::every(entries_reads),
            api_usage: std::sync::Mutex::new(None),
        })
    }

    fn record_api_usage(&self, usage: ApiUsage) {
        *self
            .api_usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(usage);
    }

    fn api_usage(&self) -> Option<ApiUsage> {
        *self
            .api_usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The org one request uses, where its token is shared with other function instances, and
/// when every call must have ended.
pub struct OrgSession<S, P> {
    client: Arc<Client<S, P>>,
    org: Arc<Org>,
    token_secret_id: Option<String>,
    deadline: Instant,
}

impl<S: SecretStore, P: ParameterStore> Salesforce<S, P> {
    pub fn new(
        secrets: S,
        parameters: P,
        settings: SalesforceSettings,
        orgs: OrgSettings,
    ) -> Result<Self, reqwest::Error> {
        // No redirects: one would resend the bearer token, the JWT assertion or the client
        // secret to wherever Salesforce (or anyone on the path) points.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("contact-data-sync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let entries_reads = settings.entries_reads;
        Ok(Self {
            client: Arc::new(Client {
                http,
                secrets,
                parameters,
                settings,
            }),
            default: Org::new(orgs.default, entries_reads),
            extras: orgs
                .extra_secret_ids
                .into_iter()
                .map(|id| {
                    let org = Org::new(CredentialSource::Secret(id.clone()), entries_reads);
                    (id, org)
                })
                .collect(),
            token_secret_id: orgs.token_secret_id,
            extra_token_secret_ids: orgs.extra_token_secret_ids,
        })
    }

    fn org_named(&self, name: &str) -> Option<&Arc<Org>> {
        if let CredentialSource::Secret(id) = &self.default.source
            && same_secret(name, id)
        {
            return Some(&self.default);
        }
        self.extras
            .iter()
            .find(|(id, _)| same_secret(name, id))
            .map(|(_, org)| org)
    }
}

impl<S: SecretStore, P: ParameterStore> SalesforceOrgs for Salesforce<S, P> {
    type Sink = OrgSession<S, P>;

    fn select(&self, choice: &OrgChoice, deadline: Instant) -> Result<Self::Sink, RequestError> {
        let org = match &choice.secret_name {
            None => &self.default,
            Some(name) => self.org_named(name).ok_or_else(|| {
                RequestError::field(
                    "secretName",
                    format!(
                        "must be the function's Salesforce secret (SALESFORCE_SECRET_ID) or one \
                         listed in SALESFORCE_EXTRA_SECRET_IDS, got {}",
                        quoted(name)
                    ),
                )
            })?,
        };
        let token_secret_id =
            self.token_secret_id_for(org, choice.access_token_secret_name.as_deref())?;
        Ok(OrgSession {
            client: self.client.clone(),
            org: org.clone(),
            token_secret_id,
            deadline,
        })
    }
}

impl<S: SecretStore, P: ParameterStore> ConversationSink for OrgSession<S, P> {
    async fn prepare(&self) -> Result<(), SalesforceError> {
        self.by_deadline(self.token(None)).await.map(drop)
    }

    async fn upload(&self, batch: &[ConversationFile]) -> Result<UploadResponse, SalesforceError> {
        self.post_upload(batch).await
    }

    async fn existing_entries(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ExistingEntry>, SalesforceError> {
        self.conversation_entries(conversation_id).await
    }

    async fn upload_status(&self, upload_ids: &[String]) -> Result<RawResponse, SalesforceError> {
        self.upload_statuses(upload_ids).await
    }

    fn api_usage(&self) -> Option<ApiUsage> {
        self.org.api_usage()
    }
}

impl<S: SecretStore, P: ParameterStore> VoiceCallDirectory for OrgSession<S, P> {
    async fn voice_call_page(
        &self,
        soql: &Soql,
        cursor: Option<&Cursor>,
    ) -> Result<VoiceCallPage, SalesforceError> {
        self.query_page(soql, cursor).await
    }
}
