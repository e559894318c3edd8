//! `POST .../connect/conversations/upload`: multipart, one NDJSON file part per conversation,
//! each checked against every documented rule. A conversation that breaks one gets a FAILED
//! result naming the rule and nothing of it is stored.

use std::collections::HashSet;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{Host, json_response, rest_error};
use crate::fault::{self, IdMatch, Injected, Reply, RequestInfo};
use crate::server::ConnectionCloser;
use crate::world::{Conversation, Service, UploadRecord, now_ms};

const ROLES: [&str; 6] = [
    "AGENT",
    "END_USER",
    "SYSTEM",
    "CHATBOT",
    "SUPERVISOR",
    "ROUTER",
];
const APP_TYPE: &str = "TELEPHONY_INTEGRATION";
const RECORD_ID_LEN: usize = 15;

struct Part {
    name: String,
    filename: Option<String>,
    data: Bytes,
}

pub(super) async fn upload(
    State(host): State<Host>,
    ConnectInfo(connection): ConnectInfo<ConnectionCloser>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_index = {
        let mut world = host.world.lock();
        world.stats.upload_requests += 1;
        world.stats.upload_requests
    };
    let parts = match read_parts(&headers, body).await {
        Ok(parts) if parts.is_empty() => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "The request has no conversation parts",
            );
        }
        Ok(parts) => parts,
        Err(message) => return rest_error(StatusCode::BAD_REQUEST, "INVALID_INPUT", &message),
    };
    let request = RequestInfo {
        path: uri.path(),
        contact_ids: parts.iter().map(|p| p.name.as_str()).collect(),
        id_match: IdMatch::Equal,
        upload: true,
    };
    let reply = match fault::check(&host.world, Service::Salesforce, request).await {
        Injected::Respond(response) => return response,
        Injected::Proceed(reply) => reply,
    };
    let omit = match &reply {
        Reply::Results { omit } => omit.as_deref(),
        Reply::Respond(_) | Reply::Close | Reply::RepeatCursor => None,
    };

    let mut seen = HashSet::new();
    let mut results = Vec::with_capacity(parts.len());
    for part in &parts {
        let checked = if seen.insert(part.name.as_str()) {
            let conversation = host.world.lock().conversation(&part.name);
            check_part(part, conversation.as_ref())
                .map(|entries| (entries, conversation.map(|c| c.identifier)))
        } else {
            Err("the conversation appears more than once in the request".to_owned())
        };
        let result = match checked {
            Ok((entries, held_in)) => {
                let mut world = host.world.lock();
                let upload_id = world.next_uuid();
                world.salesforce.accept_upload(UploadRecord {
                    upload_id: upload_id.clone(),
                    conversation_id: part.name.clone(),
                    held_in: held_in.unwrap_or_else(|| part.name.clone()),
                    entries,
                    request_index,
                    received_at_ms: now_ms(),
                });
                json!({
                    "conversationIdentifier": part.name,
                    "errorDetail": null,
                    "status": "SUCCESS",
                    "uploadId": upload_id,
                })
            }
            Err(detail) => json!({
                "conversationIdentifier": part.name,
                "errorDetail": detail,
                "status": "FAILED",
                "uploadId": null,
            }),
        };
        // An omitted conversation is still processed: the fault models a response that lost
        // it, not a request that did.
        if omit != Some(part.name.as_str()) {
            results.push(result);
        }
    }
    let results = json_response(
        StatusCode::OK,
        &json!({ "conversationBulkUploadsResults": results }),
    );
    match reply {
        Reply::Results { .. } | Reply::RepeatCursor => results,
        Reply::Respond(response) => response,
        // The results are answered into a closed connection: none of them reaches the client.
        Reply::Close => {
            connection.close();
            results
        }
    }
}

/// Reads the whole multipart body. The body is streamed into the parser rather than taken
/// through a size-limited extractor because real uploads may be hundreds of megabytes.
async fn read_parts(headers: &HeaderMap, body: Body) -> Result<Vec<Part>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("multipart/form-data"))
        .ok_or("Content-Type must be multipart/form-data")?;
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut parts = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| format!("Malformed multipart body: {e}"))?
    {
        let name = field
            .name()
            .filter(|name| !name.is_empty())
            .ok_or("Every part needs a name: the conversation identifier")?
            .to_owned();
        let filename = field.file_name().map(str::to_owned);
        let data = field
            .bytes()
            .await
            .map_err(|e| format!("Malformed multipart body: {e}"))?;
        parts.push(Part {
            name,
            filename,
            data,
        });
    }
    Ok(parts)
}

/// Checks one conversation file; returns the entries' payloads to store, or which rule broke.
/// Salesforce documents only that "this API only supports existing closed conversations";
/// an unknown or open one is refused in the per-conversation FAILED form of the other rules.
fn check_part(part: &Part, conversation: Option<&Conversation>) -> Result<Vec<Value>, String> {
    if part.filename.as_deref().is_none_or(str::is_empty) {
        return Err("the part must be a file (it has no filename)".into());
    }
    let text =
        std::str::from_utf8(&part.data).map_err(|e| format!("the file is not valid UTF-8: {e}"))?;
    let mut lines = text
        .strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .zip(1..);

    let (first, _) = lines.next().unwrap_or_default();
    let header = parse_line(first, 1)?;
    if header["type"] != "conversation" {
        return Err("line 1: the first line must have type \"conversation\"".into());
    }
    if header["payload"]["conversationId"] != part.name.as_str() {
        return Err("line 1: payload.conversationId must equal the part name".into());
    }
    let conversation =
        conversation.ok_or_else(|| format!("conversation {} does not exist", part.name))?;
    let end_ms = conversation
        .end_ms()
        .ok_or_else(|| format!("conversation {} is not closed", part.name))?;

    let mut ids = HashSet::new();
    lines
        .map(|(line, number)| {
            let entry = parse_line(line, number)?;
            check_entry(&entry, &part.name, conversation, end_ms, &mut ids)
                .map_err(|rule| format!("line {number}: {rule}"))
        })
        .collect()
}

fn parse_line(line: &str, number: usize) -> Result<Value, String> {
    serde_json::from_str(line).map_err(|e| format!("line {number}: not valid JSON: {e}"))
}

/// Checks one conversationEntry line and returns its payload.
fn check_entry(
    entry: &Value,
    conversation_id: &str,
    conversation: &Conversation,
    end_ms: i64,
    ids: &mut HashSet<String>,
) -> Result<Value, String> {
    if entry["type"] != "conversationEntry" {
        return Err("type must be \"conversationEntry\"".into());
    }
    let payload: &Map<String, Value> = entry["payload"]
        .as_object()
        .ok_or("payload must be an object")?;
    let text = |key: &str| payload.get(key).and_then(Value::as_str);
    let integer = |key: &str| payload.get(key).and_then(Value::as_i64);

    if text("conversationId") != Some(conversation_id) {
        return Err("payload.conversationId must equal the part name".into());
    }
    let id = text("id")
        .filter(|id| !id.is_empty())
        .ok_or("payload.id must be a non-empty string")?;
    if !ids.insert(id.to_owned()) {
        return Err(format!("duplicate entry id {id}"));
    }
    let sent = integer("clientSentTimestamp")
        .ok_or("payload.clientSentTimestamp must be an integer (epoch milliseconds)")?;
    let start_ms = conversation.start_ms();
    if sent < start_ms || sent > end_ms {
        return Err(format!(
            "payload.clientSentTimestamp {sent} is outside the conversation [{start_ms}, {end_ms}]"
        ));
    }
    if integer("clientDuration").is_none_or(|d| d < 0) {
        return Err("payload.clientDuration must be an integer >= 0".into());
    }
    if text("messageText").is_none() {
        return Err("payload.messageText must be a string".into());
    }
    let sender = &payload.get("sender").unwrap_or(&Value::Null);
    if sender["appType"] != APP_TYPE {
        return Err(format!("payload.sender.appType must be {APP_TYPE}"));
    }
    if !sender["role"].as_str().is_some_and(|r| ROLES.contains(&r)) {
        return Err(format!(
            "payload.sender.role must be one of {}",
            ROLES.join(", ")
        ));
    }
    if sender["subject"].as_str().is_none_or(str::is_empty) {
        return Err("payload.sender.subject must be a non-empty string".into());
    }
    let records = payload
        .get("relatedRecords")
        .and_then(Value::as_array)
        .filter(|records| !records.is_empty())
        .ok_or("payload.relatedRecords must be a non-empty array")?;
    let valid_id = |record: &Value| {
        record.as_str().is_some_and(|r| {
            r.len() == RECORD_ID_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    };
    if !records.iter().all(valid_id) {
        return Err("payload.relatedRecords must hold 15-character record ids".into());
    }
    let voice_calls: Vec<&str> = conversation
        .legs
        .iter()
        .map(|leg| leg.voice_call_id.as_str())
        .collect();
    if !records
        .iter()
        .any(|r| r.as_str().is_some_and(|r| voice_calls.contains(&r)))
    {
        return Err(format!(
            "payload.relatedRecords must include the conversation's VoiceCall {}",
            voice_calls.join(" or ")
        ));
    }
    Ok(Value::Object(payload.clone()))
}
