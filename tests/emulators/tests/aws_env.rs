//! `Emulators::aws_env` really redirects the SDK's default configuration loader. This is its own
//! test binary because it sets process environment variables, which no other test may see.

use emulators::{Emulators, SAMPLE_CJK, SANDBOX_CALL_CENTER, SCV_STALE_TOKEN, sample_world};

#[tokio::test]
async fn aws_env_points_default_sdk_clients_at_the_emulators() {
    let world = sample_world("8e7b2f4c-1d3a-4e5b-9c6d-0a1b2c3d4e5f");
    let emulators = Emulators::start(&world).await;
    let login_url = emulators.salesforce.url();
    emulators::register_sandbox_salesforce(&world, &login_url);
    emulators::register_scv_salesforce(&world, SANDBOX_CALL_CENTER, &login_url, &login_url);
    for (key, value) in emulators.aws_env() {
        // SAFETY: the only test in this binary, run before any client reads the environment.
        unsafe { std::env::set_var(key, value) };
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;

    let contact = aws_sdk_connect::Client::new(&config)
        .describe_contact()
        .instance_id(world.instance_id())
        .contact_id(SAMPLE_CJK)
        .send()
        .await
        .unwrap();
    assert!(contact.contact().unwrap().agent_info().is_some());

    let segments = aws_sdk_connectcontactlens::Client::new(&config)
        .list_realtime_contact_analysis_segments()
        .instance_id(world.instance_id())
        .contact_id(SAMPLE_CJK)
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert_eq!(segments.segments().len(), 10);

    let secret = aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id(emulators::SANDBOX_SECRET_ID)
        .send()
        .await
        .unwrap();
    let secret: serde_json::Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    assert_eq!(secret["loginUrl"], emulators.salesforce.url());
    assert_eq!(secret["authFlow"], "jwt-bearer");

    let token = emulators::scv_token_key(SANDBOX_CALL_CENTER);
    let parameters = aws_sdk_ssm::Client::new(&config)
        .get_parameters()
        .names(&token)
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(parameters.parameters()[0].value(), Some(SCV_STALE_TOKEN));

    // The function's S3 client adds path-style addressing to the shared configuration.
    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(true)
        .build();
    let analysis = aws_sdk_s3::Client::from_conf(s3_config)
        .list_objects_v2()
        .bucket(emulators::SAMPLE_ANALYSIS_BUCKET)
        .prefix("Analysis/Voice/")
        .send()
        .await
        .unwrap();
    assert_eq!(analysis.key_count(), Some(4));

    let stats = world.stats();
    assert_eq!(
        (
            stats.connect.requests,
            stats.contact_lens.requests,
            stats.secrets_manager.requests,
            stats.ssm.requests,
            stats.s3.requests
        ),
        (1, 1, 1, 1, 1)
    );
}
