//! Automatic repair after each call: Amazon Connect's contact events arrive through SQS, and
//! each DISCONNECTED voice call of this instance is checked and its missing entries filled.
//! Here: reading the contact events, and deciding what is done and what SQS must deliver
//! again.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ids::contact_id;
use super::outcome::FailureCode;

/// One message of the repair queue: its id, which the answer names to have it delivered again,
/// its body, a contact event, how often it was already sent back to wait for a budget, and when
/// EventBridge emitted the event (epoch ms; `None` when the body does not say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairMessage {
    pub message_id: String,
    pub body: String,
    pub deferrals: u32,
    pub event_ms: Option<i64>,
}

impl RepairMessage {
    pub fn new(message_id: String, body: String, deferrals: u32) -> Self {
        let event_ms = event_time_ms(&body);
        Self {
            message_id,
            body,
            deferrals,
            event_ms,
        }
    }
}

/// The event's `time`, when the event was emitted (the call's end, give or take a second).
fn event_time_ms(body: &str) -> Option<i64> {
    let event: Value = serde_json::from_str(body).ok()?;
    let at = OffsetDateTime::parse(event.get("time")?.as_str()?, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
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
    /// The call could not be checked for lack of a budget (the org's API allocation, the
    /// entries resource's hour, AWS throttling, the invocation's time): the message is sent
    /// back to the queue with a delay, so its receive count never brings it to the
    /// dead-letter queue for that.
    Deferred(String),
}

impl MessageOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Repaired { .. } => "REPAIRED",
            Self::AlreadyComplete => "ALREADY_COMPLETE",
            Self::CoveredByLastLeg => "COVERED_BY_LAST_LEG",
            Self::Final(_) => "DONE_WITHOUT_REPAIR",
            Self::Retry(_) => "RETRY",
            Self::Deferred(_) => "DEFERRED",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Final(reason) | Self::Retry(reason) | Self::Deferred(reason) => Some(reason),
            _ => None,
        }
    }

    /// A call's outcome from its legs': delivered again if any leg is worth another try
    /// (filling then sends only what is still missing), else deferred if any leg waits for a
    /// budget, else repaired if any leg was, else the first final reason, else complete.
    /// `None` without legs.
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
            .or_else(|| first(|o| matches!(o, Self::Deferred(_))))
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

/// Whether a failure only says that a budget was spent, so that the call is worth checking
/// once it refills: the org's API ceiling, the entries resource's hourly limit, AWS throttling,
/// and a contact the invocation had no time left to start. A deadline that cut a contact's
/// work short is not among them: it takes the ordinary retry path.
pub fn waits_for_budget(code: FailureCode, started: bool) -> bool {
    match code {
        FailureCode::SalesforceApiCeiling
        | FailureCode::SalesforceEntriesLimit
        | FailureCode::Throttled => true,
        FailureCode::DeadlineExceeded => !started,
        _ => false,
    }
}

/// SQS's longest delay.
const MAX_DEFERRAL_DELAY: Duration = Duration::from_secs(900);

/// How long a message sent back for the `deferrals`-th time (from 0) waits in the queue:
/// 60 s doubled each time, at most SQS's 900 s.
pub fn deferral_delay(deferrals: u32) -> Duration {
    let doubling = 1u64.checked_shl(deferrals).unwrap_or(u64::MAX);
    Duration::from_secs(60u64.saturating_mul(doubling)).min(MAX_DEFERRAL_DELAY)
}

/// Whether something that happened at `at_ms` is less than `horizon` before `now_ms`: a
/// transcript missing for a call that ended that recently may still come (Contact Lens writes
/// the post-call file some minutes after the call), and a message whose event is that recent
/// may still be deferred. Without the instant (Amazon Connect or the event did not say) the
/// answer is no, so nothing waits without a bound.
pub fn within_horizon(at_ms: Option<i64>, now_ms: i64, horizon: Duration) -> bool {
    let horizon_ms = i64::try_from(horizon.as_millis()).unwrap_or(i64::MAX);
    at_ms.is_some_and(|at| now_ms.saturating_sub(at) < horizon_ms)
}

/// A deferral bounded by the horizon: a message whose event is older goes the ordinary retry
/// way instead, towards the dead-letter queue.
pub fn bounded(
    outcome: MessageOutcome,
    event_ms: Option<i64>,
    now_ms: i64,
    horizon: Duration,
) -> MessageOutcome {
    match outcome {
        MessageOutcome::Deferred(reason) if !within_horizon(event_ms, now_ms, horizon) => {
            MessageOutcome::Retry(reason)
        }
        other => other,
    }
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
    fn waiting_lasts_until_the_horizon() {
        let hour = 3_600_000;
        let horizon = Duration::from_secs(48 * 3_600);
        let now = 100 * hour;
        assert!(within_horizon(Some(now - hour), now, horizon));
        assert!(!within_horizon(Some(now - 48 * hour), now, horizon));
        assert!(!within_horizon(None, now, horizon));
        assert!(!within_horizon(Some(i64::MIN), now, horizon));

        let deferred = MessageOutcome::Deferred("THROTTLED".into());
        assert_eq!(
            bounded(deferred.clone(), Some(now - hour), now, horizon),
            deferred
        );
        assert_eq!(
            bounded(deferred, Some(now - 49 * hour), now, horizon),
            MessageOutcome::Retry("THROTTLED".into())
        );
        let retry = MessageOutcome::Retry("TRANSCRIPT_NOT_FINAL".into());
        assert_eq!(bounded(retry.clone(), None, now, horizon), retry);
    }

    #[test]
    fn only_spent_budgets_defer_and_the_delay_doubles_up_to_sqs_maximum() {
        for code in [
            FailureCode::SalesforceApiCeiling,
            FailureCode::SalesforceEntriesLimit,
            FailureCode::Throttled,
        ] {
            assert!(waits_for_budget(code, true), "{code}");
        }
        assert!(waits_for_budget(FailureCode::DeadlineExceeded, false));
        assert!(!waits_for_budget(FailureCode::DeadlineExceeded, true));
        assert!(!waits_for_budget(FailureCode::SalesforceError, false));
        assert!(!waits_for_budget(FailureCode::TranscriptNotFinal, false));

        let delays: Vec<u64> = [0, 1, 2, 3, 4, 5, 40, u32::MAX]
            .map(|n| deferral_delay(n).as_secs())
            .to_vec();
        assert_eq!(delays, [60, 120, 240, 480, 900, 900, 900, 900]);
    }

    #[test]
    fn a_message_knows_when_its_event_was_emitted() {
        let message = RepairMessage::new("m".into(), event(disconnected()), 2);
        assert_eq!(message.event_ms, Some(1_795_514_400_000));
        assert_eq!(message.deferrals, 2);
        for body in ["{not json", r#"{"time": "yesterday"}"#, "{}"] {
            assert_eq!(
                RepairMessage::new("m".into(), body.into(), 0).event_ms,
                None
            );
        }
    }

    #[test]
    fn a_calls_outcome_is_retried_if_any_leg_is_then_deferred_then_repaired_then_final() {
        use MessageOutcome::*;
        let of = |legs: &[MessageOutcome]| MessageOutcome::of_legs(legs).unwrap();
        let retry = Retry("TRANSCRIPT_NOT_FINAL".into());
        let deferred = Deferred("THROTTLED".into());
        let no_agent = Final("NO_AGENT".into());
        let repaired = |entries| Repaired { entries };
        assert_eq!(of(&[repaired(2), retry.clone(), no_agent.clone()]), retry);
        assert_eq!(of(&[deferred.clone(), retry.clone()]), retry);
        assert_eq!(of(&[repaired(2), deferred.clone()]), deferred);
        assert_eq!(
            of(&[no_agent.clone(), repaired(2), repaired(3)]),
            repaired(5)
        );
        assert_eq!(of(&[AlreadyComplete, no_agent.clone()]), no_agent);
        assert_eq!(of(&[AlreadyComplete, AlreadyComplete]), AlreadyComplete);
        assert_eq!(MessageOutcome::of_legs(&[]), None);
    }
}
