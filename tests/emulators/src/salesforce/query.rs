//! `GET .../query?q=<SOQL>` and the `nextRecordsUrl` pages of its result, over the world's
//! VoiceCall records. It serves the queries the function sends (`lambda/src/domain/soql.rs`)
//! and the tests' variations of them, nothing more:
//!
//! `SELECT field [, field]... FROM VoiceCall [WHERE filter [AND filter]...]
//! [ORDER BY CallStartDateTime|Id [, ...]] [LIMIT n]`, the fields being `Id`, `VendorCallKey`,
//! `CallStartDateTime`, `CallEndDateTime` and `ConversationId` (and, in SELECT only, the
//! other fields of transferred calls: `PreviousCallId`, `NextCallId`, `CallType`,
//! `Conversation.ConversationIdentifier`, `Conversation.EndTime`), a filter one of
//! `VendorCallKey IN ('a', ...)`, `VendorCallKey = 'a'`, `VendorCallKey = null`,
//! `VendorCallKey != null`, `ConversationId IN ('0dw...', ...)`, `ConversationId = '0dw...'`
//! (the legs of a transferred call: ids of 18 characters compared exactly, of 15 with the
//! first 15 of the id), `CallStartDateTime >= <datetime>` and `CallStartDateTime < <datetime>`
//! (an unquoted RFC 3339 datetime), sorting ascending. Keywords and names are
//! case-insensitive.
//!
//! Salesforce checks the grammar first (MALFORMED_QUERY), then the sObject (INVALID_TYPE),
//! then the fields (INVALID_FIELD) and the filter values, and so does the parser here. Valid
//! SOQL of another shape (another filter or sort, DESC, OR, ...) is refused as MALFORMED_QUERY
//! too: an unexpected token at its operator, keyword or field.

use std::cmp::Ordering;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use super::{Host, query_param, query_params, rest_error};
use crate::fault::{self, IdMatch, Injected, Reply, RequestInfo};
use crate::world::{
    ConversationRecord, SalesforceState, Service, State as WorldState, VoiceCall,
    conversation_record_id, format_utc, generated_id, unix_ms,
};

/// Records per page: Salesforce's default batch size.
const BATCH_SIZE: usize = 2000;
const SOBJECT: &str = "VoiceCall";
/// The relationship `VoiceCall.ConversationId` names, and the sObject it leads to.
const CONVERSATION: &str = "Conversation";
/// The errorCode for a filter value of the wrong type. Salesforce likely answers
/// INVALID_QUERY_FILTER_OPERATOR; MALFORMED_QUERY keeps the emulator's codes to three.
const FILTER_VALUE_ERROR: &str = "MALFORMED_QUERY";

/// `GET .../query?q=<SOQL>`: the result's first page. The VendorCallKey values a query names
/// are the contact ids faults aimed with `Fault::for_contact` match: a query by ConversationId
/// names none, so no such fault matches it.
pub(super) async fn query(
    State(host): State<Host>,
    Path(version): Path<String>,
    uri: Uri,
) -> Response {
    host.world.lock().stats.query_requests += 1;
    let params = query_params(&uri);
    let parsed = query_param(&params, "q")
        .filter(|soql| !soql.trim().is_empty())
        .map(parse);
    let vendor_keys = match &parsed {
        Some(Ok(query)) => query.vendor_keys.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    let request = RequestInfo {
        path: uri.path(),
        contact_ids: vendor_keys,
        id_match: IdMatch::Equal,
        upload: false,
    };
    if let Injected::Respond(response) =
        fault::check(&host.world, Service::Salesforce, request).await
    {
        return response;
    }
    let query = match parsed {
        None => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "MALFORMED_QUERY",
                "A query string has to be specified",
            );
        }
        Some(Err(error)) => return error.response(),
        Some(Ok(query)) => query,
    };

    let mut world = host.world.lock();
    let ids = query.run(&world.salesforce.voice_calls);
    let locator = (ids.len() > BATCH_SIZE).then(|| new_locator(&mut world));
    let body = page(
        &world.salesforce,
        &version,
        &query.fields,
        &ids,
        0,
        locator.as_deref(),
        false,
    );
    if let Some(locator) = locator {
        let cursor = QueryCursor {
            fields: query.fields,
            ids,
        };
        world.salesforce.query_cursors.insert(locator, cursor);
    }
    json_text(body)
}

/// `GET .../query/<locator>-<offset>` (a `nextRecordsUrl`): the result's page from `offset`.
/// [`crate::Fault::repeat_query_cursor`] makes the page name itself as the next one.
pub(super) async fn query_more(
    State(host): State<Host>,
    Path((version, position)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    host.world.lock().stats.query_requests += 1;
    let request = RequestInfo {
        path: uri.path(),
        contact_ids: Vec::new(),
        id_match: IdMatch::Equal,
        upload: false,
    };
    let cursor_stuck = match fault::check(&host.world, Service::Salesforce, request).await {
        Injected::Respond(response) => return response,
        Injected::Proceed(reply) => matches!(reply, Reply::RepeatCursor),
    };
    let world = host.world.lock();
    let found = position.rsplit_once('-').and_then(|(locator, offset)| {
        let offset: usize = offset.parse().ok()?;
        let cursor = world.salesforce.query_cursors.get(locator)?;
        (offset < cursor.ids.len()).then_some((locator, offset, cursor))
    });
    let Some((locator, offset, cursor)) = found else {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        );
    };
    json_text(page(
        &world.salesforce,
        &version,
        &cursor.fields,
        &cursor.ids,
        offset,
        Some(locator),
        cursor_stuck,
    ))
}

/// A result being paged through: its fields and its records' ids, fixed when the query ran
/// (a server-side cursor), so VoiceCalls added later do not shift its pages. Locators do not
/// expire.
pub(crate) struct QueryCursor {
    fields: Vec<Field>,
    ids: Vec<String>,
}

/// A fresh query locator, shaped like Salesforce's: an 18-character id with key prefix `01g`.
fn new_locator(state: &mut WorldState) -> String {
    generated_id("01g", state.next_random())
}

/// The page of a result from `offset`: at most [`BATCH_SIZE`] records, and a `nextRecordsUrl`
/// naming `locator` while more follow; with `cursor_stuck`, naming this page again.
fn page(
    salesforce: &SalesforceState,
    version: &str,
    fields: &[Field],
    ids: &[String],
    offset: usize,
    locator: Option<&str>,
    cursor_stuck: bool,
) -> String {
    let end = ids.len().min(offset + BATCH_SIZE);
    let done = end == ids.len();
    let url = format!("/services/data/{version}/sobjects/{SOBJECT}/");
    let conversation_url = format!("/services/data/{version}/sobjects/{CONVERSATION}/");
    let reads_conversation = fields
        .iter()
        .any(|field| *field == Field::ConversationId || field.is_relationship());
    let records = ids[offset..end]
        .iter()
        .filter_map(|id| salesforce.voice_call(id))
        .map(|call| Record {
            url: &url,
            conversation_url: &conversation_url,
            fields,
            call,
            // Found only when asked for: it scans every VoiceCall.
            conversation: reads_conversation
                .then(|| salesforce.conversation_record(call))
                .flatten(),
        })
        .collect();
    let page = Page {
        total_size: ids.len(),
        done,
        next_records_url: locator.filter(|_| !done).map(|locator| {
            let next = if cursor_stuck { offset } else { end };
            format!("/services/data/{version}/query/{locator}-{next}")
        }),
        records,
    };
    serde_json::to_string(&page).expect("strings, numbers and booleans always serialize")
}

/// Salesforce's member order: `nextRecordsUrl` (when present) comes before the records.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page<'a> {
    total_size: usize,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_records_url: Option<String>,
    records: Vec<Record<'a>>,
}

/// A record: `attributes`, then the selected fields in SELECT order. Serialized by hand because
/// a JSON object built with `json!` would list its members alphabetically. The `Conversation.`
/// fields make one nested `Conversation` object (its own `attributes`, then those fields in
/// SELECT order) where the first of them stands, or null when the call has no conversation,
/// as Salesforce's REST query returns a relationship.
struct Record<'a> {
    /// `/services/data/vNN.N/sobjects/VoiceCall/`, the id to follow.
    url: &'a str,
    /// `/services/data/vNN.N/sobjects/Conversation/`.
    conversation_url: &'a str,
    fields: &'a [Field],
    call: &'a VoiceCall,
    conversation: Option<ConversationRecord>,
}

/// The nested `Conversation` object of a record.
struct ConversationObject<'a> {
    url: String,
    fields: &'a [Field],
    call: &'a VoiceCall,
    conversation: &'a ConversationRecord,
}

impl Serialize for ConversationObject<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_map(None)?;
        let attributes = Attributes {
            type_: CONVERSATION,
            url: self.url.clone(),
        };
        object.serialize_entry("attributes", &attributes)?;
        for field in self.fields.iter().filter(|field| field.is_relationship()) {
            let name = field.name().trim_start_matches("Conversation.");
            object.serialize_entry(name, &field.json(self.call, Some(self.conversation)))?;
        }
        object.end()
    }
}

#[derive(Serialize)]
struct Attributes<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    url: String,
}

impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut record = serializer.serialize_map(None)?;
        let attributes = Attributes {
            type_: SOBJECT,
            url: format!("{}{}", self.url, self.call.id),
        };
        record.serialize_entry("attributes", &attributes)?;
        let conversation = self.conversation.as_ref();
        let mut relationship_done = false;
        for field in self.fields {
            if !field.is_relationship() {
                record.serialize_entry(field.name(), &field.json(self.call, conversation))?;
            } else if !relationship_done {
                relationship_done = true;
                let nested = conversation.map(|conversation| ConversationObject {
                    url: format!("{}{}", self.conversation_url, conversation.id),
                    fields: self.fields,
                    call: self.call,
                    conversation,
                });
                record.serialize_entry(CONVERSATION, &nested)?;
            }
        }
        record.end()
    }
}

fn json_text(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body,
    )
        .into_response()
}

/// `2026-11-01T10:00:00.000+0000`, as Salesforce writes datetimes.
const DATETIME: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");

fn datetime(ms: i64) -> String {
    format_utc(ms, DATETIME)
}

/// The VoiceCall fields a query may select, and the Conversation fields it may reach through
/// the `Conversation` relationship.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Id,
    VendorCallKey,
    CallStartDateTime,
    CallEndDateTime,
    PreviousCallId,
    NextCallId,
    CallType,
    ConversationId,
    /// `Conversation.ConversationIdentifier`.
    ConversationIdentifier,
    /// `Conversation.EndTime`.
    ConversationEndTime,
}

impl Field {
    /// The fields the function's queries filter and sort by.
    const FILTERABLE: [Field; 5] = [
        Field::Id,
        Field::VendorCallKey,
        Field::CallStartDateTime,
        Field::CallEndDateTime,
        Field::ConversationId,
    ];
    /// Selectable only: a query filtering or sorting by one is refused as naming no column,
    /// as before they were served.
    const SELECT_ONLY: [Field; 5] = [
        Field::PreviousCallId,
        Field::NextCallId,
        Field::CallType,
        Field::ConversationIdentifier,
        Field::ConversationEndTime,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Id => "Id",
            Field::VendorCallKey => "VendorCallKey",
            Field::CallStartDateTime => "CallStartDateTime",
            Field::CallEndDateTime => "CallEndDateTime",
            Field::PreviousCallId => "PreviousCallId",
            Field::NextCallId => "NextCallId",
            Field::CallType => "CallType",
            Field::ConversationId => "ConversationId",
            Field::ConversationIdentifier => "Conversation.ConversationIdentifier",
            Field::ConversationEndTime => "Conversation.EndTime",
        }
    }

    /// A field a filter or sort may name.
    fn named(name: &str) -> Option<Field> {
        Field::FILTERABLE
            .into_iter()
            .find(|field| field.name().eq_ignore_ascii_case(name))
    }

    /// A field SELECT may name.
    fn selectable(name: &str) -> Option<Field> {
        Field::named(name).or_else(|| {
            Field::SELECT_ONLY
                .into_iter()
                .find(|field| field.name().eq_ignore_ascii_case(name))
        })
    }

    /// Whether it is read through the `Conversation` relationship.
    fn is_relationship(self) -> bool {
        matches!(
            self,
            Field::ConversationIdentifier | Field::ConversationEndTime
        )
    }

    /// The value as a record carries it: a string, or null.
    fn json(self, call: &VoiceCall, conversation: Option<&ConversationRecord>) -> Value {
        let id = |id: &Option<String>| id.as_deref().map_or(Value::Null, Value::from);
        match self {
            Field::PreviousCallId => id(&call.previous_call_id),
            Field::NextCallId => id(&call.next_call_id),
            Field::CallType => Value::from(call.call_type.as_str()),
            Field::ConversationId => {
                conversation.map_or(Value::Null, |c| Value::from(c.id.as_str()))
            }
            Field::ConversationIdentifier => {
                conversation.map_or(Value::Null, |c| Value::from(c.identifier.as_str()))
            }
            Field::ConversationEndTime => conversation
                .and_then(|c| c.end_ms)
                .map_or(Value::Null, |ms| Value::from(datetime(ms))),
            Field::Id => Value::from(call.id.as_str()),
            Field::VendorCallKey => call
                .vendor_call_key
                .as_deref()
                .map_or(Value::Null, Value::from),
            Field::CallStartDateTime => Value::from(datetime(call.call_start_ms)),
            Field::CallEndDateTime => call
                .call_end_ms
                .map_or(Value::Null, |ms| Value::from(datetime(ms))),
        }
    }

    /// The type a filter value compared with this field lacks, as Salesforce names it: text
    /// and ids are quoted, datetimes not.
    fn type_error(self, literal: &Literal) -> Option<&'static str> {
        match (self, literal) {
            (Field::CallStartDateTime | Field::CallEndDateTime, Literal::Text(_)) => {
                Some("dateTime and should not be enclosed in quotes")
            }
            (Field::VendorCallKey, Literal::DateTime(_)) => {
                Some("string and should be enclosed in quotes")
            }
            (Field::Id | Field::ConversationId, Literal::DateTime(_)) => {
                Some("id and should be enclosed in quotes")
            }
            _ => None,
        }
    }
}

/// The filters the function's queries use. SOQL compares text case-insensitively, so keys are
/// held lower-cased; ids are held as written.
#[derive(Debug, PartialEq)]
enum Filter {
    /// `VendorCallKey IN ('a', ...)` or `VendorCallKey = 'a'`.
    KeyIn(Vec<String>),
    /// `VendorCallKey = null`.
    KeyNull,
    /// `VendorCallKey != null`.
    KeyNotNull,
    /// `ConversationId IN ('0dw...', ...)` or `ConversationId = '0dw...'`: each id in 15 or 18
    /// characters.
    ConversationIn(Vec<String>),
    /// `CallStartDateTime >= <datetime>`.
    StartFrom(i64),
    /// `CallStartDateTime < <datetime>`.
    StartBefore(i64),
}

impl Filter {
    fn holds(&self, call: &VoiceCall) -> bool {
        let key = call.vendor_call_key.as_deref();
        match self {
            Filter::KeyIn(keys) => key.is_some_and(|key| keys.contains(&key.to_lowercase())),
            Filter::KeyNull => key.is_none(),
            Filter::KeyNotNull => key.is_some(),
            Filter::ConversationIn(ids) => {
                call.conversation_identifier
                    .as_deref()
                    .is_some_and(|identifier| {
                        let id = conversation_record_id(identifier);
                        ids.iter().any(|wanted| same_id(&id, wanted))
                    })
            }
            Filter::StartFrom(ms) => call.call_start_ms >= *ms,
            Filter::StartBefore(ms) => call.call_start_ms < *ms,
        }
    }
}

/// Whether `wanted`, as a query writes it, names the record with 18-character id `id`: an
/// 18-character id exactly (case-sensitively), a 15-character one as `id`'s first 15
/// characters. Of any other length it names none (Salesforce would refuse it as an invalid id).
fn same_id(id: &str, wanted: &str) -> bool {
    match wanted.len() {
        18 => id == wanted,
        15 => id.starts_with(wanted),
        _ => false,
    }
}

/// The fields the function's queries sort by, ascending (neither is ever null).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortKey {
    CallStartDateTime,
    Id,
}

impl SortKey {
    fn compare(self, a: &VoiceCall, b: &VoiceCall) -> Ordering {
        match self {
            SortKey::CallStartDateTime => a.call_start_ms.cmp(&b.call_start_ms),
            SortKey::Id => a.id.cmp(&b.id),
        }
    }
}

/// A parsed query, checked against the VoiceCall schema and the shapes served.
#[derive(Debug, PartialEq)]
pub(crate) struct Query {
    fields: Vec<Field>,
    filters: Vec<Filter>,
    order: Vec<SortKey>,
    limit: Option<usize>,
    /// The strings compared with VendorCallKey by `=` or IN, as written.
    vendor_keys: Vec<String>,
}

impl Query {
    /// The ids of the matching VoiceCalls in result order: ORDER BY, else insertion order (the
    /// sort is stable, so ties keep it too); at most LIMIT.
    fn run(&self, calls: &[VoiceCall]) -> Vec<String> {
        let mut rows: Vec<&VoiceCall> = calls
            .iter()
            .filter(|call| self.filters.iter().all(|filter| filter.holds(call)))
            .collect();
        rows.sort_by(|a, b| {
            self.order
                .iter()
                .map(|key| key.compare(a, b))
                .find(|ordering| ordering.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        rows.into_iter()
            .take(self.limit.unwrap_or(usize::MAX))
            .map(|call| call.id.clone())
            .collect()
    }
}

/// A refused query: the errorCode and message Salesforce answers 400 with.
#[derive(Debug, PartialEq)]
pub(crate) struct QueryError {
    code: &'static str,
    message: String,
}

impl QueryError {
    /// An error at byte `at` of the query. Salesforce puts the row in front of the message with
    /// a caret under the column, then `ERROR at Row:r:Column:c` (1-based, in characters).
    fn at(soql: &str, at: usize, code: &'static str, message: &str) -> QueryError {
        let (row, column, line) = locate(soql, at);
        QueryError {
            code,
            message: format!(
                "\n{line}\n{caret:>column$}\nERROR at Row:{row}:Column:{column}\n{message}",
                caret = "^"
            ),
        }
    }

    fn malformed(soql: &str, at: usize, message: &str) -> QueryError {
        QueryError::at(soql, at, "MALFORMED_QUERY", message)
    }

    fn response(&self) -> Response {
        rest_error(StatusCode::BAD_REQUEST, self.code, &self.message)
    }
}

/// (row, column, text of that row) of byte `at`.
fn locate(soql: &str, at: usize) -> (usize, usize, &str) {
    let before = &soql[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = soql[at..].find('\n').map_or(soql.len(), |i| at + i);
    let row = before.matches('\n').count() + 1;
    let column = soql[line_start..at].chars().count() + 1;
    (
        row,
        column,
        soql[line_start..line_end].trim_end_matches('\r'),
    )
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// A keyword or a name.
    Word,
    /// A quoted string, escapes resolved.
    Text(String),
    Integer(u64),
    DateTime(i64),
    Comma,
    Open,
    Close,
    /// A comparison operator, any of SOQL's: which one is the token's text.
    Op,
    End,
}

/// A token and its byte range in the query.
#[derive(Clone, Debug, PartialEq)]
struct Token {
    tok: Tok,
    at: usize,
    end: usize,
}

fn tokens(soql: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(c) = soql[at..].chars().next() {
        let rest = &soql[at..];
        let (tok, len) = if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        } else if c.is_ascii_alphabetic() || c == '_' {
            (Tok::Word, word_length(rest))
        } else if c.is_ascii_digit() {
            // Datetimes are unquoted, so digits, letters and `-:+.` make one token.
            let len = run(rest, |c| {
                c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '+' | '.')
            });
            let text = &rest[..len];
            let tok = match text.parse() {
                Ok(n) => Tok::Integer(n),
                Err(_) => parse_datetime(text)
                    .map(Tok::DateTime)
                    .ok_or_else(|| unexpected(soql, at, text))?,
            };
            (tok, len)
        } else if c == '\'' {
            let (text, len) = string(soql, at)?;
            (Tok::Text(text), len)
        } else {
            match (rest.get(..2), c) {
                (Some("!=" | "<>" | "<=" | ">="), _) => (Tok::Op, 2),
                (_, '=' | '<' | '>') => (Tok::Op, 1),
                (_, ',') => (Tok::Comma, 1),
                (_, '(') => (Tok::Open, 1),
                (_, ')') => (Tok::Close, 1),
                _ => {
                    let (row, column, _) = locate(soql, at);
                    let message = format!(
                        "line {row}:{} no viable alternative at character '{c}'",
                        column - 1
                    );
                    return Err(QueryError::malformed(soql, at, &message));
                }
            }
        };
        tokens.push(Token {
            tok,
            at,
            end: at + len,
        });
        at += len;
    }
    tokens.push(Token {
        tok: Tok::End,
        at: soql.len(),
        end: soql.len(),
    });
    Ok(tokens)
}

/// The byte length of the name `rest` starts with. `Conversation.<field>` is one name: the
/// only relationship served, so any other dot stays outside the grammar.
fn word_length(rest: &str) -> usize {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let len = run(rest, is_name);
    let after_dot = rest[len..]
        .strip_prefix('.')
        .map_or(0, |field| run(field, is_name));
    if rest[..len].eq_ignore_ascii_case(CONVERSATION) && after_dot > 0 {
        len + 1 + after_dot
    } else {
        len
    }
}

/// The byte length of the run of characters `rest` starts with that satisfy `keep`.
fn run(rest: &str, keep: impl Fn(char) -> bool) -> usize {
    rest.find(|c| !keep(c)).unwrap_or(rest.len())
}

fn unexpected(soql: &str, at: usize, text: &str) -> QueryError {
    QueryError::malformed(soql, at, &format!("unexpected token: '{text}'"))
}

/// The quoted string starting at byte `at`: its value and its length in the query, quotes
/// included. The escapes are those the function writes (`\' \\ \n \r \t`); any other
/// backslash is an error, as SOQL's other escapes are here.
fn string(soql: &str, at: usize) -> Result<(String, usize), QueryError> {
    let mut value = String::new();
    let mut chars = soql[at + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return Ok((value, i + 2)),
            '\\' => {
                let Some((_, escaped)) = chars.next() else {
                    break;
                };
                match escaped {
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    '\'' | '\\' => value.push(escaped),
                    _ => {
                        let raw = &soql[at..literal_end(soql, at)];
                        let message = format!(
                            "Invalid string literal {raw}. Illegal character sequence \
                             '\\{escaped}' in string literal."
                        );
                        return Err(QueryError::malformed(soql, at, &message));
                    }
                }
            }
            c => value.push(c),
        }
    }
    let (row, column, _) = locate(soql, soql.len());
    let message = format!(
        "line {row}:{} mismatched character '<EOF>' expecting '''",
        column - 1
    );
    Err(QueryError::malformed(soql, soql.len(), &message))
}

/// Where the quoted string starting at byte `at` ends (after its closing quote, or at the end
/// of the query), stepping over escaped characters.
fn literal_end(soql: &str, at: usize) -> usize {
    let mut chars = soql[at + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return at + i + 2,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
    }
    soql.len()
}

/// An RFC 3339 datetime (`2026-11-01T00:00:00Z`, `...+01:00`) as epoch milliseconds.
fn parse_datetime(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(unix_ms)
}

/// A field or sObject name as written, and where: names are checked against the schema after
/// the grammar.
#[derive(Debug)]
struct Name {
    text: String,
    at: usize,
}

#[derive(Debug)]
enum Literal {
    Text(String),
    DateTime(i64),
    Null,
}

/// `field op value` or `field IN (value, ...)` as written.
#[derive(Debug)]
struct Condition<'a> {
    field: Name,
    /// The operator or `IN`, as written, and where.
    op: &'a str,
    op_at: usize,
    /// The values and where each is.
    values: Vec<(Literal, usize)>,
}

/// A query as written, before its names are checked.
#[derive(Debug)]
struct Syntax<'a> {
    select: Vec<Name>,
    from: Name,
    conditions: Vec<Condition<'a>>,
    order: Vec<Name>,
    limit: Option<usize>,
}

/// Words that cannot name a field: this grammar's keywords and the SOQL ones it lacks, so that
/// `SELECT FROM VoiceCall` or `... WHERE Id = 'x' OR ...` point at the keyword.
const RESERVED: &[&str] = &[
    "AND", "ASC", "BY", "DESC", "EXCLUDES", "FALSE", "FOR", "FROM", "GROUP", "HAVING", "IN",
    "INCLUDES", "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OFFSET", "OR", "ORDER", "SELECT", "TRUE",
    "USING", "WHERE", "WITH",
];

struct Parser<'a> {
    soql: &'a str,
    tokens: Vec<Token>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.tokens[self.next]
    }

    /// The next token; the end token repeats once reached.
    fn advance(&mut self) -> Token {
        let token = self.tokens[self.next].clone();
        if token.tok != Tok::End {
            self.next += 1;
        }
        token
    }

    fn text(&self, token: &Token) -> &'a str {
        &self.soql[token.at..token.end]
    }

    fn unexpected(&self, token: &Token) -> QueryError {
        let text = match token.tok {
            Tok::End => "<EOF>",
            _ => self.text(token),
        };
        unexpected(self.soql, token.at, text)
    }

    fn is_keyword(&self, token: &Token, keyword: &str) -> bool {
        token.tok == Tok::Word && self.text(token).eq_ignore_ascii_case(keyword)
    }

    /// Takes the next token if it is `keyword`.
    fn eat(&mut self, keyword: &str) -> bool {
        let found = self.is_keyword(self.peek(), keyword);
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, keyword: &str) -> Result<(), QueryError> {
        let token = self.advance();
        if self.is_keyword(&token, keyword) {
            Ok(())
        } else {
            Err(self.unexpected(&token))
        }
    }

    fn expect_tok(&mut self, tok: &Tok) -> Result<(), QueryError> {
        let token = self.advance();
        if token.tok == *tok {
            Ok(())
        } else {
            Err(self.unexpected(&token))
        }
    }

    fn name(&mut self) -> Result<Name, QueryError> {
        let token = self.advance();
        let text = self.text(&token);
        let reserved = RESERVED.iter().any(|r| r.eq_ignore_ascii_case(text));
        if token.tok == Tok::Word && !reserved {
            Ok(Name {
                text: text.to_owned(),
                at: token.at,
            })
        } else {
            Err(self.unexpected(&token))
        }
    }

    /// Names separated by commas.
    fn names(&mut self) -> Result<Vec<Name>, QueryError> {
        let mut names = vec![self.name()?];
        while self.peek().tok == Tok::Comma {
            self.advance();
            names.push(self.name()?);
        }
        Ok(names)
    }

    fn query(&mut self) -> Result<Syntax<'a>, QueryError> {
        self.expect("SELECT")?;
        let select = self.names()?;
        self.expect("FROM")?;
        let from = self.name()?;
        let mut conditions = Vec::new();
        if self.eat("WHERE") {
            conditions.push(self.condition()?);
            while self.eat("AND") {
                conditions.push(self.condition()?);
            }
        }
        let mut order = Vec::new();
        if self.eat("ORDER") {
            self.expect("BY")?;
            order = self.names()?;
        }
        let mut limit = None;
        if self.eat("LIMIT") {
            let token = self.advance();
            match token.tok {
                Tok::Integer(n) => limit = Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(self.unexpected(&token)),
            }
        }
        self.expect_tok(&Tok::End)?;
        Ok(Syntax {
            select,
            from,
            conditions,
            order,
            limit,
        })
    }

    fn condition(&mut self) -> Result<Condition<'a>, QueryError> {
        let field = self.name()?;
        let op = self.advance();
        let values = if self.is_keyword(&op, "IN") {
            self.expect_tok(&Tok::Open)?;
            let mut values = vec![self.string()?];
            while self.peek().tok == Tok::Comma {
                self.advance();
                values.push(self.string()?);
            }
            self.expect_tok(&Tok::Close)?;
            values
        } else if op.tok == Tok::Op {
            let value = self.advance();
            let literal = match value.tok {
                Tok::Text(text) => Literal::Text(text),
                Tok::DateTime(ms) => Literal::DateTime(ms),
                Tok::Word
                    if self.is_keyword(&value, "null")
                        && matches!(self.text(&op), "=" | "!=" | "<>") =>
                {
                    Literal::Null
                }
                _ => return Err(self.unexpected(&value)),
            };
            vec![(literal, value.at)]
        } else {
            return Err(self.unexpected(&op));
        };
        Ok(Condition {
            field,
            op: self.text(&op),
            op_at: op.at,
            values,
        })
    }

    fn string(&mut self) -> Result<(Literal, usize), QueryError> {
        let token = self.advance();
        match token.tok {
            Tok::Text(text) => Ok((Literal::Text(text), token.at)),
            _ => Err(self.unexpected(&token)),
        }
    }
}

/// Parses a query and checks it against the VoiceCall schema and the shapes served.
pub(crate) fn parse(soql: &str) -> Result<Query, QueryError> {
    let mut parser = Parser {
        soql,
        tokens: tokens(soql)?,
        next: 0,
    };
    let syntax = parser.query()?;
    resolve(soql, syntax)
}

fn resolve(soql: &str, syntax: Syntax<'_>) -> Result<Query, QueryError> {
    if !syntax.from.text.eq_ignore_ascii_case(SOBJECT) {
        let message = format!(
            "sObject type '{}' is not supported. If you are attempting to use a custom object, \
             be sure to append the '__c' after the entity name. Please reference your WSDL or \
             the describe call for the appropriate names.",
            syntax.from.text
        );
        return Err(QueryError::at(
            soql,
            syntax.from.at,
            "INVALID_TYPE",
            &message,
        ));
    }
    let no_such_column = |name: &Name| {
        let (entity, column) = match name.text.split_once('.') {
            Some((_, column)) => (CONVERSATION, column),
            None => (SOBJECT, name.text.as_str()),
        };
        let message = format!(
            "No such column '{column}' on entity '{entity}'. If you are attempting to use a \
             custom field, be sure to append the '__c' after the custom field name. Please \
             reference your WSDL or the describe call for the appropriate names."
        );
        QueryError::at(soql, name.at, "INVALID_FIELD", &message)
    };
    let resolve_field = |name: &Name| Field::named(&name.text).ok_or_else(|| no_such_column(name));
    let fields = syntax
        .select
        .iter()
        .map(|name| Field::selectable(&name.text).ok_or_else(|| no_such_column(name)))
        .collect::<Result<_, _>>()?;
    let mut filters = Vec::new();
    let mut vendor_keys = Vec::new();
    for condition in syntax.conditions {
        let field = resolve_field(&condition.field)?;
        for (literal, at) in &condition.values {
            if let Some(expected) = field.type_error(literal) {
                let message = format!(
                    "value of filter criterion for field '{}' must be of type {expected}",
                    field.name()
                );
                return Err(QueryError::at(soql, *at, FILTER_VALUE_ERROR, &message));
            }
        }
        let keys = condition
            .values
            .iter()
            .filter_map(|(literal, _)| match literal {
                Literal::Text(text) => Some(text.as_str()),
                _ => None,
            });
        let op = condition.op.to_ascii_uppercase();
        let filter = match (field, op.as_str(), condition.values.as_slice()) {
            (Field::VendorCallKey, "IN", _)
            | (Field::VendorCallKey, "=", [(Literal::Text(_), _)]) => {
                vendor_keys.extend(keys.clone().map(str::to_owned));
                Filter::KeyIn(keys.map(str::to_lowercase).collect())
            }
            (Field::VendorCallKey, "=", [(Literal::Null, _)]) => Filter::KeyNull,
            (Field::VendorCallKey, "!=", [(Literal::Null, _)]) => Filter::KeyNotNull,
            (Field::ConversationId, "IN", _)
            | (Field::ConversationId, "=", [(Literal::Text(_), _)]) => {
                Filter::ConversationIn(keys.map(str::to_owned).collect())
            }
            (Field::CallStartDateTime, ">=", [(Literal::DateTime(ms), _)]) => {
                Filter::StartFrom(*ms)
            }
            (Field::CallStartDateTime, "<", [(Literal::DateTime(ms), _)]) => {
                Filter::StartBefore(*ms)
            }
            // Valid SOQL, but no query of the function's: refused as Salesforce refuses a
            // query it cannot parse.
            _ => return Err(unexpected(soql, condition.op_at, condition.op)),
        };
        filters.push(filter);
    }
    let mut order = Vec::new();
    for name in &syntax.order {
        order.push(match resolve_field(name)? {
            Field::CallStartDateTime => SortKey::CallStartDateTime,
            Field::Id => SortKey::Id,
            _ => return Err(unexpected(soql, name.at, &name.text)),
        });
    }
    Ok(Query {
        fields,
        filters,
        order,
        limit: syntax.limit,
        vendor_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{CallType, salesforce_id_18};

    /// 2026-11-01T00:00:00Z.
    const NOV_1: i64 = 1_793_491_200_000;
    const HOUR_MS: i64 = 3_600_000;

    fn call(id15: &str, key: Option<&str>, start: i64, end: Option<i64>) -> VoiceCall {
        VoiceCall::single(
            salesforce_id_18(id15).unwrap(),
            key.map(str::to_owned),
            start,
            end,
        )
    }

    fn error(soql: &str) -> (&'static str, String) {
        let error = parse(soql).unwrap_err();
        (error.code, error.message)
    }

    /// The message without the row, caret and position Salesforce puts in front.
    fn error_text(soql: &str) -> (&'static str, String) {
        let (code, message) = error(soql);
        let text = message.rsplit_once('\n').unwrap().1.to_owned();
        (code, text)
    }

    fn ids(soql: &str, calls: &[VoiceCall]) -> Vec<String> {
        parse(soql)
            .unwrap()
            .run(calls)
            .into_iter()
            .map(|id| id[..15].to_owned())
            .collect()
    }

    #[test]
    fn the_functions_lookup_by_contact_parses() {
        let query = parse(
            "SELECT Id, VendorCallKey FROM VoiceCall WHERE VendorCallKey IN \
             ('3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a01', '3C9D1E27-8b44-4f6a-9e21-7d0a5b6c1a02')",
        )
        .unwrap();
        assert_eq!(query.fields, [Field::Id, Field::VendorCallKey]);
        assert_eq!(
            query.filters,
            [Filter::KeyIn(vec![
                "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a01".to_owned(),
                "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a02".to_owned(),
            ])]
        );
        assert_eq!(
            query.vendor_keys,
            [
                "3c9d1e27-8b44-4f6a-9e21-7d0a5b6c1a01",
                "3C9D1E27-8b44-4f6a-9e21-7d0a5b6c1a02"
            ]
        );
        assert_eq!((query.order.len(), query.limit), (0, None));
    }

    #[test]
    fn the_functions_window_query_parses() {
        let query = parse(
            "SELECT Id, VendorCallKey FROM VoiceCall WHERE CallStartDateTime >= \
             2026-11-01T00:00:00Z AND CallStartDateTime < 2026-11-08T00:00:00Z AND \
             VendorCallKey != null ORDER BY CallStartDateTime, Id",
        )
        .unwrap();
        assert_eq!(
            query.filters,
            [
                Filter::StartFrom(NOV_1),
                Filter::StartBefore(NOV_1 + 7 * 24 * HOUR_MS),
                Filter::KeyNotNull,
            ]
        );
        assert_eq!(query.order, [SortKey::CallStartDateTime, SortKey::Id]);
        assert!(query.vendor_keys.is_empty());
    }

    #[test]
    fn keywords_and_names_are_case_insensitive_and_any_whitespace_separates() {
        let query = parse(
            "select\tID ,vendorcallkey\r\nfrom voicecall\nwhere vendorcallkey=null \
             order by CALLSTARTDATETIME,id limit 5",
        )
        .unwrap();
        assert_eq!(query.fields, [Field::Id, Field::VendorCallKey]);
        assert_eq!(query.order, [SortKey::CallStartDateTime, SortKey::Id]);
        assert_eq!(query.limit, Some(5));
        assert_eq!(query.filters, [Filter::KeyNull]);
    }

    #[test]
    fn datetimes_take_z_or_an_offset_and_optional_milliseconds() {
        assert_eq!(parse_datetime("2026-11-01T00:00:00Z"), Some(NOV_1));
        assert_eq!(parse_datetime("2026-11-01T01:00:00+01:00"), Some(NOV_1));
        assert_eq!(parse_datetime("2026-10-31T19:30:00-04:30"), Some(NOV_1));
        assert_eq!(
            parse_datetime("2026-11-01T00:00:00.250Z"),
            Some(NOV_1 + 250)
        );
        assert_eq!(parse_datetime("2026-11-01T00:00:00.5Z"), Some(NOV_1 + 500));
        assert_eq!(
            parse_datetime("2024-02-29T23:58:00Z"),
            Some(1_709_251_080_000)
        );
        assert_eq!(parse_datetime("1969-12-31T23:59:59Z"), Some(-1000));
        for bad in [
            "2026-11-01T00:00:00",
            "2026-11-01",
            "2026-11-01T00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-01T24:00:00Z",
            "2026-11-01T00:00:00+0100",
            "2026-11-01T00:00:00+24:00",
            "2026-11-01T00:00:00ZZ",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn string_literals_resolve_their_escapes() {
        let value = |literal: &str| {
            let soql = format!("SELECT Id FROM VoiceCall WHERE VendorCallKey = {literal}");
            parse(&soql).unwrap().vendor_keys.remove(0)
        };
        assert_eq!(value(r"'O\'Brien'"), "O'Brien");
        assert_eq!(value(r"'back\\slash'"), r"back\slash");
        assert_eq!(value(r"'a\nb\tc\rd'"), "a\nb\tc\rd");
        assert_eq!(value("'日本 语'"), "日本 语");
        assert_eq!(value("''"), "");
    }

    #[test]
    fn other_escapes_are_illegal() {
        for (literal, sequence) in [
            (r"'O\xBrien'", r"\x"),
            (r"'100\%'", r"\%"),
            (r"'a\_b'", r"\_"),
            (r"'\u12'", r"\u"),
            (r"'\uZZZZ'", r"\u"),
        ] {
            let soql = format!("SELECT Id FROM VoiceCall WHERE VendorCallKey = {literal}");
            assert_eq!(
                error_text(&soql),
                (
                    "MALFORMED_QUERY",
                    format!(
                        "Invalid string literal {literal}. Illegal character sequence \
                         '{sequence}' in string literal."
                    )
                ),
                "{literal}"
            );
        }
    }

    /// What Salesforce puts in front of a message: the row, a caret under the column, the
    /// position.
    fn located(line: &str, row: usize, column: usize, message: &str) -> String {
        let caret = format!("{}^", " ".repeat(column - 1));
        format!("\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}")
    }

    #[test]
    fn errors_show_the_row_and_a_caret_under_the_column() {
        assert_eq!(
            error("SELECT Id, Foo FROM VoiceCall").1,
            located(
                "SELECT Id, Foo FROM VoiceCall",
                1,
                12,
                "No such column 'Foo' on entity 'VoiceCall'. If you are attempting to use a \
                 custom field, be sure to append the '__c' after the custom field name. Please \
                 reference your WSDL or the describe call for the appropriate names."
            )
        );
        assert_eq!(
            error("SELECT Id\nFROM VoiceCall\r\n  WHERE Id == 'x'").1,
            located("  WHERE Id == 'x'", 3, 13, "unexpected token: '='")
        );
        // Columns count characters, not bytes.
        let soql = "SELECT Id FROM VoiceCall WHERE VendorCallKey = 'é' OR";
        assert_eq!(
            error(soql).1,
            located(soql, 1, 52, "unexpected token: 'OR'")
        );
    }

    #[test]
    fn grammar_errors_name_the_unexpected_token() {
        for (soql, token) in [
            ("hello world", "hello"),
            ("SELECT", "<EOF>"),
            ("SELECT Id", "<EOF>"),
            ("SELECT Id,", "<EOF>"),
            ("SELECT FROM VoiceCall", "FROM"),
            ("SELECT Id FROM VoiceCall WHERE", "<EOF>"),
            ("SELECT Id FROM VoiceCall WHERE Id = 'x' OR Id = 'y'", "OR"),
            ("SELECT Id FROM VoiceCall WHERE NOT Id = 'x'", "NOT"),
            ("SELECT Id FROM VoiceCall WHERE Id LIKE 'x'", "LIKE"),
            ("SELECT Id FROM VoiceCall WHERE VendorCallKey IN 'x'", "'x'"),
            ("SELECT Id FROM VoiceCall WHERE VendorCallKey IN ()", ")"),
            (
                "SELECT Id FROM VoiceCall WHERE VendorCallKey IN ('a' 'b')",
                "'b'",
            ),
            (
                "SELECT Id FROM VoiceCall WHERE VendorCallKey IN (null)",
                "null",
            ),
            (
                "SELECT Id FROM VoiceCall WHERE CallEndDateTime < null",
                "null",
            ),
            ("SELECT Id FROM VoiceCall WHERE VendorCallKey = 5", "5"),
            (
                "SELECT Id FROM VoiceCall WHERE VendorCallKey = TODAY",
                "TODAY",
            ),
            (
                "SELECT Id FROM VoiceCall WHERE CallStartDateTime > 2026-11-01",
                "2026-11-01",
            ),
            ("SELECT Id FROM VoiceCall ORDER Id", "Id"),
            ("SELECT Id FROM VoiceCall ORDER BY Id NULLS LAST", "NULLS"),
            ("SELECT Id FROM VoiceCall LIMIT", "<EOF>"),
            ("SELECT Id FROM VoiceCall LIMIT x", "x"),
            ("SELECT Id FROM VoiceCall LIMIT 5 OFFSET 5", "OFFSET"),
            ("SELECT Id FROM VoiceCall VoiceCall", "VoiceCall"),
            ("SELECT COUNT() FROM VoiceCall", "("),
        ] {
            assert_eq!(
                error_text(soql),
                ("MALFORMED_QUERY", format!("unexpected token: '{token}'")),
                "{soql}"
            );
        }
    }

    #[test]
    fn characters_outside_the_grammar_and_open_strings_are_lexer_errors() {
        let soql = "SELECT Owner.Name FROM VoiceCall";
        assert_eq!(
            error(soql).1,
            located(
                soql,
                1,
                13,
                "line 1:12 no viable alternative at character '.'"
            )
        );
        assert_eq!(
            error_text("SELECT Id FROM VoiceCall WHERE Id ! 'x'"),
            (
                "MALFORMED_QUERY",
                "line 1:34 no viable alternative at character '!'".to_owned()
            )
        );
        let soql = "SELECT Id FROM VoiceCall WHERE VendorCallKey = 'open";
        assert_eq!(
            error(soql).1,
            located(
                soql,
                1,
                53,
                "line 1:52 mismatched character '<EOF>' expecting '''"
            )
        );
        assert_eq!(
            error_text(r"SELECT Id FROM VoiceCall WHERE VendorCallKey = 'open\").0,
            "MALFORMED_QUERY"
        );
    }

    #[test]
    fn other_sobjects_are_invalid_types_checked_before_fields() {
        let soql = "SELECT Foo FROM Account";
        assert_eq!(
            error(soql),
            (
                "INVALID_TYPE",
                located(
                    soql,
                    1,
                    17,
                    "sObject type 'Account' is not supported. If you are attempting to use a \
                     custom object, be sure to append the '__c' after the entity name. Please \
                     reference your WSDL or the describe call for the appropriate names."
                )
            )
        );
    }

    #[test]
    fn unknown_fields_are_invalid_wherever_they_appear() {
        for (soql, name) in [
            ("SELECT Name FROM VoiceCall", "Name"),
            ("SELECT Id FROM VoiceCall WHERE Subject = 'x'", "Subject"),
            (
                "SELECT Id FROM VoiceCall WHERE CallType IN ('x')",
                "CallType",
            ),
            (
                "SELECT Id FROM VoiceCall ORDER BY CreatedDate",
                "CreatedDate",
            ),
            (
                "SELECT Id, VendorCallKey__c FROM VoiceCall",
                "VendorCallKey__c",
            ),
        ] {
            let (code, text) = error_text(soql);
            assert_eq!(code, "INVALID_FIELD", "{soql}");
            assert!(
                text.starts_with(&format!("No such column '{name}' on entity 'VoiceCall'.")),
                "{text}"
            );
        }
    }

    #[test]
    fn filter_values_must_have_their_fields_type() {
        for (soql, message) in [
            (
                "SELECT Id FROM VoiceCall WHERE CallStartDateTime >= '2026-11-01T00:00:00Z'",
                "value of filter criterion for field 'CallStartDateTime' must be of type \
                 dateTime and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM VoiceCall WHERE callenddatetime IN ('x')",
                "value of filter criterion for field 'CallEndDateTime' must be of type \
                 dateTime and should not be enclosed in quotes",
            ),
            (
                "SELECT Id FROM VoiceCall WHERE VendorCallKey = 2026-11-01T00:00:00Z",
                "value of filter criterion for field 'VendorCallKey' must be of type string \
                 and should be enclosed in quotes",
            ),
            (
                "SELECT Id FROM VoiceCall WHERE Id > 2026-11-01T00:00:00Z",
                "value of filter criterion for field 'Id' must be of type id and should be \
                 enclosed in quotes",
            ),
            (
                "SELECT Id FROM VoiceCall WHERE conversationid = 2026-11-01T00:00:00Z",
                "value of filter criterion for field 'ConversationId' must be of type id and \
                 should be enclosed in quotes",
            ),
        ] {
            assert_eq!(
                error_text(soql),
                (FILTER_VALUE_ERROR, message.to_owned()),
                "{soql}"
            );
        }
    }

    fn sample_calls() -> Vec<VoiceCall> {
        vec![
            call("0LQ000000000003", Some("c-3"), NOV_1 + 3 * HOUR_MS, None),
            call(
                "0LQ000000000001",
                Some("O'Brien"),
                NOV_1 + HOUR_MS,
                Some(NOV_1 + 2 * HOUR_MS),
            ),
            call("0LQ000000000002", None, NOV_1 + 2 * HOUR_MS, None),
            call(
                "0LQ000000000004",
                Some("c-4"),
                NOV_1 + HOUR_MS,
                Some(NOV_1 + 5 * HOUR_MS),
            ),
        ]
    }

    #[test]
    fn without_order_by_records_come_in_insertion_order() {
        let calls = sample_calls();
        assert_eq!(
            ids("SELECT Id FROM VoiceCall", &calls),
            [
                "0LQ000000000003",
                "0LQ000000000001",
                "0LQ000000000002",
                "0LQ000000000004"
            ]
        );
        assert_eq!(
            ids("SELECT Id FROM VoiceCall LIMIT 2", &calls),
            ["0LQ000000000003", "0LQ000000000001"]
        );
        assert!(ids("SELECT Id FROM VoiceCall LIMIT 0", &calls).is_empty());
    }

    #[test]
    fn order_by_sorts_by_start_then_id() {
        let calls = sample_calls();
        assert_eq!(
            ids(
                "SELECT Id FROM VoiceCall ORDER BY CallStartDateTime, Id",
                &calls
            ),
            [
                "0LQ000000000001",
                "0LQ000000000004",
                "0LQ000000000002",
                "0LQ000000000003"
            ]
        );
    }

    #[test]
    fn filters_compare_by_type_and_treat_null_as_soql_does() {
        let calls = sample_calls();
        let select =
            |filter: &str| ids(&format!("SELECT Id FROM VoiceCall WHERE {filter}"), &calls);
        assert_eq!(select("VendorCallKey = null"), ["0LQ000000000002"]);
        assert_eq!(select("VendorCallKey != null").len(), 3);
        // IN never matches a null key.
        assert_eq!(
            select("VendorCallKey IN ('C-4', 'o\\'brien', 'x')"),
            ["0LQ000000000001", "0LQ000000000004"]
        );
        assert_eq!(
            select(
                "CallStartDateTime >= 2026-11-01T01:00:00Z AND CallStartDateTime < \
                 2026-11-01T04:00:00+01:00"
            ),
            ["0LQ000000000001", "0LQ000000000002", "0LQ000000000004"]
        );
    }

    #[test]
    fn other_filters_and_sorts_are_refused_at_their_operator_or_field() {
        for (clause, token) in [
            ("WHERE CallStartDateTime > 2026-11-01T00:00:00Z", ">"),
            ("WHERE CallStartDateTime <= 2026-11-01T00:00:00Z", "<="),
            ("WHERE CallStartDateTime = null", "="),
            ("WHERE CallEndDateTime < 2026-11-01T00:00:00Z", "<"),
            ("WHERE VendorCallKey != 'c-3'", "!="),
            ("WHERE VendorCallKey <> null", "<>"),
            ("WHERE Id = '0LQ1Q000002TZtn'", "="),
            ("WHERE Id in ('0LQ1Q000002TZtn')", "in"),
            ("WHERE ConversationId = null", "="),
            ("WHERE ConversationId != null", "!="),
            ("WHERE ConversationId != '0dw000000000001'", "!="),
            ("WHERE ConversationId < '0dw000000000001'", "<"),
            ("ORDER BY ConversationId", "ConversationId"),
            ("ORDER BY CallStartDateTime DESC", "DESC"),
            ("ORDER BY VendorCallKey", "VendorCallKey"),
        ] {
            let soql = format!("SELECT Id FROM VoiceCall {clause}");
            assert_eq!(
                error_text(&soql),
                ("MALFORMED_QUERY", format!("unexpected token: '{token}'")),
                "{soql}"
            );
        }
        let soql = "SELECT Id FROM VoiceCall WHERE CallEndDateTime < 2026-11-01T00:00:00Z";
        assert_eq!(error(soql).1, located(soql, 1, 48, "unexpected token: '<'"));
    }

    #[test]
    fn the_functions_lookup_by_conversation_parses() {
        let query = parse(
            "SELECT Id, VendorCallKey FROM VoiceCall WHERE ConversationId IN \
             ('0dw000000000001AAA', '0dw000000000002')",
        )
        .unwrap();
        assert_eq!(query.fields, [Field::Id, Field::VendorCallKey]);
        assert_eq!(
            query.filters,
            [Filter::ConversationIn(vec![
                "0dw000000000001AAA".to_owned(),
                "0dw000000000002".to_owned(),
            ])]
        );
        // It names no VendorCallKey: no fault aimed at a contact matches it.
        assert!(query.vendor_keys.is_empty());
        let query =
            parse("select Id from VoiceCall where conversationid = '0dw000000000001AAA'").unwrap();
        assert_eq!(
            query.filters,
            [Filter::ConversationIn(vec![
                "0dw000000000001AAA".to_owned()
            ])]
        );
        assert!(query.vendor_keys.is_empty());
    }

    #[test]
    fn conversation_ids_find_the_legs_in_15_or_18_characters_case_sensitively() {
        let leg = |id15: &str, key: &str, conversation: &str| {
            let mut call = call(id15, Some(key), NOV_1, None);
            call.conversation_identifier = Some(conversation.to_owned());
            call
        };
        let calls = vec![
            leg("0LQ000000000001", "a", "a"),
            leg("0LQ000000000002", "b", "a"),
            // A consult that never joined: a conversation of its own.
            leg("0LQ000000000003", "k", "k"),
            call("0LQ000000000004", Some("other"), NOV_1, None),
            call("0LQ000000000005", None, NOV_1, None),
        ];
        let a = conversation_record_id("a");
        let k = conversation_record_id("k");
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("0dw"));
        assert_ne!(a, k);
        // The id a query reads is the one the filter compares with.
        let salesforce = {
            let mut salesforce = SalesforceState::default();
            for call in &calls {
                salesforce.insert_voice_call(call.clone());
            }
            salesforce
        };
        let read = salesforce.conversation_record(&calls[1]).unwrap();
        assert_eq!(read.id, a);

        let select = |filter: &str| {
            ids(
                &format!("SELECT Id FROM VoiceCall WHERE ConversationId {filter}"),
                &calls,
            )
        };
        let legs = ["0LQ000000000001", "0LQ000000000002"];
        assert_eq!(select(&format!("IN ('{a}')")), legs);
        assert_eq!(select(&format!("= '{a}'")), legs);
        assert_eq!(select(&format!("= '{}'", &a[..15])), legs);
        assert_eq!(
            select(&format!("IN ('{}', '{k}')", &a[..15])),
            ["0LQ000000000001", "0LQ000000000002", "0LQ000000000003"]
        );
        // Case-sensitive, and neither a 15- nor an 18-character id: no match.
        assert!(select(&format!("= '{}'", a.to_lowercase())).is_empty());
        assert!(select(&format!("= '{}'", a[..15].to_uppercase())).is_empty());
        assert!(select(&format!("= '{}'", &a[..16])).is_empty());
        assert!(select("= ''").is_empty());
        // A call without a conversation never matches: every conversation's id finds every
        // call but it.
        let other = conversation_record_id("other");
        assert_eq!(
            select(&format!("IN ('{a}', '{k}', '{other}')")),
            [
                "0LQ000000000001",
                "0LQ000000000002",
                "0LQ000000000003",
                "0LQ000000000004"
            ]
        );
        assert_eq!(
            ids(
                &format!(
                    "SELECT Id FROM VoiceCall WHERE ConversationId IN ('{a}') AND \
                     VendorCallKey = 'b'"
                ),
                &calls
            ),
            ["0LQ000000000002"]
        );
    }

    #[test]
    fn records_list_attributes_then_the_fields_in_select_order() {
        let calls = sample_calls();
        let url = "/services/data/v62.0/sobjects/VoiceCall/";
        let record = |fields: &[Field]| {
            serde_json::to_string(&Record {
                url,
                conversation_url: "",
                fields,
                call: &calls[1],
                conversation: None,
            })
            .unwrap()
        };
        let id = &calls[1].id;
        assert_eq!(
            record(&[Field::VendorCallKey, Field::Id]),
            format!(
                "{{\"attributes\":{{\"type\":\"VoiceCall\",\"url\":\"{url}{id}\"}},\
                 \"VendorCallKey\":\"O'Brien\",\"Id\":\"{id}\"}}"
            )
        );
        assert_eq!(
            record(&[Field::CallStartDateTime, Field::CallEndDateTime]),
            format!(
                "{{\"attributes\":{{\"type\":\"VoiceCall\",\"url\":\"{url}{id}\"}},\
                 \"CallStartDateTime\":\"2026-11-01T01:00:00.000+0000\",\
                 \"CallEndDateTime\":\"2026-11-01T02:00:00.000+0000\"}}"
            )
        );
        assert_eq!(Field::CallEndDateTime.json(&calls[0], None), Value::Null);
        assert_eq!(datetime(-1), "1969-12-31T23:59:59.999+0000");
    }

    #[test]
    fn transfer_fields_are_selectable_but_only_conversation_id_filters() {
        let query = parse(
            "SELECT PreviousCallId, nextcallid, CallType, ConversationId, \
             conversation.ConversationIdentifier, Conversation.EndTime FROM VoiceCall \
             WHERE VendorCallKey IN ('a')",
        )
        .unwrap();
        assert_eq!(
            query.fields,
            [
                Field::PreviousCallId,
                Field::NextCallId,
                Field::CallType,
                Field::ConversationId,
                Field::ConversationIdentifier,
                Field::ConversationEndTime
            ]
        );
        let (code, text) = error_text("SELECT Conversation.Status FROM VoiceCall");
        assert_eq!(code, "INVALID_FIELD");
        assert!(
            text.starts_with("No such column 'Status' on entity 'Conversation'."),
            "{text}"
        );
        let (code, text) = error_text("SELECT Id FROM VoiceCall WHERE NextCallId = null");
        assert_eq!(code, "INVALID_FIELD");
        assert!(text.starts_with("No such column 'NextCallId'"), "{text}");
        // Only the Conversation relationship is served.
        assert_eq!(
            error_text("SELECT PreviousCall.Id FROM VoiceCall").1,
            "line 1:19 no viable alternative at character '.'"
        );
    }

    #[test]
    fn the_conversation_is_one_nested_object_where_its_first_field_stands() {
        let mut transfer = call("0LQ000000000002", Some("b"), NOV_1, None);
        transfer.previous_call_id = Some("0LQ000000000001AAA".into());
        transfer.call_type = CallType::Transfer;
        let conversation = ConversationRecord {
            id: "0dw000000000001AAA".into(),
            identifier: "a".into(),
            end_ms: None,
        };
        let fields = [
            Field::ConversationEndTime,
            Field::CallType,
            Field::ConversationIdentifier,
            Field::PreviousCallId,
            Field::ConversationId,
        ];
        let record = |conversation: Option<ConversationRecord>| {
            serde_json::to_string(&Record {
                url: "/v/VoiceCall/",
                conversation_url: "/v/Conversation/",
                fields: &fields,
                call: &transfer,
                conversation,
            })
            .unwrap()
        };
        assert_eq!(
            record(Some(conversation)),
            format!(
                "{{\"attributes\":{{\"type\":\"VoiceCall\",\"url\":\"/v/VoiceCall/{id}\"}},\
                 \"Conversation\":{{\"attributes\":{{\"type\":\"Conversation\",\
                 \"url\":\"/v/Conversation/0dw000000000001AAA\"}},\"EndTime\":null,\
                 \"ConversationIdentifier\":\"a\"}},\"CallType\":\"Transfer\",\
                 \"PreviousCallId\":\"0LQ000000000001AAA\",\
                 \"ConversationId\":\"0dw000000000001AAA\"}}",
                id = transfer.id
            )
        );
        assert_eq!(
            record(None),
            format!(
                "{{\"attributes\":{{\"type\":\"VoiceCall\",\"url\":\"/v/VoiceCall/{id}\"}},\
                 \"Conversation\":null,\"CallType\":\"Transfer\",\
                 \"PreviousCallId\":\"0LQ000000000001AAA\",\"ConversationId\":null}}",
                id = transfer.id
            )
        );
    }

    #[test]
    fn pages_hold_2000_records_and_name_the_next_one() {
        let mut salesforce = SalesforceState::default();
        let ids: Vec<String> = (0..4500u64)
            .map(|n| {
                let id = generated_id("0LQ", n);
                salesforce.insert_voice_call(VoiceCall::single(id.clone(), None, 0, None));
                id
            })
            .collect();
        let read_stuck = |offset: usize, stuck: bool| -> Value {
            serde_json::from_str(&page(
                &salesforce,
                "v62.0",
                &[Field::Id],
                &ids,
                offset,
                Some("01gL"),
                stuck,
            ))
            .unwrap()
        };
        let read = |offset: usize| read_stuck(offset, false);
        // A stuck cursor serves the page but names it again.
        let stuck = read_stuck(2000, true);
        assert_eq!(stuck["records"][0]["Id"], ids[2000].as_str());
        assert_eq!(
            stuck["nextRecordsUrl"],
            "/services/data/v62.0/query/01gL-2000"
        );
        let first = read(0);
        assert_eq!(first["totalSize"], 4500);
        assert_eq!(first["done"], false);
        assert_eq!(
            first["nextRecordsUrl"],
            "/services/data/v62.0/query/01gL-2000"
        );
        assert_eq!(first["records"].as_array().unwrap().len(), 2000);
        let last = read(4000);
        assert_eq!(last["done"], true);
        assert_eq!(last["records"].as_array().unwrap().len(), 500);
        assert_eq!(last["records"][0]["Id"], ids[4000].as_str());
        assert!(last.get("nextRecordsUrl").is_none());
    }
}
