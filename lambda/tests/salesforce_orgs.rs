//! Service Cloud Voice customers' own credentials (SCV's secret, or its SSM parameters in
//! older deployments), several orgs behind one function, and one access token shared by every
//! function instance through SCV's token store.

mod support;

use std::time::Duration;

use contact_data_sync::config;
use emulators::{
    Emulators, Fault, SAMPLE_CJK, SAMPLE_INTERNATIONAL, SANDBOX_CALL_CENTER, SANDBOX_CLIENT_ID,
    SANDBOX_USERNAME, SCV_STALE_TOKEN, Server, Service, World, register_scv_salesforce,
    sample_world, scv_secret_json, scv_secret_name, scv_token_key, scv_token_secret_name,
    start_salesforce, test_private_key_pem, test_public_key_pem,
};
use serde_json::{Value, json};
use support::{
    DOCUMENTED_UPLOAD, FunctionProcess, Harness, INSTANCE, code, invoke_app, results_by_contact,
};

const DOCUMENTED: [&str; 2] = [SAMPLE_INTERNATIONAL, SAMPLE_CJK];
const SCV_API_VERSION: &str = "v62.0";

/// The sample world and its emulators, with an SCV deployment whose REST base is a second
/// Salesforce server (the login server plays only the token endpoint for it).
struct ScvOrg {
    harness: Harness,
    api: Server,
}

impl ScvOrg {
    async fn start(settings: &[(&str, &str)]) -> Self {
        let harness = Harness::with(sample_world(INSTANCE), settings).await;
        let api = start_salesforce(&harness.world).await;
        register_scv_salesforce(
            &harness.world,
            SANDBOX_CALL_CENTER,
            &harness.emulators.salesforce.url(),
            &format!("{}/services/data/{SCV_API_VERSION}/", api.url()),
        );
        // The function's default API version must not be what an SCV REST base is called with.
        harness.world.inject(
            Service::Salesforce,
            Fault::salesforce_error(404, "NOT_FOUND", "The requested resource does not exist")
                .on_path(&format!("/v{}/", config::DEFAULT_API_VERSION))
                .always(),
        );
        Self { harness, api }
    }
}

fn scv_secret_settings() -> Vec<(&'static str, String)> {
    vec![
        (
            config::SALESFORCE_SECRET_ID,
            scv_secret_name(SANDBOX_CALL_CENTER),
        ),
        (
            config::SALESFORCE_TOKEN_SECRET_ID,
            scv_token_secret_name(SANDBOX_CALL_CENTER),
        ),
    ]
}

fn ssm_settings(org: &ScvOrg) -> Vec<(&'static str, String)> {
    vec![
        (config::SALESFORCE_SECRET_ID, String::new()),
        (
            config::SALESFORCE_SSM_CALL_CENTER,
            SANDBOX_CALL_CENTER.to_owned(),
        ),
        (
            config::SALESFORCE_AUTH_ENDPOINT,
            format!(
                "{}/services/oauth2/token",
                org.harness.emulators.salesforce.url()
            ),
        ),
        (
            config::SALESFORCE_REST_API_ENDPOINT_BASE,
            format!("{}/services/data/{SCV_API_VERSION}", org.api.url()),
        ),
    ]
}

fn borrowed<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn documented() -> Value {
    serde_json::from_str(DOCUMENTED_UPLOAD).unwrap()
}

fn with_field(mut request: Value, field: &str, value: &str) -> Value {
    request[field] = json!(value);
    request
}

/// The upload ids of a successful documented upload, as a fetchUploadIdsStatus request.
fn status_request(upload: &Value) -> Value {
    let ids: Vec<Value> = results_by_contact(upload, &DOCUMENTED)
        .values()
        .map(|r| {
            assert_eq!(r["status"], "SUCCESS", "{r}");
            r["uploadId"].clone()
        })
        .collect();
    json!({"operation": "fetchUploadIdsStatus", "uploadIds": ids})
}

/// The statuses of a fetchUploadIdsStatus answer, each asserted final and successful.
fn assert_all_succeeded(status: &Value, expected: usize) {
    assert_eq!(status["StatusCode"], 200, "{status}");
    let payload: Value = serde_json::from_str(status["Payload"].as_str().unwrap()).unwrap();
    let statuses = payload["conversationBulkUploadStatuses"]
        .as_array()
        .unwrap();
    assert_eq!(statuses.len(), expected, "{payload}");
    assert!(
        statuses.iter().all(|s| s["status"] == "SUCCESS"),
        "{payload}"
    );
}

fn token_in_secret(world: &World) -> String {
    let secret: Value = serde_json::from_str(
        &world
            .secret_value(&scv_token_secret_name(SANDBOX_CALL_CENTER))
            .unwrap(),
    )
    .unwrap();
    secret[scv_token_key(SANDBOX_CALL_CENTER)]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn documented_payloads_run_against_an_scv_secret_with_its_own_rest_base() {
    let org = ScvOrg::start(&[]).await;
    let settings = scv_secret_settings();
    let app = org.harness.another_instance(&borrowed(&settings)).await;
    let world = &org.harness.world;

    let upload = invoke_app(&app, &documented(), Duration::from_secs(60)).await;
    let status_request = status_request(&upload);
    assert_eq!(world.uploads().len(), 2);
    // The stale token SCV left in its token-cache secret was tried, refused, and replaced.
    assert_eq!(world.token_mints(), 1);
    let token = token_in_secret(world);
    assert_ne!(token, SCV_STALE_TOKEN);

    // With the login server gone, status still works: API calls go to the REST base only.
    let Harness { emulators, .. } = org.harness;
    let Emulators {
        salesforce: login, ..
    } = emulators;
    drop(login);
    let status = invoke_app(&app, &status_request, Duration::from_secs(60)).await;
    assert_all_succeeded(&status, 2);
}

#[tokio::test]
async fn documented_payloads_run_against_scv_ssm_parameters() {
    let org = ScvOrg::start(&[]).await;
    let settings = ssm_settings(&org);
    let app = org.harness.another_instance(&borrowed(&settings)).await;
    let world = &org.harness.world;
    let token_parameter = scv_token_key(SANDBOX_CALL_CENTER);
    let version_before = world.parameter_version(&token_parameter).unwrap();

    let upload = invoke_app(&app, &documented(), Duration::from_secs(60)).await;
    let status = invoke_app(&app, &status_request(&upload), Duration::from_secs(60)).await;
    assert_all_succeeded(&status, 2);
    assert_eq!(world.token_mints(), 1);
    assert_eq!(
        world.parameter_version(&token_parameter),
        Some(version_before + 1)
    );
    assert_ne!(world.parameter(&token_parameter).unwrap(), SCV_STALE_TOKEN);
    // The four values in one GetParameters; the token read before the first call and again
    // after its 401 (another instance may have renewed it); the new token written back.
    assert_eq!(world.stats().ssm.requests, 4);
}

#[tokio::test]
async fn a_missing_ssm_parameter_is_named_for_every_contact() {
    let org = ScvOrg::start(&[]).await;
    let missing = format!("{SANDBOX_CALL_CENTER}-salesforce-rest-api-subject");
    let settings = ssm_settings(&org);
    let mut settings = borrowed(&settings);
    // A call center whose subject parameter was never created.
    let other = "OtherCallCenter";
    for (name, value, kind) in [
        ("auth-consumer-key", SANDBOX_CLIENT_ID, "String"),
        ("auth-private-key", test_private_key_pem(), "SecureString"),
        ("audience", "https://login.salesforce.com", "String"),
    ] {
        org.harness.world.put_parameter(
            &format!("{other}-salesforce-rest-api-{name}"),
            value,
            kind,
        );
    }
    settings.retain(|(k, _)| *k != config::SALESFORCE_SSM_CALL_CENTER);
    settings.push((config::SALESFORCE_SSM_CALL_CENTER, other));
    let app = org.harness.another_instance(&settings).await;

    let response = invoke_app(&app, &documented(), Duration::from_secs(60)).await;
    for result in results_by_contact(&response, &DOCUMENTED).values() {
        assert_eq!(code(result), "CONFIGURATION_ERROR");
        let detail = result["errorDetail"].as_str().unwrap();
        assert!(
            detail.contains(&missing.replace(SANDBOX_CALL_CENTER, other)),
            "{detail}"
        );
        assert!(!detail.contains("PRIVATE KEY"), "{detail}");
    }
    assert_eq!(org.harness.world.stats().contact_lens.requests, 0);
}

/// Two orgs: the sample org (the project's secret) and a second org, another Salesforce with
/// its own world, whose SCV secret is listed in SALESFORCE_EXTRA_SECRET_IDS by its ARN.
struct TwoOrgs {
    harness: Harness,
    second: World,
    _second_salesforce: Server,
    second_secret_arn: String,
}

const SECOND_ORG: &str = "SecondOrg";

impl TwoOrgs {
    async fn start() -> Self {
        let harness = Harness::sample().await;
        let second = sample_world(INSTANCE);
        let second_salesforce = start_salesforce(&second).await;
        second.salesforce_jwt_client(SANDBOX_CLIENT_ID, SANDBOX_USERNAME, test_public_key_pem());
        let url = second_salesforce.url();
        let secret_name = scv_secret_name(SECOND_ORG);
        harness.world.put_secret(
            &secret_name,
            &scv_secret_json(
                SECOND_ORG,
                &format!("{url}/services/oauth2/token"),
                &format!("{url}/services/data/v63.0"),
                &url,
            ),
        );
        let second_secret_arn = secret_arn(&harness.emulators, &secret_name).await;
        Self {
            harness,
            second,
            _second_salesforce: second_salesforce,
            second_secret_arn,
        }
    }
}

/// The complete ARN Secrets Manager gives a secret, as the CDK stack configures it.
async fn secret_arn(emulators: &Emulators, name: &str) -> String {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            emulators::TEST_ACCESS_KEY_ID,
            emulators::TEST_SECRET_ACCESS_KEY,
            None,
            None,
            "test",
        ))
        .endpoint_url(emulators.secrets_manager.url())
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn each_request_reaches_the_org_its_secret_name_picks() {
    let orgs = TwoOrgs::start().await;
    assert!(orgs.second_secret_arn.len() > scv_secret_name(SECOND_ORG).len() + 7);
    let app = orgs
        .harness
        .another_instance(&[(
            config::SALESFORCE_EXTRA_SECRET_IDS,
            &format!(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:Unused-AbCdEf,{}",
                orgs.second_secret_arn
            ),
        )])
        .await;
    let first = &orgs.harness.world;

    let upload = invoke_app(&app, &documented(), Duration::from_secs(60)).await;
    let first_status = status_request(&upload);
    assert_eq!((first.uploads().len(), orgs.second.uploads().len()), (2, 0));

    // By the secret's name, without the suffix its ARN carries.
    let request = with_field(documented(), "secretName", &scv_secret_name(SECOND_ORG));
    let upload = invoke_app(&app, &request, Duration::from_secs(60)).await;
    let second_status = with_field(
        status_request(&upload),
        "secretName",
        &orgs.second_secret_arn,
    );
    assert_eq!((first.uploads().len(), orgs.second.uploads().len()), (2, 2));
    assert_eq!((first.token_mints(), orgs.second.token_mints()), (1, 1));

    // Each org knows only its own uploads.
    let status = invoke_app(&app, &second_status, Duration::from_secs(60)).await;
    assert_all_succeeded(&status, 2);
    let status = invoke_app(&app, &first_status, Duration::from_secs(60)).await;
    assert_all_succeeded(&status, 2);
    let crossed = invoke_app(
        &app,
        &with_field(
            first_status.clone(),
            "secretName",
            &scv_secret_name(SECOND_ORG),
        ),
        Duration::from_secs(60),
    )
    .await;
    let payload: Value = serde_json::from_str(crossed["Payload"].as_str().unwrap()).unwrap();
    assert!(
        payload["conversationBulkUploadStatuses"]
            .as_array()
            .is_none_or(|s| s.iter().all(|s| s["status"] != "SUCCESS")),
        "{payload}"
    );
    // Secrets and tokens were each read or minted once per org.
    assert_eq!((first.token_mints(), orgs.second.token_mints()), (1, 1));
    assert_eq!(first.stats().secrets_manager.requests, 3);
}

#[tokio::test]
async fn a_secret_name_off_the_list_is_refused_before_any_aws_call() {
    let orgs = TwoOrgs::start().await;
    let app = orgs.harness.another_instance(&[]).await;
    let before = orgs.harness.world.stats();
    for request in [
        with_field(documented(), "secretName", &scv_secret_name(SECOND_ORG)),
        with_field(
            json!({"operation": "fetchUploadIdsStatus", "uploadIds": ["x"]}),
            "secretName",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:contact-data-sync/salesforce-other-AbCdEf",
        ),
    ] {
        let response = invoke_app(&app, &request, Duration::from_secs(60)).await;
        assert_eq!(response["statusCode"], 400, "{response}");
        let payload = response["body"].as_str().unwrap();
        assert!(
            payload.contains("secretName: must be the function's Salesforce secret"),
            "{payload}"
        );
    }
    assert_eq!(orgs.harness.world.stats(), before);
    assert_eq!(orgs.second.stats().salesforce.requests, 0);
}

#[tokio::test]
async fn an_unlisted_token_secret_is_ignored_and_a_failed_write_back_fails_nothing() {
    let org = ScvOrg::start(&[]).await;
    let world = &org.harness.world;
    world.deny_secret_writes(&scv_token_secret_name(SANDBOX_CALL_CENTER));
    let settings = scv_secret_settings();
    let app = org.harness.another_instance(&borrowed(&settings)).await;

    let upload = invoke_app(&app, &documented(), Duration::from_secs(60)).await;
    status_request(&upload);
    assert_eq!(token_in_secret(world), SCV_STALE_TOKEN);
    assert_eq!(world.token_mints(), 1);

    let request = with_field(documented(), "accessTokenSecretName", "Elsewhere-token");
    let request = with_field(request, "secretName", &scv_secret_name(SANDBOX_CALL_CENTER));
    let again = invoke_app(&app, &request, Duration::from_secs(60)).await;
    // The second run finds both transcripts in Salesforce already, with the cached token.
    for result in results_by_contact(&again, &DOCUMENTED).values() {
        assert_eq!(result["status"], "SKIPPED", "{result}");
    }
    assert_eq!(world.token_mints(), 1, "the token stays cached in memory");
}

#[tokio::test]
async fn a_malformed_scv_secret_names_the_key_for_each_contact() {
    let org = ScvOrg::start(&[]).await;
    let world = &org.harness.world;
    let login = org.harness.emulators.salesforce.url();
    let good: Value = serde_json::from_str(&scv_secret_json(
        SANDBOX_CALL_CENTER,
        &format!("{login}/services/oauth2/token"),
        &org.api.url(),
        &login,
    ))
    .unwrap();
    let mut cases: Vec<(Value, String)> = good
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "CALL_CENTER_API_NAME")
        .map(|key| {
            let mut secret = good.clone();
            secret.as_object_mut().unwrap().remove(key);
            (secret, format!("the key {key} is missing"))
        })
        .collect();
    let private_key = format!("{SANDBOX_CALL_CENTER}-salesforce-rest-api-auth-private-key");
    let mut not_pem = good.clone();
    not_pem[&private_key] = json!("TOPSECRETVALUE");
    cases.push((
        not_pem,
        format!("{private_key} is not a PEM-encoded RSA private key"),
    ));
    assert_eq!(cases.len(), 7);

    for (i, (secret, expected)) in cases.into_iter().enumerate() {
        let name = format!("broken-{i}");
        world.put_secret(&name, &secret.to_string());
        let app = org
            .harness
            .another_instance(&[(config::SALESFORCE_SECRET_ID, &name)])
            .await;
        let response = invoke_app(&app, &documented(), Duration::from_secs(60)).await;
        let text = response.to_string();
        assert!(!text.contains("TOPSECRETVALUE") && !text.contains("PRIVATE KEY"));
        for result in results_by_contact(&response, &DOCUMENTED).values() {
            assert_eq!(code(result), "CONFIGURATION_ERROR");
            let detail = result["errorDetail"].as_str().unwrap();
            assert!(detail.ends_with(&expected), "{detail} / {expected}");
        }
    }
    assert_eq!(world.stats().contact_lens.requests, 0);
    assert_eq!(world.token_mints(), 0);
}

/// Two function processes on one token store mint one token between them; after the org
/// revokes it, the first to see a 401 mints and writes back and the other picks that up.
async fn two_processes_share_one_token(
    org: &ScvOrg,
    settings: &[(&'static str, String)],
    stored_token: impl Fn() -> String,
) {
    let world = &org.harness.world;
    let settings = borrowed(settings);
    let emulators = &org.harness.emulators;
    let first = FunctionProcess::start(emulators, &settings, "first").await;
    let second = FunctionProcess::start(emulators, &settings, "second").await;

    let upload = first.invoke(&documented()).await;
    let status = status_request(&upload);
    assert_eq!(world.token_mints(), 1);
    let minted = stored_token();
    assert_ne!(minted, SCV_STALE_TOKEN);

    assert_all_succeeded(&second.invoke(&status).await, 2);
    assert_eq!(
        world.token_mints(),
        1,
        "the second process used the stored token"
    );

    world.expire_tokens();
    assert_all_succeeded(&first.invoke(&status).await, 2);
    assert_eq!(world.token_mints(), 2);
    let renewed = stored_token();
    assert_ne!(renewed, minted);
    assert_all_succeeded(&second.invoke(&status).await, 2);
    assert_eq!(
        world.token_mints(),
        2,
        "the second process picked up the renewed token"
    );

    for process in [&first, &second] {
        let log = process.log();
        assert!(log.contains("\"level\":\"INFO\""), "{log}");
        for secret in [
            minted.as_str(),
            renewed.as_str(),
            "PRIVATE KEY",
            SCV_STALE_TOKEN,
        ] {
            assert!(!log.contains(secret), "the log holds a secret value");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_token_through_the_token_cache_secret() {
    let org = ScvOrg::start(&[]).await;
    // SCV's token-cache secret may hold more than the token; those keys are kept.
    let token_secret = scv_token_secret_name(SANDBOX_CALL_CENTER);
    org.harness.world.put_secret(
        &token_secret,
        &json!({ scv_token_key(SANDBOX_CALL_CENTER): SCV_STALE_TOKEN, "kept": "yes" }).to_string(),
    );
    let world = org.harness.world.clone();
    two_processes_share_one_token(&org, &scv_secret_settings(), || token_in_secret(&world)).await;
    let secret: Value =
        serde_json::from_str(&org.harness.world.secret_value(&token_secret).unwrap()).unwrap();
    assert_eq!(secret["kept"], "yes");
    assert_eq!(org.harness.world.stats().secret_writes, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_token_through_the_ssm_parameter() {
    let org = ScvOrg::start(&[]).await;
    let world = org.harness.world.clone();
    let parameter = scv_token_key(SANDBOX_CALL_CENTER);
    two_processes_share_one_token(&org, &ssm_settings(&org), || {
        world.parameter(&parameter).unwrap()
    })
    .await;
    assert_eq!(org.harness.world.stats().parameter_writes, 2);
}

/// Each token-cache secret belongs to one org: SALESFORCE_TOKEN_SECRET_ID to the default org,
/// each pair of SALESFORCE_EXTRA_TOKEN_SECRET_IDS to its org. A request naming another org's
/// token store would have this org's token written into it, so it is refused, and a request
/// naming none uses its org's own store.
#[tokio::test]
async fn a_token_store_of_another_org_is_refused_before_any_aws_call() {
    let orgs = TwoOrgs::start().await;
    let world = &orgs.harness.world;
    let main_token = "Main-salesforce-access-token-secret";
    let second_token = scv_token_secret_name(SECOND_ORG);
    let main_before = json!({ "token": "main org's" }).to_string();
    world.put_secret(main_token, &main_before);
    world.put_secret(
        &second_token,
        &json!({ scv_token_key(SECOND_ORG): SCV_STALE_TOKEN }).to_string(),
    );
    let pair = format!("{}|{second_token}", orgs.second_secret_arn);
    let app = orgs
        .harness
        .another_instance(&[
            (config::SALESFORCE_EXTRA_SECRET_IDS, &orgs.second_secret_arn),
            (config::SALESFORCE_TOKEN_SECRET_ID, main_token),
            (config::SALESFORCE_EXTRA_TOKEN_SECRET_IDS, &pair),
        ])
        .await;
    let second = scv_secret_name(SECOND_ORG);
    let before = world.stats();
    for (secret_name, token_store) in [
        (Some(second.as_str()), main_token),
        (None, second_token.as_str()),
    ] {
        let mut request = with_field(documented(), "accessTokenSecretName", token_store);
        if let Some(name) = secret_name {
            request = with_field(request, "secretName", name);
        }
        let response = invoke_app(&app, &request, Duration::from_secs(60)).await;
        assert_eq!(response["statusCode"], 400, "{response}");
        let body = response["body"].as_str().unwrap();
        assert!(
            body.contains(
                "accessTokenSecretName: must be the token-cache secret of the request's org"
            ),
            "{body}"
        );
    }
    assert_eq!(world.stats(), before);
    assert_eq!(orgs.second.stats().salesforce.requests, 0);

    // Without accessTokenSecretName, the second org shares its token through its own
    // token-cache secret; naming that secret is accepted too.
    let request = with_field(documented(), "secretName", &second);
    status_request(&invoke_app(&app, &request, Duration::from_secs(60)).await);
    let request = with_field(request, "accessTokenSecretName", &second_token);
    let again = invoke_app(&app, &request, Duration::from_secs(60)).await;
    for result in results_by_contact(&again, &DOCUMENTED).values() {
        assert_eq!(result["status"], "SKIPPED", "{result}");
    }
    let stored: Value = serde_json::from_str(&world.secret_value(&second_token).unwrap()).unwrap();
    assert_ne!(stored[scv_token_key(SECOND_ORG)], SCV_STALE_TOKEN);
    assert_eq!(world.secret_value(main_token).unwrap(), main_before);
}

/// PutParameter without a KeyId would re-encrypt SCV's access token with aws/ssm, dropping the
/// customer managed key the parameter had; with SALESFORCE_SSM_KMS_KEY_ID the key is kept.
#[tokio::test]
async fn a_token_written_back_to_ssm_keeps_the_parameters_kms_key() {
    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    for (key_setting, expected) in [(KEY, KEY), ("", emulators::DEFAULT_SSM_KEY)] {
        let org = ScvOrg::start(&[]).await;
        let world = &org.harness.world;
        let parameter = scv_token_key(SANDBOX_CALL_CENTER);
        world.put_secure_parameter(&parameter, SCV_STALE_TOKEN, KEY);
        let mut settings = ssm_settings(&org);
        settings.push((config::SALESFORCE_SSM_KMS_KEY_ID, key_setting.to_owned()));
        let app = org.harness.another_instance(&borrowed(&settings)).await;

        status_request(&invoke_app(&app, &documented(), Duration::from_secs(60)).await);
        assert_eq!(world.token_mints(), 1);
        assert_ne!(world.parameter(&parameter).unwrap(), SCV_STALE_TOKEN);
        assert_eq!(
            world.parameter_key_id(&parameter).as_deref(),
            Some(expected)
        );
    }
}
