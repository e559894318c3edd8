use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_sdk_ssm::operation::get_parameters::{GetParametersError, GetParametersOutput};
use aws_sdk_ssm::operation::put_parameter::builders::PutParameterFluentBuilder;
use aws_sdk_ssm::types::{ParameterTier, ParameterType};
use emulators::{DEFAULT_SSM_KEY, Fault, Server, Service, World, start_ssm};

use crate::sdk_config;

const PLAIN: &str = "cc-salesforce-rest-api-subject";
const SECURE: &str = "cc-salesforce-rest-api-auth-private-key";
const SECURE_VALUE: &str = "-----BEGIN PRIVATE KEY-----\nMIIE é ✓\n-----END PRIVATE KEY-----";

async fn setup() -> (World, Server, Client) {
    let world = World::new("instance");
    world.put_parameter(PLAIN, "integration@example.com", "String");
    world.put_parameter(SECURE, SECURE_VALUE, "SecureString");
    let server = start_ssm(&world).await;
    let client = Client::new(&sdk_config(&server.url()).await);
    (world, server, client)
}

/// Whole seconds since the epoch, rounded down like the SDK's `DateTime::secs`.
fn now_secs() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

async fn get(
    client: &Client,
    names: &[&str],
    with_decryption: bool,
) -> Result<GetParametersOutput, GetParametersError> {
    client
        .get_parameters()
        .set_names(Some(names.iter().map(|n| (*n).to_owned()).collect()))
        .with_decryption(with_decryption)
        .send()
        .await
        .map_err(|e| e.into_service_error())
}

fn put<'a>(client: &'a Client, name: &'a str, value: &'a str) -> PutParameterFluentBuilder {
    client.put_parameter().name(name).value(value)
}

#[tokio::test]
async fn get_parameters_returns_found_ones_and_lists_missing_ones() {
    let before = now_secs();
    let (_world, _server, client) = setup().await;
    let out = get(&client, &[PLAIN, "missing", SECURE], true)
        .await
        .unwrap();
    let after = now_secs();
    let parameters = out.parameters();
    assert_eq!(parameters.len(), 2);
    assert_eq!(out.invalid_parameters(), ["missing"]);

    let plain = parameters.iter().find(|p| p.name() == Some(PLAIN)).unwrap();
    assert_eq!(plain.r#type(), Some(&ParameterType::String));
    assert_eq!(plain.value(), Some("integration@example.com"));
    assert_eq!(plain.version(), 1);
    assert_eq!(plain.data_type(), Some("text"));
    assert_eq!(
        plain.arn(),
        Some(format!("arn:aws:ssm:us-east-1:123456789012:parameter/{PLAIN}").as_str())
    );
    // Written during setup: between the clock readings around it, however long that took.
    let modified = plain.last_modified_date().unwrap().secs();
    assert!(
        (before..=after).contains(&modified),
        "{before} {modified} {after}"
    );

    let secure = parameters
        .iter()
        .find(|p| p.name() == Some(SECURE))
        .unwrap();
    assert_eq!(secure.r#type(), Some(&ParameterType::SecureString));
    assert_eq!(secure.value(), Some(SECURE_VALUE));
}

#[tokio::test]
async fn secure_strings_read_without_decryption_are_ciphertext() {
    let (_world, _server, client) = setup().await;
    let out = get(&client, &[SECURE, PLAIN], false).await.unwrap();
    let value = |name| {
        out.parameters()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.value())
            .unwrap()
    };
    let cipher = value(SECURE);
    assert_ne!(cipher, SECURE_VALUE);
    assert!(!cipher.contains("PRIVATE KEY"), "{cipher}");
    assert!(
        cipher
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "{cipher}"
    );
    assert_eq!(cipher.len() % 4, 0);
    // Only SecureStrings are hidden.
    assert_eq!(value(PLAIN), "integration@example.com");
}

#[tokio::test]
async fn one_to_ten_names_are_allowed() {
    let (_world, _server, client) = setup().await;
    let ten: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let ten: Vec<&str> = ten.iter().map(String::as_str).collect();
    let out = get(&client, &ten, true).await.unwrap();
    assert_eq!(out.invalid_parameters().len(), 10);

    let eleven = [ten.as_slice(), &[PLAIN]].concat();
    for names in [eleven.as_slice(), &[]] {
        let err = get(&client, names, true).await.unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"), "{names:?}");
    }
}

#[tokio::test]
async fn one_denied_name_denies_the_whole_read() {
    let (world, _server, client) = setup().await;
    world.deny_parameter(SECURE);
    let err = get(&client, &[PLAIN, SECURE], true).await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let message = err.message().unwrap();
    assert!(
        message.contains("ssm:GetParameters")
            && message.contains(&format!(
                "arn:aws:ssm:us-east-1:123456789012:parameter/{SECURE}"
            )),
        "{message}"
    );
    // Without the denied name the read goes through.
    assert_eq!(
        get(&client, &[PLAIN], true)
            .await
            .unwrap()
            .parameters()
            .len(),
        1
    );
}

#[tokio::test]
async fn put_creates_then_overwrites_only_when_asked() {
    let (world, _server, client) = setup().await;
    let created = put(&client, "new", "one")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    assert_eq!(created.version(), 1);
    assert_eq!(created.tier(), Some(&ParameterTier::Standard));

    let err = put(&client, "new", "two")
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_parameter_already_exists(), "{err:?}");
    assert_eq!(world.parameter("new").as_deref(), Some("one"));

    let overwritten = put(&client, "new", "two")
        .r#type(ParameterType::StringList)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(overwritten.version(), 2);
    let read = get(&client, &["new"], false).await.unwrap();
    let read = &read.parameters()[0];
    assert_eq!(
        (read.value(), read.version(), read.r#type()),
        (Some("two"), 2, Some(&ParameterType::StringList))
    );
    assert_eq!(world.parameter_version("new"), Some(2));
    assert_eq!(world.stats().parameter_writes, 2);
}

#[tokio::test]
async fn overwrite_without_a_type_keeps_the_type() {
    let (world, _server, client) = setup().await;
    let out = put(&client, SECURE, "rotated")
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(out.version(), 2);
    assert_eq!(world.parameter(SECURE).as_deref(), Some("rotated"));
    let read = get(&client, &[SECURE], false).await.unwrap();
    let read = &read.parameters()[0];
    assert_eq!(read.r#type(), Some(&ParameterType::SecureString));
    assert_ne!(read.value(), Some("rotated"));
}

/// As in AWS, a SecureString overwritten without a KeyId moves to the account's default key.
#[tokio::test]
async fn secure_strings_keep_a_key_only_when_each_write_names_it() {
    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let (world, _server, client) = setup().await;
    assert_eq!(
        world.parameter_key_id(SECURE).as_deref(),
        Some(DEFAULT_SSM_KEY)
    );
    assert_eq!(world.parameter_key_id(PLAIN), None);
    world.put_secure_parameter(SECURE, "v2", KEY);
    assert_eq!(world.parameter_key_id(SECURE).as_deref(), Some(KEY));

    put(&client, SECURE, "v3")
        .key_id(KEY)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(world.parameter_key_id(SECURE).as_deref(), Some(KEY));
    put(&client, SECURE, "v4")
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        world.parameter_key_id(SECURE).as_deref(),
        Some(DEFAULT_SSM_KEY)
    );
    assert_eq!(world.parameter(SECURE).as_deref(), Some("v4"));
}

#[tokio::test]
async fn invalid_puts_are_validation_errors() {
    let (world, _server, client) = setup().await;
    // A new parameter needs a type.
    let untyped = put(&client, "untyped", "x");
    let unknown_type = put(&client, "odd", "x").r#type(ParameterType::from("Binary"));
    let too_long = "é".repeat(4097);
    let long = put(&client, "long", &too_long).r#type(ParameterType::String);
    for request in [untyped, unknown_type, long] {
        assert_eq!(error_code(request).await, "ValidationException");
    }
    assert!(
        ["untyped", "odd", "long"]
            .iter()
            .all(|n| world.parameter(n).is_none())
    );

    // The limit is 4096 characters, not bytes.
    let longest = "é".repeat(4096);
    put(&client, "long", &longest)
        .r#type(ParameterType::String)
        .send()
        .await
        .unwrap();
    assert_eq!(world.stats().parameter_writes, 1);
}

async fn error_code(request: PutParameterFluentBuilder) -> String {
    let err = request.send().await.unwrap_err().into_service_error();
    err.code().unwrap().to_owned()
}

#[tokio::test]
async fn denied_put_is_access_denied() {
    let (world, _server, client) = setup().await;
    world.deny_parameter(PLAIN);
    let err = put(&client, PLAIN, "someone@else")
        .overwrite(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    let message = err.message().unwrap();
    assert!(
        message.contains("ssm:PutParameter") && message.contains(&format!("parameter/{PLAIN}")),
        "{message}"
    );
    assert_eq!(world.parameter_version(PLAIN), Some(1));
    assert_eq!(world.stats().parameter_writes, 0);
}

#[tokio::test]
async fn faults_can_aim_at_one_parameter() {
    let (world, _server, client) = setup().await;
    world.inject(
        Service::Ssm,
        Fault::aws_error(400, "ThrottlingException")
            .for_contact(SECURE)
            .times(2),
    );
    // Requests not naming the parameter pass.
    get(&client, &[PLAIN], true).await.unwrap();
    let err = get(&client, &[PLAIN, SECURE], true).await.unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"));
    let err = put(&client, SECURE, "x")
        .overwrite(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ThrottlingException"));
    // Used up.
    get(&client, &[SECURE], true).await.unwrap();
    let stats = world.stats().ssm;
    assert_eq!((stats.requests, stats.throttled, stats.errors), (4, 2, 2));
    assert_eq!(world.parameter_version(SECURE), Some(1));
}

#[tokio::test]
async fn other_operations_and_unsigned_requests_are_refused() {
    let (_world, server, client) = setup().await;
    let err = client
        .get_parameter()
        .name(PLAIN)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("UnknownOperationException"));

    let unsigned = reqwest::Client::new()
        .post(server.url())
        .header("x-amz-target", "AmazonSSM.GetParameters")
        .header("content-type", "application/x-amz-json-1.1")
        .body(format!(r#"{{"Names":["{PLAIN}"]}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        unsigned.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
}
