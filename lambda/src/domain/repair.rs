//! Automatic repair after each call: Amazon Connect's contact events arrive through SQS, and
//! each DISCONNECTED voice call of this instance is checked and its missing entries filled.
//! Here: reading the contact events, and deciding what is done and what SQS must deliver
//! again.

use serde_json::Value;

use super::ids::contact_id;
use super::outcome::FailureCode;

/// One message of the repair queue: its id, which the answer names to have it delivered again,
/// and its body, a contact event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairMessage {
    pub message_id: String,
    pub body: String,
}

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A DISCONNECTED voice call of this instance: check and repair this contact.
    Check(String),
    /// A contact event this function has nothing to do with.
    Ignored(&'static str),
    /// Not a contact event at all; logged by message id only.
    Malformed,
}

pub const NOT_A_CONTACT_EVENT: &str = "NOT_A_CONTACT_EVENT";
pub const NOT_DISCONNECTED: &str = "NOT_DISCONNECTED";
pub const OTHER_CHANNEL: &str = "OTHER_CHANNEL";
pub const OTHER_INSTANCE: &str = "OTHER_INSTANCE";
/// Salesforce has no VoiceCall whose `VendorCallKey` is the contact.
pub const NO_VOICE_CALL: &str = "NO_VOICE_CALL";
/// The VoiceCall lookup itself failed (Salesforce unreachable, throttled, ...).
pub const LOOKUP_FAILED: &str = "VOICE_CALL_LOOKUP_FAILED";

/// Reads an EventBridge contact event (the message body) of the Amazon Connect admin guide's
/// data model. Fields this function does not use are ignored, so new ones change nothing.
pub fn verdict(body: &str, instance_id: &str) -> Verdict {
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return Verdict::Malformed;
    };
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let Some(detail) = event.get("detail").filter(|d| d.is_object()) else {
        return Verdict::Malformed;
    };
    if text(&event, "source").as_deref() != Some("aws.connect")
        || text(&event, "detail-type").as_deref() != Some("Amazon Connect Contact Event")
    {
        return Verdict::Ignored(NOT_A_CONTACT_EVENT);
    }
    let Some(contact_id) = text(detail, "contactId").and_then(|id| contact_id(&id)) else {
        return Verdict::Malformed;
    };
    if text(detail, "eventType").as_deref() != Some("DISCONNECTED") {
        return Verdict::Ignored(NOT_DISCONNECTED);
    }
    if text(detail, "channel").as_deref() != Some("VOICE") {
        return Verdict::Ignored(OTHER_CHANNEL);
    }
    let instance_suffix = format!("instance/{}", instance_id.to_ascii_lowercase());
    let same_instance = text(detail, "instanceArn")
        .is_some_and(|arn| arn.to_ascii_lowercase().ends_with(&instance_suffix));
    if !same_instance {
        return Verdict::Ignored(OTHER_INSTANCE);
    }
    Verdict::Check(contact_id)
}

/// How one message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// The conversation lacked entries, and these were uploaded.
    Repaired { entries: usize },
    /// The conversation already held the whole transcript.
    AlreadyComplete,
    /// A leg of a transferred call other than its last: the last leg's event repairs the call.
    CoveredByLastLeg,
    /// Nothing can be done, now or later; the stable code says why.
    Final(String),
    /// Worth another try: SQS delivers the message again.
    Retry(String),
}

impl MessageOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Repaired { .. } => "REPAIRED",
            Self::AlreadyComplete => "ALREADY_COMPLETE",
            Self::CoveredByLastLeg => "COVERED_BY_LAST_LEG",
            Self::Final(_) => "DONE_WITHOUT_REPAIR",
            Self::Retry(_) => "RETRY",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Final(reason) | Self::Retry(reason) => Some(reason),
            _ => None,
        }
    }

    /// A call's outcome from its legs': delivered again if any leg is worth another try
    /// (filling then sends only what is still missing), else repaired if any leg was, else the
    /// first final reason, else complete. `None` without legs.
    pub fn of_legs<'a>(legs: impl IntoIterator<Item = &'a MessageOutcome>) -> Option<Self> {
        let legs: Vec<&MessageOutcome> = legs.into_iter().collect();
        let first = |keep: fn(&MessageOutcome) -> bool| legs.iter().find(|o| keep(o)).copied();
        let repaired: usize = legs
            .iter()
            .map(|o| match o {
                Self::Repaired { entries } => *entries,
                _ => 0,
            })
            .sum();
        first(|o| matches!(o, Self::Retry(_)))
            .cloned()
            .or_else(|| {
                first(|o| matches!(o, Self::Repaired { .. }))
                    .map(|_| Self::Repaired { entries: repaired })
            })
            .or_else(|| first(|o| matches!(o, Self::Final(_))).cloned())
            .or_else(|| first(|_| true).cloned())
    }
}

/// A message that is not a contact event at all.
pub const MALFORMED_EVENT: &str = "MALFORMED_EVENT";

/// Whether a contact's failure may pass with time (SQS delivers the message again) or is final.
pub fn worth_retrying(code: FailureCode) -> bool {
    match code {
        // Quotas, outages, the analysis not finished yet, and configuration being fixed: the
        // message waits in the queue (then in the dead-letter queue), so nothing is lost.
        FailureCode::Throttled
        | FailureCode::TranscriptNotFinal
        | FailureCode::CallInProgress
        | FailureCode::AwsError
        | FailureCode::AccessDenied
        | FailureCode::SalesforceError
        | FailureCode::SalesforceAuthFailed
        | FailureCode::SalesforceLimitExceeded
        | FailureCode::SalesforceApiCeiling
        | FailureCode::SalesforceEntriesLimit
        | FailureCode::ConfigurationError
        | FailureCode::DeadlineExceeded
        // By the next delivery Salesforce has processed the upload, and filling sends only
        // what it still lacks.
        | FailureCode::UploadUnconfirmed => true,
        FailureCode::ContactNotFound
        | FailureCode::NoAgent
        | FailureCode::NoTranscript
        | FailureCode::TranscriptUnavailable
        | FailureCode::SalesforceRejected
        | FailureCode::ConversationNotEmpty
        | FailureCode::AlreadyUploaded => false,
    }
}

/// A transcript missing for a call that ended less than `horizon` ago may still come: Contact
/// Lens writes the post-call file some minutes after the call. Without the end time (Amazon
/// Connect did not say) it is not waited for.
pub fn transcript_may_still_come(
    disconnected_ms: Option<i64>,
    now_ms: i64,
    horizon: std::time::Duration,
) -> bool {
    let horizon_ms = i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX);
    disconnected_ms.is_some_and(|ended| now_ms.saturating_sub(ended) < horizon_ms)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const INSTANCE: &str = "11111111-2222-4333-8444-555555555555";
    const CONTACT: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";

    fn event(detail: Value) -> String {
        json!({
            "version": "0", "id": "5f7c1c5e-0000-4000-8000-000000000000",
            "source": "aws.connect", "detail-type": "Amazon Connect Contact Event",
            "account": "123456789012", "region": "us-east-1", "time": "2026-11-24T10:00:00Z",
            "resources": [], "detail": detail
        })
        .to_string()
    }

    fn disconnected() -> Value {
        json!({
            "eventType": "DISCONNECTED", "contactId": CONTACT, "channel": "VOICE",
            "instanceArn": format!("arn:aws:connect:us-east-1:123456789012:instance/{INSTANCE}"),
            "initiationMethod": "INBOUND", "disconnectTimestamp": "2026-11-24T09:59:58.000Z",
            "agentInfo": {"agentArn": "arn:aws:connect:...:agent/1", "connectedToAgentTimestamp": "2026-11-24T09:50:00.000Z"},
            "someFieldAddedNextYear": {"nested": true}
        })
    }

    fn with(mut detail: Value, key: &str, value: Value) -> Value {
        detail[key] = value;
        detail
    }

    #[test]
    fn a_disconnected_voice_call_of_this_instance_is_checked() {
        assert_eq!(
            verdict(&event(disconnected()), INSTANCE),
            Verdict::Check(CONTACT.into())
        );
    }

    #[test]
    fn other_events_are_ignored_with_their_reason() {
        let cases = [
            (
                with(disconnected(), "eventType", json!("CONNECTED_TO_AGENT")),
                NOT_DISCONNECTED,
            ),
            (
                with(disconnected(), "channel", json!("CHAT")),
                OTHER_CHANNEL,
            ),
            (
                with(
                    disconnected(),
                    "instanceArn",
                    json!(
                        "arn:aws:connect:us-east-1:123456789012:instance/99999999-2222-4333-8444-555555555555"
                    ),
                ),
                OTHER_INSTANCE,
            ),
        ];
        for (detail, reason) in cases {
            assert_eq!(verdict(&event(detail), INSTANCE), Verdict::Ignored(reason));
        }
        let other = event(disconnected()).replace("aws.connect", "aws.s3");
        assert_eq!(
            verdict(&other, INSTANCE),
            Verdict::Ignored(NOT_A_CONTACT_EVENT)
        );
    }

    #[test]
    fn what_is_not_a_contact_event_is_malformed() {
        for body in [
            "".to_owned(),
            "{not json".to_owned(),
            json!({"source": "aws.connect"}).to_string(),
            event(with(disconnected(), "contactId", json!("' OR 1=1"))),
        ] {
            assert_eq!(verdict(&body, INSTANCE), Verdict::Malformed, "{body}");
        }
    }

    #[test]
    fn passing_failures_are_retried_and_final_ones_are_not() {
        assert!(worth_retrying(FailureCode::Throttled));
        assert!(worth_retrying(FailureCode::TranscriptNotFinal));
        assert!(worth_retrying(FailureCode::SalesforceAuthFailed));
        assert!(!worth_retrying(FailureCode::NoAgent));
        assert!(!worth_retrying(FailureCode::NoTranscript));
        assert!(worth_retrying(FailureCode::UploadUnconfirmed));
        assert!(!worth_retrying(FailureCode::ConversationNotEmpty));
    }

    #[test]
    fn a_missing_transcript_is_waited_for_until_the_horizon() {
        let hour = 3_600_000;
        let horizon = std::time::Duration::from_secs(48 * 3_600);
        let now = 100 * hour;
        assert!(transcript_may_still_come(Some(now - hour), now, horizon));
        assert!(!transcript_may_still_come(
            Some(now - 48 * hour),
            now,
            horizon
        ));
        assert!(!transcript_may_still_come(None, now, horizon));
        assert!(!transcript_may_still_come(Some(i64::MIN), now, horizon));
    }

    #[test]
    fn a_calls_outcome_is_retried_if_any_leg_is_then_repaired_then_final() {
        use MessageOutcome::*;
        let of = |legs: &[MessageOutcome]| MessageOutcome::of_legs(legs).unwrap();
        let retry = Retry("THROTTLED".into());
        let no_agent = Final("NO_AGENT".into());
        let repaired = |entries| Repaired { entries };
        assert_eq!(of(&[repaired(2), retry.clone(), no_agent.clone()]), retry);
        assert_eq!(
            of(&[no_agent.clone(), repaired(2), repaired(3)]),
            repaired(5)
        );
        assert_eq!(of(&[AlreadyComplete, no_agent.clone()]), no_agent);
        assert_eq!(of(&[AlreadyComplete, AlreadyComplete]), AlreadyComplete);
        assert_eq!(MessageOutcome::of_legs(&[]), None);
    }
}
