use std::time::Duration;

use aws_sdk_connectcontactlens::Client;
use aws_sdk_connectcontactlens::error::ProvideErrorMetadata;
use aws_sdk_connectcontactlens::operation::list_realtime_contact_analysis_segments::ListRealtimeContactAnalysisSegmentsOutput as Page;
use emulators::{
    Fault, SAMPLE_ANALYSIS_RUNNING, SAMPLE_CJK, SAMPLE_INTERNATIONAL, SAMPLE_NO_TRANSCRIPT,
    SAMPLE_REALTIME_UNAVAILABLE, Service, World, sample_world, start_contact_lens,
};

use crate::{INSTANCE_ID, sdk_config};

async fn setup() -> (World, emulators::Server, Client) {
    let world = sample_world(INSTANCE_ID);
    let server = start_contact_lens(&world).await;
    let client = Client::new(&sdk_config(&server.url()).await);
    (world, server, client)
}

async fn page(
    client: &Client,
    contact_id: &str,
    max_results: i32,
    token: Option<String>,
) -> Result<Page, aws_sdk_connectcontactlens::Error> {
    client
        .list_realtime_contact_analysis_segments()
        .instance_id(INSTANCE_ID)
        .contact_id(contact_id)
        .max_results(max_results)
        .set_next_token(token)
        .send()
        .await
        .map_err(Into::into)
}

#[tokio::test]
async fn pages_follow_max_results_and_end_without_a_token() {
    let (world, _server, client) = setup().await;
    let mut sizes = Vec::new();
    let mut transcripts = Vec::new();
    let mut categories = 0;
    let mut token = None;
    loop {
        let out = page(&client, SAMPLE_INTERNATIONAL, 4, token).await.unwrap();
        sizes.push(out.segments().len());
        for segment in out.segments() {
            match (segment.transcript(), segment.categories()) {
                (Some(t), None) => transcripts.push(t.clone()),
                (None, Some(c)) => {
                    assert_eq!(c.matched_categories(), ["Booking issue"]);
                    categories += 1;
                }
                other => panic!("unexpected segment {other:?}"),
            }
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    // 9 turns plus one Categories segment.
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(categories, 1);
    let spec = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let contents: Vec<&str> = transcripts.iter().map(|t| t.content().unwrap()).collect();
    let expected: Vec<&str> = spec.segments.iter().map(|s| s.content.as_str()).collect();
    assert_eq!(contents, expected);
    let first = &transcripts[0];
    assert_eq!(first.participant_role(), Some("AGENT"));
    assert_eq!(
        i64::from(first.end_offset_millis().unwrap()),
        spec.segments[0].end_offset_millis
    );
    assert_eq!(world.stats().contact_lens.requests, 3);
}

#[tokio::test]
async fn non_ascii_speech_arrives_intact() {
    let (world, _server, client) = setup().await;
    let out = page(&client, SAMPLE_CJK, 100, None).await.unwrap();
    assert!(out.next_token().is_none());
    let contents: Vec<String> = out
        .segments()
        .iter()
        .filter_map(|s| s.transcript())
        .map(|t| t.content().unwrap().to_owned())
        .collect();
    let spec = world.contact(SAMPLE_CJK).unwrap();
    let expected: Vec<String> = spec.segments.iter().map(|s| s.content.clone()).collect();
    assert_eq!(contents, expected);
    assert!(contents.iter().any(|c| c.contains("안녕히")));
}

#[tokio::test]
async fn running_analysis_keeps_a_token_until_it_finishes() {
    let (world, _server, client) = setup().await;
    let first = page(&client, SAMPLE_ANALYSIS_RUNNING, 100, None)
        .await
        .unwrap();
    assert_eq!(first.segments().len(), 4);
    let token = first
        .next_token()
        .expect("running analysis has a token")
        .to_owned();

    let again = page(&client, SAMPLE_ANALYSIS_RUNNING, 100, Some(token.clone()))
        .await
        .unwrap();
    assert!(again.segments().is_empty());
    assert!(again.next_token().is_some());

    assert!(world.update_contact(SAMPLE_ANALYSIS_RUNNING, |c| c.analysis_running = false));
    let done = page(&client, SAMPLE_ANALYSIS_RUNNING, 100, Some(token))
        .await
        .unwrap();
    assert!(done.segments().is_empty());
    assert!(done.next_token().is_none());
}

#[tokio::test]
async fn contact_without_speech_has_only_a_category() {
    let (_world, _server, client) = setup().await;
    let out = page(&client, SAMPLE_NO_TRANSCRIPT, 100, None)
        .await
        .unwrap();
    assert_eq!(out.segments().len(), 1);
    assert!(out.segments()[0].transcript().is_none());
    assert!(out.next_token().is_none());
}

#[tokio::test]
async fn missing_analysis_is_resource_not_found() {
    let (_world, _server, client) = setup().await;
    for contact in [SAMPLE_REALTIME_UNAVAILABLE, "no-such-contact"] {
        let err = page(&client, contact, 10, None).await.unwrap_err();
        assert!(
            matches!(
                err,
                aws_sdk_connectcontactlens::Error::ResourceNotFoundException(_)
            ),
            "{err:?}"
        );
    }
    let wrong_instance = client
        .list_realtime_contact_analysis_segments()
        .instance_id("11111111-1111-4111-8111-111111111111")
        .contact_id(SAMPLE_INTERNATIONAL)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(wrong_instance.is_resource_not_found_exception());
}

#[tokio::test]
async fn bad_page_size_or_token_is_an_invalid_request() {
    let (_world, _server, client) = setup().await;
    for max_results in [0, 101] {
        let err = page(&client, SAMPLE_CJK, max_results, None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                aws_sdk_connectcontactlens::Error::InvalidRequestException(_)
            ),
            "{err:?}"
        );
    }
    // A token from another contact is not accepted.
    let first = page(&client, SAMPLE_INTERNATIONAL, 1, None).await.unwrap();
    let foreign = first.next_token().unwrap().to_owned();
    let err = page(&client, SAMPLE_CJK, 10, Some(foreign))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        aws_sdk_connectcontactlens::Error::InvalidRequestException(_)
    ));
}

#[tokio::test]
async fn quota_beyond_the_burst_is_throttled() {
    let (world, _server, client) = setup().await;
    // A slow refill keeps the test independent of how fast the machine is.
    world.set_contact_lens_quota(0.01, 2);
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(match page(&client, SAMPLE_CJK, 100, None).await {
            Ok(_) => "ok",
            Err(aws_sdk_connectcontactlens::Error::ThrottlingException(_)) => "throttled",
            Err(other) => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(outcomes, ["ok", "ok", "throttled", "throttled"]);
    let stats = world.stats().contact_lens;
    assert_eq!((stats.requests, stats.throttled), (4, 2));
}

#[tokio::test]
async fn injected_errors_use_the_service_error_types() {
    let (world, _server, client) = setup().await;
    world.inject(
        Service::ContactLens,
        Fault::aws_error(500, "InternalServiceException").for_contact(SAMPLE_CJK),
    );
    world.inject(
        Service::ContactLens,
        Fault::aws_error(403, "AccessDeniedException").after(1),
    );
    assert!(page(&client, SAMPLE_INTERNATIONAL, 5, None).await.is_ok());
    let err = page(&client, SAMPLE_CJK, 5, None).await.unwrap_err();
    assert!(matches!(
        err,
        aws_sdk_connectcontactlens::Error::InternalServiceException(_)
    ));
    let err = page(&client, SAMPLE_CJK, 5, None).await.unwrap_err();
    assert!(matches!(
        err,
        aws_sdk_connectcontactlens::Error::AccessDeniedException(_)
    ));
    assert!(page(&client, SAMPLE_CJK, 5, None).await.is_ok());
}

#[tokio::test]
async fn malformed_body_fault_fails_deserialization() {
    let (world, _server, client) = setup().await;
    world.inject(Service::ContactLens, Fault::malformed_json());
    let err = page(&client, SAMPLE_CJK, 5, None).await.unwrap_err();
    // Not a service error: the response could not be read at all.
    assert_eq!(err.code(), None, "{err:?}");
    assert!(page(&client, SAMPLE_CJK, 5, None).await.is_ok());
}

#[tokio::test]
async fn unsigned_requests_are_refused() {
    let (world, server, _client) = setup().await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/realtime-contact-analysis/analysis-segments",
            server.url()
        ))
        .json(&serde_json::json!({"InstanceId": INSTANCE_ID, "ContactId": SAMPLE_CJK}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-ErrorType"],
        "MissingAuthenticationTokenException"
    );
    assert_eq!(world.stats().contact_lens.errors, 1);
}

#[tokio::test]
async fn recorded_requests_say_what_each_was_about_and_how_it_was_answered() {
    let (world, _server, client) = setup().await;
    page(&client, SAMPLE_CJK, 5, None).await.unwrap();
    world.record_requests();
    world.inject(
        Service::ContactLens,
        Fault::throttling().for_contact(SAMPLE_CJK),
    );
    world.inject(
        Service::ContactLens,
        Fault::delay(Duration::from_secs(600)).for_contact(SAMPLE_INTERNATIONAL),
    );
    page(&client, SAMPLE_CJK, 5, None).await.unwrap_err();
    page(&client, SAMPLE_CJK, 5, None).await.unwrap();
    // A request its client gives up on is never answered.
    let given_up = Duration::from_millis(100);
    let hung = tokio::time::timeout(given_up, page(&client, SAMPLE_INTERNATIONAL, 5, None)).await;
    assert!(hung.is_err());

    let requests = world.requests();
    let summary: Vec<(&str, &str, Option<u16>)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.about[0].as_str(), r.status()))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST", SAMPLE_CJK, Some(429)),
            ("POST", SAMPLE_CJK, Some(200)),
            ("POST", SAMPLE_INTERNATIONAL, None),
        ],
        "the request before recording started is not listed"
    );
    assert!(requests.iter().all(|r| r.is_about(&r.about[0])));
    assert!(
        requests
            .iter()
            .all(|r| r.path == "/realtime-contact-analysis/analysis-segments")
    );
    // In arrival order, each answered after it arrived and before the next one was sent.
    for pair in requests.windows(2) {
        let (answered, _) = pair[0].answered.unwrap();
        assert!(pair[0].received <= answered && answered <= pair[1].received);
    }
    assert_eq!(world.requests_to(Service::ContactLens), requests);
    assert!(world.requests_to(Service::Connect).is_empty());
}
