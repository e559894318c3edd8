use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use emulators::{Fault, Service, World, start_secrets_manager};

use crate::sdk_config;

const NAME: &str = "contact-data-sync/salesforce";

async fn setup() -> (World, emulators::Server, Client) {
    let world = World::new("instance");
    world.put_secret(NAME, r#"{"authFlow":"jwt-bearer","clientId":"é ✓"}"#);
    let server = start_secrets_manager(&world).await;
    let client = Client::new(&sdk_config(&server.url()).await);
    (world, server, client)
}

#[tokio::test]
async fn secret_is_found_by_name_and_by_arn() {
    let (_world, _server, client) = setup().await;
    let by_name = client
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_name.secret_string(),
        Some(r#"{"authFlow":"jwt-bearer","clientId":"é ✓"}"#)
    );
    assert_eq!(by_name.name(), Some(NAME));
    assert_eq!(by_name.version_stages(), ["AWSCURRENT"]);
    assert!(by_name.created_date().is_some());
    let arn = by_name.arn().unwrap();
    assert!(arn.starts_with(&format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:{NAME}-"
    )));

    let by_arn = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.version_id(), by_name.version_id());
}

#[tokio::test]
async fn unknown_secret_is_resource_not_found() {
    let (_world, _server, client) = setup().await;
    let err = client
        .get_secret_value()
        .secret_id("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some("Secrets Manager can't find the specified secret.")
    );
}

#[tokio::test]
async fn denied_secret_is_access_denied() {
    let (world, _server, client) = setup().await;
    world.deny_secret(NAME);
    let err = client
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    // AccessDeniedException is not in the operation's model, so it arrives unmodeled.
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(world.stats().secrets_manager.errors, 1);
}

#[tokio::test]
async fn put_then_get_returns_the_new_value_with_a_new_version() {
    let (world, _server, client) = setup().await;
    let before = client
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .unwrap();
    let put = client
        .put_secret_value()
        .secret_id(NAME)
        .secret_string(r#"{"token":"new ✓"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(put.name(), Some(NAME));
    assert_eq!(put.arn(), before.arn());
    assert_eq!(put.version_stages(), ["AWSCURRENT"]);
    let version = put.version_id().unwrap();
    assert_ne!(Some(version), before.version_id());

    let after = client
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .unwrap();
    assert_eq!(after.secret_string(), Some(r#"{"token":"new ✓"}"#));
    assert_eq!(after.version_id(), Some(version));
    assert_eq!(
        world.secret_value(NAME).as_deref(),
        Some(r#"{"token":"new ✓"}"#)
    );
    assert_eq!(world.stats().secret_writes, 1);
}

#[tokio::test]
async fn put_accepts_full_and_partial_arns() {
    let (world, _server, client) = setup().await;
    let arn = client
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let partial = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{NAME}");
    for (id, value) in [
        (arn.as_str(), "by full ARN"),
        (partial.as_str(), "by partial ARN"),
    ] {
        let put = client
            .put_secret_value()
            .secret_id(id)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        assert_eq!(put.name(), Some(NAME));
        assert_eq!(world.secret_value(NAME).as_deref(), Some(value));
    }
    assert_eq!(world.stats().secret_writes, 2);
}

#[tokio::test]
async fn client_request_token_becomes_the_version_and_makes_retries_idempotent() {
    let (world, _server, client) = setup().await;
    let token = "5b5d1a2c-0c7e-4f43-9a55-6f1d2b3c4d5e";
    let put = |value: &'static str| {
        client
            .put_secret_value()
            .secret_id(NAME)
            .secret_string(value)
            .client_request_token(token)
            .send()
    };
    assert_eq!(put("v2").await.unwrap().version_id(), Some(token));
    // A retry with the same token and value changes nothing.
    assert_eq!(put("v2").await.unwrap().version_id(), Some(token));
    let get = client
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (get.version_id(), get.secret_string()),
        (Some(token), Some("v2"))
    );
    // The same token with another value would modify an existing version.
    let err = put("v3").await.unwrap_err().into_service_error();
    assert!(err.is_resource_exists_exception(), "{err:?}");
    assert_eq!(world.secret_value(NAME).as_deref(), Some("v2"));
}

#[tokio::test]
async fn put_without_a_token_gets_a_fresh_version_id() {
    let (world, server, client) = setup().await;
    let before = client
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .unwrap();
    // The SDK always sends a token; a raw request may leave it out.
    let response = signed_request(&server, "secretsmanager.PutSecretValue")
        .body(r#"{"SecretId":"contact-data-sync/salesforce","SecretString":"raw"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let version = body["VersionId"].as_str().unwrap();
    assert_eq!(version.len(), 36);
    assert_ne!(Some(version), before.version_id());
    assert_eq!(world.secret_value(NAME).as_deref(), Some("raw"));
}

#[tokio::test]
async fn put_to_an_unknown_secret_is_resource_not_found() {
    let (world, _server, client) = setup().await;
    let err = client
        .put_secret_value()
        .secret_id("nope")
        .secret_string("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(world.secret_value("nope").is_none());
    assert_eq!(world.stats().secret_writes, 0);
}

#[tokio::test]
async fn denied_write_is_access_denied_while_reads_still_work() {
    let (world, _server, client) = setup().await;
    world.deny_secret_writes(NAME);
    let err = client
        .put_secret_value()
        .secret_id(NAME)
        .secret_string("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let message = err.message().unwrap();
    assert!(
        message.contains("secretsmanager:PutSecretValue") && message.contains(NAME),
        "{message}"
    );
    let get = client
        .get_secret_value()
        .secret_id(NAME)
        .send()
        .await
        .unwrap();
    assert_eq!(
        get.secret_string(),
        Some(r#"{"authFlow":"jwt-bearer","clientId":"é ✓"}"#)
    );
    assert_eq!(world.stats().secret_writes, 0);
}

#[tokio::test]
async fn faults_aimed_at_a_secret_hit_its_writes() {
    let (world, _server, client) = setup().await;
    world.inject(
        Service::SecretsManager,
        Fault::aws_error(400, "InternalServiceError").for_contact(NAME),
    );
    let put = || {
        client
            .put_secret_value()
            .secret_id(NAME)
            .secret_string("after the fault")
            .send()
    };
    let err = put().await.unwrap_err().into_service_error();
    assert!(err.is_internal_service_error(), "{err:?}");
    assert_ne!(world.secret_value(NAME).as_deref(), Some("after the fault"));
    put().await.unwrap();
    assert_eq!(world.secret_value(NAME).as_deref(), Some("after the fault"));
    assert_eq!(world.stats().secret_writes, 1);
}

#[tokio::test]
async fn unknown_operations_are_refused() {
    let (_world, server, _client) = setup().await;
    let response = signed_request(&server, "secretsmanager.DeleteSecret")
        .body(r#"{"SecretId":"contact-data-sync/salesforce"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
}

/// A raw awsJson1.1 request with a well-formed SigV4 scope (the emulator checks no more).
fn signed_request(server: &emulators::Server, target: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(server.url())
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261124/us-east-1/secretsmanager/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
}
