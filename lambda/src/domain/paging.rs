//! Following a SOQL query's result page by page. Salesforce hands out each next page as a
//! `nextRecordsUrl`; one is followed only when it is a query path, new in this query, and
//! within the page cap, so that a server whose cursor loops or never ends cannot keep the
//! function paging until it times out.

use std::collections::HashSet;

use thiserror::Error;

use super::request::quoted;

/// Pages one query may have. The largest legitimate query is a window's: at most 31 days, and
/// a busy center has hundreds of thousands of calls in that time, a few hundred pages at
/// Salesforce's 2,000 records a page. 1,000 pages (2,000,000 VoiceCalls, about 64,000 calls a
/// day for 31 days) leaves room for that and for smaller pages, and is still a number of
/// requests one invocation gets through before Lambda's 15 minutes are up.
pub const MAX_QUERY_PAGES: usize = 1_000;

/// Where every `nextRecordsUrl` must point: the REST API on the host the token is for.
const QUERY_PATH_PREFIX: &str = "/services/data/";

/// A `nextRecordsUrl` that may be followed: a REST API path, not yet followed in this query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// The path to request on the token's host.
    pub fn path(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PagingError {
    #[error("nextRecordsUrl {} is not a query path on this host", quoted(.0))]
    ForeignPath(String),
    #[error(
        "nextRecordsUrl {} was handed out a second time in this query: Salesforce's query \
         cursor loops",
        quoted(.0)
    )]
    Loop(String),
    #[error(
        "the query has more than {MAX_QUERY_PAGES} pages; list a shorter window (the cap keeps \
         a cursor that never ends from paging until the function times out)"
    )]
    TooManyPages,
}

/// The pages of one query read so far and the cursors they handed out.
#[derive(Debug, Default)]
pub struct QueryPaging {
    pages: usize,
    followed: HashSet<String>,
}

impl QueryPaging {
    /// Counts a page that arrived and checks where it says the result goes on: the cursor to
    /// follow, or None when the result is complete (`done`, or no `nextRecordsUrl`).
    pub fn next(
        &mut self,
        done: bool,
        next_records_url: Option<String>,
    ) -> Result<Option<Cursor>, PagingError> {
        self.pages += 1;
        let Some(url) = next_records_url.filter(|_| !done) else {
            return Ok(None);
        };
        if !url.starts_with(QUERY_PATH_PREFIX) {
            return Err(PagingError::ForeignPath(url));
        }
        if self.followed.contains(&url) {
            return Err(PagingError::Loop(url));
        }
        if self.pages >= MAX_QUERY_PAGES {
            return Err(PagingError::TooManyPages);
        }
        self.followed.insert(url.clone());
        Ok(Some(Cursor(url)))
    }

    /// Pages counted so far: the query requests made.
    pub fn pages(&self) -> usize {
        self.pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEXT: &str = "/services/data/v62.0/query/01gD0000002HU6KIAW-2000";

    fn url(offset: usize) -> Option<String> {
        Some(format!(
            "/services/data/v62.0/query/01gD0000002HU6KIAW-{offset}"
        ))
    }

    #[test]
    fn each_new_cursor_is_followed_until_the_result_is_done() {
        let mut paging = QueryPaging::default();
        assert_eq!(paging.next(false, url(2000)).unwrap().unwrap().path(), NEXT);
        assert_eq!(
            paging.next(false, url(4000)).unwrap().unwrap().path(),
            url(4000).unwrap()
        );
        // Done wins over a stray nextRecordsUrl, and a page without one ends the result too.
        assert_eq!(paging.next(true, url(6000)), Ok(None));
        assert_eq!(paging.pages(), 3);
        assert_eq!(QueryPaging::default().next(false, None), Ok(None));
    }

    #[test]
    fn a_cursor_handed_out_again_is_a_loop_naming_it() {
        let mut paging = QueryPaging::default();
        paging.next(false, url(2000)).unwrap();
        paging.next(false, url(4000)).unwrap();
        let error = paging.next(false, url(2000)).unwrap_err();
        assert_eq!(error, PagingError::Loop(NEXT.to_owned()));
        assert!(error.to_string().contains(&format!("{NEXT:?}")), "{error}");
    }

    #[test]
    fn only_query_paths_on_this_host_are_followed() {
        let error = QueryPaging::default()
            .next(
                false,
                Some("https://elsewhere.example/services/data/x".into()),
            )
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "nextRecordsUrl \"https://elsewhere.example/services/data/x\" is not a query path on this host"
        );
    }

    #[test]
    fn a_query_stops_at_the_page_cap() {
        let mut paging = QueryPaging::default();
        for page in 1..MAX_QUERY_PAGES {
            assert!(paging.next(false, url(page * 2000)).unwrap().is_some());
        }
        // The last page allowed may end the result, but may not ask for another.
        assert_eq!(
            paging.next(false, url(MAX_QUERY_PAGES * 2000)),
            Err(PagingError::TooManyPages)
        );
        assert_eq!(paging.pages(), MAX_QUERY_PAGES);
        let mut ending = QueryPaging::default();
        for page in 1..MAX_QUERY_PAGES {
            ending.next(false, url(page * 2000)).unwrap();
        }
        assert_eq!(ending.next(true, None), Ok(None));
    }
}
