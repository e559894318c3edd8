//! The request contract of contactDataSync, parsed and validated as a whole before any work.
//!
//! Input is a raw JSON value rather than a derived struct so that every error can name the
//! field, its index and the rule, in the words an admin typing into the console Test tab needs.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use thiserror::Error;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

// Re-exported: `Request::UploadTranscript` hands contacts out.
use super::contact::ContactRequest;
use super::existing::ExistingEntries;
use super::ids::{contact_id, salesforce_id_15};
use super::org::OrgChoice;

pub const MAX_CONTACTS: usize = 100;
pub const MAX_UPLOAD_IDS: usize = 100;
pub const MAX_RELATED_RECORDS: usize = 100;
const MAX_UPLOAD_ID_LEN: usize = 64;
/// No invocation lasts longer than Lambda's 15 minutes.
pub const MAX_WAIT_SECONDS: u64 = 900;
/// Secrets Manager names are at most 512 characters, and ARNs a little longer.
const MAX_SECRET_REF_LEN: usize = 2048;
pub const OPERATIONS: [&str; 4] = [
    "uploadTranscript",
    "fetchUploadIdsStatus",
    "summarizeBackfill",
    "buildBackfillManifest",
];
/// A window's manifest is built in one invocation and held in memory: a month of calls at most.
pub const MAX_WINDOW_DAYS: i64 = 31;
/// Step Functions execution names used in keys: what the backfill CLI and the console make.
const MAX_EXECUTION_NAME_LEN: usize = 80;
/// S3 object keys are at most 1,024 bytes.
const MAX_KEY_LEN: usize = 1024;
/// Where the backfill state machine's ResultWriter puts each map run's files.
const RESULTS_PREFIX: &str = "results/";
const RESULTS_MANIFEST_SUFFIX: &str = "/manifest.json";

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    UploadTranscript(Vec<ContactRequest>),
    FetchUploadIdsStatus(Vec<String>),
    /// The backfill state machine's last step: totals of a finished map run.
    SummarizeBackfill(SummaryRequest),
    /// The backfill state machine's first step for a time window: its manifest, from Salesforce.
    BuildBackfillManifest(WindowRequest),
}

/// The calls that started in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowRequest {
    pub window: Window,
    /// The execution the manifest is for, which names it.
    pub execution_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRequest {
    /// The run's manifest, echoed in the summary.
    pub manifest_key: String,
    /// The ResultWriter's `manifest.json` of the map run, in the backfill bucket.
    pub results_manifest_key: String,
}

/// A request that breaks the contract; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{0}")]
pub struct RequestError(String);

impl RequestError {
    pub fn field(field: impl std::fmt::Display, rule: impl std::fmt::Display) -> Self {
        Self(format!("{field}: {rule}"))
    }
}

pub fn parse_request(event: &Value) -> Result<Request, RequestError> {
    let Some(object) = event.as_object() else {
        return Err(RequestError::field(
            "request",
            format!("must be a JSON object, got {}", kind(event)),
        ));
    };
    let operation = match object.get("operation") {
        None => return Err(RequestError::field("operation", unsupported_operation())),
        Some(Value::String(op)) => op.as_str(),
        Some(other) => {
            return Err(RequestError::field(
                "operation",
                format!("must be a string, got {}", kind(other)),
            ));
        }
    };
    match operation {
        "uploadTranscript" => parse_contacts(object.get("payload")).map(Request::UploadTranscript),
        "fetchUploadIdsStatus" => {
            parse_upload_ids(object.get("uploadIds")).map(Request::FetchUploadIdsStatus)
        }
        "summarizeBackfill" => parse_summary_request(object).map(Request::SummarizeBackfill),
        "buildBackfillManifest" => parse_window_request(object).map(Request::BuildBackfillManifest),
        other => Err(RequestError::field(
            "operation",
            format!("{}, got {}", unsupported_operation(), quoted(other)),
        )),
    }
}

/// The optional flags of uploadTranscript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadOptions {
    /// Do everything except the upload, and report what would happen.
    pub dry_run: bool,
    pub existing_entries: ExistingEntries,
    /// Add a post-call transcript to a conversation that already holds entries. Off by
    /// default: its entries cannot be matched with what real-time delivery stored.
    pub add_post_call_to_existing: bool,
}

/// `dryRun`, `existingEntries` and `addPostCallToExisting` of an uploadTranscript request.
pub fn parse_upload_options(event: &Value) -> Result<UploadOptions, RequestError> {
    let dry_run = flag(event, "dryRun")?;
    let add_post_call_to_existing = flag(event, "addPostCallToExisting")?;
    let rule = || format!("must be one of {}", ExistingEntries::NAMES.join(", "));
    let existing_entries = match event.get("existingEntries") {
        None | Some(Value::Null) => ExistingEntries::default(),
        Some(Value::String(name)) => ExistingEntries::from_name(name).ok_or_else(|| {
            RequestError::field(
                "existingEntries",
                format!("{}, got {}", rule(), quoted(name)),
            )
        })?,
        Some(other) => {
            return Err(RequestError::field(
                "existingEntries",
                format!("{}, got {}", rule(), kind(other)),
            ));
        }
    };
    Ok(UploadOptions {
        dry_run,
        existing_entries,
        add_post_call_to_existing,
    })
}

/// An optional boolean field, false when absent.
fn flag(event: &Value, field: &'static str) -> Result<bool, RequestError> {
    match event.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(RequestError::field(
            field,
            format!("must be true or false, got {}", kind(other)),
        )),
    }
}

/// `waitSeconds` of a fetchUploadIdsStatus request: how long to wait for final statuses.
pub fn parse_wait_seconds(event: &Value) -> Result<Option<u64>, RequestError> {
    match event.get("waitSeconds") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= MAX_WAIT_SECONDS) => {
            Ok(n.as_u64())
        }
        Some(other) => Err(RequestError::field(
            "waitSeconds",
            format!(
                "must be a whole number of seconds from 0 to {MAX_WAIT_SECONDS}, got {}",
                match other {
                    Value::Number(n) => n.to_string(),
                    v => kind(v).to_owned(),
                }
            ),
        )),
    }
}

/// The optional `secretName` and `accessTokenSecretName` of either operation.
pub fn parse_org_choice(event: &Value) -> Result<OrgChoice, RequestError> {
    let field = |name: &str| -> Result<Option<String>, RequestError> {
        match event.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_SECRET_REF_LEN => {
                Ok(Some(s.trim().to_owned()))
            }
            Some(other) => Err(RequestError::field(
                name,
                format!(
                    "must be the name or ARN of a Secrets Manager secret (1 to {MAX_SECRET_REF_LEN} characters), got {}",
                    match other {
                        Value::String(s) => quoted(s),
                        v => kind(v).to_owned(),
                    }
                ),
            )),
        }
    };
    Ok(OrgChoice {
        secret_name: field("secretName")?,
        access_token_secret_name: field("accessTokenSecretName")?,
    })
}

fn unsupported_operation() -> String {
    format!("must be one of {}", OPERATIONS.join(", "))
}

fn parse_summary_request(
    object: &serde_json::Map<String, Value>,
) -> Result<SummaryRequest, RequestError> {
    let key = |field: &str| match object.get(field) {
        Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KEY_LEN => Ok(k.clone()),
        other => Err(RequestError::field(
            field,
            format!(
                "must be an S3 object key of 1 to {MAX_KEY_LEN} bytes, got {}",
                other.map_or_else(|| "nothing".to_owned(), describe)
            ),
        )),
    };
    let manifest_key = key("manifestKey")?;
    let results_manifest_key = key("resultsManifestKey")?;
    // The function reads and writes only under results/, whatever a caller puts here.
    let inside_results = results_manifest_key.starts_with(RESULTS_PREFIX)
        && results_manifest_key.ends_with(RESULTS_MANIFEST_SUFFIX)
        && !results_manifest_key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..");
    if !inside_results {
        return Err(RequestError::field(
            "resultsManifestKey",
            format!(
                "must be a map run's {RESULTS_PREFIX}<id>{RESULTS_MANIFEST_SUFFIX}, got {}",
                quoted(&results_manifest_key)
            ),
        ));
    }
    Ok(SummaryRequest {
        manifest_key,
        results_manifest_key,
    })
}

fn parse_window_request(
    object: &serde_json::Map<String, Value>,
) -> Result<WindowRequest, RequestError> {
    let window = parse_window(object.get("from"), object.get("to"))?;
    let execution_name = match object.get("executionName") {
        Some(Value::String(name))
            if (1..=MAX_EXECUTION_NAME_LEN).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            name.clone()
        }
        other => {
            return Err(RequestError::field(
                "executionName",
                format!(
                    "must be 1 to {MAX_EXECUTION_NAME_LEN} letters, digits, - or _, got {}",
                    other.map_or_else(|| "nothing".to_owned(), describe)
                ),
            ));
        }
    };
    Ok(WindowRequest {
        window,
        execution_name,
    })
}

/// A backfill window: `from` and `to` are ISO 8601 (RFC 3339) instants with a zone, `from`
/// before `to`, at most [`MAX_WINDOW_DAYS`] apart.
pub fn parse_window(from: Option<&Value>, to: Option<&Value>) -> Result<Window, RequestError> {
    let instant = |field: &str, value: Option<&Value>| {
        match value {
        Some(Value::String(text)) => OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
            RequestError::field(
                field,
                format!(
                    "must be an ISO 8601 date and time with a zone, like 2026-11-01T00:00:00Z, got {}",
                    quoted(text)
                ),
            )
        }),
        other => Err(RequestError::field(
            field,
            format!(
                "must be an ISO 8601 date and time with a zone, like 2026-11-01T00:00:00Z, got {}",
                other.map_or("nothing", kind)
            ),
        )),
    }
    };
    let from = instant("from", from)?;
    let to = instant("to", to)?;
    if from >= to {
        return Err(RequestError::field("to", "must be after from"));
    }
    if to - from > time::Duration::days(MAX_WINDOW_DAYS) {
        return Err(RequestError::field(
            "to",
            format!(
                "must be at most {MAX_WINDOW_DAYS} days after from; backfill longer periods window by window"
            ),
        ));
    }
    Ok(Window { from, to })
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => quoted(s),
        other => kind(other).to_owned(),
    }
}

fn parse_contacts(payload: Option<&Value>) -> Result<Vec<ContactRequest>, RequestError> {
    let items = non_empty_array(payload, "payload", MAX_CONTACTS, "contacts")?;
    let mut seen = HashSet::with_capacity(items.len());
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let contact = parse_contact(i, item)?;
            if !seen.insert(contact.contact_id.clone()) {
                return Err(RequestError::field(
                    format!("payload[{i}].contactId"),
                    format!(
                        "must not repeat a contactId already in the request (in any letter case), got {}",
                        quoted(&contact.as_requested)
                    ),
                ));
            }
            Ok(contact)
        })
        .collect()
}

/// How the request spelled each contactId, by the lower-case id the work is done with. The
/// response names each contact this way, so a caller matching it against its own ids finds them.
pub fn requested_spellings(contacts: &[ContactRequest]) -> HashMap<&str, &str> {
    contacts
        .iter()
        .map(|c| (c.contact_id.as_str(), c.as_requested.as_str()))
        .collect()
}

fn parse_contact(i: usize, item: &Value) -> Result<ContactRequest, RequestError> {
    let Some(item) = item.as_object() else {
        return Err(RequestError::field(
            format!("payload[{i}]"),
            format!(
                "must be an object with contactId and relatedRecords, got {}",
                kind(item)
            ),
        ));
    };
    let (contact_id, as_requested) = match item.get("contactId") {
        Some(Value::String(id)) => match contact_id(id) {
            Some(canonical) => (canonical, id.clone()),
            None => {
                return Err(RequestError::field(
                    format!("payload[{i}].contactId"),
                    format!(
                        "must be an Amazon Connect contact id (a UUID such as faaa3a21-5990-48cd-a035-e85ca8c861ff), got {}",
                        quoted(id)
                    ),
                ));
            }
        },
        other => {
            return Err(RequestError::field(
                format!("payload[{i}].contactId"),
                format!("is required and must be a string, got {}", kind_of(other)),
            ));
        }
    };
    let field = format!("payload[{i}].relatedRecords");
    let records = non_empty_array(
        item.get("relatedRecords"),
        &field,
        MAX_RELATED_RECORDS,
        "VoiceCall ids",
    )?;
    let mut related_records: Vec<String> = Vec::with_capacity(records.len());
    for (j, record) in records.iter().enumerate() {
        let Value::String(record) = record else {
            return Err(RequestError::field(
                format!("{field}[{j}]"),
                format!("must be a string, got {}", kind(record)),
            ));
        };
        let id15 = salesforce_id_15(record).map_err(|e| {
            RequestError::field(
                format!("{field}[{j}]"),
                format!("{}, got {}", e.rule(), quoted(record)),
            )
        })?;
        if !related_records.iter().any(|r| r == id15) {
            related_records.push(id15.to_owned());
        }
    }
    Ok(ContactRequest {
        contact_id,
        as_requested,
        related_records,
    })
}

fn parse_upload_ids(ids: Option<&Value>) -> Result<Vec<String>, RequestError> {
    let items = non_empty_array(ids, "uploadIds", MAX_UPLOAD_IDS, "ids")?;
    items
        .iter()
        .enumerate()
        .map(|(i, id)| match id {
            Value::String(id)
                if !id.is_empty()
                    && id.len() <= MAX_UPLOAD_ID_LEN
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                Ok(id.clone())
            }
            other => Err(RequestError::field(
                format!("uploadIds[{i}]"),
                format!(
                    "must be an upload id from an uploadTranscript response (1 to {MAX_UPLOAD_ID_LEN} letters, digits or '-'), got {}",
                    match other {
                        Value::String(s) => quoted(s),
                        v => kind(v).to_owned(),
                    }
                ),
            )),
        })
        .collect()
}

fn non_empty_array<'a>(
    value: Option<&'a Value>,
    field: &str,
    max: usize,
    what: &str,
) -> Result<&'a Vec<Value>, RequestError> {
    match value {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= max => Ok(items),
        Some(Value::Array(items)) => Err(RequestError::field(
            field,
            format!("must list 1 to {max} {what}, got {}", items.len()),
        )),
        other => Err(RequestError::field(
            field,
            format!(
                "is required and must be an array of 1 to {max} {what}, got {}",
                kind_of(other)
            ),
        )),
    }
}

fn kind_of(value: Option<&Value>) -> &'static str {
    value.map_or("nothing", kind)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Echoes a bad value, shortened so that a huge string cannot flood the response.
pub fn quoted(s: &str) -> String {
    const LIMIT: usize = 64;
    if s.chars().count() <= LIMIT {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(LIMIT).collect();
        format!("{head:?}... ({} characters)", s.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const A: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";
    const B: &str = "f15c9342-65a1-41e8-a752-81d630a2890d";

    fn err(v: Value) -> String {
        parse_request(&v).unwrap_err().to_string()
    }

    #[test]
    fn documented_upload_example_parses() {
        let request = parse_request(&json!({"operation":"uploadTranscript","payload":[
            {"contactId":A,"relatedRecords":["0LQ1Q000002TZtn"]},
            {"contactId":B,"relatedRecords":["0LQ1Q000002TAtn"]}]}))
        .unwrap();
        assert_eq!(
            request,
            Request::UploadTranscript(vec![
                ContactRequest {
                    contact_id: A.into(),
                    as_requested: A.into(),
                    related_records: vec!["0LQ1Q000002TZtn".into()]
                },
                ContactRequest {
                    contact_id: B.into(),
                    as_requested: B.into(),
                    related_records: vec!["0LQ1Q000002TAtn".into()]
                },
            ])
        );
    }

    #[test]
    fn eighteen_character_records_are_sent_as_fifteen_without_repeats() {
        let request = parse_request(&json!({"operation":"uploadTranscript","payload":[
            {"contactId":A,"relatedRecords":["0LQ1Q000002TZtnWAG","0LQ1Q000002TZtn"]}]}))
        .unwrap();
        let Request::UploadTranscript(contacts) = request else {
            panic!()
        };
        assert_eq!(contacts[0].related_records, vec!["0LQ1Q000002TZtn"]);
    }

    #[test]
    fn documented_status_example_parses() {
        let request = parse_request(&json!({"operation":"fetchUploadIdsStatus","uploadIds":[
            "f230e3d9-6c0f-3909-a0a8-1b78c634bbde","68279b80-a394-3228-b99b-c60f02ff8227"]}))
        .unwrap();
        assert_eq!(
            request,
            Request::FetchUploadIdsStatus(vec![
                "f230e3d9-6c0f-3909-a0a8-1b78c634bbde".into(),
                "68279b80-a394-3228-b99b-c60f02ff8227".into()
            ])
        );
    }

    #[test]
    fn summaries_read_only_a_map_runs_results() {
        let request = |key: Value| json!({"operation":"summarizeBackfill","manifestKey":"manifests/calls.csv","resultsManifestKey":key});
        assert_eq!(
            parse_request(&request(json!("results/0b1c/manifest.json"))).unwrap(),
            Request::SummarizeBackfill(SummaryRequest {
                manifest_key: "manifests/calls.csv".into(),
                results_manifest_key: "results/0b1c/manifest.json".into()
            })
        );
        for bad in [
            "manifests/x/manifest.json",
            "results/../secret/manifest.json",
            "results//manifest.json",
            "results/1/summary.json",
        ] {
            assert_eq!(
                err(request(json!(bad))),
                format!(
                    "resultsManifestKey: must be a map run's results/<id>/manifest.json, got {bad:?}"
                )
            );
        }
        assert_eq!(
            err(request(json!(3))),
            "resultsManifestKey: must be an S3 object key of 1 to 1024 bytes, got a number"
        );
        assert_eq!(
            err(
                json!({"operation":"summarizeBackfill","resultsManifestKey":"results/1/manifest.json"})
            ),
            "manifestKey: must be an S3 object key of 1 to 1024 bytes, got nothing"
        );
    }

    #[test]
    fn windows_are_zoned_instants_in_order_and_at_most_a_month_long() {
        let request = |from: Value, to: Value| json!({"operation":"buildBackfillManifest","from":from,"to":to,"executionName":"calls-2026"});
        let Request::BuildBackfillManifest(ok) = parse_request(&request(
            json!("2026-11-01T00:00:00Z"),
            json!("2026-11-08T01:00:00+01:00"),
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(ok.execution_name, "calls-2026");
        assert_eq!(ok.window.to - ok.window.from, time::Duration::days(7));
        let zone = "must be an ISO 8601 date and time with a zone, like 2026-11-01T00:00:00Z, got";
        for (from, to, message) in [
            (
                json!("2026-11-01T00:00:00"),
                json!("2026-11-02T00:00:00Z"),
                format!("from: {zone} \"2026-11-01T00:00:00\""),
            ),
            (
                json!("2026-11-01"),
                json!("2026-11-02T00:00:00Z"),
                format!("from: {zone} \"2026-11-01\""),
            ),
            (
                json!("2026-11-01T00:00:00Z"),
                json!(5),
                format!("to: {zone} a number"),
            ),
            (
                json!("2026-11-02T00:00:00Z"),
                json!("2026-11-01T00:00:00Z"),
                "to: must be after from".to_owned(),
            ),
            (
                json!("2026-10-01T00:00:00Z"),
                json!("2026-11-02T00:00:00Z"),
                "to: must be at most 31 days after from; backfill longer periods window by window"
                    .to_owned(),
            ),
        ] {
            assert_eq!(err(request(from, to)), message);
        }
        let mut bad_name = request(json!("2026-11-01T00:00:00Z"), json!("2026-11-02T00:00:00Z"));
        bad_name["executionName"] = json!("../x");
        assert_eq!(
            err(bad_name),
            "executionName: must be 1 to 80 letters, digits, - or _, got \"../x\""
        );
    }

    #[test]
    fn operation_errors_list_supported_operations() {
        for v in [
            json!({}),
            json!({"operation":"deleteAll"}),
            json!({"operation":7}),
        ] {
            let e = err(v);
            assert!(e.starts_with("operation: must be"), "{e}");
        }
        assert!(
            err(json!({"operation":"deleteAll"}))
                .contains("uploadTranscript, fetchUploadIdsStatus")
        );
        assert_eq!(
            err(json!([1])),
            "request: must be a JSON object, got an array"
        );
    }

    #[test]
    fn each_violation_names_field_index_and_rule() {
        let ok = json!({"contactId":A,"relatedRecords":["0LQ1Q000002TZtn"]});
        let cases = [
            (
                json!({"operation":"uploadTranscript"}),
                "payload: is required and must be an array of 1 to 100 contacts, got nothing",
            ),
            (
                json!({"operation":"uploadTranscript","payload":[]}),
                "payload: must list 1 to 100 contacts, got 0",
            ),
            (
                json!({"operation":"uploadTranscript","payload":vec![ok.clone(); 101]}),
                "payload: must list 1 to 100 contacts, got 101",
            ),
            (
                json!({"operation":"uploadTranscript","payload":[ok, "x"]}),
                "payload[1]: must be an object with contactId and relatedRecords, got a string",
            ),
            (
                json!({"operation":"uploadTranscript","payload":[{"relatedRecords":["0LQ1Q000002TZtn"]}]}),
                "payload[0].contactId: is required and must be a string, got nothing",
            ),
            (
                json!({"operation":"uploadTranscript","payload":[{"contactId":"abc","relatedRecords":["0LQ1Q000002TZtn"]}]}),
                "payload[0].contactId: must be an Amazon Connect contact id",
            ),
            (
                json!({"operation":"uploadTranscript","payload":[{"contactId":A,"relatedRecords":[]}]}),
                "payload[0].relatedRecords: must list 1 to 100 VoiceCall ids, got 0",
            ),
            (
                json!({"operation":"uploadTranscript","payload":[{"contactId":A}]}),
                "payload[0].relatedRecords: is required",
            ),
            (
                json!({"operation":"uploadTranscript","payload":[{"contactId":A,"relatedRecords":["0LQ1Q000002TZtn", 5]}]}),
                "payload[0].relatedRecords[1]: must be a string, got a number",
            ),
            (
                json!({"operation":"uploadTranscript","payload":[{"contactId":A,"relatedRecords":["0LQ1Q"]}]}),
                "payload[0].relatedRecords[0]: must be a 15- or 18-character Salesforce id, got \"0LQ1Q\"",
            ),
            (
                json!({"operation":"fetchUploadIdsStatus"}),
                "uploadIds: is required",
            ),
            (
                json!({"operation":"fetchUploadIdsStatus","uploadIds":["a", ""]}),
                "uploadIds[1]: must be an upload id",
            ),
            (
                json!({"operation":"fetchUploadIdsStatus","uploadIds":["a,b"]}),
                "uploadIds[0]: must be an upload id",
            ),
        ];
        for (request, expected) in cases {
            let e = err(request);
            assert!(
                e.starts_with(expected),
                "{e}\n  expected to start with\n{expected}"
            );
        }
    }

    #[test]
    fn a_repeated_contact_is_rejected_at_its_second_position() {
        let item = json!({"contactId":A,"relatedRecords":["0LQ1Q000002TZtn"]});
        let upper = json!({"contactId":A.to_uppercase(),"relatedRecords":["0LQ1Q000002TZtn"]});
        let e = err(json!({"operation":"uploadTranscript","payload":[item, upper]}));
        assert!(
            e.starts_with("payload[1].contactId: must not repeat"),
            "{e}"
        );
        assert!(e.ends_with(&format!("got {:?}", A.to_uppercase())), "{e}");
    }

    #[test]
    fn contact_ids_are_worked_with_in_lower_case_and_echoed_as_spelled() {
        let upper = A.to_uppercase();
        let request = parse_request(&json!({"operation":"uploadTranscript","payload":[
            {"contactId":upper,"relatedRecords":["0LQ1Q000002TZtn"]},
            {"contactId":B,"relatedRecords":["0LQ1Q000002TAtn"]}]}))
        .unwrap();
        let Request::UploadTranscript(contacts) = request else {
            panic!()
        };
        assert_eq!(
            (
                contacts[0].contact_id.as_str(),
                contacts[0].as_requested.as_str()
            ),
            (A, upper.as_str())
        );
        assert_eq!(
            requested_spellings(&contacts),
            HashMap::from([(A, upper.as_str()), (B, B)])
        );
    }

    #[test]
    fn long_bad_values_are_shortened_in_the_message() {
        let e = err(json!({"operation": "x".repeat(10_000)}));
        assert!(e.len() < 300, "{}", e.len());
        assert!(e.contains("(10000 characters)"));
    }

    #[test]
    fn org_fields_are_optional_names_or_arns() {
        assert_eq!(
            parse_org_choice(&json!({"operation":"fetchUploadIdsStatus"})).unwrap(),
            OrgChoice::default()
        );
        let choice = parse_org_choice(&json!({"secretName":" ACME-salesforce-secret ",
            "accessTokenSecretName":"ACME-salesforce-access-token-secret"}))
        .unwrap();
        assert_eq!(
            choice.secret_name.as_deref(),
            Some("ACME-salesforce-secret")
        );
        assert_eq!(
            choice.access_token_secret_name.as_deref(),
            Some("ACME-salesforce-access-token-secret")
        );
        for (field, value, got) in [
            ("secretName", json!(""), "\"\""),
            ("secretName", json!(42), "a number"),
            ("accessTokenSecretName", json!(["x"]), "an array"),
        ] {
            let message = parse_org_choice(&json!({ field: value }))
                .unwrap_err()
                .to_string();
            assert!(
                message.starts_with(&format!("{field}: must be the name or ARN")),
                "{message}"
            );
            assert!(message.ends_with(&format!("got {got}")), "{message}");
        }
    }

    #[test]
    fn upload_flags_and_wait_are_checked_by_name() {
        assert_eq!(
            parse_upload_options(&json!({})).unwrap(),
            UploadOptions::default()
        );
        assert_eq!(
            parse_upload_options(&json!({"dryRun": true, "existingEntries": "ignore"})).unwrap(),
            UploadOptions {
                dry_run: true,
                existing_entries: ExistingEntries::Ignore,
                add_post_call_to_existing: false,
            }
        );
        assert!(
            parse_upload_options(&json!({"addPostCallToExisting": true}))
                .unwrap()
                .add_post_call_to_existing
        );
        assert_eq!(
            parse_upload_options(&json!({"addPostCallToExisting": 1}))
                .unwrap_err()
                .to_string(),
            "addPostCallToExisting: must be true or false, got a number"
        );
        assert_eq!(
            parse_upload_options(&json!({"dryRun": "yes"}))
                .unwrap_err()
                .to_string(),
            "dryRun: must be true or false, got a string"
        );
        assert_eq!(
            parse_upload_options(&json!({"existingEntries": "all"}))
                .unwrap_err()
                .to_string(),
            "existingEntries: must be one of fill, skip, ignore, got \"all\""
        );
        assert_eq!(parse_wait_seconds(&json!({})).unwrap(), None);
        assert_eq!(
            parse_wait_seconds(&json!({"waitSeconds": 30})).unwrap(),
            Some(30)
        );
        for bad in [json!(-1), json!(1.5), json!(901), json!("30")] {
            let message = parse_wait_seconds(&json!({ "waitSeconds": bad }))
                .unwrap_err()
                .to_string();
            assert!(
                message.starts_with("waitSeconds: must be a whole number"),
                "{message}"
            );
        }
    }
}
