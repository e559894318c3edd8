//! What is measured: the release binary of the function (built first, so the figures are never
//! those of a stale or debug build) and the deployment zip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const PACKAGE: &str = "contact-data-sync";

/// The workspace root: the bench crate is `tests/bench/` inside it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/bench/ is inside the workspace")
        .to_path_buf()
}

/// `cargo run` tells its child which cargo it is; plain `cargo` otherwise.
///
/// `cargo run` also gives its child the bench's own package variables (CARGO_PKG_NAME=bench,
/// CARGO_MANIFEST_DIR, ...). Build scripts such as ring's declare `rerun-if-env-changed` on
/// those, so passing them on would rebuild ring and everything above it (minutes) here and again
/// at the next plain `cargo build`; the nested cargo gets the environment a shell would give it.
fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let from_cargo_run = key.starts_with("CARGO_PKG_")
            || matches!(
                &*key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            );
        if from_cargo_run {
            command.env_remove(&*key);
        }
    }
    command
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// The target directory as cargo resolves it (CARGO_TARGET_DIR, config files or `target/`).
pub fn target_dir() -> Result<PathBuf, String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata gave no JSON: {e}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata has no target_directory".to_owned())
}

/// Builds (or finds up to date) the release binary and returns its path.
pub fn build_function(target: &Path) -> Result<PathBuf, String> {
    let mut build = cargo();
    build.args(["build", "--release", "-p", PACKAGE]);
    run(build, "cargo build --release -p contact-data-sync")?;
    Ok(target.join("release").join(PACKAGE))
}

/// The deployment zip and how it was obtained.
pub struct Zip {
    pub bytes: u64,
    pub how: String,
}

/// The arm64 `bootstrap.zip` that `cargo lambda build` makes for the CDK; reused when it is
/// newer than every input of the function, otherwise rebuilt (minutes when cold). Without
/// `lambda_build` a stale zip is replaced by a zip of the host binary, and the line says so.
pub fn deployment_zip(
    target: &Path,
    host_binary: &Path,
    lambda_build: bool,
) -> Result<Zip, String> {
    let zip = target.join("lambda").join(PACKAGE).join("bootstrap.zip");
    let inputs = newest_input()?;
    if modified(&zip).is_some_and(|built| built >= inputs) {
        return Ok(Zip {
            bytes: size(&zip)?,
            how: "arm64, cargo lambda, up to date".to_owned(),
        });
    }
    if lambda_build {
        let mut build = cargo();
        build.args([
            "lambda",
            "build",
            "--release",
            "--arm64",
            "--output-format",
            "zip",
            "-p",
            PACKAGE,
        ]);
        run(
            build,
            "cargo lambda build --release --arm64 --output-format zip",
        )?;
        return Ok(Zip {
            bytes: size(&zip)?,
            how: "arm64, cargo lambda, rebuilt now".to_owned(),
        });
    }
    let dir = target.join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(host_binary, &bootstrap).map_err(|e| format!("{}: {e}", bootstrap.display()))?;
    let host_zip = dir.join("bootstrap-host.zip");
    // zip appends to an existing archive; start afresh.
    let _ = std::fs::remove_file(&host_zip);
    let mut pack = Command::new("zip");
    pack.args(["-q", "-9", "-j"]).arg(&host_zip).arg(&bootstrap);
    run(pack, "zip")?;
    Ok(Zip {
        bytes: size(&host_zip)?,
        how: format!(
            "HOST ({}) binary zipped, not the arm64 build: --no-lambda-build and a stale bootstrap.zip",
            std::env::consts::ARCH
        ),
    })
}

fn size(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification among the files the function is built from.
fn newest_input() -> Result<SystemTime, String> {
    let root = workspace_root();
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut pending = vec![root.join("lambda")];
    for file in ["Cargo.toml", "Cargo.lock"] {
        newest = newest.max(modified(&root.join(file)).unwrap_or(newest));
    }
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            // Tests do not go into the binary.
            if path.is_dir() && path.file_name().is_some_and(|n| n != "tests") {
                pending.push(path);
            } else if path.is_file() {
                newest = newest.max(modified(&path).unwrap_or(newest));
            }
        }
    }
    Ok(newest)
}
