//! Secrets Manager GetSecretValue and PutSecretValue (awsJson1.1): `POST /` with
//! `X-Amz-Target: secretsmanager.GetSecretValue` or `secretsmanager.PutSecretValue`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use crate::aws::{self, ACCOUNT_ID, Outcome, Protocol, REGION};
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

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutSecretValueRequest {
    secret_id: String,
    secret_string: String,
    client_request_token: Option<String>,
}

async fn dispatch(
    State(world): State<World>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = match aws::json_target(&headers, "secretsmanager", &[GET, PUT]) {
        Ok(GET) => get_secret_value(&world, uri.path(), &body).await,
        Ok(_) => put_secret_value(&world, uri.path(), &body).await,
        Err(refused) => Err(refused),
    };
    outcome.unwrap_or_else(|error| error)
}

const GET: &str = "secretsmanager.GetSecretValue";
const PUT: &str = "secretsmanager.PutSecretValue";

async fn get_secret_value(world: &World, path: &str, body: &[u8]) -> Outcome {
    let request: GetSecretValueRequest = serde_json::from_slice(body).map_err(malformed)?;
    let name = secret_name(&request.secret_id);
    check_faults(world, path, &request.secret_id, name).await?;
    let state = world.lock();
    if state.denied_secrets.contains(name) {
        return Err(access_denied("GetSecretValue", &request.secret_id));
    }
    let secret = state.secrets.get(name).ok_or_else(not_found)?;
    Ok(aws::ok(
        Protocol::AwsJson,
        &json!({
            "ARN": secret_arn(name),
            "Name": name,
            "VersionId": secret.version_id,
            "SecretString": secret.value,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": secret.created_ms as f64 / 1000.0,
        }),
    ))
}

/// Stores a new version and makes it AWSCURRENT. The SDKs always send a ClientRequestToken
/// (an idempotency token), reused when they retry: a retry of the call that made the current
/// version changes nothing, while the same token with another value is refused, as Secrets
/// Manager does. Earlier versions are not kept, so only the current one is compared.
async fn put_secret_value(world: &World, path: &str, body: &[u8]) -> Outcome {
    let request: PutSecretValueRequest = serde_json::from_slice(body).map_err(malformed)?;
    let name = secret_name(&request.secret_id);
    check_faults(world, path, &request.secret_id, name).await?;
    let mut state = world.lock();
    if state.denied_secret_writes.contains(name) {
        return Err(access_denied("PutSecretValue", &request.secret_id));
    }
    let current = state.secrets.get(name).ok_or_else(not_found)?;
    let replayed = request.client_request_token.as_deref() == Some(current.version_id.as_str());
    if replayed && current.value != request.secret_string {
        return Err(aws::error(
            Protocol::AwsJson,
            400,
            "ResourceExistsException",
            "You can't modify an existing version, you can only create a new version.",
        ));
    }
    if !replayed {
        let version_id = match request.client_request_token {
            Some(token) => token,
            None => state.next_uuid(),
        };
        state.store_secret(name, &request.secret_string, version_id);
    }
    state.stats.secret_writes += 1;
    let version_id = &state.secrets[name].version_id;
    Ok(aws::ok(
        Protocol::AwsJson,
        &json!({
            "ARN": secret_arn(name),
            "Name": name,
            "VersionId": version_id,
            "VersionStages": ["AWSCURRENT"],
        }),
    ))
}

fn malformed(error: serde_json::Error) -> Response {
    aws::error(
        Protocol::AwsJson,
        400,
        "InvalidRequestException",
        &format!("Malformed request: {error}"),
    )
}

/// Faults aimed with [`crate::Fault::for_contact`] match the SecretId as sent or the name.
async fn check_faults(
    world: &World,
    path: &str,
    secret_id: &str,
    name: &str,
) -> Result<(), Response> {
    aws::check_faults(world, Service::SecretsManager, path, vec![secret_id, name]).await
}

fn access_denied(action: &str, secret_id: &str) -> Response {
    aws::access_denied(&format!("secretsmanager:{action}"), secret_id)
}

fn not_found() -> Response {
    aws::error(
        Protocol::AwsJson,
        400,
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
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
