//! Configuration, read once per cold start from environment variables into a typed struct.
//!
//! The names are an interface: the CDK stack sets them and operators read them in
//! `docs/configuration.md`.
//! `lambda/env-vars.json` lists them for both sides; a test below keeps this file and it in step.

use std::time::Duration;

use thiserror::Error;

use crate::domain::ids::is_connect_id;
use crate::domain::org::same_secret;

pub const CONNECT_INSTANCE_ID: &str = "CONNECT_INSTANCE_ID";
pub const SALESFORCE_SECRET_ID: &str = "SALESFORCE_SECRET_ID";
pub const SALESFORCE_EXTRA_SECRET_IDS: &str = "SALESFORCE_EXTRA_SECRET_IDS";
pub const SALESFORCE_TOKEN_SECRET_ID: &str = "SALESFORCE_TOKEN_SECRET_ID";
pub const SALESFORCE_EXTRA_TOKEN_SECRET_IDS: &str = "SALESFORCE_EXTRA_TOKEN_SECRET_IDS";
pub const SALESFORCE_SSM_CALL_CENTER: &str = "SALESFORCE_SSM_CALL_CENTER";
pub const SALESFORCE_SSM_KMS_KEY_ID: &str = "SALESFORCE_SSM_KMS_KEY_ID";
pub const SALESFORCE_AUTH_ENDPOINT: &str = "SALESFORCE_AUTH_ENDPOINT";
pub const SALESFORCE_REST_API_ENDPOINT_BASE: &str = "SALESFORCE_REST_API_ENDPOINT_BASE";
pub const SALESFORCE_API_VERSION: &str = "SALESFORCE_API_VERSION";
pub const CONTACT_CONCURRENCY: &str = "CONTACT_CONCURRENCY";
pub const UPLOAD_BATCH_SIZE: &str = "UPLOAD_BATCH_SIZE";
pub const UPLOAD_MAX_BYTES: &str = "UPLOAD_MAX_BYTES";
pub const RETRY_MAX_ATTEMPTS: &str = "RETRY_MAX_ATTEMPTS";
pub const RETRY_BASE_DELAY_MS: &str = "RETRY_BASE_DELAY_MS";
pub const DEADLINE_RESERVE_MS: &str = "DEADLINE_RESERVE_MS";
pub const AWS_ATTEMPT_TIMEOUT_MS: &str = "AWS_ATTEMPT_TIMEOUT_MS";
pub const CONTACT_LENS_REQUESTS_PER_SECOND: &str = "CONTACT_LENS_REQUESTS_PER_SECOND";
pub const DESCRIBE_CONTACT_REQUESTS_PER_SECOND: &str = "DESCRIBE_CONTACT_REQUESTS_PER_SECOND";
pub const SALESFORCE_ENTRIES_READS_PER_HOUR: &str = "SALESFORCE_ENTRIES_READS_PER_HOUR";
pub const SALESFORCE_API_USAGE_CEILING_PERCENT: &str = "SALESFORCE_API_USAGE_CEILING_PERCENT";
pub const ANALYSIS_BUCKET: &str = "ANALYSIS_BUCKET";
pub const ANALYSIS_PREFER_REDACTED: &str = "ANALYSIS_PREFER_REDACTED";
pub const BACKFILL_BUCKET: &str = "BACKFILL_BUCKET";
pub const REPAIR_TRANSCRIPT_HORIZON_HOURS: &str = "REPAIR_TRANSCRIPT_HORIZON_HOURS";
pub const REPAIR_QUEUE_URL: &str = "REPAIR_QUEUE_URL";

/// Connect REST conversation uploads exist since 51.0; 64.0 is Summer '25.
pub const DEFAULT_API_VERSION: &str = "64.0";
const MIN_API_VERSION: f64 = 51.0;
/// The upload resource accepts 512 MB; stay far below so one request never nears it.
const MAX_UPLOAD_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub connect_instance_id: String,
    pub salesforce: OrgSettings,
    /// The bucket of Contact Lens post-call analysis files, read when real-time segments are
    /// gone; `None` turns that fallback off.
    pub analysis_bucket: Option<String>,
    /// Read the redacted analysis file before the raw one.
    pub analysis_prefer_redacted: bool,
    /// The backfill state machine's bucket, which summarizeBackfill reads and writes; `None`
    /// when the stack has no backfill.
    pub backfill_bucket: Option<String>,
    pub salesforce_api_version: String,
    /// Contacts fetched from Contact Lens at the same time.
    pub contact_concurrency: usize,
    /// This instance's shares of the deployment's quota budgets.
    pub shares: QuotaShares,
    /// The share of the org's daily API allocation above which the function stops spending it.
    pub api_usage_ceiling_percent: u8,
    /// Conversations per Salesforce upload request.
    pub upload_batch_size: usize,
    /// Upper bound on one upload request's body.
    pub upload_max_bytes: usize,
    pub retry: RetrySettings,
    /// Time kept back before the invocation deadline: no new contact starts after
    /// `deadline - reserve`, so uploads and the response still fit. Capped at a quarter of
    /// the time an invocation has left.
    pub deadline_reserve: Duration,
    /// How long after a call automatic repair keeps waiting for a transcript that is not
    /// there yet (a post-call file Contact Lens has not written) before giving up on it.
    pub repair_transcript_horizon: Duration,
    /// Automatic repair's queue, into which a message waiting for a budget is sent back with a
    /// delay; `None` leaves such messages to SQS's redelivery (and the dead-letter queue).
    pub repair_queue_url: Option<String>,
}

/// Where one Salesforce org's credentials are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// A Secrets Manager secret in the project's format or SCV's.
    Secret(String),
    /// The SSM parameters of an older SCV deployment, with its token URL and REST base.
    Ssm {
        call_center: String,
        auth_endpoint: String,
        rest_api_endpoint_base: String,
        /// The customer managed KMS key of SCV's SecureStrings, which the access token is
        /// written back with: a write naming no key re-encrypts it with aws/ssm.
        kms_key_id: Option<String>,
    },
}

/// The Salesforce orgs the function serves; a request picks one with `secretName`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSettings {
    pub default: CredentialSource,
    pub extra_secret_ids: Vec<String>,
    /// The default org's token-cache secret.
    pub token_secret_id: Option<String>,
    /// The token-cache secrets of orgs of `extra_secret_ids`, at most one each.
    pub extra_token_secret_ids: Vec<TokenPairing>,
}

/// An org of `extra_secret_ids` and the token-cache secret that belongs to it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPairing {
    /// The entry of `extra_secret_ids` as configured.
    pub org_secret_id: String,
    pub token_secret_id: String,
}

/// One function instance's share of each quota, as the time between two requests: the stack
/// divides each budget among the instances that can run at once. Staying under a quota matters:
/// the quotas are the account's and the org's, shared with the customer's other systems, and
/// the entries reads also count against the org's concurrent session limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuotaShares {
    /// Contact Lens ListRealtimeContactAnalysisSegments: 1/s unless set, the account's quota.
    pub contact_lens: Duration,
    /// Amazon Connect DescribeContact; not paced unless set (the stack sets it).
    pub describe_contact: Option<Duration>,
    /// Salesforce conversation entries GETs; not paced unless set (the stack sets it).
    pub entries_reads: Option<Duration>,
}

/// Shared by the AWS SDK clients (standard retry mode) and the Salesforce client.
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
    #[error(
        "set either SALESFORCE_SECRET_ID (a Secrets Manager secret) or SALESFORCE_SSM_CALL_CENTER \
         with SALESFORCE_AUTH_ENDPOINT and SALESFORCE_REST_API_ENDPOINT_BASE (SSM parameters){0}"
    )]
    SalesforceSource(&'static str),
    /// A token-cache secret that is not one org's own: tokens would be written where they
    /// do not belong.
    #[error("environment variable {name} {problem}")]
    Pairing { name: &'static str, problem: String },
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
        let salesforce = org_settings(&get)?;
        let analysis_bucket = get(ANALYSIS_BUCKET).map(|b| b.trim().to_owned());
        let backfill_bucket = get(BACKFILL_BUCKET).map(|b| b.trim().to_owned());
        let analysis_prefer_redacted = match get(ANALYSIS_PREFER_REDACTED).as_deref().map(str::trim)
        {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(invalid(
                    ANALYSIS_PREFER_REDACTED,
                    "must be true or false",
                    other,
                ));
            }
        };
        let repair_queue_url = get(REPAIR_QUEUE_URL).map(|u| u.trim().to_owned());
        if let Some(url) = &repair_queue_url
            && !is_queue_url(url)
        {
            return Err(invalid(
                REPAIR_QUEUE_URL,
                "must be an SQS queue URL: https (http only for a loopback host), with the \
                 queue's path",
                url,
            ));
        }
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
        // A rate per second, which may be a fraction (a share of 1/s among 4 instances is
        // 0.25), as the time between two requests.
        let per_second = |name: &'static str, default: f64| -> Result<Duration, ConfigError> {
            let rate = match get(name) {
                None => default,
                Some(raw) => raw
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (MIN_RATE..=MAX_RATE).contains(r))
                    .ok_or_else(|| {
                        invalid(
                            name,
                            "must be a number of requests per second from 0.0003 (about one an hour) to 1000",
                            &raw,
                        )
                    })?,
            };
            Ok(Duration::from_secs_f64(1.0 / rate))
        };

        Ok(Config {
            connect_instance_id,
            salesforce,
            analysis_bucket,
            analysis_prefer_redacted,
            backfill_bucket,
            salesforce_api_version,
            contact_concurrency: number(CONTACT_CONCURRENCY, 10, 1, 100)? as usize,
            shares: QuotaShares {
                // The account's quota is 1 request/second with a burst of 2 (Amazon Connect
                // service quotas); the pace holds one token, so it never relies on the burst.
                contact_lens: per_second(CONTACT_LENS_REQUESTS_PER_SECOND, 1.0)?,
                // About 10 requests/second for the account (Service Quotas).
                describe_contact: match get(DESCRIBE_CONTACT_REQUESTS_PER_SECOND) {
                    None => None,
                    Some(_) => Some(per_second(DESCRIBE_CONTACT_REQUESTS_PER_SECOND, 1.0)?),
                },
                // 1,000 an hour per connected app and user by default (Salesforce Help, "Get
                // Conversation Data Using Connect REST API").
                entries_reads: match get(SALESFORCE_ENTRIES_READS_PER_HOUR) {
                    None => None,
                    Some(_) => Some(
                        Duration::from_secs(3_600)
                            / number(SALESFORCE_ENTRIES_READS_PER_HOUR, 1, 1, 1_000_000)? as u32,
                    ),
                },
            },
            api_usage_ceiling_percent: number(SALESFORCE_API_USAGE_CEILING_PERCENT, 80, 1, 100)?
                as u8,
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
            repair_transcript_horizon: Duration::from_secs(
                number(REPAIR_TRANSCRIPT_HORIZON_HOURS, 48, 1, 720)? * 3_600,
            ),
            repair_queue_url,
        })
    }
}

fn org_settings(get: &impl Fn(&'static str) -> Option<String>) -> Result<OrgSettings, ConfigError> {
    let list = |name: &'static str| -> Vec<String> {
        get(name).map_or_else(Vec::new, |raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    };
    let token_secret_id = get(SALESFORCE_TOKEN_SECRET_ID).map(|v| v.trim().to_owned());
    let kms_key_id = get(SALESFORCE_SSM_KMS_KEY_ID).map(|v| v.trim().to_owned());
    if let Some(key) = &kms_key_id
        && !is_kms_key_id(key)
    {
        return Err(invalid(
            SALESFORCE_SSM_KMS_KEY_ID,
            "must be a KMS key id, key ARN, alias name (alias/...) or alias ARN",
            key,
        ));
    }
    let default = match (get(SALESFORCE_SECRET_ID), get(SALESFORCE_SSM_CALL_CENTER)) {
        (Some(_), Some(_)) => return Err(ConfigError::SalesforceSource(", not both")),
        (None, None) => return Err(ConfigError::SalesforceSource("")),
        (Some(id), None) => {
            if let Some(key) = &kms_key_id {
                return Err(invalid(
                    SALESFORCE_SSM_KMS_KEY_ID,
                    "applies to SALESFORCE_SSM_CALL_CENTER's parameters; a secret keeps its own \
                     key, so leave it unset",
                    key,
                ));
            }
            CredentialSource::Secret(id.trim().to_owned())
        }
        (None, Some(call_center)) => {
            let call_center = call_center.trim().to_owned();
            if !is_call_center_name(&call_center) {
                return Err(invalid(
                    SALESFORCE_SSM_CALL_CENTER,
                    "must be a call center API name (a letter, then letters, digits or _)",
                    &call_center,
                ));
            }
            if token_secret_id.is_some() {
                return Err(invalid(
                    SALESFORCE_TOKEN_SECRET_ID,
                    "applies to SALESFORCE_SECRET_ID; with SALESFORCE_SSM_CALL_CENTER the token is \
                     shared through its access-token parameter, so leave it unset",
                    token_secret_id.as_deref().unwrap_or_default(),
                ));
            }
            let url = |name: &'static str| -> Result<String, ConfigError> {
                let value = get(name).ok_or(ConfigError::SalesforceSource(
                    "; SALESFORCE_SSM_CALL_CENTER needs both URLs",
                ))?;
                if !is_web_url(&value) {
                    return Err(invalid(name, "must be an https URL", &value));
                }
                Ok(value.trim().to_owned())
            };
            CredentialSource::Ssm {
                call_center,
                auth_endpoint: url(SALESFORCE_AUTH_ENDPOINT)?,
                rest_api_endpoint_base: url(SALESFORCE_REST_API_ENDPOINT_BASE)?,
                kms_key_id,
            }
        }
    };
    let extra_secret_ids = list(SALESFORCE_EXTRA_SECRET_IDS);
    let extra_token_secret_ids = token_pairings(
        &list(SALESFORCE_EXTRA_TOKEN_SECRET_IDS),
        &default,
        &extra_secret_ids,
        token_secret_id.as_deref(),
    )?;
    Ok(OrgSettings {
        default,
        extra_secret_ids,
        token_secret_id,
        extra_token_secret_ids,
    })
}

/// Reads `ORG_SECRET|TOKEN_SECRET` entries: each names an org of SALESFORCE_EXTRA_SECRET_IDS (by
/// name or ARN) and its token-cache secret. A token-cache secret belongs to exactly one org and
/// is no org's credentials, since the function writes access tokens into it.
fn token_pairings(
    entries: &[String],
    default: &CredentialSource,
    extras: &[String],
    default_token: Option<&str>,
) -> Result<Vec<TokenPairing>, ConfigError> {
    let default_secret = match default {
        CredentialSource::Secret(id) => Some(id.as_str()),
        CredentialSource::Ssm { .. } => None,
    };
    let org_secret = |token: &str| {
        default_secret
            .into_iter()
            .chain(extras.iter().map(String::as_str))
            .find(|org| same_secret(token, org))
    };
    let not_credentials = |name: &'static str, token: &str| match org_secret(token) {
        Some(org) => Err(ConfigError::Pairing {
            name,
            problem: format!(
                "names {token:?} as a token-cache secret, but it is the Salesforce secret {org:?}; \
                 a token-cache secret must be a secret of its own"
            ),
        }),
        None => Ok(()),
    };
    if let Some(token) = default_token {
        not_credentials(SALESFORCE_TOKEN_SECRET_ID, token)?;
    }
    let problem = |problem: String| ConfigError::Pairing {
        name: SALESFORCE_EXTRA_TOKEN_SECRET_IDS,
        problem,
    };
    let mut pairings: Vec<TokenPairing> = Vec::with_capacity(entries.len());
    for entry in entries {
        let pair = entry
            .split_once('|')
            .map(|(org, token)| (org.trim(), token.trim()))
            .filter(|(org, token)| !org.is_empty() && !token.is_empty() && !token.contains('|'));
        let Some((org, token)) = pair else {
            return Err(problem(format!(
                "entries must each pair an org of {SALESFORCE_EXTRA_SECRET_IDS} with its \
                 token-cache secret as ORG_SECRET|TOKEN_SECRET, got {entry:?}"
            )));
        };
        let Some(org_secret_id) = extras.iter().find(|id| same_secret(org, id)) else {
            let hint = if default_secret.is_some_and(|id| same_secret(org, id)) {
                format!("; the default org's token-cache secret is {SALESFORCE_TOKEN_SECRET_ID}")
            } else {
                String::new()
            };
            return Err(problem(format!(
                "pairs {org:?}, which is not listed in {SALESFORCE_EXTRA_SECRET_IDS}{hint}"
            )));
        };
        if pairings.iter().any(|p| p.org_secret_id == *org_secret_id) {
            return Err(problem(format!(
                "pairs {org:?} more than once; an org has one token-cache secret"
            )));
        }
        not_credentials(SALESFORCE_EXTRA_TOKEN_SECRET_IDS, token)?;
        let owner = default_token
            .filter(|t| same_secret(token, t))
            .map(|_| format!("the default org ({SALESFORCE_TOKEN_SECRET_ID})"))
            .or_else(|| {
                pairings
                    .iter()
                    .find(|p| same_secret(token, &p.token_secret_id))
                    .map(|p| format!("{:?}", p.org_secret_id))
            });
        if let Some(owner) = owner {
            return Err(problem(format!(
                "gives {token:?} to {org:?}, but it is the token-cache secret of {owner}; each \
                 token-cache secret belongs to exactly one org"
            )));
        }
        pairings.push(TokenPairing {
            org_secret_id: org_secret_id.clone(),
            token_secret_id: token.to_owned(),
        });
    }
    Ok(pairings)
}

/// Salesforce API names: a letter, then letters, digits or underscores.
fn is_call_center_name(name: &str) -> bool {
    name.len() <= 80
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The forms PutParameter's KeyId takes: a key id (a UUID, or mrk- and 32 hex digits for a
/// multi-Region key), a key or alias ARN, or an alias name.
fn is_kms_key_id(key: &str) -> bool {
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    let kms_arn = key.starts_with("arn:")
        && key.split(':').nth(2) == Some("kms")
        && key
            .split(':')
            .nth(5)
            .is_some_and(|resource| resource.starts_with("key/") || resource.starts_with("alias/"));
    let alias = key
        .strip_prefix("alias/")
        .is_some_and(|name| !name.is_empty());
    let key_id = is_connect_id(key)
        || key
            .strip_prefix("mrk-")
            .is_some_and(|id| id.len() == 32 && hex(id));
    !key.contains(char::is_whitespace) && (kms_arn || alias || key_id)
}

/// A first check only; the https-or-loopback rule is applied where the URL is used.
fn is_web_url(value: &str) -> bool {
    url::Url::parse(value.trim()).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
}

/// `https://sqs.<region>.amazonaws.com/<account>/<name>` and the like: https with a path, or
/// plain http to a local emulator on this machine.
fn is_queue_url(value: &str) -> bool {
    let Ok(url) = url::Url::parse(value) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let secure = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    secure && url.path().len() > 1
}

fn invalid(name: &'static str, rule: impl Into<String>, value: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        rule: rule.into(),
        value: value.chars().take(80).collect(),
    }
}

/// The range of a pace's requests per second: about one an hour at least.
const MIN_RATE: f64 = 0.0003;
const MAX_RATE: f64 = 1_000.0;

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
        assert_eq!(
            c.shares,
            QuotaShares {
                contact_lens: Duration::from_secs(1),
                describe_contact: None,
                entries_reads: None,
            }
        );
        assert_eq!(c.api_usage_ceiling_percent, 80);
        assert_eq!(c.repair_queue_url, None);
    }

    #[test]
    fn the_repair_queue_is_an_https_url_or_a_local_one() {
        let with = |url: &str| {
            config(&[
                (CONNECT_INSTANCE_ID, INSTANCE),
                (SALESFORCE_SECRET_ID, "sf"),
                (REPAIR_QUEUE_URL, url),
            ])
        };
        for good in [
            "https://sqs.eu-west-1.amazonaws.com/123456789012/ContactDataSync-AutoRepair",
            "http://127.0.0.1:4566/123456789012/repair",
            "http://localhost:4566/123456789012/repair",
        ] {
            assert_eq!(
                with(&format!(" {good} "))
                    .unwrap()
                    .repair_queue_url
                    .as_deref(),
                Some(good)
            );
        }
        for bad in [
            "http://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "https://sqs.eu-west-1.amazonaws.com/",
            "ContactDataSync-AutoRepair",
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("environment variable REPAIR_QUEUE_URL must"),
                "{err}"
            );
        }
    }

    #[test]
    fn quota_shares_may_be_fractions_of_a_request_per_second() {
        let c = config(&[
            (CONNECT_INSTANCE_ID, INSTANCE),
            (SALESFORCE_SECRET_ID, "sf"),
            (CONTACT_LENS_REQUESTS_PER_SECOND, "0.25"),
            (DESCRIBE_CONTACT_REQUESTS_PER_SECOND, "2.5"),
            (SALESFORCE_ENTRIES_READS_PER_HOUR, "3600"),
            (SALESFORCE_API_USAGE_CEILING_PERCENT, "90"),
        ])
        .unwrap();
        assert_eq!(
            c.shares,
            QuotaShares {
                contact_lens: Duration::from_secs(4),
                describe_contact: Some(Duration::from_millis(400)),
                entries_reads: Some(Duration::from_secs(1)),
            }
        );
        assert_eq!(c.api_usage_ceiling_percent, 90);
    }

    #[test]
    fn missing_required_values_are_named() {
        assert_eq!(
            config(&[(SALESFORCE_SECRET_ID, "sf")]),
            Err(ConfigError::Missing(CONNECT_INSTANCE_ID))
        );
        assert_eq!(
            config(&[(CONNECT_INSTANCE_ID, INSTANCE)]),
            Err(ConfigError::SalesforceSource(""))
        );
    }

    #[test]
    fn salesforce_orgs_come_from_secrets_or_ssm() {
        let c = config(&[
            (CONNECT_INSTANCE_ID, INSTANCE),
            (SALESFORCE_SECRET_ID, "ACME-salesforce-secret"),
            (SALESFORCE_EXTRA_SECRET_IDS, " arn:a , ,arn:b"),
            (
                SALESFORCE_TOKEN_SECRET_ID,
                "ACME-salesforce-access-token-secret",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.salesforce,
            OrgSettings {
                default: CredentialSource::Secret("ACME-salesforce-secret".into()),
                extra_secret_ids: vec!["arn:a".into(), "arn:b".into()],
                token_secret_id: Some("ACME-salesforce-access-token-secret".into()),
                extra_token_secret_ids: vec![],
            }
        );

        let ssm = [
            (CONNECT_INSTANCE_ID, INSTANCE),
            (SALESFORCE_SSM_CALL_CENTER, "ACME_CC"),
            (
                SALESFORCE_AUTH_ENDPOINT,
                "https://login.salesforce.com/services/oauth2/token",
            ),
            (
                SALESFORCE_REST_API_ENDPOINT_BASE,
                "https://acme.my.salesforce.com/services/data/v62.0",
            ),
        ];
        assert_eq!(
            config(&ssm).unwrap().salesforce.default,
            CredentialSource::Ssm {
                call_center: "ACME_CC".into(),
                auth_endpoint: "https://login.salesforce.com/services/oauth2/token".into(),
                rest_api_endpoint_base: "https://acme.my.salesforce.com/services/data/v62.0".into(),
                kms_key_id: None,
            }
        );
        for key in [
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:123456789012:alias/scv",
            "alias/scv",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
        ] {
            let mut vars = ssm.to_vec();
            vars.push((SALESFORCE_SSM_KMS_KEY_ID, key));
            let CredentialSource::Ssm { kms_key_id, .. } =
                config(&vars).unwrap().salesforce.default
            else {
                panic!("expected SSM");
            };
            assert_eq!(kms_key_id.as_deref(), Some(key));
        }

        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = ssm.to_vec();
            vars.extend_from_slice(extra);
            config(&vars).unwrap_err().to_string()
        };
        assert!(with(&[(SALESFORCE_SECRET_ID, "x")]).ends_with("(SSM parameters), not both"));
        assert!(
            with(&[(SALESFORCE_TOKEN_SECRET_ID, "x")])
                .starts_with("environment variable SALESFORCE_TOKEN_SECRET_ID applies to")
        );
        for key in ["alias/", "arn:aws:s3:::bucket", "key 1", "my-key"] {
            assert!(
                with(&[(SALESFORCE_SSM_KMS_KEY_ID, key)]).starts_with(
                    "environment variable SALESFORCE_SSM_KMS_KEY_ID must be a KMS key id"
                ),
                "{key}"
            );
        }
        assert!(
            config(&[
                (CONNECT_INSTANCE_ID, INSTANCE),
                (SALESFORCE_SECRET_ID, "sf"),
                (SALESFORCE_SSM_KMS_KEY_ID, "alias/scv"),
            ])
            .unwrap_err()
            .to_string()
            .starts_with("environment variable SALESFORCE_SSM_KMS_KEY_ID applies to")
        );
        let mut no_base = ssm.to_vec();
        no_base.pop();
        assert!(
            config(&no_base)
                .unwrap_err()
                .to_string()
                .ends_with("SALESFORCE_SSM_CALL_CENTER needs both URLs")
        );
        for (name, value) in [
            (SALESFORCE_SSM_CALL_CENTER, "1abc"),
            (SALESFORCE_SSM_CALL_CENTER, "a-b"),
            (SALESFORCE_AUTH_ENDPOINT, "login.salesforce.com"),
        ] {
            let mut vars = ssm.to_vec();
            vars.retain(|(k, _)| *k != name);
            vars.push((name, value));
            let err = config(&vars).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("environment variable {name} must")),
                "{err}"
            );
        }
    }

    #[test]
    fn each_token_cache_secret_is_paired_with_one_org() {
        const EMEA: &str =
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:Emea-salesforce-secret-Ab12Cd";
        let vars = |extra: &[(&'static str, &'static str)]| {
            let mut vars = vec![
                (CONNECT_INSTANCE_ID, INSTANCE),
                (SALESFORCE_SECRET_ID, "Main-salesforce-secret"),
                (SALESFORCE_TOKEN_SECRET_ID, "Main-token"),
                (SALESFORCE_EXTRA_SECRET_IDS, EMEA),
            ];
            vars.extend_from_slice(extra);
            config(&vars)
        };
        // By the org secret's name, without the suffix its listed ARN carries.
        let c = vars(&[(
            SALESFORCE_EXTRA_TOKEN_SECRET_IDS,
            " Emea-salesforce-secret | Emea-token ",
        )])
        .unwrap();
        assert_eq!(
            c.salesforce.extra_token_secret_ids,
            [TokenPairing {
                org_secret_id: EMEA.into(),
                token_secret_id: "Emea-token".into()
            }]
        );
        assert_eq!(c.salesforce.token_secret_id.as_deref(), Some("Main-token"));

        let name = SALESFORCE_EXTRA_TOKEN_SECRET_IDS;
        for (value, problem) in [
            (
                "Emea-token",
                "entries must each pair an org of SALESFORCE_EXTRA_SECRET_IDS with its \
                 token-cache secret as ORG_SECRET|TOKEN_SECRET, got \"Emea-token\"",
            ),
            ("Emea-salesforce-secret|", "entries must each pair"),
            ("a|b|c", "entries must each pair"),
            (
                "Apac-salesforce-secret|Apac-token",
                "pairs \"Apac-salesforce-secret\", which is not listed in \
                 SALESFORCE_EXTRA_SECRET_IDS",
            ),
            (
                "Main-salesforce-secret|Other-token",
                "pairs \"Main-salesforce-secret\", which is not listed in \
                 SALESFORCE_EXTRA_SECRET_IDS; the default org's token-cache secret is \
                 SALESFORCE_TOKEN_SECRET_ID",
            ),
            (
                "Emea-salesforce-secret|Main-token",
                "gives \"Main-token\" to \"Emea-salesforce-secret\", but it is the token-cache \
                 secret of the default org (SALESFORCE_TOKEN_SECRET_ID); each token-cache secret \
                 belongs to exactly one org",
            ),
            (
                "Emea-salesforce-secret|Main-salesforce-secret",
                "names \"Main-salesforce-secret\" as a token-cache secret, but it is the \
                 Salesforce secret \"Main-salesforce-secret\"",
            ),
            (
                "Emea-salesforce-secret|A-token,Emea-salesforce-secret|B-token",
                "pairs \"Emea-salesforce-secret\" more than once",
            ),
        ] {
            let err = vars(&[(name, value)]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("environment variable {name} {problem}")),
                "{err}"
            );
        }
        let err = config(&[
            (CONNECT_INSTANCE_ID, INSTANCE),
            (SALESFORCE_SECRET_ID, "Main-salesforce-secret"),
            (SALESFORCE_TOKEN_SECRET_ID, "Main-salesforce-secret"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("environment variable SALESFORCE_TOKEN_SECRET_ID names"),
            "{err}"
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
            (CONTACT_LENS_REQUESTS_PER_SECOND, "0"),
            (DESCRIBE_CONTACT_REQUESTS_PER_SECOND, "NaN"),
            (DESCRIBE_CONTACT_REQUESTS_PER_SECOND, "1001"),
            (SALESFORCE_ENTRIES_READS_PER_HOUR, "0.5"),
            (SALESFORCE_API_USAGE_CEILING_PERCENT, "101"),
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
        for source in [
            vec![(SALESFORCE_SECRET_ID, "sf")],
            vec![
                (SALESFORCE_SSM_CALL_CENTER, "CC"),
                (SALESFORCE_AUTH_ENDPOINT, "https://login.salesforce.com"),
                (
                    SALESFORCE_REST_API_ENDPOINT_BASE,
                    "https://x.my.salesforce.com",
                ),
            ],
        ] {
            Config::from_lookup(|name| {
                read.borrow_mut().insert(name.to_owned());
                if name == CONNECT_INSTANCE_ID {
                    return Some(INSTANCE.to_owned());
                }
                source
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap();
        }

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
        for group in file["salesforceSourceOneOf"].as_array().unwrap() {
            all.extend(
                group
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned()),
            );
        }
        assert_eq!(read.into_inner(), all);

        let missing = config(&[]).unwrap_err();
        assert!(listed("required").contains(&match missing {
            ConfigError::Missing(name) => name.to_owned(),
            other => panic!("{other}"),
        }));
    }
}
