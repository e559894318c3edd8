//! Configuration, read once per cold start from environment variables into a typed struct.
//!
//! The names are an interface: the CDK stack sets them and operators read them in the README.
//! `lambda/env-vars.json` lists them for both sides; a test below keeps this file and it in step.

use std::num::NonZeroU32;
use std::time::Duration;

use thiserror::Error;

use crate::domain::ids::is_connect_id;

pub const CONNECT_INSTANCE_ID: &str = "CONNECT_INSTANCE_ID";
pub const SALESFORCE_SECRET_ID: &str = "SALESFORCE_SECRET_ID";
pub const SALESFORCE_API_VERSION: &str = "SALESFORCE_API_VERSION";
pub const CONTACT_CONCURRENCY: &str = "CONTACT_CONCURRENCY";
pub const UPLOAD_BATCH_SIZE: &str = "UPLOAD_BATCH_SIZE";
pub const UPLOAD_MAX_BYTES: &str = "UPLOAD_MAX_BYTES";
pub const RETRY_MAX_ATTEMPTS: &str = "RETRY_MAX_ATTEMPTS";
pub const RETRY_BASE_DELAY_MS: &str = "RETRY_BASE_DELAY_MS";
pub const DEADLINE_RESERVE_MS: &str = "DEADLINE_RESERVE_MS";
pub const AWS_ATTEMPT_TIMEOUT_MS: &str = "AWS_ATTEMPT_TIMEOUT_MS";
pub const CONTACT_LENS_REQUESTS_PER_SECOND: &str = "CONTACT_LENS_REQUESTS_PER_SECOND";

/// Connect REST conversation uploads exist since 51.0; 64.0 is Summer '25.
pub const DEFAULT_API_VERSION: &str = "64.0";
const MIN_API_VERSION: f64 = 51.0;
/// The upload resource accepts 512 MB; stay far below so one request never nears it.
const MAX_UPLOAD_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub connect_instance_id: String,
    pub salesforce_secret_id: String,
    pub salesforce_api_version: String,
    /// Contacts fetched from Contact Lens at the same time.
    pub contact_concurrency: usize,
    /// Pace of Contact Lens requests from one function instance. Staying under the account's
    /// quota matters: throttled retries draw on the SDK's retry budget, and once that is spent
    /// contacts fail as THROTTLED.
    pub contact_lens_rate: NonZeroU32,
    /// Conversations per Salesforce upload request.
    pub upload_batch_size: usize,
    /// Upper bound on one upload request's body.
    pub upload_max_bytes: usize,
    pub retry: RetrySettings,
    /// Time kept back before the invocation deadline: no new contact starts after
    /// `deadline - reserve`, so uploads and the response still fit. Capped at a quarter of
    /// the time an invocation has left.
    pub deadline_reserve: Duration,
}

/// Shared by the AWS SDK clients (adaptive mode) and the Salesforce client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// One AWS request try; a slow page is abandoned and retried rather than waited for.
    pub aws_attempt_timeout: Duration,
}

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} {rule}, got {value:?}")]
    Invalid {
        name: &'static str,
        rule: String,
        value: String,
    },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let connect_instance_id = required(CONNECT_INSTANCE_ID)?;
        if !is_connect_id(&connect_instance_id) {
            return Err(invalid(
                CONNECT_INSTANCE_ID,
                "must be an Amazon Connect instance id (a UUID)",
                &connect_instance_id,
            ));
        }
        let salesforce_secret_id = required(SALESFORCE_SECRET_ID)?;
        let salesforce_api_version =
            get(SALESFORCE_API_VERSION).unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        if !is_api_version(&salesforce_api_version) {
            return Err(invalid(
                SALESFORCE_API_VERSION,
                "must look like 64.0 and be at least 51.0",
                &salesforce_api_version,
            ));
        }

        let number =
            |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(raw) => raw
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (min..=max).contains(n))
                        .ok_or_else(|| invalid(name, range_rule(min, max), &raw)),
                }
            };

        Ok(Config {
            connect_instance_id,
            salesforce_secret_id,
            salesforce_api_version,
            contact_concurrency: number(CONTACT_CONCURRENCY, 10, 1, 100)? as usize,
            // The quota is not published by AWS; 1 request/second (burst 2) is the lowest
            // figure reported, so the default never relies on more.
            contact_lens_rate: NonZeroU32::new(number(
                CONTACT_LENS_REQUESTS_PER_SECOND,
                1,
                1,
                1_000,
            )? as u32)
            .expect("the range starts at 1"),
            upload_batch_size: number(UPLOAD_BATCH_SIZE, 25, 1, 100)? as usize,
            upload_max_bytes: number(
                UPLOAD_MAX_BYTES,
                8 * 1024 * 1024,
                64 * 1024,
                MAX_UPLOAD_BYTES as u64,
            )? as usize,
            retry: RetrySettings {
                max_attempts: number(RETRY_MAX_ATTEMPTS, 6, 1, 20)? as u32,
                base_delay: Duration::from_millis(number(RETRY_BASE_DELAY_MS, 500, 1, 60_000)?),
                aws_attempt_timeout: Duration::from_millis(number(
                    AWS_ATTEMPT_TIMEOUT_MS,
                    10_000,
                    100,
                    120_000,
                )?),
            },
            deadline_reserve: Duration::from_millis(number(
                DEADLINE_RESERVE_MS,
                10_000,
                0,
                600_000,
            )?),
        })
    }
}

fn invalid(name: &'static str, rule: impl Into<String>, value: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        rule: rule.into(),
        value: value.chars().take(80).collect(),
    }
}

fn range_rule(min: u64, max: u64) -> String {
    format!("must be a whole number from {min} to {max}")
}

fn is_api_version(v: &str) -> bool {
    let Some((major, minor)) = v.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major)
        && minor.len() == 1
        && digits(minor)
        && v.parse::<f64>().is_ok_and(|n| n >= MIN_API_VERSION)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    use super::*;

    const INSTANCE: &str = "11111111-2222-3333-4444-555555555555";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_required_values_are_set() {
        let c = config(&[
            (CONNECT_INSTANCE_ID, INSTANCE),
            (SALESFORCE_SECRET_ID, "sf"),
        ])
        .unwrap();
        assert_eq!(c.salesforce_api_version, "64.0");
        assert_eq!(c.contact_concurrency, 10);
        assert_eq!(c.upload_batch_size, 25);
        assert_eq!(c.retry.max_attempts, 6);
        assert_eq!(c.deadline_reserve, Duration::from_secs(10));
    }

    #[test]
    fn missing_required_values_are_named() {
        assert_eq!(
            config(&[(SALESFORCE_SECRET_ID, "sf")]),
            Err(ConfigError::Missing(CONNECT_INSTANCE_ID))
        );
        assert_eq!(
            config(&[(CONNECT_INSTANCE_ID, INSTANCE)]),
            Err(ConfigError::Missing(SALESFORCE_SECRET_ID))
        );
    }

    #[test]
    fn malformed_values_name_the_variable_and_rule() {
        let base = [
            (CONNECT_INSTANCE_ID, INSTANCE),
            (SALESFORCE_SECRET_ID, "sf"),
        ];
        for (name, value) in [
            (UPLOAD_BATCH_SIZE, "0"),
            (UPLOAD_BATCH_SIZE, "101"),
            (CONTACT_CONCURRENCY, "ten"),
            (SALESFORCE_API_VERSION, "v64"),
            (SALESFORCE_API_VERSION, "50.0"),
            (CONNECT_INSTANCE_ID, "not-an-id"),
        ] {
            let mut vars = base.to_vec();
            vars.retain(|(k, _)| *k != name);
            vars.push((name, value));
            let err = config(&vars).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
            assert!(err.contains("must"), "{err}");
        }
    }

    /// The CDK stack sets variables from `lambda/env-vars.json`; this keeps that file equal to
    /// what the function actually reads.
    #[test]
    fn env_vars_file_lists_exactly_the_variables_read() {
        let read = RefCell::new(BTreeSet::new());
        Config::from_lookup(|name| {
            read.borrow_mut().insert(name.to_owned());
            match name {
                CONNECT_INSTANCE_ID => Some(INSTANCE.to_owned()),
                SALESFORCE_SECRET_ID => Some("sf".to_owned()),
                _ => None,
            }
        })
        .unwrap();

        let file: serde_json::Value =
            serde_json::from_str(include_str!("../env-vars.json")).unwrap();
        let listed = |key: &str| -> BTreeSet<String> {
            file[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let mut all = listed("required");
        all.extend(listed("optional"));
        assert_eq!(read.into_inner(), all);

        let missing = config(&[]).unwrap_err();
        assert!(listed("required").contains(&match missing {
            ConfigError::Missing(name) => name.to_owned(),
            other => panic!("{other}"),
        }));
    }
}
