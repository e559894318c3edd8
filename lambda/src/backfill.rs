//! summarizeBackfill: the backfill state machine's last step, reading the map run's results
//! from the backfill bucket and writing the summary and the failed contacts beside them.

use serde_json::Value;
use thiserror::Error;

use crate::domain::backfill::{BackfillSummary, SummaryError, output_keys, result_files};
use crate::domain::request::SummaryRequest;
use crate::ports::{BackfillStore, SourceError};

#[derive(Debug, Error)]
pub enum SummarizeError {
    #[error(
        "summarizeBackfill needs the backfill bucket: deploy the stack with backfill=true (BACKFILL_BUCKET is not set)"
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
}

/// Totals of the map run whose ResultWriter index the request names; the summary also goes to
/// `summary.json`, and the failed contacts to `failed.csv` when there are any.
pub async fn summarize<B: BackfillStore>(
    store: &B,
    request: &SummaryRequest,
) -> Result<Value, SummarizeError> {
    let read = |key: String| async move {
        store
            .object(&key)
            .await
            .map_err(|source| SummarizeError::Read { key, source })
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
) -> Result<(), SummarizeError> {
    store
        .put_object(key, body, content_type)
        .await
        .map_err(|source| SummarizeError::Write {
            key: key.to_owned(),
            source,
        })
}
