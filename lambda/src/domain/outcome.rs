//! Result accounting: every contact of a request ends in exactly one
//! `conversationBulkUploadsResults` entry, in the documented response shape.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Stable codes that start every `errorDetail` this function writes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCode {
    ContactNotFound,
    CallInProgress,
    NoAgent,
    NoTranscript,
    TranscriptNotFinal,
    TranscriptUnavailable,
    Throttled,
    AccessDenied,
    AwsError,
    SalesforceError,
    SalesforceRejected,
    SalesforceAuthFailed,
    SalesforceLimitExceeded,
    /// The org has used its share of the daily API allocation this function may spend
    /// (`SALESFORCE_API_USAGE_CEILING_PERCENT`): the rest is left to its other systems.
    SalesforceApiCeiling,
    /// The conversation entries resource's hourly limit per connected app and user is used
    /// up: Salesforce answered REQUEST_LIMIT_EXCEEDED without a 403.
    SalesforceEntriesLimit,
    ConfigurationError,
    DeadlineExceeded,
    /// The upload may have reached Salesforce, which did not confirm it: sending it again now
    /// could double the transcript, so it is left to a later run that fills what is missing.
    UploadUnconfirmed,
    /// The transcript comes from the post-call analysis, a separate transcription whose entries
    /// cannot be matched with what real-time delivery stored, and the conversation is not empty.
    ConversationNotEmpty,
    /// Not a failure: the conversation already holds the transcript, so it was skipped.
    AlreadyUploaded,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ContactNotFound => "CONTACT_NOT_FOUND",
            Self::CallInProgress => "CALL_IN_PROGRESS",
            Self::NoAgent => "NO_AGENT",
            Self::NoTranscript => "NO_TRANSCRIPT",
            Self::TranscriptNotFinal => "TRANSCRIPT_NOT_FINAL",
            Self::TranscriptUnavailable => "TRANSCRIPT_UNAVAILABLE",
            Self::Throttled => "THROTTLED",
            Self::AccessDenied => "ACCESS_DENIED",
            Self::AwsError => "AWS_ERROR",
            Self::SalesforceError => "SALESFORCE_ERROR",
            Self::SalesforceRejected => "SALESFORCE_REJECTED",
            Self::SalesforceAuthFailed => "SALESFORCE_AUTH_FAILED",
            Self::SalesforceLimitExceeded => "SALESFORCE_LIMIT_EXCEEDED",
            Self::SalesforceApiCeiling => "SALESFORCE_API_CEILING",
            Self::SalesforceEntriesLimit => "SALESFORCE_ENTRIES_LIMIT",
            Self::ConfigurationError => "CONFIGURATION_ERROR",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::UploadUnconfirmed => "UPLOAD_UNCONFIRMED",
            Self::ConversationNotEmpty => "CONVERSATION_NOT_EMPTY",
            Self::AlreadyUploaded => "ALREADY_UPLOADED",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one contact was not uploaded: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: FailureCode,
    pub detail: String,
}

impl Failure {
    pub fn new(code: FailureCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    pub fn error_detail(&self) -> String {
        format!("{}: {}", self.code, self.detail)
    }
}

pub const STATUS_SUCCESS: &str = "SUCCESS";
pub const STATUS_FAILED: &str = "FAILED";
/// A contact left alone on purpose (its conversation already holds the transcript).
pub const STATUS_SKIPPED: &str = "SKIPPED";

/// The field that marks a SUCCESS confirmed by reading the conversation, and its value.
pub const CONFIRMED_BY: &str = "confirmedBy";
pub const CONFIRMED_BY_ENTRIES: &str = "CONVERSATION_ENTRIES";

/// One element of Salesforce's `conversationBulkUploadsResults`, kept as received (unknown
/// fields included) so that the response passes Salesforce's answer through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkUploadResult {
    pub conversation_identifier: String,
    #[serde(default)]
    pub error_detail: Option<String>,
    pub status: String,
    #[serde(default)]
    pub upload_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BulkUploadResult {
    pub fn failed(contact_id: &str, failure: &Failure) -> Self {
        Self {
            conversation_identifier: contact_id.to_owned(),
            error_detail: Some(failure.error_detail()),
            status: STATUS_FAILED.to_owned(),
            upload_id: None,
            extra: Map::new(),
        }
    }

    pub fn skipped(contact_id: &str, reason: &Failure) -> Self {
        Self {
            status: STATUS_SKIPPED.to_owned(),
            ..Self::failed(contact_id, reason)
        }
    }

    /// A conversation whose upload Salesforce did not acknowledge, found whole when read back:
    /// its upload id is unknown.
    pub fn confirmed(contact_id: &str) -> Self {
        let mut extra = Map::new();
        extra.insert(CONFIRMED_BY.into(), Value::from(CONFIRMED_BY_ENTRIES));
        Self {
            conversation_identifier: contact_id.to_owned(),
            error_detail: None,
            status: STATUS_SUCCESS.to_owned(),
            upload_id: None,
            extra,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.status == STATUS_SUCCESS
    }
}

/// One element of the response array: an upload request, or the contacts that never reached one.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseElement {
    /// The HTTP status of the Salesforce upload request; 502 when none arrived; 200 for the
    /// element that lists contacts failed before upload.
    pub status_code: u16,
    pub results: Vec<BulkUploadResult>,
}

/// Salesforce's answer for one batch, restricted to the batch's contacts: results for other
/// identifiers or repeats are dropped. Returns those results and the ids that Salesforce
/// omitted, which the caller must account for.
pub fn reconcile_batch(
    batch: &[String],
    returned: Vec<BulkUploadResult>,
) -> (Vec<BulkUploadResult>, Vec<String>) {
    let mut pending: HashSet<&str> = batch.iter().map(String::as_str).collect();
    let results: Vec<BulkUploadResult> = returned
        .into_iter()
        .filter(|r| pending.remove(r.conversation_identifier.as_str()))
        .collect();
    let omitted: Vec<String> = batch
        .iter()
        .filter(|id| pending.contains(id.as_str()))
        .cloned()
        .collect();
    (results, omitted)
}

/// The documented response: one `{"StatusCode","ExecutedVersion","Payload"}` per element,
/// Payload being the JSON text of `{"conversationBulkUploadsResults":[...]}`.
pub fn render_upload_response(elements: &[ResponseElement], executed_version: &str) -> Value {
    Value::Array(
        elements
            .iter()
            .map(|e| {
                let payload = json!({ "conversationBulkUploadsResults": e.results });
                invoke_result(e.status_code, executed_version, payload.to_string())
            })
            .collect(),
    )
}

/// The shape that the original function's nested Lambda invoke produced, kept for runbooks.
pub fn invoke_result(status_code: u16, executed_version: &str, payload: String) -> Value {
    json!({
        "StatusCode": status_code,
        "ExecutedVersion": executed_version,
        "Payload": payload,
    })
}

/// Upload statuses that are not final yet. Salesforce does not publish its list of status
/// values; these are the in-flight ones seen or documented for bulk jobs, and any other value
/// counts as final so that polling always ends.
const PENDING_STATUSES: [&str; 6] = [
    "IN_PROGRESS",
    "INPROGRESS",
    "PENDING",
    "QUEUED",
    "PROCESSING",
    "NOT_STARTED",
];

/// Of the requested upload ids, those whose status in a `conversationBulkUploadStatuses`
/// answer is not final yet, or which the answer does not mention; `None` when the answer is
/// not a status list.
pub fn pending_uploads(answer: &Value, requested: &[String]) -> Option<Vec<String>> {
    let statuses = answer.get("conversationBulkUploadStatuses")?.as_array()?;
    Some(
        requested
            .iter()
            .filter(|id| {
                let status = statuses
                    .iter()
                    .find(|s| s.get("uploadId").and_then(Value::as_str) == Some(id.as_str()))
                    .and_then(|s| s.get("status"))
                    .and_then(Value::as_str);
                status.is_none_or(|s| PENDING_STATUSES.contains(&s.to_ascii_uppercase().as_str()))
            })
            .cloned()
            .collect(),
    )
}

/// A request the function refuses as a whole, in the API Gateway-like shape the contract uses.
pub fn bad_request(message: &str) -> Value {
    json!({
        "statusCode": 400,
        "body": json!({ "error": message }).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(id: &str) -> BulkUploadResult {
        serde_json::from_value(json!({"conversationIdentifier":id,"errorDetail":null,"status":"SUCCESS","uploadId":format!("u-{id}")}))
            .unwrap()
    }

    #[test]
    fn omitted_contacts_are_named_and_strangers_and_repeats_are_dropped() {
        let batch = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let (results, omitted) = reconcile_batch(&batch, vec![ok("b"), ok("x"), ok("b"), ok("a")]);
        assert_eq!(omitted, ["c"]);
        let ids: Vec<_> = results
            .iter()
            .map(|r| r.conversation_identifier.as_str())
            .collect();
        assert_eq!(ids, ["b", "a"]);
    }

    #[test]
    fn response_matches_the_documented_shape_and_keeps_unknown_fields() {
        let mut result = ok("a");
        result.extra.insert("newField".into(), json!(1));
        let failed = BulkUploadResult::failed("b", &Failure::new(FailureCode::NoAgent, "no agent"));
        let response = render_upload_response(
            &[
                ResponseElement {
                    status_code: 200,
                    results: vec![result],
                },
                ResponseElement {
                    status_code: 200,
                    results: vec![failed],
                },
            ],
            "$LATEST",
        );
        assert_eq!(response[0]["StatusCode"], 200);
        assert_eq!(response[0]["ExecutedVersion"], "$LATEST");
        let payload: Value =
            serde_json::from_str(response[0]["Payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            payload,
            json!({"conversationBulkUploadsResults":[{"conversationIdentifier":"a","errorDetail":null,"status":"SUCCESS","uploadId":"u-a","newField":1}]})
        );
        let payload: Value =
            serde_json::from_str(response[1]["Payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            payload["conversationBulkUploadsResults"][0],
            json!({"conversationIdentifier":"b","errorDetail":"NO_AGENT: no agent","status":"FAILED","uploadId":null})
        );
    }

    #[test]
    fn bad_request_body_is_json_text_with_the_message() {
        let v = bad_request("payload: must list 1 to 100 contacts, got 0");
        assert_eq!(v["statusCode"], 400);
        let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "payload: must list 1 to 100 contacts, got 0");
    }
}
