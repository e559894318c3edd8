//! Fault injection: a test arms a [`Fault`] on a service; the next requests it matches get the
//! fault's response instead of (or, for delays, omissions and store-then faults, on top of) the
//! normal handling.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::aws::{self, Protocol};
use crate::world::{Service, World};

/// What a matched fault does.
#[derive(Clone, Debug)]
pub(crate) enum FaultAction {
    /// An AWS error, rendered in the service's protocol (header `x-amzn-ErrorType` and body).
    Aws {
        status: u16,
        error_type: String,
        message: String,
    },
    /// A literal HTTP response (Salesforce errors, outages).
    Http { status: u16, body: String },
    /// Wait, then answer normally.
    Delay(Duration),
    /// 200 with a truncated JSON body.
    MalformedJson,
    /// Salesforce upload: process normally but leave this conversation out of the results.
    OmitFromResults(String),
    /// Salesforce upload: process and store normally, then answer this instead of the results.
    StoreThenRespond { status: u16, body: String },
    /// Salesforce upload: process and store normally, then close the connection unanswered.
    StoreThenClose,
    /// Salesforce query page: serve it normally but name it again as the next page.
    RepeatCursor,
}

impl FaultAction {
    /// Whether only an upload can act on it: other requests must leave it armed, or a token
    /// request or a status poll on the upload path would use it up for nothing.
    fn upload_only(&self) -> bool {
        matches!(
            self,
            FaultAction::OmitFromResults(_)
                | FaultAction::StoreThenRespond { .. }
                | FaultAction::StoreThenClose
        )
    }
}

/// A fault to inject with [`World::inject`]. By default it matches any request of the service
/// and fires once; narrow it with [`Fault::for_contact`], [`Fault::on_path`], [`Fault::after`]
/// and [`Fault::every`], and repeat it with [`Fault::times`] or [`Fault::always`]. The
/// Salesforce upload-only faults are matched (and counted by `after` and `every`) by upload
/// POSTs alone, never by the status poll on the same path.
#[derive(Clone, Debug)]
pub struct Fault {
    action: FaultAction,
    headers: Vec<(String, String)>,
    contact_id: Option<String>,
    path_contains: Option<String>,
    skip: u32,
    /// Fires on one matching request in this many (1: on each).
    every: u32,
    /// Matching requests seen since `skip` ran out, for `every`.
    seen: u32,
    /// None: fires forever.
    remaining: Option<u32>,
}

impl Fault {
    fn new(action: FaultAction) -> Fault {
        Fault {
            action,
            headers: Vec::new(),
            contact_id: None,
            path_contains: None,
            skip: 0,
            every: 1,
            seen: 0,
            remaining: Some(1),
        }
    }

    /// An AWS error such as `aws_error(500, "InternalServiceException")`. Secrets Manager and
    /// SSM report client errors with status 400, Connect and Contact Lens with the type's own
    /// status; S3 gets it as the `Code` of its XML error (e.g. `aws_error(503, "SlowDown")`).
    pub fn aws_error(status: u16, error_type: &str) -> Fault {
        Fault::new(FaultAction::Aws {
            status,
            error_type: error_type.to_owned(),
            message: format!("Injected {error_type}"),
        })
    }

    /// 429 ThrottlingException, the way Connect and Contact Lens throttle.
    pub fn throttling() -> Fault {
        Fault::aws_error(429, "ThrottlingException")
    }

    /// A Salesforce REST error: `[{"message","errorCode"}]`.
    pub fn salesforce_error(status: u16, error_code: &str, message: &str) -> Fault {
        let body = serde_json::json!([{ "message": message, "errorCode": error_code }]);
        Fault::http(status, &body.to_string())
    }

    /// A Salesforce OAuth error: `{"error","error_description"}`.
    pub fn oauth_error(status: u16, error: &str, description: &str) -> Fault {
        let body = serde_json::json!({ "error": error, "error_description": description });
        Fault::http(status, &body.to_string())
    }

    /// Any status with a literal body (served as JSON).
    pub fn http(status: u16, body: &str) -> Fault {
        Fault::new(FaultAction::Http {
            status,
            body: body.to_owned(),
        })
    }

    /// Holds the request this long, then answers normally (for timeouts and deadlines).
    pub fn delay(delay: Duration) -> Fault {
        Fault::new(FaultAction::Delay(delay))
    }

    /// 200 with a body that is not valid JSON.
    pub fn malformed_json() -> Fault {
        Fault::new(FaultAction::MalformedJson)
    }

    /// Salesforce upload only: the request succeeds but its results lack this conversation.
    pub fn omit_from_results(contact_id: &str) -> Fault {
        Fault::new(FaultAction::OmitFromResults(contact_id.to_owned())).for_contact(contact_id)
    }

    /// Salesforce upload only: the upload is processed and stored exactly as without the fault
    /// (recorded, upload ids allocated, entries held), then answered with this status and body
    /// (served as JSON) instead of its results, as when Salesforce or a proxy fails after the
    /// work is done (a 500 error list, a 502 or 504 page). A client that retries sends the
    /// conversations again.
    pub fn store_then_respond(status: u16, body: &str) -> Fault {
        Fault::new(FaultAction::StoreThenRespond {
            status,
            body: body.to_owned(),
        })
    }

    /// [`Fault::store_then_respond`] with a Salesforce REST error: `[{"message","errorCode"}]`.
    pub fn store_then_salesforce_error(status: u16, error_code: &str, message: &str) -> Fault {
        let body = serde_json::json!([{ "message": message, "errorCode": error_code }]);
        Fault::store_then_respond(status, &body.to_string())
    }

    /// Salesforce upload only: the upload is processed and stored exactly as without the fault,
    /// then the connection is closed with no response at all (not even a status line), so the
    /// client sees a transport error and cannot know the upload was stored. The emulator's
    /// counters see the results it would have answered.
    pub fn store_then_close() -> Fault {
        Fault::new(FaultAction::StoreThenClose)
    }

    /// Salesforce `nextRecordsUrl` pages only: the page is served as usual, but its
    /// `nextRecordsUrl` names the page itself, as a server-side cursor that stopped advancing
    /// would. A client that follows it blindly pages forever. Aim it with
    /// `on_path("/query/")`: any other request it matches uses it up and is answered as usual.
    pub fn repeat_query_cursor() -> Fault {
        Fault::new(FaultAction::RepeatCursor)
    }

    /// Only requests about this contact (the contactId of a Connect or Contact Lens request, a
    /// part name of a Salesforce upload, the SecretId of a Secrets Manager request, one of the
    /// parameter names of an SSM request, an S3 object key or listing prefix that contains it).
    pub fn for_contact(mut self, contact_id: &str) -> Fault {
        self.contact_id = Some(contact_id.to_owned());
        self
    }

    /// Only requests whose path contains this, e.g. "/oauth2/token" or "/conversations/upload".
    pub fn on_path(mut self, fragment: &str) -> Fault {
        self.path_contains = Some(fragment.to_owned());
        self
    }

    /// Lets the first `n` matching requests through: `.after(2)` hits the third one.
    pub fn after(mut self, n: u32) -> Fault {
        self.skip = n;
        self
    }

    /// Fires on one matching request in `n`, deterministically: the first, the `n+1`-th, the
    /// `2n+1`-th, ... (counted after those let through by [`Fault::after`]). The others pass,
    /// and only the requests it fires on count towards [`Fault::times`]. With
    /// [`Fault::for_contact`] the count is per contact, so it does not depend on how the
    /// client interleaves its contacts: `throttling().for_contact(id).every(2).always()`
    /// throttles exactly every other request about `id`.
    ///
    /// # Panics
    /// When `n` is 0.
    pub fn every(mut self, n: u32) -> Fault {
        assert!(n > 0, "Fault::every needs n >= 1");
        self.every = n;
        self
    }

    /// Fires on `n` matching requests (default 1).
    pub fn times(mut self, n: u32) -> Fault {
        self.remaining = Some(n);
        self
    }

    /// Fires on every matching request until [`World::clear_faults`].
    pub fn always(mut self) -> Fault {
        self.remaining = None;
        self
    }

    /// Adds a header to the fault's response.
    pub fn header(mut self, name: &str, value: &str) -> Fault {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `Retry-After: <seconds>`.
    pub fn retry_after(self, seconds: u64) -> Fault {
        self.header("Retry-After", &seconds.to_string())
    }
}

pub(crate) struct ArmedFault {
    pub service: Service,
    pub fault: Fault,
}

/// How a fault's contact id is compared with a request's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdMatch {
    /// It is one of them: a contactId, part name, SecretId or parameter name.
    Equal,
    /// It occurs in one of them: S3 names contacts inside object keys and listing prefixes.
    Within,
}

/// What a handler needs to know about a request to match faults against it.
pub(crate) struct RequestInfo<'a> {
    pub path: &'a str,
    pub contact_ids: Vec<&'a str>,
    pub id_match: IdMatch,
    /// A Salesforce upload: the only request upload-only faults match.
    pub upload: bool,
}

impl RequestInfo<'_> {
    /// Whether the request is about contact `id`.
    fn names(&self, id: &str) -> bool {
        self.contact_ids
            .iter()
            .any(|candidate| match self.id_match {
                IdMatch::Equal => *candidate == id,
                IdMatch::Within => candidate.contains(id),
            })
    }
}

/// Finds the first armed fault matching the request, uses it up and returns what it does
/// with the extra headers of its response.
fn take(
    faults: &mut Vec<ArmedFault>,
    service: Service,
    request: &RequestInfo<'_>,
) -> Option<(FaultAction, Vec<(String, String)>)> {
    let index = faults.iter_mut().position(|armed| {
        let fault = &mut armed.fault;
        let matches = armed.service == service
            && (request.upload || !fault.action.upload_only())
            && fault
                .path_contains
                .as_deref()
                .is_none_or(|fragment| request.path.contains(fragment))
            && fault
                .contact_id
                .as_deref()
                .is_none_or(|id| request.names(id));
        if !matches {
            return false;
        }
        if fault.skip > 0 {
            fault.skip -= 1;
            return false;
        }
        fault.seen = fault.seen.wrapping_add(1);
        (fault.seen - 1) % fault.every == 0
    })?;
    let fault = &mut faults[index].fault;
    let fired = (fault.action.clone(), fault.headers.clone());
    match &mut fault.remaining {
        Some(1) => {
            faults.remove(index);
        }
        Some(n) => *n -= 1,
        None => {}
    }
    Some(fired)
}

/// The outcome of checking a request against the armed faults.
pub(crate) enum Injected {
    /// Answer with this instead of handling the request.
    Respond(Response),
    /// Handle the request, then answer as this says (only an upload is told anything but
    /// [`Reply::Results`] without omission).
    Proceed(Reply),
}

/// How a handled request is answered.
pub(crate) enum Reply {
    /// With its results; for a Salesforce upload, without this conversation's.
    Results { omit: Option<String> },
    /// With this response instead.
    Respond(Response),
    /// Not at all: the connection is closed.
    Close,
    /// For a Salesforce query page: with the page itself named as the next one.
    RepeatCursor,
}

const NORMAL: Injected = Injected::Proceed(Reply::Results { omit: None });

/// Checks the request against the service's faults, sleeping first when a delay fault fires.
pub(crate) async fn check(world: &World, service: Service, request: RequestInfo<'_>) -> Injected {
    crate::server::note_request_about(world, &request.contact_ids);
    let fired = take(&mut world.lock().faults, service, &request);
    let Some((action, headers)) = fired else {
        return NORMAL;
    };
    // A store-then fault's response comes once the upload is stored, not instead of storing it.
    let after_storing = matches!(action, FaultAction::StoreThenRespond { .. });
    let mut response = match action {
        FaultAction::Delay(delay) => {
            tokio::time::sleep(delay).await;
            return NORMAL;
        }
        FaultAction::OmitFromResults(contact_id) => {
            return Injected::Proceed(Reply::Results {
                omit: Some(contact_id),
            });
        }
        FaultAction::RepeatCursor => {
            return Injected::Proceed(Reply::RepeatCursor);
        }
        FaultAction::StoreThenClose => return Injected::Proceed(Reply::Close),
        FaultAction::Aws {
            status,
            error_type,
            message,
        } => match service {
            Service::Connect | Service::ContactLens => {
                aws::error(Protocol::RestJson, status, &error_type, &message)
            }
            Service::SecretsManager | Service::Ssm => {
                aws::error(Protocol::AwsJson, status, &error_type, &message)
            }
            Service::Sqs => aws::error(Protocol::AwsJson10, status, &error_type, &message),
            Service::S3 => aws::error(Protocol::RestXml, status, &error_type, &message),
            // Salesforce has no AWS error shape; the type becomes a REST errorCode.
            Service::Salesforce => {
                let body = serde_json::json!([{ "message": message, "errorCode": error_type }]);
                json_response(status, body.to_string())
            }
        },
        FaultAction::Http { status, body } | FaultAction::StoreThenRespond { status, body } => {
            json_response(status, body)
        }
        FaultAction::MalformedJson => json_response(200, "{\"truncated\": [".to_owned()),
    };
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    if after_storing {
        Injected::Proceed(Reply::Respond(response))
    } else {
        Injected::Respond(response)
    }
}

fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(path: &'a str, contacts: &[&'a str]) -> RequestInfo<'a> {
        RequestInfo {
            path,
            contact_ids: contacts.to_vec(),
            id_match: IdMatch::Equal,
            upload: false,
        }
    }

    #[test]
    fn after_and_times_pick_the_nth_matching_requests() {
        let mut faults = vec![ArmedFault {
            service: Service::ContactLens,
            fault: Fault::throttling().for_contact("b").after(1).times(2),
        }];
        let hits: Vec<bool> = ["a", "b", "b", "a", "b", "b"]
            .iter()
            .map(|c| take(&mut faults, Service::ContactLens, &request("/", &[c])).is_some())
            .collect();
        assert_eq!(hits, [false, false, true, false, true, false]);
        assert!(faults.is_empty());
    }

    #[test]
    fn every_fires_on_one_matching_request_in_n_counting_only_its_own() {
        let mut faults = vec![ArmedFault {
            service: Service::ContactLens,
            fault: Fault::throttling()
                .for_contact("b")
                .after(1)
                .every(3)
                .times(2),
        }];
        // b's requests: 1st let through by after(1); then fires on the 1st, 4th of the rest
        // and is used up; a's requests never count.
        let hits: Vec<bool> = ["b", "b", "a", "b", "b", "a", "b", "b", "b", "b", "b"]
            .iter()
            .map(|c| take(&mut faults, Service::ContactLens, &request("/", &[c])).is_some())
            .collect();
        assert_eq!(
            hits,
            [
                false, true, false, false, false, false, true, false, false, false, false
            ]
        );
        assert!(faults.is_empty());
    }

    #[test]
    fn every_lets_a_later_fault_take_the_requests_it_passes() {
        let mut faults = vec![
            ArmedFault {
                service: Service::Connect,
                fault: Fault::throttling().every(2).always(),
            },
            ArmedFault {
                service: Service::Connect,
                fault: Fault::http(500, "{}").always(),
            },
        ];
        let statuses: Vec<u16> = (0..4)
            .map(
                |_| match take(&mut faults, Service::Connect, &request("/", &["x"])) {
                    Some((
                        FaultAction::Aws { status, .. } | FaultAction::Http { status, .. },
                        _,
                    )) => status,
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(statuses, [429, 500, 429, 500]);
    }

    #[test]
    fn faults_stay_on_their_service_and_path() {
        let mut faults = vec![ArmedFault {
            service: Service::Salesforce,
            fault: Fault::http(503, "{}").on_path("/oauth2/token").always(),
        }];
        assert!(
            take(
                &mut faults,
                Service::Connect,
                &request("/oauth2/token", &[])
            )
            .is_none()
        );
        assert!(take(&mut faults, Service::Salesforce, &request("/upload", &[])).is_none());
        for _ in 0..3 {
            assert!(
                take(
                    &mut faults,
                    Service::Salesforce,
                    &request("/oauth2/token", &[])
                )
                .is_some()
            );
        }
    }

    #[test]
    fn upload_only_faults_wait_for_an_upload() {
        let mut faults = vec![ArmedFault {
            service: Service::Salesforce,
            fault: Fault::store_then_close().after(1),
        }];
        let path = "/services/data/v62.0/connect/conversations/upload";
        let upload = RequestInfo {
            upload: true,
            ..request(path, &["c-1"])
        };
        // A token request and a status poll on the upload path neither fire it nor count.
        assert!(
            take(
                &mut faults,
                Service::Salesforce,
                &request("/oauth2/token", &[])
            )
            .is_none()
        );
        assert!(take(&mut faults, Service::Salesforce, &request(path, &[])).is_none());
        assert!(take(&mut faults, Service::Salesforce, &upload).is_none());
        let fired = take(&mut faults, Service::Salesforce, &upload);
        assert!(matches!(fired, Some((FaultAction::StoreThenClose, _))));
        assert!(faults.is_empty());
    }

    #[test]
    fn contact_ids_match_exactly_except_within_s3_keys() {
        let mut faults = vec![ArmedFault {
            service: Service::S3,
            fault: Fault::http(500, "{}").for_contact("c-1").always(),
        }];
        let key = "Analysis/Voice/2026/01/02/c-1_analysis_2026-01-02T10:00:00Z.json";
        assert!(take(&mut faults, Service::S3, &request("/b", &[key])).is_none());
        assert!(take(&mut faults, Service::S3, &request("/b", &["c-1"])).is_some());
        let within = |ids: &[&'static str]| RequestInfo {
            path: "/b",
            contact_ids: ids.to_vec(),
            id_match: IdMatch::Within,
            upload: false,
        };
        assert!(take(&mut faults, Service::S3, &within(&[key])).is_some());
        assert!(take(&mut faults, Service::S3, &within(&["Analysis/Voice/2026/"])).is_none());
    }
}
