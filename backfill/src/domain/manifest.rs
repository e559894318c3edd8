//! Manifest validation: every row is checked with the function's own request parser, so that a
//! manifest that passes here is one whose batches the function accepts.
//!
//! The Distributed Map sends 100 rows to one invocation, and the function rejects a request as a
//! whole when any contact in it breaks the contract: one bad row would fail its 99 neighbours.
//! Hence `start` refuses a manifest with any problem, and reports all of them with line numbers.

use std::collections::HashMap;
use std::fmt;

use contact_data_sync::domain::request::{Request, parse_request, quoted};
use serde_json::{Value, json};
use thiserror::Error;

/// The header a CSV manifest must start with, exactly.
pub const CSV_HEADER: [&str; 2] = ["contactId", "relatedRecords"];
/// How `relatedRecords` separates VoiceCall ids in a CSV manifest.
pub const RECORD_SEPARATOR: char = ';';
/// How many problems are printed before the rest are only counted.
pub const PRINTED_PROBLEMS: usize = 50;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How the state machine reads a manifest: it picks the reader by the key's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    Csv,
    JsonLines,
}

impl ManifestFormat {
    /// The format of a manifest file by its name. The state machine matches `*.jsonl` (case
    /// matters) and reads anything else as CSV, so only `.csv` and `.jsonl` are accepted.
    pub fn from_file_name(name: &str) -> Result<Self, FormatError> {
        let extension = name.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
        if extension == "jsonl" {
            Ok(Self::JsonLines)
        } else if extension.eq_ignore_ascii_case("csv") {
            Ok(Self::Csv)
        } else if extension.eq_ignore_ascii_case("jsonl") {
            Err(FormatError::JsonLinesCase {
                name: name.to_owned(),
            })
        } else {
            Err(FormatError::Unsupported {
                name: name.to_owned(),
            })
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    #[error(
        "{name}: unsupported manifest type; use a .csv file (header contactId,relatedRecords) or a .jsonl file (one {{\"contactId\",\"relatedRecords\"}} object a line)"
    )]
    Unsupported { name: String },
    #[error(
        "{name}: rename the file to end in lowercase .jsonl; the state machine matches the extension case-sensitively and would read this file as CSV"
    )]
    JsonLinesCase { name: String },
}

/// One thing wrong with a manifest, on a line (1-based) or with the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<u64>,
    pub message: String,
}

impl Problem {
    fn at(line: u64, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            message: message.into(),
        }
    }

    fn file(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// All the problems of a manifest, in line order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the manifest has {} problem(s)", .0.len())]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// One problem a line, at most `cap` of them, then `… and N more`.
    pub fn render(&self, cap: usize) -> String {
        let mut out = String::new();
        for problem in self.0.iter().take(cap) {
            out.push_str(&problem.to_string());
            out.push('\n');
        }
        if self.0.len() > cap {
            out.push_str(&format!("… and {} more\n", self.0.len() - cap));
        }
        out
    }
}

/// Checks a whole manifest; `Ok` holds the number of contacts.
pub fn check(format: ManifestFormat, data: &[u8]) -> Result<usize, Problems> {
    let mut checker = Checker::default();
    match format {
        ManifestFormat::Csv => checker.csv(data),
        ManifestFormat::JsonLines => checker.json_lines(data),
    }
    if checker.problems.is_empty() {
        Ok(checker.contacts)
    } else {
        checker.problems.sort_by_key(|p| p.line);
        Err(Problems(checker.problems))
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    contacts: usize,
    /// Lower-cased contact id → the line it first appeared on (the function's own rule for
    /// repeats ignores case).
    seen: HashMap<String, u64>,
}

/// Which column layout a row came from, for naming the field of a parser error.
#[derive(Clone, Copy)]
enum Layout {
    Csv,
    JsonLines,
}

impl Checker {
    fn csv(&mut self, data: &[u8]) {
        let lines = LineIndex::new(data);
        let bom = data.starts_with(UTF8_BOM);
        if bom {
            self.problems.push(Problem::at(
                1,
                "starts with a UTF-8 byte order mark (BOM); save the file as UTF-8 without BOM",
            ));
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::None)
            .from_reader(data);
        let mut record = csv::ByteRecord::new();
        // The last byte of the previous record, to find the blank lines the reader skips.
        let mut previous_end: Option<usize> = None;
        let mut rows = 0usize;
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = e.position().map_or(1, |p| p.line());
                    self.problems
                        .push(Problem::at(line, format!("unreadable CSV: {e}")));
                    return;
                }
            }
            let from = record.position().map_or(0, |p| p.byte() as usize);
            let start = lines.content_start(from);
            let line = lines.line_of(start);
            self.blank_lines(&lines, previous_end, start);
            previous_end = lines.content_end_before(reader.position().byte() as usize);
            if rows == 0 {
                if !bom && record.iter().ne(CSV_HEADER.iter().map(|h| h.as_bytes())) {
                    self.problems.push(Problem::at(
                        line,
                        format!(
                            "the header must be exactly {}, got {}",
                            CSV_HEADER.join(","),
                            quoted(
                                &record
                                    .iter()
                                    .map(String::from_utf8_lossy)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            )
                        ),
                    ));
                }
            } else {
                self.csv_row(line, &record);
            }
            rows += 1;
        }
        match (rows, previous_end) {
            (0, _) => {
                self.problems.clear();
                self.problems.push(Problem::file(format!(
                    "the manifest is empty; expected the header {} and one row a contact",
                    CSV_HEADER.join(",")
                )));
            }
            (1, _) if self.problems.is_empty() => self.problems.push(Problem::file(
                "the manifest has no contacts, only the header",
            )),
            _ => {}
        }
        if let Some(end) = previous_end {
            self.trailing_blank_lines(&lines, end);
        }
    }

    fn csv_row(&mut self, line: u64, record: &csv::ByteRecord) {
        if record.len() != CSV_HEADER.len() {
            self.problems.push(Problem::at(
                line,
                format!(
                    "expected {} columns ({}), got {}",
                    CSV_HEADER.len(),
                    CSV_HEADER.join(","),
                    record.len()
                ),
            ));
            return;
        }
        let mut fields = [""; 2];
        for (i, field) in record.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(text) => fields[i] = text,
                Err(_) => {
                    self.problems.push(Problem::at(
                        line,
                        format!("{}: is not valid UTF-8", CSV_HEADER[i]),
                    ));
                    return;
                }
            }
        }
        let [contact_id, related] = fields;
        let related: Vec<&str> = if related.is_empty() {
            Vec::new()
        } else {
            related.split(RECORD_SEPARATOR).collect()
        };
        let item = json!({ "contactId": contact_id, "relatedRecords": related });
        self.contact(line, item, Layout::Csv);
    }

    fn json_lines(&mut self, data: &[u8]) {
        if data.starts_with(UTF8_BOM) {
            self.problems.push(Problem::at(
                1,
                "starts with a UTF-8 byte order mark (BOM); save the file as UTF-8 without BOM",
            ));
        }
        let body = data.strip_suffix(b"\n").unwrap_or(data);
        if data.is_empty() || body.iter().all(|b| b.is_ascii_whitespace()) {
            self.problems.clear();
            self.problems.push(Problem::file(
                "the manifest is empty; expected one {\"contactId\",\"relatedRecords\"} object a line",
            ));
            return;
        }
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let line = i as u64 + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let raw = if line == 1 {
                raw.strip_prefix(UTF8_BOM).unwrap_or(raw)
            } else {
                raw
            };
            let Ok(text) = std::str::from_utf8(raw) else {
                self.problems.push(Problem::at(line, "is not valid UTF-8"));
                continue;
            };
            if text.trim().is_empty() {
                self.problems.push(blank_line(line));
                continue;
            }
            match serde_json::from_str::<Value>(text) {
                Ok(item) => self.contact(line, item, Layout::JsonLines),
                Err(e) => self.problems.push(Problem::at(
                    line,
                    format!("invalid JSON: {}", json_error(&e)),
                )),
            }
        }
    }

    /// Checks one contact with the function's parser, then for a repeat of an earlier line.
    fn contact(&mut self, line: u64, item: Value, layout: Layout) {
        let empty_records = match item.get("relatedRecords") {
            Some(Value::Array(records)) => records.is_empty(),
            Some(Value::String(records)) => records.is_empty(),
            _ => false,
        };
        let request = json!({ "operation": "uploadTranscript", "payload": [item] });
        match parse_request(&request) {
            Ok(Request::UploadTranscript(contacts)) => {
                for contact in contacts {
                    let key = contact.contact_id.to_ascii_lowercase();
                    if let Some(first) = self.seen.get(&key) {
                        self.problems
                            .push(Problem::at(line, format!("contactId repeats line {first}")));
                    } else {
                        self.seen.insert(key, line);
                        self.contacts += 1;
                    }
                }
            }
            Ok(_) => self.problems.push(Problem::at(
                line,
                "was read as a status request; expected a contact",
            )),
            Err(e) => {
                let message = e.to_string();
                let (field, rule) = message.split_once(": ").unwrap_or(("", &message));
                let column = column_of(field, layout);
                let message = if column == "relatedRecords" && empty_records {
                    format!(
                        "relatedRecords: is empty; list one or more VoiceCall ids{}",
                        match layout {
                            Layout::Csv => " separated by ';'",
                            Layout::JsonLines => "",
                        }
                    )
                } else if column.is_empty() {
                    rule.to_owned()
                } else {
                    format!("{column}: {rule}")
                };
                self.problems.push(Problem::at(line, message));
            }
        }
    }

    /// Blank lines between the previous record (or the start) and the record at `start`.
    fn blank_lines(&mut self, lines: &LineIndex, previous_end: Option<usize>, start: usize) {
        let first_blank = previous_end.map_or(1, |end| lines.line_of(end) + 1);
        for line in first_blank..lines.line_of(start) {
            self.problems.push(blank_line(line));
        }
    }

    /// Blank lines after the last record: more than the one line break that may end it.
    fn trailing_blank_lines(&mut self, lines: &LineIndex, end: usize) {
        let last = lines.line_of(end);
        for line in last + 1..=lines.breaks_after(end) + last - 1 {
            self.problems.push(blank_line(line));
        }
    }
}

fn blank_line(line: u64) -> Problem {
    Problem::at(line, "is blank; remove it")
}

/// The manifest column of a parser field path: `payload[0].contactId` → `contactId`.
fn column_of(field: &str, layout: Layout) -> String {
    let Some(rest) = field.strip_prefix("payload[0]") else {
        return field.to_owned();
    };
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    match (layout, rest.strip_prefix("relatedRecords[")) {
        (Layout::Csv, Some(index)) => match index
            .strip_suffix(']')
            .and_then(|i| i.parse::<usize>().ok())
        {
            // `;`-separated ids have no index in the file: count them from 1.
            Some(i) => format!("relatedRecords id {}", i + 1),
            None => rest.to_owned(),
        },
        _ => rest.to_owned(),
    }
}

/// serde_json's message without its `at line 1 column N`, which would contradict the file's line.
fn json_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match message.strip_suffix(&suffix) {
        Some(head) => format!("{head} at column {}", e.column()),
        None => message,
    }
}

/// Line numbers of byte offsets, counting `\n` (so `\r\n` files number as expected).
struct LineIndex<'a> {
    data: &'a [u8],
    breaks: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(data: &'a [u8]) -> Self {
        let breaks = data
            .iter()
            .enumerate()
            .filter_map(|(i, &b)| (b == b'\n').then_some(i))
            .collect();
        Self { data, breaks }
    }

    /// The 1-based line of the byte at `offset`.
    fn line_of(&self, offset: usize) -> u64 {
        self.breaks.partition_point(|&b| b < offset) as u64 + 1
    }

    /// The first byte at or after `from` that is not a line break: where the record really
    /// starts, since the reader's position includes the breaks it skipped before it.
    fn content_start(&self, from: usize) -> usize {
        let from = from.min(self.data.len());
        from + self.data[from..]
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count()
    }

    /// The last byte before `to` that is not a line break: the end of the record just read.
    fn content_end_before(&self, to: usize) -> Option<usize> {
        let to = to.min(self.data.len());
        self.data[..to]
            .iter()
            .rposition(|&b| b != b'\n' && b != b'\r')
    }

    /// How many line breaks follow the byte at `end` up to the end of the data.
    fn breaks_after(&self, end: usize) -> u64 {
        (self.breaks.len() - self.breaks.partition_point(|&b| b <= end)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "faaa3a21-5990-48cd-a035-e85ca8c861ff";
    const B: &str = "f15c9342-65a1-41e8-a752-81d630a2890d";
    const VC: &str = "0LQ1Q000002TZtn";
    const VC18: &str = "0LQ1Q000002TZtnWAG";

    fn problems(format: ManifestFormat, data: &str) -> Vec<String> {
        match check(format, data.as_bytes()) {
            Ok(n) => vec![format!("{n} OK")],
            Err(p) => p.0.iter().map(ToString::to_string).collect(),
        }
    }

    fn csv(data: &str) -> Vec<String> {
        problems(ManifestFormat::Csv, data)
    }

    fn jsonl(data: &str) -> Vec<String> {
        problems(ManifestFormat::JsonLines, data)
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(
            ManifestFormat::from_file_name("a.csv"),
            Ok(ManifestFormat::Csv)
        );
        assert_eq!(
            ManifestFormat::from_file_name("a.b.CSV"),
            Ok(ManifestFormat::Csv)
        );
        assert_eq!(
            ManifestFormat::from_file_name("a.jsonl"),
            Ok(ManifestFormat::JsonLines)
        );
        assert!(matches!(
            ManifestFormat::from_file_name("a.JSONL"),
            Err(FormatError::JsonLinesCase { .. })
        ));
        for name in ["a.json", "a", "a.txt", "csv"] {
            assert_eq!(
                ManifestFormat::from_file_name(name),
                Err(FormatError::Unsupported { name: name.into() }),
                "{name}"
            );
        }
    }

    #[test]
    fn good_csv_counts_contacts_with_any_line_ending_and_quoting() {
        assert_eq!(
            csv(&format!(
                "contactId,relatedRecords\n{A},{VC}\n{B},\"{VC};{VC18}\"\n"
            )),
            ["2 OK"]
        );
        assert_eq!(
            csv(&format!("contactId,relatedRecords\r\n{A},{VC}\r\n{B},{VC}")),
            ["2 OK"]
        );
    }

    #[test]
    fn csv_rows_are_checked_by_the_function_parser_with_columns_named() {
        let data = format!(
            "contactId,relatedRecords\n\
             abc,{VC}\n\
             {A},\n\
             {B},{VC};0LQ1Q\n\
             {A} ,{VC}\n\
             {A},{VC};\n\
             {A},{VC},x\n\
             {A}\n"
        );
        assert_eq!(
            csv(&data),
            [
                "line 2: contactId: must be an Amazon Connect contact id (a UUID such as faaa3a21-5990-48cd-a035-e85ca8c861ff), got \"abc\"",
                "line 3: relatedRecords: is empty; list one or more VoiceCall ids separated by ';'",
                "line 4: relatedRecords id 2: must be a 15- or 18-character Salesforce id, got \"0LQ1Q\"",
                &format!(
                    "line 5: contactId: must be an Amazon Connect contact id (a UUID such as faaa3a21-5990-48cd-a035-e85ca8c861ff), got \"{A} \""
                ),
                "line 6: relatedRecords id 2: must be a 15- or 18-character Salesforce id, got \"\"",
                "line 7: expected 2 columns (contactId,relatedRecords), got 3",
                "line 8: expected 2 columns (contactId,relatedRecords), got 1",
            ]
        );
    }

    #[test]
    fn repeats_name_the_first_line_ignoring_case() {
        let data = format!(
            "contactId,relatedRecords\n{A},{VC}\n{B},{VC}\n{},{VC}\n",
            A.to_uppercase()
        );
        assert_eq!(csv(&data), ["line 4: contactId repeats line 2"]);
        let line = |id: &str| format!("{{\"contactId\":\"{id}\",\"relatedRecords\":[\"{VC}\"]}}\n");
        assert_eq!(
            jsonl(&(line(A) + &line(B) + &line(A))),
            ["line 3: contactId repeats line 1"]
        );
    }

    #[test]
    fn csv_header_must_be_exact() {
        assert_eq!(
            csv(&format!("contactid,relatedRecords\n{A},{VC}\n")),
            [
                "line 1: the header must be exactly contactId,relatedRecords, got \"contactid,relatedRecords\""
            ]
        );
        assert_eq!(
            csv(&format!("{A},{VC}\n{B},{VC}\n")),
            [format!(
                "line 1: the header must be exactly contactId,relatedRecords, got \"{A},{VC}\""
            )]
        );
        assert_eq!(
            csv(&format!("\u{feff}contactId,relatedRecords\n{A},{VC}\n")),
            [
                "line 1: starts with a UTF-8 byte order mark (BOM); save the file as UTF-8 without BOM"
            ]
        );
    }

    #[test]
    fn empty_manifests_and_header_only() {
        for data in ["", "\n", "\r\n\r\n"] {
            assert_eq!(
                csv(data),
                [
                    "the manifest is empty; expected the header contactId,relatedRecords and one row a contact"
                ]
            );
            assert_eq!(
                jsonl(data),
                [
                    "the manifest is empty; expected one {\"contactId\",\"relatedRecords\"} object a line"
                ]
            );
        }
        assert_eq!(
            csv("contactId,relatedRecords\n"),
            ["the manifest has no contacts, only the header"]
        );
    }

    #[test]
    fn blank_lines_are_reported_where_they_are() {
        let data = format!("\ncontactId,relatedRecords\n{A},{VC}\n\r\n\n{B},{VC}\n\n");
        assert_eq!(
            csv(&data),
            [
                "line 1: is blank; remove it",
                "line 4: is blank; remove it",
                "line 5: is blank; remove it",
                "line 7: is blank; remove it",
            ]
        );
        // A line break inside quotes is part of the field, not a blank line.
        let quoted_break = format!("contactId,relatedRecords\n\"{A}\n\n\",{VC}\n{B},{VC}\n");
        assert_eq!(
            csv(&quoted_break)[0],
            format!(
                "line 2: contactId: must be an Amazon Connect contact id (a UUID such as faaa3a21-5990-48cd-a035-e85ca8c861ff), got \"{A}\\n\\n\""
            )
        );
        assert_eq!(csv(&quoted_break).len(), 1);
        let line = format!("{{\"contactId\":\"{A}\",\"relatedRecords\":[\"{VC}\"]}}");
        assert_eq!(
            jsonl(&format!("{line}\n  \n")),
            ["line 2: is blank; remove it"]
        );
    }

    #[test]
    fn json_lines_rows_are_checked_by_the_function_parser() {
        let data = format!(
            "{{\"contactId\":\"{A}\",\"relatedRecords\":[\"{VC}\"]}}\n\
             {{\"contactId\":\"{B}\",\"relatedRecords\":[\"{VC}\"]\n\
             [1]\n\
             {{\"contactId\":\"{B}\",\"relatedRecords\":[]}}\n\
             {{\"contactId\":\"{B}\",\"relatedRecords\":\"{VC}\"}}\n\
             {{\"contactId\":\"{B}\",\"relatedRecords\":[\"{VC}\",7]}}\n\
             {{\"relatedRecords\":[\"{VC}\"]}}\n\
             {{\"contactId\":\"{B}\",\"relatedRecords\":[\"{VC}\"]}}\r\n"
        );
        assert_eq!(
            jsonl(&data),
            [
                "line 2: invalid JSON: EOF while parsing an object at column 88",
                "line 3: must be an object with contactId and relatedRecords, got an array",
                "line 4: relatedRecords: is empty; list one or more VoiceCall ids",
                "line 5: relatedRecords: is required and must be an array of 1 to 100 VoiceCall ids, got a string",
                "line 6: relatedRecords[1]: must be a string, got a number",
                "line 7: contactId: is required and must be a string, got nothing",
            ]
        );
    }

    #[test]
    fn problems_render_capped() {
        let problems = Problems((1..=5).map(|n| Problem::at(n, "x")).collect());
        assert_eq!(
            problems.render(3),
            "line 1: x\nline 2: x\nline 3: x\n… and 2 more\n"
        );
        assert_eq!(problems.render(5).lines().count(), 5);
    }

    #[test]
    fn column_names_follow_the_layout() {
        assert_eq!(column_of("payload[0].contactId", Layout::Csv), "contactId");
        assert_eq!(
            column_of("payload[0].relatedRecords[3]", Layout::Csv),
            "relatedRecords id 4"
        );
        assert_eq!(
            column_of("payload[0].relatedRecords[3]", Layout::JsonLines),
            "relatedRecords[3]"
        );
        assert_eq!(column_of("payload[0]", Layout::JsonLines), "");
        assert_eq!(column_of("operation", Layout::Csv), "operation");
    }
}
