//! The sandbox: all four emulators with the sample contacts, for running the function locally.
//!
//! ```text
//! emulators [--env-file PATH] [--instance-id ID] [--connect-port N] [--contact-lens-port N]
//!           [--secrets-manager-port N] [--salesforce-port N]
//! ```
//! Writes the function's environment (KEY=VALUE lines) to the env file, or stdout without one,
//! then serves until interrupted, logging each request to stderr.

use std::process::ExitCode;

use emulators::{Emulators, Ports, SANDBOX_SECRET_ID, register_sandbox_salesforce, sample_world};

const DEFAULT_INSTANCE_ID: &str = "8e7b2f4c-1d3a-4e5b-9c6d-0a1b2c3d4e5f";
const USAGE: &str = "usage: emulators [--env-file PATH] [--instance-id ID] [--connect-port N] \
                     [--contact-lens-port N] [--secrets-manager-port N] [--salesforce-port N]";

struct Args {
    env_file: Option<String>,
    instance_id: String,
    ports: Ports,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        env_file: None,
        instance_id: DEFAULT_INSTANCE_ID.to_owned(),
        ports: Ports::default(),
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
            "--connect-port" => parsed.ports.connect = port()?,
            "--contact-lens-port" => parsed.ports.contact_lens = port()?,
            "--secrets-manager-port" => parsed.ports.secrets_manager = port()?,
            "--salesforce-port" => parsed.ports.salesforce = port()?,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(parsed)
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
    register_sandbox_salesforce(&world, &emulators.salesforce.url());

    let mut env = emulators.aws_env();
    env.push(("CONNECT_INSTANCE_ID".into(), args.instance_id.clone()));
    env.push(("SALESFORCE_SECRET_ID".into(), SANDBOX_SECRET_ID.into()));
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
        "salesforce at {} (login and instance URL); Ctrl-C to stop",
        emulators.salesforce.url()
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("cannot wait for Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
