//! Amazon SQS SendMessage (AWS JSON 1.0): `POST /` with `X-Amz-Target: AmazonSQS.SendMessage`
//! and `Content-Type: application/x-amz-json-1.0`, as aws-sdk-sqs sends it since SQS moved off
//! the query protocol in 2023. The SDK also sends `x-amzn-query-mode: true`, and reads an
//! error's code from the answer's `x-amzn-query-error: <code>;Sender|Receiver`, which every
//! error here carries.
//!
//! Rules, from the SendMessage API reference: `DelaySeconds` 0 to 900; a body of 1 to 262,144
//! bytes (the queue's MaximumMessageSize here) of the characters `#x9 | #xA | #xD | #x20 to
//! #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`; at most 10 message attributes, each with a
//! `DataType` of String, Number or Binary (with an optional `.custom` suffix) and the value that
//! type takes. The answer's `MD5OfMessageBody` is the body's MD5, and `MD5OfMessageAttributes`
//! that of the attributes encoded as the Developer Guide's "Calculating the MD5 message digest
//! for message attributes" says.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use base64::Engine;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::json;

use crate::aws::{self, ACCOUNT_ID, Protocol};
use crate::fault::{self, IdMatch, Injected, RequestInfo};
use crate::server::{self, Server};
use crate::world::{Service, World};

const SEND_MESSAGE: &str = "AmazonSQS.SendMessage";
const MAX_DELAY_SECONDS: i64 = 900;
pub(crate) const MAX_BODY_BYTES: usize = 262_144;
const MAX_ATTRIBUTES: usize = 10;
const MAX_ATTRIBUTE_NAME: usize = 256;

/// One message a client sent to a queue, as the queue holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    pub message_id: String,
    pub body: String,
    /// The message's delay: `DelaySeconds`, or 0 (the queue's default) without one.
    pub delay_seconds: u32,
    pub attributes: BTreeMap<String, MessageAttribute>,
}

/// A message attribute as sent: its data type and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageAttribute {
    /// `String`, `Number` or `Binary`, possibly with a custom suffix (`Number.int`).
    pub data_type: String,
    /// The value of a String or Number attribute.
    pub string_value: Option<String>,
    /// The value of a Binary attribute, decoded.
    pub binary_value: Option<Vec<u8>>,
}

/// The queues of the emulated account, by name, and the URL of the SQS emulator once one runs.
#[derive(Default)]
pub(crate) struct SqsState {
    pub endpoint: Option<String>,
    pub queues: BTreeMap<String, Vec<SentMessage>>,
}

/// Starts the SQS emulator on a free port.
pub async fn start_sqs(world: &World) -> Server {
    start_on(world, 0).await
}

pub(crate) async fn start_on(world: &World, port: u16) -> Server {
    let (listener, url) = server::bind(port).await;
    world.lock().sqs.endpoint.get_or_insert(url);
    let router = Router::new()
        .route("/", post(dispatch))
        .with_state(world.clone());
    server::serve(listener, world, Service::Sqs, router)
}

/// A queue's URL: on the SQS emulator when one runs, else in the regional AWS form. Either
/// names the queue by its path, `/<account>/<name>`, which is all the emulator reads of it.
pub(crate) fn queue_url(endpoint: Option<&str>, name: &str) -> String {
    let host = endpoint.map_or_else(
        || format!("https://sqs.{}.amazonaws.com", aws::REGION),
        str::to_owned,
    );
    format!("{host}/{ACCOUNT_ID}/{name}")
}

/// The queue name a URL names in this account; None for anything else.
pub(crate) fn queue_name(queue_url: &str) -> Option<String> {
    let url = url::Url::parse(queue_url).ok()?;
    let mut segments = url.path_segments()?;
    match (segments.next(), segments.next(), segments.next()) {
        (Some(ACCOUNT_ID), Some(name), None) if !name.is_empty() => Some(name.to_owned()),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageRequest {
    queue_url: Option<String>,
    message_body: Option<String>,
    delay_seconds: Option<i64>,
    #[serde(default)]
    message_attributes: BTreeMap<String, AttributeValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeValue {
    data_type: Option<String>,
    string_value: Option<String>,
    binary_value: Option<String>,
    string_list_values: Option<Vec<String>>,
    binary_list_values: Option<Vec<String>>,
}

async fn dispatch(
    State(world): State<World>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send_message(&world, uri.path(), &headers, &body)
        .await
        .unwrap_or_else(|error| error)
}

async fn send_message(world: &World, path: &str, headers: &HeaderMap, body: &[u8]) -> aws::Outcome {
    if let Some(denied) = aws::reject_unsigned(headers, "sqs", Protocol::AwsJson10) {
        return Err(denied);
    }
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if target != Some(SEND_MESSAGE) {
        return Err(aws::error(
            Protocol::AwsJson10,
            400,
            "UnknownOperationException",
            &format!("This emulator only implements {SEND_MESSAGE}"),
        ));
    }
    let request: SendMessageRequest = serde_json::from_slice(body).map_err(|e| {
        aws::error(
            Protocol::AwsJson10,
            400,
            "SerializationException",
            &format!("the request body is not a SendMessage request: {e}"),
        )
    })?;
    let queue_url = request.queue_url.unwrap_or_default();
    let message_body = request.message_body.unwrap_or_default();
    // Faults aimed with `for_contact` match a QueueUrl or body that contains the id: the body
    // of a repair message is a contact event naming its contact.
    let about = RequestInfo {
        path,
        contact_ids: vec![&queue_url, &message_body],
        id_match: IdMatch::Within,
        upload: false,
    };
    if let Injected::Respond(response) = fault::check(world, Service::Sqs, about).await {
        return Err(response);
    }
    if url::Url::parse(&queue_url).is_err() {
        return Err(aws::error(
            Protocol::AwsJson10,
            404,
            "InvalidAddress",
            &format!("The address {queue_url} is not valid for this endpoint."),
        ));
    }
    let name = queue_name(&queue_url)
        .filter(|name| world.lock().sqs.queues.contains_key(name))
        .ok_or_else(non_existent_queue)?;
    let delay_seconds = match request.delay_seconds {
        None => 0,
        Some(delay @ 0..=MAX_DELAY_SECONDS) => delay as u32,
        Some(delay) => {
            return Err(invalid_parameter(&format!(
                "Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must \
                 be >= 0 and <= {MAX_DELAY_SECONDS}."
            )));
        }
    };
    if message_body.is_empty() {
        return Err(aws::error(
            Protocol::AwsJson10,
            400,
            "MissingParameter",
            "The request must contain the parameter MessageBody.",
        ));
    }
    if message_body.len() > MAX_BODY_BYTES {
        return Err(invalid_parameter(&format!(
            "One or more parameters are invalid. Reason: Message must be shorter than \
             {MAX_BODY_BYTES} bytes."
        )));
    }
    if !message_body.chars().all(allowed_char) {
        return Err(aws::error(
            Protocol::AwsJson10,
            400,
            "InvalidMessageContents",
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to \
             #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        ));
    }
    let attributes = message_attributes(request.message_attributes)?;

    let mut state = world.lock();
    let message_id = state.next_uuid();
    let mut answer = json!({
        "MessageId": message_id,
        "MD5OfMessageBody": hex_md5(message_body.as_bytes()),
    });
    if !attributes.is_empty() {
        answer["MD5OfMessageAttributes"] = json!(attributes_md5(&attributes));
    }
    state
        .sqs
        .queues
        .get_mut(&name)
        .expect("the queue was found above and queues are never deleted")
        .push(SentMessage {
            message_id,
            body: message_body,
            delay_seconds,
            attributes,
        });
    Ok(aws::ok(Protocol::AwsJson10, &answer))
}

/// The attributes as sent, or the refusal of the first that SQS would refuse.
// The refusal is the answer itself, returned once per request; boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn message_attributes(
    sent: BTreeMap<String, AttributeValue>,
) -> Result<BTreeMap<String, MessageAttribute>, Response> {
    if sent.len() > MAX_ATTRIBUTES {
        return Err(invalid_parameter(&format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            sent.len()
        )));
    }
    let mut attributes = BTreeMap::new();
    for (name, value) in sent {
        if !valid_attribute_name(&name) {
            return Err(invalid_parameter(&format!(
                "Message attribute name '{name}' is invalid."
            )));
        }
        let Some(data_type) = value.data_type.filter(|t| !t.is_empty()) else {
            return Err(invalid_parameter(&format!(
                "The message attribute '{name}' must contain non-empty message attribute type."
            )));
        };
        if value.string_list_values.is_some() || value.binary_list_values.is_some() {
            return Err(invalid_parameter(&format!(
                "Message attribute '{name}' uses StringListValues or BinaryListValues, which \
                 are reserved for future use."
            )));
        }
        let base = data_type.split('.').next().unwrap_or_default();
        let (string_value, binary_value) = match (base, value.string_value, value.binary_value) {
            ("String", Some(text), None) if !text.is_empty() && text.chars().all(allowed_char) => {
                (Some(text), None)
            }
            ("Number", Some(number), None) if is_number(&number) => (Some(number), None),
            ("Binary", None, Some(encoded)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| {
                        invalid_parameter(&format!(
                            "Message attribute '{name}' must contain a non-empty, base64-encoded \
                             binary value."
                        ))
                    })?;
                (None, Some(bytes))
            }
            _ => {
                return Err(invalid_parameter(&format!(
                    "Message attribute '{name}' with type '{data_type}' must contain a valid \
                     value of that type, and no other."
                )));
            }
        };
        if data_type.len() > MAX_ATTRIBUTE_NAME || !matches!(base, "String" | "Number" | "Binary") {
            return Err(invalid_parameter(&format!(
                "The type of message attribute '{name}' is invalid. You must use only the \
                 following supported type prefixes: Binary, Number, String."
            )));
        }
        attributes.insert(
            name,
            MessageAttribute {
                data_type,
                string_value,
                binary_value,
            },
        );
    }
    Ok(attributes)
}

/// Letters, digits, `_`, `-` and `.`, up to 256 characters; not starting with `AWS.` or
/// `Amazon.` (any case), no period first or last, and never two in a row.
fn valid_attribute_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.len() <= MAX_ATTRIBUTE_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
}

/// A Number attribute: a decimal number, with up to 38 digits of precision.
fn is_number(text: &str) -> bool {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    (1..=38).contains(&digits) && text.parse::<f64>().is_ok_and(f64::is_finite)
}

fn allowed_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

fn hex_md5(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Developer Guide's encoding: per attribute, in name order, the name, the data type and
/// the value, each as a 4-byte big-endian length and its bytes, with a transport byte (1 for
/// String and Number, 2 for Binary) before the value.
pub(crate) fn attributes_md5(attributes: &BTreeMap<String, MessageAttribute>) -> String {
    fn field(encoded: &mut Vec<u8>, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("an attribute is shorter than 4 GiB");
        encoded.extend_from_slice(&len.to_be_bytes());
        encoded.extend_from_slice(bytes);
    }
    let mut encoded = Vec::new();
    for (name, attribute) in attributes {
        field(&mut encoded, name.as_bytes());
        field(&mut encoded, attribute.data_type.as_bytes());
        match (&attribute.string_value, &attribute.binary_value) {
            (Some(text), _) => {
                encoded.push(1);
                field(&mut encoded, text.as_bytes());
            }
            (None, bytes) => {
                encoded.push(2);
                field(&mut encoded, bytes.as_deref().unwrap_or_default());
            }
        }
    }
    hex_md5(&encoded)
}

fn non_existent_queue() -> Response {
    aws::sqs_error(
        400,
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
    )
}

fn invalid_parameter(message: &str) -> Response {
    aws::error(Protocol::AwsJson10, 400, "InvalidParameterValue", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_name_a_queue_of_this_account_by_their_path() {
        let on_emulator = queue_url(Some("http://127.0.0.1:4000"), "repair");
        assert_eq!(on_emulator, "http://127.0.0.1:4000/123456789012/repair");
        assert_eq!(queue_name(&on_emulator).as_deref(), Some("repair"));
        let regional = queue_url(None, "repair");
        assert_eq!(
            regional,
            "https://sqs.us-east-1.amazonaws.com/123456789012/repair"
        );
        assert_eq!(queue_name(&regional).as_deref(), Some("repair"));
        for other in [
            "https://sqs.us-east-1.amazonaws.com/999999999999/repair",
            "https://sqs.us-east-1.amazonaws.com/123456789012/",
            "https://sqs.us-east-1.amazonaws.com/123456789012/a/b",
            "repair",
        ] {
            assert_eq!(queue_name(other), None, "{other}");
        }
    }

    #[test]
    fn attribute_names_follow_the_documented_rules() {
        for good in ["deferrals", "a.b", "x-y_z", "A1"] {
            assert!(valid_attribute_name(good), "{good}");
        }
        for bad in ["", "AWS.x", "amazon.y", ".a", "a.", "a..b", "a b", "ä"] {
            assert!(!valid_attribute_name(bad), "{bad}");
        }
        assert!(is_number("3") && is_number("-1.5e3"));
        assert!(!is_number("three") && !is_number("") && !is_number(&"9".repeat(39)));
    }

    /// Computed independently (Python's hashlib over the documented encoding).
    #[test]
    fn the_attributes_digest_follows_the_documented_encoding() {
        let attribute =
            |data_type: &str, text: Option<&str>, bytes: Option<&[u8]>| MessageAttribute {
                data_type: data_type.into(),
                string_value: text.map(str::to_owned),
                binary_value: bytes.map(<[u8]>::to_vec),
            };
        let one = BTreeMap::from([("deferrals".to_owned(), attribute("Number", Some("1"), None))]);
        assert_eq!(attributes_md5(&one), "0ebddebff86b18f419e8f3809d9bc9d2");
        // In name order, whatever order they were sent in; Binary with transport byte 2.
        let mut two = one.clone();
        two.insert("blob".into(), attribute("Binary", None, Some(&[0, 1])));
        assert_eq!(attributes_md5(&two), "dc5df52c43811df068de06b9d2c94f89");
        assert_eq!(hex_md5(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
