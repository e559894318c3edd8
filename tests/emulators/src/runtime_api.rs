//! The AWS Lambda Runtime API (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>),
//! so a function binary can run as a child process exactly as in Lambda: it long-polls
//! `GET /2018-06-01/runtime/invocation/next` and posts each result to
//! `/2018-06-01/runtime/invocation/{id}/response` or `.../{id}/error`, or reports a failed
//! start to `/2018-06-01/runtime/init/error`.
//!
//! [`RuntimeApi::invoke`] plays the Invoke API's side: it queues an event and waits for the
//! function's answer. [`RuntimeApi::first_poll`] tells when the runtime first asked for work,
//! which is the end of its cold start.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! let api = emulators::RuntimeApi::start("my-function").await;
//! // Run the function with AWS_LAMBDA_RUNTIME_API=api.host_port(), then:
//! let answer = api.invoke(serde_json::json!({"ping": 1}), Duration::from_secs(60)).await;
//! # }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::server;
use crate::world::{now_ms, splitmix64};

/// Lambda's limit on a synchronous invocation's request and response payloads.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

const ACCOUNT_ID: &str = "123456789012";

/// Why an invocation gave no response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvokeError {
    /// The function posted to `/invocation/{id}/error` (Lambda's `FunctionError` = Unhandled).
    Function {
        error_type: String,
        error_message: String,
    },
    /// The runtime posted to `/init/error`: it cannot take invocations.
    Init {
        error_type: String,
        error_message: String,
    },
    /// No answer before the invocation's timeout.
    Timeout,
    /// The event or the response exceeds [`MAX_PAYLOAD_BYTES`].
    PayloadTooLarge(usize),
    /// The response body is not JSON.
    InvalidResponse(String),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Function {
                error_type,
                error_message,
            } => write!(f, "function error {error_type}: {error_message}"),
            InvokeError::Init {
                error_type,
                error_message,
            } => write!(f, "init error {error_type}: {error_message}"),
            InvokeError::Timeout => f.write_str("the invocation timed out"),
            InvokeError::PayloadTooLarge(bytes) => write!(
                f,
                "payload of {bytes} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
            ),
            InvokeError::InvalidResponse(e) => write!(f, "response is not JSON: {e}"),
        }
    }
}

impl std::error::Error for InvokeError {}

type Reply = oneshot::Sender<Result<Value, InvokeError>>;

/// An event waiting for the runtime's next poll.
struct Queued {
    request_id: String,
    deadline_ms: i64,
    body: Vec<u8>,
    reply: Reply,
}

struct Shared {
    function_arn: String,
    /// Taken by one `/next` poll at a time; a poll waits here until an event is queued.
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    /// Invocations handed to the runtime and not answered yet, by request id.
    in_flight: Mutex<HashMap<String, Reply>>,
    first_poll: watch::Sender<Option<Instant>>,
    init_error: watch::Sender<Option<InvokeError>>,
}

impl Shared {
    /// No lock is held across an await, and a panicking handler must not wedge the others.
    fn in_flight(&self) -> MutexGuard<'_, HashMap<String, Reply>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running Runtime API on 127.0.0.1; it shuts down when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Queued>,
    next_id: Mutex<u64>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl RuntimeApi {
    /// Starts on a free port, for a function of this name (it appears in the invoked ARN).
    pub async fn start(function_name: &str) -> RuntimeApi {
        let (listener, _) = server::bind(0).await;
        let (queue, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn: format!(
                "arn:aws:lambda:{}:{ACCOUNT_ID}:function:{function_name}",
                crate::aws::REGION
            ),
            queue: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            first_poll: watch::Sender::new(None),
            init_error: watch::Sender::new(None),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/response",
                post(response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // The 6 MB limit is checked by the handlers, which must also fail the invocation.
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let (addr, shutdown) = server::spawn_server(listener, router, "runtime API");
        RuntimeApi {
            addr,
            shared,
            queue,
            next_id: Mutex::new(0),
            shutdown: Some(shutdown),
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`: `host:port`, as Lambda sets it.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Waits until the runtime first polls `/invocation/next` and returns when that happened.
    pub async fn first_poll(&self) -> Instant {
        let mut seen = self.shared.first_poll.subscribe();
        let polled = seen
            .wait_for(Option::is_some)
            .await
            .expect("the sender lives in `self`");
        polled.expect("waited for Some")
    }

    /// Invokes the function synchronously (like `InvocationType=RequestResponse`): the event is
    /// served to the next poll with a deadline `timeout` from now, and the function's response
    /// body is returned.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Value, InvokeError> {
        let body = serde_json::to_vec(&event).expect("a Value always serializes");
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(InvokeError::PayloadTooLarge(body.len()));
        }
        if let Some(init) = self.shared.init_error.borrow().clone() {
            return Err(init);
        }
        let request_id = self.next_request_id();
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            request_id: request_id.clone(),
            deadline_ms: now_ms() + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX),
            body,
            reply,
        };
        self.queue
            .send(queued)
            .expect("the receiver lives in `self.shared`");
        let mut init_error = self.shared.init_error.subscribe();
        let outcome = tokio::select! {
            answer = answer => answer.unwrap_or(Err(InvokeError::Timeout)),
            failed = init_error.wait_for(Option::is_some) => Err(failed
                .expect("the sender lives in `self.shared`")
                .clone()
                .expect("waited for Some")),
            () = tokio::time::sleep(timeout) => Err(InvokeError::Timeout),
        };
        // A late answer then finds no invocation, as after a real Lambda timeout.
        self.shared.in_flight().remove(&request_id);
        outcome
    }

    /// Request ids look like Lambda's (UUIDs) and differ between invocations.
    fn next_request_id(&self) -> String {
        let mut n = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        let (a, b) = (splitmix64(*n ^ 0x6c61_6d62_6461), splitmix64(!*n));
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server task may already be gone with its runtime; nothing to do then.
            let _ = shutdown.send(());
        }
    }
}

/// `GET /invocation/next`: blocks until an event is queued, then hands it over.
async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.first_poll.send_if_modified(|first| {
        let unset = first.is_none();
        if unset {
            *first = Some(Instant::now());
        }
        unset
    });
    let queued = {
        let mut queue = shared.queue.lock().await;
        loop {
            match queue.recv().await {
                // An invocation that timed out before any poll took it is never delivered.
                Some(queued) if queued.reply.is_closed() => {}
                Some(queued) => break queued,
                // Only when the `RuntimeApi` is gone: the process is shutting down.
                None => {
                    return error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "ServiceException",
                        "shutting down",
                    );
                }
            }
        }
    };
    let trace_id = trace_id(&queued.request_id);
    let headers = [
        ("lambda-runtime-aws-request-id", queued.request_id.clone()),
        ("lambda-runtime-deadline-ms", queued.deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            shared.function_arn.clone(),
        ),
        ("lambda-runtime-trace-id", trace_id),
        ("content-type", "application/json".to_owned()),
    ];
    shared.in_flight().insert(queued.request_id, queued.reply);
    let mut response = queued.body.into_response();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// An X-Ray trace header of the documented shape, derived from the request id.
fn trace_id(request_id: &str) -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let hex: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
    format!(
        "Root=1-{seconds:08x}-{};Parent={};Sampled=0",
        &hex[..24],
        &hex[hex.len() - 16..]
    )
}

/// Takes the invocation `request_id` out of the in-flight set, if it is still waiting.
fn claim(shared: &Shared, request_id: &str) -> Option<Reply> {
    shared
        .in_flight()
        .remove(request_id)
        .filter(|reply| !reply.is_closed())
}

/// The answer to a result posted for an invocation that is not waiting for one.
fn unknown_request(request_id: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        &format!("no invocation {request_id} is waiting for a result"),
    )
}

/// `POST /invocation/{id}/response`.
async fn response(
    State(shared): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(reply) = claim(&shared, &request_id) else {
        return unknown_request(&request_id);
    };
    if body.len() > MAX_PAYLOAD_BYTES {
        let _ = reply.send(Err(InvokeError::PayloadTooLarge(body.len())));
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!(
                "response of {} bytes exceeds {MAX_PAYLOAD_BYTES}",
                body.len()
            ),
        );
    }
    let outcome =
        serde_json::from_slice(&body).map_err(|e| InvokeError::InvalidResponse(e.to_string()));
    // The caller may have timed out meanwhile; the runtime's post was still well-formed.
    let _ = reply.send(outcome);
    accepted()
}

/// `POST /invocation/{id}/error`.
async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(reply) = claim(&shared, &request_id) else {
        return unknown_request(&request_id);
    };
    let (error_type, error_message) = error_report(&headers, &body);
    let _ = reply.send(Err(InvokeError::Function {
        error_type,
        error_message,
    }));
    accepted()
}

/// `POST /init/error`: every waiting and later invocation fails with it.
async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, error_message) = error_report(&headers, &body);
    shared.init_error.send_replace(Some(InvokeError::Init {
        error_type,
        error_message,
    }));
    accepted()
}

/// The error type and message of an error post: the documented JSON body
/// (`errorType`, `errorMessage`), else the `Lambda-Runtime-Function-Error-Type` header and the
/// raw body.
fn error_report(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unhandled")
        .to_owned();
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    (
        field("errorType").unwrap_or(header_type),
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    )
}

/// What the Runtime API answers to an accepted post.
fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorMessage": message, "errorType": error_type})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEXT: &str = "2018-06-01/runtime/invocation/next";

    /// A minimal runtime client: one poll, answered by `answer` (`response` or `error`).
    async fn serve_one(base: String, answer: &'static str, body: &'static str) -> HeaderMap {
        let client = reqwest::Client::new();
        let next = client
            .get(format!("{base}/{NEXT}"))
            .send()
            .await
            .expect("poll");
        assert_eq!(next.status(), 200);
        let headers = next.headers().clone();
        let id = headers["lambda-runtime-aws-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        let posted = client
            .post(format!(
                "{base}/2018-06-01/runtime/invocation/{id}/{answer}"
            ))
            .header("lambda-runtime-function-error-type", "Unhandled")
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(posted.status(), 202);
        headers
    }

    #[tokio::test]
    async fn serves_the_event_and_returns_the_response() {
        let api = RuntimeApi::start("fn").await;
        let base = format!("http://{}", api.host_port());
        let client = tokio::spawn(serve_one(base, "response", r#"{"ok":true}"#));
        let before = now_ms();
        let answer = api.invoke(json!({"n": 1}), Duration::from_secs(30)).await;
        assert_eq!(answer, Ok(json!({"ok": true})));
        let headers = client.await.expect("client");
        let deadline: i64 = headers["lambda-runtime-deadline-ms"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("epoch ms");
        assert!((before + 29_000..=now_ms() + 30_000).contains(&deadline));
        assert_eq!(
            headers["lambda-runtime-invoked-function-arn"],
            "arn:aws:lambda:us-east-1:123456789012:function:fn"
        );
        assert!(
            headers["lambda-runtime-trace-id"]
                .to_str()
                .expect("ascii")
                .starts_with("Root=1-")
        );
        assert_eq!(headers["lambda-runtime-aws-request-id"].len(), 36);
    }

    #[tokio::test]
    async fn records_the_first_poll_and_waits_for_events() {
        let api = RuntimeApi::start("fn").await;
        let base = format!("http://{}", api.host_port());
        let started = Instant::now();
        let client = tokio::spawn(serve_one(base, "response", "1"));
        let polled = api.first_poll().await;
        assert!(polled >= started);
        // The poll is still open: the event queued after it reaches the same request.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            api.invoke(json!(null), Duration::from_secs(30)).await,
            Ok(json!(1))
        );
        client.await.expect("client");
        assert_eq!(api.first_poll().await, polled);
    }

    #[tokio::test]
    async fn reports_function_errors() {
        let api = RuntimeApi::start("fn").await;
        let base = format!("http://{}", api.host_port());
        let client = tokio::spawn(serve_one(
            base,
            "error",
            r#"{"errorMessage":"boom","errorType":"Oops"}"#,
        ));
        let answer = api.invoke(json!({}), Duration::from_secs(30)).await;
        assert_eq!(
            answer,
            Err(InvokeError::Function {
                error_type: "Oops".into(),
                error_message: "boom".into()
            })
        );
        client.await.expect("client");
    }

    #[tokio::test]
    async fn init_errors_fail_invocations() {
        let api = RuntimeApi::start("fn").await;
        let posted = reqwest::Client::new()
            .post(format!(
                "http://{}/2018-06-01/runtime/init/error",
                api.host_port()
            ))
            .header("lambda-runtime-function-error-type", "Runtime.InitError")
            .body("missing CONNECT_INSTANCE_ID")
            .send()
            .await
            .expect("post");
        assert_eq!(posted.status(), 202);
        assert_eq!(
            api.invoke(json!({}), Duration::from_secs(30)).await,
            Err(InvokeError::Init {
                error_type: "Runtime.InitError".into(),
                error_message: "missing CONNECT_INSTANCE_ID".into()
            })
        );
    }

    #[tokio::test]
    async fn times_out_and_refuses_late_or_unknown_answers() {
        let api = RuntimeApi::start("fn").await;
        let base = format!("http://{}", api.host_port());
        let client = reqwest::Client::new();
        let poll = tokio::spawn({
            let (client, base) = (client.clone(), base.clone());
            async move { client.get(format!("{base}/{NEXT}")).send().await }
        });
        let answer = api.invoke(json!({}), Duration::from_millis(200)).await;
        assert_eq!(answer, Err(InvokeError::Timeout));
        let id =
            poll.await.expect("task").expect("poll").headers()["lambda-runtime-aws-request-id"]
                .to_str()
                .expect("ascii")
                .to_owned();
        for id in [id.as_str(), "unknown"] {
            let late = client
                .post(format!(
                    "{base}/2018-06-01/runtime/invocation/{id}/response"
                ))
                .body("{}")
                .send()
                .await
                .expect("post");
            assert_eq!(late.status(), 400);
        }
    }

    #[tokio::test]
    async fn refuses_oversized_payloads() {
        let api = RuntimeApi::start("fn").await;
        let big = json!("x".repeat(MAX_PAYLOAD_BYTES));
        assert!(matches!(
            api.invoke(big, Duration::from_secs(1)).await,
            Err(InvokeError::PayloadTooLarge(_))
        ));
    }
}
