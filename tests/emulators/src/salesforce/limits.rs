//! The org's API request allocation and the conversation entries resource's hourly limit.
//!
//! The allocation: Salesforce's REST API Developer Guide, "Limit Info Header"
//! (<https://developer.salesforce.com/docs/atlas.en-us.230.0.api_rest.meta/api/headers_api_usage.htm>;
//! the same text in the current Tooling API guide,
//! <https://developer.salesforce.com/docs/atlas.en-us.api_tooling.meta/api_tooling/headers_api_usage.htm>):
//! "This response header is returned in each request to REST API ... Field name
//! Sforce-Limit-Info ... api-usage—Specifies the daily API usage for the organization against
//! which the call was made. The first number is the number of API calls used, and the second
//! number is the API limit for the organization", example
//! `Sforce-Limit-Info: api-usage=10018/100000`.
//! Once the allocation is used up: "Status Codes and Error Responses"
//! (<https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm>),
//! "403 The request has been refused. ... If the error code is REQUEST_LIMIT_EXCEEDED, you've
//! exceeded API request limits in your org." The guide prints no body; the message
//! `TotalRequests Limit exceeded.` is what orgs answer, as users quote it (Trailblazer
//! answers, e.g. <https://success.salesforce.com/answers?id=90630000000gnuYAAQ>) and client
//! libraries match it, not a documented string. "System Overview: API Usage" (Salesforce Help,
//! <https://help.salesforce.com/s/articleView?id=xcloud.setup_system_overview_api.htm>): "Calls
//! are blocked until usage for the preceding 24 hours drops below the limit."
//!
//! The entries limit: Salesforce Help, "Get Conversation Data Using Connect REST API"
//! (<https://help.salesforce.com/apex/HTViewHelpDoc?id=service.access_conv_data_using_conversation_entries.htm>):
//! "The default rate limit is 1,000 calls per application per user per hour." The Connect REST
//! API Developer Guide's "Conversation Entries" resource
//! (<https://developer.salesforce.com/docs/atlas.en-us.262.0.chatterapi.meta/chatterapi/connect_resources_conversation_entries.htm>):
//! "This API has a different hourly rate limit than standard Salesforce APIs"; its "Connect
//! REST API Limits"
//! (<https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-chatter-rest.html>):
//! "When you exceed the rate limit, Connect REST API resources return a 503 Service
//! Unavailable error code", and its "Status Codes and Error Responses"
//! (<https://developer.salesforce.com/docs/atlas.en-us.256.0.chatterapi.meta/chatterapi/connect_error_responses.htm>):
//! "503 Too many requests in an hour, or the server is down for maintenance." No page gives
//! the body: its errorCode and message are chosen here (see [`ENTRIES_LIMIT_ERROR_CODE`]).
//! Whether a refused read counts towards the daily allocation is not documented either; here
//! it does, like every answered call.

use std::collections::{HashMap, VecDeque};

/// Whom an access token acts for: the connected app that got it and the user it runs as.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ApiUser {
    pub client_id: String,
    /// The JWT's `sub`; None for the client credentials flow, which runs as the app's one
    /// execution ("Run As") user.
    pub username: Option<String>,
}

/// The allocation a world starts with: the 100,000 base of an Enterprise Edition org's 24-hour
/// allocation (the licences' share left out), also the figure in the guide's example.
pub(crate) const DEFAULT_API_MAX: u64 = 100_000;
/// Salesforce Help's default for the conversation entries resource.
pub(crate) const DEFAULT_ENTRIES_READS_PER_HOUR: u32 = 1_000;
const HOUR_MS: i64 = 3_600_000;

/// The daily allocation refusal, as documented (status and errorCode) and as orgs word it.
pub(crate) const API_LIMIT_ERROR_CODE: &str = "REQUEST_LIMIT_EXCEEDED";
pub(crate) const API_LIMIT_MESSAGE: &str = "TotalRequests Limit exceeded.";
/// The entries limit refusal: 503 is documented for Connect REST API rate limits; the
/// errorCode is chosen (Salesforce's code for its request limits, so a client reading codes
/// sees a limit rather than an outage), and so is the message.
pub(crate) const ENTRIES_LIMIT_ERROR_CODE: &str = "REQUEST_LIMIT_EXCEEDED";

/// The message of an entries limit refusal (chosen, not Salesforce's wording).
pub(crate) fn entries_limit_message(per_hour: u32) -> String {
    format!(
        "Connect REST API rate limit exceeded: conversation entries allow {per_hour} calls \
         per connected app per user per hour"
    )
}

pub(crate) struct ApiLimits {
    /// REST calls counted against the allocation. The emulator never lets them age out of the
    /// 24 hours: a test sets them with [`crate::World::set_api_allocation`].
    pub used: u64,
    pub max: u64,
    pub entries_reads_per_hour: u32,
    /// The length of that "hour" in milliseconds: an hour unless a benchmark that compresses
    /// time shortens it ([`crate::World::set_entries_reads_window`]).
    pub entries_window_ms: i64,
    /// Admitted entries reads in the last hour, oldest first, per app and user.
    entries_reads: HashMap<ApiUser, VecDeque<i64>>,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            used: 0,
            max: DEFAULT_API_MAX,
            entries_reads_per_hour: DEFAULT_ENTRIES_READS_PER_HOUR,
            entries_window_ms: HOUR_MS,
            entries_reads: HashMap::new(),
        }
    }
}

impl ApiLimits {
    /// Counts one REST call against the allocation and returns the usage to report, or None
    /// when the allocation is used up: the call is refused and not counted, so `used` stays at
    /// `max` ("calls are blocked until usage ... drops below the limit").
    pub fn admit_call(&mut self) -> Option<u64> {
        (self.used < self.max).then(|| {
            self.used += 1;
            self.used
        })
    }

    /// The `Sforce-Limit-Info` value reporting `used` calls.
    pub fn header_value(&self, used: u64) -> String {
        format!("api-usage={used}/{}", self.max)
    }

    /// Counts one conversation entries read by `user` at `now_ms` against its rolling hour (the
    /// reads of the last `entries_window_ms`, this one included); false when that hour already
    /// holds the limit, and then the read is refused and not counted.
    pub fn admit_entries_read(&mut self, user: &ApiUser, now_ms: i64) -> bool {
        let reads = self.entries_reads.entry(user.clone()).or_default();
        while reads
            .front()
            .is_some_and(|&at| at <= now_ms - self.entries_window_ms)
        {
            reads.pop_front();
        }
        let admitted = reads.len() < usize::try_from(self.entries_reads_per_hour).unwrap_or(0);
        if admitted {
            reads.push_back(now_ms);
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(client_id: &str, username: Option<&str>) -> ApiUser {
        ApiUser {
            client_id: client_id.to_owned(),
            username: username.map(str::to_owned),
        }
    }

    #[test]
    fn calls_count_until_the_allocation_is_used_up_then_are_refused_uncounted() {
        let mut limits = ApiLimits {
            used: 8,
            max: 10,
            ..ApiLimits::default()
        };
        assert_eq!(limits.admit_call(), Some(9));
        assert_eq!(limits.admit_call(), Some(10));
        assert_eq!(limits.admit_call(), None);
        assert_eq!(limits.admit_call(), None);
        assert_eq!(limits.used, 10);
        assert_eq!(limits.header_value(limits.used), "api-usage=10/10");
    }

    #[test]
    fn a_world_starts_with_the_documented_defaults() {
        let limits = ApiLimits::default();
        assert_eq!((limits.used, limits.max), (0, 100_000));
        assert_eq!(limits.entries_reads_per_hour, 1_000);
    }

    #[test]
    fn entries_reads_are_limited_over_a_rolling_hour() {
        let mut limits = ApiLimits {
            entries_reads_per_hour: 2,
            ..ApiLimits::default()
        };
        let app = user("app", Some("a@example.com"));
        let t = 1_000_000_000;
        assert!(limits.admit_entries_read(&app, t));
        assert!(limits.admit_entries_read(&app, t + 10));
        assert!(!limits.admit_entries_read(&app, t + 20));
        // A refused read does not count: the hour still holds the first two.
        assert!(!limits.admit_entries_read(&app, t + HOUR_MS - 1));
        // The first read leaves the hour exactly an hour later.
        assert!(limits.admit_entries_read(&app, t + HOUR_MS));
        assert!(!limits.admit_entries_read(&app, t + HOUR_MS + 9));
        assert!(limits.admit_entries_read(&app, t + HOUR_MS + 10));
    }

    #[test]
    fn a_compressed_hour_ages_reads_out_sooner() {
        let mut limits = ApiLimits {
            entries_reads_per_hour: 1,
            entries_window_ms: 60_000,
            ..ApiLimits::default()
        };
        let app = user("app", None);
        assert!(limits.admit_entries_read(&app, 0));
        assert!(!limits.admit_entries_read(&app, 59_999));
        assert!(limits.admit_entries_read(&app, 60_000));
    }

    #[test]
    fn each_app_and_user_has_its_own_hour() {
        let mut limits = ApiLimits {
            entries_reads_per_hour: 1,
            ..ApiLimits::default()
        };
        let t = 5_000;
        let keys = [
            user("app", Some("a@example.com")),
            user("app", Some("b@example.com")),
            user("other-app", Some("a@example.com")),
            user("app", None),
        ];
        for key in &keys {
            assert!(limits.admit_entries_read(key, t), "{key:?}");
        }
        for key in &keys {
            assert!(!limits.admit_entries_read(key, t + 1), "{key:?}");
        }
    }

    #[test]
    fn a_limit_of_zero_refuses_every_read() {
        let mut limits = ApiLimits {
            entries_reads_per_hour: 0,
            ..ApiLimits::default()
        };
        assert!(!limits.admit_entries_read(&user("app", None), 0));
    }
}
