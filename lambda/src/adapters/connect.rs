//! Amazon Connect DescribeContact.

use aws_smithy_types::DateTime;

use super::aws::{ThrottlesRetriedByPace, classify};
use super::pace::PacedApi;
use crate::domain::transcript::ContactDetails;
use crate::ports::{ContactDirectory, SourceError};

pub struct Connect {
    client: aws_sdk_connect::Client,
    instance_id: String,
    /// This instance's share of the account's DescribeContact quota.
    paced: PacedApi,
}

impl Connect {
    pub fn new(client: aws_sdk_connect::Client, instance_id: String, paced: PacedApi) -> Self {
        let config = client.config().to_builder();
        Self {
            client: aws_sdk_connect::Client::from_conf(
                config.retry_classifier(ThrottlesRetriedByPace).build(),
            ),
            instance_id,
            paced,
        }
    }
}

impl ContactDirectory for Connect {
    async fn describe_contact(&self, contact_id: &str) -> Result<ContactDetails, SourceError> {
        let output = self
            .paced
            .call(|| async {
                self.client
                    .describe_contact()
                    .instance_id(&self.instance_id)
                    .contact_id(contact_id)
                    .send()
                    .await
                    .map_err(classify)
            })
            .await?;
        let millis = |t: Option<&DateTime>| t.map(epoch_millis);
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
            // Connect names a first leg's own id as its InitialContactId, or leaves it out.
            initial_contact_id: contact
                .initial_contact_id
                .filter(|initial| !initial.eq_ignore_ascii_case(contact_id))
                .map(|initial| initial.to_ascii_lowercase()),
        })
    }
}

/// Connect sends epoch seconds with a fraction, which the SDK reads through a double:
/// truncating could put the call's start 1 ms early, and its first entry outside the call.
fn epoch_millis(t: &DateTime) -> i64 {
    (t.as_secs_f64() * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_seconds_round_to_the_nearest_millisecond() {
        let t = DateTime::from_secs_f64(1_714_149_083.456);
        assert_eq!(epoch_millis(&t), 1_714_149_083_456);
    }
}
