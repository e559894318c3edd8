//! The summary step of a backfill run: every contact of the manifest, read back from the
//! files the Distributed Map's ResultWriter left in the backfill bucket, counted by status and
//! failure code, and the failed ones listed as a manifest that can be started again.
//!
//! Wire formats (Step Functions ResultWriter, default `Transformation: NONE`):
//! - `results/<map run id>/manifest.json`: `{"ResultFiles":{"SUCCEEDED":[{"Key":..}],"FAILED":[..],"PENDING":[..]}}`;
//! - each listed file: a JSON array of child executions `{"Status","Input","Output","Error","Cause"}`,
//!   `Input` and `Output` being JSON text. A child's input is the batch `{"Items":[..]}`, its
//!   output the function's uploadTranscript response.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Deserialize;
use serde_json::{Value, json};
use thiserror::Error;

use super::ids::{contact_id, salesforce_id_15};
use super::json::JsonError;
use super::outcome::{BulkUploadResult, STATUS_SKIPPED, STATUS_SUCCESS};
use super::soql::VoiceCallRecord;

/// The ResultWriter's index file name, under the map run's prefix.
const RESULTS_MANIFEST_NAME: &str = "manifest.json";
pub const SUMMARY_NAME: &str = "summary.json";
pub const FAILED_MANIFEST_NAME: &str = "failed.csv";
/// Manifest header, the same the backfill state machine's CSV reader expects.
const MANIFEST_HEADER: [&str; 2] = ["contactId", "relatedRecords"];
const RELATED_RECORDS_SEPARATOR: &str = ";";

/// Codes of contacts that failed as a whole batch, or never ran, rather than one by one.
pub const BATCH_FAILED: &str = "BATCH_FAILED";
pub const BATCH_TIMED_OUT: &str = "BATCH_TIMED_OUT";
pub const BATCH_ABORTED: &str = "BATCH_ABORTED";
pub const NOT_STARTED: &str = "NOT_STARTED";
/// The function refused the batch (`statusCode` 400), e.g. a manifest row the parser rejects.
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// The batch's answer does not mention the contact, or is not an uploadTranscript response.
pub const NO_RESULT: &str = "NO_RESULT";
/// A failure whose `errorDetail` does not start with one of this function's codes.
pub const UNCLASSIFIED: &str = "UNCLASSIFIED";

/// Where a time window's manifest goes, named after the execution it is for.
pub fn window_manifest_key(execution_name: &str) -> String {
    format!("manifests/windows/{execution_name}.csv")
}

/// VoiceCalls a contact's row stays open for after its first one: its other VoiceCalls listed
/// within that many join it. A contact's VoiceCalls start at about the same time, and the
/// window is listed in start order, so they come close together; the bound keeps the open rows
/// (about 250 bytes each) to a few megabytes however long the window is.
pub const OPEN_ROW_VOICE_CALLS: u64 = 10_000;

/// What a window's manifest holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ManifestTotals {
    /// Rows: one per contact (a contact whose VoiceCalls come further apart than
    /// [`OPEN_ROW_VOICE_CALLS`] gets a row for each group).
    pub contacts: usize,
    pub voice_calls: usize,
    /// VoiceCalls left out: their `VendorCallKey` is not a contact id, or their id is malformed.
    pub left_out: usize,
}

/// A time window's manifest, built as Salesforce's pages arrive: one row per contact, in the
/// order Salesforce listed their first VoiceCall, listing all its VoiceCalls. A row is written
/// once it can take no more VoiceCalls, so the CSV comes out in pieces while the window is
/// still being listed, and only the open rows are held.
#[derive(Debug)]
pub struct WindowManifest {
    csv: csv::Writer<Vec<u8>>,
    /// Rows that may still take VoiceCalls, oldest first, each with the position of its first.
    open: VecDeque<(u64, ManifestRow)>,
    /// The open row of each contact, by sequence number: the front row's is `closed`.
    open_row_of: HashMap<String, u64>,
    /// Rows written so far.
    closed: u64,
    /// VoiceCalls added so far.
    listed: u64,
    lookahead: u64,
    totals: ManifestTotals,
}

impl Default for WindowManifest {
    fn default() -> Self {
        Self::with_lookahead(OPEN_ROW_VOICE_CALLS)
    }
}

impl WindowManifest {
    /// A manifest whose rows stay open for `lookahead` VoiceCalls after their first; the
    /// header is its first CSV.
    pub fn with_lookahead(lookahead: u64) -> Self {
        let mut csv = csv::Writer::from_writer(Vec::new());
        // Writing to a Vec cannot fail.
        let _ = csv.write_record(MANIFEST_HEADER);
        Self {
            csv,
            open: VecDeque::new(),
            open_row_of: HashMap::new(),
            closed: 0,
            listed: 0,
            lookahead,
            totals: ManifestTotals::default(),
        }
    }

    /// Adds the VoiceCalls of one page, in the order Salesforce listed them.
    pub fn add(&mut self, records: &[VoiceCallRecord]) {
        for record in records {
            self.add_one(record);
            while self
                .open
                .front()
                .is_some_and(|(first, _)| first + self.lookahead < self.listed)
            {
                self.close_oldest();
            }
        }
    }

    fn add_one(&mut self, record: &VoiceCallRecord) {
        self.listed += 1;
        let key = record.vendor_call_key.as_deref().and_then(contact_id);
        let (Some(key), Ok(id15)) = (key, salesforce_id_15(&record.id)) else {
            self.totals.left_out += 1;
            return;
        };
        self.totals.voice_calls += 1;
        let row = match self.open_row_of.get(&key) {
            Some(sequence) => &mut self.open[(sequence - self.closed) as usize].1,
            None => {
                let sequence = self.closed + self.open.len() as u64;
                self.open_row_of.insert(key.clone(), sequence);
                self.open.push_back((
                    self.listed - 1,
                    ManifestRow {
                        contact_id: key,
                        related_records: Vec::new(),
                    },
                ));
                &mut self.open.back_mut().expect("just pushed").1
            }
        };
        if !row.related_records.iter().any(|id| id == id15) {
            row.related_records.push(id15.to_owned());
        }
    }

    fn close_oldest(&mut self) {
        let Some((_, row)) = self.open.pop_front() else {
            return;
        };
        self.open_row_of.remove(&row.contact_id);
        self.closed += 1;
        self.totals.contacts += 1;
        // Writing to a Vec cannot fail.
        let _ = self.csv.write_record([
            row.contact_id.as_str(),
            &row.related_records.join(RELATED_RECORDS_SEPARATOR),
        ]);
    }

    /// The CSV written since the last call: the header and the rows that were closed.
    pub fn take_csv(&mut self) -> Vec<u8> {
        let written = std::mem::replace(&mut self.csv, csv::Writer::from_writer(Vec::new()));
        // Flushing into a Vec cannot fail.
        written.into_inner().unwrap_or_default()
    }

    /// Closes every row, once the window is listed: the rest of the CSV, and the totals.
    pub fn finish(mut self) -> (Vec<u8>, ManifestTotals) {
        while !self.open.is_empty() {
            self.close_oldest();
        }
        (self.take_csv(), self.totals)
    }
}

/// Rows as a CSV manifest, the format the backfill state machine reads.
fn manifest_csv(rows: &[ManifestRow]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let lines = std::iter::once(MANIFEST_HEADER.map(str::to_owned)).chain(rows.iter().map(|r| {
        [
            r.contact_id.clone(),
            r.related_records.join(RELATED_RECORDS_SEPARATOR),
        ]
    }));
    for line in lines {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&line);
    }
    writer.into_inner().unwrap_or_default()
}

/// Which ResultWriter file a child execution was listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFileKind {
    Succeeded,
    Failed,
    Pending,
}

#[derive(Debug, Error)]
pub enum SummaryError {
    #[error("{key} is not a ResultWriter file: {source}")]
    Unreadable {
        key: String,
        #[source]
        source: JsonError,
    },
    #[error("{key}: child execution {index} has no readable batch input ({reason})")]
    BatchInput {
        key: String,
        index: usize,
        reason: String,
    },
}

/// The result files the ResultWriter's `manifest.json` lists, in order.
pub fn result_files(key: &str, body: &[u8]) -> Result<Vec<(ResultFileKind, String)>, SummaryError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Index {
        result_files: Files,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "UPPERCASE")]
    struct Files {
        #[serde(default)]
        succeeded: Vec<FileRef>,
        #[serde(default)]
        failed: Vec<FileRef>,
        #[serde(default)]
        pending: Vec<FileRef>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct FileRef {
        key: String,
    }
    let index: Index = serde_json::from_slice(body).map_err(|source| SummaryError::Unreadable {
        key: key.to_owned(),
        source: source.into(),
    })?;
    let files = index.result_files;
    let tagged =
        |kind: ResultFileKind, refs: Vec<FileRef>| refs.into_iter().map(move |r| (kind, r.key));
    Ok(tagged(ResultFileKind::Succeeded, files.succeeded)
        .chain(tagged(ResultFileKind::Failed, files.failed))
        .chain(tagged(ResultFileKind::Pending, files.pending))
        .collect())
}

/// Where a run's summary and failed-contacts manifest go: beside the ResultWriter's files.
pub fn output_keys(results_manifest_key: &str) -> (String, String) {
    let dir = results_manifest_key
        .strip_suffix(RESULTS_MANIFEST_NAME)
        .unwrap_or(results_manifest_key);
    (
        format!("{dir}{SUMMARY_NAME}"),
        format!("{dir}{FAILED_MANIFEST_NAME}"),
    )
}

/// One manifest row: a contact and its VoiceCall ids, as the run received them.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRow {
    pub contact_id: String,
    pub related_records: Vec<String>,
}

/// The totals of a run, built one result file at a time.
#[derive(Debug, Default, PartialEq)]
pub struct BackfillSummary {
    pub contacts: u64,
    pub statuses: BTreeMap<String, u64>,
    pub failure_codes: BTreeMap<String, u64>,
    pub batches_succeeded: u64,
    pub batches_failed: u64,
    /// Contacts to start again, in the order the results listed them.
    pub failed: Vec<ManifestRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChildExecution {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    input: Option<String>,
    #[serde(default)]
    output: Option<String>,
}

impl BackfillSummary {
    /// Counts every contact of every child execution in one result file.
    pub fn add_result_file(
        &mut self,
        kind: ResultFileKind,
        key: &str,
        body: &[u8],
    ) -> Result<(), SummaryError> {
        let children: Vec<ChildExecution> =
            serde_json::from_slice(body).map_err(|source| SummaryError::Unreadable {
                key: key.to_owned(),
                source: source.into(),
            })?;
        for (index, child) in children.iter().enumerate() {
            let items =
                batch_items(child.input.as_deref()).map_err(|reason| SummaryError::BatchInput {
                    key: key.to_owned(),
                    index,
                    reason,
                })?;
            match kind {
                ResultFileKind::Succeeded => {
                    self.batches_succeeded += 1;
                    let outcomes = contact_outcomes(child.output.as_deref());
                    for item in items {
                        let outcome = match &outcomes {
                            Outcomes::PerContact(map) => map.get(&item.contact_id).cloned(),
                            Outcomes::Whole(code) => Some(Outcome::failed(code)),
                        }
                        .unwrap_or_else(|| Outcome::failed(NO_RESULT));
                        self.count(item, outcome);
                    }
                }
                ResultFileKind::Failed | ResultFileKind::Pending => {
                    self.batches_failed += 1;
                    let code = if kind == ResultFileKind::Pending {
                        NOT_STARTED
                    } else {
                        match child.status.as_deref() {
                            Some("TIMED_OUT") => BATCH_TIMED_OUT,
                            Some("ABORTED") => BATCH_ABORTED,
                            _ => BATCH_FAILED,
                        }
                    };
                    for item in items {
                        self.count(item, Outcome::failed(code));
                    }
                }
            }
        }
        Ok(())
    }

    fn count(&mut self, row: ManifestRow, outcome: Outcome) {
        self.contacts += 1;
        *self.statuses.entry(outcome.status.clone()).or_default() += 1;
        if outcome.status != STATUS_SUCCESS && outcome.status != STATUS_SKIPPED {
            *self
                .failure_codes
                .entry(outcome.code.unwrap_or_else(|| UNCLASSIFIED.to_owned()))
                .or_default() += 1;
            self.failed.push(row);
        }
    }

    /// The state machine's output and `summary.json`; `failed_manifest_key` is where the
    /// failed contacts were written, when there are any.
    pub fn render(
        &self,
        manifest_key: &str,
        summary_key: &str,
        failed_manifest_key: Option<&str>,
    ) -> Value {
        json!({
            "manifestKey": manifest_key,
            "contacts": self.contacts,
            "statuses": self.statuses,
            "failureCodes": self.failure_codes,
            "batches": { "succeeded": self.batches_succeeded, "failed": self.batches_failed },
            "summaryKey": summary_key,
            "failedManifestKey": failed_manifest_key,
        })
    }

    /// The failed contacts as a CSV manifest, ready to be started again.
    pub fn failed_manifest(&self) -> Vec<u8> {
        manifest_csv(&self.failed)
    }
}

#[derive(Debug, Clone)]
struct Outcome {
    status: String,
    code: Option<String>,
}

impl Outcome {
    fn failed(code: &str) -> Self {
        Self {
            status: super::outcome::STATUS_FAILED.to_owned(),
            code: Some(code.to_owned()),
        }
    }
}

enum Outcomes {
    PerContact(HashMap<String, Outcome>),
    /// Every contact of the batch ended the same way.
    Whole(&'static str),
}

/// The contacts of a child execution's batch input `{"Items":[{"contactId","relatedRecords"}]}`.
fn batch_items(input: Option<&str>) -> Result<Vec<ManifestRow>, String> {
    let input = input.ok_or("no Input")?;
    let value: Value =
        serde_json::from_str(input).map_err(|e| format!("Input is {}", JsonError::from(e)))?;
    let items = value
        .get("Items")
        .and_then(Value::as_array)
        .ok_or("Input has no Items array")?;
    Ok(items
        .iter()
        .map(|item| ManifestRow {
            contact_id: text(item.get("contactId")),
            related_records: match item.get("relatedRecords") {
                Some(Value::Array(ids)) => ids.iter().map(|id| text(Some(id))).collect(),
                other => vec![text(other)],
            },
        })
        .collect())
}

/// A manifest value as text: strings as they are, anything else as JSON, so that a row the
/// function refused is listed as it was received.
fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Each contact's outcome in the function's answer to one batch.
fn contact_outcomes(output: Option<&str>) -> Outcomes {
    let Some(value) = output.and_then(|o| serde_json::from_str::<Value>(o).ok()) else {
        return Outcomes::Whole(NO_RESULT);
    };
    let elements = match value {
        Value::Array(elements) => elements,
        Value::Object(ref answer) if answer.get("statusCode") == Some(&json!(400)) => {
            return Outcomes::Whole(BAD_REQUEST);
        }
        _ => return Outcomes::Whole(NO_RESULT),
    };
    let mut outcomes = HashMap::new();
    for element in elements {
        let results = element
            .get("Payload")
            .and_then(Value::as_str)
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p.get("conversationBulkUploadsResults").cloned())
            .and_then(|r| serde_json::from_value::<Vec<BulkUploadResult>>(r).ok())
            .unwrap_or_default();
        for r in results {
            let code = r.error_detail.as_deref().map(failure_code);
            outcomes.insert(
                r.conversation_identifier,
                Outcome {
                    status: r.status,
                    code,
                },
            );
        }
    }
    Outcomes::PerContact(outcomes)
}

/// The stable code that starts this function's `errorDetail` ("THROTTLED: ..."), or
/// UNCLASSIFIED for Salesforce's own wording.
fn failure_code(detail: &str) -> String {
    detail
        .split_once(':')
        .map(|(code, _)| code)
        .filter(|code| !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .unwrap_or(UNCLASSIFIED)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const B: &str = "bbbbbbbb-0000-4000-8000-000000000002";
    const C: &str = "cccccccc-0000-4000-8000-000000000003";

    fn child(status: &str, items: &[(&str, &[&str])], output: Option<Value>) -> Value {
        let items: Vec<Value> = items
            .iter()
            .map(|(id, rr)| json!({"contactId": id, "relatedRecords": rr}))
            .collect();
        let mut child = json!({
            "ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:b/m:1",
            "Input": json!({ "Items": items }).to_string(),
            "InputDetails": {"Included": true},
            "Status": status,
        });
        if let Some(output) = output {
            child["Output"] = Value::String(output.to_string());
        }
        child
    }

    fn answer(results: &[(&str, &str, Option<&str>)]) -> Value {
        let results: Vec<Value> = results
            .iter()
            .map(|(id, status, detail)| json!({"conversationIdentifier": id, "status": status, "errorDetail": detail}))
            .collect();
        json!([{"StatusCode": 200, "ExecutedVersion": "$LATEST",
                "Payload": json!({"conversationBulkUploadsResults": results}).to_string()}])
    }

    fn summarize(files: &[(ResultFileKind, Value)]) -> BackfillSummary {
        let mut summary = BackfillSummary::default();
        for (i, (kind, body)) in files.iter().enumerate() {
            summary
                .add_result_file(*kind, &format!("f{i}"), body.to_string().as_bytes())
                .unwrap();
        }
        summary
    }

    #[test]
    fn counts_each_contact_by_status_and_code_and_lists_the_failed_ones() {
        let ok = child(
            "SUCCEEDED",
            &[
                (A, &["0LQ000000000001"]),
                (B, &["0LQ000000000002", "0LQ000000000003"]),
            ],
            Some(answer(&[
                (A, "SUCCESS", None),
                (B, "FAILED", Some("THROTTLED: AWS kept throttling")),
            ])),
        );
        let skipped = child(
            "SUCCEEDED",
            &[(C, &["0LQ000000000004"])],
            Some(answer(&[(
                C,
                "SKIPPED",
                Some("ALREADY_UPLOADED: complete"),
            )])),
        );
        let summary = summarize(&[(ResultFileKind::Succeeded, Value::Array(vec![ok, skipped]))]);
        assert_eq!(summary.contacts, 3);
        assert_eq!(
            summary.statuses,
            BTreeMap::from([
                ("FAILED".to_owned(), 1),
                ("SKIPPED".to_owned(), 1),
                ("SUCCESS".to_owned(), 1)
            ])
        );
        assert_eq!(
            summary.failure_codes,
            BTreeMap::from([("THROTTLED".to_owned(), 1)])
        );
        assert_eq!((summary.batches_succeeded, summary.batches_failed), (2, 0));
        assert_eq!(
            String::from_utf8(summary.failed_manifest()).unwrap(),
            format!("contactId,relatedRecords\n{B},0LQ000000000002;0LQ000000000003\n")
        );
    }

    #[test]
    fn whole_batches_fail_with_the_child_executions_status() {
        let failed = Value::Array(vec![
            child("FAILED", &[(A, &["0LQ000000000001"])], None),
            child("TIMED_OUT", &[(B, &["0LQ000000000002"])], None),
        ]);
        let pending = Value::Array(vec![child("PENDING", &[(C, &["0LQ000000000003"])], None)]);
        let summary = summarize(&[
            (ResultFileKind::Failed, failed),
            (ResultFileKind::Pending, pending),
        ]);
        assert_eq!(
            summary.failure_codes,
            BTreeMap::from([
                (BATCH_FAILED.to_owned(), 1),
                (BATCH_TIMED_OUT.to_owned(), 1),
                (NOT_STARTED.to_owned(), 1)
            ])
        );
        assert_eq!(summary.batches_failed, 3);
        assert_eq!(summary.failed.len(), 3);
    }

    #[test]
    fn a_refused_batch_and_a_missing_answer_are_failures_with_their_own_codes() {
        let refused = child(
            "SUCCEEDED",
            &[(A, &["not-an-id, really"])],
            Some(json!({"statusCode": 400, "body": "{\"error\":\"payload[0]...\"}"})),
        );
        let omitted = child(
            "SUCCEEDED",
            &[(B, &["0LQ000000000002"]), (C, &["0LQ000000000003"])],
            Some(answer(&[(B, "FAILED", Some("Salesforce said no"))])),
        );
        let summary = summarize(&[(
            ResultFileKind::Succeeded,
            Value::Array(vec![refused, omitted]),
        )]);
        assert_eq!(
            summary.failure_codes,
            BTreeMap::from([
                (BAD_REQUEST.to_owned(), 1),
                (NO_RESULT.to_owned(), 1),
                (UNCLASSIFIED.to_owned(), 1)
            ])
        );
        // A value with a comma is quoted, so the manifest reads back as the same row.
        let manifest = String::from_utf8(summary.failed_manifest()).unwrap();
        assert!(
            manifest.contains(&format!("{A},\"not-an-id, really\"\n")),
            "{manifest}"
        );
    }

    #[test]
    fn the_index_lists_every_result_file_and_outputs_go_beside_it() {
        let index = json!({
            "DestinationBucket": "b",
            "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:b/UploadCsv:1",
            "ResultFiles": {
                "FAILED": [{"Key": "results/1/FAILED_0.json", "Size": 10}],
                "PENDING": [],
                "SUCCEEDED": [{"Key": "results/1/SUCCEEDED_0.json", "Size": 10},
                              {"Key": "results/1/SUCCEEDED_1.json", "Size": 10}]
            }
        });
        assert_eq!(
            result_files("results/1/manifest.json", index.to_string().as_bytes()).unwrap(),
            vec![
                (
                    ResultFileKind::Succeeded,
                    "results/1/SUCCEEDED_0.json".to_owned()
                ),
                (
                    ResultFileKind::Succeeded,
                    "results/1/SUCCEEDED_1.json".to_owned()
                ),
                (ResultFileKind::Failed, "results/1/FAILED_0.json".to_owned()),
            ]
        );
        assert_eq!(
            output_keys("results/1/manifest.json"),
            (
                "results/1/summary.json".to_owned(),
                "results/1/failed.csv".to_owned()
            )
        );
    }

    fn record(id: &str, key: Option<&str>) -> VoiceCallRecord {
        VoiceCallRecord {
            id: id.into(),
            vendor_call_key: key.map(str::to_owned),
            ..VoiceCallRecord::default()
        }
    }

    /// The manifest of these pages, its CSV taken after each page as the backfill step does.
    fn stream(manifest: WindowManifest, pages: &[&[VoiceCallRecord]]) -> (String, ManifestTotals) {
        let mut manifest = manifest;
        let mut csv = Vec::new();
        for page in pages {
            manifest.add(page);
            csv.extend(manifest.take_csv());
        }
        let (rest, totals) = manifest.finish();
        csv.extend(rest);
        (String::from_utf8(csv).unwrap(), totals)
    }

    /// The manifest as it was built before streaming, all records in memory at once: the
    /// reference the streamed one must match.
    fn whole(records: &[VoiceCallRecord]) -> String {
        let mut rows: Vec<ManifestRow> = Vec::new();
        for r in records {
            let key = r.vendor_call_key.as_deref().and_then(contact_id);
            let (Some(key), Ok(id15)) = (key, salesforce_id_15(&r.id)) else {
                continue;
            };
            let at = match rows.iter().position(|row| row.contact_id == key) {
                Some(at) => at,
                None => {
                    rows.push(ManifestRow {
                        contact_id: key,
                        related_records: Vec::new(),
                    });
                    rows.len() - 1
                }
            };
            if !rows[at].related_records.iter().any(|id| id == id15) {
                rows[at].related_records.push(id15.to_owned());
            }
        }
        String::from_utf8(manifest_csv(&rows)).unwrap()
    }

    #[test]
    fn a_window_lists_each_contact_once_with_all_its_voice_calls() {
        let records = [
            record("0LQ1Q000002TZtnWAG", Some(&A.to_uppercase())),
            record("0LQ1Q000003SB01", Some(B)),
            record("0LQ1Q000003SB02", Some(A)),
            record("0LQ1Q000003SB03", Some("not-a-contact")),
            record("0LQ1Q000003SB04XXX", Some(C)),
        ];
        // A's second VoiceCall comes on the next page, and still joins its row.
        let (csv, totals) = stream(WindowManifest::default(), &[&records[..2], &records[2..]]);
        assert_eq!(
            csv,
            format!(
                "contactId,relatedRecords\n{A},0LQ1Q000002TZtn;0LQ1Q000003SB02\n{B},0LQ1Q000003SB01\n"
            )
        );
        assert_eq!(csv, whole(&records));
        assert_eq!(
            totals,
            ManifestTotals {
                contacts: 2,
                voice_calls: 3,
                left_out: 2
            }
        );
        assert_eq!(
            window_manifest_key("calls-1"),
            "manifests/windows/calls-1.csv"
        );
    }

    #[test]
    fn rows_are_written_once_they_can_take_no_more_voice_calls() {
        let records = [
            record("0LQ1Q000003SB01", Some(A)),
            record("0LQ1Q000003SB02", Some(B)),
            record("0LQ1Q000003SB03", Some(A)),
            record("0LQ1Q000003SB04", Some(C)),
            record("0LQ1Q000003SB05", Some(A)),
        ];
        let mut manifest = WindowManifest::with_lookahead(2);
        manifest.add(&records[..2]);
        assert_eq!(manifest.take_csv(), b"contactId,relatedRecords\n");
        // Two VoiceCalls after A's first, A's row takes its last and is written.
        manifest.add(&records[2..3]);
        assert_eq!(
            String::from_utf8(manifest.take_csv()).unwrap(),
            format!("{A},0LQ1Q000003SB01;0LQ1Q000003SB03\n")
        );
        // A VoiceCall further on than the lookahead starts a row of its own.
        manifest.add(&records[3..]);
        let (rest, totals) = manifest.finish();
        assert_eq!(
            String::from_utf8(rest).unwrap(),
            format!("{B},0LQ1Q000003SB02\n{C},0LQ1Q000003SB04\n{A},0LQ1Q000003SB05\n")
        );
        assert_eq!(totals.contacts, 4);
    }

    proptest::proptest! {
        /// However Salesforce pages it, a window whose contacts' VoiceCalls come within the
        /// lookahead streams to exactly the manifest built with all of it in memory.
        #[test]
        fn streaming_matches_the_whole_manifest(
            picks in proptest::collection::vec((0usize..40, 0usize..5, 0u8..20), 0..300),
            page_size in 1usize..50,
        ) {
            let contacts = [A, B, C, "DDDDDDDD-0000-4000-8000-000000000004", "not-a-contact"];
            let records: Vec<VoiceCallRecord> = picks
                .iter()
                .map(|(contact, id, malformed)| {
                    let id = format!("0LQ1Q00000{:05}", contact * 10 + id);
                    let id = if *malformed == 0 { format!("{id}X") } else { id };
                    let key = contacts.get(contact % 6).copied();
                    record(&id, key)
                })
                .collect();
            let pages: Vec<&[VoiceCallRecord]> = records.chunks(page_size).collect();
            let (csv, totals) = stream(WindowManifest::with_lookahead(300), &pages);
            proptest::prop_assert_eq!(&csv, &whole(&records));
            proptest::prop_assert_eq!(totals.contacts + 1, csv.lines().count());
            proptest::prop_assert_eq!(totals.voice_calls + totals.left_out, records.len());
        }
    }

    #[test]
    fn unreadable_files_are_named() {
        let err = BackfillSummary::default()
            .add_result_file(
                ResultFileKind::Succeeded,
                "results/1/SUCCEEDED_0.json",
                b"{",
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("results/1/SUCCEEDED_0.json is not a ResultWriter file")
        );
        let no_input = json!([{"Status": "SUCCEEDED", "Output": "[]"}]).to_string();
        let err = BackfillSummary::default()
            .add_result_file(ResultFileKind::Succeeded, "k", no_input.as_bytes())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "k: child execution 0 has no readable batch input (no Input)"
        );
    }

    #[test]
    fn result_files_of_another_shape_are_reported_without_their_text() {
        let body = json!([{"Status": "SUCCEEDED"}, "SENTINEL TEXT"]).to_string();
        let mut summary = BackfillSummary::default();
        for body in [body.as_bytes(), b"\"SENTINEL TEXT\""] {
            let err = summary
                .add_result_file(ResultFileKind::Succeeded, "k", body)
                .unwrap_err();
            let mut text = format!("{err} {err:?}");
            let mut source = std::error::Error::source(&err);
            while let Some(e) = source {
                text.push_str(&format!(" {e} {e:?}"));
                source = e.source();
            }
            assert!(!text.contains("SENTINEL"), "{text}");
        }
    }
}
