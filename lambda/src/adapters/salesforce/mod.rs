//! Salesforce: OAuth token (JWT bearer or client credentials) and the Connect REST
//! conversation upload resources, over reqwest with rustls.

pub mod credentials;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use url::Url;

use self::credentials::{Credentials, require_secure};
use crate::config::RetrySettings;
use crate::domain::outcome::BulkUploadResult;
use crate::domain::transcript::ConversationFile;
use crate::ports::{ConversationSink, RawResponse, SalesforceError, SecretStore, UploadResponse};

/// Salesforce asks for an assertion that expires within a few minutes.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(180);
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// A Retry-After longer than this is not waited for inside one invocation.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The upload part's filename; Salesforce needs one but does not use it.
const PART_FILENAME: &str = "transcripts.txt";

pub struct SalesforceSettings {
    pub secret_id: String,
    pub api_version: String,
    pub retry: RetrySettings,
}

/// Holds the secret and the access token across warm invocations.
pub struct Salesforce<S> {
    http: reqwest::Client,
    secrets: S,
    settings: SalesforceSettings,
    credentials: Mutex<Option<Arc<Credentials>>>,
    token: Mutex<Option<Arc<AccessToken>>>,
}

struct AccessToken {
    value: String,
    instance_url: Url,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: String,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkUploadResponse {
    conversation_bulk_uploads_results: Vec<BulkUploadResult>,
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

impl<S: SecretStore> Salesforce<S> {
    pub fn new(secrets: S, settings: SalesforceSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("contact-data-sync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            secrets,
            settings,
            credentials: Mutex::new(None),
            token: Mutex::new(None),
        })
    }

    async fn credentials(&self) -> Result<Arc<Credentials>, SalesforceError> {
        let mut cached = self.credentials.lock().await;
        if let Some(credentials) = cached.as_ref() {
            return Ok(credentials.clone());
        }
        let raw = self
            .secrets
            .secret_string(&self.settings.secret_id)
            .await
            .map_err(SalesforceError::SecretUnavailable)?;
        let credentials = Arc::new(Credentials::from_secret_json(&raw)?);
        *cached = Some(credentials.clone());
        Ok(credentials)
    }

    /// The cached token, or a new one when there is none or `stale` is the cached one (it was
    /// just refused). The lock makes concurrent callers share one new token.
    async fn token(
        &self,
        stale: Option<&Arc<AccessToken>>,
    ) -> Result<Arc<AccessToken>, SalesforceError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && !stale.is_some_and(|s| Arc::ptr_eq(s, token))
        {
            return Ok(token.clone());
        }
        let credentials = self.credentials().await?;
        match self.mint(&credentials).await {
            Ok(token) => {
                let token = Arc::new(token);
                *cached = Some(token.clone());
                tracing::info!(flow = ?credentials, "obtained a Salesforce access token");
                Ok(token)
            }
            Err(e) => {
                // A refused grant often means the secret was wrong: read it again next time.
                if matches!(e, SalesforceError::TokenRefused { .. }) {
                    *self.credentials.lock().await = None;
                }
                Err(e)
            }
        }
    }

    async fn mint(&self, credentials: &Credentials) -> Result<AccessToken, SalesforceError> {
        let (token_url, form): (&Url, Vec<(&str, String)>) = match credentials {
            Credentials::JwtBearer {
                token_url,
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
                (
                    token_url,
                    vec![
                        (
                            "grant_type",
                            "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                        ),
                        ("assertion", assertion),
                    ],
                )
            }
            Credentials::ClientCredentials {
                token_url,
                client_id,
                client_secret,
            } => (
                token_url,
                vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.clone()),
                ],
            ),
        };

        let attempt = || async {
            let (status, headers, body) = exchange(
                self.http.post(token_url.clone()).form(&form),
                SalesforceError::TokenUnreachable,
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
                source,
            })?;
        let instance_url = Url::parse(&token.instance_url)
            .ok()
            .filter(|u| require_secure(u, "instance_url").is_ok())
            .ok_or_else(|| SalesforceError::TokenRefused {
                status: 200,
                error: "the token response's instance_url is not an https URL".into(),
            })?;
        Ok(AccessToken {
            value: token.access_token,
            instance_url,
        })
    }

    async fn with_backoff<T, F, Fut>(&self, attempt: F) -> Result<T, Attempt>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.retry.base_delay)
            .with_max_delay(MAX_BACKOFF)
            .with_max_times(self.settings.retry.max_attempts.saturating_sub(1) as usize)
            .with_jitter();
        attempt
            .retry(backoff)
            .when(|a| matches!(a, Attempt::Retryable { .. }))
            .adjust(|a, delay| match a {
                Attempt::Retryable {
                    retry_after: Some(after),
                    ..
                } => delay.map(|_| *after),
                _ => delay,
            })
            .notify(|a, delay| {
                if let Attempt::Retryable { error, .. } = a {
                    tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "retrying Salesforce request");
                }
            })
            .await
    }

    /// Sends a request built afresh for each try (a multipart body cannot be sent twice), with
    /// backoff on 429/5xx and one new token after a 401.
    async fn send<B>(&self, build: B) -> Result<(StatusCode, bytes::Bytes), SalesforceError>
    where
        B: Fn(&AccessToken) -> reqwest::RequestBuilder,
    {
        let mut token = self.token(None).await?;
        let mut renewed = false;
        loop {
            let current = token.clone();
            let attempt = || async {
                let (status, headers, body) =
                    exchange(build(&current), SalesforceError::Transport).await?;
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
                    return Err(Attempt::Retryable {
                        error: error(),
                        retry_after: retry_after(&headers),
                    });
                }
                Ok((status, body))
            };
            match self.with_backoff(attempt).await {
                Ok(answer) => return Ok(answer),
                Err(Attempt::Unauthorized) if !renewed => {
                    tracing::info!("Salesforce refused the access token; obtaining a new one");
                    token = self.token(Some(&current)).await?;
                    renewed = true;
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

    fn api_url(&self, token: &AccessToken, resource: &str) -> Url {
        let mut url = token.instance_url.clone();
        url.set_path(&format!(
            "/services/data/v{}/connect/{resource}",
            self.settings.api_version
        ));
        url
    }
}

impl<S: SecretStore> ConversationSink for Salesforce<S> {
    async fn prepare(&self) -> Result<(), SalesforceError> {
        self.token(None).await.map(drop)
    }

    async fn upload(&self, batch: &[ConversationFile]) -> Result<UploadResponse, SalesforceError> {
        let (status, body) = self
            .send(|token| {
                let form = batch.iter().fold(Form::new(), |form, file| {
                    let part = Part::stream_with_length(file.body.clone(), file.body.len() as u64)
                        .file_name(PART_FILENAME);
                    form.part(file.contact_id.clone(), part)
                });
                self.http
                    .post(self.api_url(token, "conversations/upload"))
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
        let parsed: BulkUploadResponse =
            serde_json::from_slice(&body).map_err(|source| SalesforceError::UnexpectedBody {
                status: status.as_u16(),
                source,
            })?;
        Ok(UploadResponse {
            status: status.as_u16(),
            results: parsed.conversation_bulk_uploads_results,
        })
    }

    async fn upload_status(&self, upload_ids: &[String]) -> Result<RawResponse, SalesforceError> {
        let ids = upload_ids.join(",");
        let (status, body) = self
            .send(|token| {
                self.http
                    .get(self.api_url(token, "conversations/upload"))
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

/// Sends one request and reads its whole body. A request that gets no answer is worth another
/// try; `unreachable` says what that failure means for this endpoint.
async fn exchange(
    request: reqwest::RequestBuilder,
    unreachable: fn(reqwest::Error) -> SalesforceError,
) -> Result<(StatusCode, HeaderMap, bytes::Bytes), Attempt> {
    let retry = |e| Attempt::Retryable {
        error: unreachable(e),
        retry_after: None,
    };
    let response = request.send().await.map_err(retry)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(retry)?;
    Ok((status, headers, body))
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
