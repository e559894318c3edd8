//! The SOQL this function sends to find VoiceCall records, built only from validated values:
//! contact ids that are UUIDs, and instants. String literals are quoted and escaped anyway,
//! so no value can change a query's meaning.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ids::is_connect_id;

/// A query built here; the only way to make one, so every query sent is one of these shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soql(String);

impl Soql {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One VoiceCall as a query returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceCallRecord {
    /// The 18-character record id.
    pub id: String,
    /// The Amazon Connect contactId of the call.
    pub vendor_call_key: Option<String>,
}

/// The VoiceCalls of these contacts, by `VendorCallKey`. Ids that are not UUIDs are left out
/// (they cannot be contact ids, and never reach a query); `None` when none is left.
pub fn voice_calls_of_contacts<'a>(contact_ids: impl IntoIterator<Item = &'a str>) -> Option<Soql> {
    let keys: Vec<String> = contact_ids
        .into_iter()
        .filter(|id| is_connect_id(id))
        .map(string_literal)
        .collect();
    if keys.is_empty() {
        return None;
    }
    Some(Soql(format!(
        "SELECT Id, VendorCallKey FROM VoiceCall WHERE VendorCallKey IN ({})",
        keys.join(", ")
    )))
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
            format!(
                "SELECT Id, VendorCallKey FROM VoiceCall WHERE VendorCallKey IN ('{A}', '{B}')"
            )
        );
        assert_eq!(voice_calls_of_contacts(["not-a-uuid"]), None);
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
