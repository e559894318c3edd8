//! Amazon S3 ListObjectsV2 and GetObject on the bucket Contact Lens writes post-call analysis
//! files to.

use super::aws::classify;
use crate::ports::{AnalysisStore, SourceError};

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
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(classify)?;
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| SourceError::Other {
                message: format!("the analysis file could not be read to the end: {e}"),
                source: Box::new(e),
            })?;
        Ok(body.to_vec())
    }
}
