//! Secrets Manager GetSecretValue (awsJson1.1): `POST /` with
//! `X-Amz-Target: secretsmanager.GetSecretValue`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use crate::aws::{self, ACCOUNT_ID, Protocol, REGION};
use crate::fault::{self, Injected, RequestInfo};
use crate::server::{self, Server};
use crate::world::{Service, World, splitmix64};

/// Starts the Secrets Manager emulator on a free port.
pub async fn start_secrets_manager(world: &World) -> Server {
    start_on(world, 0).await
}

pub(crate) async fn start_on(world: &World, port: u16) -> Server {
    let (listener, _) = server::bind(port).await;
    let router = Router::new()
        .route("/", post(dispatch))
        .with_state(world.clone());
    server::serve(listener, world, Service::SecretsManager, router)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSecretValueRequest {
    secret_id: String,
}

async fn dispatch(
    State(world): State<World>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = aws::reject_unsigned(&headers, "secretsmanager", Protocol::AwsJson) {
        return denied;
    }
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if target != Some("secretsmanager.GetSecretValue") {
        return aws::error(
            Protocol::AwsJson,
            400,
            "UnknownOperationException",
            "The Secrets Manager emulator only implements GetSecretValue",
        );
    }
    let request: GetSecretValueRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return aws::error(
                Protocol::AwsJson,
                400,
                "InvalidRequestException",
                &format!("Malformed request: {e}"),
            );
        }
    };
    let name = secret_name(&request.secret_id);
    let fault_request = RequestInfo {
        path: uri.path(),
        contact_ids: vec![&request.secret_id, name],
    };
    if let Injected::Respond(response) =
        fault::check(&world, Service::SecretsManager, fault_request).await
    {
        return response;
    }
    let state = world.lock();
    if state.denied_secrets.contains(name) {
        return aws::error(
            Protocol::AwsJson,
            400,
            "AccessDeniedException",
            &format!(
                "User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/contact-data-sync is not \
                 authorized to perform: secretsmanager:GetSecretValue on resource: {}",
                request.secret_id
            ),
        );
    }
    let Some(secret) = state.secrets.get(name) else {
        return aws::error(
            Protocol::AwsJson,
            400,
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        );
    };
    aws::ok(
        Protocol::AwsJson,
        &json!({
            "ARN": secret_arn(name),
            "Name": name,
            "VersionId": secret.version_id,
            "SecretString": secret.value,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": secret.created_ms as f64 / 1000.0,
        }),
    )
}

const ARN_PREFIX: &str = "arn:aws:secretsmanager:";

/// The secret name a SecretId refers to: the id itself, or the name inside a full ARN
/// (`...:secret:NAME-AbCdEf`) or a partial one without the 6-character suffix.
fn secret_name(secret_id: &str) -> &str {
    if !secret_id.starts_with(ARN_PREFIX) {
        return secret_id;
    }
    let Some((_, name_part)) = secret_id.split_once(":secret:") else {
        return secret_id;
    };
    match name_part.rsplit_once('-') {
        Some((name, suffix)) if secret_arn(name) == secret_id && suffix.len() == 6 => name,
        _ => name_part,
    }
}

/// The full ARN, with the random-looking suffix Secrets Manager appends, derived from the name
/// so that it is stable.
fn secret_arn(name: &str) -> String {
    let mut hash = name.bytes().fold(0u64, |h, b| splitmix64(h ^ u64::from(b)));
    let suffix: String = (0..6)
        .map(|_| {
            const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            let c = ALPHABET[(hash % ALPHABET.len() as u64) as usize];
            hash /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect();
    format!("{ARN_PREFIX}{REGION}:{ACCOUNT_ID}:secret:{name}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_from_full_and_partial_arns() {
        let arn = secret_arn("contact-data-sync/salesforce");
        assert!(arn.starts_with("arn:aws:secretsmanager:us-east-1:123456789012:secret:"));
        assert_eq!(secret_name(&arn), "contact-data-sync/salesforce");
        let partial = "arn:aws:secretsmanager:us-east-1:123456789012:secret:my-secret";
        assert_eq!(secret_name(partial), "my-secret");
        assert_eq!(secret_name("plain-name"), "plain-name");
        // A wrong suffix does not resolve to the name.
        let wrong = format!("{}XYZABC", &arn[..arn.len() - 6]);
        assert_ne!(secret_name(&wrong), "contact-data-sync/salesforce");
    }
}
