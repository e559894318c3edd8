//! Salesforce: OAuth token (JWT bearer or client credentials), shared with other instances
//! through SCV's token store when one is configured, and the Connect REST conversation upload
//! resources, over reqwest with rustls. One function may serve several orgs.

pub mod credentials;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout_at};
use url::Url;

use self::credentials::{Credentials, Grant, require_secure, scv_jwt_names, scv_token_name};
use crate::config::{CredentialSource, OrgSettings, RetrySettings, TokenPairing};
use crate::domain::existing::ExistingEntry;
use crate::domain::org::{OrgChoice, same_secret};
use crate::domain::outcome::BulkUploadResult;
use crate::domain::paging::Cursor;
use crate::domain::request::{RequestError, quoted};
use crate::domain::soql::{Soql, VoiceCallRecord};
use crate::domain::transcript::ConversationFile;
use crate::ports::{
    ConversationSink, ParameterStore, RawResponse, SalesforceError, SalesforceOrgs, SecretStore,
    SourceError, UploadResponse, VoiceCallDirectory, VoiceCallPage,
};

/// Salesforce asks for an assertion that expires within a few minutes.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(180);
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// A Retry-After longer than this is not waited for inside one invocation.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The upload part's filename; Salesforce needs one but does not use it.
const PART_FILENAME: &str = "transcripts.txt";
/// The entries resource's largest page.
const ENTRIES_PAGE: usize = 1_000;
/// New tokens obtained after 401s within one request.
const MAX_TOKEN_RENEWALS: u32 = 2;
/// The largest answer read from Salesforce: an entries page of 1,000 long turns or a query page
/// of 2,000 records is a few MiB; anything near this is not an answer worth holding in memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

pub struct SalesforceSettings {
    pub api_version: String,
    pub retry: RetrySettings,
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
/// by concurrent callers.
struct Org {
    source: CredentialSource,
    credentials: Mutex<Option<Arc<Credentials>>>,
    token: Mutex<Option<Arc<AccessToken>>>,
}

impl Org {
    fn new(source: CredentialSource) -> Arc<Self> {
        Arc::new(Self {
            source,
            credentials: Mutex::new(None),
            token: Mutex::new(None),
        })
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

struct AccessToken {
    value: String,
    /// The versioned REST base, `.../services/data/vNN.N/`.
    api_base: Url,
}

/// Where SCV shares an org's access token among the Lambdas that call Salesforce.
#[derive(Debug, Clone)]
enum TokenStore {
    /// A token-cache secret: the token is under `key`, next to other keys that must be kept.
    Secret { id: String, key: String },
    /// An SSM parameter holding only the token, and the KMS key a SecureString keeps.
    Parameter {
        name: String,
        kms_key_id: Option<String>,
    },
}

impl fmt::Display for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret { id, .. } => write!(f, "secret {id}"),
            Self::Parameter { name, .. } => write!(f, "SSM parameter {name}"),
        }
    }
}

/// A token read from a store, with what writing it back needs.
struct SharedToken {
    value: Option<String>,
    /// The parameter's type, kept when the token is written back.
    parameter_kind: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: Option<String>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
}

/// A page of the conversation entries resource.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntriesPage {
    #[serde(default)]
    conversation_entries: Vec<EntryRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryRecord {
    identifier: String,
    #[serde(default)]
    client_timestamp: i64,
    #[serde(default)]
    message_text: String,
    #[serde(default)]
    sender: EntrySender,
}

#[derive(Deserialize, Default)]
struct EntrySender {
    #[serde(default)]
    role: String,
}

/// A page of the REST query resource.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    #[serde(default)]
    records: Vec<QueryRecord>,
    #[serde(default)]
    done: bool,
    next_records_url: Option<String>,
}

#[derive(Deserialize)]
struct QueryRecord {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "VendorCallKey", default)]
    vendor_call_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkUploadResponse {
    conversation_bulk_uploads_results: Vec<BulkUploadResult>,
}

/// Whether a request may be sent again after a failure that does not prove Salesforce refused
/// it. An upload stored twice doubles its entries, so it is sent again only after a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Reading, or getting a token: sending again changes nothing in Salesforce.
    Freely,
    /// Only after 429, 503 with Retry-After, 401, or a connection that was never made.
    OnlyIfRefused,
}

/// One try of a request, and whether another is worth making.
enum Attempt {
    Unauthorized,
    Retryable {
        error: SalesforceError,
        retry_after: Option<Duration>,
    },
    Fatal(SalesforceError),
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
        Ok(Self {
            client: Arc::new(Client {
                http,
                secrets,
                parameters,
                settings,
            }),
            default: Org::new(orgs.default),
            extras: orgs
                .extra_secret_ids
                .into_iter()
                .map(|id| (id.clone(), Org::new(CredentialSource::Secret(id))))
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
        // Each token-cache secret belongs to one org (checked at start), so that no org's
        // token is ever written into another org's store.
        let own_store = if Arc::ptr_eq(org, &self.default) {
            self.token_secret_id.as_ref()
        } else {
            let id = self
                .extras
                .iter()
                .find(|(_, o)| Arc::ptr_eq(o, org))
                .map(|(id, _)| id);
            self.extra_token_secret_ids
                .iter()
                .find(|p| Some(&p.org_secret_id) == id)
                .map(|p| &p.token_secret_id)
        };
        let token_secret_id = match &choice.access_token_secret_name {
            Some(name) if !own_store.is_some_and(|id| same_secret(name, id)) => {
                let mut stores = self.token_secret_id.iter().chain(
                    self.extra_token_secret_ids
                        .iter()
                        .map(|p| &p.token_secret_id),
                );
                if stores.any(|id| same_secret(name, id)) {
                    return Err(RequestError::field(
                        "accessTokenSecretName",
                        format!(
                            "must be the token-cache secret of the request's org \
                             (SALESFORCE_TOKEN_SECRET_ID for the default org, its pair in \
                             SALESFORCE_EXTRA_TOKEN_SECRET_IDS for another) or be left out, got \
                             {}, which belongs to another org",
                            quoted(name)
                        ),
                    ));
                }
                tracing::warn!(
                    accessTokenSecretName = %name,
                    "accessTokenSecretName is not listed in SALESFORCE_TOKEN_SECRET_ID or \
                     SALESFORCE_EXTRA_TOKEN_SECRET_IDS; ignored"
                );
                own_store.cloned()
            }
            _ => own_store.cloned(),
        };
        Ok(OrgSession {
            client: self.client.clone(),
            org: org.clone(),
            token_secret_id,
            deadline,
        })
    }
}

impl<S: SecretStore, P: ParameterStore> OrgSession<S, P> {
    async fn credentials(&self) -> Result<Arc<Credentials>, SalesforceError> {
        let mut cached = self.org.credentials.lock().await;
        if let Some(credentials) = cached.as_ref() {
            return Ok(credentials.clone());
        }
        let api_version = &self.client.settings.api_version;
        let credentials = match &self.org.source {
            CredentialSource::Secret(id) => {
                let raw = self
                    .client
                    .secrets
                    .secret_string(id)
                    .await
                    .map_err(SalesforceError::SecretUnavailable)?;
                Credentials::from_secret_json(&raw, api_version)?
            }
            CredentialSource::Ssm {
                call_center,
                auth_endpoint,
                rest_api_endpoint_base,
                ..
            } => {
                let found = self
                    .client
                    .parameters
                    .parameters(&scv_jwt_names(call_center))
                    .await
                    .map_err(SalesforceError::ParametersUnavailable)?;
                let values: HashMap<String, String> =
                    found.into_iter().map(|p| (p.name, p.value)).collect();
                Credentials::from_scv_parameters(
                    call_center,
                    auth_endpoint,
                    rest_api_endpoint_base,
                    &values,
                    api_version,
                )?
            }
        };
        let credentials = Arc::new(credentials);
        *cached = Some(credentials.clone());
        Ok(credentials)
    }

    /// Where this request shares the org's token: the chosen token-cache secret, or for an
    /// SSM org its access-token parameter. Only SCV credentials name the token (and fix the
    /// REST base a bare token needs).
    fn token_store(&self, credentials: &Credentials) -> Option<TokenStore> {
        let call_center = credentials.call_center.as_deref();
        match (&self.token_secret_id, call_center, &self.org.source) {
            (Some(id), Some(call_center), _) => Some(TokenStore::Secret {
                id: id.clone(),
                key: scv_token_name(call_center),
            }),
            (None, Some(call_center), CredentialSource::Ssm { kms_key_id, .. }) => {
                Some(TokenStore::Parameter {
                    name: scv_token_name(call_center),
                    kms_key_id: kms_key_id.clone(),
                })
            }
            (Some(id), None, _) => {
                tracing::warn!(
                    tokenSecret = %id,
                    "a token-cache secret is shared only with SCV-format credentials; the token stays in memory"
                );
                None
            }
            (None, _, _) => None,
        }
    }

    /// The cached token, or another when there is none or `stale` is the cached one (it was
    /// just refused). With a token store, a token another instance stored is taken before a
    /// new one is minted; a new one is minted only when the store holds none or the refused
    /// one, and is written back. The lock makes concurrent callers share one outcome.
    async fn token(
        &self,
        stale: Option<&Arc<AccessToken>>,
    ) -> Result<Arc<AccessToken>, SalesforceError> {
        let mut cached = self.org.token.lock().await;
        if let Some(token) = cached.as_ref()
            && !stale.is_some_and(|s| Arc::ptr_eq(s, token))
        {
            return Ok(token.clone());
        }
        let credentials = self.credentials().await?;
        let store = self.token_store(&credentials);
        let mut parameter_kind = None;
        if let (Some(store), Some(api_base)) = (&store, &credentials.api_base) {
            match self.client.read_shared_token(store).await {
                Ok(shared) => {
                    parameter_kind = shared.parameter_kind;
                    if let Some(value) = shared.value
                        && stale.is_none_or(|s| s.value != value)
                    {
                        tracing::info!(store = %store, "using the access token shared in the token store");
                        let token = Arc::new(AccessToken {
                            value,
                            api_base: api_base.clone(),
                        });
                        *cached = Some(token.clone());
                        return Ok(token);
                    }
                }
                Err(e) => {
                    tracing::warn!(store = %store, error = %e, "could not read the shared access token; minting one");
                }
            }
        }
        match self.mint(&credentials).await {
            Ok(token) => {
                let token = Arc::new(token);
                *cached = Some(token.clone());
                tracing::info!(flow = ?credentials, "obtained a Salesforce access token");
                if let Some(store) = &store {
                    match self
                        .client
                        .write_shared_token(store, &token.value, parameter_kind)
                        .await
                    {
                        Ok(()) => tracing::info!(store = %store, "shared the new access token"),
                        Err(e) => {
                            tracing::warn!(store = %store, error = %e, "could not share the new access token; uploads go on with it");
                        }
                    }
                }
                Ok(token)
            }
            Err(e) => {
                // A refused grant often means the secret was wrong: read it again next time.
                if matches!(e, SalesforceError::TokenRefused { .. }) {
                    *self.org.credentials.lock().await = None;
                }
                Err(e)
            }
        }
    }

    async fn mint(&self, credentials: &Credentials) -> Result<AccessToken, SalesforceError> {
        let form: Vec<(&str, String)> = match &credentials.grant {
            Grant::JwtBearer {
                client_id,
                username,
                audience,
                key,
            } => {
                let exp = (SystemTime::now() + ASSERTION_LIFETIME)
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let claims = Assertion {
                    iss: client_id,
                    sub: username,
                    aud: audience,
                    exp,
                };
                let assertion = jsonwebtoken::encode(
                    &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
                    &claims,
                    key,
                )
                .map_err(SalesforceError::AssertionSigning)?;
                vec![
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                    ),
                    ("assertion", assertion),
                ]
            }
            Grant::ClientCredentials {
                client_id,
                client_secret,
            } => vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.clone()),
            ],
        };
        let token_url = &credentials.token_url;

        let attempt = || async {
            let (status, headers, body) = exchange(
                self.client.http.post(token_url.clone()).form(&form),
                SalesforceError::TokenUnreachable,
                Resend::Freely,
                self.deadline,
            )
            .await?;
            if status.is_success() {
                return Ok(body);
            }
            let error = match serde_json::from_slice::<OAuthError>(&body) {
                Ok(e) if e.error_description.is_empty() => e.error,
                Ok(e) => format!("{}: {}", e.error, e.error_description),
                Err(_) => format!("HTTP {status} without an OAuth error body"),
            };
            let error = SalesforceError::TokenRefused {
                status: status.as_u16(),
                error,
            };
            Err(if is_transient(status) {
                Attempt::Retryable {
                    error,
                    retry_after: retry_after(&headers),
                }
            } else {
                Attempt::Fatal(error)
            })
        };
        let body = self.with_backoff(attempt).await.map_err(|a| match a {
            Attempt::Retryable { error, .. } | Attempt::Fatal(error) => error,
            Attempt::Unauthorized => SalesforceError::TokenRefused {
                status: 401,
                error: "unauthorized".into(),
            },
        })?;
        let token: TokenResponse =
            serde_json::from_slice(&body).map_err(|source| SalesforceError::UnexpectedBody {
                status: 200,
                source: source.into(),
            })?;
        let api_base = match &credentials.api_base {
            Some(base) => base.clone(),
            None => self.instance_api_base(token.instance_url.as_deref())?,
        };
        Ok(AccessToken {
            value: token.access_token,
            api_base,
        })
    }

    /// The versioned REST base under the token response's `instance_url`.
    fn instance_api_base(&self, instance_url: Option<&str>) -> Result<Url, SalesforceError> {
        let mut url = instance_url
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| require_secure(u, "instance_url").is_ok())
            .ok_or_else(|| SalesforceError::TokenRefused {
                status: 200,
                error: "the token response's instance_url is not an https URL".into(),
            })?;
        url.set_path(&format!(
            "/services/data/v{}/",
            self.client.settings.api_version
        ));
        Ok(url)
    }

    /// Tries `attempt` with backoff while it fails retryably and the next try can still start
    /// before the deadline; a Retry-After replaces the backoff's delay.
    async fn with_backoff<T, F, Fut>(&self, attempt: F) -> Result<T, Attempt>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let retry = self.client.settings.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(retry.base_delay)
            .with_max_delay(MAX_BACKOFF)
            .with_max_times(retry.max_attempts.saturating_sub(1) as usize)
            .with_jitter();
        let deadline = self.deadline;
        attempt
            .retry(backoff)
            .when(|a| matches!(a, Attempt::Retryable { .. }))
            .adjust(move |a, delay| {
                let delay = match a {
                    Attempt::Retryable {
                        retry_after: Some(after),
                        ..
                    } => delay.map(|_| *after),
                    _ => delay,
                };
                delay.filter(|d| Instant::now() + *d < deadline)
            })
            .notify(|a, delay| {
                if let Attempt::Retryable { error, .. } = a {
                    tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "retrying Salesforce request");
                }
            })
            .await
    }

    /// `call`, or [`SalesforceError::DeadlineExceeded`] when the session's deadline comes first.
    async fn by_deadline<T>(
        &self,
        call: impl Future<Output = Result<T, SalesforceError>>,
    ) -> Result<T, SalesforceError> {
        timeout_at(self.deadline, call)
            .await
            .unwrap_or(Err(SalesforceError::DeadlineExceeded))
    }

    /// Sends a request built afresh for each try (a multipart body cannot be sent twice), with
    /// backoff on what `resend` allows and another token after a 401. Two renewals are allowed:
    /// a token taken from the store may itself be one that was just revoked.
    async fn send<B>(
        &self,
        resend: Resend,
        build: B,
    ) -> Result<(StatusCode, bytes::Bytes), SalesforceError>
    where
        B: Fn(&AccessToken) -> reqwest::RequestBuilder,
    {
        let mut token = self.by_deadline(self.token(None)).await?;
        let mut renewals = 0;
        loop {
            let current = token.clone();
            let attempt = || async {
                let (status, headers, body) = exchange(
                    build(&current),
                    SalesforceError::Transport,
                    resend,
                    self.deadline,
                )
                .await?;
                if status == StatusCode::UNAUTHORIZED {
                    return Err(Attempt::Unauthorized);
                }
                let error = || SalesforceError::Http {
                    status: status.as_u16(),
                    detail: rest_error_detail(&body),
                };
                if status == StatusCode::FORBIDDEN
                    && has_error_code(&body, "REQUEST_LIMIT_EXCEEDED")
                {
                    return Err(Attempt::Fatal(SalesforceError::LimitExceeded));
                }
                if is_transient(status) {
                    let retry_after = retry_after(&headers);
                    if resend == Resend::Freely || refused_for_now(status, retry_after) {
                        return Err(Attempt::Retryable {
                            error: error(),
                            retry_after,
                        });
                    }
                    return Err(Attempt::Fatal(SalesforceError::MayHaveStored(Box::new(
                        error(),
                    ))));
                }
                Ok((status, body))
            };
            match self.with_backoff(attempt).await {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Unauthorized) if renewals < MAX_TOKEN_RENEWALS => {
                    tracing::info!("Salesforce refused the access token; obtaining another");
                    token = self.by_deadline(self.token(Some(&current))).await?;
                    renewals += 1;
                }
                Err(Attempt::Unauthorized) => {
                    return Err(SalesforceError::Http {
                        status: 401,
                        detail: "INVALID_SESSION_ID: a newly issued token was refused too".into(),
                    });
                }
                Err(Attempt::Retryable { error, .. } | Attempt::Fatal(error)) => return Err(error),
            }
        }
    }
}

impl<S: SecretStore, P: ParameterStore> Client<S, P> {
    async fn read_shared_token(&self, store: &TokenStore) -> Result<SharedToken, SourceError> {
        match store {
            TokenStore::Secret { id, key } => {
                let raw = self.secrets.secret_string(id).await?;
                let value = serde_json::from_str::<Value>(&raw)
                    .ok()
                    .and_then(|v| v.get(key)?.as_str().map(str::to_owned))
                    .filter(|v| !v.trim().is_empty());
                Ok(SharedToken {
                    value,
                    parameter_kind: None,
                })
            }
            TokenStore::Parameter { name, .. } => {
                let found = self
                    .parameters
                    .parameters(std::slice::from_ref(name))
                    .await?;
                let parameter = found.into_iter().find(|p| &p.name == name);
                Ok(SharedToken {
                    parameter_kind: parameter
                        .as_ref()
                        .map(|p| p.kind.clone())
                        .filter(|k| !k.is_empty()),
                    value: parameter.map(|p| p.value).filter(|v| !v.trim().is_empty()),
                })
            }
        }
    }

    /// Stores a new token. A token-cache secret keeps its other keys, so it is read again
    /// just before; one that is not a JSON object is left alone rather than overwritten.
    async fn write_shared_token(
        &self,
        store: &TokenStore,
        token: &str,
        parameter_kind: Option<String>,
    ) -> Result<(), SourceError> {
        match store {
            TokenStore::Secret { id, key } => {
                let raw = self.secrets.secret_string(id).await?;
                let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(&raw) else {
                    return Err(SourceError::Other {
                        message: "the token-cache secret is not a JSON object; not overwritten"
                            .into(),
                        source: "not a JSON object".into(),
                    });
                };
                object.insert(key.clone(), Value::String(token.to_owned()));
                self.secrets
                    .put_secret_string(id, &Value::Object(object).to_string())
                    .await
            }
            TokenStore::Parameter { name, kms_key_id } => {
                let kind = parameter_kind.unwrap_or_else(|| "SecureString".to_owned());
                // Only a SecureString takes a key.
                let key_id = kms_key_id.as_deref().filter(|_| kind == "SecureString");
                self.parameters
                    .put_parameter(name, token, &kind, key_id)
                    .await
            }
        }
    }
}

impl<S: SecretStore, P: ParameterStore> ConversationSink for OrgSession<S, P> {
    async fn prepare(&self) -> Result<(), SalesforceError> {
        self.by_deadline(self.token(None)).await.map(drop)
    }

    async fn upload(&self, batch: &[ConversationFile]) -> Result<UploadResponse, SalesforceError> {
        let (status, body) = self
            .send(Resend::OnlyIfRefused, |token| {
                let form = batch.iter().fold(Form::new(), |form, file| {
                    let part = Part::stream_with_length(file.body.clone(), file.body.len() as u64)
                        .file_name(PART_FILENAME);
                    form.part(file.contact_id.clone(), part)
                });
                self.client
                    .http
                    .post(api_url(token, "conversations/upload"))
                    .bearer_auth(&token.value)
                    .multipart(form)
            })
            .await?;
        if !status.is_success() {
            return Err(SalesforceError::Http {
                status: status.as_u16(),
                detail: rest_error_detail(&body),
            });
        }
        // An answer that cannot be read does not say what was stored.
        let parsed: BulkUploadResponse = serde_json::from_slice(&body).map_err(|source| {
            SalesforceError::MayHaveStored(Box::new(SalesforceError::UnexpectedBody {
                status: status.as_u16(),
                source: source.into(),
            }))
        })?;
        Ok(UploadResponse {
            status: status.as_u16(),
            results: parsed.conversation_bulk_uploads_results,
        })
    }

    async fn existing_entries(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ExistingEntry>, SalesforceError> {
        let resource = format!("conversation/{conversation_id}/entries");
        let mut entries: Vec<ExistingEntry> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut start: Option<i64> = None;
        loop {
            let (status, body) = self
                .send(Resend::Freely, |token| {
                    let mut query = vec![
                        ("queryDirection", "FromStart".to_owned()),
                        ("recordLimit", ENTRIES_PAGE.to_string()),
                    ];
                    query.extend(start.map(|s| ("startTimestamp", s.to_string())));
                    self.client
                        .http
                        .get(api_url(token, &resource))
                        .query(&query)
                        .bearer_auth(&token.value)
                })
                .await?;
            // Even a 404 is an error: reading it as "holds nothing" would upload the whole
            // transcript into a conversation that may hold it, should the 404 mean anything else.
            if !status.is_success() {
                return Err(SalesforceError::Http {
                    status: status.as_u16(),
                    detail: rest_error_detail(&body),
                });
            }
            let page: EntriesPage = serde_json::from_slice(&body).map_err(|source| {
                SalesforceError::UnexpectedBody {
                    status: status.as_u16(),
                    source: source.into(),
                }
            })?;
            let full = page.conversation_entries.len() >= ENTRIES_PAGE;
            let before = entries.len();
            for entry in page.conversation_entries {
                if seen.insert(entry.identifier.clone()) {
                    start = start.max(Some(entry.client_timestamp));
                    entries.push(ExistingEntry {
                        identifier: entry.identifier,
                        client_timestamp: entry.client_timestamp,
                        role: entry.sender.role,
                        message_text: entry.message_text,
                    });
                }
            }
            // The next page starts at the last timestamp seen (inclusive, so entries sharing
            // it are not lost); a page with nothing new means there is nothing more.
            if !full || entries.len() == before {
                return Ok(entries);
            }
        }
    }

    async fn upload_status(&self, upload_ids: &[String]) -> Result<RawResponse, SalesforceError> {
        let ids = upload_ids.join(",");
        let (status, body) = self
            .send(Resend::Freely, |token| {
                self.client
                    .http
                    .get(api_url(token, "conversations/upload"))
                    .query(&[("uploadIds", ids.as_str())])
                    .bearer_auth(&token.value)
            })
            .await?;
        Ok(RawResponse {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

impl<S: SecretStore, P: ParameterStore> VoiceCallDirectory for OrgSession<S, P> {
    async fn voice_call_page(
        &self,
        soql: &Soql,
        cursor: Option<&Cursor>,
    ) -> Result<VoiceCallPage, SalesforceError> {
        let (status, body) = self
            .send(Resend::Freely, |token| {
                let request = match cursor {
                    // A checked query path, requested on the token's own host so the token goes
                    // nowhere else.
                    Some(cursor) => self.client.http.get(same_host(token, cursor.path())),
                    None => self
                        .client
                        .http
                        .get(query_url(token))
                        .query(&[("q", soql.as_str())]),
                };
                request.bearer_auth(&token.value)
            })
            .await?;
        if !status.is_success() {
            return Err(SalesforceError::Http {
                status: status.as_u16(),
                detail: rest_error_detail(&body),
            });
        }
        let page: QueryPage =
            serde_json::from_slice(&body).map_err(|source| SalesforceError::UnexpectedBody {
                status: status.as_u16(),
                source: source.into(),
            })?;
        Ok(VoiceCallPage {
            records: page
                .records
                .into_iter()
                .map(|r| VoiceCallRecord {
                    id: r.id,
                    vendor_call_key: r.vendor_call_key,
                })
                .collect(),
            done: page.done,
            next_records_url: page.next_records_url,
        })
    }
}

/// The REST query resource beside the Connect REST resources: `{base}/services/data/vXX.X/query`.
fn query_url(token: &AccessToken) -> Url {
    token
        .api_base
        .join("query")
        .unwrap_or_else(|_| token.api_base.clone())
}

/// A path (`nextRecordsUrl`) on the host of the token's REST base.
fn same_host(token: &AccessToken, path: &str) -> Url {
    let mut url = token.api_base.clone();
    url.set_path(path);
    url.set_query(None);
    url
}

/// A Connect REST resource under the token's REST base; `resource` holds no user input that
/// could climb out of it (ids are validated), so `join` stays under the base.
fn api_url(token: &AccessToken, resource: &str) -> Url {
    token
        .api_base
        .join(&format!("connect/{resource}"))
        .unwrap_or_else(|_| token.api_base.clone())
}

/// Sends one request and reads its body, within the deadline and [`MAX_BODY_BYTES`]. A
/// connection never made is worth another try; any other lost answer is too when `resend`
/// allows it, and otherwise means the request may have been acted on. `unreachable` says what
/// a lost answer means for this endpoint.
async fn exchange(
    request: reqwest::RequestBuilder,
    unreachable: fn(reqwest::Error) -> SalesforceError,
    resend: Resend,
    deadline: Instant,
) -> Result<(StatusCode, HeaderMap, bytes::Bytes), Attempt> {
    let sent = resend == Resend::OnlyIfRefused;
    let lost = |error: SalesforceError| {
        if sent {
            Attempt::Fatal(SalesforceError::MayHaveStored(Box::new(error)))
        } else {
            Attempt::Fatal(error)
        }
    };
    let failed = |e: reqwest::Error| {
        if e.is_connect() || resend == Resend::Freely {
            Attempt::Retryable {
                error: unreachable(e),
                retry_after: None,
            }
        } else {
            lost(unreachable(e))
        }
    };
    let answer = async {
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status();
        let headers = response.headers().clone();
        let too_large = SalesforceError::BodyTooLarge {
            status: status.as_u16(),
            limit: MAX_BODY_BYTES,
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(lost(too_large));
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(lost(too_large));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, body.freeze()))
    };
    timeout_at(deadline, answer)
        .await
        .unwrap_or_else(|_| Err(lost(SalesforceError::DeadlineExceeded)))
}

/// A 429, or a 503 that says when to come back: Salesforce turned the request away before
/// doing anything with it.
fn refused_for_now(status: StatusCode, retry_after: Option<Duration>) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
}

fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// Retry-After in seconds (the form Salesforce sends), capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestError {
    #[serde(default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

fn rest_errors(body: &[u8]) -> Vec<RestError> {
    serde_json::from_slice(body).unwrap_or_default()
}

fn has_error_code(body: &[u8], code: &str) -> bool {
    rest_errors(body).iter().any(|e| e.error_code == code)
}

/// Salesforce REST errors are `[{"message","errorCode"}]`; anything else is summarised by size.
fn rest_error_detail(body: &[u8]) -> String {
    let errors = rest_errors(body);
    if errors.is_empty() {
        return format!(
            "a {}-byte body that is not a Salesforce error list",
            body.len()
        );
    }
    errors
        .iter()
        .map(|e| format!("{}: {}", e.error_code, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_errors_are_summarised_by_code_and_message() {
        let body =
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert_eq!(
            rest_error_detail(body),
            "INVALID_SESSION_ID: Session expired or invalid"
        );
        assert_eq!(
            rest_error_detail(b"<html>"),
            "a 6-byte body that is not a Salesforce error list"
        );
        assert!(has_error_code(
            br#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]"#,
            "REQUEST_LIMIT_EXCEEDED"
        ));
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
