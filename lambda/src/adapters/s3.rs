//! Amazon S3: ListObjectsV2 and GetObject on the bucket Contact Lens writes post-call analysis
//! files to; GetObject and PutObject on the backfill bucket.

use aws_sdk_s3::primitives::ByteStream;

use super::aws::classify;
use crate::ports::{AnalysisStore, BackfillStore, SourceError};

pub struct AnalysisBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl AnalysisBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

impl AnalysisStore for AnalysisBucket {
    async fn keys(&self, prefix: &str) -> Result<Vec<String>, SourceError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify)?;
            keys.extend(
                page.contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| o.key),
            );
        }
        Ok(keys)
    }

    async fn object(&self, key: &str) -> Result<Vec<u8>, SourceError> {
        get_object(&self.client, &self.bucket, key).await
    }
}

/// The bucket of the backfill state machine's manifests and results.
pub struct BackfillBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl BackfillBucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

impl BackfillStore for BackfillBucket {
    async fn object(&self, key: &str) -> Result<Vec<u8>, SourceError> {
        get_object(&self.client, &self.bucket, key).await
    }

    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), SourceError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

async fn get_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, SourceError> {
    let output = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(classify)?;
    let body = output
        .body
        .collect()
        .await
        .map_err(|e| SourceError::Other {
            message: format!("s3://{bucket}/{key} could not be read to the end: {e}"),
            source: Box::new(e),
        })?;
    Ok(body.to_vec())
}
