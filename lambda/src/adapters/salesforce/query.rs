//! The REST query resource: a SOQL query's VoiceCall records, one page at a time.

use serde::Deserialize;
use url::Url;

use super::OrgSession;
use super::http::{Resend, rest_error_detail};
use super::token::AccessToken;
use crate::domain::paging::Cursor;
use crate::domain::soql::{ConversationRecord, Soql, VoiceCallRecord, parse_datetime};
use crate::ports::{ParameterStore, SalesforceError, SecretStore, VoiceCallPage};

/// A page of the REST query resource.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage {
    #[serde(default)]
    records: Vec<QueryRecord>,
    #[serde(default)]
    done: bool,
    next_records_url: Option<String>,
}

/// A VoiceCall record; a field the query did not select is absent.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryRecord {
    id: String,
    #[serde(default)]
    vendor_call_key: Option<String>,
    #[serde(default)]
    previous_call_id: Option<String>,
    #[serde(default)]
    next_call_id: Option<String>,
    #[serde(default)]
    call_end_date_time: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    /// The `Conversation.` fields, as a nested record (null without a conversation).
    #[serde(default)]
    conversation: Option<ConversationFields>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConversationFields {
    #[serde(default)]
    conversation_identifier: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
}

impl From<QueryRecord> for VoiceCallRecord {
    fn from(r: QueryRecord) -> Self {
        let conversation = r.conversation_id.map(|id| {
            let fields = r.conversation.as_ref();
            ConversationRecord {
                id,
                identifier: fields.and_then(|c| c.conversation_identifier.clone()),
                ended: fields.is_some_and(|c| c.end_time.is_some()),
            }
        });
        VoiceCallRecord {
            id: r.id,
            vendor_call_key: r.vendor_call_key,
            previous_call_id: r.previous_call_id,
            next_call_id: r.next_call_id,
            call_end_ms: r.call_end_date_time.as_deref().and_then(parse_datetime),
            conversation,
        }
    }
}

impl<S: SecretStore, P: ParameterStore> OrgSession<S, P> {
    pub(super) async fn query_page(
        &self,
        soql: &Soql,
        cursor: Option<&Cursor>,
    ) -> Result<VoiceCallPage, SalesforceError> {
        let (status, body) = self
            .send(Resend::Freely, |token| {
                let request = match cursor {
                    // A checked query path, requested on the token's own host so the token goes
                    // nowhere else.
                    Some(cursor) => self.client.http.get(same_host(token, cursor.path())),
                    None => self
                        .client
                        .http
                        .get(query_url(token))
                        .query(&[("q", soql.as_str())]),
                };
                request.bearer_auth(&token.value)
            })
            .await?;
        if !status.is_success() {
            return Err(SalesforceError::Http {
                status: status.as_u16(),
                detail: rest_error_detail(&body),
            });
        }
        let page: QueryPage =
            serde_json::from_slice(&body).map_err(|source| SalesforceError::UnexpectedBody {
                status: status.as_u16(),
                source: source.into(),
            })?;
        Ok(VoiceCallPage {
            records: page
                .records
                .into_iter()
                .map(VoiceCallRecord::from)
                .collect(),
            done: page.done,
            next_records_url: page.next_records_url,
        })
    }
}

/// The REST query resource beside the Connect REST resources: `{base}/services/data/vXX.X/query`.
fn query_url(token: &AccessToken) -> Url {
    token
        .api_base
        .join("query")
        .unwrap_or_else(|_| token.api_base.clone())
}

/// A path (`nextRecordsUrl`) on the host of the token's REST base.
fn same_host(token: &AccessToken, path: &str) -> Url {
    let mut url = token.api_base.clone();
    url.set_path(path);
    url.set_query(None);
    url
}
