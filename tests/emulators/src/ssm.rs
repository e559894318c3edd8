//! SSM Parameter Store GetParameters and PutParameter (awsJson1.1): `POST /` with
//! `X-Amz-Target: AmazonSSM.GetParameters` or `AmazonSSM.PutParameter`. Older Service Cloud
//! Voice deployments keep their Salesforce values here.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::aws::{self, ACCOUNT_ID, Outcome, Protocol, REGION};
use crate::server::{self, Server};
use crate::world::{Parameter, ParameterType, Service, World, splitmix64};

/// GetParameters takes 1 to 10 names.
const MAX_NAMES: usize = 10;
/// The longest value of a Standard-tier parameter, in characters.
const MAX_VALUE_CHARS: usize = 4096;

/// Starts the SSM emulator on a free port.
pub async fn start_ssm(world: &World) -> Server {
    start_on(world, 0).await
}

pub(crate) async fn start_on(world: &World, port: u16) -> Server {
    let (listener, _) = server::bind(port).await;
    let router = Router::new()
        .route("/", post(dispatch))
        .with_state(world.clone());
    server::serve(listener, world, Service::Ssm, router)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetParametersRequest {
    /// Missing counts as empty, which fails the length check like the real service.
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    with_decryption: bool,
}

/// Other members (Description, Tier, ...) are accepted and ignored.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutParameterRequest {
    name: String,
    value: String,
    #[serde(rename = "Type")]
    type_: Option<String>,
    /// A SecureString's KMS key. Without one, AWS uses the account's default key, also when
    /// the parameter had a customer managed key before.
    key_id: Option<String>,
    #[serde(default)]
    overwrite: bool,
}

async fn dispatch(
    State(world): State<World>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = match aws::json_target(&headers, "ssm", &[GET, PUT]) {
        Ok(GET) => get_parameters(&world, uri.path(), &body).await,
        Ok(_) => put_parameter(&world, uri.path(), &body).await,
        Err(refused) => Err(refused),
    };
    outcome.unwrap_or_else(|error| error)
}

const GET: &str = "AmazonSSM.GetParameters";
const PUT: &str = "AmazonSSM.PutParameter";

async fn get_parameters(world: &World, path: &str, body: &[u8]) -> Outcome {
    let request: GetParametersRequest = serde_json::from_slice(body).map_err(malformed)?;
    let names: Vec<&str> = request.names.iter().map(String::as_str).collect();
    check_faults(world, path, names.clone()).await?;
    if names.is_empty() || names.len() > MAX_NAMES {
        let bound = if names.is_empty() {
            "greater than or equal to 1"
        } else {
            "less than or equal to 10"
        };
        return Err(validation(&format!(
            "1 validation error detected: Value '[{}]' at 'names' failed to satisfy \
             constraint: Member must have length {bound}",
            names.join(", ")
        )));
    }
    let state = world.lock();
    // IAM authorizes the call against every parameter it names: one denied name fails it all.
    if let Some(denied) = names.iter().find(|n| state.denied_parameters.contains(**n)) {
        return Err(access_denied("GetParameters", denied));
    }
    let (found, missing): (Vec<&str>, Vec<&str>) = names
        .iter()
        .partition(|name| state.parameters.contains_key(**name));
    let parameters: Vec<Value> = found
        .iter()
        .map(|name| describe(name, &state.parameters[*name], request.with_decryption))
        .collect();
    Ok(aws::ok(
        Protocol::AwsJson,
        &json!({ "Parameters": parameters, "InvalidParameters": missing }),
    ))
}

/// One element of GetParameters' `Parameters`.
fn describe(name: &str, parameter: &Parameter, with_decryption: bool) -> Value {
    let value = if parameter.type_ == ParameterType::SecureString && !with_decryption {
        ciphertext(name, parameter)
    } else {
        parameter.value.clone()
    };
    json!({
        "Name": name,
        "Type": parameter.type_.name(),
        "Value": value,
        "Version": parameter.version,
        "LastModifiedDate": parameter.modified_ms as f64 / 1000.0,
        "ARN": parameter_arn(name),
        "DataType": "text",
    })
}

async fn put_parameter(world: &World, path: &str, body: &[u8]) -> Outcome {
    let request: PutParameterRequest = serde_json::from_slice(body).map_err(malformed)?;
    check_faults(world, path, vec![&request.name]).await?;
    let mut state = world.lock();
    if state.denied_parameters.contains(&request.name) {
        return Err(access_denied("PutParameter", &request.name));
    }
    let requested_type = match request.type_.as_deref() {
        None => None,
        Some(name) => Some(ParameterType::from_name(name).ok_or_else(|| {
            validation(&format!(
                "1 validation error detected: Value '{name}' at 'type' failed to satisfy \
                 constraint: Member must satisfy enum value set: [SecureString, StringList, \
                 String]"
            ))
        })?),
    };
    if request.value.chars().count() > MAX_VALUE_CHARS {
        return Err(validation(&format!(
            "Standard tier parameters support a maximum parameter value of {MAX_VALUE_CHARS} \
             characters. To create a larger parameter value, upgrade the parameter to use the \
             advanced-parameter tier."
        )));
    }
    let existing_type = state.parameters.get(&request.name).map(|p| p.type_);
    let type_ = match (existing_type, requested_type) {
        (Some(_), _) if !request.overwrite => {
            return Err(aws::error(
                Protocol::AwsJson,
                400,
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite \
                 option in the request to true.",
            ));
        }
        (_, Some(requested)) => requested,
        (Some(existing), None) => existing,
        (None, None) => {
            return Err(validation(
                "A parameter type is required when you create a parameter.",
            ));
        }
    };
    let version = state.store_parameter(
        &request.name,
        &request.value,
        type_,
        request.key_id.as_deref(),
    );
    state.stats.parameter_writes += 1;
    Ok(aws::ok(
        Protocol::AwsJson,
        &json!({ "Version": version, "Tier": "Standard" }),
    ))
}

fn malformed(error: serde_json::Error) -> Response {
    validation(&format!("1 validation error detected: {error}"))
}

/// Faults aimed with [`crate::Fault::for_contact`] match any parameter name of the request.
async fn check_faults(world: &World, path: &str, names: Vec<&str>) -> Result<(), Response> {
    aws::check_faults(world, Service::Ssm, path, names).await
}

fn validation(message: &str) -> Response {
    aws::error(Protocol::AwsJson, 400, "ValidationException", message)
}

fn access_denied(action: &str, name: &str) -> Response {
    aws::access_denied(&format!("ssm:{action}"), &parameter_arn(name))
}

/// A hierarchical name (`/a/b`) keeps a single slash after `parameter`.
fn parameter_arn(name: &str) -> String {
    let name = name.strip_prefix('/').unwrap_or(name);
    format!("arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/{name}")
}

/// What a SecureString read without decryption returns: an opaque, base64-looking blob in
/// place of the KMS ciphertext. It is derived from the name, version and value, so it is
/// stable per version, yet nothing of the plain value shows through.
fn ciphertext(name: &str, parameter: &Parameter) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = format!("{name}\0{}\0{}", parameter.version, parameter.value)
        .bytes()
        .fold(0u64, |h, b| splitmix64(h ^ u64::from(b)));
    // KMS blobs start with the same version bytes and grow with the plaintext; the total
    // length stays a multiple of 4, as base64's does.
    let len = 162 + 4 * parameter.value.len().div_ceil(3);
    let body: String = (0..len)
        .map(|_| {
            state = splitmix64(state);
            char::from(ALPHABET[(state % 64) as usize])
        })
        .collect();
    format!("AQICAH{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_keep_one_slash_for_hierarchical_names() {
        assert_eq!(
            parameter_arn("cc-salesforce-rest-api-subject"),
            "arn:aws:ssm:us-east-1:123456789012:parameter/cc-salesforce-rest-api-subject"
        );
        assert_eq!(
            parameter_arn("/scv/token"),
            "arn:aws:ssm:us-east-1:123456789012:parameter/scv/token"
        );
    }

    #[test]
    fn ciphertext_hides_the_value_and_changes_with_it() {
        let parameter = |value: &str, version| Parameter {
            value: value.to_owned(),
            type_: ParameterType::SecureString,
            key_id: None,
            version,
            modified_ms: 0,
        };
        let first = ciphertext("key", &parameter("hunter2", 1));
        assert!(!first.contains("hunter2"));
        assert!(first.starts_with("AQICAH"));
        assert_eq!(first, ciphertext("key", &parameter("hunter2", 1)));
        assert_ne!(first, ciphertext("key", &parameter("hunter3", 1)));
        assert_ne!(first, ciphertext("key", &parameter("hunter2", 2)));
    }
}
