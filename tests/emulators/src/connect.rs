//! Amazon Connect DescribeContact (restJson1): `GET /contacts/{InstanceId}/{ContactId}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};

use crate::aws::{self, ACCOUNT_ID, Protocol, REGION};
use crate::fault::{self, IdMatch, Injected, RequestInfo};
use crate::server::{self, Server};
use crate::world::{ContactSpec, Service, World, splitmix64};

/// Starts the Connect emulator on a free port.
pub async fn start_connect(world: &World) -> Server {
    start_on(world, 0).await
}

pub(crate) async fn start_on(world: &World, port: u16) -> Server {
    let (listener, _) = server::bind(port).await;
    let router = Router::new()
        .route(
            "/contacts/{instance_id}/{contact_id}",
            get(describe_contact),
        )
        .fallback(unknown_operation)
        .with_state(world.clone());
    server::serve(listener, world, Service::Connect, router)
}

async fn unknown_operation() -> Response {
    aws::error(
        Protocol::RestJson,
        404,
        "UnknownOperationException",
        "The Connect emulator only implements DescribeContact",
    )
}

async fn describe_contact(
    State(world): State<World>,
    Path((instance_id, contact_id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = aws::reject_unsigned(&headers, "connect", Protocol::RestJson) {
        return denied;
    }
    let request = RequestInfo {
        path: uri.path(),
        contact_ids: vec![&contact_id],
        id_match: IdMatch::Equal,
        upload: false,
    };
    if let Injected::Respond(response) = fault::check(&world, Service::Connect, request).await {
        return response;
    }
    let contact = {
        let state = world.lock();
        (state.instance_id == instance_id)
            .then(|| state.contacts.get(&contact_id).cloned())
            .flatten()
            .map(|contact| {
                let has_later_legs = state.has_later_legs(&contact_id);
                (contact, has_later_legs)
            })
    };
    match contact {
        Some((contact, has_later_legs)) => aws::ok(
            Protocol::RestJson,
            &json!({ "Contact": describe(&instance_id, &contact, has_later_legs) }),
        ),
        None => aws::error(
            Protocol::RestJson,
            404,
            "ResourceNotFoundException",
            &format!("Contact {contact_id} not found in instance {instance_id}"),
        ),
    }
}

/// restJson1 timestamps default to epoch seconds, with the milliseconds as the fraction.
fn epoch_seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// The API reference: `InitialContactId` is there "if this contact is related to other
/// contacts" (so the first leg of a transferred call names itself and a single-leg contact has
/// none), `PreviousContactId` "if this contact is not the first contact".
fn describe(instance_id: &str, contact: &ContactSpec, has_later_legs: bool) -> Value {
    let id = &contact.contact_id;
    let mut described = Map::new();
    described.insert(
        "Arn".into(),
        json!(format!(
            "arn:aws:connect:{REGION}:{ACCOUNT_ID}:instance/{instance_id}/contact/{id}"
        )),
    );
    described.insert("Id".into(), json!(id));
    let initial_contact_id = contact
        .initial_contact_id
        .as_deref()
        .or(has_later_legs.then_some(id.as_str()));
    if let Some(initial_contact_id) = initial_contact_id {
        described.insert("InitialContactId".into(), json!(initial_contact_id));
    }
    if let Some(previous_contact_id) = &contact.previous_contact_id {
        described.insert("PreviousContactId".into(), json!(previous_contact_id));
    }
    described.insert("Channel".into(), json!("VOICE"));
    described.insert(
        "InitiationMethod".into(),
        json!(contact.initiation_method.as_str()),
    );
    described.insert(
        "InitiationTimestamp".into(),
        epoch_seconds(contact.initiation_ms),
    );
    if let Some(disconnect_ms) = contact.disconnect_ms {
        described.insert("DisconnectTimestamp".into(), epoch_seconds(disconnect_ms));
    }
    if let Some(connected_ms) = contact.connected_to_agent_ms {
        described.insert(
            "AgentInfo".into(),
            json!({
                "Id": agent_id(id),
                "ConnectedToAgentTimestamp": epoch_seconds(connected_ms),
            }),
        );
    }
    let last_update = contact
        .disconnect_ms
        .or(contact.connected_to_agent_ms)
        .unwrap_or(contact.initiation_ms);
    described.insert("LastUpdateTimestamp".into(), epoch_seconds(last_update));
    Value::Object(described)
}

/// A stable, UUID-shaped agent id derived from the contact id.
fn agent_id(contact_id: &str) -> String {
    let hash = contact_id
        .bytes()
        .fold(0u64, |h, b| splitmix64(h ^ u64::from(b)));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        hash >> 32,
        (hash >> 16) & 0xffff,
        hash & 0xfff,
        (hash >> 20) & 0xfff,
        splitmix64(hash) & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::InitiationMethod;

    fn leg(id: &str) -> ContactSpec {
        ContactSpec {
            contact_id: id.into(),
            ..ContactSpec::default()
        }
    }

    #[test]
    fn only_related_contacts_name_their_initial_contact() {
        let single = describe("i", &leg("a"), false);
        assert!(single.get("InitialContactId").is_none());
        assert!(single.get("PreviousContactId").is_none());
        assert_eq!(single["InitiationMethod"], "INBOUND");

        let first = describe("i", &leg("a"), true);
        assert_eq!(first["InitialContactId"], "a");
        assert!(first.get("PreviousContactId").is_none());

        let later = ContactSpec {
            initial_contact_id: Some("a".into()),
            previous_contact_id: Some("b".into()),
            initiation_method: InitiationMethod::Transfer,
            ..leg("c")
        };
        let later = describe("i", &later, false);
        assert_eq!(later["InitialContactId"], "a");
        assert_eq!(later["PreviousContactId"], "b");
        assert_eq!(later["InitiationMethod"], "TRANSFER");
    }
}
