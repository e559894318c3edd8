//! The function as Lambda runs it: the release binary in its own process, configured only by
//! environment variables, taking invocations from the Runtime API.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use tokio::process::{Child, Command};

/// A running function process; killed when dropped, so a failed run leaves nothing behind.
pub struct Function {
    child: Child,
}

impl Function {
    /// Starts `binary` with exactly `env` (nothing inherited, as in Lambda, so the caller's AWS
    /// profile cannot leak in) and its output in `log`. Returns it with the instant just before
    /// the spawn, from which the cold start is counted.
    pub fn spawn(
        binary: &Path,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<(Function, Instant), String> {
        let out = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let started = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        Ok((Function { child }, started))
    }

    /// Peak resident set size so far (VmHWM of /proc/PID/status), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Kills the process and reaps it.
    pub async fn stop(mut self) {
        // It may have exited on its own already; either way it is gone afterwards.
        let _ = self.child.kill().await;
    }
}
