//! The backfill state machine's own steps: buildBackfillManifest lists a time window's calls
//! from Salesforce into a manifest; summarizeBackfill reads the map run's results from the
//! backfill bucket and writes the summary and the failed contacts beside them.

use serde_json::{Value, json};
use thiserror::Error;
use time::format_description::well_known::Rfc3339;

use crate::domain::backfill::{
    BackfillSummary, SummaryError, output_keys, result_files, window_manifest, window_manifest_key,
};
use crate::domain::request::{SummaryRequest, WindowRequest};
use crate::domain::soql::voice_calls_started_between;
use crate::ports::{BackfillStore, SalesforceError, SourceError, VoiceCallDirectory};

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
/// written to `manifests/windows/<execution>.csv`; the answer names it for the map.
pub async fn build_manifest<B: BackfillStore, D: VoiceCallDirectory>(
    store: &B,
    directory: &D,
    request: &WindowRequest,
) -> Result<Value, BackfillError> {
    let window = request.window;
    let soql = voice_calls_started_between(window.from, window.to);
    let answer = directory
        .voice_calls(&soql)
        .await
        .map_err(BackfillError::Query)?;
    let manifest = window_manifest(&answer.records);
    let key = window_manifest_key(&request.execution_name);
    put(store, &key, manifest.csv, "text/csv").await?;
    let instant = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    tracing::info!(
        manifestKey = %key,
        contacts = manifest.contacts,
        voiceCalls = manifest.voice_calls,
        leftOut = manifest.left_out,
        queryRequests = answer.requests,
        "backfill window listed"
    );
    Ok(json!({
        "manifestKey": key,
        "from": instant(window.from),
        "to": instant(window.to),
        "contacts": manifest.contacts,
        "voiceCalls": manifest.voice_calls,
        "voiceCallsLeftOut": manifest.left_out,
        "queryRequests": answer.requests,
    }))
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
