//! The Service Cloud Voice sandbox (`register_scv_salesforce`) as the function sees it: read
//! the SCV values with the real SDK clients, mint a token on the login host, upload on the
//! REST API base.

use emulators::{
    SAMPLE_INTERNATIONAL, SANDBOX_CALL_CENTER, SANDBOX_CLIENT_ID, SANDBOX_USERNAME,
    SCV_STALE_TOKEN, Server, World, register_scv_salesforce, sample_world, scv_secret_name,
    scv_token_key, scv_token_secret_name, start_salesforce, start_secrets_manager, start_ssm,
    test_private_key_pem,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::salesforce::{file, lines_for, ndjson};
use crate::{INSTANCE_ID, sdk_config};

struct Scv {
    world: World,
    login: Server,
    rest_api_base: String,
    _api: Server,
    _secrets_manager: Server,
    _ssm: Server,
    secrets: aws_sdk_secretsmanager::Client,
    ssm: aws_sdk_ssm::Client,
}

async fn setup() -> Scv {
    let world = sample_world(INSTANCE_ID);
    let login = start_salesforce(&world).await;
    let api = start_salesforce(&world).await;
    let secrets_manager = start_secrets_manager(&world).await;
    let ssm = start_ssm(&world).await;
    let rest_api_base = format!("{}/services/data/v62.0/", api.url());
    register_scv_salesforce(&world, SANDBOX_CALL_CENTER, &login.url(), &rest_api_base);
    Scv {
        secrets: aws_sdk_secretsmanager::Client::new(&sdk_config(&secrets_manager.url()).await),
        ssm: aws_sdk_ssm::Client::new(&sdk_config(&ssm.url()).await),
        world,
        login,
        rest_api_base,
        _api: api,
        _secrets_manager: secrets_manager,
        _ssm: ssm,
    }
}

async fn secret_json(client: &aws_sdk_secretsmanager::Client, id: &str) -> Value {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .unwrap();
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

/// The JWT bearer flow with the SCV values; `value` looks one up by its SCV name (a key of
/// the secret or an SSM parameter name).
async fn mint(auth_endpoint: &str, value: impl Fn(&str) -> String) -> (u16, Value) {
    let key = |what: &str| value(&format!("{SANDBOX_CALL_CENTER}-salesforce-rest-api-{what}"));
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 180;
    let claims = json!({
        "iss": key("auth-consumer-key"),
        "sub": key("subject"),
        "aud": key("audience"),
        "exp": exp,
    });
    let signing_key = EncodingKey::from_rsa_pem(key("auth-private-key").as_bytes()).unwrap();
    let assertion =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &signing_key).unwrap();
    let response = reqwest::Client::new()
        .post(auth_endpoint)
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Uploads SAMPLE_INTERNATIONAL under the REST API base; returns the status.
async fn upload(scv: &Scv, rest_api_base: &str, token: &str) -> u16 {
    let contact = scv.world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let (name, part) = file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact)));
    reqwest::Client::new()
        .post(format!("{rest_api_base}connect/conversations/upload"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part(name, part))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn scv_secret_mints_a_token_for_its_rest_api_base() {
    let scv = setup().await;
    let secret = secret_json(&scv.secrets, &scv_secret_name(SANDBOX_CALL_CENTER)).await;
    assert_eq!(secret["CALL_CENTER_API_NAME"], SANDBOX_CALL_CENTER);
    let auth_endpoint = secret["SALESFORCE_AUTH_ENDPOINT"].as_str().unwrap();
    assert_eq!(
        auth_endpoint,
        format!("{}/services/oauth2/token", scv.login.url())
    );
    let rest_api_base = secret["SALESFORCE_REST_API_ENDPOINT_BASE"]
        .as_str()
        .unwrap();
    assert_eq!(rest_api_base, scv.rest_api_base);

    let (status, body) = mint(auth_endpoint, |key| {
        secret[key].as_str().unwrap_or_default().to_owned()
    })
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(upload(&scv, rest_api_base, token).await, 200);
    assert_eq!(scv.world.uploads().len(), 1);
}

#[tokio::test]
async fn cached_token_is_stale_until_rewritten() {
    let scv = setup().await;
    let cache_id = scv_token_secret_name(SANDBOX_CALL_CENTER);
    let cache = secret_json(&scv.secrets, &cache_id).await;
    let key = scv_token_key(SANDBOX_CALL_CENTER);
    assert_eq!(cache, json!({ key.clone(): SCV_STALE_TOKEN }));
    assert_eq!(upload(&scv, &scv.rest_api_base, SCV_STALE_TOKEN).await, 401);

    // What SCV's own Lambdas do after minting: write the new token back.
    let secret = secret_json(&scv.secrets, &scv_secret_name(SANDBOX_CALL_CENTER)).await;
    let (_, body) = mint(secret["SALESFORCE_AUTH_ENDPOINT"].as_str().unwrap(), |k| {
        secret[k].as_str().unwrap_or_default().to_owned()
    })
    .await;
    let fresh = body["access_token"].as_str().unwrap();
    scv.secrets
        .put_secret_value()
        .secret_id(&cache_id)
        .secret_string(json!({ key.clone(): fresh }).to_string())
        .send()
        .await
        .unwrap();
    let cache = secret_json(&scv.secrets, &cache_id).await;
    let cached = cache[&key].as_str().unwrap();
    assert_eq!(upload(&scv, &scv.rest_api_base, cached).await, 200);
    assert_eq!(scv.world.stats().secret_writes, 1);
}

#[tokio::test]
async fn ssm_parameters_hold_the_same_jwt_values() {
    let scv = setup().await;
    let name = |what: &str| format!("{SANDBOX_CALL_CENTER}-salesforce-rest-api-{what}");
    let names = [
        "auth-private-key",
        "auth-consumer-key",
        "audience",
        "subject",
        "access-token",
    ]
    .map(name);
    let out = scv
        .ssm
        .get_parameters()
        .set_names(Some(names.to_vec()))
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert!(out.invalid_parameters().is_empty());
    let value = |key: &str| {
        out.parameters()
            .iter()
            .find(|p| p.name() == Some(key))
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(value(&name("auth-consumer-key")), SANDBOX_CLIENT_ID);
    assert_eq!(value(&name("subject")), SANDBOX_USERNAME);
    assert_eq!(value(&name("auth-private-key")), test_private_key_pem());
    assert_eq!(value(&name("access-token")), SCV_STALE_TOKEN);
    let secure: Vec<&str> = out
        .parameters()
        .iter()
        .filter(|p| p.r#type() == Some(&aws_sdk_ssm::types::ParameterType::SecureString))
        .filter_map(|p| p.name())
        .collect();
    assert_eq!(secure.len(), 2);
    assert!(secure.contains(&name("auth-private-key").as_str()));
    assert!(secure.contains(&scv_token_key(SANDBOX_CALL_CENTER).as_str()));

    let auth_endpoint = format!("{}/services/oauth2/token", scv.login.url());
    let (status, body) = mint(&auth_endpoint, value).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(upload(&scv, &scv.rest_api_base, token).await, 200);
}
