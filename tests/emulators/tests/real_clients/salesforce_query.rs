use std::collections::{HashMap, HashSet};

use emulators::{
    Fault, SAMPLE_CJK, SAMPLE_INTERNATIONAL, SAMPLE_NO_AGENT, SAMPLE_VOICE_CALLS_WITHOUT_KEY,
    Server, Service, World, fill_voice_calls, sample_world, start_salesforce, test_public_key_pem,
};
use serde_json::{Value, json};

use crate::INSTANCE_ID;
use crate::salesforce::{CLIENT_ID, USERNAME, token};

const QUERY: &str = "/services/data/v62.0/query";
const MINUTE_MS: i64 = 60_000;
/// 2026-11-01T00:00:00Z, and a week later.
const WEEK_START: i64 = 1_793_491_200_000;
const WEEK_END: i64 = WEEK_START + 7 * 24 * 60 * MINUTE_MS;
/// The function's query for the VoiceCalls of a week.
const WEEK_QUERY: &str = "SELECT Id, VendorCallKey FROM VoiceCall WHERE CallStartDateTime >= \
    2026-11-01T00:00:00Z AND CallStartDateTime < 2026-11-08T00:00:00Z AND VendorCallKey != null \
    ORDER BY CallStartDateTime, Id";

/// A Salesforce server on `world` and a token for it.
async fn start(world: &World) -> (Server, String) {
    world.salesforce_jwt_client(CLIENT_ID, USERNAME, test_public_key_pem());
    let server = start_salesforce(world).await;
    let token = token(&server).await;
    (server, token)
}

/// GETs `path` (a `nextRecordsUrl`, or the query resource with `q`); the status and the body
/// as sent.
async fn get_text(server: &Server, token: &str, path: &str, soql: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token);
    if let Some(soql) = soql {
        request = request.query(&[("q", soql)]);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let (status, body) = get_text(server, token, path, None).await;
    (status, serde_json::from_str(&body).unwrap())
}

async fn query(server: &Server, token: &str, soql: &str) -> (u16, Value) {
    let (status, body) = get_text(server, token, QUERY, Some(soql)).await;
    (status, serde_json::from_str(&body).unwrap())
}

fn records(page: &Value) -> &Vec<Value> {
    page["records"].as_array().unwrap()
}

fn keys(record: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = record
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn a_lookup_by_contact_returns_just_their_voice_calls() {
    let world = sample_world(INSTANCE_ID);
    let (server, token) = start(&world).await;
    let soql = format!(
        "SELECT Id, VendorCallKey FROM VoiceCall WHERE VendorCallKey IN ('{SAMPLE_NO_AGENT}', \
         '{SAMPLE_INTERNATIONAL}', '00000000-0000-4000-8000-000000000000')"
    );
    let (status, page) = query(&server, &token, &soql).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalSize"], 2);
    assert_eq!(page["done"], true);
    assert!(page.get("nextRecordsUrl").is_none());
    // Insertion order: the international call's VoiceCall was added first.
    let found = records(&page);
    assert_eq!(found.len(), 2);
    for (record, contact_id) in found.iter().zip([SAMPLE_INTERNATIONAL, SAMPLE_NO_AGENT]) {
        let contact = world.contact(contact_id).unwrap();
        let id = record["Id"].as_str().unwrap();
        assert_eq!(id.len(), 18);
        assert_eq!(id[..15], contact.voice_call_id);
        assert_eq!(keys(record), ["Id", "VendorCallKey", "attributes"]);
        assert_eq!(record["VendorCallKey"], contact_id);
        assert_eq!(
            record["attributes"],
            json!({"type": "VoiceCall", "url": format!("/services/data/v62.0/sobjects/VoiceCall/{id}")})
        );
    }
    assert_eq!(found[0]["Id"], "0LQ1Q000002TZtnWAG");

    // Fields come in SELECT order, after the attributes; `/query/` is the same resource.
    let soql = format!(
        "SELECT VendorCallKey, CallEndDateTime, Id FROM VoiceCall WHERE VendorCallKey = \
         '{SAMPLE_CJK}'"
    );
    let (status, text) = get_text(&server, &token, &format!("{QUERY}/"), Some(&soql)).await;
    assert_eq!(status, 200, "{text}");
    let at = |member: &str| text.find(&format!("\"{member}\":")).unwrap();
    assert!(at("attributes") < at("VendorCallKey"), "{text}");
    assert!(at("VendorCallKey") < at("CallEndDateTime"), "{text}");
    assert!(at("CallEndDateTime") < at("Id"), "{text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    let ended = page["records"][0]["CallEndDateTime"].as_str().unwrap();
    assert!(ended.ends_with("+0000") && ended.len() == 28, "{ended}");

    // The sample VoiceCalls without a VendorCallKey are what `!= null` leaves out.
    let ids = |page: &Value| -> Vec<String> {
        records(page)
            .iter()
            .map(|r| r["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, keyed) = query(
        &server,
        &token,
        "SELECT Id FROM VoiceCall WHERE VendorCallKey != null",
    )
    .await;
    let (_, unkeyed) = query(
        &server,
        &token,
        "SELECT Id FROM VoiceCall WHERE VendorCallKey = null",
    )
    .await;
    let with_key = world
        .voice_calls()
        .iter()
        .filter(|c| c.vendor_call_key.is_some())
        .count();
    assert_eq!(keyed["totalSize"], with_key);
    assert!(with_key >= 9, "every sample contact has its VoiceCall");
    assert_eq!(ids(&unkeyed), SAMPLE_VOICE_CALLS_WITHOUT_KEY);
    assert_eq!(world.stats().query_requests, 4);
}

#[tokio::test]
async fn a_week_of_5000_voice_calls_comes_in_three_pages_in_order() {
    let world = World::new(INSTANCE_ID);
    // Just outside the window (its end is exclusive), and one inside without a VendorCallKey.
    world.add_voice_call(
        "0LQ1Q00000OUT01",
        Some("c0ffee00-0000-4000-8000-000000000001"),
        WEEK_START - 1,
        Some(WEEK_START + 5 * MINUTE_MS),
    );
    world.add_voice_call(
        "0LQ1Q00000OUT02",
        Some("c0ffee00-0000-4000-8000-000000000002"),
        WEEK_END,
        None,
    );
    world.add_voice_call("0LQ1Q00000NUL01", None, WEEK_START + 10 * MINUTE_MS, None);
    // Added out of time order, and tied pairwise from the first hour on: Id breaks the ties.
    let later = fill_voice_calls(&world, WEEK_START + 60 * MINUTE_MS, 2500, 2 * MINUTE_MS);
    let earlier = fill_voice_calls(&world, WEEK_START, 2500, 2 * MINUTE_MS);
    let mut expected: Vec<(i64, String)> = later
        .iter()
        .zip(0..)
        .map(|((id, _), i)| (WEEK_START + 60 * MINUTE_MS + i * 2 * MINUTE_MS, id.clone()))
        .chain(
            earlier
                .iter()
                .zip(0..)
                .map(|((id, _), i)| (WEEK_START + i * 2 * MINUTE_MS, id.clone())),
        )
        .collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    let vendor_keys: HashMap<String, String> = later.into_iter().chain(earlier).collect();
    let (server, token) = start(&world).await;

    let (status, first) = query(&server, &token, WEEK_QUERY).await;
    assert_eq!(status, 200, "{first}");
    // A VoiceCall added while paging would come first in a new query, but not in this one.
    world.add_voice_call(
        "0LQ1Q00000NEW01",
        Some("c0ffee00-0000-4000-8000-000000000003"),
        WEEK_START,
        None,
    );
    let mut pages = vec![first];
    while let Some(next) = pages.last().unwrap().get("nextRecordsUrl").cloned() {
        let next = next.as_str().unwrap();
        assert!(next.starts_with("/services/data/v62.0/query/01g"), "{next}");
        let (status, page) = get(&server, &token, next).await;
        assert_eq!(status, 200, "{page}");
        pages.push(page);
    }
    let sizes: Vec<usize> = pages.iter().map(|p| records(p).len()).collect();
    assert_eq!(sizes, [2000, 2000, 1000]);
    let done: Vec<&Value> = pages.iter().map(|p| &p["done"]).collect();
    assert_eq!(done, [false, false, true]);
    for page in &pages {
        assert_eq!(page["totalSize"], 5000);
    }
    let got: Vec<String> = pages
        .iter()
        .flat_map(records)
        .map(|record| {
            assert_eq!(keys(record), ["Id", "VendorCallKey", "attributes"]);
            let id = record["Id"].as_str().unwrap().to_owned();
            assert_eq!(record["VendorCallKey"], vendor_keys[&id].as_str());
            id
        })
        .collect();
    assert_eq!(got.len(), 5000);
    assert_eq!(got, expected);
    assert_eq!(world.stats().query_requests, 3);

    // A new query sees the new VoiceCall; the earliest start is the one a millisecond early.
    let (_, again) = query(&server, &token, WEEK_QUERY).await;
    assert_eq!(again["totalSize"], 5001);
    assert_eq!(again["records"][0]["Id"], "0LQ1Q00000NEW01WAH");
    let (status, earliest) = query(
        &server,
        &token,
        "SELECT Id, CallStartDateTime, CallEndDateTime FROM VoiceCall ORDER BY \
         CallStartDateTime LIMIT 1",
    )
    .await;
    assert_eq!(status, 200, "{earliest}");
    assert_eq!(
        earliest["records"][0],
        json!({
            "attributes": {
                "type": "VoiceCall",
                "url": "/services/data/v62.0/sobjects/VoiceCall/0LQ1Q00000OUT01WAH",
            },
            "Id": "0LQ1Q00000OUT01WAH",
            "CallStartDateTime": "2026-10-31T23:59:59.999+0000",
            "CallEndDateTime": "2026-11-01T00:05:00.000+0000",
        })
    );
}

#[tokio::test]
async fn quoted_literals_with_escapes_round_trip() {
    let world = World::new(INSTANCE_ID);
    world.add_voice_call("0LQ1Q00000ESC01", Some("O'Brien"), WEEK_START, None);
    world.add_voice_call("0LQ1Q00000ESC02", Some(r"back\slash"), WEEK_START, None);
    world.add_voice_call("0LQ1Q00000ESC03", Some("plain"), WEEK_START, None);
    let (server, token) = start(&world).await;
    let vendor_keys = |page: &Value| -> Vec<String> {
        records(page)
            .iter()
            .map(|r| r["VendorCallKey"].as_str().unwrap().to_owned())
            .collect()
    };

    let (status, page) = query(
        &server,
        &token,
        r"SELECT VendorCallKey FROM VoiceCall WHERE VendorCallKey = 'O\'Brien'",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(vendor_keys(&page), ["O'Brien"]);
    let (status, page) = query(
        &server,
        &token,
        r"SELECT VendorCallKey FROM VoiceCall WHERE VendorCallKey IN ('back\\slash', 'O\'Brien')",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(vendor_keys(&page), ["O'Brien", r"back\slash"]);
}

#[tokio::test]
async fn refused_queries_get_salesforce_errors() {
    let world = sample_world(INSTANCE_ID);
    let (server, token) = start(&world).await;

    let (status, body) = query(&server, &token, "SELECT Id, Foo FROM VoiceCall").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!([{
            "message": "\nSELECT Id, Foo FROM VoiceCall\n           ^\nERROR at Row:1:Column:12\n\
                        No such column 'Foo' on entity 'VoiceCall'. If you are attempting to use \
                        a custom field, be sure to append the '__c' after the custom field name. \
                        Please reference your WSDL or the describe call for the appropriate names.",
            "errorCode": "INVALID_FIELD",
        }])
    );

    let refused = [
        (
            "hello world",
            "MALFORMED_QUERY",
            "unexpected token: 'hello'",
        ),
        (
            "SELECT Id FROM VoiceCall WHERE VendorCallKey = 'x' OR Id = 'y'",
            "MALFORMED_QUERY",
            "unexpected token: 'OR'",
        ),
        (
            r"SELECT Id FROM VoiceCall WHERE VendorCallKey = 'a\qb'",
            "MALFORMED_QUERY",
            r"Invalid string literal 'a\qb'. Illegal character sequence '\q' in string literal.",
        ),
        (
            "SELECT Id FROM VoiceCall WHERE CallStartDateTime >= '2026-11-01T00:00:00Z'",
            "MALFORMED_QUERY",
            "value of filter criterion for field 'CallStartDateTime' must be of type dateTime \
             and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account",
            "INVALID_TYPE",
            "sObject type 'Account' is not supported. If you are attempting to use a custom \
             object, be sure to append the '__c' after the entity name. Please reference your \
             WSDL or the describe call for the appropriate names.",
        ),
    ];
    for (soql, code, message) in refused {
        let (status, body) = query(&server, &token, soql).await;
        assert_eq!(
            (status, &body[0]["errorCode"]),
            (400, &json!(code)),
            "{soql}"
        );
        let text = body[0]["message"].as_str().unwrap();
        assert!(text.starts_with('\n') && text.contains("\nERROR at Row:1:Column:"));
        assert!(text.ends_with(&format!("\n{message}")), "{soql}: {text:?}");
    }

    let (status, text) = get_text(&server, &token, QUERY, None).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!([{"message": "A query string has to be specified", "errorCode": "MALFORMED_QUERY"}])
    );
    assert_eq!(world.stats().query_requests, 7);
}

#[tokio::test]
async fn bad_tokens_and_unknown_locators_are_refused() {
    let world = World::new(INSTANCE_ID);
    fill_voice_calls(&world, WEEK_START, 2001, MINUTE_MS);
    let (server, token) = start(&world).await;
    let (status, page) = query(&server, &token, "SELECT Id FROM VoiceCall").await;
    assert_eq!((status, &page["done"]), (200, &json!(false)));
    let next = page["nextRecordsUrl"].as_str().unwrap().to_owned();
    assert!(next.ends_with("-2000"), "{next}");

    let expired =
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
    let (status, text) = get_text(
        &server,
        "not-a-token",
        QUERY,
        Some("SELECT Id FROM VoiceCall"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expired);
    assert_eq!(get(&server, "not-a-token", &next).await, (401, expired));
    assert_eq!(world.query_requests(), 1, "401s never reach the resource");

    let invalid =
        json!([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]);
    let locator = next.rsplit_once('/').unwrap().1.split_once('-').unwrap().0;
    for bad in [
        format!("{QUERY}/01gAAAAAAAAAAAAAAA-2000"),
        format!("{QUERY}/{locator}-2001"),
        format!("{QUERY}/{locator}-x"),
        format!("{QUERY}/{locator}"),
        format!("{QUERY}/garbage"),
    ] {
        assert_eq!(
            get(&server, &token, &bad).await,
            (400, invalid.clone()),
            "{bad}"
        );
    }
    // Offsets are positions in the result: any page of it may be read again.
    let (status, last) = get(&server, &token, &format!("{QUERY}/{locator}-1999")).await;
    assert_eq!(
        (status, records(&last).len(), &last["done"]),
        (200, 2, &json!(true))
    );
    let (status, last) = get(&server, &token, &next).await;
    assert_eq!((status, records(&last).len()), (200, 1));

    // The query resource is served from API version 51.0 on, like every REST resource here.
    let (status, _) = get_text(
        &server,
        &token,
        "/services/data/v50.0/query",
        Some("SELECT Id FROM VoiceCall"),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn query_faults_are_served() {
    let world = World::new(INSTANCE_ID);
    let keys: HashSet<String> = fill_voice_calls(&world, WEEK_START, 2001, MINUTE_MS)
        .into_iter()
        .map(|(_, key)| key)
        .collect();
    let (server, token) = start(&world).await;
    world.inject(
        Service::Salesforce,
        Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "Try later")
            .on_path("/query")
            .retry_after(2),
    );
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}{QUERY}", server.url()))
        .query(&[("q", "SELECT Id FROM VoiceCall")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "SERVER_UNAVAILABLE");

    // A fault on the next pages only, then one aimed at a contact the query names.
    world.inject(
        Service::Salesforce,
        Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "Try later").on_path("/query/"),
    );
    let (status, page) = query(&server, &token, "SELECT Id FROM VoiceCall").await;
    assert_eq!(status, 200, "{page}");
    let next = page["nextRecordsUrl"].as_str().unwrap();
    assert_eq!(get(&server, &token, next).await.0, 503);
    assert_eq!(get(&server, &token, next).await.0, 200);

    let key = keys.iter().next().unwrap();
    world.inject(
        Service::Salesforce,
        Fault::salesforce_error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .for_contact(key),
    );
    let other = "SELECT Id FROM VoiceCall WHERE VendorCallKey = 'someone-else'";
    assert_eq!(query(&server, &token, other).await.0, 200);
    let named = format!("SELECT Id FROM VoiceCall WHERE VendorCallKey IN ('x', '{key}')");
    let (status, body) = query(&server, &token, &named).await;
    assert_eq!(
        (status, &body[0]["errorCode"]),
        (403, &json!("REQUEST_LIMIT_EXCEEDED"))
    );
    assert_eq!(query(&server, &token, &named).await.0, 200);
    assert_eq!(world.stats().query_requests, 7);
    assert_eq!(world.stats().salesforce.errors, 3);
    assert_eq!(world.upload_requests(), 0);
}

#[tokio::test]
async fn a_stuck_cursor_serves_its_page_and_names_it_again() {
    let world = World::new(INSTANCE_ID);
    fill_voice_calls(&world, WEEK_START, 5_000, MINUTE_MS);
    let (server, token) = start(&world).await;
    world.inject(
        Service::Salesforce,
        Fault::repeat_query_cursor().on_path("/query/"),
    );
    let (_, first) = query(&server, &token, WEEK_QUERY).await;
    let next = first["nextRecordsUrl"].as_str().unwrap().to_owned();

    let (status, stuck) = get(&server, &token, &next).await;

    assert_eq!(status, 200);
    assert_eq!(
        stuck["nextRecordsUrl"],
        next.as_str(),
        "the page names itself"
    );
    assert_eq!(stuck["done"], false);
    assert_eq!(records(&stuck).len(), 2000);
    assert_ne!(records(&stuck)[0], records(&first)[0]);
    // Used up: the same page now names the one after it.
    let (_, moved_on) = get(&server, &token, &next).await;
    assert_eq!(moved_on["records"], stuck["records"]);
    assert!(
        moved_on["nextRecordsUrl"]
            .as_str()
            .unwrap()
            .ends_with("-4000")
    );
}
