//! A SOQL query's result read through [`VoiceCallDirectory`] page by page, each cursor checked
//! ([`QueryPaging`]) before it is followed.

use crate::domain::call::{Placements, placements};
use crate::domain::paging::{Cursor, QueryPaging};
use crate::domain::soql::{Soql, VoiceCallRecord, voice_calls_of_contacts};
use crate::ports::{SalesforceError, VoiceCallDirectory};

/// The pages of one query, fetched as they are asked for, so a caller holds one at a time.
pub struct VoiceCallPages<'a, D> {
    directory: &'a D,
    soql: &'a Soql,
    paging: QueryPaging,
    next: Option<Cursor>,
    complete: bool,
}

impl<'a, D: VoiceCallDirectory> VoiceCallPages<'a, D> {
    pub fn new(directory: &'a D, soql: &'a Soql) -> Self {
        Self {
            directory,
            soql,
            paging: QueryPaging::default(),
            next: None,
            complete: false,
        }
    }

    /// The next page's records; None once the result is complete.
    pub async fn next_page(&mut self) -> Result<Option<Vec<VoiceCallRecord>>, SalesforceError> {
        if self.complete {
            return Ok(None);
        }
        let page = self
            .directory
            .voice_call_page(self.soql, self.next.as_ref())
            .await?;
        self.next = self.paging.next(page.done, page.next_records_url)?;
        self.complete = self.next.is_none();
        Ok(Some(page.records))
    }

    /// Query requests made so far, the first and one per further page.
    pub fn requests(&self) -> usize {
        self.paging.pages()
    }
}

/// Every record of a query small enough to hold whole, such as repair's lookup of one SQS
/// batch's contacts; the page cap still applies.
pub async fn all_voice_calls<D: VoiceCallDirectory>(
    directory: &D,
    soql: &Soql,
) -> Result<Vec<VoiceCallRecord>, SalesforceError> {
    let mut pages = VoiceCallPages::new(directory, soql);
    let mut records = Vec::new();
    while let Some(page) = pages.next_page().await? {
        records.extend(page);
    }
    Ok(records)
}

/// Contacts looked up per query: 100 UUIDs keep the query's URL near 5 KB.
const CONTACTS_PER_QUERY: usize = 100;

/// Where each contact's transcript goes, from its VoiceCall records (one query per 100
/// contacts). A failed lookup is logged and leaves its contacts unplaced: each then goes to its
/// call's first leg's contactId, as Salesforce documents.
pub async fn placements_of<D: VoiceCallDirectory>(
    directory: &D,
    contact_ids: &[&str],
) -> Placements {
    let mut records = Vec::new();
    for chunk in contact_ids.chunks(CONTACTS_PER_QUERY) {
        let Some(soql) = voice_calls_of_contacts(chunk.iter().copied()) else {
            continue;
        };
        match all_voice_calls(directory, &soql).await {
            Ok(found) => records.extend(found),
            Err(e) => tracing::warn!(
                error = %e,
                contacts = chunk.len(),
                "the contacts' VoiceCalls could not be read; each goes to its call's first leg's contactId"
            ),
        }
    }
    placements(&records)
}
