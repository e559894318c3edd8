//! Contact Lens ListRealtimeContactAnalysisSegments (restJson1):
//! `POST /realtime-contact-analysis/analysis-segments`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::aws::{self, Protocol};
use crate::fault::{self, IdMatch, Injected, RequestInfo};
use crate::server::{self, Server};
use crate::world::{ContactSpec, Service, World};

/// Starts the Contact Lens emulator on a free port.
pub async fn start_contact_lens(world: &World) -> Server {
    start_on(world, 0).await
}

pub(crate) async fn start_on(world: &World, port: u16) -> Server {
    let (listener, _) = server::bind(port).await;
    let router = Router::new()
        .route(
            "/realtime-contact-analysis/analysis-segments",
            post(list_segments),
        )
        .fallback(unknown_operation)
        .with_state(world.clone());
    server::serve(listener, world, Service::ContactLens, router)
}

async fn unknown_operation() -> Response {
    aws::error(
        Protocol::RestJson,
        404,
        "UnknownOperationException",
        "The Contact Lens emulator only implements ListRealtimeContactAnalysisSegments",
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRequest {
    instance_id: String,
    contact_id: String,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// The model's default page size when MaxResults is left out.
const DEFAULT_MAX_RESULTS: i64 = 100;

fn invalid(message: &str) -> Response {
    aws::error(Protocol::RestJson, 400, "InvalidRequestException", message)
}

async fn list_segments(
    State(world): State<World>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Contact Lens signs with the signing name `connect`, not `connect-contact-lens`.
    if let Some(denied) = aws::reject_unsigned(&headers, "connect", Protocol::RestJson) {
        return denied;
    }
    let request: ListRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return invalid(&format!("Malformed request: {e}")),
    };
    let fault_request = RequestInfo {
        path: uri.path(),
        contact_ids: vec![&request.contact_id],
        id_match: IdMatch::Equal,
        upload: false,
    };
    if let Injected::Respond(response) =
        fault::check(&world, Service::ContactLens, fault_request).await
    {
        return response;
    }
    let max_results = request.max_results.unwrap_or(DEFAULT_MAX_RESULTS);
    if !(1..=100).contains(&max_results) {
        return invalid("MaxResults must be between 1 and 100");
    }
    let contact = {
        let mut state = world.lock();
        if let Some(bucket) = state.contact_lens_quota.as_mut()
            && !bucket.try_acquire()
        {
            return aws::error(
                Protocol::RestJson,
                429,
                "ThrottlingException",
                "Rate exceeded",
            );
        }
        (state.instance_id == request.instance_id)
            .then(|| state.contacts.get(&request.contact_id).cloned())
            .flatten()
            .filter(|contact| contact.realtime_available)
    };
    let Some(contact) = contact else {
        return aws::error(
            Protocol::RestJson,
            404,
            "ResourceNotFoundException",
            &format!(
                "No real-time analysis for contact {} in instance {}",
                request.contact_id, request.instance_id
            ),
        );
    };
    let segments = segments_of(&contact);
    let start = match request.next_token.as_deref() {
        None => 0,
        Some(token) => match decode_token(token, &contact.contact_id) {
            Some(offset) if offset <= segments.len() => offset,
            _ => return invalid("Invalid NextToken"),
        },
    };
    let page_size = usize::try_from(max_results).unwrap_or(usize::MAX);
    let end = segments.len().min(start + page_size);
    let mut response = Map::new();
    response.insert(
        "Segments".into(),
        Value::Array(segments[start..end].to_vec()),
    );
    // A token after the last segment means "more may come": the analysis is still running.
    if end < segments.len() || contact.analysis_running {
        response.insert(
            "NextToken".into(),
            json!(encode_token(&contact.contact_id, end)),
        );
    }
    aws::ok(Protocol::RestJson, &Value::Object(response))
}

/// All segments of a contact in wire shape, Categories interleaved among the transcript turns
/// (those placed beyond the last turn come at the end).
fn segments_of(contact: &ContactSpec) -> Vec<Value> {
    let turns = contact.segments.len();
    let mut segments = Vec::with_capacity(turns + contact.categories.len());
    for position in 0..=turns {
        for category in contact
            .categories
            .iter()
            .filter(|c| c.after_segment.min(turns) == position)
        {
            let details: Map<String, Value> = category
                .matched_categories
                .iter()
                .map(|name| (name.clone(), json!({ "PointsOfInterest": [] })))
                .collect();
            segments.push(json!({ "Categories": {
                "MatchedCategories": category.matched_categories,
                "MatchedDetails": details,
            }}));
        }
        if let Some(turn) = contact.segments.get(position) {
            segments.push(json!({ "Transcript": {
                "Id": turn.id,
                "ParticipantId": turn.participant_id,
                "ParticipantRole": turn.participant_role,
                "Content": turn.content,
                "BeginOffsetMillis": turn.begin_offset_millis,
                "EndOffsetMillis": turn.end_offset_millis,
                "Sentiment": turn.sentiment,
                "IssuesDetected": [],
            }}));
        }
    }
    segments
}

/// Tokens hold the offset of the next segment, bound to the contact so that a token replayed
/// for another contact is rejected.
fn encode_token(contact_id: &str, offset: usize) -> String {
    aws::encode_token(&format!("{contact_id}#{offset}"))
}

fn decode_token(token: &str, contact_id: &str) -> Option<usize> {
    let text = aws::decode_token(token)?;
    let (token_contact, offset) = text.rsplit_once('#')?;
    (token_contact == contact_id).then(|| offset.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{CategoryMatch, Segment};

    #[test]
    fn tokens_round_trip_and_are_bound_to_the_contact() {
        let token = encode_token("c-1", 42);
        assert_eq!(decode_token(&token, "c-1"), Some(42));
        assert_eq!(decode_token(&token, "c-2"), None);
        assert_eq!(decode_token("zz", "c-1"), None);
    }

    #[test]
    fn categories_are_interleaved_where_placed() {
        let turn = |id: &str| Segment {
            id: id.into(),
            participant_id: "p".into(),
            participant_role: "AGENT".into(),
            content: "hi".into(),
            begin_offset_millis: 0,
            end_offset_millis: 1,
            sentiment: "NEUTRAL".into(),
        };
        let category = |after_segment| CategoryMatch {
            after_segment,
            matched_categories: vec!["x".into()],
        };
        let contact = ContactSpec {
            segments: vec![turn("a"), turn("b")],
            categories: vec![category(0), category(1), category(5)],
            ..ContactSpec::default()
        };
        let segments = segments_of(&contact);
        let kinds: Vec<&str> = segments
            .iter()
            .map(|s| s.as_object().unwrap().keys().next().unwrap().as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "Categories",
                "Transcript",
                "Categories",
                "Transcript",
                "Categories"
            ]
        );
    }
}
