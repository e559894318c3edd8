//! Contact Lens ListRealtimeContactAnalysisSegments.

use super::aws::{ThrottlesRetriedByPace, classify};
use super::pace::PacedApi;
use crate::domain::transcript::Turn;
use crate::ports::{SegmentPage, SourceError, TranscriptSource};

/// The API's largest page.
const PAGE_SIZE: i32 = 100;

pub struct ContactLens {
    client: aws_sdk_connectcontactlens::Client,
    instance_id: String,
    /// This instance's share of the account's quota, spent evenly instead of provoking 429s:
    /// every contact read at the same time, and every warm invocation, shares it.
    paced: PacedApi,
}

impl ContactLens {
    pub fn new(
        client: aws_sdk_connectcontactlens::Client,
        instance_id: String,
        paced: PacedApi,
    ) -> Self {
        let config = client.config().to_builder();
        Self {
            client: aws_sdk_connectcontactlens::Client::from_conf(
                config.retry_classifier(ThrottlesRetriedByPace).build(),
            ),
            instance_id,
            paced,
        }
    }
}

impl TranscriptSource for ContactLens {
    async fn segments_page(
        &self,
        contact_id: &str,
        next_token: Option<String>,
    ) -> Result<SegmentPage, SourceError> {
        let output = self
            .paced
            .call(|| async {
                self.client
                    .list_realtime_contact_analysis_segments()
                    .instance_id(&self.instance_id)
                    .contact_id(contact_id)
                    .max_results(PAGE_SIZE)
                    .set_next_token(next_token.clone())
                    .send()
                    .await
                    .map_err(classify)
            })
            .await?;
        let segments = output.segments.unwrap_or_default();
        let count = segments.len();
        // Categories and summaries are not speech. A transcript without id or text cannot
        // become an entry, so it is left out too.
        let turns = segments
            .into_iter()
            .filter_map(|s| s.transcript)
            .filter_map(|t| {
                Some(Turn {
                    id: t.id.filter(|id| !id.is_empty())?,
                    participant_role: t.participant_role.unwrap_or_default(),
                    content: t.content?,
                    begin_offset_ms: i64::from(t.begin_offset_millis.unwrap_or_default()),
                    end_offset_ms: i64::from(t.end_offset_millis.unwrap_or_default()),
                })
            })
            .collect();
        Ok(SegmentPage {
            turns,
            segments: count,
            next_token: output.next_token.filter(|t| !t.is_empty()),
        })
    }
}
