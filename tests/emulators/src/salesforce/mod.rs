//! Salesforce: one server plays both the login host (OAuth token endpoint) and the org's
//! instance (Connect REST API conversation upload resources, the SOQL query resource over
//! VoiceCall records). Its own URL is the JWT audience it expects and the `instance_url` it
//! hands out. Servers started on the same [`World`] are one org: a token minted by one is good
//! on all, so one can be the login host and another the REST API base a Service Cloud Voice
//! secret names.

mod limits;
mod oauth;
mod query;
mod upload;

pub(crate) use limits::{ApiLimits, ApiUser};
pub(crate) use query::QueryCursor;

use axum::Router;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::fault::{self, IdMatch, Injected, RequestInfo};
use crate::server::{self, Server};
use crate::world::{Service, World, now_ms};

/// What every Salesforce handler gets: the world and this server's own URL.
#[derive(Clone)]
pub(crate) struct Host {
    world: World,
    base_url: String,
}

/// Starts the Salesforce emulator on a free port.
pub async fn start_salesforce(world: &World) -> Server {
    start_salesforce_on(world, 0).await
}

/// Starts a Salesforce emulator on `port` (0 = a free one), e.g. a second host of the same org
/// outside [`crate::Emulators`].
pub async fn start_salesforce_on(world: &World, port: u16) -> Server {
    let (listener, base_url) = server::bind(port).await;
    let state = Host {
        world: world.clone(),
        base_url,
    };
    let api = Router::new()
        .route(
            "/services/data/{version}/connect/conversations/upload",
            post(upload::upload).get(upload_statuses),
        )
        .route(
            "/services/data/{version}/connect/conversation/{conversation_id}/entries",
            get(conversation_entries),
        )
        // Salesforce's own examples spell it `/query/?q=`.
        .route("/services/data/{version}/query", get(query::query))
        .route("/services/data/{version}/query/", get(query::query))
        .route(
            "/services/data/{version}/query/{position}",
            get(query::query_more),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), api_gate));
    let router = Router::new()
        .route("/services/oauth2/token", post(oauth::token))
        .merge(api)
        .fallback(not_found)
        .with_state(state);
    server::serve(listener, world, Service::Salesforce, router)
}

/// A Salesforce REST error: a JSON array of `{"message","errorCode"}`.
pub(crate) fn rest_error(status: StatusCode, error_code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!([{ "message": message, "errorCode": error_code }]),
    )
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    rest_error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// The conversation upload resources exist from API version 51.0 on, so the emulator serves no
/// earlier version; the query resource exists in all of them.
const MIN_API_VERSION: f64 = 51.0;

/// Guards every REST API route (not the token endpoint, which is not the REST API): the version
/// must have the resource, the bearer token must be live and the org's API allocation must not
/// be used up (403 REQUEST_LIMIT_EXCEEDED, see [`limits`]). A call let through counts one
/// towards the allocation, whatever its outcome (refusals by the resource, injected faults and
/// the entries hourly limit included: Salesforce counts the calls made); one refused for the
/// allocation does not. Every response past the token check carries `Sforce-Limit-Info:
/// api-usage=<used>/<max>`, the count including this call, as Salesforce's REST error
/// responses carry it too; a 401 and a 404 for an unserved version (answered before the token
/// is read) do not. The handler gets the token's [`ApiUser`] as an extension.
async fn api_gate(State(state): State<Host>, mut request: Request, next: Next) -> Response {
    let version_ok =
        api_version(request.uri().path()).is_some_and(|version| version >= MIN_API_VERSION);
    if !version_ok {
        return not_found().await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let admitted = {
        let mut world = state.world.lock();
        let salesforce = &mut world.salesforce;
        token
            .and_then(|token| salesforce.tokens.get(token).cloned())
            .map(|user| {
                let limits = &mut salesforce.limits;
                let usage = limits.admit_call();
                let header = limits.header_value(usage.unwrap_or(limits.used));
                (user, usage.is_some(), header)
            })
    };
    let Some((user, within_allocation, usage)) = admitted else {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        );
    };
    let mut response = if within_allocation {
        request.extensions_mut().insert(user);
        next.run(request).await
    } else {
        rest_error(
            StatusCode::FORBIDDEN,
            limits::API_LIMIT_ERROR_CODE,
            limits::API_LIMIT_MESSAGE,
        )
    };
    if let Ok(value) = HeaderValue::try_from(usage) {
        response.headers_mut().insert("Sforce-Limit-Info", value);
    }
    response
}

/// The version of a `/services/data/vNN.N/...` path. Salesforce knows no other spelling
/// (`v62`, `v62.00`, `vlatest`), and a bare float parse would let `vinf` or `v1e3` through.
fn api_version(path: &str) -> Option<f64> {
    let version = path.split('/').nth(3)?.strip_prefix('v')?;
    let (major, minor) = version.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(major) && minor.len() == 1 && digits(minor) {
        version.parse().ok()
    } else {
        None
    }
}

/// Query parameters, decoded.
fn query_params(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn query_param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

const MAX_UPLOAD_IDS: usize = 100;

/// The response of a fault aimed at this request's path, for resources about no contact.
pub(crate) async fn path_fault(world: &World, uri: &Uri) -> Option<Response> {
    let request = RequestInfo {
        path: uri.path(),
        contact_ids: Vec::new(),
        id_match: IdMatch::Equal,
        upload: false,
    };
    match fault::check(world, Service::Salesforce, request).await {
        Injected::Respond(response) => Some(response),
        Injected::Proceed(_) => None,
    }
}

/// `GET .../connect/conversations/upload?uploadIds=a,b,c`
async fn upload_statuses(State(state): State<Host>, uri: Uri) -> Response {
    if let Some(response) = path_fault(&state.world, &uri).await {
        return response;
    }
    let params = query_params(&uri);
    let ids: Vec<&str> = query_param(&params, "uploadIds")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    if ids.is_empty() {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "uploadIds is required",
        );
    }
    if ids.len() > MAX_UPLOAD_IDS {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            &format!("At most {MAX_UPLOAD_IDS} uploadIds are allowed"),
        );
    }
    let mut world = state.world.lock();
    let salesforce = &mut world.salesforce;
    let statuses: Vec<Value> = ids
        .iter()
        .map(|id| {
            match salesforce.uploads.iter().position(|u| u.upload_id == *id) {
                Some(at) => {
                    let in_progress = salesforce.is_pending(at) || {
                        let polls = salesforce.status_polls.entry((*id).to_owned()).or_default();
                        *polls += 1;
                        *polls <= salesforce.processing_polls
                    };
                    let upload = &salesforce.uploads[at];
                    let (status, done) = if in_progress {
                        ("IN_PROGRESS", 0)
                    } else {
                        ("SUCCESS", upload.entries.len())
                    };
                    json!({
                        "conversationId": upload.conversation_id,
                        "errorDetail": null,
                        "failedEntryCount": 0,
                        "failedEntryIds": [],
                        "lastUpdatedTimestamp": upload.received_at_ms,
                        "status": status,
                        "successEntryCount": done,
                        "uploadId": upload.upload_id,
                    })
                }
                // Assumption (undocumented): Salesforce's answer for an unknown id is not
                // published; the emulator reports it as a FAILED element rather than an error,
                // so one bad id does not hide the others' statuses.
                None => json!({
                    "conversationId": null,
                    "errorDetail": "Upload not found",
                    "failedEntryCount": 0,
                    "failedEntryIds": [],
                    "lastUpdatedTimestamp": null,
                    "status": "FAILED",
                    "successEntryCount": 0,
                    "uploadId": id,
                }),
            }
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({ "conversationBulkUploadStatuses": statuses }),
    )
}

/// Default and maximum of `recordLimit`. The documented default is not stated; the maximum is
/// used (an assumption) so that a test reading a conversation back sees all of it.
const MAX_RECORD_LIMIT: usize = 1000;

/// An entry as the conversation holds it (the shape `.../entries` returns), from the payload of
/// an uploaded or real-time conversationEntry received at `received_ms`.
pub(crate) fn held_entry(payload: &Value, received_ms: i64) -> Value {
    json!({
        "identifier": payload["id"],
        "clientTimestamp": payload["clientSentTimestamp"],
        "clientDuration": payload["clientDuration"],
        "messageText": payload["messageText"],
        "relatedRecords": payload["relatedRecords"],
        "sender": payload["sender"],
        "serverReceivedTimestamp": received_ms,
    })
}

/// `GET .../connect/conversation/{id}/entries`: what the conversation holds, ordered by
/// clientTimestamp (then identifier), oldest first (FromStart, the default) or newest first
/// (FromEnd), at most `recordLimit`, within the inclusive `startTimestamp`..`endTimestamp`.
/// An entry uploaded again under the same id is there twice, or once when the world says
/// re-uploads replace ([`crate::ReuploadedEntries`]); a deferred upload's entries are not there
/// until processed. Each connected app user may read so many times in a rolling hour
/// ([`crate::World::set_entries_reads_per_hour`]); a read beyond it is refused with 503 before
/// anything else, injected faults included.
async fn conversation_entries(
    State(state): State<Host>,
    Extension(user): Extension<ApiUser>,
    Path((_version, conversation_id)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let refused_per_hour = {
        let mut world = state.world.lock();
        let limits = &mut world.salesforce.limits;
        let refused =
            (!limits.admit_entries_read(&user, now_ms())).then_some(limits.entries_reads_per_hour);
        if refused.is_some() {
            world.stats.entries_reads_refused += 1;
        }
        refused
    };
    if let Some(per_hour) = refused_per_hour {
        crate::server::note_request_about(&state.world, &[&conversation_id]);
        return rest_error(
            StatusCode::SERVICE_UNAVAILABLE,
            limits::ENTRIES_LIMIT_ERROR_CODE,
            &limits::entries_limit_message(per_hour),
        );
    }
    let request = RequestInfo {
        path: uri.path(),
        contact_ids: vec![&conversation_id],
        id_match: IdMatch::Equal,
        upload: false,
    };
    if let Injected::Respond(response) =
        fault::check(&state.world, Service::Salesforce, request).await
    {
        return response;
    }
    let params = query_params(&uri);
    let limit = match query_param(&params, "recordLimit").map(str::parse::<usize>) {
        None => MAX_RECORD_LIMIT,
        Some(Ok(limit)) if (1..=MAX_RECORD_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "recordLimit must be between 1 and 1000",
            );
        }
    };
    let from_end = match query_param(&params, "queryDirection") {
        None | Some("FromStart") => false,
        Some("FromEnd") => true,
        Some(_) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "queryDirection must be FromStart or FromEnd",
            );
        }
    };
    // Err names the malformed parameter.
    let bound = |name| match query_param(&params, name).map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(at)) => Ok(Some(at)),
        Some(Err(_)) => Err(name),
    };
    let (start, end) = match (bound("startTimestamp"), bound("endTimestamp")) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(name), _) | (_, Err(name)) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                &format!("{name} must be epoch milliseconds"),
            );
        }
    };

    let world = state.world.lock();
    let Some(conversation) = world.conversation(&conversation_id) else {
        return rest_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("Conversation {conversation_id} does not exist"),
        );
    };
    let mut entries = world.salesforce.entries(&conversation.identifier);
    entries.retain(|e| {
        let at = e["clientTimestamp"].as_i64().unwrap_or_default();
        start.is_none_or(|s| at >= s) && end.is_none_or(|e| at <= e)
    });
    // Assumption: FromEnd returns the newest entries first (and the limit keeps the newest).
    if from_end {
        entries.reverse();
    }
    entries.truncate(limit);
    json_response(StatusCode::OK, &json!({ "conversationEntries": entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_must_be_spelled_vnn_n() {
        let version = |v: &str| api_version(&format!("/services/data/{v}/connect/x"));
        assert_eq!(version("v62.0"), Some(62.0));
        assert_eq!(version("v51.0"), Some(51.0));
        for bad in [
            "v62", "v62.00", "v.0", "62.0", "vinf", "v1e3.0", "v62.0a", "vlatest",
        ] {
            assert_eq!(version(bad), None, "{bad}");
        }
    }
}
