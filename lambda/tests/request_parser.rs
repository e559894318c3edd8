//! Property tests of the request parser, `domain::request::parse_request`.
//!
//! Generated valid requests of both operations, and mutations of them (wrong types at every
//! level, missing and extra fields, arrays emptied or grown past their limits, repeated ids,
//! changed case, very long and odd Unicode strings, deep nesting), arbitrary JSON, and raw
//! bytes (invalid UTF-8 included) go through the parser. It must never panic; whatever it
//! accepts must satisfy the contract; whatever it rejects must be rejected with a message
//! that starts with the field's path, ": " and the rule. For a mutation of a valid request
//! the exact outcome is predicted: the same result, or an error at the mutated field.
//!
//! The seed is fixed, so every run checks the same 110,000 cases; `PROPTEST_RNG_SEED`
//! overrides it to explore others. Failures are not persisted into the repository.

use std::collections::HashSet;

use contact_data_sync::domain::contact::ContactRequest;
use contact_data_sync::domain::request::{Request, parse_request};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{RngAlgorithm, RngSeed};
use serde_json::{Map, Value, json};

const MAX: usize = 100;
const UPLOAD: &str = "uploadTranscript";
const STATUS: &str = "fetchUploadIdsStatus";
/// A message echoes at most a shortened value: it can never flood the response.
const MAX_MESSAGE_LEN: usize = 1_024;

fn config(cases: u32) -> ProptestConfig {
    let base = ProptestConfig::default();
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        rng_seed: match base.rng_seed {
            RngSeed::Random => RngSeed::Fixed(0x5eed_c0de),
            chosen => chosen,
        },
        ..base
    }
}

// ---- The contract, checked independently of the parser's code --------------------------------

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Salesforce's case-safe suffix of a 15-character id: per chunk of five characters, the bits
/// of its upper-case letters index "A..Z0..5".
fn case_suffix(id15: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = (0..chunk.len())
                .filter(|&i| chunk[i].is_ascii_uppercase())
                .map(|i| 1 << i)
                .sum::<usize>();
            char::from(ALPHABET[bits])
        })
        .collect()
}

/// What was sent in a request's `payload[*].contactId`, if it is that shape.
fn sent_contact_ids(value: &Value) -> Vec<Option<&str>> {
    value["payload"]
        .as_array()
        .map(|items| items.iter().map(|i| i["contactId"].as_str()).collect())
        .unwrap_or_default()
}

/// Whatever the parser accepts obeys the contract and comes from the input.
fn assert_contract(value: &Value, request: &Request) {
    match request {
        Request::UploadTranscript(contacts) => {
            assert_eq!(value["operation"], UPLOAD);
            assert!((1..=MAX).contains(&contacts.len()));
            let sent = sent_contact_ids(value);
            let mut seen = HashSet::new();
            for (i, contact) in contacts.iter().enumerate() {
                assert_eq!(sent[i], Some(contact.as_requested.as_str()));
                assert_eq!(
                    contact.contact_id,
                    contact.as_requested.to_ascii_lowercase()
                );
                assert!(is_uuid(&contact.contact_id), "{contact:?}");
                assert!(seen.insert(contact.contact_id.clone()));
                let records = &contact.related_records;
                assert!((1..=MAX).contains(&records.len()), "{contact:?}");
                let unique: HashSet<&String> = records.iter().collect();
                assert_eq!(unique.len(), records.len(), "{contact:?}");
                for record in records {
                    assert_eq!(record.len(), 15, "{record}");
                    assert!(record.bytes().all(|b| b.is_ascii_alphanumeric()));
                }
            }
        }
        Request::FetchUploadIdsStatus(ids) => {
            assert_eq!(value["operation"], STATUS);
            assert!((1..=MAX).contains(&ids.len()));
            for (i, id) in ids.iter().enumerate() {
                assert_eq!(value["uploadIds"][i], json!(id));
                assert!((1..=64).contains(&id.len()), "{id}");
                assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            }
        }
        Request::SummarizeBackfill(summary) => {
            assert_eq!(value["operation"], "summarizeBackfill");
            assert_eq!(value["manifestKey"], json!(summary.manifest_key));
            let key = &summary.results_manifest_key;
            assert_eq!(value["resultsManifestKey"], json!(key));
            assert!(key.starts_with("results/") && key.ends_with("/manifest.json"));
            assert!(!key.split('/').any(|s| s == ".."), "{key}");
        }
        Request::BuildBackfillManifest(window) => {
            assert_eq!(value["operation"], "buildBackfillManifest");
            assert!(window.window.from < window.window.to);
            assert_eq!(value["executionName"], json!(window.execution_name));
        }
    }
}

#[derive(Debug, PartialEq)]
enum Token<'a> {
    Name(&'a str),
    Index(usize),
}

fn tokens(path: &str) -> Option<Vec<Token<'_>>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let digits = &after[..end];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            out.push(Token::Index(digits.parse().ok()?));
            rest = &after[end + 1..];
        } else {
            let name = rest.strip_prefix('.').unwrap_or(rest);
            if out.is_empty() == (name.len() != rest.len()) {
                return None; // a dot before the first name, or none between names
            }
            let end = name.find(['.', '[']).unwrap_or(name.len());
            out.push(Token::Name(&name[..end]));
            rest = &name[end..];
        }
    }
    Some(out)
}

/// The message names a field of the contract (with in-range indices) before ": ".
fn assert_names_a_field(message: &str) {
    use Token::{Index as I, Name as N};
    assert!(message.len() <= MAX_MESSAGE_LEN, "{}", message.len());
    let (path, rule) = message
        .split_once(": ")
        .unwrap_or_else(|| panic!("no field: {message}"));
    assert!(
        rule.starts_with("must ") || rule.starts_with("is ") || rule.starts_with("has "),
        "{message}"
    );
    let tokens = tokens(path).unwrap_or_else(|| panic!("not a path: {message}"));
    let known = match tokens.as_slice() {
        [N("request" | "operation" | "payload" | "uploadIds")] => true,
        [N("payload"), I(i)] | [N("uploadIds"), I(i)] => *i < MAX,
        [N("payload"), I(i), N("contactId" | "relatedRecords")] => *i < MAX,
        [N("payload"), I(i), N("relatedRecords"), I(j)] => *i < MAX && *j < MAX,
        _ => false,
    };
    assert!(known, "{message}");
}

/// Never panics (a panic fails the property); accepted requests obey the contract; rejected
/// ones name the field. Returns the outcome for further checks.
fn check(value: &Value) -> Result<Request, String> {
    match parse_request(value) {
        Ok(request) => {
            assert_contract(value, &request);
            Ok(request)
        }
        Err(e) => {
            let message = e.to_string();
            assert_names_a_field(&message);
            Err(message)
        }
    }
}

// ---- Valid requests -------------------------------------------------------------------------

/// A valid request and what parsing it must give.
#[derive(Debug, Clone)]
struct Valid {
    json: Value,
    expected: Request,
}

/// Mostly small, sometimes anything up to the limit.
fn count() -> impl Strategy<Value = usize> {
    prop_oneof![12 => 1..=3usize, 1 => 1..=MAX]
}

/// The ids of one request come from one seed rather than from a strategy each: generating
/// is cheap, and shrinking works on the sizes and the seed.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn text(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }

    fn uuid(&mut self) -> String {
        let bits = u128::from(self.next()) << 64 | u128::from(self.next());
        uuid(bits, self.below(2) == 0)
    }
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn uuid(bits: u128, upper: bool) -> String {
    let h = format!("{bits:032x}");
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    );
    if upper { id.to_uppercase() } else { id }
}

/// A VoiceCall id as sent: 15 characters, or 18 with an upper- or lower-case suffix.
fn sent_form(id15: &str, form: usize) -> String {
    let suffix = case_suffix(id15);
    match form {
        0 => id15.to_owned(),
        1 => format!("{id15}{suffix}"),
        _ => format!("{id15}{}", suffix.to_lowercase()),
    }
}

/// `n` contacts with `records` VoiceCall ids each (a few of them repeats of earlier ones,
/// in any form).
fn upload_request() -> impl Strategy<Value = Valid> {
    (count(), count(), any::<u64>()).prop_map(|(n, records, seed)| {
        let mut ids = Ids(seed);
        let mut seen = HashSet::new();
        let mut payload = Vec::new();
        let mut expected = Vec::new();
        while expected.len() < n {
            let contact_id = ids.uuid();
            if !seen.insert(contact_id.to_ascii_lowercase()) {
                continue;
            }
            let mut sent = Vec::new();
            let mut related_records: Vec<String> = Vec::new();
            for _ in 0..1 + ids.below(records) {
                let id15 = if !related_records.is_empty() && ids.below(8) == 0 {
                    related_records[ids.below(related_records.len())].clone()
                } else {
                    ids.text(ALNUM, 15)
                };
                sent.push(sent_form(&id15, ids.below(3)));
                if !related_records.contains(&id15) {
                    related_records.push(id15);
                }
            }
            payload.push(json!({"contactId": contact_id, "relatedRecords": sent}));
            expected.push(ContactRequest {
                contact_id: contact_id.to_ascii_lowercase(),
                as_requested: contact_id,
                related_records,
            });
        }
        Valid {
            json: json!({"operation": UPLOAD, "payload": payload}),
            expected: Request::UploadTranscript(expected),
        }
    })
}

fn status_request() -> impl Strategy<Value = Valid> {
    (count(), 1..=64usize, any::<u64>()).prop_map(|(n, max_len, seed)| {
        let mut ids = Ids(seed);
        let upload_ids: Vec<String> = (0..n)
            .map(|_| {
                let len = 1 + ids.below(max_len);
                ids.text(
                    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-",
                    len,
                )
            })
            .collect();
        Valid {
            json: json!({"operation": STATUS, "uploadIds": upload_ids}),
            expected: Request::FetchUploadIdsStatus(upload_ids),
        }
    })
}

fn valid_request() -> impl Strategy<Value = Valid> {
    prop_oneof![3 => upload_request(), 1 => status_request()]
}

// ---- Mutations --------------------------------------------------------------------------------

/// A place in a valid request, by its role in the contract.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Root,
    Operation,
    /// payload, uploadIds or relatedRecords.
    List,
    Contact,
    ContactId,
    Record,
    UploadId,
}

#[derive(Debug, Clone)]
struct Node {
    pointer: String,
    field: String,
    kind: Kind,
}

/// Every node of a valid request with its JSON pointer and its field path.
fn nodes(json: &Value) -> Vec<Node> {
    let node = |pointer: String, field: &str, kind| Node {
        pointer,
        field: field.to_owned(),
        kind,
    };
    let mut out = vec![
        node(String::new(), "request", Kind::Root),
        node("/operation".into(), "operation", Kind::Operation),
    ];
    if let Some(ids) = json["uploadIds"].as_array() {
        out.push(node("/uploadIds".into(), "uploadIds", Kind::List));
        for i in 0..ids.len() {
            out.push(node(
                format!("/uploadIds/{i}"),
                &format!("uploadIds[{i}]"),
                Kind::UploadId,
            ));
        }
    }
    for (i, contact) in json["payload"].as_array().into_iter().flatten().enumerate() {
        if i == 0 {
            out.push(node("/payload".into(), "payload", Kind::List));
        }
        let (p, f) = (format!("/payload/{i}"), format!("payload[{i}]"));
        out.push(node(p.clone(), &f, Kind::Contact));
        out.push(node(
            format!("{p}/contactId"),
            &format!("{f}.contactId"),
            Kind::ContactId,
        ));
        out.push(node(
            format!("{p}/relatedRecords"),
            &format!("{f}.relatedRecords"),
            Kind::List,
        ));
        for j in 0..contact["relatedRecords"].as_array().map_or(0, Vec::len) {
            out.push(node(
                format!("{p}/relatedRecords/{j}"),
                &format!("{f}.relatedRecords[{j}]"),
                Kind::Record,
            ));
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the node with a value of another JSON type (deeply nested ones included).
    WrongType(Value),
    Remove,
    ExtraField(String, Value),
    Overflow,
    Empty,
    /// A string no id can be: very long, empty, or with non-ASCII characters.
    BadString(String),
    /// Repeat this contact at the end with its contactId's case changed.
    RepeatContact,
    /// Repeat this record in its other form (15 <-> 18 characters).
    RepeatRecord,
    /// Change the case of one letter of an 18-character record's first 15.
    ChangeCase(Index),
}

impl Mutation {
    fn applies_to(&self, kind: Kind) -> bool {
        match self {
            Mutation::WrongType(_) => true,
            Mutation::Remove => matches!(kind, Kind::Operation | Kind::List | Kind::ContactId),
            Mutation::ExtraField(..) => matches!(kind, Kind::Root | Kind::Contact),
            Mutation::Overflow | Mutation::Empty => kind == Kind::List,
            Mutation::BadString(_) => matches!(
                kind,
                Kind::Operation | Kind::ContactId | Kind::Record | Kind::UploadId
            ),
            Mutation::RepeatContact => kind == Kind::Contact,
            Mutation::RepeatRecord | Mutation::ChangeCase(_) => kind == Kind::Record,
        }
    }
}

/// A regex strategy parsed once (a `&str` strategy parses its regex for every value).
fn re(pattern: &str) -> BoxedStrategy<String> {
    proptest::string::string_regex(pattern).unwrap().boxed()
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        odd_string().prop_map(Value::String),
    ]
}

/// Arbitrary JSON, nested up to a few levels, with the contract's keys among the others.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("operation".to_owned()),
        Just("payload".to_owned()),
        Just("uploadIds".to_owned()),
        Just("contactId".to_owned()),
        Just("relatedRecords".to_owned()),
        re("\\PC{0,12}"),
    ];
    leaf().prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `{key: value}`, without the deep copy `json!` makes of a value.
fn object_of(key: &str, value: Value) -> Value {
    Value::Object(Map::from_iter([(key.to_owned(), value)]))
}

/// `depth` arrays or objects inside one another.
fn nested(depth: usize, arrays: bool) -> Value {
    (0..depth).fold(Value::Null, |inner, _| {
        if arrays {
            Value::Array(vec![inner])
        } else {
            object_of("payload", inner)
        }
    })
}

/// Strings of every kind: ids, operation names, empty, huge, control and odd Unicode.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(UPLOAD.to_owned()),
        Just(STATUS.to_owned()),
        (any::<u128>(), any::<bool>()).prop_map(|(b, u)| uuid(b, u)),
        re("[0-9A-Za-z]{15}|[0-9A-Za-z]{18}"),
        re(".{0,40}"),
        re("\\PC{60,70}"),
        // Controls, zero-width and bidi marks, BOM, replacement, the last code point, emoji.
        re(
            r"[\x00-\x1f\x7f\x{200b}-\x{200f}\x{202a}-\x{202e}\x{feff}\x{fffd}\x{10ffff}\x{e9}\x{1f469}\x{1f4bb}]{1,20}"
        ),
        (1..5_000usize).prop_map(|n| "x".repeat(n)),
    ]
}

/// A string that is not a valid operation, contactId, VoiceCall id or upload id.
fn bad_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        re("[0-9A-Za-z-]{65,400}"),
        (1_000..20_000usize).prop_map(|n| "9".repeat(n)),
        (re("[0-9A-Za-z-]{0,20}"), any::<char>(), re("\\PC{0,20}"))
            .prop_filter("needs a non-ASCII character", |(_, c, _)| !c.is_ascii())
            .prop_map(|(head, c, tail)| format!("{head}{c}{tail}")),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let deep = (1..400usize, any::<bool>()).prop_map(|(depth, arrays)| nested(depth, arrays));
    prop_oneof![
        4 => prop_oneof![any_json(), deep].prop_map(Mutation::WrongType),
        2 => Just(Mutation::Remove),
        2 => (re("[A-Za-z_]{1,12}|\\PC{1,8}"), any_json())
            .prop_map(|(k, v)| Mutation::ExtraField(k, v)),
        1 => Just(Mutation::Overflow),
        1 => Just(Mutation::Empty),
        2 => bad_string().prop_map(Mutation::BadString),
        1 => Just(Mutation::RepeatContact),
        1 => Just(Mutation::RepeatRecord),
        1 => any::<Index>().prop_map(Mutation::ChangeCase),
    ]
}

/// What parsing a mutated request must give: the base's result, or an error whose message
/// starts with this field and rule.
#[derive(Debug)]
enum Expect {
    Same,
    Error(String),
}

fn error(field: &str, rule: &str) -> Expect {
    Expect::Error(format!("{field}: {rule}"))
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value of another type than the node takes, built from `value`.
fn retyped(kind: Kind, value: Value) -> Value {
    let same_type = match kind {
        Kind::Root | Kind::Contact => value.is_object(),
        Kind::List => value.is_array(),
        _ => value.is_string(),
    };
    match (same_type, kind) {
        (false, _) => value,
        (true, Kind::List) => object_of("items", value),
        (true, _) => Value::Array(vec![value]),
    }
}

/// The rule a wrong type at this node breaks, as the contract words it.
fn type_rule(node: &Node, got: &Value) -> Expect {
    let got = kind_name(got);
    let rule = match node.kind {
        Kind::Root => format!("must be a JSON object, got {got}"),
        Kind::Operation | Kind::Record => format!("must be a string, got {got}"),
        Kind::List => "is required and must be an array of 1 to 100 ".to_owned(),
        Kind::Contact => {
            format!("must be an object with contactId and relatedRecords, got {got}")
        }
        Kind::ContactId => format!("is required and must be a string, got {got}"),
        Kind::UploadId => format!(
            "must be an upload id from an uploadTranscript response (1 to 64 letters, digits or '-'), got {got}"
        ),
    };
    error(&node.field, &rule)
}

fn parent(pointer: &str) -> &str {
    &pointer[..pointer.rfind('/').unwrap_or(0)]
}

/// Applies the mutation at the node and predicts the outcome.
fn mutate(json: &mut Value, node: &Node, mutation: Mutation) -> Expect {
    let target = json.pointer_mut(&node.pointer).unwrap();
    match mutation {
        Mutation::WrongType(value) => {
            *target = retyped(node.kind, value);
            type_rule(node, target)
        }
        Mutation::Remove => {
            let key = &node.pointer[node.pointer.rfind('/').unwrap() + 1..];
            json.pointer_mut(parent(&node.pointer))
                .and_then(Value::as_object_mut)
                .unwrap()
                .remove(key);
            let rule = match node.kind {
                Kind::Operation => {
                    "must be one of uploadTranscript, fetchUploadIdsStatus, summarizeBackfill, buildBackfillManifest"
                }
                Kind::ContactId => "is required and must be a string, got nothing",
                _ => "is required and must be an array of 1 to 100 ",
            };
            error(&node.field, rule)
        }
        Mutation::ExtraField(key, value) => {
            let object = target.as_object_mut().unwrap();
            if !object.contains_key(&key) && !["payload", "uploadIds"].contains(&key.as_str()) {
                object.insert(key, value);
            }
            Expect::Same
        }
        Mutation::Overflow => {
            let items = target.as_array_mut().unwrap();
            let first = items[0].clone();
            items.resize(MAX + 1, first);
            error(&node.field, "must list 1 to 100 ")
        }
        Mutation::Empty => {
            target.as_array_mut().unwrap().clear();
            error(&node.field, "must list 1 to 100 ")
        }
        Mutation::BadString(s) => {
            *target = Value::String(s);
            let rule = match node.kind {
                Kind::Operation => {
                    "must be one of uploadTranscript, fetchUploadIdsStatus, summarizeBackfill, buildBackfillManifest, got "
                }
                Kind::ContactId => "must be an Amazon Connect contact id",
                Kind::UploadId => "must be an upload id",
                _ => "must ",
            };
            error(&node.field, rule)
        }
        Mutation::RepeatContact => {
            let mut repeat = target.clone();
            let id = repeat["contactId"].as_str().unwrap();
            let changed = if id.chars().any(|c| c.is_ascii_lowercase()) {
                id.to_uppercase()
            } else {
                id.to_lowercase()
            };
            repeat["contactId"] = Value::String(changed);
            let payload = json["payload"].as_array_mut().unwrap();
            payload.push(repeat);
            if payload.len() > MAX {
                error("payload", "must list 1 to 100 contacts, got 101")
            } else {
                let field = format!("payload[{}].contactId", payload.len() - 1);
                error(&field, "must not repeat a contactId already in the request")
            }
        }
        Mutation::RepeatRecord => {
            let sent = target.as_str().unwrap();
            let other = if sent.len() == 15 {
                format!("{sent}{}", case_suffix(sent))
            } else {
                sent[..15].to_owned()
            };
            let records = json
                .pointer_mut(parent(&node.pointer))
                .and_then(Value::as_array_mut)
                .unwrap();
            records.push(Value::String(other));
            if records.len() > MAX {
                error(
                    &node.field[..node.field.rfind('[').unwrap()],
                    "must list 1 to 100 ",
                )
            } else {
                Expect::Same
            }
        }
        Mutation::ChangeCase(index) => {
            let sent = target.as_str().unwrap().to_owned();
            let letters: Vec<usize> = (0..15.min(sent.len()))
                .filter(|&i| sent.as_bytes()[i].is_ascii_alphabetic())
                .collect();
            if sent.len() != 18 || letters.is_empty() {
                return Expect::Same;
            }
            let mut bytes = sent.into_bytes();
            let at = letters[index.index(letters.len())];
            bytes[at] ^= 0x20; // ASCII case bit
            *target = Value::String(String::from_utf8(bytes).unwrap());
            error(
                &node.field,
                "has an 18-character suffix that does not match its first 15 characters",
            )
        }
    }
}

// ---- Raw bytes ------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum ByteEdit {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(i, b)| ByteEdit::Flip(i, b)),
        (
            any::<Index>(),
            prop_oneof![
                Just(0x80u8),
                Just(0xC0),
                Just(0xFF),
                Just(b'"'),
                any::<u8>()
            ]
        )
            .prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        any::<Index>().prop_map(ByteEdit::Delete),
        any::<Index>().prop_map(ByteEdit::Truncate),
    ]
}

fn edit(bytes: &mut Vec<u8>, edit: &ByteEdit) {
    let len = bytes.len();
    if len == 0 {
        return;
    }
    match edit {
        ByteEdit::Flip(i, mask) => bytes[i.index(len)] ^= mask,
        ByteEdit::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
        ByteEdit::Delete(i) => {
            bytes.remove(i.index(len));
        }
        ByteEdit::Truncate(i) => bytes.truncate(i.index(len)),
    }
}

// ---- Properties --------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(20_000))]

    /// Valid requests of both operations parse to exactly what was sent; an 18-character
    /// VoiceCall id comes out as its 15-character prefix, without repeats.
    #[test]
    fn valid_requests_round_trip(valid in valid_request()) {
        prop_assert_eq!(check(&valid.json), Ok(valid.expected));
    }
}

proptest! {
    #![proptest_config(config(60_000))]

    /// One mutation anywhere in a valid request gives the predicted outcome: the same
    /// request, or an error at the mutated field that states the broken rule.
    #[test]
    fn a_mutated_request_is_accepted_or_rejected_at_the_mutated_field(
        valid in valid_request(),
        mutation in mutation(),
        at in any::<Index>(),
    ) {
        let mut json = valid.json.clone();
        let candidates: Vec<Node> = nodes(&json)
            .into_iter()
            .filter(|n| mutation.applies_to(n.kind))
            .collect();
        let expect = match candidates.len() {
            0 => Expect::Same,
            n => mutate(&mut json, &candidates[at.index(n)], mutation),
        };
        let outcome = check(&json);
        match expect {
            Expect::Same => prop_assert_eq!(outcome, Ok(valid.expected)),
            Expect::Error(start) => {
                let message = outcome.expect_err("the mutation must be rejected");
                prop_assert!(message.starts_with(&start), "{}\n  expected to start with\n{}", message, start);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(20_000))]

    /// Arbitrary JSON (the contract's keys included) never panics the parser; what it
    /// accepts obeys the contract, what it rejects names a field.
    #[test]
    fn arbitrary_json_is_accepted_only_within_the_contract(
        value in any_json(),
        operation in prop::option::of(odd_string()),
    ) {
        let value = match (value, operation) {
            (Value::Object(mut object), Some(op)) => {
                object.insert("operation".into(), Value::String(op));
                Value::Object(object)
            }
            (value, _) => value,
        };
        let _ = check(&value);
    }
}

proptest! {
    #![proptest_config(config(10_000))]

    /// Mutated bytes of a request: the JSON parser never panics and rejects invalid UTF-8
    /// (as the Lambda runtime does before the function sees the event); whatever still
    /// parses is handled by the request parser like any other JSON.
    #[test]
    fn mutated_bytes_never_panic_and_invalid_utf8_never_reaches_the_parser(
        valid in valid_request(),
        edits in prop::collection::vec(byte_edit(), 1..6),
    ) {
        let mut bytes = serde_json::to_vec(&valid.json).unwrap();
        for e in &edits {
            edit(&mut bytes, e);
        }
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            prop_assert!(std::str::from_utf8(&bytes).is_ok(), "invalid UTF-8 parsed");
            let _ = check(&value);
        }
    }
}

// ---- The limits, exactly ---------------------------------------------------------------------

fn full_contact(n: u128, records: usize) -> Value {
    let records: Vec<String> = (0..records)
        .map(|j| {
            let id15 = format!("0LQ{n:06}{j:06}");
            format!("{id15}{}", case_suffix(&id15))
        })
        .collect();
    json!({"contactId": uuid(n, false), "relatedRecords": records})
}

#[test]
fn one_hundred_contacts_with_one_hundred_records_each_are_accepted_and_one_more_is_not() {
    let payload: Vec<Value> = (0..100).map(|n| full_contact(n, 100)).collect();
    let request = json!({"operation": UPLOAD, "payload": payload});
    let Ok(Request::UploadTranscript(contacts)) = check(&request) else {
        panic!("100 x 100 must be accepted")
    };
    assert_eq!(contacts.len(), 100);
    assert!(contacts.iter().all(|c| c.related_records.len() == 100));

    let mut more = request.clone();
    more["payload"]
        .as_array_mut()
        .unwrap()
        .push(full_contact(100, 1));
    assert_eq!(
        check(&more),
        Err("payload: must list 1 to 100 contacts, got 101".into())
    );

    let mut more = request;
    more["payload"][37] = full_contact(37, 101);
    assert_eq!(
        check(&more),
        Err("payload[37].relatedRecords: must list 1 to 100 VoiceCall ids, got 101".into())
    );
}

#[test]
fn one_hundred_upload_ids_of_64_characters_are_accepted_and_longer_or_more_are_not() {
    let ids: Vec<String> = (0..100).map(|i| format!("{i:-<64}")).collect();
    let request = json!({"operation": STATUS, "uploadIds": ids});
    assert_eq!(
        check(&request),
        Ok(Request::FetchUploadIdsStatus(ids.clone()))
    );

    let mut more = request.clone();
    more["uploadIds"].as_array_mut().unwrap().push(json!("x"));
    assert_eq!(
        check(&more),
        Err("uploadIds: must list 1 to 100 ids, got 101".into())
    );
    let mut longer = request;
    longer["uploadIds"][99] = json!("y".repeat(65));
    assert!(
        check(&longer)
            .unwrap_err()
            .starts_with("uploadIds[99]: must be an upload id")
    );
}

#[test]
fn json_nested_deeper_than_the_json_parser_allows_is_an_error_not_a_crash() {
    for depth in [200, 100_000] {
        let mut text = "[".repeat(depth);
        text.push_str(&"]".repeat(depth));
        assert!(serde_json::from_str::<Value>(&text).is_err());
        let object = format!("{}1{}", "{\"payload\":".repeat(depth), "}".repeat(depth));
        assert!(serde_json::from_str::<Value>(&object).is_err());
    }
}
