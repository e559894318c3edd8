//! What the AWS emulators share: the SigV4 `Authorization` header check, the four error
//! shapes (restJson1 for Connect and Contact Lens, awsJson1.1 for Secrets Manager and SSM,
//! awsJson1.0 for SQS, restXml for S3) and opaque paging tokens.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::fault::{self, IdMatch, Injected, RequestInfo};
use crate::world::{Service, World, splitmix64};

/// Region the emulated account lives in (ARNs, credential scope of the test environment).
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const ACCOUNT_ID: &str = "123456789012";

#[derive(Clone, Copy)]
pub(crate) enum Protocol {
    RestJson,
    AwsJson,
    /// SQS's, with its query-compatible error codes.
    AwsJson10,
    RestXml,
}

impl Protocol {
    fn content_type(self) -> &'static str {
        match self {
            Protocol::RestJson => "application/json",
            Protocol::AwsJson => "application/x-amz-json-1.1",
            Protocol::AwsJson10 => "application/x-amz-json-1.0",
            Protocol::RestXml => "application/xml",
        }
    }
}

/// An AWS error. The JSON protocols get the type in `x-amzn-ErrorType`, which the SDKs read
/// first; awsJson1.1 also carries it in the body's `__type`, as Secrets Manager and SSM do.
/// restXml carries it only in the body's `Code`, as S3 does.
/// awsJson1.0 is SQS's: see [`sqs_error`], with the same code in the body and the header.
pub(crate) fn error(protocol: Protocol, status: u16, error_type: &str, message: &str) -> Response {
    let body = match protocol {
        Protocol::RestJson => json!({ "Message": message }),
        Protocol::AwsJson => json!({ "__type": error_type, "Message": message }),
        Protocol::AwsJson10 => return sqs_error(status, error_type, error_type, message),
        Protocol::RestXml => return xml_error(status, error_type, message, &[]),
    };
    let headers = [
        (header::CONTENT_TYPE.as_str(), protocol.content_type()),
        ("x-amzn-ErrorType", error_type),
    ];
    (http_status(status), headers, body.to_string()).into_response()
}

/// An SQS error as answered to a client in query-compatible mode (aws-sdk-sqs sends
/// `x-amzn-query-mode: true`): the shape in the body's `__type`
/// (`com.amazonaws.sqs#QueueDoesNotExist`) and the query protocol's code in
/// `x-amzn-query-error: <code>;Sender` (`;Receiver` for a 5xx), which the SDK reads first.
pub(crate) fn sqs_error(status: u16, shape: &str, query_code: &str, message: &str) -> Response {
    let body = json!({ "__type": format!("com.amazonaws.sqs#{shape}"), "message": message });
    let fault = if status >= 500 { "Receiver" } else { "Sender" };
    let headers = [
        (
            header::CONTENT_TYPE.as_str(),
            Protocol::AwsJson10.content_type().to_owned(),
        ),
        ("x-amzn-query-error", format!("{query_code};{fault}")),
        ("x-amzn-RequestId", request_id()),
    ];
    (http_status(status), headers, body.to_string()).into_response()
}

fn http_status(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// An S3 error document, `<Error><Code/><Message/>...extra...<RequestId/></Error>`, where
/// `extra` are the elements some codes add (`Key` for NoSuchKey, `BucketName` for
/// NoSuchBucket).
pub(crate) fn xml_error(
    status: u16,
    code: &str,
    message: &str,
    extra: &[(&str, &str)],
) -> Response {
    let request_id = request_id();
    let extra: String = extra
        .iter()
        .map(|(name, value)| format!("<{name}>{}</{name}>", xml_escape(value)))
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>\
         {extra}<RequestId>{request_id}</RequestId></Error>",
        xml_escape(code),
        xml_escape(message)
    );
    let headers = [
        (
            header::CONTENT_TYPE.as_str(),
            Protocol::RestXml.content_type(),
        ),
        ("x-amz-request-id", request_id.as_str()),
    ];
    (http_status(status), headers, body).into_response()
}

/// A 16-digit hex id like S3's `x-amz-request-id`. A process-wide counter rather than the
/// world's id sequence, so that S3 traffic does not shift the ids other emulators hand out.
pub(crate) fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{:016X}", splitmix64(NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// Escapes text for an XML element or attribute.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// A successful response of a JSON protocol.
pub(crate) fn ok(protocol: Protocol, body: &serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, protocol.content_type())],
        body.to_string(),
    )
        .into_response()
}

/// A paging token. Hex keeps clients from mistaking it for something readable; what it
/// holds (a position, bound to what is being listed) is up to the emulator.
pub(crate) fn encode_token(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The text of a token made by [`encode_token`]; None for anything else.
pub(crate) fn decode_token(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// The rejection of a request that is not SigV4-signed for `service`: an `Authorization` header
/// `AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request, ...`.
/// The signature itself is not verified; what matters to the tests is that the client signs,
/// with credentials, for the right signing name (Contact Lens signs as `connect`).
pub(crate) fn reject_unsigned(
    headers: &HeaderMap,
    service: &str,
    protocol: Protocol,
) -> Option<Response> {
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(error(
            protocol,
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let scope_ok = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .and_then(|rest| rest.split(", ").find_map(|p| p.strip_prefix("Credential=")))
        .map(|credential| credential.split('/').collect::<Vec<_>>())
        .is_some_and(|parts| {
            matches!(parts.as_slice(),
                [key, date, region, signed_service, "aws4_request"]
                    if !key.is_empty()
                        && date.len() == 8
                        && date.bytes().all(|b| b.is_ascii_digit())
                        && !region.is_empty()
                        && *signed_service == service)
        });
    if scope_ok {
        None
    } else {
        Some(error(
            protocol,
            403,
            "IncompleteSignatureException",
            &format!(
                "Authorization header requires a AWS4-HMAC-SHA256 Credential scope \
                 <key>/<date>/<region>/{service}/aws4_request"
            ),
        ))
    }
}

/// Every early answer of an operation (errors, injected faults) is the `Err` side, so its
/// steps chain with `?`.
pub(crate) type Outcome = Result<Response, Response>;

/// The `X-Amz-Target` of a signed awsJson1.1 request, or the answer refusing it: unsigned for
/// `signing_name`, or an operation other than `operations` (`Service.Operation` names).
// The refusal is the answer itself, returned once per request; boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub(crate) fn json_target<'a>(
    headers: &'a HeaderMap,
    signing_name: &str,
    operations: &[&str],
) -> Result<&'a str, Response> {
    if let Some(denied) = reject_unsigned(headers, signing_name, Protocol::AwsJson) {
        return Err(denied);
    }
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .filter(|target| operations.contains(target))
        .ok_or_else(|| {
            error(
                Protocol::AwsJson,
                400,
                "UnknownOperationException",
                &format!("This emulator only implements {}", operations.join(" and ")),
            )
        })
}

/// AccessDeniedException (awsJson1.1) as IAM words it for the function's role; `action` is the
/// IAM action, e.g. `ssm:PutParameter`.
pub(crate) fn access_denied(action: &str, resource: &str) -> Response {
    error(
        Protocol::AwsJson,
        400,
        "AccessDeniedException",
        &format!(
            "User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/contact-data-sync is not authorized \
             to perform: {action} on resource: {resource}"
        ),
    )
}

/// The injected fault's answer, if one applies; faults aimed with [`crate::Fault::for_contact`]
/// match any of `ids` (a secret's id and name, or parameter names).
pub(crate) async fn check_faults(
    world: &World,
    service: Service,
    path: &str,
    ids: Vec<&str>,
) -> Result<(), Response> {
    let request = RequestInfo {
        path,
        contact_ids: ids,
        id_match: IdMatch::Equal,
        upload: false,
    };
    match fault::check(world, service, request).await {
        Injected::Respond(response) => Err(response),
        Injected::Proceed(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization.parse().unwrap());
        headers
    }

    #[test]
    fn accepts_a_scope_for_the_service_only() {
        let signed = "AWS4-HMAC-SHA256 Credential=AKID/20261124/us-east-1/connect/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=abc";
        assert!(reject_unsigned(&headers(signed), "connect", Protocol::RestJson).is_none());
        let other = reject_unsigned(&headers(signed), "secretsmanager", Protocol::AwsJson);
        assert_eq!(other.unwrap().status(), 403);
        let no_date = signed.replace("20261124", "2026");
        assert!(reject_unsigned(&headers(&no_date), "connect", Protocol::RestJson).is_some());
        assert!(reject_unsigned(&HeaderMap::new(), "connect", Protocol::RestJson).is_some());
    }

    #[test]
    fn tokens_round_trip_and_reject_anything_else() {
        let token = encode_token("bücket\nkey:1");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode_token(&token).as_deref(), Some("bücket\nkey:1"));
        for bad in ["zz", "abc", "ff"] {
            assert_eq!(decode_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn xml_errors_escape_their_text() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        let response = xml_error(404, "NoSuchKey", "gone", &[("Key", "a&b")]);
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/xml");
        assert_eq!(response.headers()["x-amz-request-id"].len(), 16);
    }
}
