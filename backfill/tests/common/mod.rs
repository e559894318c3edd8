//! Test support: a wire-level Step Functions replay server, a moto server, SDK clients pointed at
//! them, and a runner for the `backfill` binary.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_sfn::config::Credentials;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use backfill::aws::Aws;
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";
const AWS_JSON_1_0: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "AWSStepFunctions.";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fresh, empty directory under the target directory.
pub fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "backfill-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}

/// One recorded response, to be served for the call it was recorded for.
#[derive(Debug, Clone)]
struct Step {
    file: String,
    operation: String,
    status: StatusCode,
    body: String,
}

#[derive(Debug, Default)]
struct ReplayState {
    script: VecDeque<Step>,
    /// Every call received: operation and JSON body.
    requests: Vec<(String, Value)>,
    /// Calls that did not match the script.
    rejected: Vec<String>,
}

/// A Step Functions endpoint that serves recorded awsJson1_0 responses, in order.
///
/// The responses of a scenario are the files of one directory, named
/// `<NN>-<Operation>.json` (HTTP 200) or `<NN>-<Operation>.<status>.json`, served in file-name
/// order: each call must be the operation of the next file. Any other call (another operation,
/// one call too many, a call that is not awsJson1_0) gets a 400 `UnknownOperationException`,
/// which the SDK surfaces as an error, so a wrong call fails the test.
pub struct Replay {
    pub url: String,
    state: Arc<Mutex<ReplayState>>,
    server: tokio::task::JoinHandle<()>,
}

impl Replay {
    pub async fn start(scenario: &str) -> Replay {
        let dir = fixtures().join("replay").join(scenario);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        let script = files.iter().map(|path| step(path)).collect();
        let state = Arc::new(Mutex::new(ReplayState {
            script,
            ..ReplayState::default()
        }));
        let app = axum::Router::new().fallback({
            let state = Arc::clone(&state);
            move |method: Method, headers: HeaderMap, body: Bytes| {
                let state = Arc::clone(&state);
                async move { serve(&state, &method, &headers, &body) }
            }
        });
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the replay server");
        let addr = listener.local_addr().expect("the replay server's address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("replay server");
        });
        Replay {
            url: format!("http://{addr}"),
            state,
            server,
        }
    }

    /// The calls received so far, as `(operation, body)`.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.state.lock().expect("replay state").requests.clone()
    }

    /// Asserts that every recorded response was served and no call was rejected.
    pub fn assert_done(&self) {
        let state = self.state.lock().expect("replay state");
        assert!(
            state.rejected.is_empty(),
            "rejected calls: {:#?}",
            state.rejected
        );
        let left: Vec<&str> = state.script.iter().map(|s| s.file.as_str()).collect();
        assert!(left.is_empty(), "responses never asked for: {left:?}");
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn step(path: &Path) -> Step {
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 file name")
        .to_owned();
    let stem = file.strip_suffix(".json").expect("a .json fixture");
    let (_, rest) = stem.split_once('-').expect("<NN>-<Operation>.json");
    let (operation, status) = match rest.split_once('.') {
        Some((operation, status)) => (operation, status.parse().expect("an HTTP status")),
        None => (rest, 200),
    };
    let operation = operation.to_owned();
    let body = std::fs::read_to_string(path).expect("read a fixture");
    serde_json::from_str::<Value>(&body).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
    Step {
        file,
        operation,
        status: StatusCode::from_u16(status).expect("an HTTP status"),
        body,
    }
}

fn serve(
    state: &Mutex<ReplayState>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut state = state.lock().expect("replay state");
    let header_value = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let target = header_value("x-amz-target");
    let content_type = header_value(header::CONTENT_TYPE.as_str());
    let operation = target
        .strip_prefix(TARGET_PREFIX)
        .unwrap_or_default()
        .to_owned();
    let parsed = serde_json::from_slice::<Value>(body);
    let rejection = if method != Method::POST || content_type != AWS_JSON_1_0 {
        Some(format!(
            "not an awsJson1_0 call: {method} with content type {content_type:?}"
        ))
    } else if operation.is_empty() {
        Some(format!("no AWSStepFunctions target: {target:?}"))
    } else if parsed.is_err() {
        Some(format!("{operation} with a body that is not JSON"))
    } else {
        match state.script.front() {
            None => Some(format!("{operation} after the last recorded response")),
            Some(next) if next.operation != operation => {
                Some(format!("{operation} where the recording has {}", next.file))
            }
            Some(_) => None,
        }
    };
    if let Some(message) = rejection {
        state.rejected.push(message.clone());
        let body = json!({ "__type": "UnknownOperationException", "message": message });
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, AWS_JSON_1_0)],
            body.to_string(),
        )
            .into_response();
    }
    let step = state.script.pop_front().expect("checked above");
    state
        .requests
        .push((operation, parsed.unwrap_or(Value::Null)));
    (
        step.status,
        [(header::CONTENT_TYPE, AWS_JSON_1_0)],
        step.body,
    )
        .into_response()
}

/// A `python3 -m moto.server` on a free port, killed on drop.
pub struct Moto {
    pub url: String,
    child: Child,
    /// Holds moto's log.
    dir: PathBuf,
}

const SETUP_HINT: &str =
    "the moto tests need Python's moto[server]: run scripts/setup.sh (it pip-installs it)";

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = scratch_dir("moto");
        let log_path = dir.join("moto.log");
        let log = std::fs::File::create(&log_path).expect("create the moto log");
        let mut child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {SETUP_HINT}"));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
                let _ = std::fs::remove_dir_all(&dir);
                panic!("moto server exited with {status}; {SETUP_HINT}\n{stderr}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&dir);
                panic!("moto server did not answer on {addr} within 30 s; {SETUP_HINT}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            url: format!("http://{addr}"),
            child,
            dir,
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The CLI's clients, each pointed at its own endpoint (S3 path-style, as for any emulator).
pub async fn clients(cloudformation: &str, s3: &str, sfn: &str) -> Aws {
    Aws {
        cloudformation: aws_sdk_cloudformation::Client::new(&sdk_config(cloudformation).await),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk_config(s3).await)
                .force_path_style(true)
                .build(),
        ),
        sfn: aws_sdk_sfn::Client::new(&sdk_config(sfn).await),
    }
}

/// What a run of the binary printed and exited with.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `backfill` binary with only the given environment (plus a scratch HOME and test
/// credentials), so nothing from the developer's AWS setup leaks in.
pub async fn run_backfill(args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = scratch_dir("home");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_backfill"))
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run the backfill binary");
    let _ = std::fs::remove_dir_all(&home);
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
