//! The built binary under cargo-lambda's Lambda runtime emulator, invoked with `cargo lambda
//! invoke` and the documented payloads, against the emulators.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use emulators::{
    Emulators, SAMPLE_CJK, SAMPLE_INTERNATIONAL, register_sandbox_salesforce, sample_world,
};
use serde_json::Value;

const INSTANCE: &str = "11111111-2222-4333-8444-555555555555";

/// Kills the process when the test ends, pass or fail.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn invoke(port: u16, args: &[&str]) -> Value {
    let output = Command::new(cargo())
        .current_dir(workspace())
        .args([
            "lambda",
            "invoke",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("cargo lambda is installed (scripts/setup.sh)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn payload(element: &Value) -> Value {
    serde_json::from_str(element["Payload"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_payloads_through_the_local_lambda_runtime() {
    let world = sample_world(INSTANCE);
    let emulators = Emulators::start(&world).await;
    register_sandbox_salesforce(&world, &emulators.salesforce.url());
    let port = free_port();

    let _runtime_api = Running(
        Command::new(cargo())
            .current_dir(workspace())
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda is installed (scripts/setup.sh)"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _function = Running(
        Command::new(env!("CARGO_BIN_EXE_contact-data-sync"))
            .envs(emulators.aws_env())
            .env("CONNECT_INSTANCE_ID", INSTANCE)
            .env("SALESFORCE_SECRET_ID", emulators::SANDBOX_SECRET_ID)
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let (upload, status, bad) = tokio::task::spawn_blocking(move || {
        let upload = invoke(
            port,
            &[
                "--data-file",
                "tests/fixtures/requests/upload-transcript.json",
            ],
        );
        let ids: Vec<Value> = payload(&upload[0])["conversationBulkUploadsResults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["uploadId"].clone())
            .collect();
        let request = serde_json::json!({"operation": "fetchUploadIdsStatus", "uploadIds": ids});
        let status = invoke(port, &["--data-ascii", &request.to_string()]);
        let bad = invoke(
            port,
            &[
                "--data-ascii",
                r#"{"operation":"uploadTranscript","payload":[]}"#,
            ],
        );
        (upload, status, bad)
    })
    .await
    .unwrap();

    assert_eq!(upload.as_array().unwrap().len(), 1, "{upload}");
    assert_eq!(upload[0]["StatusCode"], 200);
    assert_eq!(upload[0]["ExecutedVersion"], "$LATEST");
    let results = payload(&upload[0])["conversationBulkUploadsResults"].clone();
    let mut ids: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "SUCCESS", "{r}");
            r["conversationIdentifier"].as_str().unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, [SAMPLE_CJK, SAMPLE_INTERNATIONAL]);
    assert_eq!(world.uploads().len(), 2);

    assert_eq!(status["StatusCode"], 200);
    let statuses = payload(&status)["conversationBulkUploadStatuses"].clone();
    assert_eq!(statuses.as_array().unwrap().len(), 2);
    assert!(
        statuses
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "SUCCESS")
    );

    assert_eq!(bad["statusCode"], 400);
    assert!(
        bad["body"]
            .as_str()
            .unwrap()
            .contains("payload: must list 1 to 100 contacts, got 0")
    );
}
