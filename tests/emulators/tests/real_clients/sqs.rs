use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::operation::send_message::builders::SendMessageFluentBuilder;
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::MessageAttributeValue;
use emulators::{Fault, MessageAttribute, Server, Service, World, start_sqs};

use crate::sdk_config;

const QUEUE: &str = "contact-data-sync-auto-repair";
const EVENT: &str = r#"{"source":"aws.connect","detail":{"contactId":"c-1","note":"é ✓"}}"#;

async fn setup() -> (World, Server, Client, String) {
    let world = World::new("instance");
    let server = start_sqs(&world).await;
    let url = world.create_queue(QUEUE);
    let client = Client::new(&sdk_config(&server.url()).await);
    (world, server, client, url)
}

fn send<'a>(client: &'a Client, url: &'a str) -> SendMessageFluentBuilder {
    client.send_message().queue_url(url).message_body(EVENT)
}

/// The error code of a send the emulator refuses.
async fn refusal(request: SendMessageFluentBuilder) -> String {
    let err = request.send().await.unwrap_err().into_service_error();
    err.code().unwrap_or_default().to_owned()
}

fn number(n: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(n)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_message_is_queued_with_its_delay_and_attributes() {
    let (world, server, client, url) = setup().await;
    assert_eq!(
        url,
        format!("{}/123456789012/{QUEUE}", server.url()),
        "on the emulator"
    );
    let out = send(&client, &url)
        .delay_seconds(480)
        .message_attributes("deferrals", number("4"))
        .send()
        .await
        .unwrap();

    let sent = world.sent_messages(&url);
    assert_eq!(sent.len(), 1);
    assert_eq!(out.message_id(), Some(sent[0].message_id.as_str()));
    assert_eq!(sent[0].body, EVENT);
    assert_eq!(sent[0].delay_seconds, 480);
    assert_eq!(
        sent[0].attributes["deferrals"],
        MessageAttribute {
            data_type: "Number".into(),
            string_value: Some("4".into()),
            binary_value: None,
        }
    );
    // `printf %s "$EVENT" | md5sum`
    assert_eq!(
        out.md5_of_message_body(),
        Some("4dd56af49cf5a060b0b91b231e7f7883")
    );
    assert!(
        out.md5_of_message_attributes()
            .is_some_and(|md5| md5.len() == 32)
    );
    assert_eq!(world.stats().sqs.requests, 1);
}

#[tokio::test]
async fn without_attributes_there_is_no_attributes_digest_and_no_delay() {
    let (world, _server, client, url) = setup().await;
    let out = send(&client, &url).send().await.unwrap();
    assert_eq!(out.md5_of_message_attributes(), None);
    let sent = world.sent_messages(&url);
    assert_eq!(sent[0].delay_seconds, 0);
    assert!(sent[0].attributes.is_empty());
}

#[tokio::test]
async fn binary_attributes_are_decoded() {
    let (world, _server, client, url) = setup().await;
    let blob = MessageAttributeValue::builder()
        .data_type("Binary.gzip")
        .binary_value(Blob::new(vec![0, 159, 255]))
        .build()
        .unwrap();
    send(&client, &url)
        .message_attributes("raw", blob)
        .send()
        .await
        .unwrap();
    let sent = world.sent_messages(&url);
    assert_eq!(
        sent[0].attributes["raw"].binary_value.as_deref(),
        Some(&[0, 159, 255][..])
    );
}

#[tokio::test]
async fn taking_the_messages_empties_the_queue() {
    let (world, _server, client, url) = setup().await;
    for _ in 0..2 {
        send(&client, &url).send().await.unwrap();
    }
    assert_eq!(world.take_sent_messages(&url).len(), 2);
    assert!(world.take_sent_messages(&url).is_empty());
    send(&client, &url).send().await.unwrap();
    assert_eq!(world.sent_messages(&url).len(), 1);
}

#[tokio::test]
async fn an_unknown_queue_is_the_sdks_queue_does_not_exist() {
    let (world, server, client, _url) = setup().await;
    let other = format!("{}/123456789012/no-such-queue", server.url());
    let err = send(&client, &other)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_queue_does_not_exist(), "{err:?}");
    assert_eq!(err.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    assert!(world.sent_messages(&other).is_empty());

    let err = send(&client, "not a url")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_address(), "{err:?}");
}

#[tokio::test]
async fn delays_bodies_and_attributes_are_checked() {
    let (world, _server, client, url) = setup().await;
    assert_eq!(
        refusal(send(&client, &url).delay_seconds(901)).await,
        "InvalidParameterValue"
    );
    assert_eq!(
        refusal(send(&client, &url).delay_seconds(-1)).await,
        "InvalidParameterValue"
    );
    send(&client, &url).delay_seconds(900).send().await.unwrap();

    let largest = "x".repeat(262_144);
    client
        .send_message()
        .queue_url(&url)
        .message_body(&largest)
        .send()
        .await
        .unwrap();
    let body = |text: String| client.send_message().queue_url(&url).message_body(text);
    assert_eq!(
        refusal(body(format!("{largest}x"))).await,
        "InvalidParameterValue"
    );
    assert_eq!(refusal(body(String::new())).await, "MissingParameter");
    assert_eq!(
        refusal(body("a\u{1}b".into())).await,
        "InvalidMessageContents"
    );

    let no_value = MessageAttributeValue::builder()
        .data_type("Number")
        .build()
        .unwrap();
    for (name, value) in [
        ("deferrals", number("three")),
        ("deferrals", no_value),
        ("AWS.reserved", number("1")),
        (
            "deferrals",
            MessageAttributeValue::builder()
                .data_type("Date")
                .string_value("1")
                .build()
                .unwrap(),
        ),
    ] {
        let refused = refusal(send(&client, &url).message_attributes(name, value)).await;
        assert_eq!(refused, "InvalidParameterValue", "{name}");
    }
    assert_eq!(world.sent_messages(&url).len(), 2, "only the valid ones");
}

#[tokio::test]
async fn requests_must_be_signed_for_sqs() {
    let (world, server, _client, url) = setup().await;
    let response = reqwest::Client::new()
        .post(server.url())
        .header("x-amz-target", "AmazonSQS.SendMessage")
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20261124/us-east-1/sns/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(serde_json::json!({"QueueUrl": url, "MessageBody": "x"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-query-error"],
        "IncompleteSignatureException;Sender"
    );
    assert!(world.sent_messages(&url).is_empty());
}

#[tokio::test]
async fn faults_aimed_at_a_contact_hit_the_messages_naming_it() {
    let (world, _server, client, url) = setup().await;
    world.inject(
        Service::Sqs,
        Fault::aws_error(500, "InternalError").for_contact("c-1"),
    );
    let other = client
        .send_message()
        .queue_url(&url)
        .message_body(EVENT.replace("c-1", "c-2"));
    other.send().await.unwrap();
    let err = send(&client, &url)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InternalError"));
    assert_eq!(
        world.sent_messages(&url).len(),
        1,
        "the other contact's only"
    );
    send(&client, &url).send().await.unwrap();
}
