//! The access token: obtained with the OAuth JWT bearer or client credentials flow, cached
//! per org, and shared with other function instances through SCV's token store (a Secrets
//! Manager token-cache secret or an SSM parameter) when one is configured.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::credentials::{Credentials, Grant, require_secure, scv_jwt_names, scv_token_name};
use super::http::{Attempt, Resend, exchange, is_transient, retry_after};
use super::{Client, Org, OrgSession, Salesforce};
use crate::config::CredentialSource;
use crate::domain::org::same_secret;
use crate::domain::request::{RequestError, quoted};
use crate::ports::{ParameterStore, SalesforceError, SecretStore, SourceError};

/// Salesforce asks for an assertion that expires within a few minutes.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(180);

pub(super) struct AccessToken {
    pub(super) value: String,
    /// The versioned REST base, `.../services/data/vNN.N/`.
    pub(super) api_base: Url,
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

impl<S, P> Salesforce<S, P> {
    /// Where a request for `org` shares its token: the org's own token-cache secret. A
    /// `requested` one that belongs to another org is refused; one that is not configured is
    /// ignored.
    pub(super) fn token_secret_id_for(
        &self,
        org: &Arc<Org>,
        requested: Option<&str>,
    ) -> Result<Option<String>, RequestError> {
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
        match requested {
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
                Ok(own_store.cloned())
            }
            _ => Ok(own_store.cloned()),
        }
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
                Credentials::from_secret_json(&raw, api_version)
                    .map_err(|e| SalesforceError::SecretInvalid(e.into()))?
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
                )
                .map_err(|e| SalesforceError::SecretInvalid(e.into()))?
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
    pub(super) async fn token(
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
                .map_err(|e| SalesforceError::AssertionSigning(e.into()))?;
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
