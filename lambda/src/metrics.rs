//! CloudWatch Embedded Metric Format: metrics written as log lines, so reporting them costs no
//! API call. Names are an interface shared with the CDK stack's alarms and dashboard.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::domain::repair::MessageOutcome;
use crate::domain::usage::ApiUsage;
use crate::pipeline::ContactOutcome;

pub const NAMESPACE: &str = "ContactDataSync";

fn metric_directive(timestamp_ms: u64, dimensions: Value, metrics: &[&str]) -> Value {
    json!({
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [dimensions],
            "Metrics": metrics.iter().map(|m| json!({"Name": m, "Unit": "Count"})).collect::<Vec<_>>(),
        }],
    })
}

/// The org's API usage of the last 24 hours as Salesforce last reported it, in percent of its
/// allocation, once per invocation that heard it.
pub fn api_usage_record(function_name: &str, usage: ApiUsage, timestamp_ms: u64) -> Value {
    let mut directive = metric_directive(
        timestamp_ms,
        json!(["FunctionName"]),
        &["SalesforceApiUsagePercent"],
    );
    directive["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Percent");
    json!({
        "_aws": directive,
        "FunctionName": function_name,
        "SalesforceApiUsagePercent": (usage.percent() * 10.0).round() / 10.0,
    })
}

/// The automatic repair of one SQS batch: totals, then `RepairFailed` (nothing can be done),
/// `RepairRetried` (delivered again) and `RepairDeferred` (sent back to wait for a budget) per
/// reason.
pub fn repair_records(
    function_name: &str,
    checked: usize,
    outcomes: &[&MessageOutcome],
    timestamp_ms: u64,
) -> Vec<Value> {
    let count = |f: fn(&MessageOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let mut by_reason: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for outcome in outcomes {
        let metric = match outcome {
            MessageOutcome::Final(_) => "RepairFailed",
            MessageOutcome::Retry(_) => "RepairRetried",
            MessageOutcome::Deferred(_) => "RepairDeferred",
            _ => continue,
        };
        if let Some(reason) = outcome.reason() {
            *by_reason.entry((metric, reason)).or_default() += 1;
        }
    }
    let totals = [
        "CallsChecked",
        "GapsRepaired",
        "AlreadyComplete",
        "CoveredByLastLeg",
        "RepairFailed",
        "RepairRetried",
        "RepairDeferred",
    ];
    let mut records = vec![json!({
        "_aws": metric_directive(timestamp_ms, json!(["FunctionName"]), &totals),
        "FunctionName": function_name,
        "CallsChecked": checked,
        "GapsRepaired": count(|o| matches!(o, MessageOutcome::Repaired { .. })),
        "AlreadyComplete": count(|o| matches!(o, MessageOutcome::AlreadyComplete)),
        "CoveredByLastLeg": count(|o| matches!(o, MessageOutcome::CoveredByLastLeg)),
        "RepairFailed": count(|o| matches!(o, MessageOutcome::Final(_))),
        "RepairRetried": count(|o| matches!(o, MessageOutcome::Retry(_))),
        "RepairDeferred": count(|o| matches!(o, MessageOutcome::Deferred(_))),
    })];
    records.extend(by_reason.into_iter().map(|((metric, reason), n)| {
        json!({
            "_aws": metric_directive(timestamp_ms, json!(["FunctionName", "Reason"]), &[metric]),
            "FunctionName": function_name,
            "Reason": reason,
            metric: n,
        })
    }));
    records
}

/// How long ago the oldest call still waiting in the repair queue (deferred or delivered again
/// by this invocation) ended, by its event's time: how far repair lags behind.
pub fn waiting_age_record(function_name: &str, age: Duration, timestamp_ms: u64) -> Value {
    let mut directive = metric_directive(
        timestamp_ms,
        json!(["FunctionName"]),
        &["OldestWaitingCallAgeSeconds"],
    );
    directive["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Seconds");
    json!({
        "_aws": directive,
        "FunctionName": function_name,
        "OldestWaitingCallAgeSeconds": age.as_secs(),
    })
}

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
    let aws =
        |dimensions: Value, metrics: &[&str]| metric_directive(timestamp_ms, dimensions, metrics);
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
            disconnected_ms: None,
            call: None,
            conversation: None,
            started: true,
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

    #[test]
    fn the_orgs_api_usage_is_a_percentage_to_a_tenth() {
        let record = api_usage_record(
            "fn",
            ApiUsage {
                used: 2_001,
                max: 15_000,
            },
            1,
        );
        assert_eq!(record["SalesforceApiUsagePercent"], 13.3);
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "SalesforceApiUsagePercent", "Unit": "Percent"}])
        );
    }

    #[test]
    fn the_oldest_waiting_call_is_an_age_in_seconds() {
        let record = waiting_age_record("fn", Duration::from_millis(7_200_999), 1);
        assert_eq!(record["OldestWaitingCallAgeSeconds"], 7_200);
        assert_eq!(
            record["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "OldestWaitingCallAgeSeconds", "Unit": "Seconds"}])
        );
    }

    #[test]
    fn repairs_count_each_kind_and_failures_by_reason() {
        let outcomes = [
            MessageOutcome::Repaired { entries: 3 },
            MessageOutcome::AlreadyComplete,
            MessageOutcome::CoveredByLastLeg,
            MessageOutcome::Final("NO_VOICE_CALL".into()),
            MessageOutcome::Retry("THROTTLED".into()),
            MessageOutcome::Retry("THROTTLED".into()),
            MessageOutcome::Deferred("SALESFORCE_API_CEILING".into()),
        ];
        let records = repair_records("fn", 5, &outcomes.iter().collect::<Vec<_>>(), 1);
        assert_eq!(records.len(), 4);
        for (metric, value) in [
            ("CallsChecked", 5),
            ("GapsRepaired", 1),
            ("AlreadyComplete", 1),
            ("CoveredByLastLeg", 1),
            ("RepairFailed", 1),
            ("RepairRetried", 2),
            ("RepairDeferred", 1),
        ] {
            assert_eq!(records[0][metric], value, "{metric}");
        }
        // By metric, then reason.
        assert_eq!(records[1]["Reason"], "SALESFORCE_API_CEILING");
        assert_eq!(records[1]["RepairDeferred"], 1);
        assert_eq!(records[2]["Reason"], "NO_VOICE_CALL");
        assert_eq!(records[2]["RepairFailed"], 1);
        assert_eq!(records[3]["Reason"], "THROTTLED");
        assert_eq!(records[3]["RepairRetried"], 2);
        assert_eq!(
            records[3]["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "RepairRetried", "Unit": "Count"}])
        );
    }
}
