use aws_sdk_connect::Client;
use aws_sdk_connect::error::ProvideErrorMetadata;
use aws_sdk_connect::types::ContactInitiationMethod;
use emulators::{
    ContactSpec, Fault, SAMPLE_IN_PROGRESS, SAMPLE_INTERNATIONAL, SAMPLE_NO_AGENT, Service,
    sample_world, start_connect,
};

use crate::{INSTANCE_ID, sdk_config};

async fn client(url: &str) -> Client {
    Client::new(&sdk_config(url).await)
}

#[tokio::test]
async fn describe_contact_timestamps_round_trip_as_datetimes() {
    let world = sample_world(INSTANCE_ID);
    let server = start_connect(&world).await;
    let client = client(&server.url()).await;
    let spec = world.contact(SAMPLE_INTERNATIONAL).unwrap();

    let out = client
        .describe_contact()
        .instance_id(INSTANCE_ID)
        .contact_id(SAMPLE_INTERNATIONAL)
        .send()
        .await
        .unwrap();
    let contact = out.contact().unwrap();
    assert_eq!(contact.id(), Some(SAMPLE_INTERNATIONAL));
    // Epoch seconds with a fraction travel as a double: the SDK's DateTime may land a hair
    // below the millisecond (x.456 -> x.455999...), so allow 1 ms.
    let close = |got: &aws_sdk_connect::primitives::DateTime, want: i64| {
        let got = got.to_millis().unwrap();
        assert!((got - want).abs() <= 1, "{got} vs {want}");
    };
    close(contact.initiation_timestamp().unwrap(), spec.initiation_ms);
    close(
        contact.disconnect_timestamp().unwrap(),
        spec.disconnect_ms.unwrap(),
    );
    let agent = contact.agent_info().unwrap();
    close(
        agent.connected_to_agent_timestamp().unwrap(),
        spec.connected_to_agent_ms.unwrap(),
    );
    assert!(agent.id().is_some_and(|id| id.len() == 36));
    assert!(contact.arn().unwrap().ends_with(SAMPLE_INTERNATIONAL));
}

#[tokio::test]
async fn optional_parts_are_absent_when_the_contact_lacks_them() {
    let world = sample_world(INSTANCE_ID);
    let server = start_connect(&world).await;
    let client = client(&server.url()).await;

    let describe = |id: &'static str| {
        client
            .describe_contact()
            .instance_id(INSTANCE_ID)
            .contact_id(id)
            .send()
    };
    let no_agent = describe(SAMPLE_NO_AGENT).await.unwrap();
    assert!(no_agent.contact().unwrap().agent_info().is_none());
    assert!(no_agent.contact().unwrap().disconnect_timestamp().is_some());
    let in_progress = describe(SAMPLE_IN_PROGRESS).await.unwrap();
    assert!(
        in_progress
            .contact()
            .unwrap()
            .disconnect_timestamp()
            .is_none()
    );
    assert!(in_progress.contact().unwrap().agent_info().is_some());
}

#[tokio::test]
async fn unknown_contact_or_instance_is_resource_not_found() {
    let world = sample_world(INSTANCE_ID);
    let server = start_connect(&world).await;
    let client = client(&server.url()).await;

    for (instance, contact) in [
        (INSTANCE_ID, "00000000-0000-4000-8000-000000000000"),
        ("11111111-1111-4111-8111-111111111111", SAMPLE_INTERNATIONAL),
    ] {
        let err = client
            .describe_contact()
            .instance_id(instance)
            .contact_id(contact)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_resource_not_found_exception(), "{err:?}");
    }
}

#[tokio::test]
async fn injected_throttling_hits_only_the_chosen_contact_and_is_counted() {
    let world = sample_world(INSTANCE_ID);
    let server = start_connect(&world).await;
    let client = client(&server.url()).await;
    world.inject(
        Service::Connect,
        Fault::throttling().for_contact(SAMPLE_NO_AGENT),
    );

    let describe = |id: &'static str| {
        client
            .describe_contact()
            .instance_id(INSTANCE_ID)
            .contact_id(id)
            .send()
    };
    assert!(describe(SAMPLE_INTERNATIONAL).await.is_ok());
    let err = describe(SAMPLE_NO_AGENT)
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(err.code(), Some("ThrottlingException"));
    // Used up: the next call goes through.
    assert!(describe(SAMPLE_NO_AGENT).await.is_ok());

    let stats = world.stats().connect;
    assert_eq!((stats.requests, stats.throttled, stats.errors), (3, 1, 1));
}

#[tokio::test]
async fn legs_of_a_transferred_call_name_their_initial_and_previous_contacts() {
    let world = sample_world(INSTANCE_ID);
    let leg = |id: &str, call: &str| ContactSpec {
        contact_id: id.into(),
        voice_call_id: call.into(),
        initiation_ms: 1_000,
        ..ContactSpec::default()
    };
    world.add_transferred_call(vec![
        leg("leg-a", "0LQ0000000000LA"),
        leg("leg-b", "0LQ0000000000LB"),
        leg("leg-c", "0LQ0000000000LC"),
    ]);
    let server = start_connect(&world).await;
    let client = client(&server.url()).await;
    let describe = async |id: &str| {
        let out = client
            .describe_contact()
            .instance_id(INSTANCE_ID)
            .contact_id(id)
            .send()
            .await
            .unwrap();
        let contact = out.contact().unwrap();
        (
            contact.initial_contact_id().map(str::to_owned),
            contact.previous_contact_id().map(str::to_owned),
            contact.initiation_method().cloned(),
        )
    };

    let some = |id: &str| Some(id.to_owned());
    assert_eq!(
        describe("leg-a").await,
        (some("leg-a"), None, Some(ContactInitiationMethod::Inbound))
    );
    assert_eq!(
        describe("leg-c").await,
        (
            some("leg-a"),
            some("leg-b"),
            Some(ContactInitiationMethod::Transfer)
        )
    );
    // A contact related to no other names neither.
    assert_eq!(
        describe(SAMPLE_INTERNATIONAL).await,
        (None, None, Some(ContactInitiationMethod::Inbound))
    );
}
