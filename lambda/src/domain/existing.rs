//! What a Salesforce conversation already holds, and which turns it still lacks: re-running a
//! backfill must not double a transcript, and a conversation that real-time delivery filled
//! only in part gets just the missing entries.

use super::transcript::{CallWindow, Turn, entry_role, entry_timestamp};

/// How a request treats entries the conversation already holds (`existingEntries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExistingEntries {
    /// Upload only the missing entries; a complete conversation is skipped.
    #[default]
    Fill,
    /// Leave any conversation that holds entries untouched.
    Skip,
    /// Do not look; upload the whole transcript (Salesforce's own contactDataSync does this).
    Ignore,
}

impl ExistingEntries {
    pub const NAMES: [&'static str; 3] = ["fill", "skip", "ignore"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fill" => Some(Self::Fill),
            "skip" => Some(Self::Skip),
            "ignore" => Some(Self::Ignore),
            _ => None,
        }
    }
}

/// One entry of the conversation, as the entries resource reports it.
#[derive(Clone, PartialEq, Eq)]
pub struct ExistingEntry {
    pub identifier: String,
    pub client_timestamp: i64,
    pub role: String,
    pub message_text: String,
}

impl std::fmt::Debug for ExistingEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExistingEntry")
            .field("identifier", &self.identifier)
            .field("client_timestamp", &self.client_timestamp)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Real-time delivery may stamp an entry a little differently from the transcript, so an entry
/// with the same speaker and words this close in time is the same turn.
const SAME_TURN_WITHIN_MS: u64 = 1_000;

/// The turns whose entries the conversation lacks, and how many of the transcript's entries it
/// already holds. Turns that make no entry (unmapped roles) are passed through untouched.
pub fn missing_turns(
    window: &CallWindow,
    turns: Vec<Turn>,
    existing: &[ExistingEntry],
) -> (Vec<Turn>, usize) {
    let mut present = 0;
    let missing = turns
        .into_iter()
        .filter(|turn| {
            let Some(role) = entry_role(turn) else {
                return true;
            };
            let at = entry_timestamp(window, turn);
            let held = existing.iter().any(|e| {
                e.identifier == turn.id
                    || (e.role == role
                        && e.message_text == turn.content
                        && e.client_timestamp.abs_diff(at) <= SAME_TURN_WITHIN_MS)
            });
            present += usize::from(held);
            !held
        })
        .collect();
    (missing, present)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> CallWindow {
        CallWindow {
            initiation_ms: 1_000_000,
            connected_to_agent_ms: 1_010_000,
            disconnect_ms: 1_100_000,
        }
    }

    fn turn(id: &str, role: &str, text: &str, begin: i64) -> Turn {
        Turn {
            id: id.into(),
            participant_role: role.into(),
            content: text.into(),
            begin_offset_ms: begin,
            end_offset_ms: begin + 500,
        }
    }

    fn entry(id: &str, role: &str, text: &str, at: i64) -> ExistingEntry {
        ExistingEntry {
            identifier: id.into(),
            client_timestamp: at,
            role: role.into(),
            message_text: text.into(),
        }
    }

    #[test]
    fn entries_held_by_id_or_by_speaker_words_and_time_are_not_sent_again() {
        let turns = vec![
            turn("t1", "AGENT", "Hello", 0),
            turn("t2", "CUSTOMER", "Hi", 2_000),
            turn("t3", "CUSTOMER", "Hi", 9_000),
            turn("t4", "UNKNOWN_ROLE", "?", 9_500),
        ];
        let existing = [
            entry("t1", "AGENT", "Hello", 1_010_000),
            // Real-time delivery's own id, 400 ms off: the same turn.
            entry("rt-9", "END_USER", "Hi", 1_012_400),
        ];
        let (missing, present) = missing_turns(&window(), turns, &existing);
        let ids: Vec<&str> = missing.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t3", "t4"]);
        assert_eq!(present, 2);
    }

    #[test]
    fn timestamps_from_salesforce_at_the_ends_of_the_range_neither_wrap_nor_panic() {
        let turns = vec![turn("t1", "AGENT", "Hello", 0)];
        let existing = [
            entry("x", "AGENT", "Hello", i64::MIN),
            entry("y", "AGENT", "Hello", i64::MAX),
        ];
        let (missing, present) = missing_turns(&window(), turns.clone(), &existing);
        assert_eq!((missing, present), (turns, 0));
    }

    #[test]
    fn nothing_held_means_everything_is_missing() {
        let turns = vec![turn("t1", "AGENT", "Hello", 0)];
        let (missing, present) = missing_turns(&window(), turns.clone(), &[]);
        assert_eq!((missing, present), (turns, 0));
    }

    #[test]
    fn modes_are_named() {
        assert_eq!(
            ExistingEntries::from_name("skip"),
            Some(ExistingEntries::Skip)
        );
        assert_eq!(ExistingEntries::from_name("Fill"), None);
        assert_eq!(ExistingEntries::default(), ExistingEntries::Fill);
    }
}
