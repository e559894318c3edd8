//! Contact Lens post-call analysis files, the transcript source for calls whose real-time
//! segments are gone (kept 24 hours only): where a contact's file lies in the bucket, which of
//! several to take, and its `Transcript[]` as turns.

use std::collections::HashMap;

use serde::Deserialize;
use thiserror::Error;
use time::OffsetDateTime;

use super::json::JsonError;
use super::transcript::Turn;

const DAY_MS: i64 = 86_400_000;
/// Contact Lens keeps real-time segments this long after a call.
pub const REALTIME_RETENTION_MS: i64 = DAY_MS;

/// The listing prefixes that can hold a contact's analysis file, in the order to try: the
/// preferred variant (raw or redacted) before the other, and for each the UTC day of
/// ConnectedToAgentTimestamp before the next day (a call that crosses midnight).
pub fn candidate_prefixes(
    contact_id: &str,
    connected_to_agent_ms: i64,
    prefer_redacted: bool,
) -> Vec<String> {
    let variants: [&str; 2] = if prefer_redacted {
        ["Analysis/Voice/Redacted/", "Analysis/Voice/"]
    } else {
        ["Analysis/Voice/", "Analysis/Voice/Redacted/"]
    };
    // A day the calendar cannot name (beyond year 9999) holds no file.
    let days: Vec<String> = [
        connected_to_agent_ms,
        connected_to_agent_ms.saturating_add(DAY_MS),
    ]
    .into_iter()
    .filter_map(utc_date_path)
    .collect();
    variants
        .iter()
        .flat_map(|variant| {
            days.iter()
                .map(move |day| format!("{variant}{day}/{contact_id}"))
        })
        .collect()
}

/// Of the keys under a contact's prefix, its analysis file: the newest when Contact Lens wrote
/// more than one (the key ends in the write time, so the greatest key is the newest). Keys of
/// other files that merely share the prefix (another id with this one as its start cannot
/// occur for UUIDs, but a stray object can) are ignored.
pub fn pick_analysis_key<'a>(contact_id: &str, keys: &'a [String]) -> Option<&'a String> {
    keys.iter()
        .filter(|key| {
            let file = key.rsplit('/').next().unwrap_or_default();
            file.starts_with(&format!("{contact_id}_analysis_")) && file.ends_with(".json")
        })
        .max()
}

/// What is wrong with an analysis file. Never quotes its content.
#[derive(Debug, Error)]
pub enum AnalysisError {
    #[error("the analysis file is not UTF-8 JSON of the Contact Lens output format ({0})")]
    Malformed(#[source] JsonError),
    #[error("the analysis file has no Transcript")]
    NoTranscript,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AnalysisFile {
    #[serde(default)]
    participants: Vec<Participant>,
    transcript: Option<Vec<FileTurn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Participant {
    participant_id: String,
    participant_role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileTurn {
    id: Option<String>,
    participant_id: Option<String>,
    content: Option<String>,
    #[serde(default)]
    begin_offset_millis: i64,
    #[serde(default)]
    end_offset_millis: i64,
}

/// The file's `Transcript[]` as turns, mapped like real-time segments. A turn's role is its
/// participant's `ParticipantRole`, or the `ParticipantId` itself (Contact Lens uses AGENT and
/// CUSTOMER as ids). Turns without id or text cannot become entries and are left out.
pub fn parse_analysis_file(bytes: &[u8]) -> Result<Vec<Turn>, AnalysisError> {
    // from_slice rejects invalid UTF-8, so text is never mangled on the way to Salesforce.
    let file: AnalysisFile =
        serde_json::from_slice(bytes).map_err(|e| AnalysisError::Malformed(e.into()))?;
    let roles: HashMap<&str, &str> = file
        .participants
        .iter()
        .map(|p| (p.participant_id.as_str(), p.participant_role.as_str()))
        .collect();
    let turns = file.transcript.ok_or(AnalysisError::NoTranscript)?;
    Ok(turns
        .into_iter()
        .filter_map(|t| {
            let participant = t.participant_id.unwrap_or_default();
            Some(Turn {
                id: t.id.filter(|id| !id.is_empty())?,
                participant_role: roles
                    .get(participant.as_str())
                    .map_or(participant.clone(), |role| (*role).to_owned()),
                content: t.content?,
                begin_offset_ms: t.begin_offset_millis,
                end_offset_ms: t.end_offset_millis,
            })
        })
        .collect())
}

/// `YYYY/MM/DD` of an epoch-milliseconds instant in UTC; `None` outside the calendar's range.
fn utc_date_path(epoch_ms: i64) -> Option<String> {
    let date = OffsetDateTime::from_unix_timestamp(epoch_ms.div_euclid(1_000))
        .ok()?
        .date();
    Some(format!(
        "{:04}/{:02}/{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTACT: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";

    #[test]
    fn dates_are_utc_across_month_year_and_leap_boundaries() {
        for (ms, expected) in [
            (0, "1970/01/01"),
            (951_782_400_000, "2000/02/29"),
            (1_798_761_599_999, "2026/12/31"),
            (1_798_761_600_000, "2027/01/01"),
            (1_709_164_800_000, "2024/02/29"),
            (-1, "1969/12/31"),
            (1_795_478_400_000, "2026/11/24"),
            (-86_400_000, "1969/12/31"),
        ] {
            assert_eq!(utc_date_path(ms).as_deref(), Some(expected), "{ms}");
        }
        assert_eq!(utc_date_path(i64::MAX), None);
    }

    #[test]
    fn prefixes_try_the_preferred_variant_and_the_next_day() {
        // 2026-11-20T23:58:00Z
        let connected = 1_795_219_080_000;
        assert_eq!(
            candidate_prefixes(CONTACT, connected, false),
            [
                format!("Analysis/Voice/2026/11/20/{CONTACT}"),
                format!("Analysis/Voice/2026/11/21/{CONTACT}"),
                format!("Analysis/Voice/Redacted/2026/11/20/{CONTACT}"),
                format!("Analysis/Voice/Redacted/2026/11/21/{CONTACT}"),
            ]
        );
        assert!(
            candidate_prefixes(CONTACT, connected, true)[0].starts_with("Analysis/Voice/Redacted/")
        );
    }

    #[test]
    fn the_newest_analysis_file_of_the_contact_is_picked() {
        let keys: Vec<String> = [
            format!("Analysis/Voice/2026/11/20/{CONTACT}_analysis_2026-11-20T10:00:00Z.json"),
            format!("Analysis/Voice/2026/11/20/{CONTACT}_analysis_2026-11-20T12:00:00Z.json"),
            format!("Analysis/Voice/2026/11/20/{CONTACT}_notes.txt"),
        ]
        .into();
        assert_eq!(pick_analysis_key(CONTACT, &keys), Some(&keys[1]));
        assert_eq!(pick_analysis_key(CONTACT, &keys[2..]), None);
    }

    #[test]
    fn transcript_turns_take_their_participants_roles() {
        let file = br#"{"Version":"1.1.0","Participants":[{"ParticipantId":"A1","ParticipantRole":"AGENT"}],
            "Transcript":[
              {"Id":"t1","ParticipantId":"A1","Content":"Gr\u00fc\u00df Gott \u3053\u3093\u306b\u3061\u306f","BeginOffsetMillis":10,"EndOffsetMillis":900,"Sentiment":"NEUTRAL"},
              {"Id":"t2","ParticipantId":"CUSTOMER","Content":"Hi","BeginOffsetMillis":1000,"EndOffsetMillis":1500},
              {"ParticipantId":"CUSTOMER","Content":"no id"}]}"#;
        let turns = parse_analysis_file(file).unwrap();
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].participant_role, "AGENT");
        assert_eq!(turns[0].content, "Grüß Gott こんにちは");
        assert_eq!(
            (turns[0].begin_offset_ms, turns[0].end_offset_ms),
            (10, 900)
        );
        assert_eq!(turns[1].participant_role, "CUSTOMER");
    }

    #[test]
    fn broken_files_are_errors_that_quote_nothing() {
        let error = parse_analysis_file(b"{\"Transcript\": SECRETWORDS}").unwrap_err();
        assert!(!error.to_string().contains("SECRETWORDS"));
        assert!(matches!(
            parse_analysis_file(b"{\"Version\":\"1.1.0\"}"),
            Err(AnalysisError::NoTranscript)
        ));
        assert!(matches!(
            parse_analysis_file(b"{\"Transcript\":[{\"Content\":\"\xff\"}]}"),
            Err(AnalysisError::Malformed(_))
        ));
    }

    /// serde's own message would quote a wrong-typed value: here, what a caller said.
    #[test]
    fn a_wrong_typed_field_is_reported_without_its_text() {
        let file = br#"{"Transcript":[{"Id":"t1","ParticipantId":"CUSTOMER","Content":"hi",
            "BeginOffsetMillis":"my card number is 4111 1111 1111 1111"}]}"#;
        let error = parse_analysis_file(file).unwrap_err();
        let mut text = format!("{error} {error:?}");
        let mut source = std::error::Error::source(&error);
        while let Some(e) = source {
            text.push_str(&format!(" {e} {e:?}"));
            source = e.source();
        }
        assert!(!text.contains("4111"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }
}
