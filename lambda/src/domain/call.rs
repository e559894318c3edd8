//! Transferred and consulted calls. Amazon Connect gives every leg its own contact; Salesforce
//! gives every leg a VoiceCall but keeps one conversation for the call, named by its first
//! leg's contactId, and closes it when the last leg ends. Here: which conversation a contact's
//! transcript belongs in, as its VoiceCall records say, and which leg's contact event repairs
//! the whole call.

use std::collections::HashMap;

use super::ids::{contact_id, salesforce_id_15};
use super::soql::VoiceCallRecord;

/// Where a contact's transcript goes, as its VoiceCall records say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// The conversation's `ConversationIdentifier`; `None` when no VoiceCall of the contact is
    /// in a conversation Salesforce let the query read.
    pub conversation: Option<String>,
    /// The Conversation record's id, which finds the call's other legs.
    pub conversation_record: Option<String>,
    /// A leg of a transferred or consulted call: its VoiceCall has a previous or a next leg.
    pub transferred: bool,
    /// The conversation has an `EndTime`: Salesforce closed it.
    pub ended: bool,
    /// The contact's VoiceCalls, 15 characters each, without repeats.
    pub voice_calls: Vec<String>,
    /// When the contact's VoiceCall ended (the latest, if it has several), epoch ms.
    pub call_end_ms: Option<i64>,
}

impl Placement {
    /// A leg of a call that goes on in another leg: its conversation is not closed, and
    /// Salesforce takes uploads into closed conversations only.
    pub fn call_goes_on(&self) -> bool {
        self.transferred && self.conversation.is_some() && !self.ended
    }
}

/// Placements by contactId in lower case.
pub type Placements = HashMap<String, Placement>;

/// Each contact's placement from its VoiceCall records. Records without a contact id as
/// `VendorCallKey` or with a malformed id are left out.
pub fn placements(records: &[VoiceCallRecord]) -> Placements {
    let mut placements = Placements::new();
    for record in records {
        let key = record.vendor_call_key.as_deref().and_then(contact_id);
        let (Some(key), Ok(id15)) = (key, salesforce_id_15(&record.id)) else {
            continue;
        };
        let placement = placements.entry(key).or_default();
        if !placement.voice_calls.iter().any(|id| id == id15) {
            placement.voice_calls.push(id15.to_owned());
        }
        placement.transferred |= record.previous_call_id.is_some() || record.next_call_id.is_some();
        placement.call_end_ms = placement.call_end_ms.max(record.call_end_ms);
        if let Some(conversation) = &record.conversation
            && placement.conversation.is_none()
            && let Some(identifier) = &conversation.identifier
        {
            // A contactId names the conversation in the lower case Amazon Connect writes, as
            // every upload of this function always did.
            placement.conversation =
                Some(contact_id(identifier).unwrap_or_else(|| identifier.clone()));
            placement.conversation_record = Some(conversation.id.clone());
            placement.ended = conversation.ended;
        }
    }
    placements
}

/// The leg whose contact event repairs the whole call: the one that ended last in Salesforce
/// (ties and legs without an end broken by the greatest contactId). Every event of the call
/// names the same leg once the conversation is closed, so the call is uploaded once, whatever
/// order the events arrive in.
pub fn last_leg<'a>(legs: impl IntoIterator<Item = (&'a str, &'a Placement)>) -> Option<&'a str> {
    legs.into_iter()
        .max_by_key(|(contact, placement)| (placement.call_end_ms, *contact))
        .map(|(contact, _)| contact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::soql::ConversationRecord;

    const A: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";
    const B: &str = "f15c9342-65a1-41e8-a752-81d630a2890d";

    fn record(id: &str, key: &str, next: Option<&str>, end: Option<i64>) -> VoiceCallRecord {
        VoiceCallRecord {
            id: id.into(),
            vendor_call_key: Some(key.into()),
            next_call_id: next.map(str::to_owned),
            call_end_ms: end,
            conversation: Some(ConversationRecord {
                id: "0dw000000000001AAA".into(),
                identifier: Some(A.into()),
                ended: false,
            }),
            ..VoiceCallRecord::default()
        }
    }

    #[test]
    fn a_later_leg_is_placed_in_its_first_legs_open_conversation() {
        let mut b = record("0LQ000000000002", &B.to_uppercase(), None, None);
        b.previous_call_id = Some("0LQ000000000001".into());
        let records = [
            record("0LQ000000000001", A, Some("0LQ000000000002"), Some(5)),
            b,
        ];
        let placements = placements(&records);
        let later = &placements[B];
        assert_eq!(later.conversation.as_deref(), Some(A));
        assert_eq!(
            later.conversation_record.as_deref(),
            Some("0dw000000000001AAA")
        );
        assert_eq!(later.voice_calls, ["0LQ000000000002"]);
        assert!(later.transferred && later.call_goes_on());
        assert_eq!(placements[A].call_end_ms, Some(5));
    }

    #[test]
    fn a_single_leg_call_never_waits_for_salesforce_to_close_its_conversation() {
        let placements = placements(&[record("0LQ000000000001", A, None, None)]);
        assert!(!placements[A].transferred);
        assert!(!placements[A].call_goes_on());
    }

    #[test]
    fn records_without_a_contact_or_conversation_place_nothing_or_no_conversation() {
        let mut keyless = record("0LQ000000000003", "not-a-contact", None, None);
        keyless.vendor_call_key = None;
        let mut bare = record("0LQ000000000004", B, None, None);
        bare.conversation = None;
        let placements = placements(&[keyless, bare]);
        assert_eq!(placements.len(), 1);
        assert_eq!(placements[B].conversation, None);
        assert!(!placements[B].call_goes_on());
    }

    #[test]
    fn the_leg_that_ended_last_repairs_the_call() {
        let ended = |end: Option<i64>| Placement {
            call_end_ms: end,
            ..Placement::default()
        };
        let (a, b, c) = (ended(Some(10)), ended(Some(30)), ended(Some(30)));
        assert_eq!(last_leg([("a", &a), ("c", &c), ("b", &b)]), Some("c"));
        assert_eq!(last_leg([("a", &a), ("b", &ended(None))]), Some("a"));
        assert_eq!(last_leg(std::iter::empty()), None);
    }
}
