//! Transferred and consulted calls: one Salesforce conversation per call, under its first
//! leg's contactId, closed when its last leg ends.

use emulators::{
    ContactSpec, Fault, LaterLegIdentifiers, Segment, Server, Service, World, sample_world,
    start_salesforce, test_public_key_pem,
};
use serde_json::{Value, json};

use crate::INSTANCE_ID;
use crate::salesforce::{CLIENT_ID, USERNAME, file, lines_for, ndjson, token, upload_results};

/// The calls start here (2026-11-01T10:00:00Z); each leg lasts a minute.
const T: i64 = 1_793_527_200_000;
const MINUTE: i64 = 60_000;

fn turn(id: &str, role: &str, begin: i64) -> Segment {
    Segment {
        id: id.into(),
        participant_id: role.into(),
        participant_role: role.into(),
        content: format!("turn {id}"),
        begin_offset_millis: begin,
        end_offset_millis: begin + 2_000,
        sentiment: "NEUTRAL".into(),
    }
}

/// Leg `n` (0-based) of a call: starts `n` minutes after `T`, two turns, still on the line.
fn leg(id: &str, voice_call_id: &str, n: i64) -> ContactSpec {
    let start = T + n * MINUTE;
    ContactSpec {
        contact_id: id.into(),
        voice_call_id: voice_call_id.into(),
        initiation_ms: start,
        connected_to_agent_ms: Some(start + 5_000),
        segments: vec![
            turn(&format!("{id}-1"), "CUSTOMER", 1_000),
            turn(&format!("{id}-2"), "AGENT", 10_000),
        ],
        ..ContactSpec::default()
    }
}

fn end(world: &World, id: &str, n: i64) {
    assert!(world.end_contact(id, T + (n + 1) * MINUTE));
}

/// A leg's transcript filed under `conversation`.
fn part(world: &World, leg: &str, conversation: &str) -> (String, reqwest::multipart::Part) {
    let mut lines = lines_for(&world.contact(leg).unwrap());
    for line in &mut lines {
        line["payload"]["conversationId"] = json!(conversation);
    }
    file(conversation, ndjson(&lines))
}

async fn setup() -> (World, Server, String) {
    let world = sample_world(INSTANCE_ID);
    world.salesforce_jwt_client(CLIENT_ID, USERNAME, test_public_key_pem());
    let server = start_salesforce(&world).await;
    let token = token(&server).await;
    (world, server, token)
}

/// (status, errorDetail) of a one-part upload.
async fn upload_one(
    server: &Server,
    token: &str,
    part: (String, reqwest::multipart::Part),
) -> (String, String) {
    let results = upload_results(server, token, vec![part]).await;
    let result = &results[0];
    (
        result["status"].as_str().unwrap().to_owned(),
        result["errorDetail"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn entries(server: &Server, token: &str, conversation: &str) -> (u16, Vec<String>) {
    let response = reqwest::Client::new()
        .get(format!(
            "{}/services/data/v62.0/connect/conversation/{conversation}/entries",
            server.url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let ids = body["conversationEntries"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| e["identifier"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (status, ids)
}

#[tokio::test]
async fn a_cold_transfer_is_uploaded_under_the_first_leg_once_both_legs_ended() {
    let (world, server, token) = setup().await;
    world.add_transferred_call(vec![
        leg("a", "0LQ0000000000TA", 0),
        leg("b", "0LQ0000000000TB", 1),
    ]);
    end(&world, "a", 0);

    let (status, detail) = upload_one(&server, &token, part(&world, "b", "a")).await;
    assert_eq!(
        (status.as_str(), detail.as_str()),
        ("FAILED", "conversation a is not closed")
    );
    // Under the safe default a later leg's own id names no conversation.
    let (status, detail) = upload_one(&server, &token, part(&world, "b", "b")).await;
    assert_eq!(
        (status.as_str(), detail.as_str()),
        ("FAILED", "conversation b does not exist")
    );
    assert!(world.uploads().is_empty());

    end(&world, "b", 1);
    for leg in ["a", "b"] {
        let (status, detail) = upload_one(&server, &token, part(&world, leg, "a")).await;
        assert_eq!(status, "SUCCESS", "{leg}: {detail}");
    }
    assert_eq!(
        entries(&server, &token, "a").await,
        (
            200,
            vec!["a-1".into(), "a-2".into(), "b-1".into(), "b-2".into()]
        )
    );
    assert_eq!(entries(&server, &token, "b").await.0, 404);
    assert!(world.conversation_entries("b").is_empty());
}

#[tokio::test]
async fn a_two_step_transfer_closes_with_its_third_leg() {
    let (world, server, token) = setup().await;
    world.add_transferred_call(vec![
        leg("a", "0LQ0000000000TA", 0),
        leg("b", "0LQ0000000000TB", 1),
        leg("c", "0LQ0000000000TC", 2),
    ]);
    end(&world, "a", 0);
    end(&world, "b", 1);
    let (status, _) = upload_one(&server, &token, part(&world, "a", "a")).await;
    assert_eq!(status, "FAILED", "c is still on the line");

    end(&world, "c", 2);
    let (status, detail) = upload_one(&server, &token, part(&world, "c", "a")).await;
    assert_eq!(status, "SUCCESS", "{detail}");
    assert_eq!(entries(&server, &token, "a").await.1, ["c-1", "c-2"]);
}

#[tokio::test]
async fn a_consult_that_never_joined_is_its_own_conversation() {
    let (world, server, token) = setup().await;
    let consult = ContactSpec {
        joined_call: false,
        ..leg("k", "0LQ0000000000TK", 1)
    };
    world.add_transferred_call(vec![leg("a", "0LQ0000000000TA", 0), consult]);
    end(&world, "k", 1);

    // The consult's conversation is closed although the call goes on.
    let (status, detail) = upload_one(&server, &token, part(&world, "k", "k")).await;
    assert_eq!(status, "SUCCESS", "{detail}");
    assert_eq!(
        entries(&server, &token, "k").await,
        (200, vec!["k-1".into(), "k-2".into()])
    );
    assert_eq!(entries(&server, &token, "a").await, (200, Vec::new()));
    let (status, detail) = upload_one(&server, &token, part(&world, "a", "a")).await;
    assert_eq!(
        (status.as_str(), detail.as_str()),
        ("FAILED", "conversation a is not closed")
    );
}

#[tokio::test]
async fn later_leg_ids_can_be_made_to_name_the_call() {
    let (world, server, token) = setup().await;
    world.add_transferred_call(vec![
        leg("a", "0LQ0000000000TA", 0),
        leg("b", "0LQ0000000000TB", 1),
    ]);
    end(&world, "a", 0);
    world.set_later_leg_identifiers(LaterLegIdentifiers::CallConversation);

    let (status, detail) = upload_one(&server, &token, part(&world, "b", "b")).await;
    assert_eq!(
        (status.as_str(), detail.as_str()),
        ("FAILED", "conversation b is not closed")
    );
    end(&world, "b", 1);
    let (status, detail) = upload_one(&server, &token, part(&world, "b", "b")).await;
    assert_eq!(status, "SUCCESS", "{detail}");
    let uploads = world.uploads();
    assert_eq!(
        (
            uploads[0].conversation_id.as_str(),
            uploads[0].held_in.as_str()
        ),
        ("b", "a")
    );
    // Both ids read the one conversation.
    let both = (200, vec!["b-1".to_owned(), "b-2".to_owned()]);
    assert_eq!(entries(&server, &token, "a").await, both);
    assert_eq!(entries(&server, &token, "b").await, both);
}

#[tokio::test]
async fn the_query_reads_legs_and_their_conversation() {
    let (world, server, token) = setup().await;
    let ids = world.add_transferred_call(vec![
        leg("a", "0LQ0000000000TA", 0),
        leg("b", "0LQ0000000000TB", 1),
    ]);
    let keyless = world.add_voice_call("0LQ0000000000NK", None, T, None);
    end(&world, "a", 0);
    let soql = "SELECT Id, PreviousCallId, NextCallId, CallType, ConversationId, \
        Conversation.ConversationIdentifier, Conversation.EndTime FROM VoiceCall \
        WHERE VendorCallKey IN ('a', 'b')";
    let read = async || {
        let response = reqwest::Client::new()
            .get(format!("{}/services/data/v62.0/query", server.url()))
            .query(&[("q", soql)])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        page["records"].as_array().unwrap().clone()
    };

    let records = read().await;
    let (a, b) = (&records[0], &records[1]);
    assert_eq!(a["CallType"], "Inbound");
    assert_eq!(a["PreviousCallId"], Value::Null);
    assert_eq!(a["NextCallId"], ids[1].as_str());
    assert_eq!(b["CallType"], "Transfer");
    assert_eq!(b["PreviousCallId"], ids[0].as_str());
    assert_eq!(a["ConversationId"], b["ConversationId"]);
    let conversation_id = a["ConversationId"].as_str().unwrap();
    assert_eq!(
        b["Conversation"],
        json!({
            "attributes": {
                "type": "Conversation",
                "url": format!("/services/data/v62.0/sobjects/Conversation/{conversation_id}"),
            },
            "ConversationIdentifier": "a",
            "EndTime": null,
        })
    );

    end(&world, "b", 1);
    let records = read().await;
    assert_eq!(
        records[0]["Conversation"]["EndTime"],
        "2026-11-01T10:02:00.000+0000"
    );

    // A VoiceCall without a VendorCallKey has no conversation here.
    let response = reqwest::Client::new()
        .get(format!("{}/services/data/v62.0/query", server.url()))
        .query(&[(
            "q",
            "SELECT Id, Conversation.EndTime FROM VoiceCall WHERE VendorCallKey = null",
        )])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    let without_key = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Id"] == keyless.as_str())
        .unwrap();
    assert_eq!(without_key["Conversation"], Value::Null);
}

/// The records of a one-page query result.
async fn query(server: &Server, token: &str, soql: &str) -> Vec<Value> {
    let response = reqwest::Client::new()
        .get(format!("{}/services/data/v62.0/query", server.url()))
        .query(&[("q", soql)])
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{soql}");
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["done"], true);
    page["records"].as_array().unwrap().clone()
}

/// (Id, VendorCallKey) of each record.
fn id_and_key(records: &[Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            (
                r["Id"].as_str().unwrap().to_owned(),
                r["VendorCallKey"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_query_finds_a_calls_legs_by_its_conversation_id() {
    let (world, server, token) = setup().await;
    let ids = world.add_transferred_call(vec![
        leg("a", "0LQ0000000000TA", 0),
        leg("b", "0LQ0000000000TB", 1),
    ]);
    let single = world.add_voice_call("0LQ0000000000SG", Some("s"), T, None);
    let consult = ContactSpec {
        joined_call: false,
        ..leg("k", "0LQ0000000000TK", 1)
    };
    let consulted = world.add_transferred_call(vec![leg("c", "0LQ0000000000TC", 0), consult]);
    // Faults aimed at a contact match the VendorCallKeys a query names: none here.
    world.inject(
        Service::Salesforce,
        Fault::http(500, "{}").for_contact("a").always(),
    );

    let conversation_of = async |key: &str| {
        let soql = format!("SELECT ConversationId FROM VoiceCall WHERE VendorCallKey = '{key}'");
        let records = query(&server, &token, &soql).await;
        records[0]["ConversationId"].as_str().unwrap().to_owned()
    };
    let conversation = conversation_of("b").await;
    assert!(conversation.starts_with("0dw"), "{conversation}");
    assert_eq!(conversation.len(), 18);
    assert_ne!(conversation_of("s").await, conversation);

    let legs = |id: &str| {
        format!("SELECT Id, VendorCallKey FROM VoiceCall WHERE ConversationId IN ('{id}')")
    };
    let both = vec![
        (ids[0].clone(), "a".to_owned()),
        (ids[1].clone(), "b".to_owned()),
    ];
    assert_eq!(
        id_and_key(&query(&server, &token, &legs(&conversation)).await),
        both
    );
    assert_eq!(
        id_and_key(&query(&server, &token, &legs(&conversation[..15])).await),
        both
    );
    let equal =
        format!("SELECT Id, VendorCallKey FROM VoiceCall WHERE ConversationId = '{conversation}'");
    assert_eq!(id_and_key(&query(&server, &token, &equal).await), both);
    assert!(!both.iter().any(|(id, _)| *id == single));
    // The fault is armed: a query naming leg a's key meets it.
    let response = reqwest::Client::new()
        .get(format!("{}/services/data/v62.0/query", server.url()))
        .query(&[("q", "SELECT Id FROM VoiceCall WHERE VendorCallKey = 'a'")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);

    // A consult that never joined is in a conversation of its own, not among its call's legs.
    let call = conversation_of("c").await;
    assert_eq!(
        id_and_key(&query(&server, &token, &legs(&call)).await),
        [(consulted[0].clone(), "c".to_owned())]
    );
    let own = conversation_of("k").await;
    assert_ne!(own, call);
    assert_eq!(
        id_and_key(&query(&server, &token, &legs(&own)).await),
        [(consulted[1].clone(), "k".to_owned())]
    );
}
