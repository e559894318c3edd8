//! The shared HTTP exchange with Salesforce: one request within the deadline and the body cap,
//! retried with backoff as its resend policy allows, with another token after a 401; and
//! Salesforce's REST error bodies.

use std::time::Duration;

use backon::Retryable;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use tokio::time::{Instant, timeout_at};

use super::OrgSession;
use super::token::AccessToken;
use crate::adapters::pace::Pace;
use crate::domain::usage::ApiUsage;
use crate::ports::{BoxError, ParameterStore, SalesforceError, SecretStore};

/// A Retry-After longer than this is not waited for inside one invocation.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// New tokens obtained after 401s within one request.
const MAX_TOKEN_RENEWALS: u32 = 2;
/// The largest answer read from Salesforce: an entries page of 1,000 long turns or a query page
/// of 2,000 records is a few MiB; anything near this is not an answer worth holding in memory.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Whether a request may be sent again after a failure that does not prove Salesforce refused
/// it. An upload stored twice doubles its entries, so it is sent again only after a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resend {
    /// Reading, or getting a token: sending again changes nothing in Salesforce.
    Freely,
    /// Only after 429, 503 with Retry-After, 401, or a connection that was never made.
    OnlyIfRefused,
}

/// One try of a request, and whether another is worth making.
pub(super) enum Attempt {
    Unauthorized,
    Retryable {
        error: SalesforceError,
        retry_after: Option<Duration>,
    },
    Fatal(SalesforceError),
}

impl<S: SecretStore, P: ParameterStore> OrgSession<S, P> {
    /// Tries `attempt` with backoff while it fails retryably and the next try can still start
    /// before the deadline; a Retry-After replaces the backoff's delay.
    pub(super) async fn with_backoff<T, F, Fut>(&self, attempt: F) -> Result<T, Attempt>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let deadline = self.deadline;
        attempt
            .retry(crate::adapters::backoff(self.client.settings.retry))
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
    pub(super) async fn by_deadline<T>(
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
    pub(super) async fn send<B>(
        &self,
        resend: Resend,
        build: B,
    ) -> Result<(StatusCode, bytes::Bytes), SalesforceError>
    where
        B: Fn(&AccessToken) -> reqwest::RequestBuilder,
    {
        self.send_paced(None, resend, build).await
    }

    /// [`Self::send`] where every try, a retry or one with a renewed token included, first
    /// waits for the share's next token: each try counts against the limit the share divides.
    pub(super) async fn send_paced<B>(
        &self,
        pace: Option<&Pace>,
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
                if let Some(pace) = pace {
                    timeout_at(self.deadline, pace.ready())
                        .await
                        .map_err(|_| Attempt::Fatal(SalesforceError::DeadlineExceeded))?;
                }
                let (status, headers, body) = exchange(
                    build(&current),
                    SalesforceError::Transport,
                    resend,
                    self.deadline,
                )
                .await?;
                if let Some(usage) = limit_info(&headers) {
                    self.org.record_api_usage(usage);
                }
                if status == StatusCode::UNAUTHORIZED {
                    return Err(Attempt::Unauthorized);
                }
                let error = || SalesforceError::Http {
                    status: status.as_u16(),
                    detail: rest_error_detail(&body),
                };
                if let Some(limit) = limit_refusal(status, &body) {
                    return Err(Attempt::Fatal(limit));
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

/// Sends one request and reads its body, within the deadline and [`MAX_BODY_BYTES`]. A
/// connection never made is worth another try; any other lost answer is too when `resend`
/// allows it, and otherwise means the request may have been acted on. `unreachable` says what
/// a lost answer means for this endpoint.
pub(super) async fn exchange(
    request: reqwest::RequestBuilder,
    unreachable: fn(BoxError) -> SalesforceError,
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
    // Whether a connection was ever made is known only from reqwest's error, so it is read
    // here, before the error is boxed into the port's.
    let failed = |e: reqwest::Error| {
        if e.is_connect() || resend == Resend::Freely {
            Attempt::Retryable {
                error: unreachable(e.into()),
                retry_after: None,
            }
        } else {
            lost(unreachable(e.into()))
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

/// A request limit's refusal, never worth another try within the invocation: 403
/// REQUEST_LIMIT_EXCEEDED is the org's daily allocation; REQUEST_LIMIT_EXCEEDED with another
/// status a resource's own limit, such as the conversation entries' hourly one (503). A GET
/// may be sent again freely, but each try would spend the allocation and the hour again. A 429
/// stays a refusal for now (too many requests at once), backed off and retried.
fn limit_refusal(status: StatusCode, body: &[u8]) -> Option<SalesforceError> {
    if status == StatusCode::TOO_MANY_REQUESTS || !has_error_code(body, "REQUEST_LIMIT_EXCEEDED") {
        return None;
    }
    Some(if status == StatusCode::FORBIDDEN {
        SalesforceError::LimitExceeded
    } else {
        SalesforceError::EntriesLimit {
            status: status.as_u16(),
            detail: rest_error_detail(body),
        }
    })
}

/// A 429, or a 503 that says when to come back: Salesforce turned the request away before
/// doing anything with it.
fn refused_for_now(status: StatusCode, retry_after: Option<Duration>) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some())
}

pub(super) fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// Retry-After in seconds (the form Salesforce sends), capped.
/// `Sforce-Limit-Info: api-usage=18/15000`, which every REST response carries: the org's API
/// requests used and allowed in the last 24 hours (REST API Developer Guide, "Limit Info
/// Header"). Other keys the header may gain are ignored.
fn limit_info(headers: &HeaderMap) -> Option<ApiUsage> {
    let value = headers.get("sforce-limit-info")?.to_str().ok()?;
    let usage = value
        .split(',')
        .find_map(|part| part.trim().strip_prefix("api-usage="))?;
    let (used, max) = usage.split_once('/')?;
    Some(ApiUsage {
        used: used.trim().parse().ok()?,
        max: max.trim().parse().ok()?,
    })
}

pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
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
pub(super) fn rest_error_detail(body: &[u8]) -> String {
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
    fn request_limit_refusals_are_told_apart_and_never_retried() {
        let limit = br#"[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"rate limit exceeded"}]"#;
        assert!(matches!(
            limit_refusal(StatusCode::FORBIDDEN, limit),
            Some(SalesforceError::LimitExceeded)
        ));
        let Some(entries) = limit_refusal(StatusCode::SERVICE_UNAVAILABLE, limit) else {
            panic!("a 503 REQUEST_LIMIT_EXCEEDED is a limit");
        };
        assert_eq!(entries.failure().code.as_str(), "SALESFORCE_ENTRIES_LIMIT");
        assert_eq!(entries.status_code(), 503);
        assert_eq!(
            entries.to_string(),
            "Salesforce's hourly limit of this resource is used up (HTTP 503): \
             REQUEST_LIMIT_EXCEEDED: rate limit exceeded"
        );
        assert!(limit_refusal(StatusCode::TOO_MANY_REQUESTS, limit).is_none());
        let outage = br#"[{"errorCode":"SERVER_UNAVAILABLE","message":"down"}]"#;
        assert!(limit_refusal(StatusCode::SERVICE_UNAVAILABLE, outage).is_none());
        assert!(limit_refusal(StatusCode::SERVICE_UNAVAILABLE, b"<html>").is_none());
    }

    #[test]
    fn the_orgs_api_usage_is_read_from_the_limit_info_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(limit_info(&headers), None);
        headers.insert("Sforce-Limit-Info", "api-usage=18/15000".parse().unwrap());
        assert_eq!(
            limit_info(&headers),
            Some(ApiUsage {
                used: 18,
                max: 15_000
            })
        );
        headers.insert(
            "Sforce-Limit-Info",
            "per-app-api-usage=2/250(appName=x), api-usage=7/100"
                .parse()
                .unwrap(),
        );
        assert_eq!(limit_info(&headers), Some(ApiUsage { used: 7, max: 100 }));
        headers.insert("Sforce-Limit-Info", "api-usage=lots".parse().unwrap());
        assert_eq!(limit_info(&headers), None);
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
