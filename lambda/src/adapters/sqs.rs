//! SQS SendMessage on automatic repair's queue: a message waiting for a budget goes back with
//! a delay and its `deferrals` count as a message attribute.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;

use super::aws::classify;
use crate::ports::{RepairQueue, SourceError};

/// The message attribute counting how often a message was sent back (DataType Number).
pub const DEFERRALS_ATTRIBUTE: &str = "deferrals";

pub struct RepairQueueSqs {
    client: Client,
    queue_url: String,
}

impl RepairQueueSqs {
    pub fn new(client: Client, queue_url: String) -> Self {
        Self { client, queue_url }
    }
}

impl RepairQueue for RepairQueueSqs {
    async fn send_back(
        &self,
        body: &str,
        delay: Duration,
        deferrals: u32,
    ) -> Result<(), SourceError> {
        let count = MessageAttributeValue::builder()
            .data_type("Number")
            .string_value(deferrals.to_string())
            .build()
            .expect("DataType, the only required field, is set");
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            // At most 900 s (domain::repair::deferral_delay), which always fits.
            .delay_seconds(i32::try_from(delay.as_secs()).unwrap_or(i32::MAX))
            .message_attributes(DEFERRALS_ATTRIBUTE, count)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
