//! CloudWatch Embedded Metric Format: metrics written as log lines, so reporting them costs no
//! API call. Names are an interface shared with the CDK stack's alarms and dashboard.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::pipeline::ContactOutcome;

pub const NAMESPACE: &str = "ContactDataSync";

/// One record with the totals, then one per failure reason.
pub fn emf_records(
    function_name: &str,
    outcomes: &[ContactOutcome],
    timestamp_ms: u64,
) -> Vec<Value> {
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    let skipped = outcomes.iter().filter(|o| o.skipped).count();
    let mut by_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for code in outcomes.iter().filter_map(|o| o.failure) {
        *by_reason.entry(code.as_str()).or_default() += 1;
    }
    let aws = |dimensions: Value, metrics: &[&str]| {
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": metrics.iter().map(|m| json!({"Name": m, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        })
    };
    let mut records = vec![json!({
        "_aws": aws(
            json!(["FunctionName"]),
            &["ContactsRequested", "ContactsUploaded", "ContactsSkipped", "ContactsFailed"],
        ),
        "FunctionName": function_name,
        "ContactsRequested": outcomes.len(),
        "ContactsUploaded": outcomes.len() - failed - skipped,
        "ContactsSkipped": skipped,
        "ContactsFailed": failed,
    })];
    records.extend(by_reason.into_iter().map(|(reason, count)| {
        json!({
            "_aws": aws(json!(["FunctionName", "Reason"]), &["ContactsFailed"]),
            "FunctionName": function_name,
            "Reason": reason,
            "ContactsFailed": count,
        })
    }));
    records
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::outcome::FailureCode;

    fn outcome(id: &str, failure: Option<FailureCode>) -> ContactOutcome {
        ContactOutcome {
            contact_id: id.into(),
            failure,
            skipped: false,
            source: None,
            segments: 0,
            entries: 0,
            already_present: 0,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn totals_and_one_record_per_reason() {
        let records = emf_records(
            "fn",
            &[
                outcome("a", None),
                outcome("b", Some(FailureCode::NoAgent)),
                outcome("c", Some(FailureCode::NoAgent)),
                outcome("d", Some(FailureCode::Throttled)),
                ContactOutcome {
                    skipped: true,
                    ..outcome("e", None)
                },
            ],
            1,
        );
        assert_eq!(records.len(), 3);
        assert_eq!(records[0]["ContactsRequested"], 5);
        assert_eq!(records[0]["ContactsUploaded"], 1);
        assert_eq!(records[0]["ContactsSkipped"], 1);
        assert_eq!(records[0]["ContactsFailed"], 3);
        assert_eq!(
            records[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "ContactDataSync"
        );
        assert_eq!(
            records[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName"]])
        );
        assert_eq!(
            (
                records[1]["Reason"].as_str(),
                records[1]["ContactsFailed"].as_u64()
            ),
            (Some("NO_AGENT"), Some(2))
        );
        assert_eq!(
            (
                records[2]["Reason"].as_str(),
                records[2]["ContactsFailed"].as_u64()
            ),
            (Some("THROTTLED"), Some(1))
        );
        assert_eq!(
            records[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName", "Reason"]])
        );
    }
}
