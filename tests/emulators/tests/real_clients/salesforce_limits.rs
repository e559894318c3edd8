//! The org's API request allocation (`Sforce-Limit-Info`, 403 REQUEST_LIMIT_EXCEEDED) and the
//! conversation entries hourly limit per connected app user, through reqwest.

use emulators::{
    Fault, SAMPLE_CJK, SAMPLE_INTERNATIONAL, Server, Service, World, fill_voice_calls,
    sample_world, start_salesforce, test_public_key_pem,
};
use reqwest::multipart::Form;
use serde_json::{Value, json};

use crate::INSTANCE_ID;
use crate::salesforce::{CLIENT_ID, USERNAME, assertion, file, lines_for, ndjson, token};

const API: &str = "/services/data/v62.0";
const HEADER: &str = "sforce-limit-info";

async fn setup() -> (World, Server) {
    let world = sample_world(INSTANCE_ID);
    world.salesforce_jwt_client(CLIENT_ID, USERNAME, test_public_key_pem());
    let server = start_salesforce(&world).await;
    (world, server)
}

/// A response's status, `Sforce-Limit-Info` (None without one) and JSON body.
struct Answer {
    status: u16,
    usage: Option<String>,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let usage = response
        .headers()
        .get(HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        usage,
        body,
    }
}

/// GET of a path under the server (with its query string, if any).
async fn get(server: &Server, token: &str, path_and_query: &str) -> Answer {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn query(server: &Server, token: &str, soql: &str) -> Answer {
    let response = reqwest::Client::new()
        .get(format!("{}{API}/query", server.url()))
        .query(&[("q", soql)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn entries(server: &Server, token: &str, conversation: &str) -> Answer {
    get(
        server,
        token,
        &format!("{API}/connect/conversation/{conversation}/entries"),
    )
    .await
}

async fn upload(server: &Server, token: &str, world: &World, contact_id: &str) -> Answer {
    let contact = world.contact(contact_id).unwrap();
    let (name, part) = file(contact_id, ndjson(&lines_for(&contact)));
    let response = reqwest::Client::new()
        .post(format!(
            "{}{API}/connect/conversations/upload",
            server.url()
        ))
        .bearer_auth(token)
        .multipart(Form::new().part(name, part))
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn post_token(server: &Server, form: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", server.url()))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// A JWT bearer token for connected app `client_id` and user `username`.
async fn jwt_token(server: &Server, client_id: &str, username: &str) -> String {
    let assertion = assertion(client_id, username, &server.url(), 180);
    let response = post_token(
        server,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn usage(used: u64, max: u64) -> Option<String> {
    Some(format!("api-usage={used}/{max}"))
}

#[tokio::test]
async fn every_rest_answer_reports_the_calls_counted_so_far() {
    let (world, server) = setup().await;
    // 2,001 more VoiceCalls: the query below has a next page.
    fill_voice_calls(&world, 1_793_491_200_000, 2_001, 60_000);
    let token_response = post_token(
        &server,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            (
                "assertion",
                &assertion(CLIENT_ID, USERNAME, &server.url(), 180),
            ),
        ],
    )
    .await;
    // The token endpoint is not the REST API: no header, not counted.
    assert_eq!(token_response.status(), 200);
    assert!(token_response.headers().get(HEADER).is_none());
    let token = token(&server).await;
    assert_eq!(world.api_usage(), (0, 100_000));

    let first = query(&server, &token, "SELECT Id FROM VoiceCall").await;
    assert_eq!((first.status, first.usage), (200, usage(1, 100_000)));
    let next = first.body["nextRecordsUrl"].as_str().unwrap();
    let page = get(&server, &token, next).await;
    assert_eq!((page.status, page.usage), (200, usage(2, 100_000)));

    let uploaded = upload(&server, &token, &world, SAMPLE_INTERNATIONAL).await;
    assert_eq!((uploaded.status, uploaded.usage), (200, usage(3, 100_000)));
    let upload_id = uploaded.body["conversationBulkUploadsResults"][0]["uploadId"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = get(
        &server,
        &token,
        &format!("{API}/connect/conversations/upload?uploadIds={upload_id}"),
    )
    .await;
    assert_eq!((status.status, status.usage), (200, usage(4, 100_000)));
    let read = entries(&server, &token, SAMPLE_INTERNATIONAL).await;
    assert_eq!((read.status, read.usage), (200, usage(5, 100_000)));

    // Error answers count and carry it too: a refused query, an unknown conversation, an
    // injected fault.
    let refused = query(&server, &token, "SELECT Id FROM Account").await;
    assert_eq!((refused.status, refused.usage), (400, usage(6, 100_000)));
    assert_eq!(refused.body[0]["errorCode"], "INVALID_TYPE");
    let unknown = entries(&server, &token, "no-such-conversation").await;
    assert_eq!((unknown.status, unknown.usage), (404, usage(7, 100_000)));
    world.inject(
        Service::Salesforce,
        Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "Try later").on_path("/entries"),
    );
    let faulted = entries(&server, &token, SAMPLE_CJK).await;
    assert_eq!((faulted.status, faulted.usage), (503, usage(8, 100_000)));
    assert_eq!(faulted.body[0]["errorCode"], "SERVER_UNAVAILABLE");

    // An unauthenticated call is neither answered with it nor counted.
    let unauthenticated = entries(&server, "not-a-token", SAMPLE_CJK).await;
    assert_eq!((unauthenticated.status, unauthenticated.usage), (401, None));
    assert_eq!(world.api_usage(), (8, 100_000));
}

#[tokio::test]
async fn a_used_up_allocation_refuses_every_rest_call_uncounted() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    world.set_api_allocation(499, 500);

    let last = query(&server, &token, "SELECT Id FROM VoiceCall LIMIT 1").await;
    assert_eq!((last.status, last.usage), (200, usage(500, 500)));
    let limit_body = json!([{
        "message": "TotalRequests Limit exceeded.",
        "errorCode": "REQUEST_LIMIT_EXCEEDED",
    }]);
    let refused = [
        query(&server, &token, "SELECT Id FROM VoiceCall LIMIT 1").await,
        upload(&server, &token, &world, SAMPLE_INTERNATIONAL).await,
        get(
            &server,
            &token,
            &format!("{API}/connect/conversations/upload?uploadIds=x"),
        )
        .await,
        entries(&server, &token, SAMPLE_INTERNATIONAL).await,
    ];
    for answer in refused {
        assert_eq!(answer.status, 403);
        assert_eq!(answer.usage, usage(500, 500));
        assert_eq!(answer.body, limit_body);
    }
    // Refused before any resource: nothing uploaded, no query run, nothing counted.
    assert_eq!(world.api_usage(), (500, 500));
    assert!(world.uploads().is_empty());
    assert_eq!(world.upload_requests(), 0);
    assert_eq!(world.stats().query_requests, 1);
    // Tokens are still issued (the token endpoint is outside the allocation), and a larger
    // allocation lets calls through again.
    let fresh = jwt_token(&server, CLIENT_ID, USERNAME).await;
    world.set_api_allocation(500, 1_000);
    let again = query(&server, &fresh, "SELECT Id FROM VoiceCall LIMIT 1").await;
    assert_eq!((again.status, again.usage), (200, usage(501, 1_000)));
}

#[tokio::test]
async fn entries_reads_are_limited_per_connected_app_user_while_other_calls_go_on() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    world.set_entries_reads_per_hour(2);

    for _ in 0..2 {
        assert_eq!(
            entries(&server, &token, SAMPLE_INTERNATIONAL).await.status,
            200
        );
    }
    let refused = entries(&server, &token, SAMPLE_INTERNATIONAL).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.usage, usage(3, 100_000));
    assert_eq!(refused.body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
    assert_eq!(
        refused.body[0]["message"],
        "Connect REST API rate limit exceeded: conversation entries allow 2 calls per \
         connected app per user per hour"
    );
    assert_eq!(world.stats().entries_reads_refused, 1);
    // Other resources are not limited by it.
    let queried = query(&server, &token, "SELECT Id FROM VoiceCall LIMIT 1").await;
    assert_eq!(queried.status, 200);
    // Another token of the same app and user shares the user's hour.
    let same_user = jwt_token(&server, CLIENT_ID, USERNAME).await;
    assert_eq!(entries(&server, &same_user, SAMPLE_CJK).await.status, 503);
    assert_eq!(world.stats().entries_reads_refused, 2);

    // The same user under another app, another user (the emulator approves one user per JWT
    // app, so under an app of its own) and an app's client credentials (execution) user each
    // have their own hour.
    world.salesforce_jwt_client("3MVG9other.client", USERNAME, test_public_key_pem());
    world.salesforce_jwt_client(
        "3MVG9second.user",
        "second@example.com",
        test_public_key_pem(),
    );
    world.salesforce_client_credentials("3MVG9service.client", "s3cret");
    let other_app = jwt_token(&server, "3MVG9other.client", USERNAME).await;
    let second_user = jwt_token(&server, "3MVG9second.user", "second@example.com").await;
    let credentials = post_token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "3MVG9service.client"),
            ("client_secret", "s3cret"),
        ],
    )
    .await;
    let service: Value = credentials.json().await.unwrap();
    let service = service["access_token"].as_str().unwrap().to_owned();
    for token in [&other_app, &second_user, &service] {
        for _ in 0..2 {
            assert_eq!(
                entries(&server, token, SAMPLE_INTERNATIONAL).await.status,
                200
            );
        }
        assert_eq!(
            entries(&server, token, SAMPLE_INTERNATIONAL).await.status,
            503
        );
    }
    assert_eq!(world.stats().entries_reads_refused, 5);
    // Every one of them was an API call.
    assert_eq!(world.api_usage().0, 4 + 1 + 3 * 3);
}

#[tokio::test]
async fn the_entries_limit_comes_before_faults_which_stay_armed() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    world.set_entries_reads_per_hour(1);
    assert_eq!(
        entries(&server, &token, SAMPLE_INTERNATIONAL).await.status,
        200
    );
    world.inject(
        Service::Salesforce,
        Fault::salesforce_error(500, "UNKNOWN_EXCEPTION", "Injected").on_path("/entries"),
    );
    assert_eq!(
        entries(&server, &token, SAMPLE_INTERNATIONAL).await.status,
        503
    );
    world.set_entries_reads_per_hour(10);
    let faulted = entries(&server, &token, SAMPLE_INTERNATIONAL).await;
    assert_eq!((faulted.status, faulted.usage), (500, usage(3, 100_000)));
    assert_eq!(
        entries(&server, &token, SAMPLE_INTERNATIONAL).await.status,
        200
    );
    assert_eq!(world.stats().entries_reads_refused, 1);
}
