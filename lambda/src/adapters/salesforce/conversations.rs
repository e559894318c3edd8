//! The Connect REST conversation resources: the multipart bulk upload, a conversation's
//! entries, and the upload status.

use std::collections::HashSet;

use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use url::Url;

use super::OrgSession;
use super::http::{Resend, rest_error_detail};
use super::token::AccessToken;
use crate::domain::existing::ExistingEntry;
use crate::domain::outcome::BulkUploadResult;
use crate::domain::transcript::ConversationFile;
use crate::ports::{ParameterStore, RawResponse, SalesforceError, SecretStore, UploadResponse};

/// The upload part's filename; Salesforce needs one but does not use it.
const PART_FILENAME: &str = "transcripts.txt";
/// The entries resource's largest page.
const ENTRIES_PAGE: usize = 1_000;

/// A page of the conversation entries resource.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntriesPage {
    #[serde(default)]
    conversation_entries: Vec<EntryRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryRecord {
    identifier: String,
    #[serde(default)]
    client_timestamp: i64,
    #[serde(default)]
    message_text: String,
    #[serde(default)]
    sender: EntrySender,
}

#[derive(Deserialize, Default)]
struct EntrySender {
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkUploadResponse {
    conversation_bulk_uploads_results: Vec<BulkUploadResult>,
}

impl<S: SecretStore, P: ParameterStore> OrgSession<S, P> {
    pub(super) async fn post_upload(
        &self,
        batch: &[ConversationFile],
    ) -> Result<UploadResponse, SalesforceError> {
        let (status, body) = self
            .send(Resend::OnlyIfRefused, |token| {
                let form = batch.iter().fold(Form::new(), |form, file| {
                    let part = Part::stream_with_length(file.body.clone(), file.body.len() as u64)
                        .file_name(PART_FILENAME);
                    form.part(file.conversation_id.clone(), part)
                });
                self.client
                    .http
                    .post(api_url(token, "conversations/upload"))
                    .bearer_auth(&token.value)
                    .multipart(form)
            })
            .await?;
        if !status.is_success() {
            return Err(SalesforceError::Http {
                status: status.as_u16(),
                detail: rest_error_detail(&body),
            });
        }
        // An answer that cannot be read does not say what was stored.
        let parsed: BulkUploadResponse = serde_json::from_slice(&body).map_err(|source| {
            SalesforceError::MayHaveStored(Box::new(SalesforceError::UnexpectedBody {
                status: status.as_u16(),
                source: source.into(),
            }))
        })?;
        Ok(UploadResponse {
            status: status.as_u16(),
            results: parsed.conversation_bulk_uploads_results,
        })
    }

    pub(super) async fn conversation_entries(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<ExistingEntry>, SalesforceError> {
        let resource = format!("conversation/{conversation_id}/entries");
        let mut entries: Vec<ExistingEntry> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut start: Option<i64> = None;
        loop {
            // Each read, a retried one too, counts against the app's hourly limit and marks the
            // conversation active against the org's session limit: this instance takes its
            // share, evenly.
            let (status, body) = self
                .send_paced(Some(&self.org.entries_reads), Resend::Freely, |token| {
                    let mut query = vec![
                        ("queryDirection", "FromStart".to_owned()),
                        ("recordLimit", ENTRIES_PAGE.to_string()),
                    ];
                    query.extend(start.map(|s| ("startTimestamp", s.to_string())));
                    self.client
                        .http
                        .get(api_url(token, &resource))
                        .query(&query)
                        .bearer_auth(&token.value)
                })
                .await?;
            // Even a 404 is an error: reading it as "holds nothing" would upload the whole
            // transcript into a conversation that may hold it, should the 404 mean anything else.
            if !status.is_success() {
                return Err(SalesforceError::Http {
                    status: status.as_u16(),
                    detail: rest_error_detail(&body),
                });
            }
            let page: EntriesPage = serde_json::from_slice(&body).map_err(|source| {
                SalesforceError::UnexpectedBody {
                    status: status.as_u16(),
                    source: source.into(),
                }
            })?;
            let full = page.conversation_entries.len() >= ENTRIES_PAGE;
            let before = entries.len();
            for entry in page.conversation_entries {
                if seen.insert(entry.identifier.clone()) {
                    start = start.max(Some(entry.client_timestamp));
                    entries.push(ExistingEntry {
                        identifier: entry.identifier,
                        client_timestamp: entry.client_timestamp,
                        role: entry.sender.role,
                        message_text: entry.message_text,
                    });
                }
            }
            // The next page starts at the last timestamp seen (inclusive, so entries sharing
            // it are not lost); a page with nothing new means there is nothing more.
            if !full || entries.len() == before {
                return Ok(entries);
            }
        }
    }

    pub(super) async fn upload_statuses(
        &self,
        upload_ids: &[String],
    ) -> Result<RawResponse, SalesforceError> {
        let ids = upload_ids.join(",");
        let (status, body) = self
            .send(Resend::Freely, |token| {
                self.client
                    .http
                    .get(api_url(token, "conversations/upload"))
                    .query(&[("uploadIds", ids.as_str())])
                    .bearer_auth(&token.value)
            })
            .await?;
        Ok(RawResponse {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// A Connect REST resource under the token's REST base; `resource` holds no user input that
/// could climb out of it (ids are validated), so `join` stays under the base.
fn api_url(token: &AccessToken, resource: &str) -> Url {
    token
        .api_base
        .join(&format!("connect/{resource}"))
        .unwrap_or_else(|_| token.api_base.clone())
}
