//! The sandbox: all the emulators with the sample contacts, for running the function locally.
//!
//! ```text
//! emulators [--env-file PATH] [--instance-id ID] [--secret-format project|scv|scv-ssm]
//!           [--connect-port N] [--contact-lens-port N] [--secrets-manager-port N]
//!           [--ssm-port N] [--s3-port N] [--sqs-port N] [--salesforce-port N]
//!           [--salesforce-api-port N]
//! ```
//! Two Salesforce servers share one org: the first is the login host (and the instance URL
//! its tokens name), the second the REST API base of the Service Cloud Voice secret and
//! parameters, `{second}/services/data/v62.0/`. The world holds both the project's secret and
//! SCV's (secrets and SSM parameters of call center `SandboxCallCenter`); `--secret-format`
//! picks which one the function is told to read. The sample contacts older than 24 hours have
//! their Contact Lens post-call analysis files in S3, in the bucket named by `ANALYSIS_BUCKET`.
//! Writes the function's environment (KEY=VALUE lines) to the env file, or stdout without one,
//! then serves until interrupted, logging each request to stderr.

use std::process::ExitCode;

use emulators::{
    Emulators, Ports, SAMPLE_ANALYSIS_BUCKET, SANDBOX_CALL_CENTER, SANDBOX_SECRET_ID,
    register_sandbox_salesforce, register_scv_salesforce, sample_world, scv_secret_name,
    scv_token_secret_name, start_salesforce_on,
};

const DEFAULT_INSTANCE_ID: &str = "8e7b2f4c-1d3a-4e5b-9c6d-0a1b2c3d4e5f";
const SANDBOX_BACKFILL_BUCKET: &str = "contact-data-sync-sandbox-backfill";
/// The API version of the SCV REST API base.
const SCV_API_PATH: &str = "/services/data/v62.0/";
const USAGE: &str = "usage: emulators [--env-file PATH] [--instance-id ID] \
                     [--secret-format project|scv|scv-ssm] [--connect-port N] \
                     [--contact-lens-port N] [--secrets-manager-port N] [--ssm-port N] \
                     [--s3-port N] [--sqs-port N] [--salesforce-port N] \
                     [--salesforce-api-port N]";

/// Where the function is told to find its Salesforce connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SecretFormat {
    /// The project's own secret, `contact-data-sync/salesforce`.
    Project,
    /// SCV's secret and its token-cache secret.
    Scv,
    /// SCV's SSM parameters, with the endpoints in the environment.
    ScvSsm,
}

struct Args {
    env_file: Option<String>,
    instance_id: String,
    secret_format: SecretFormat,
    ports: Ports,
    salesforce_api_port: u16,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        env_file: None,
        instance_id: DEFAULT_INSTANCE_ID.to_owned(),
        secret_format: SecretFormat::Project,
        ports: Ports::default(),
        salesforce_api_port: 0,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let port = || value.parse::<u16>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--env-file" => parsed.env_file = Some(value.clone()),
            "--instance-id" => parsed.instance_id = value.clone(),
            "--secret-format" => parsed.secret_format = secret_format(&value)?,
            "--connect-port" => parsed.ports.connect = port()?,
            "--contact-lens-port" => parsed.ports.contact_lens = port()?,
            "--secrets-manager-port" => parsed.ports.secrets_manager = port()?,
            "--ssm-port" => parsed.ports.ssm = port()?,
            "--s3-port" => parsed.ports.s3 = port()?,
            "--sqs-port" => parsed.ports.sqs = port()?,
            "--salesforce-port" => parsed.ports.salesforce = port()?,
            "--salesforce-api-port" => parsed.salesforce_api_port = port()?,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(parsed)
}

fn secret_format(value: &str) -> Result<SecretFormat, String> {
    match value {
        "project" => Ok(SecretFormat::Project),
        "scv" => Ok(SecretFormat::Scv),
        "scv-ssm" => Ok(SecretFormat::ScvSsm),
        _ => Err(format!(
            "--secret-format: {value:?} is not project, scv or scv-ssm\n{USAGE}"
        )),
    }
}

/// The function's Salesforce settings for `format`; `login_url` is the login host and
/// `rest_api_base` the SCV REST API base.
fn salesforce_env(
    format: SecretFormat,
    login_url: &str,
    rest_api_base: &str,
) -> Vec<(String, String)> {
    let pairs = match format {
        SecretFormat::Project => vec![("SALESFORCE_SECRET_ID", SANDBOX_SECRET_ID.to_owned())],
        SecretFormat::Scv => vec![
            ("SALESFORCE_SECRET_ID", scv_secret_name(SANDBOX_CALL_CENTER)),
            (
                "SALESFORCE_TOKEN_SECRET_ID",
                scv_token_secret_name(SANDBOX_CALL_CENTER),
            ),
        ],
        SecretFormat::ScvSsm => vec![
            ("SALESFORCE_SSM_CALL_CENTER", SANDBOX_CALL_CENTER.to_owned()),
            (
                "SALESFORCE_AUTH_ENDPOINT",
                format!("{login_url}/services/oauth2/token"),
            ),
            (
                "SALESFORCE_REST_API_ENDPOINT_BASE",
                rest_api_base.to_owned(),
            ),
        ],
    };
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let world = sample_world(&args.instance_id);
    world.log_requests(true);
    let emulators = Emulators::start_on(&world, args.ports).await;
    let salesforce_api = start_salesforce_on(&world, args.salesforce_api_port).await;
    let login_url = emulators.salesforce.url();
    let rest_api_base = format!("{}{SCV_API_PATH}", salesforce_api.url());
    register_sandbox_salesforce(&world, &login_url);
    register_scv_salesforce(&world, SANDBOX_CALL_CENTER, &login_url, &rest_api_base);

    let mut env = emulators.aws_env();
    env.push(("CONNECT_INSTANCE_ID".into(), args.instance_id.clone()));
    env.push(("ANALYSIS_BUCKET".into(), SAMPLE_ANALYSIS_BUCKET.to_owned()));
    // The bucket a deployed backfill state machine would have, for its first step.
    world.create_bucket(SANDBOX_BACKFILL_BUCKET);
    env.push(("BACKFILL_BUCKET".into(), SANDBOX_BACKFILL_BUCKET.to_owned()));
    env.extend(salesforce_env(
        args.secret_format,
        &login_url,
        &rest_api_base,
    ));
    let env_text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    match &args.env_file {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &env_text) {
                eprintln!("cannot write {path}: {e}");
                return ExitCode::FAILURE;
            }
            eprintln!("environment written to {path}");
        }
        None => print!("{env_text}"),
    }
    eprintln!(
        "salesforce at {login_url} (login and instance URL), SCV REST API base \
         {rest_api_base}; Ctrl-C to stop"
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn flags_set_ports_and_the_secret_format() {
        let args = parse(&[
            "--ssm-port",
            "4601",
            "--salesforce-api-port",
            "4602",
            "--s3-port",
            "4603",
            "--secret-format",
            "scv-ssm",
        ])
        .unwrap();
        assert_eq!(args.ports.ssm, 4601);
        assert_eq!(args.salesforce_api_port, 4602);
        assert_eq!(args.ports.s3, 4603);
        assert_eq!(args.secret_format, SecretFormat::ScvSsm);
        assert_eq!(parse(&[]).unwrap().secret_format, SecretFormat::Project);
        let bad = parse(&["--secret-format", "ssm"]).err().unwrap();
        assert!(bad.contains("not project, scv or scv-ssm"), "{bad}");
        assert!(parse(&["--ssm-port", "x"]).is_err());
    }

    #[test]
    fn each_secret_format_names_its_own_salesforce_settings() {
        let env =
            |format| salesforce_env(format, "http://login", "http://api/services/data/v62.0/");
        let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            env(SecretFormat::Project),
            pairs(&[("SALESFORCE_SECRET_ID", "contact-data-sync/salesforce")])
        );
        assert_eq!(
            env(SecretFormat::Scv),
            pairs(&[
                (
                    "SALESFORCE_SECRET_ID",
                    "SandboxCallCenter-salesforce-secret"
                ),
                (
                    "SALESFORCE_TOKEN_SECRET_ID",
                    "SandboxCallCenter-salesforce-access-token-secret"
                ),
            ])
        );
        assert_eq!(
            env(SecretFormat::ScvSsm),
            pairs(&[
                ("SALESFORCE_SSM_CALL_CENTER", "SandboxCallCenter"),
                (
                    "SALESFORCE_AUTH_ENDPOINT",
                    "http://login/services/oauth2/token"
                ),
                (
                    "SALESFORCE_REST_API_ENDPOINT_BASE",
                    "http://api/services/data/v62.0/"
                ),
            ])
        );
    }
}
