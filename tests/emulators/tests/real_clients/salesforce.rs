use std::time::{SystemTime, UNIX_EPOCH};

use emulators::{
    ContactSpec, Fault, ReuploadedEntries, SAMPLE_CJK, SAMPLE_IN_PROGRESS, SAMPLE_INTERNATIONAL,
    Server, Service, UploadProcessing, World, sample_world, start_salesforce, test_private_key_pem,
    test_public_key_pem,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::INSTANCE_ID;

pub(crate) const CLIENT_ID: &str = "3MVG9test.client";
pub(crate) const USERNAME: &str = "integration@example.com";
const API: &str = "/services/data/v62.0/connect";

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

pub(crate) fn assertion(iss: &str, sub: &str, aud: &str, exp_in_secs: i64) -> String {
    let claims = json!({ "iss": iss, "sub": sub, "aud": aud, "exp": now_secs() + exp_in_secs });
    let key = EncodingKey::from_rsa_pem(test_private_key_pem().as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

async fn setup() -> (World, Server) {
    let world = sample_world(INSTANCE_ID);
    world.salesforce_jwt_client(CLIENT_ID, USERNAME, test_public_key_pem());
    let server = start_salesforce(&world).await;
    (world, server)
}

async fn post_token(server: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", server.url()))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn jwt_grant(server: &Server, assertion: &str) -> (u16, Value) {
    post_token(
        server,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion),
        ],
    )
    .await
}

pub(crate) async fn token(server: &Server) -> String {
    let (status, body) =
        jwt_grant(server, &assertion(CLIENT_ID, USERNAME, &server.url(), 180)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The NDJSON lines the function should produce for a contact: offsets anchored at the agent
/// connection, roles mapped to AGENT / END_USER.
pub(crate) fn lines_for(contact: &ContactSpec) -> Vec<Value> {
    let anchor = contact.connected_to_agent_ms.unwrap();
    let id = &contact.contact_id;
    let mut lines = vec![json!({"type": "conversation", "payload": {"conversationId": id}})];
    for segment in &contact.segments {
        let role = if segment.participant_role == "AGENT" {
            "AGENT"
        } else {
            "END_USER"
        };
        lines.push(json!({"type": "conversationEntry", "payload": {
            "conversationId": id,
            "id": segment.id,
            "clientSentTimestamp": anchor + segment.begin_offset_millis,
            "clientDuration": segment.end_offset_millis - segment.begin_offset_millis,
            "messageText": segment.content,
            "sender": {"appType": "TELEPHONY_INTEGRATION", "role": role, "subject": format!("{id}{role}")},
            "relatedRecords": [contact.voice_call_id],
        }}));
    }
    lines
}

pub(crate) fn ndjson(lines: &[Value]) -> Vec<u8> {
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

pub(crate) fn file(name: &str, body: Vec<u8>) -> (String, Part) {
    (
        name.to_owned(),
        Part::bytes(body).file_name("transcripts.txt"),
    )
}

async fn try_upload(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    parts: Vec<(String, Part)>,
) -> reqwest::Result<reqwest::Response> {
    let form = parts
        .into_iter()
        .fold(Form::new(), |form, (name, part)| form.part(name, part));
    client
        .post(format!("{}{API}/conversations/upload", server.url()))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
}

async fn upload(server: &Server, token: &str, parts: Vec<(String, Part)>) -> reqwest::Response {
    try_upload(&reqwest::Client::new(), server, token, parts)
        .await
        .unwrap()
}

pub(crate) async fn upload_results(
    server: &Server,
    token: &str,
    parts: Vec<(String, Part)>,
) -> Vec<Value> {
    let response = upload(server, token, parts).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["conversationBulkUploadsResults"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn jwt_bearer_flow_issues_a_token_for_this_instance() {
    let (world, server) = setup().await;
    let (status, body) =
        jwt_grant(&server, &assertion(CLIENT_ID, USERNAME, &server.url(), 180)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["instance_url"], server.url());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() > 20));
    assert_eq!(world.token_mints(), 1);
}

#[tokio::test]
async fn bad_assertions_are_rejected() {
    let (world, server) = setup().await;
    let url = server.url();
    let good = assertion(CLIENT_ID, USERNAME, &url, 180);
    // Altering one character of the signature breaks it.
    let mut tampered = good.clone().into_bytes();
    let at = good.rfind('.').unwrap() + 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    let cases = [
        (tampered, "invalid_grant"),
        (
            assertion(CLIENT_ID, "someone@else", &url, 180),
            "invalid_grant",
        ),
        (
            assertion(CLIENT_ID, USERNAME, "https://login.salesforce.com", 180),
            "invalid_grant",
        ),
        (assertion(CLIENT_ID, USERNAME, &url, -10), "invalid_grant"),
        (assertion(CLIENT_ID, USERNAME, &url, 3600), "invalid_grant"),
        (
            assertion("unknown-client", USERNAME, &url, 180),
            "invalid_client_id",
        ),
        ("not-a-jwt".to_owned(), "invalid_grant"),
    ];
    for (assertion, error) in cases {
        let (status, body) = jwt_grant(&server, &assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{body}"
        );
    }
    assert_eq!(world.token_mints(), 0);
    let (status, body) = post_token(&server, &[("grant_type", "password")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn client_credentials_flow_checks_the_secret() {
    let (world, server) = setup().await;
    world.salesforce_client_credentials("cc-client", "s3cret");
    let grant = |secret: &'static str| {
        let server = &server;
        async move {
            post_token(
                server,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "cc-client"),
                    ("client_secret", secret),
                ],
            )
            .await
        }
    };
    let (status, body) = grant("s3cret").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = grant("wrong").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    assert_eq!(world.token_mints(), 1);
}

#[tokio::test]
async fn token_endpoint_faults_are_served() {
    let (world, server) = setup().await;
    let good = assertion(CLIENT_ID, USERNAME, &server.url(), 180);
    world.inject(
        Service::Salesforce,
        Fault::http(503, "{}")
            .on_path("/oauth2/token")
            .retry_after(2),
    );
    let response = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", server.url()))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(jwt_grant(&server, &good).await.0, 200);
}

#[tokio::test]
async fn valid_upload_is_stored_byte_for_byte_and_readable_back() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    let international = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let cjk = world.contact(SAMPLE_CJK).unwrap();

    let response = upload(
        &server,
        &token,
        vec![
            file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&international))),
            file(SAMPLE_CJK, ndjson(&lines_for(&cjk))),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["sforce-limit-info"]
            .to_str()
            .unwrap()
            .starts_with("api-usage=")
    );
    let body: Value = response.json().await.unwrap();
    let results = body["conversationBulkUploadsResults"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["conversationIdentifier"], SAMPLE_INTERNATIONAL);
    assert_eq!(results[1]["conversationIdentifier"], SAMPLE_CJK);
    for result in results {
        assert_eq!(result["status"], "SUCCESS", "{result}");
        assert!(result["errorDetail"].is_null());
    }

    let uploads = world.uploads();
    assert_eq!(uploads.len(), 2);
    assert_eq!(world.upload_requests(), 1);
    assert_eq!(uploads[1].request_index, 1);
    let texts: Vec<&str> = uploads[1]
        .entries
        .iter()
        .map(|e| e["messageText"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = cjk.segments.iter().map(|s| s.content.as_str()).collect();
    assert_eq!(texts, expected);

    // Status of both uploads plus an unknown id.
    let ids = format!(
        "{},{},does-not-exist",
        results[0]["uploadId"].as_str().unwrap(),
        results[1]["uploadId"].as_str().unwrap()
    );
    let statuses: Value = reqwest::Client::new()
        .get(format!("{}{API}/conversations/upload", server.url()))
        .query(&[("uploadIds", ids)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses = statuses["conversationBulkUploadStatuses"]
        .as_array()
        .unwrap();
    assert_eq!(statuses[0]["status"], "SUCCESS");
    assert_eq!(statuses[0]["conversationId"], SAMPLE_INTERNATIONAL);
    assert_eq!(
        statuses[0]["successEntryCount"],
        international.segments.len()
    );
    assert_eq!(statuses[2]["status"], "FAILED");
    assert_eq!(statuses[2]["errorDetail"], "Upload not found");

    // Uploading the same transcript again doubles its entries (the default reading).
    let again = upload_results(
        &server,
        &token,
        vec![file(SAMPLE_CJK, ndjson(&lines_for(&cjk)))],
    )
    .await;
    assert_eq!(again[0]["status"], "SUCCESS");
    let entries: Value = reqwest::Client::new()
        .get(format!(
            "{}{API}/conversation/{SAMPLE_CJK}/entries",
            server.url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = entries["conversationEntries"].as_array().unwrap();
    assert_eq!(entries.len(), 2 * cjk.segments.len());
    for entry in &entries[..2] {
        assert_eq!(entry["identifier"], cjk.segments[0].id);
        assert_eq!(entry["messageText"], cjk.segments[0].content);
        assert_eq!(entry["sender"]["role"], "AGENT");
    }
}

/// Each case breaks one rule in an otherwise valid file of SAMPLE_INTERNATIONAL.
#[tokio::test]
async fn every_rule_violation_fails_its_conversation() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    let contact = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let start = contact.initiation_ms;
    let end = contact.disconnect_ms.unwrap();
    type Break = Box<dyn Fn(&mut Vec<Value>)>;
    let entry = |f: fn(&mut Value)| -> Break {
        Box::new(move |lines: &mut Vec<Value>| f(&mut lines[2]["payload"]))
    };
    let cases: Vec<(&str, Break)> = vec![
        (
            "line 1",
            Box::new(|l| l[0]["payload"]["conversationId"] = json!("other")),
        ),
        (
            "line 1",
            Box::new(|l| l[0]["type"] = json!("conversationEntry")),
        ),
        (
            "conversationEntry",
            Box::new(|l| l[2]["type"] = json!("entry")),
        ),
        (
            "conversationId",
            entry(|p| p["conversationId"] = json!("other")),
        ),
        ("payload.id", entry(|p| p["id"] = json!(""))),
        (
            "duplicate entry id",
            Box::new(|l| l[2]["payload"]["id"] = l[1]["payload"]["id"].clone()),
        ),
        (
            "outside the conversation",
            Box::new(move |l| l[2]["payload"]["clientSentTimestamp"] = json!(start - 1)),
        ),
        (
            "outside the conversation",
            Box::new(move |l| l[2]["payload"]["clientSentTimestamp"] = json!(end + 1)),
        ),
        (
            "clientSentTimestamp must be an integer",
            entry(|p| p["clientSentTimestamp"] = json!(1.5e12)),
        ),
        ("clientDuration", entry(|p| p["clientDuration"] = json!(-1))),
        (
            "clientDuration",
            entry(|p| p["clientDuration"] = json!("12")),
        ),
        ("messageText", entry(|p| p["messageText"] = json!(null))),
        ("appType", entry(|p| p["sender"]["appType"] = json!("CHAT"))),
        ("role", entry(|p| p["sender"]["role"] = json!("CUSTOMER"))),
        ("subject", entry(|p| p["sender"]["subject"] = json!(""))),
        (
            "15-character",
            entry(|p| p["relatedRecords"] = json!(["0LQ1Q000002TZtnAAA"])),
        ),
        (
            "include the conversation's VoiceCall",
            entry(|p| p["relatedRecords"] = json!(["0LQ1Q000002TAtn"])),
        ),
        (
            "non-empty array",
            entry(|p| p["relatedRecords"] = json!([])),
        ),
    ];
    for (expected, break_rule) in cases {
        let mut lines = lines_for(&contact);
        break_rule(&mut lines);
        let results = upload_results(
            &server,
            &token,
            vec![file(SAMPLE_INTERNATIONAL, ndjson(&lines))],
        )
        .await;
        assert_eq!(results[0]["status"], "FAILED", "{expected}: {}", results[0]);
        let detail = results[0]["errorDetail"].as_str().unwrap();
        assert!(
            detail.contains(expected),
            "expected {expected:?} in {detail:?}"
        );
    }

    let good = ndjson(&lines_for(&contact));
    let mut invalid_utf8 = good.clone();
    invalid_utf8.extend_from_slice(b"\xff\xfe\n");
    let in_progress = world.contact(SAMPLE_IN_PROGRESS).unwrap();
    let part_cases = vec![
        ("not valid UTF-8", file(SAMPLE_INTERNATIONAL, invalid_utf8)),
        (
            "not valid JSON",
            file(SAMPLE_INTERNATIONAL, b"{\"type\":\n".to_vec()),
        ),
        (
            "no filename",
            (SAMPLE_INTERNATIONAL.to_owned(), Part::bytes(good.clone())),
        ),
        (
            "is not closed",
            file(SAMPLE_IN_PROGRESS, ndjson(&lines_for(&in_progress))),
        ),
    ];
    for (expected, part) in part_cases {
        let results = upload_results(&server, &token, vec![part]).await;
        let detail = results[0]["errorDetail"].as_str().unwrap();
        assert!(
            detail.contains(expected),
            "expected {expected:?} in {detail:?}"
        );
    }
    let unknown =
        ndjson(&[json!({"type": "conversation", "payload": {"conversationId": "ghost"}})]);
    let results = upload_results(&server, &token, vec![file("ghost", unknown)]).await;
    assert!(
        results[0]["errorDetail"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );

    assert!(
        world.uploads().is_empty(),
        "no failed conversation may be stored"
    );
}

#[tokio::test]
async fn good_and_bad_parts_get_results_in_part_order() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    let international = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let mut bad = lines_for(&world.contact(SAMPLE_CJK).unwrap());
    bad[1]["payload"]["sender"]["role"] = json!("BOT");
    let results = upload_results(
        &server,
        &token,
        vec![
            file(SAMPLE_CJK, ndjson(&bad)),
            file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&international))),
            file(SAMPLE_CJK, ndjson(&bad)),
        ],
    )
    .await;
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["FAILED", "SUCCESS", "FAILED"]);
    assert!(
        results[2]["errorDetail"]
            .as_str()
            .unwrap()
            .contains("more than once")
    );
    let uploads = world.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].conversation_id, SAMPLE_INTERNATIONAL);
}

#[tokio::test]
async fn malformed_or_empty_requests_are_invalid_input() {
    let (_world, server) = setup().await;
    let token = token(&server).await;
    let client = reqwest::Client::new();
    let url = format!("{}{API}/conversations/upload", server.url());
    let requests = [
        client.post(&url).json(&json!({"not": "multipart"})),
        client
            .post(&url)
            .header("content-type", "multipart/form-data; boundary=xyz")
            .body("garbage without boundaries"),
        client.post(&url).multipart(Form::new()),
    ];
    for request in requests {
        let response = request.bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body[0]["errorCode"], "INVALID_INPUT", "{body}");
    }
}

#[tokio::test]
async fn expired_tokens_get_401_until_a_new_one_is_minted() {
    let (world, server) = setup().await;
    let old = token(&server).await;
    let contact = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let parts = || vec![file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact)))];
    assert_eq!(upload(&server, &old, parts()).await.status(), 200);

    world.expire_tokens();
    let response = upload(&server, &old, parts()).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
    assert_eq!(upload(&server, "", parts()).await.status(), 401);

    let fresh = token(&server).await;
    assert_eq!(upload(&server, &fresh, parts()).await.status(), 200);
    assert_eq!(world.token_mints(), 2);
    // The 401s never reached the upload resource.
    assert_eq!(world.upload_requests(), 2);
}

#[tokio::test]
async fn upload_faults_are_served_then_used_up() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    let contact = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let cjk = world.contact(SAMPLE_CJK).unwrap();
    let parts = || {
        vec![
            file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact))),
            file(SAMPLE_CJK, ndjson(&lines_for(&cjk))),
        ]
    };
    world.inject(
        Service::Salesforce,
        Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "Try later")
            .on_path("/conversations/upload")
            .retry_after(3),
    );
    world.inject(
        Service::Salesforce,
        Fault::salesforce_error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ),
    );
    world.inject(Service::Salesforce, Fault::omit_from_results(SAMPLE_CJK));

    let first = upload(&server, &token, parts()).await;
    assert_eq!(first.status(), 503);
    assert_eq!(first.headers()["retry-after"], "3");
    let second = upload(&server, &token, parts()).await;
    assert_eq!(second.status(), 403);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");

    let third = upload_results(&server, &token, parts()).await;
    assert_eq!(third.len(), 1);
    assert_eq!(third[0]["conversationIdentifier"], SAMPLE_INTERNATIONAL);
    // The omitted conversation was still processed.
    assert_eq!(world.uploads().len(), 2);
    assert_eq!(world.upload_requests(), 3);
    assert_eq!(world.stats().salesforce.errors, 2);
}

#[tokio::test]
async fn old_api_versions_and_too_many_ids_are_refused() {
    let (_world, server) = setup().await;
    let token = token(&server).await;
    let client = reqwest::Client::new();
    let old = client
        .get(format!(
            "{}/services/data/v50.0/connect/conversations/upload?uploadIds=a",
            server.url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 404);

    let ids = (0..101)
        .map(|i| format!("id{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let too_many = client
        .get(format!("{}{API}/conversations/upload", server.url()))
        .query(&[("uploadIds", ids)])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(too_many.status(), 400);
}

#[tokio::test]
async fn api_answers_under_any_version_from_51_0_spelled_vnn_n() {
    let (_world, server) = setup().await;
    let token = token(&server).await;
    let statuses = |version: &str| {
        reqwest::Client::new()
            .get(format!(
                "{}/services/data/{version}/connect/conversations/upload?uploadIds=a",
                server.url()
            ))
            .bearer_auth(&token)
            .send()
    };
    for version in ["v51.0", "v62.0", "v64.0"] {
        assert_eq!(statuses(version).await.unwrap().status(), 200, "{version}");
    }
    for version in ["v50.0", "v62", "v62.00", "vlatest", "vinf", "62.0"] {
        let response = statuses(version).await.unwrap();
        assert_eq!(response.status(), 404, "{version}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]),
            "{version}"
        );
    }
}

/// How a Service Cloud Voice org is reached: the token from the login host, the API calls on
/// the REST base its secret names, here another server of the same world.
#[tokio::test]
async fn servers_on_one_world_share_tokens_and_uploads() {
    let (world, login) = setup().await;
    let api = start_salesforce(&world).await;
    let token = token(&login).await;
    let contact = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let results = upload_results(
        &api,
        &token,
        vec![file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact)))],
    )
    .await;
    assert_eq!(results[0]["status"], "SUCCESS", "{results:?}");
    assert_eq!(world.uploads().len(), 1);

    // Read back through the login host, with the same token.
    let entries: Value = reqwest::Client::new()
        .get(format!(
            "{}{API}/conversation/{SAMPLE_INTERNATIONAL}/entries",
            login.url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        entries["conversationEntries"].as_array().unwrap().len(),
        contact.segments.len()
    );

    // Revoking tokens revokes them on every server.
    world.expire_tokens();
    let parts = vec![file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact)))];
    assert_eq!(upload(&api, &token, parts).await.status(), 401);
    // Each server still expects assertions addressed to itself.
    let (status, body) = jwt_grant(&api, &assertion(CLIENT_ID, USERNAME, &login.url(), 180)).await;
    assert_eq!((status, &body["error"]), (400, &json!("invalid_grant")));
}

async fn get_entries(
    server: &Server,
    token: &str,
    conversation: &str,
    query: &[(&str, &str)],
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}{API}/conversation/{conversation}/entries",
            server.url()
        ))
        .query(query)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn identifiers(body: &Value) -> Vec<String> {
    body["conversationEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["identifier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn realtime_entries_read_back_like_uploads_without_being_uploads() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    let contact = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let anchor = contact.connected_to_agent_ms.unwrap();
    // Real-time transcription lost turns 1, 4 and 7.
    let kept = |i: usize| i % 3 != 1;
    world.deliver_realtime(SAMPLE_INTERNATIONAL, kept);

    let (status, body) = get_entries(&server, &token, SAMPLE_INTERNATIONAL, &[]).await;
    assert_eq!(status, 200, "{body}");
    let delivered: Vec<&str> = contact
        .segments
        .iter()
        .enumerate()
        .filter(|(i, _)| kept(*i))
        .map(|(_, s)| s.id.as_str())
        .collect();
    assert_eq!(identifiers(&body), delivered);
    let first = &body["conversationEntries"][0];
    let segment = &contact.segments[0];
    assert_eq!(
        first["clientTimestamp"],
        anchor + segment.begin_offset_millis
    );
    assert_eq!(
        first["clientDuration"],
        segment.end_offset_millis - segment.begin_offset_millis
    );
    assert_eq!(first["messageText"], segment.content.as_str());
    assert_eq!(first["sender"]["role"], "AGENT");
    assert_eq!(first["sender"]["appType"], "TELEPHONY_INTEGRATION");
    assert_eq!(first["relatedRecords"], json!([contact.voice_call_id]));
    // Turn 3 is the customer's.
    assert_eq!(body["conversationEntries"][2]["sender"]["role"], "END_USER");
    assert_eq!(
        world.conversation_entries(SAMPLE_INTERNATIONAL),
        body["conversationEntries"].as_array().unwrap().clone()
    );
    assert!(world.uploads().is_empty());
    assert_eq!(world.upload_requests(), 0);

    // Uploading the whole transcript fills the gaps, and re-sends the delivered entries: the
    // conversation now holds those twice.
    let results = upload_results(
        &server,
        &token,
        vec![file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact)))],
    )
    .await;
    assert_eq!(results[0]["status"], "SUCCESS");
    let held: Vec<&str> = contact
        .segments
        .iter()
        .enumerate()
        .flat_map(|(i, s)| vec![s.id.as_str(); if kept(i) { 2 } else { 1 }])
        .collect();
    let (_, body) = get_entries(&server, &token, SAMPLE_INTERNATIONAL, &[]).await;
    assert_eq!(identifiers(&body), held);
    assert_eq!(world.duplicate_entries(), delivered.len());
    assert_eq!(world.uploads().len(), 1);

    // Sending only the gaps duplicates nothing.
    let cjk = world.contact(SAMPLE_CJK).unwrap();
    world.deliver_realtime(SAMPLE_CJK, |i| i < 3);
    let mut gaps = lines_for(&cjk);
    gaps.drain(1..4);
    let results = upload_results(&server, &token, vec![file(SAMPLE_CJK, ndjson(&gaps))]).await;
    assert_eq!(results[0]["status"], "SUCCESS");
    assert_eq!(world.duplicate_entries(), delivered.len());
    assert_eq!(
        world.conversation_entries(SAMPLE_CJK).len(),
        cjk.segments.len()
    );
}

#[tokio::test]
async fn entries_are_ordered_bounded_and_limited() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    let contact = world.contact(SAMPLE_CJK).unwrap();
    // Uploaded in reverse: the resource still answers in time order.
    let mut lines = lines_for(&contact);
    lines[1..].reverse();
    upload_results(&server, &token, vec![file(SAMPLE_CJK, ndjson(&lines))]).await;
    let ids: Vec<String> = contact.segments.iter().map(|s| s.id.clone()).collect();

    let (_, body) = get_entries(&server, &token, SAMPLE_CJK, &[]).await;
    assert_eq!(identifiers(&body), ids);
    let (_, body) = get_entries(
        &server,
        &token,
        SAMPLE_CJK,
        &[("queryDirection", "FromEnd"), ("recordLimit", "2")],
    )
    .await;
    assert_eq!(identifiers(&body), [ids[8].clone(), ids[7].clone()]);
    let (_, body) = get_entries(
        &server,
        &token,
        SAMPLE_CJK,
        &[("queryDirection", "FromStart"), ("recordLimit", "3")],
    )
    .await;
    assert_eq!(identifiers(&body), ids[..3]);

    let at = |i: usize| entry_time(&contact, i);
    let (_, body) = get_entries(
        &server,
        &token,
        SAMPLE_CJK,
        &[("startTimestamp", &at(2)), ("endTimestamp", &at(4))],
    )
    .await;
    assert_eq!(identifiers(&body), ids[2..=4], "both bounds are inclusive");

    for bad in [
        ("recordLimit", "0"),
        ("recordLimit", "1001"),
        ("startTimestamp", "yesterday"),
        ("queryDirection", "Sideways"),
    ] {
        let (status, body) = get_entries(&server, &token, SAMPLE_CJK, &[bad]).await;
        assert_eq!(
            (status, &body[0]["errorCode"]),
            (400, &json!("INVALID_INPUT")),
            "{bad:?}"
        );
    }
    let (status, _) = get_entries(&server, &token, "ghost", &[]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn upload_status_is_in_progress_for_the_first_polls() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    world.set_upload_processing_polls(2);
    let contact = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let results = upload_results(
        &server,
        &token,
        vec![file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact)))],
    )
    .await;
    let upload_id = results[0]["uploadId"].as_str().unwrap();
    let poll = || upload_status(&server, &token, upload_id);
    for _ in 0..2 {
        let status = poll().await;
        assert_eq!(status["status"], "IN_PROGRESS", "{status}");
        assert_eq!(status["successEntryCount"], 0);
        assert_eq!(status["uploadId"], upload_id);
    }
    for _ in 0..2 {
        let status = poll().await;
        assert_eq!(status["status"], "SUCCESS", "{status}");
        assert_eq!(status["successEntryCount"], contact.segments.len());
    }
}

async fn upload_status(server: &Server, token: &str, upload_id: &str) -> Value {
    let body: Value = reqwest::Client::new()
        .get(format!("{}{API}/conversations/upload", server.url()))
        .query(&[("uploadIds", upload_id)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["conversationBulkUploadStatuses"][0].clone()
}

/// Uploads SAMPLE_CJK's transcript twice, the second time with another first text, and reads
/// the conversation back.
async fn upload_cjk_twice(mode: ReuploadedEntries) -> (World, Server, String, Value) {
    let (world, server) = setup().await;
    world.set_reuploaded_entries(mode);
    let token = token(&server).await;
    let lines = lines_for(&world.contact(SAMPLE_CJK).unwrap());
    let mut changed = lines.clone();
    changed[1]["payload"]["messageText"] = json!("said again");
    for lines in [lines, changed] {
        let results = upload_results(&server, &token, vec![file(SAMPLE_CJK, ndjson(&lines))]).await;
        assert_eq!(results[0]["status"], "SUCCESS", "{results:?}");
    }
    let (status, body) = get_entries(&server, &token, SAMPLE_CJK, &[]).await;
    assert_eq!(status, 200, "{body}");
    (world, server, token, body)
}

fn texts(body: &Value) -> Vec<&str> {
    body["conversationEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["messageText"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn reuploaded_entries_double_by_default_and_page_with_their_doubles() {
    let (world, server, token, body) = upload_cjk_twice(ReuploadedEntries::Doubled).await;
    let contact = world.contact(SAMPLE_CJK).unwrap();
    let ids: Vec<&str> = contact.segments.iter().map(|s| s.id.as_str()).collect();
    let twice: Vec<&str> = ids.iter().flat_map(|id| [*id, *id]).collect();
    assert_eq!(identifiers(&body), twice);
    // Both versions of the first entry, in upload order.
    assert_eq!(
        texts(&body)[..2],
        [contact.segments[0].content.as_str(), "said again"]
    );
    assert_eq!(world.duplicate_entries(), ids.len());
    assert_eq!(
        world.conversation_entries(SAMPLE_CJK),
        body["conversationEntries"].as_array().unwrap().clone()
    );

    // startTimestamp is inclusive: a page starting at an entry's time has both its copies.
    let at = |i: usize| entry_time(&contact, i);
    let (_, page) = get_entries(
        &server,
        &token,
        SAMPLE_CJK,
        &[("startTimestamp", &at(2)), ("recordLimit", "3")],
    )
    .await;
    assert_eq!(identifiers(&page), [ids[2], ids[2], ids[3]]);
    let (_, page) = get_entries(
        &server,
        &token,
        SAMPLE_CJK,
        &[("queryDirection", "FromEnd"), ("recordLimit", "3")],
    )
    .await;
    assert_eq!(identifiers(&page), [ids[8], ids[8], ids[7]]);
}

#[tokio::test]
async fn reuploaded_entries_replace_when_the_world_says_so() {
    let (world, _server, _token, body) = upload_cjk_twice(ReuploadedEntries::Replaced).await;
    let contact = world.contact(SAMPLE_CJK).unwrap();
    let ids: Vec<&str> = contact.segments.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(identifiers(&body), ids);
    assert_eq!(texts(&body)[0], "said again");
    // Counted all the same: they were sent twice.
    assert_eq!(world.duplicate_entries(), ids.len());
}

#[tokio::test]
async fn deferred_uploads_are_read_back_only_once_processed() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    world.set_upload_processing(UploadProcessing::Deferred);
    world.set_upload_processing_polls(1);
    let contact = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let mut upload_ids = Vec::new();
    for _ in 0..2 {
        let results = upload_results(
            &server,
            &token,
            vec![file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact)))],
        )
        .await;
        assert_eq!(results[0]["status"], "SUCCESS", "{results:?}");
        upload_ids.push(results[0]["uploadId"].as_str().unwrap().to_owned());
    }
    let recorded: Vec<String> = world.uploads().into_iter().map(|u| u.upload_id).collect();
    assert_eq!(recorded, upload_ids);

    let (status, body) = get_entries(&server, &token, SAMPLE_INTERNATIONAL, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(identifiers(&body).is_empty(), "{body}");
    assert!(world.conversation_entries(SAMPLE_INTERNATIONAL).is_empty());
    assert_eq!(world.duplicate_entries(), 0);
    // Pending: IN_PROGRESS however often it is polled.
    for _ in 0..3 {
        let status = upload_status(&server, &token, &upload_ids[0]).await;
        assert_eq!(status["status"], "IN_PROGRESS", "{status}");
        assert_eq!(status["successEntryCount"], 0);
    }

    assert_eq!(world.process_uploads(), 2);
    assert_eq!(world.process_uploads(), 0);
    let (_, body) = get_entries(&server, &token, SAMPLE_INTERNATIONAL, &[]).await;
    assert_eq!(
        identifiers(&body).len(),
        2 * contact.segments.len(),
        "both uploads applied, the second doubling the first"
    );
    assert_eq!(world.duplicate_entries(), contact.segments.len());
    // Processed: the status behaves as for an immediate upload, one IN_PROGRESS poll first.
    let status = upload_status(&server, &token, &upload_ids[0]).await;
    assert_eq!(status["status"], "IN_PROGRESS", "{status}");
    let status = upload_status(&server, &token, &upload_ids[0]).await;
    assert_eq!(status["status"], "SUCCESS", "{status}");
    assert_eq!(status["successEntryCount"], contact.segments.len());
}

#[tokio::test]
async fn store_then_respond_stores_the_upload_and_answers_the_error() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    let international = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    let cjk = world.contact(SAMPLE_CJK).unwrap();
    world.inject(
        Service::Salesforce,
        Fault::store_then_salesforce_error(500, "UNKNOWN_EXCEPTION", "An unexpected error"),
    );
    let gateway_page = "<html><body><h1>504 Gateway Time-out</h1></body></html>";
    world.inject(
        Service::Salesforce,
        Fault::store_then_respond(504, gateway_page).for_contact(SAMPLE_CJK),
    );
    // A status poll on the upload path leaves both armed.
    let status = upload_status(&server, &token, "unknown").await;
    assert_eq!(status["status"], "FAILED", "{status}");

    let parts = || {
        vec![file(
            SAMPLE_INTERNATIONAL,
            ndjson(&lines_for(&international)),
        )]
    };
    let response = upload(&server, &token, parts()).await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "UNKNOWN_EXCEPTION", "{body}");
    let uploads = world.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].conversation_id, SAMPLE_INTERNATIONAL);
    assert_eq!(
        world.conversation_entries(SAMPLE_INTERNATIONAL).len(),
        international.segments.len()
    );

    // The 504 waits for an upload carrying SAMPLE_CJK.
    assert_eq!(upload(&server, &token, parts()).await.status(), 200);
    let response = upload(
        &server,
        &token,
        vec![file(SAMPLE_CJK, ndjson(&lines_for(&cjk)))],
    )
    .await;
    assert_eq!(response.status(), 504);
    assert_eq!(response.text().await.unwrap(), gateway_page);
    assert_eq!(world.uploads().len(), 3);
    assert_eq!(
        world.conversation_entries(SAMPLE_CJK).len(),
        cjk.segments.len()
    );
    assert_eq!(world.stats().salesforce.errors, 2);
}

#[tokio::test]
async fn store_then_close_stores_the_upload_and_answers_nothing() {
    let (world, server) = setup().await;
    let token = token(&server).await;
    let contact = world.contact(SAMPLE_INTERNATIONAL).unwrap();
    world.inject(Service::Salesforce, Fault::store_then_close().after(1));
    let client = reqwest::Client::new();
    let parts = || vec![file(SAMPLE_INTERNATIONAL, ndjson(&lines_for(&contact)))];

    let first = try_upload(&client, &server, &token, parts()).await.unwrap();
    assert_eq!(first.status(), 200);
    let error = try_upload(&client, &server, &token, parts())
        .await
        .expect_err("the connection closes unanswered");
    assert_eq!(error.status(), None, "{error:?}");
    assert!(error.is_request() && !error.is_timeout(), "{error:?}");
    // hyper's words for a connection that ends where the response should start.
    let causes = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source());
    assert!(
        causes
            .map(ToString::to_string)
            .any(|cause| cause.contains("connection closed before message completed")),
        "{error:?}"
    );
    // Stored all the same, once: the client did not resend it.
    assert_eq!(world.upload_requests(), 2);
    assert_eq!(world.uploads().len(), 2);
    assert_eq!(
        world.conversation_entries(SAMPLE_INTERNATIONAL).len(),
        2 * contact.segments.len()
    );

    // The server goes on, on a new connection of the same client.
    let third = try_upload(&client, &server, &token, parts()).await.unwrap();
    assert_eq!(third.status(), 200);
    assert_eq!(world.uploads().len(), 3);
    let (status, body) = get_entries(&server, &token, SAMPLE_INTERNATIONAL, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(identifiers(&body).len(), 3 * contact.segments.len());
}

/// When the conversation's entry of segment `i` was sent, as a query parameter.
fn entry_time(contact: &ContactSpec, i: usize) -> String {
    (contact.connected_to_agent_ms.unwrap() + contact.segments[i].begin_offset_millis).to_string()
}
