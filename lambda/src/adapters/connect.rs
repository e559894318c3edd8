//! Amazon Connect DescribeContact.

use aws_smithy_types::DateTime;

use super::aws::classify;
use crate::domain::transcript::ContactDetails;
use crate::ports::{ContactDirectory, SourceError};

pub struct Connect {
    client: aws_sdk_connect::Client,
    instance_id: String,
}

impl Connect {
    pub fn new(client: aws_sdk_connect::Client, instance_id: String) -> Self {
        Self {
            client,
            instance_id,
        }
    }
}

impl ContactDirectory for Connect {
    async fn describe_contact(&self, contact_id: &str) -> Result<ContactDetails, SourceError> {
        let output = self
            .client
            .describe_contact()
            .instance_id(&self.instance_id)
            .contact_id(contact_id)
            .send()
            .await
            .map_err(classify)?;
        let millis = |t: Option<&DateTime>| t.and_then(|t| t.to_millis().ok());
        let incomplete = || SourceError::Other {
            message: "DescribeContact returned no contact or no InitiationTimestamp".into(),
            source: "incomplete DescribeContact response".into(),
        };
        let contact = output.contact.ok_or_else(incomplete)?;
        let initiation_ms = millis(contact.initiation_timestamp.as_ref()).ok_or_else(incomplete)?;
        Ok(ContactDetails {
            initiation_ms,
            connected_to_agent_ms: millis(
                contact
                    .agent_info
                    .as_ref()
                    .and_then(|a| a.connected_to_agent_timestamp.as_ref()),
            ),
            disconnect_ms: millis(contact.disconnect_timestamp.as_ref()),
        })
    }
}
