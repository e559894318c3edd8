//! The SOQL this function sends to find VoiceCall records, built only from validated values:
//! contact ids that are UUIDs, and instants. String literals are quoted and escaped anyway,
//! so no value can change a query's meaning.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::ids::{is_connect_id, salesforce_id_15};

/// A query built here; the only way to make one, so every query sent is one of these shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soql(String);

impl Soql {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One VoiceCall as a query returns it; fields a query did not select are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VoiceCallRecord {
    /// The 18-character record id.
    pub id: String,
    /// The Amazon Connect contactId of the call (of this leg, for a transferred call).
    pub vendor_call_key: Option<String>,
    /// The VoiceCall of the leg this one was transferred or consulted from.
    pub previous_call_id: Option<String>,
    /// The VoiceCall of the leg this one was transferred or consulted to.
    pub next_call_id: Option<String>,
    /// `CallEndDateTime`, epoch milliseconds.
    pub call_end_ms: Option<i64>,
    /// The conversation the leg's transcript is kept in.
    pub conversation: Option<ConversationRecord>,
}

/// A VoiceCall's `ConversationId` and what the `Conversation` relationship reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    /// The Conversation record's id.
    pub id: String,
    /// `Conversation.ConversationIdentifier`: what the Connect REST resources call the
    /// conversation (the first leg's contactId).
    pub identifier: Option<String>,
    /// `Conversation.EndTime` is set: the conversation is closed.
    pub ended: bool,
}

/// What the lookups of calls' legs select: the leg, its neighbours, when it ended, and its
/// conversation (Salesforce object reference: VoiceCall, Conversation).
const LEG_FIELDS: &str = "Id, VendorCallKey, PreviousCallId, NextCallId, CallEndDateTime, \
ConversationId, Conversation.ConversationIdentifier, Conversation.EndTime";

/// The VoiceCalls of these contacts, by `VendorCallKey`, with their conversations. Ids that
/// are not UUIDs are left out (they cannot be contact ids, and never reach a query); `None`
/// when none is left.
pub fn voice_calls_of_contacts<'a>(contact_ids: impl IntoIterator<Item = &'a str>) -> Option<Soql> {
    legs_where_in("VendorCallKey", contact_ids, is_connect_id)
}

/// Every VoiceCall of these conversations (by Conversation record id): all legs of the calls.
/// Values that are not Salesforce ids are left out; `None` when none is left.
pub fn voice_calls_in_conversations<'a>(
    conversation_ids: impl IntoIterator<Item = &'a str>,
) -> Option<Soql> {
    legs_where_in("ConversationId", conversation_ids, |id| {
        salesforce_id_15(id).is_ok()
    })
}

/// The legs' fields of the VoiceCalls whose `field` is one of the `values` that pass `valid`,
/// each quoted; `None` when none does.
fn legs_where_in<'a>(
    field: &str,
    values: impl IntoIterator<Item = &'a str>,
    valid: impl Fn(&str) -> bool,
) -> Option<Soql> {
    let literals: Vec<String> = values
        .into_iter()
        .filter(|value| valid(value))
        .map(string_literal)
        .collect();
    if literals.is_empty() {
        return None;
    }
    Some(Soql(format!(
        "SELECT {LEG_FIELDS} FROM VoiceCall WHERE {field} IN ({})",
        literals.join(", ")
    )))
}

/// A datetime as Salesforce's REST API writes it (`2026-11-01T10:00:00.000+0000`), in epoch
/// milliseconds; `None` when it is not one.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    let at = OffsetDateTime::parse(text, format)
        .or_else(|_| OffsetDateTime::parse(text, &Rfc3339))
        .ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Every VoiceCall with a `VendorCallKey` whose call started in `[from, to)`, oldest first.
/// SOQL datetimes have whole seconds, so a fractional edge widens the window to the second
/// around it: one call more is harmless, one less would be missed.
pub fn voice_calls_started_between(from: OffsetDateTime, to: OffsetDateTime) -> Soql {
    let to_whole = to.replace_nanosecond(0).unwrap_or(to);
    let to = if to_whole == to {
        to
    } else {
        to_whole + time::Duration::SECOND
    };
    Soql(format!(
        "SELECT Id, VendorCallKey FROM VoiceCall WHERE CallStartDateTime >= {} \
         AND CallStartDateTime < {} AND VendorCallKey != null ORDER BY CallStartDateTime, Id",
        datetime_literal(from.replace_nanosecond(0).unwrap_or(from)),
        datetime_literal(to)
    ))
}

/// A single-quoted SOQL string literal: a quote or backslash inside is escaped with a backslash,
/// and so are the control characters SOQL has escapes for.
fn string_literal(value: &str) -> String {
    let mut literal = String::with_capacity(value.len() + 2);
    literal.push('\'');
    for c in value.chars() {
        match c {
            '\'' => literal.push_str("\\'"),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            c => literal.push(c),
        }
    }
    literal.push('\'');
    literal
}

/// Datetime literals are unquoted ISO 8601 in UTC, to the second.
fn datetime_literal(instant: OffsetDateTime) -> String {
    instant
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";
    const B: &str = "f15c9342-65a1-41e8-a752-81d630a2890d";

    #[test]
    fn contacts_are_looked_up_by_vendor_call_key_and_only_uuids_reach_the_query() {
        let soql = voice_calls_of_contacts([A, "x' OR Id != null OR Id = 'y", B]).unwrap();
        assert_eq!(
            soql.as_str(),
            format!("SELECT {LEG_FIELDS} FROM VoiceCall WHERE VendorCallKey IN ('{A}', '{B}')")
        );
        assert_eq!(voice_calls_of_contacts(["not-a-uuid"]), None);
    }

    #[test]
    fn legs_are_looked_up_by_conversation_id_and_only_salesforce_ids_reach_the_query() {
        let soql = voice_calls_in_conversations([
            "0dw000000000001AAA",
            "x' OR Id != null",
            "0dw000000000002",
        ])
        .unwrap();
        assert_eq!(
            soql.as_str(),
            format!(
                "SELECT {LEG_FIELDS} FROM VoiceCall WHERE ConversationId IN \
                 ('0dw000000000001AAA', '0dw000000000002')"
            )
        );
        assert_eq!(voice_calls_in_conversations(["nope"]), None);
    }

    #[test]
    fn salesforce_datetimes_are_read_to_the_millisecond() {
        assert_eq!(
            parse_datetime("2026-11-01T10:00:00.250+0000"),
            Some(1_793_527_200_250)
        );
        assert_eq!(
            parse_datetime("2026-11-01T11:00:00.250+0100"),
            Some(1_793_527_200_250)
        );
        assert_eq!(
            parse_datetime("2026-11-01T10:00:00Z"),
            Some(1_793_527_200_000)
        );
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn string_literals_escape_quotes_backslashes_and_controls() {
        assert_eq!(string_literal("O'Brien"), r"'O\'Brien'");
        assert_eq!(string_literal(r"a\b"), r"'a\\b'");
        assert_eq!(string_literal("a\nb"), r"'a\nb'");
    }

    #[test]
    fn windows_use_unquoted_utc_datetimes() {
        let from = OffsetDateTime::parse("2026-11-01T01:00:00.9+01:00", &Rfc3339).unwrap();
        let to = OffsetDateTime::parse("2026-11-08T00:00:00.25Z", &Rfc3339).unwrap();
        assert_eq!(
            voice_calls_started_between(from, to).as_str(),
            "SELECT Id, VendorCallKey FROM VoiceCall WHERE CallStartDateTime >= 2026-11-01T00:00:00Z \
             AND CallStartDateTime < 2026-11-08T00:00:01Z AND VendorCallKey != null \
             ORDER BY CallStartDateTime, Id"
        );
    }
}
