//! The backfill state machine's own steps: buildBackfillManifest lists a time window's calls
//! from Salesforce into a manifest, streamed to the backfill bucket; summarizeBackfill reads
//! the map run's results from the backfill bucket and writes the summary and the failed
//! contacts beside them.

use serde_json::{Value, json};
use thiserror::Error;
use time::format_description::well_known::Rfc3339;

use crate::domain::backfill::{
    BackfillSummary, SummaryError, WindowManifest, output_keys, result_files, window_manifest_key,
};
use crate::domain::request::{SummaryRequest, WindowRequest};
use crate::domain::soql::voice_calls_started_between;
use crate::ports::{
    BackfillStore, MIN_PART_BYTES, SalesforceError, SourceError, UploadedPart, VoiceCallDirectory,
};
use crate::query::VoiceCallPages;

#[derive(Debug, Error)]
pub enum BackfillError {
    #[error(
        "backfill steps need the backfill bucket: deploy the stack with backfill=true (BACKFILL_BUCKET is not set)"
    )]
    NoBackfillBucket,
    #[error("s3 object {key} could not be read: {source}")]
    Read {
        key: String,
        #[source]
        source: SourceError,
    },
    #[error("s3 object {key} could not be written: {source}")]
    Write {
        key: String,
        #[source]
        source: SourceError,
    },
    #[error(transparent)]
    Results(#[from] SummaryError),
    #[error("the window's VoiceCalls could not be listed from Salesforce: {0}")]
    Query(#[source] SalesforceError),
}

/// The manifest of every call that started in the window with a VoiceCall in Salesforce,
/// written to `manifests/windows/<execution>.csv`; the answer names it for the map. The CSV
/// goes to S3 as the query's pages arrive, so one part, one page and the rows still open
/// ([`WindowManifest`]) are held however long the window is.
pub async fn build_manifest<B: BackfillStore, D: VoiceCallDirectory>(
    store: &B,
    directory: &D,
    request: &WindowRequest,
) -> Result<Value, BackfillError> {
    let window = request.window;
    let soql = voice_calls_started_between(window.from, window.to);
    let key = window_manifest_key(&request.execution_name);
    let mut pages = VoiceCallPages::new(directory, &soql);
    let mut upload = ManifestUpload::new(store, &key);
    let listed = async {
        let mut manifest = WindowManifest::default();
        while let Some(records) = pages.next_page().await.map_err(BackfillError::Query)? {
            manifest.add(&records);
            upload.write(manifest.take_csv()).await?;
        }
        let (rest, totals) = manifest.finish();
        upload.write(rest).await?;
        Ok(totals)
    }
    .await;
    let totals = match listed {
        Ok(totals) => totals,
        Err(e) => {
            upload.abort().await;
            return Err(e);
        }
    };
    let parts = upload.finish().await?;
    let instant = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    tracing::info!(
        manifestKey = %key,
        contacts = totals.contacts,
        voiceCalls = totals.voice_calls,
        leftOut = totals.left_out,
        queryRequests = pages.requests(),
        parts,
        "backfill window listed"
    );
    Ok(json!({
        "manifestKey": key,
        "from": instant(window.from),
        "to": instant(window.to),
        "contacts": totals.contacts,
        "voiceCalls": totals.voice_calls,
        "voiceCallsLeftOut": totals.left_out,
        "queryRequests": pages.requests(),
    }))
}

/// An object written in pieces: a multipart upload, started once a part's worth has come
/// ([`MIN_PART_BYTES`], S3's smallest part but the last) and sent part by part, so that one
/// part is held at a time. An object that never fills a part is one PutObject instead, which
/// leaves no upload to clean up.
struct ManifestUpload<'a, B> {
    store: &'a B,
    key: &'a str,
    buffer: Vec<u8>,
    upload_id: Option<String>,
    parts: Vec<UploadedPart>,
}

impl<'a, B: BackfillStore> ManifestUpload<'a, B> {
    const CONTENT_TYPE: &'static str = "text/csv";

    fn new(store: &'a B, key: &'a str) -> Self {
        Self {
            store,
            key,
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
        }
    }

    fn failed(&self, source: SourceError) -> BackfillError {
        BackfillError::Write {
            key: self.key.to_owned(),
            source,
        }
    }

    async fn write(&mut self, bytes: Vec<u8>) -> Result<(), BackfillError> {
        self.buffer.extend(bytes);
        if self.buffer.len() >= MIN_PART_BYTES {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<(), BackfillError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self
                    .store
                    .start_upload(self.key, Self::CONTENT_TYPE)
                    .await
                    .map_err(|e| self.failed(e))?;
                self.upload_id.insert(id).clone()
            }
        };
        let number = i32::try_from(self.parts.len() + 1).unwrap_or(i32::MAX);
        let body = std::mem::take(&mut self.buffer);
        let part = self
            .store
            .upload_part(self.key, &upload_id, number, body)
            .await
            .map_err(|e| self.failed(e))?;
        self.parts.push(part);
        Ok(())
    }

    /// Stores what is left and makes the object; the number of parts it has.
    async fn finish(mut self) -> Result<usize, BackfillError> {
        let Some(upload_id) = self.upload_id.clone() else {
            let body = std::mem::take(&mut self.buffer);
            put(self.store, self.key, body, Self::CONTENT_TYPE).await?;
            return Ok(1);
        };
        let completed = async {
            if !self.buffer.is_empty() {
                self.send_part().await?;
            }
            self.store
                .complete_upload(self.key, &upload_id, &self.parts)
                .await
                .map_err(|e| self.failed(e))
        }
        .await;
        match completed {
            Ok(()) => Ok(self.parts.len()),
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    /// Discards the upload and its parts, if one was started. Failing that, the bucket's
    /// lifecycle rule removes it a day later; the error that led here is the one to report.
    async fn abort(self) {
        let Some(upload_id) = &self.upload_id else {
            return;
        };
        if let Err(e) = self.store.abort_upload(self.key, upload_id).await {
            tracing::warn!(
                key = self.key,
                error = %e,
                "the manifest's multipart upload could not be aborted; the bucket's lifecycle rule removes it after a day"
            );
        }
    }
}

/// Totals of the map run whose ResultWriter index the request names; the summary also goes to
/// `summary.json`, and the failed contacts to `failed.csv` when there are any.
pub async fn summarize<B: BackfillStore>(
    store: &B,
    request: &SummaryRequest,
) -> Result<Value, BackfillError> {
    let read = |key: String| async move {
        store
            .object(&key)
            .await
            .map_err(|source| BackfillError::Read { key, source })
    };
    let index_key = &request.results_manifest_key;
    let files = result_files(index_key, &read(index_key.clone()).await?)?;
    let mut summary = BackfillSummary::default();
    for (kind, key) in &files {
        // One file at a time: a run of many thousand contacts never sits in memory whole.
        summary.add_result_file(*kind, key, &read(key.clone()).await?)?;
    }

    let (summary_key, failed_key) = output_keys(index_key);
    let failed_key = if summary.failed.is_empty() {
        None
    } else {
        put(store, &failed_key, summary.failed_manifest(), "text/csv").await?;
        Some(failed_key)
    };
    let rendered = summary.render(&request.manifest_key, &summary_key, failed_key.as_deref());
    put(
        store,
        &summary_key,
        rendered.to_string().into_bytes(),
        "application/json",
    )
    .await?;
    tracing::info!(
        manifestKey = %request.manifest_key,
        resultFiles = files.len(),
        contacts = summary.contacts,
        failed = summary.failed.len(),
        batchesFailed = summary.batches_failed,
        "backfill summarized"
    );
    Ok(rendered)
}

async fn put<B: BackfillStore>(
    store: &B,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> Result<(), BackfillError> {
    store
        .put_object(key, body, content_type)
        .await
        .map_err(|source| BackfillError::Write {
            key: key.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::domain::backfill::OPEN_ROW_VOICE_CALLS;
    use crate::domain::paging::Cursor;
    use crate::domain::request::Window;
    use crate::domain::soql::{Soql, VoiceCallRecord};
    use crate::ports::VoiceCallPage;

    /// A bucket that records each call, and fails the part it is told to.
    #[derive(Default)]
    struct Bucket {
        calls: Mutex<Vec<String>>,
        parts: Mutex<Vec<Vec<u8>>>,
        object: Mutex<Option<Vec<u8>>>,
        failing_part: Option<i32>,
    }

    impl Bucket {
        fn called(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    fn refused() -> SourceError {
        SourceError::AccessDenied {
            message: "refused".into(),
            source: "refused".into(),
        }
    }

    impl BackfillStore for Bucket {
        async fn object(&self, _key: &str) -> Result<Vec<u8>, SourceError> {
            unreachable!("the window step reads nothing")
        }

        async fn put_object(&self, key: &str, body: Vec<u8>, _: &str) -> Result<(), SourceError> {
            self.called(format!("put {key}"));
            *self.object.lock().unwrap() = Some(body);
            Ok(())
        }

        async fn start_upload(&self, key: &str, content_type: &str) -> Result<String, SourceError> {
            self.called(format!("start {key} {content_type}"));
            Ok("upload-1".into())
        }

        async fn upload_part(
            &self,
            _key: &str,
            upload_id: &str,
            number: i32,
            body: Vec<u8>,
        ) -> Result<UploadedPart, SourceError> {
            self.called(format!("part {upload_id} {number} {}", body.len()));
            if self.failing_part == Some(number) {
                return Err(refused());
            }
            self.parts.lock().unwrap().push(body);
            Ok(UploadedPart {
                number,
                etag: format!("\"etag-{number}\""),
                checksum_crc32: None,
            })
        }

        async fn complete_upload(
            &self,
            _key: &str,
            upload_id: &str,
            parts: &[UploadedPart],
        ) -> Result<(), SourceError> {
            let numbers: Vec<String> = parts.iter().map(|p| p.number.to_string()).collect();
            self.called(format!("complete {upload_id} {}", numbers.join(",")));
            *self.object.lock().unwrap() = Some(self.parts.lock().unwrap().concat());
            Ok(())
        }

        async fn abort_upload(&self, _key: &str, upload_id: &str) -> Result<(), SourceError> {
            self.called(format!("abort {upload_id}"));
            Ok(())
        }
    }

    /// A query result of `n` VoiceCalls, each its own contact, in pages of 2,000.
    struct Directory {
        n: usize,
    }

    const PAGE: usize = 2_000;

    fn contact(i: usize) -> (String, String) {
        (
            format!("{i:08x}-0000-4000-8000-000000000000"),
            format!("0LQ1Q{i:010}"),
        )
    }

    impl VoiceCallDirectory for Directory {
        async fn voice_call_page(
            &self,
            _soql: &Soql,
            cursor: Option<&Cursor>,
        ) -> Result<VoiceCallPage, SalesforceError> {
            let offset: usize =
                cursor.map_or(0, |c| c.path().rsplit_once('-').unwrap().1.parse().unwrap());
            let end = self.n.min(offset + PAGE);
            let records = (offset..end)
                .map(|i| {
                    let (key, id) = contact(i);
                    VoiceCallRecord {
                        id,
                        vendor_call_key: Some(key),
                        ..VoiceCallRecord::default()
                    }
                })
                .collect();
            Ok(VoiceCallPage {
                records,
                done: end == self.n,
                next_records_url: (end < self.n)
                    .then(|| format!("/services/data/v62.0/query/01gL-{end}")),
            })
        }
    }

    fn request() -> WindowRequest {
        let from = time::OffsetDateTime::UNIX_EPOCH;
        WindowRequest {
            window: Window {
                from,
                to: from + time::Duration::days(1),
            },
            execution_name: "w".into(),
        }
    }

    fn manifest(n: usize) -> Vec<u8> {
        let mut csv = String::from("contactId,relatedRecords\n");
        for i in 0..n {
            let (key, id) = contact(i);
            csv.push_str(&format!("{key},{id}\n"));
        }
        csv.into_bytes()
    }

    #[tokio::test]
    async fn a_window_that_fits_one_part_is_one_put_object() {
        let bucket = Bucket::default();
        let answer = build_manifest(&bucket, &Directory { n: 3 }, &request())
            .await
            .unwrap();
        assert_eq!(answer["contacts"], 3);
        assert_eq!(bucket.calls(), ["put manifests/windows/w.csv"]);
        assert_eq!(
            bucket.object.lock().unwrap().as_deref(),
            Some(&manifest(3)[..])
        );
    }

    #[tokio::test]
    async fn a_larger_window_goes_up_in_parts_of_at_least_5_mib() {
        // 53 bytes a row: a little over two parts.
        let n = 2 * MIN_PART_BYTES / 53 + 10_000;
        let bucket = Bucket::default();
        let answer = build_manifest(&bucket, &Directory { n }, &request())
            .await
            .unwrap();
        assert_eq!(answer["queryRequests"], n.div_ceil(PAGE));
        let calls = bucket.calls();
        assert_eq!(calls.len(), 4, "{calls:?}");
        assert_eq!(calls[0], "start manifests/windows/w.csv text/csv");
        assert_eq!(calls[3], "complete upload-1 1,2");
        let sizes: Vec<usize> = bucket.parts.lock().unwrap().iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|s| *s >= MIN_PART_BYTES), "{sizes:?}");
        // A part goes as soon as it is full: it holds at most one page's rows more, or for the
        // last the rows still open when the query ended.
        let most = MIN_PART_BYTES + (PAGE + OPEN_ROW_VOICE_CALLS as usize) * 53;
        assert!(sizes.iter().all(|s| *s < most), "{sizes:?}");
        assert!(bucket.object.lock().unwrap().as_deref() == Some(&manifest(n)[..]));
    }

    #[tokio::test]
    async fn a_part_that_fails_aborts_the_upload_and_names_the_manifest() {
        let n = 2 * MIN_PART_BYTES / 53;
        let bucket = Bucket {
            failing_part: Some(2),
            ..Bucket::default()
        };
        let error = build_manifest(&bucket, &Directory { n }, &request())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, BackfillError::Write { key, source: SourceError::AccessDenied { .. } } if key == "manifests/windows/w.csv"),
            "{error}"
        );
        let calls = bucket.calls();
        assert!(calls[1].starts_with("part upload-1 1 "), "{calls:?}");
        assert!(calls[2].starts_with("part upload-1 2 "), "{calls:?}");
        assert_eq!(calls[3..], ["abort upload-1"]);
        assert!(bucket.object.lock().unwrap().is_none());
    }
}
