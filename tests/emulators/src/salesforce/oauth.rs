//! `POST /services/oauth2/token`: the JWT bearer and client credentials flows.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiUser, Host, json_response, path_fault};
use crate::world::{now_ms, splitmix64};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How far ahead an assertion's `exp` may be.
const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// Fixed org and user ids for the token response's `id` URL.
const ORG_ID: &str = "00DEMU0000000001AAA";
const USER_ID: &str = "005EMU0000000001AAA";

struct OAuthError {
    error: &'static str,
    description: String,
}

fn invalid_grant(description: impl Into<String>) -> OAuthError {
    OAuthError {
        error: "invalid_grant",
        description: description.into(),
    }
}

pub(super) async fn token(
    State(host): State<Host>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = path_fault(&host.world, &uri).await {
        return response;
    }
    // A body that is not form-encoded has no grant_type as far as Salesforce is concerned.
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form: HashMap<String, String> = if is_form {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        HashMap::new()
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let outcome = match field("grant_type") {
        JWT_BEARER => check_assertion(&host, field("assertion")),
        "client_credentials" => {
            check_client_secret(&host, field("client_id"), field("client_secret"))
        }
        _ => Err(OAuthError {
            error: "unsupported_grant_type",
            description: "grant type not supported".into(),
        }),
    };
    match outcome {
        Ok(user) => mint(&host, user),
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "error": e.error, "error_description": e.description }),
        ),
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    exp: Option<i64>,
}

/// Checks a JWT bearer assertion; the token it earns acts for its issuer (the connected app)
/// and subject (the approved user).
fn check_assertion(host: &Host, assertion: &str) -> Result<ApiUser, OAuthError> {
    let jwt_header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| invalid_grant(format!("invalid assertion: {e}")))?;
    if jwt_header.alg != Algorithm::RS256 {
        return Err(invalid_grant(
            "invalid assertion: the algorithm must be RS256",
        ));
    }
    // The issuer picks the connected app whose key must have signed the assertion.
    let unverified = jsonwebtoken::dangerous::insecure_decode::<Claims>(assertion)
        .map_err(|e| invalid_grant(format!("invalid assertion: {e}")))?;
    let issuer = unverified.claims.iss.unwrap_or_default();
    let world = host.world.lock();
    let client = world
        .salesforce
        .jwt_clients
        .iter()
        .find(|c| c.client_id == issuer)
        .ok_or(OAuthError {
            error: "invalid_client_id",
            description: "client identifier invalid".into(),
        })?;
    // Only the signature is checked here; the claims are checked below, one message each.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(assertion, &client.key, &validation)
        .map_err(|e| invalid_grant(format!("invalid assertion: signature: {e}")))?
        .claims;
    if claims.sub.as_deref() != Some(client.username.as_str()) {
        return Err(invalid_grant(
            "invalid assertion: sub is not the user approved for this client",
        ));
    }
    let audience = claims
        .aud
        .as_ref()
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A trailing slash is tolerated: both spellings name the same login host.
    if audience.trim_end_matches('/') != host.base_url {
        return Err(invalid_grant(format!(
            "invalid assertion: audience {audience:?} is not {}",
            host.base_url
        )));
    }
    let now = now_ms() / 1000;
    match claims.exp {
        Some(exp) if exp > now && exp <= now + MAX_ASSERTION_LIFETIME_SECS => Ok(ApiUser {
            client_id: issuer,
            username: Some(client.username.clone()),
        }),
        Some(exp) if exp <= now => Err(invalid_grant("expired authorization code")),
        _ => Err(invalid_grant(format!(
            "invalid assertion: exp must be in the future and at most \
             {MAX_ASSERTION_LIFETIME_SECS} s ahead"
        ))),
    }
}

/// Checks a client credentials grant; the token it earns acts for the app's execution user.
fn check_client_secret(
    host: &Host,
    client_id: &str,
    client_secret: &str,
) -> Result<ApiUser, OAuthError> {
    match host.world.lock().salesforce.client_secrets.get(client_id) {
        None => Err(OAuthError {
            error: "invalid_client_id",
            description: "client identifier invalid".into(),
        }),
        Some(expected) if expected != client_secret => Err(OAuthError {
            error: "invalid_client",
            description: "invalid client credentials".into(),
        }),
        Some(_) => Ok(ApiUser {
            client_id: client_id.to_owned(),
            username: None,
        }),
    }
}

fn mint(host: &Host, user: ApiUser) -> Response {
    let mut world = host.world.lock();
    let (high, low) = (world.next_random(), world.next_random());
    let access_token = format!("{}!AQ{high:016x}{low:016x}", &ORG_ID[..15]);
    world.salesforce.tokens.insert(access_token.clone(), user);
    world.stats.token_mints += 1;
    let issued_at = now_ms();
    let base = &host.base_url;
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "instance_url": base,
            "id": format!("{base}/id/{ORG_ID}/{USER_ID}"),
            "token_type": "Bearer",
            "issued_at": issued_at.to_string(),
            "signature": format!("{:016x}", splitmix64(high ^ issued_at.unsigned_abs())),
            "scope": "api",
        }),
    )
}
