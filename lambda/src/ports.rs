//! The small traits behind which each external system sits. The pipeline depends on these
//! only; the adapters in `adapters/` implement them with the AWS SDK and reqwest.

use std::future::Future;
use std::time::Duration;

use thiserror::Error;
use tokio::time::Instant;

use crate::domain::existing::ExistingEntry;
use crate::domain::json::JsonError;
use crate::domain::org::OrgChoice;
use crate::domain::outcome::{BulkUploadResult, Failure, FailureCode};
use crate::domain::paging::{Cursor, PagingError};
use crate::domain::request::RequestError;
use crate::domain::soql::{Soql, VoiceCallRecord};
use crate::domain::transcript::{ContactDetails, ConversationFile, Turn};
use crate::domain::usage::ApiUsage;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Amazon Connect DescribeContact.
pub trait ContactDirectory: Send + Sync {
    fn describe_contact(
        &self,
        contact_id: &str,
    ) -> impl Future<Output = Result<ContactDetails, SourceError>> + Send;
}

/// One page of Contact Lens ListRealtimeContactAnalysisSegments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentPage {
    pub turns: Vec<Turn>,
    /// All segments on the page, transcript or not: a page with none and a next token means
    /// the analysis is still running.
    pub segments: usize,
    pub next_token: Option<String>,
}

/// Contact Lens real-time analysis segments.
pub trait TranscriptSource: Send + Sync {
    fn segments_page(
        &self,
        contact_id: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<SegmentPage, SourceError>> + Send;
}

/// The S3 bucket where Contact Lens writes post-call analysis files.
pub trait AnalysisStore: Send + Sync {
    /// Every key under `prefix`, all pages of the listing.
    fn keys(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, SourceError>> + Send;

    fn object(&self, key: &str) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send;
}

/// The backfill bucket: the ResultWriter's files in, a run's summary and failed contacts out,
/// and a window's manifest streamed in as a multipart upload, part by part.
pub trait BackfillStore: Send + Sync {
    fn object(&self, key: &str) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send;

    fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// Starts a multipart upload of `key`; its upload id.
    fn start_upload(
        &self,
        key: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<String, SourceError>> + Send;

    /// Uploads part `number` (from 1) of the upload. Every part but the last must hold at
    /// least [`MIN_PART_BYTES`].
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<UploadedPart, SourceError>> + Send;

    /// Makes the parts, in order, the object.
    fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// Discards the upload and every part uploaded so far.
    fn abort_upload(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
}

/// S3's smallest part of a multipart upload, the last one excepted.
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// What completing a multipart upload needs to know of one of its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: i32,
    pub etag: String,
    /// The part's CRC32 (base64), which S3 wants back when the upload was started with it.
    pub checksum_crc32: Option<String>,
}

/// Secrets Manager GetSecretValue and PutSecretValue.
pub trait SecretStore: Send + Sync {
    fn secret_string(
        &self,
        secret_id: &str,
    ) -> impl Future<Output = Result<String, SourceError>> + Send;

    /// Stores a new current version of the secret.
    fn put_secret_string(
        &self,
        secret_id: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
}

/// One SSM parameter, decrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub value: String,
    /// "String", "StringList" or "SecureString".
    pub kind: String,
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parameter")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// SSM Parameter Store GetParameters (with decryption) and PutParameter.
pub trait ParameterStore: Send + Sync {
    /// The parameters that exist among `names` (at most 10); missing ones are simply absent.
    fn parameters(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<Parameter>, SourceError>> + Send;

    /// Overwrites (or creates) a parameter of this kind. A SecureString is encrypted with
    /// `key_id`; without one, AWS uses the account's default key (aws/ssm), whatever key the
    /// parameter had.
    fn put_parameter(
        &self,
        name: &str,
        value: &str,
        kind: &str,
        key_id: Option<&str>,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
}

/// Automatic repair's queue, into which a message waiting for a budget is sent back.
pub trait RepairQueue: Send + Sync {
    /// Sends `body` to the queue again, to be delivered after `delay`, carrying the number of
    /// times it was sent back so far (`deferrals`).
    fn send_back(
        &self,
        body: &str,
        delay: Duration,
        deferrals: u32,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
}

/// The Salesforce orgs the function may upload to; a request picks one with `secretName`.
pub trait SalesforceOrgs: Send + Sync {
    type Sink: ConversationSink + VoiceCallDirectory;

    /// The org a request names, or the default one. A name the function is not configured
    /// with is an error naming the field, found before any AWS call. Every call the session
    /// makes ends by `deadline`, answered or not.
    fn select(&self, choice: &OrgChoice, deadline: Instant) -> Result<Self::Sink, RequestError>;
}

/// Salesforce's VoiceCall records, read with SOQL through the REST query resource one page at
/// a time; [`crate::query`] follows the pages.
pub trait VoiceCallDirectory: Send + Sync {
    /// The query's first page, or with a cursor the page it names.
    fn voice_call_page(
        &self,
        soql: &Soql,
        cursor: Option<&Cursor>,
    ) -> impl Future<Output = Result<VoiceCallPage, SalesforceError>> + Send;
}

/// One page of a query's result, as Salesforce sent it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VoiceCallPage {
    pub records: Vec<VoiceCallRecord>,
    pub done: bool,
    pub next_records_url: Option<String>,
}

/// Salesforce's Connect REST conversation upload resources.
pub trait ConversationSink: Send + Sync {
    /// Checks that credentials work before any transcript is read, so that a broken secret or
    /// token endpoint costs no Contact Lens quota.
    fn prepare(&self) -> impl Future<Output = Result<(), SalesforceError>> + Send;

    /// One upload request. It is sent again only after failures that prove Salesforce stored
    /// nothing; any other failure comes back as [`SalesforceError::MayHaveStored`].
    fn upload(
        &self,
        batch: &[ConversationFile],
    ) -> impl Future<Output = Result<UploadResponse, SalesforceError>> + Send;

    /// Every entry the conversation already holds; none when Salesforce has no such
    /// conversation yet.
    fn existing_entries(
        &self,
        conversation_id: &str,
    ) -> impl Future<Output = Result<Vec<ExistingEntry>, SalesforceError>> + Send;

    /// The status resource's answer, passed through as received.
    fn upload_status(
        &self,
        upload_ids: &[String],
    ) -> impl Future<Output = Result<RawResponse, SalesforceError>> + Send;

    /// The org's API usage as its last answer to this instance reported it; `None` before any.
    fn api_usage(&self) -> Option<ApiUsage>;
}

#[derive(Debug, Clone, PartialEq)]
pub struct UploadResponse {
    pub status: u16,
    pub results: Vec<BulkUploadResult>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RawResponse {
    pub status: u16,
    pub body: String,
}

/// How an AWS call failed, in the terms the pipeline acts on.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("not found: {message}")]
    NotFound {
        message: String,
        #[source]
        source: BoxError,
    },
    #[error("throttled after retries: {message}")]
    Throttled {
        message: String,
        #[source]
        source: BoxError,
    },
    #[error("access denied: {message}")]
    AccessDenied {
        message: String,
        #[source]
        source: BoxError,
    },
    #[error("{message}")]
    Other {
        message: String,
        #[source]
        source: BoxError,
    },
}

impl SourceError {
    /// The failure of a contact whose call to this source failed; `not_found` says what a
    /// missing resource means for that source.
    pub fn failure(&self, not_found: FailureCode, not_found_detail: &str) -> Failure {
        match self {
            Self::NotFound { message, .. } => {
                Failure::new(not_found, format!("{not_found_detail} ({message})"))
            }
            Self::Throttled { message, .. } => Failure::new(
                FailureCode::Throttled,
                format!(
                    "AWS kept throttling after all retries ({message}); resubmit this contact later"
                ),
            ),
            Self::AccessDenied { message, .. } => Failure::new(
                FailureCode::AccessDenied,
                format!("the function's role may not make this call ({message})"),
            ),
            Self::Other { message, .. } => Failure::new(FailureCode::AwsError, message.clone()),
        }
    }
}

/// How a Salesforce call failed. Messages never hold tokens, keys or transcript text. The
/// adapter boxes its own errors (reqwest's, jsonwebtoken's, the secret's) as sources, so that
/// nothing here depends on it; what it decides from their kind, it decides before boxing them.
#[derive(Debug, Error)]
pub enum SalesforceError {
    #[error("the Salesforce secret could not be read: {0}")]
    SecretUnavailable(#[source] SourceError),
    #[error("the Salesforce SSM parameters could not be read: {0}")]
    ParametersUnavailable(#[source] SourceError),
    #[error("the Salesforce credentials are invalid: {0}")]
    SecretInvalid(#[source] BoxError),
    #[error("the JWT assertion could not be signed with privateKey: {0}")]
    AssertionSigning(#[source] BoxError),
    #[error("Salesforce refused the OAuth token request (HTTP {status}): {error}")]
    TokenRefused { status: u16, error: String },
    #[error("the Salesforce token endpoint could not be reached: {0}")]
    TokenUnreachable(#[source] BoxError),
    #[error("the org's API request limit is used up (REQUEST_LIMIT_EXCEEDED)")]
    LimitExceeded,
    /// A rate limit of the resource rather than the org's allocation: REQUEST_LIMIT_EXCEEDED
    /// with another status than 403, as the conversation entries resource's hourly limit per
    /// connected app and user answers (503). Trying again within the hour only spends more.
    #[error("Salesforce's hourly limit of this resource is used up (HTTP {status}): {detail}")]
    EntriesLimit { status: u16, detail: String },
    #[error("Salesforce answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("Salesforce could not be reached: {0}")]
    Transport(#[source] BoxError),
    #[error("Salesforce answered HTTP {status} with an unreadable body: {source}")]
    UnexpectedBody {
        status: u16,
        #[source]
        source: JsonError,
    },
    #[error("Salesforce answered HTTP {status} with a body larger than {limit} bytes")]
    BodyTooLarge { status: u16, limit: usize },
    #[error("the invocation's deadline came before Salesforce answered")]
    DeadlineExceeded,
    /// An upload that Salesforce may have stored although it did not say so: a 5xx after the
    /// request was sent, a connection lost before the answer, an unreadable answer.
    #[error("Salesforce may have stored the upload: {0}")]
    MayHaveStored(#[source] Box<SalesforceError>),
    #[error("the query's result could not be paged: {0}")]
    Paging(#[from] PagingError),
}

impl SalesforceError {
    pub fn failure(&self) -> Failure {
        let code = match self {
            Self::SecretUnavailable(_)
            | Self::ParametersUnavailable(_)
            | Self::SecretInvalid(_)
            | Self::AssertionSigning(_) => FailureCode::ConfigurationError,
            Self::TokenRefused { .. } | Self::TokenUnreachable(_) => {
                FailureCode::SalesforceAuthFailed
            }
            Self::LimitExceeded => FailureCode::SalesforceLimitExceeded,
            Self::EntriesLimit { .. } => FailureCode::SalesforceEntriesLimit,
            Self::Http { .. }
            | Self::Transport(_)
            | Self::UnexpectedBody { .. }
            | Self::BodyTooLarge { .. }
            | Self::Paging(_) => FailureCode::SalesforceError,
            Self::DeadlineExceeded => FailureCode::DeadlineExceeded,
            Self::MayHaveStored(_) => FailureCode::UploadUnconfirmed,
        };
        Failure::new(code, self.to_string())
    }

    /// The status for the response element: Salesforce's own when it answered, else 502.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Http { status, .. }
            | Self::EntriesLimit { status, .. }
            | Self::UnexpectedBody { status, .. }
            | Self::BodyTooLarge { status, .. } => *status,
            Self::LimitExceeded => 403,
            Self::DeadlineExceeded => 504,
            Self::MayHaveStored(cause) => cause.status_code(),
            _ => 502,
        }
    }

    /// Salesforce refused a whole upload request as malformed or not allowed for what it holds
    /// (a 4xx other than an auth, limit, timeout or throttling answer): it stored nothing, and
    /// a request with fewer conversations may pass.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::Http {
                status: 400..=499,
                ..
            }
        ) && !matches!(
            self,
            Self::Http {
                status: 401 | 403 | 408 | 429,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// The adapter's own errors reach the ports boxed: their message and their place in the
    /// source chain must survive, or logs and `errorDetail` lose the cause.
    #[test]
    fn boxed_adapter_errors_keep_their_message_and_source() {
        let refused = || -> BoxError { Box::new(std::io::Error::other("connection refused")) };
        let cases = [
            (
                SalesforceError::Transport(refused()),
                "Salesforce could not be reached: connection refused",
            ),
            (
                SalesforceError::TokenUnreachable(refused()),
                "the Salesforce token endpoint could not be reached: connection refused",
            ),
            (
                SalesforceError::SecretInvalid(refused()),
                "the Salesforce credentials are invalid: connection refused",
            ),
            (
                SalesforceError::AssertionSigning(refused()),
                "the JWT assertion could not be signed with privateKey: connection refused",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.source().unwrap().to_string(), "connection refused");
        }
    }
}
