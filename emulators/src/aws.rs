//! What the AWS emulators share: the SigV4 `Authorization` header check and the two error
//! shapes (restJson1 for Connect and Contact Lens, awsJson1.1 for Secrets Manager and SSM).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::fault::{self, Injected, RequestInfo};
use crate::world::{Service, World};

/// Region the emulated account lives in (ARNs, credential scope of the test environment).
pub(crate) const REGION: &str = "us-east-1";
pub(crate) const ACCOUNT_ID: &str = "123456789012";

#[derive(Clone, Copy)]
pub(crate) enum Protocol {
    RestJson,
    AwsJson,
}

/// An AWS error. Both protocols get the type in `x-amzn-ErrorType`, which the SDKs read first;
/// awsJson1.1 also carries it in the body's `__type`, as Secrets Manager and SSM do.
pub(crate) fn error(protocol: Protocol, status: u16, error_type: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = match protocol {
        Protocol::RestJson => ("application/json", json!({ "Message": message })),
        Protocol::AwsJson => (
            "application/x-amz-json-1.1",
            json!({ "__type": error_type, "Message": message }),
        ),
    };
    let headers = [
        (header::CONTENT_TYPE.as_str(), content_type),
        ("x-amzn-ErrorType", error_type),
    ];
    (status, headers, body.to_string()).into_response()
}

/// A successful JSON response.
pub(crate) fn ok(protocol: Protocol, body: &serde_json::Value) -> Response {
    let content_type = match protocol {
        Protocol::RestJson => "application/json",
        Protocol::AwsJson => "application/x-amz-json-1.1",
    };
    ([(header::CONTENT_TYPE, content_type)], body.to_string()).into_response()
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
    };
    match fault::check(world, service, request).await {
        Injected::Respond(response) => Err(response),
        Injected::Proceed { .. } => Ok(()),
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
}
