//! From a contact's details and Contact Lens turns to the NDJSON file that the Connect REST
//! bulk upload takes for one conversation.

use bytes::Bytes;
use serde::Serialize;

use super::contact::ContactRequest;
use super::outcome::{Failure, FailureCode};

/// What DescribeContact tells about a call (a leg, for a transferred call), in epoch
/// milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactDetails {
    pub initiation_ms: i64,
    pub connected_to_agent_ms: Option<i64>,
    pub disconnect_ms: Option<i64>,
    /// The call's first leg, for a later leg of a transferred or consulted call.
    pub initial_contact_id: Option<String>,
}

/// A finished call with an agent: the only kind whose transcript can be uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallWindow {
    pub initiation_ms: i64,
    /// Contact Lens offsets count from here.
    pub connected_to_agent_ms: i64,
    pub disconnect_ms: i64,
}

impl ContactDetails {
    pub fn call_window(&self) -> Result<CallWindow, Failure> {
        let disconnect_ms = self.disconnect_ms.ok_or_else(|| {
            Failure::new(
                FailureCode::CallInProgress,
                "the call has not ended yet (no DisconnectTimestamp); retry after it ends",
            )
        })?;
        let connected_to_agent_ms = self.connected_to_agent_ms.ok_or_else(|| {
            Failure::new(
                FailureCode::NoAgent,
                "the call was never connected to an agent, so it has no agent transcript",
            )
        })?;
        Ok(CallWindow {
            initiation_ms: self.initiation_ms,
            connected_to_agent_ms,
            disconnect_ms: disconnect_ms.max(self.initiation_ms),
        })
    }
}

/// One Contact Lens transcript segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub id: String,
    pub participant_role: String,
    pub content: String,
    pub begin_offset_ms: i64,
    pub end_offset_ms: i64,
}

/// One conversation's upload file and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationFile {
    /// The conversation's identifier: the call's first leg's contactId.
    pub conversation_id: String,
    /// The requested contacts (legs) whose entries the file holds.
    pub contact_ids: Vec<String>,
    pub body: Bytes,
    /// The ids of the entries in the file, which confirm an upload when read back.
    pub entry_ids: Vec<String>,
    /// Turns whose participant role has no Salesforce sender role; left out of the file.
    pub skipped_turns: usize,
    /// clientSentTimestamp of the first and last entries, when there are any.
    pub first_timestamp: Option<i64>,
    pub last_timestamp: Option<i64>,
}

#[derive(Serialize)]
struct Line<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    payload: P,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Header<'a> {
    conversation_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    conversation_id: &'a str,
    id: &'a str,
    client_sent_timestamp: i64,
    client_duration: i64,
    message_text: &'a str,
    sender: Sender<'a>,
    related_records: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Sender<'a> {
    app_type: &'static str,
    role: &'static str,
    subject: &'a str,
}

/// When a turn's entry was said: ConnectedToAgentTimestamp + BeginOffsetMillis, held inside
/// the call's window because Salesforce rejects entries outside it.
pub fn entry_timestamp(window: &CallWindow, turn: &Turn) -> i64 {
    window
        .connected_to_agent_ms
        .saturating_add(turn.begin_offset_ms)
        .clamp(window.initiation_ms, window.disconnect_ms)
}

/// The Salesforce sender role of a turn's entry; `None` when the turn has no entry.
pub fn entry_role(turn: &Turn) -> Option<&'static str> {
    sender_role(&turn.participant_role).map(|(role, _)| role)
}

/// Salesforce sender role and the subject suffix used for a Contact Lens participant role.
fn sender_role(participant_role: &str) -> Option<(&'static str, &'static str)> {
    match participant_role {
        "AGENT" => Some(("AGENT", "VIRTUAL_AGENT")),
        "CUSTOMER" => Some(("END_USER", "END_USER")),
        "SUPERVISOR" => Some(("SUPERVISOR", "SUPERVISOR")),
        "SYSTEM" => Some(("SYSTEM", "SYSTEM")),
        "CUSTOM_BOT" => Some(("CHATBOT", "CHATBOT")),
        _ => None,
    }
}

/// One leg's share of a conversation file: the contact, its call window and its turns.
#[derive(Debug, Clone, PartialEq)]
pub struct LegTurns<'a> {
    pub contact: &'a ContactRequest,
    pub window: CallWindow,
    pub turns: Vec<Turn>,
}

/// Builds the NDJSON file of one conversation: a header line, then one entry per turn of every
/// leg, in the order they were said (Salesforce keeps file order and does not sort).
///
/// Each entry's time is its leg's ConnectedToAgentTimestamp + BeginOffsetMillis, computed afresh
/// for every turn and held inside the leg's window, because Salesforce rejects entries outside
/// the call; each entry names its own leg's contact as sender and its VoiceCalls as records.
pub fn conversation_file(conversation_id: &str, legs: &[LegTurns<'_>]) -> ConversationFile {
    let mut entries: Vec<(i64, &LegTurns<'_>, &Turn)> = legs
        .iter()
        .flat_map(|leg| {
            leg.turns
                .iter()
                .map(move |turn| (entry_timestamp(&leg.window, turn), leg, turn))
        })
        .collect();
    entries.sort_by_key(|(at, _, turn)| (*at, turn.begin_offset_ms));
    let text_bytes: usize = entries.iter().map(|(_, _, t)| t.content.len() + 400).sum();
    let mut body = Vec::with_capacity(64 + text_bytes);
    write_line(&mut body, "conversation", Header { conversation_id });

    let mut entry_ids = Vec::with_capacity(entries.len());
    let mut skipped_turns = 0;
    let (mut first_timestamp, mut last_timestamp) = (None, None);
    for (timestamp, leg, turn) in entries {
        let Some((role, suffix)) = sender_role(&turn.participant_role) else {
            skipped_turns += 1;
            continue;
        };
        let subject = format!("{}{suffix}", leg.contact.contact_id);
        write_line(
            &mut body,
            "conversationEntry",
            Entry {
                conversation_id,
                id: &turn.id,
                client_sent_timestamp: timestamp,
                client_duration: turn
                    .end_offset_ms
                    .saturating_sub(turn.begin_offset_ms)
                    .max(0),
                message_text: &turn.content,
                sender: Sender {
                    app_type: "TELEPHONY_INTEGRATION",
                    role,
                    subject: &subject,
                },
                related_records: &leg.contact.related_records,
            },
        );
        entry_ids.push(turn.id.clone());
        first_timestamp = first_timestamp.or(Some(timestamp));
        last_timestamp = Some(timestamp);
    }
    ConversationFile {
        conversation_id: conversation_id.to_owned(),
        contact_ids: legs.iter().map(|l| l.contact.contact_id.clone()).collect(),
        body: Bytes::from(body),
        entry_ids,
        skipped_turns,
        first_timestamp,
        last_timestamp,
    }
}

fn write_line<P: Serialize>(out: &mut Vec<u8>, kind: &'static str, payload: P) {
    serde_json::to_writer(&mut *out, &Line { kind, payload })
        .expect("serializing strings and integers into memory cannot fail");
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    const CONTACT: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";

    fn contact() -> ContactRequest {
        ContactRequest {
            contact_id: CONTACT.into(),
            as_requested: CONTACT.into(),
            related_records: vec!["0LQ1Q000002TZtn".into()],
        }
    }

    fn window() -> CallWindow {
        CallWindow {
            initiation_ms: 1_714_149_000_000,
            connected_to_agent_ms: 1_714_149_010_000,
            disconnect_ms: 1_714_149_100_000,
        }
    }

    fn turn(id: &str, role: &str, content: &str, begin: i64, end: i64) -> Turn {
        Turn {
            id: id.into(),
            participant_role: role.into(),
            content: content.into(),
            begin_offset_ms: begin,
            end_offset_ms: end,
        }
    }

    /// The file of the one leg of `contact()`.
    fn single(turns: Vec<Turn>) -> ConversationFile {
        let contact = contact();
        conversation_file(
            CONTACT,
            &[LegTurns {
                contact: &contact,
                window: window(),
                turns,
            }],
        )
    }

    fn lines(file: &ConversationFile) -> Vec<Value> {
        std::str::from_utf8(&file.body)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn details_without_disconnect_or_agent_fail_with_their_code() {
        let details = ContactDetails {
            initiation_ms: 1,
            connected_to_agent_ms: Some(2),
            disconnect_ms: None,
            initial_contact_id: None,
        };
        assert_eq!(
            details.call_window().unwrap_err().code,
            FailureCode::CallInProgress
        );
        let details = ContactDetails {
            connected_to_agent_ms: None,
            disconnect_ms: Some(3),
            ..details
        };
        assert_eq!(
            details.call_window().unwrap_err().code,
            FailureCode::NoAgent
        );
    }

    #[test]
    fn file_has_header_then_entries_in_offset_order_with_exact_fields() {
        let file = single(vec![
            turn("s2", "CUSTOMER", "Hola, ¿qué tal?", 4_000, 6_500),
            turn("s1", "AGENT", "Thanks for calling", 1_000, 3_000),
        ]);
        assert_eq!(file.entry_ids.len(), 2);
        let lines = lines(&file);
        assert_eq!(
            lines[0],
            serde_json::json!({"type":"conversation","payload":{"conversationId":CONTACT}})
        );
        assert_eq!(
            lines[1],
            serde_json::json!({"type":"conversationEntry","payload":{
                "conversationId": CONTACT, "id": "s1",
                "clientSentTimestamp": 1_714_149_011_000i64, "clientDuration": 2_000,
                "messageText": "Thanks for calling",
                "sender": {"appType":"TELEPHONY_INTEGRATION","role":"AGENT","subject":format!("{CONTACT}VIRTUAL_AGENT")},
                "relatedRecords": ["0LQ1Q000002TZtn"]}})
        );
        assert_eq!(lines[2]["payload"]["id"], "s2");
        assert_eq!(lines[2]["payload"]["sender"]["role"], "END_USER");
        assert_eq!(
            lines[2]["payload"]["sender"]["subject"],
            format!("{CONTACT}END_USER")
        );
        assert_eq!(
            lines[2]["payload"]["clientSentTimestamp"],
            1_714_149_014_000i64
        );
    }

    #[test]
    fn timestamps_do_not_accumulate_and_stay_inside_the_call() {
        let turns = (0..50)
            .map(|i| turn(&format!("s{i}"), "AGENT", "x", i * 1_000, i * 1_000 + 900))
            .chain([turn("late", "CUSTOMER", "y", 500_000, 501_000)])
            .collect();
        let file = single(turns);
        let lines = lines(&file);
        for (i, line) in lines[1..51].iter().enumerate() {
            assert_eq!(
                line["payload"]["clientSentTimestamp"],
                window().connected_to_agent_ms + i as i64 * 1_000
            );
        }
        assert_eq!(
            lines[51]["payload"]["clientSentTimestamp"],
            window().disconnect_ms
        );
    }

    #[test]
    fn offsets_at_the_ends_of_the_range_saturate_inside_the_call() {
        let turns = vec![
            turn("early", "AGENT", "x", i64::MIN, i64::MAX),
            turn("late", "CUSTOMER", "y", i64::MAX, i64::MIN),
        ];
        let file = single(turns);
        let lines = lines(&file);
        let (w, early, late) = (window(), &lines[1]["payload"], &lines[2]["payload"]);
        assert_eq!(early["clientSentTimestamp"], w.initiation_ms);
        assert_eq!(early["clientDuration"], i64::MAX);
        assert_eq!(late["clientSentTimestamp"], w.disconnect_ms);
        assert_eq!(late["clientDuration"], 0);
    }

    #[test]
    fn utf8_text_survives_byte_for_byte() {
        let text = "Ça coûte 3 € — 東京で会いましょう 👋🏽 \"quoted\"\nnew line";
        let file = single(vec![turn("s1", "CUSTOMER", text, 0, 1)]);
        assert_eq!(lines(&file)[1]["payload"]["messageText"], text);
        // Non-ASCII is written as UTF-8, not as \u escapes.
        assert!(std::str::from_utf8(&file.body).unwrap().contains("東京"));
        assert_eq!(std::str::from_utf8(&file.body).unwrap().lines().count(), 2);
    }

    #[test]
    fn unknown_roles_are_left_out_and_counted() {
        let file = single(vec![
            turn("s1", "AGENT", "a", 0, 1),
            turn("s2", "ROBOT", "b", 2, 3),
        ]);
        assert_eq!((file.entry_ids.len(), file.skipped_turns), (1, 1));
        assert_eq!(lines(&file).len(), 2);
    }

    #[test]
    fn legs_of_a_transferred_call_share_one_file_in_the_order_they_were_said() {
        let first = contact();
        let second = ContactRequest {
            contact_id: "0b3c1d5e-7f8a-4b9c-8d0e-1f2a3b4c5d6e".into(),
            as_requested: "0b3c1d5e-7f8a-4b9c-8d0e-1f2a3b4c5d6e".into(),
            related_records: vec!["0LQ1Q000002TZtX".into()],
        };
        // The second leg was connected 60 s after the first: its offsets count from there.
        let later = CallWindow {
            initiation_ms: window().connected_to_agent_ms + 55_000,
            connected_to_agent_ms: window().connected_to_agent_ms + 60_000,
            disconnect_ms: window().disconnect_ms + 60_000,
        };
        let legs = [
            LegTurns {
                contact: &second,
                window: later,
                turns: vec![turn("b1", "AGENT", "second agent", 1_000, 2_000)],
            },
            LegTurns {
                contact: &first,
                window: window(),
                turns: vec![
                    turn("a2", "CUSTOMER", "bye", 59_000, 59_500),
                    turn("a1", "AGENT", "first agent", 1_000, 2_000),
                ],
            },
        ];
        let file = conversation_file(CONTACT, &legs);
        assert_eq!(file.conversation_id, CONTACT);
        assert_eq!(
            file.contact_ids,
            [second.contact_id.clone(), CONTACT.to_owned()]
        );
        assert_eq!(file.entry_ids, ["a1", "a2", "b1"]);
        let lines = lines(&file);
        assert_eq!(lines[0]["payload"]["conversationId"], CONTACT);
        let b1 = &lines[3]["payload"];
        assert_eq!(b1["conversationId"], CONTACT);
        assert_eq!(
            b1["clientSentTimestamp"],
            later.connected_to_agent_ms + 1_000
        );
        assert_eq!(
            b1["sender"]["subject"],
            format!("{}VIRTUAL_AGENT", second.contact_id)
        );
        assert_eq!(b1["relatedRecords"], serde_json::json!(["0LQ1Q000002TZtX"]));
        assert_eq!(
            lines[1]["payload"]["relatedRecords"],
            serde_json::json!(["0LQ1Q000002TZtn"])
        );
    }
}
