//! Names a backfill start gives things: the manifest's key, the execution's name, and where to
//! see the execution in the console.

use std::time::SystemTime;

use contact_data_sync::domain::backfill::window_manifest_key;
use contact_data_sync::domain::request::Window;

use super::format::Utc;

/// Where manifests are uploaded in the backfill bucket.
pub const MANIFESTS_PREFIX: &str = "manifests/";
/// Step Functions execution names are at most 80 characters.
pub const MAX_EXECUTION_NAME: usize = 80;

/// What one `start` names: the key and execution name share the same UTC timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartNames {
    pub manifest_key: String,
    pub execution_name: String,
}

impl StartNames {
    /// `manifests/<yyyymmddThhmmssZ>-<file name>` and `<file stem>-<yyyymmddThhmmssZ>`.
    pub fn new(file_name: &str, now: SystemTime) -> Self {
        let stamp = Utc::at(now).compact();
        Self {
            manifest_key: format!("{MANIFESTS_PREFIX}{stamp}-{file_name}"),
            execution_name: execution_name(file_name, &stamp),
        }
    }
}

/// What one `start --from --to` names: the execution, and the manifest the function lists into
/// (it names that after the execution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowNames {
    pub manifest_key: String,
    pub execution_name: String,
}

impl WindowNames {
    /// `window-<from>-<to>-<now>`, each `yyyymmddThhmmssZ` in UTC whatever zone the window was
    /// given in: 57 characters, all allowed. `now` keeps a window started twice unique.
    pub fn new(window: &Window, now: SystemTime) -> Self {
        let stamp = |t: SystemTime| Utc::at(t).compact();
        let execution_name = format!(
            "window-{}-{}-{}",
            stamp(window.from.into()),
            stamp(window.to.into()),
            stamp(now)
        );
        Self {
            manifest_key: window_manifest_key(&execution_name),
            execution_name,
        }
    }
}

/// `<file stem>-<stamp>` with only `[A-Za-z0-9_-]`, the stem shortened to fit 80 characters.
fn execution_name(file_name: &str, stamp: &str) -> String {
    let stem = match file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file_name,
    };
    let room = MAX_EXECUTION_NAME - stamp.len() - 1;
    let mut stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    if stem.is_empty() {
        stem.push_str("backfill");
    }
    format!("{stem}-{stamp}")
}

/// The Step Functions console page of an execution, in the partition and region of its ARN.
pub fn console_url(execution_arn: &str) -> Option<String> {
    let mut parts = execution_arn.split(':');
    let (Some("arn"), Some(partition), Some("states"), Some(region)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if region.is_empty() {
        return None;
    }
    let domain = match partition {
        "aws" => "console.aws.amazon.com",
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => return None,
    };
    Some(format!(
        "https://{region}.{domain}/states/home?region={region}#/v2/executions/details/{execution_arn}"
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use contact_data_sync::domain::request::parse_window;
    use serde_json::json;

    use super::*;

    fn at_2026() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_261_599)
    }

    #[test]
    fn key_and_name_share_the_timestamp() {
        assert_eq!(
            StartNames::new("calls.csv", at_2026()),
            StartNames {
                manifest_key: "manifests/20260101T095959Z-calls.csv".into(),
                execution_name: "calls-20260101T095959Z".into(),
            }
        );
    }

    #[test]
    fn names_keep_only_allowed_characters_and_fit_80() {
        let names = StartNames::new("Q1 calls (retry).v2.jsonl", at_2026());
        assert_eq!(
            names.manifest_key,
            "manifests/20260101T095959Z-Q1 calls (retry).v2.jsonl"
        );
        assert_eq!(names.execution_name, "Q1_calls__retry__v2-20260101T095959Z");
        let long = format!("{}.csv", "a".repeat(200));
        let name = StartNames::new(&long, at_2026()).execution_name;
        assert_eq!(name.len(), 80);
        assert!(name.ends_with("a-20260101T095959Z"), "{name}");
        assert_eq!(
            StartNames::new(".csv", at_2026()).execution_name,
            "_csv-20260101T095959Z"
        );
        assert_eq!(
            StartNames::new("é.csv", at_2026()).execution_name,
            "_-20260101T095959Z"
        );
    }

    #[test]
    fn window_names_stamp_both_ends_in_utc_and_the_start() {
        let window = parse_window(
            Some(&json!("2026-11-01T01:30:00+01:30")),
            Some(&json!("2026-11-07T19:00:00.75-05:00")),
        )
        .unwrap();
        let names = WindowNames::new(&window, at_2026());
        assert_eq!(
            names.execution_name,
            "window-20261101T000000Z-20261108T000000Z-20260101T095959Z"
        );
        assert_eq!(
            names.manifest_key,
            "manifests/windows/window-20261101T000000Z-20261108T000000Z-20260101T095959Z.csv"
        );
        assert!(names.execution_name.len() <= MAX_EXECUTION_NAME);
        assert!(
            names
                .execution_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        // The widest instants RFC 3339 allows still fit.
        let window = parse_window(
            Some(&json!("9999-12-01T00:00:00Z")),
            Some(&json!("9999-12-31T23:59:59Z")),
        )
        .unwrap();
        assert_eq!(
            WindowNames::new(&window, at_2026()).execution_name.len(),
            57
        );
    }

    #[test]
    fn console_urls_follow_the_arn() {
        let arn = "arn:aws:states:eu-west-1:123456789012:execution:Backfill:calls-20260101T095959Z";
        assert_eq!(
            console_url(arn).as_deref(),
            Some(
                "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:123456789012:execution:Backfill:calls-20260101T095959Z"
            )
        );
        assert!(
            console_url("arn:aws-cn:states:cn-north-1:1:execution:a:b")
                .is_some_and(|u| u.starts_with("https://cn-north-1.console.amazonaws.cn/"))
        );
        assert_eq!(console_url("not-an-arn"), None);
        assert_eq!(console_url("arn:aws:s3:::bucket"), None);
    }
}
