use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use emulators::{World, start_secrets_manager};

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
