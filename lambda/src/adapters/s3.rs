//! Amazon S3: ListObjectsV2 and GetObject on the bucket Contact Lens writes post-call analysis
//! files to; GetObject, PutObject and multipart uploads on the backfill bucket.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};

use super::aws::classify;
use crate::ports::{AnalysisStore, BackfillStore, SourceError, UploadedPart};

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

    // Every part carries its CRC32, so S3 checks each as it arrives; an upload started with the
    // algorithm must name each part's checksum again when it is completed.
    async fn start_upload(&self, key: &str, content_type: &str) -> Result<String, SourceError> {
        let output = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(classify)?;
        output.upload_id.ok_or_else(|| {
            missing(
                &self.bucket,
                key,
                "CreateMultipartUpload answered without an UploadId",
            )
        })
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<UploadedPart, SourceError> {
        let output = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(classify)?;
        let etag = output
            .e_tag
            .ok_or_else(|| missing(&self.bucket, key, "UploadPart answered without an ETag"))?;
        Ok(UploadedPart {
            number,
            etag,
            checksum_crc32: output.checksum_crc32,
        })
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<(), SourceError> {
        let parts = parts
            .iter()
            .map(|part| {
                CompletedPart::builder()
                    .part_number(part.number)
                    .e_tag(&part.etag)
                    .set_checksum_crc32(part.checksum_crc32.clone())
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), SourceError> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// An answer that lacks what the operation promises.
fn missing(bucket: &str, key: &str, what: &'static str) -> SourceError {
    SourceError::Other {
        message: format!("s3://{bucket}/{key}: {what}"),
        source: what.into(),
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
