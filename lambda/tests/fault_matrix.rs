//! The fault matrix: one uploadTranscript invocation per case, with one kind of fault injected
//! into one emulated service. Every case checks the same invariant ([`run_within`]):
//!
//! - every requested contact appears exactly once across all `conversationBulkUploadsResults`,
//!   with a definite status: SUCCESS with an uploadId (or, confirmed by reading the
//!   conversation back, with `confirmedBy`), or FAILED with a null uploadId and an errorDetail
//!   that starts with one of the documented stable codes;
//! - nothing was uploaded twice: no entry twice, no conversation in two accepted uploads;
//! - every SUCCESS contact's conversation is stored by the Salesforce emulator under the
//!   reported uploadId, with all its transcript turns in offset order;
//!
//! and then what the fault must have caused: which contacts fail, with which code, and the
//! emulators' counters and request log. Faults that repeat are deterministic: counted per
//! contact with `Fault::every`, or global with contacts read one at a time.
//!
//! Nothing is timed with the wall clock, which a shared machine makes unreliable. Where a case
//! is about time, it asserts behaviour: a deadline or an attempt timeout by holding a request
//! for [`HANG`] (the test finishing, with that request unanswered, shows the function gave up
//! on it) and by which contacts were never looked up; a Retry-After by the emulator's record
//! of when the retry arrived after the refusal was answered (a lower bound: a sleep is never
//! shorter, however slow the machine).

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use emulators::{Fault, RequestRecord, SANDBOX_SECRET_ID, Service, World};
use serde_json::Value;
use support::*;

/// The deadline of every invocation unless a case says otherwise.
const DEADLINE: Duration = Duration::from_secs(30);
const TOKEN_PATH: &str = "/oauth2/token";
const SUCCESS: &str = "SUCCESS";
/// Set explicitly where a case counts retries.
const ATTEMPTS: u64 = 4;
const ATTEMPTS_SETTING: (&str, &str) = ("RETRY_MAX_ATTEMPTS", "4");
/// A contactId that no emulator knows.
const UNKNOWN_CONTACT: &str = "99999999-9999-4999-8999-999999999999";

/// The codes of the table in `docs/using-the-function.md`: every FAILED errorDetail starts with
/// one of them.
const KNOWN_CODES: [&str; 17] = [
    "CONTACT_NOT_FOUND",
    "CALL_IN_PROGRESS",
    "NO_AGENT",
    "NO_TRANSCRIPT",
    "TRANSCRIPT_NOT_FINAL",
    "TRANSCRIPT_UNAVAILABLE",
    "THROTTLED",
    "ACCESS_DENIED",
    "AWS_ERROR",
    "CONFIGURATION_ERROR",
    "SALESFORCE_AUTH_FAILED",
    "SALESFORCE_LIMIT_EXCEEDED",
    "SALESFORCE_ERROR",
    "SALESFORCE_REJECTED",
    "DEADLINE_EXCEEDED",
    "UPLOAD_UNCONFIRMED",
    "CONVERSATION_NOT_EMPTY",
];

/// A harness over `n` generated contacts of `segments` turns each (100 turns fill one Contact
/// Lens page), with the ids in generation order.
async fn setup(
    n: usize,
    segments: usize,
    seed: u64,
    settings: &[(&str, &str)],
) -> (Harness, Vec<String>) {
    let (h, contacts) = Harness::generated(n, segments, seed, settings).await;
    (h, contacts.into_iter().map(|c| c.contact_id).collect())
}

/// Arms one fault per contact, so that counting faults (`every`) count each contact's requests.
fn inject_each(h: &Harness, ids: &[String], service: Service, fault: impl Fn(&str) -> Fault) {
    for id in ids {
        h.world.inject(service, fault(id));
    }
}

/// An invocation that passed the invariant.
struct Run {
    response: Value,
    /// contactId -> its result.
    results: HashMap<String, Value>,
}

impl Run {
    /// "SUCCESS" or the failure's code.
    fn outcome(&self, id: &str) -> &str {
        let result = &self.results[id];
        if result["status"] == SUCCESS {
            SUCCESS
        } else {
            code(result)
        }
    }

    /// contactId -> outcome, sorted for readable assertion messages.
    fn outcomes(&self) -> BTreeMap<&str, &str> {
        self.results
            .keys()
            .map(|id| (id.as_str(), self.outcome(id)))
            .collect()
    }

    /// Asserts each contact's outcome as `expected` says.
    fn assert_outcomes<'a>(&self, expected: impl Fn(&str) -> &'a str) {
        let want: BTreeMap<&str, &str> = self
            .results
            .keys()
            .map(|id| (id.as_str(), expected(id)))
            .collect();
        assert_eq!(self.outcomes(), want, "{}", self.response);
    }

    fn assert_all(&self, outcome: &str) {
        self.assert_outcomes(|_| outcome);
    }

    /// Asserts `failing` failed with `code` and every other contact succeeded.
    fn assert_only_failing(&self, failing: &[&str], code: &str) {
        self.assert_outcomes(|id| if failing.contains(&id) { code } else { SUCCESS });
    }

    fn detail(&self, id: &str) -> &str {
        self.results[id]["errorDetail"].as_str().unwrap_or_default()
    }

    /// The response element whose results hold this contact.
    fn element_of(&self, id: &str) -> (u64, Vec<Value>) {
        self.response
            .as_array()
            .unwrap()
            .iter()
            .map(|element| {
                let single = Value::Array(vec![element.clone()]);
                (element["StatusCode"].as_u64().unwrap(), results(&single))
            })
            .find(|(_, results)| results.iter().any(|r| r["conversationIdentifier"] == id))
            .unwrap()
    }
}

async fn run(h: &Harness, ids: &[String]) -> Run {
    run_within(h, ids, DEADLINE).await
}

/// Invokes uploadTranscript for `ids` (each related to its own VoiceCall) with `within` left
/// before the deadline, and asserts the invariant.
async fn run_within(h: &Harness, ids: &[String], within: Duration) -> Run {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let response = h
        .invoke_within(&upload_request(&h.world, &ids), within)
        .await;

    let results = results_by_contact(&response, &ids);
    let uploads = h.world.uploads();
    assert_no_duplicate_entries(&h.world);
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for upload in &uploads {
        *accepted.entry(upload.conversation_id.as_str()).or_default() += 1;
    }
    assert!(
        accepted.values().all(|&n| n == 1),
        "a conversation was accepted more than once: {accepted:?}"
    );

    for (id, result) in &results {
        if result["status"] != SUCCESS {
            let code = code(result);
            assert!(KNOWN_CODES.contains(&code), "{result}");
            let detail = result["errorDetail"].as_str().unwrap();
            assert!(detail.starts_with(&format!("{code}: ")), "{result}");
            continue;
        }
        assert!(result["errorDetail"].is_null(), "{result}");
        let stored = uploads
            .iter()
            .find(|u| u.conversation_id == *id)
            .unwrap_or_else(|| panic!("{id} reported SUCCESS but Salesforce has nothing"));
        if result["confirmedBy"] == "CONVERSATION_ENTRIES" {
            assert!(result["uploadId"].is_null(), "{result}");
        } else {
            assert_eq!(result["uploadId"], stored.upload_id.as_str(), "{result}");
        }
        let stored_ids: Vec<&str> = stored
            .entries
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(stored_ids, transcript_turn_ids(&h.world, id), "{id}");
    }
    for element in response.as_array().unwrap() {
        if element["Payload"].as_str().unwrap().contains("\"SUCCESS\"") {
            assert_eq!(element["StatusCode"], 200, "{element}");
        }
    }
    Run { response, results }
}

/// The ids of a contact's agent and customer turns in offset order, from the emulator's world.
fn transcript_turn_ids(world: &World, contact_id: &str) -> Vec<String> {
    let mut turns = world.contact(contact_id).unwrap().segments;
    turns.retain(|s| matches!(s.participant_role.as_str(), "AGENT" | "CUSTOMER"));
    turns.sort_by_key(|s| s.begin_offset_millis);
    turns.into_iter().map(|s| s.id).collect()
}

// ---- Contact Lens ----------------------------------------------------------------------------

#[tokio::test]
async fn contact_lens_throttling_every_other_request_is_ridden_out() {
    // Two pages per contact; each contact's 1st, 3rd, ... request is throttled.
    let (h, ids) = setup(12, 150, 101, &[]).await;
    inject_each(&h, &ids, Service::ContactLens, |id| {
        Fault::throttling().for_contact(id).every(2).always()
    });
    run(&h, &ids).await.assert_all(SUCCESS);
    let stats = h.world.stats().contact_lens;
    assert_eq!(stats.requests, 12 * 2 * 2, "{stats:?}");
    assert_eq!(stats.throttled * 2, stats.requests, "{stats:?}");
}

#[tokio::test]
async fn contact_lens_intermittent_500s_are_retried() {
    // Read one contact at a time so that "one request in three" is the same every run:
    // requests 1, 4, 7, ... fail, so 10 contacts take 15 requests.
    let (h, ids) = setup(10, 40, 102, &[("CONTACT_CONCURRENCY", "1")]).await;
    h.world.inject(
        Service::ContactLens,
        Fault::aws_error(500, "InternalServiceException")
            .every(3)
            .always(),
    );
    run(&h, &ids).await.assert_all(SUCCESS);
    let stats = h.world.stats().contact_lens;
    assert_eq!((stats.requests, stats.errors), (15, 5), "{stats:?}");
}

#[tokio::test]
async fn a_contact_lens_page_that_times_out_is_abandoned_and_retried() {
    let (h, ids) = setup(6, 150, 103, &[("AWS_ATTEMPT_TIMEOUT_MS", "300")]).await;
    // The second page of one contact is never answered: only an attempt given up on and sent
    // again reads it (waiting for it, the read would run into the deadline).
    h.world.inject(
        Service::ContactLens,
        Fault::delay(HANG).for_contact(&ids[2]).after(1),
    );
    let run = run(&h, &ids).await;
    run.assert_all(SUCCESS);
    let requests = h.world.requests_to(Service::ContactLens);
    assert_eq!(requests.len(), 6 * 2 + 1);
    assert_eq!(h.world.stats().contact_lens.requests, 6 * 2 + 1);
    // That contact's first page, the second that hung (abandoned: unanswered when the function
    // returned), then the second again; every other request was answered.
    let statuses: Vec<Option<u16>> = requests
        .iter()
        .filter(|r| r.is_about(&ids[2]))
        .map(|r| r.status())
        .collect();
    assert_eq!(statuses, [Some(200), None, Some(200)], "{requests:?}");
    let unanswered = requests.iter().filter(|r| r.answered.is_none()).count();
    assert_eq!(unanswered, 1, "{requests:?}");
}

#[tokio::test]
async fn contact_lens_404_fails_only_those_contacts_as_transcript_unavailable() {
    let (h, ids) = setup(10, 30, 104, &[]).await;
    let missing = [ids[1].as_str(), ids[4].as_str(), ids[7].as_str()];
    for id in missing {
        h.world.inject(
            Service::ContactLens,
            Fault::aws_error(404, "ResourceNotFoundException")
                .for_contact(id)
                .always(),
        );
    }
    let run = run(&h, &ids).await;
    run.assert_only_failing(&missing, "TRANSCRIPT_UNAVAILABLE");
    assert!(run.detail(missing[0]).contains("ResourceNotFoundException"));
    assert_eq!(h.world.uploads().len(), 7);
}

#[tokio::test]
async fn a_malformed_contact_lens_body_fails_that_contact_as_aws_error() {
    // The real SDK does not retry a 200 whose body does not deserialise: a single malformed
    // answer already fails the contact, with AWS_ERROR, and the other contacts are unaffected.
    let (h, ids) = setup(6, 30, 105, &[]).await;
    h.world.inject(
        Service::ContactLens,
        Fault::malformed_json().for_contact(&ids[3]),
    );
    let run = run(&h, &ids).await;
    run.assert_only_failing(&[&ids[3]], "AWS_ERROR");
    assert_eq!(h.world.stats().contact_lens.requests, 6);
}

// ---- Connect DescribeContact ----------------------------------------------------------------

#[tokio::test]
async fn connect_throttling_is_retried_and_a_contact_throttled_throughout_fails_alone() {
    let (h, ids) = setup(10, 30, 106, &[ATTEMPTS_SETTING]).await;
    let (hopeless, others) = ids.split_first().unwrap();
    h.world.inject(
        Service::Connect,
        Fault::throttling().for_contact(hopeless).always(),
    );
    inject_each(&h, others, Service::Connect, |id| {
        Fault::throttling().for_contact(id).every(2).always()
    });
    let run = run(&h, &ids).await;
    run.assert_only_failing(&[hopeless], "THROTTLED");
    let stats = h.world.stats();
    assert_eq!(stats.connect.throttled, 9 + ATTEMPTS, "{stats:?}");
    assert_eq!(stats.connect.requests, 9 * 2 + ATTEMPTS, "{stats:?}");
    // The hopeless contact's transcript was never read.
    assert_eq!(stats.contact_lens.requests, 9, "{stats:?}");
}

#[tokio::test]
async fn connect_404_fails_only_those_contacts_as_contact_not_found() {
    let (h, mut ids) = setup(8, 30, 107, &[]).await;
    h.world.inject(
        Service::Connect,
        Fault::aws_error(404, "ResourceNotFoundException")
            .for_contact(&ids[5])
            .always(),
    );
    ids.push(UNKNOWN_CONTACT.to_owned());
    let run = run(&h, &ids).await;
    run.assert_only_failing(&[&ids[5], UNKNOWN_CONTACT], "CONTACT_NOT_FOUND");
    assert_eq!(h.world.stats().contact_lens.requests, 7);
}

// ---- Salesforce -------------------------------------------------------------------------------

#[tokio::test]
async fn a_401_between_batches_gets_one_new_token_and_everything_uploads() {
    let (h, ids) = setup(8, 20, 108, &[("UPLOAD_BATCH_SIZE", "2")]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            .on_path(UPLOAD_PATH)
            .after(1),
    );
    let run = run(&h, &ids).await;
    run.assert_all(SUCCESS);
    assert_eq!(run.response.as_array().unwrap().len(), 4, "four batches");
    assert_eq!(h.world.token_mints(), 2);
    assert_eq!(h.world.upload_requests(), 4 + 1);
}

/// One transient upload failure, retried: everything uploads, with one upload request more,
/// the same batch sent again. Returns the refused upload request and its retry.
async fn transient_upload_failure_is_retried(
    fault: Fault,
    status: u16,
) -> (RequestRecord, RequestRecord) {
    let (h, ids) = setup(5, 20, 109, &[]).await;
    h.world
        .inject(Service::Salesforce, fault.on_path(UPLOAD_PATH));
    let run = run(&h, &ids).await;
    run.assert_all(SUCCESS);
    assert_eq!(h.world.upload_requests(), 2);
    assert_eq!(h.world.token_mints(), 1);
    let [refused, retry] = <[RequestRecord; 2]>::try_from(upload_posts(&h.world)).unwrap();
    assert_eq!(
        (refused.status(), retry.status()),
        (Some(status), Some(200))
    );
    let batch = |r: &RequestRecord| r.about.iter().cloned().collect::<HashSet<String>>();
    assert_eq!(batch(&refused), ids.iter().cloned().collect());
    assert_eq!(
        batch(&retry),
        batch(&refused),
        "the refused batch was sent again"
    );
    (refused, retry)
}

#[tokio::test]
async fn salesforce_503_with_retry_after_is_waited_out() {
    let fault = Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "Try later").retry_after(1);
    let (refused, retry) = transient_upload_failure_is_retried(fault, 503).await;
    // The backoff alone would have waited about 10 ms (RETRY_BASE_DELAY_MS).
    let waited = wait_between(&refused, &retry);
    assert!(
        waited >= Duration::from_secs(1),
        "retried {waited:?} after the 503"
    );
}

#[tokio::test]
async fn salesforce_429_is_retried() {
    transient_upload_failure_is_retried(
        Fault::salesforce_error(
            429,
            "REQUEST_LIMIT_EXCEEDED",
            "Too many concurrent requests",
        ),
        429,
    )
    .await;
}

#[tokio::test]
async fn a_batch_answered_500_is_not_sent_again_and_only_its_contacts_are_unconfirmed() {
    let (h, ids) = setup(8, 20, 110, &[("UPLOAD_BATCH_SIZE", "2"), ATTEMPTS_SETTING]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::http(
            500,
            r#"[{"errorCode":"UNKNOWN_EXCEPTION","message":"boom"}]"#,
        )
        .for_contact(&ids[5])
        .on_path(UPLOAD_PATH)
        .always(),
    );
    let run = run(&h, &ids).await;
    // Batches form in the order contacts finish reading; whoever shares the batch fails too.
    let (status, batch) = run.element_of(&ids[5]);
    assert_eq!(status, 500);
    let batch: Vec<&str> = batch
        .iter()
        .map(|r| r["conversationIdentifier"].as_str().unwrap())
        .collect();
    assert!(matches!(batch.len(), 1 | 2), "{batch:?}");
    // Salesforce may have stored it before failing: read back (nothing there), not resent.
    run.assert_only_failing(&batch, "UPLOAD_UNCONFIRMED");
    assert!(run.detail(&ids[5]).contains("UNKNOWN_EXCEPTION: boom"));
    assert_eq!(h.world.upload_requests(), 3 + 1);
    assert_eq!(h.world.uploads().len(), 8 - batch.len());
}

#[tokio::test]
async fn request_limit_exceeded_fails_the_batch_without_retrying() {
    let (h, ids) = setup(5, 20, 111, &[]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .on_path(UPLOAD_PATH)
        .always(),
    );
    let run = run(&h, &ids).await;
    run.assert_all("SALESFORCE_LIMIT_EXCEEDED");
    assert_eq!(run.element_of(&ids[0]).0, 403);
    assert_eq!(h.world.upload_requests(), 1);
    assert!(h.world.uploads().is_empty());
}

/// A token endpoint that keeps failing: every contact SALESFORCE_AUTH_FAILED, and no transcript
/// read. Returns the detail of one contact.
async fn token_failure_fails_every_contact(fault: Fault, token_requests: u64) -> String {
    let (h, ids) = setup(5, 20, 112, &[ATTEMPTS_SETTING]).await;
    h.world
        .inject(Service::Salesforce, fault.on_path(TOKEN_PATH).always());
    let run = run(&h, &ids).await;
    run.assert_all("SALESFORCE_AUTH_FAILED");
    let stats = h.world.stats();
    assert_eq!(stats.salesforce.requests, token_requests, "{stats:?}");
    assert_eq!(stats.token_mints, 0);
    assert_eq!(
        (stats.connect.requests, stats.contact_lens.requests),
        (0, 0)
    );
    run.detail(&ids[0]).to_owned()
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_fails_every_contact_after_retries() {
    let fault = Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "Maintenance");
    let detail = token_failure_fails_every_contact(fault, ATTEMPTS).await;
    assert!(detail.contains("HTTP 503"), "{detail}");
}

#[tokio::test]
async fn an_invalid_grant_fails_every_contact_without_retrying() {
    let fault = Fault::oauth_error(400, "invalid_grant", "user hasn't approved this consumer");
    let detail = token_failure_fails_every_contact(fault, 1).await;
    assert!(detail.contains("invalid_grant"), "{detail}");
}

#[tokio::test]
async fn a_contact_missing_from_the_upload_answer_is_confirmed_by_reading_it_back() {
    let (h, ids) = setup(5, 20, 113, &[]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::omit_from_results(&ids[2]).on_path(UPLOAD_PATH),
    );
    let run = run(&h, &ids).await;
    run.assert_all(SUCCESS);
    assert_eq!(run.results[&ids[2]]["confirmedBy"], "CONVERSATION_ENTRIES");
    assert_eq!(run.element_of(&ids[2]).0, 200);
    assert_eq!(h.world.upload_requests(), 1, "not resent");
}

// ---- Secrets Manager ---------------------------------------------------------------------------

const SECRET_MARKER: &str = "TOPSECRET";

/// A secret problem: every contact CONFIGURATION_ERROR with `expected` in its detail and no
/// secret value in it, and neither Connect, Contact Lens nor the token endpoint used.
async fn secret_problem(settings: &[(&str, &str)], spoil: impl FnOnce(&World), expected: &str) {
    let (h, ids) = setup(4, 10, 114, settings).await;
    spoil(&h.world);
    let run = run(&h, &ids).await;
    run.assert_all("CONFIGURATION_ERROR");
    for id in &ids {
        let detail = run.detail(id);
        assert!(detail.contains(expected), "{detail}");
        assert!(!detail.contains(SECRET_MARKER), "{detail}");
    }
    let stats = h.world.stats();
    assert_eq!(
        (
            stats.connect.requests,
            stats.contact_lens.requests,
            stats.salesforce.requests
        ),
        (0, 0, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_secret_that_does_not_exist_is_a_configuration_error() {
    secret_problem(
        &[("SALESFORCE_SECRET_ID", "no-such-secret")],
        |_| {},
        "could not be read: not found: Secrets Manager can't find the specified secret",
    )
    .await;
}

#[tokio::test]
async fn a_secret_that_is_not_json_is_a_configuration_error() {
    secret_problem(
        &[],
        |world| world.put_secret(SANDBOX_SECRET_ID, &format!("clientId={SECRET_MARKER}")),
        "not a JSON object",
    )
    .await;
}

#[tokio::test]
async fn a_secret_missing_a_key_names_the_key_and_no_value() {
    let secret = serde_json::json!({
        "authFlow": "client-credentials",
        "loginUrl": "https://login.salesforce.com",
        "clientId": SECRET_MARKER,
    });
    secret_problem(
        &[],
        |world| world.put_secret(SANDBOX_SECRET_ID, &secret.to_string()),
        "the key clientSecret is missing",
    )
    .await;
}

#[tokio::test]
async fn an_unreadable_secret_is_a_configuration_error() {
    secret_problem(
        &[],
        |world| world.deny_secret(SANDBOX_SECRET_ID),
        "access denied",
    )
    .await;
}

// ---- Deadline -----------------------------------------------------------------------------------

#[tokio::test]
async fn slow_contact_lens_and_a_short_deadline_leave_the_rest_deadline_exceeded() {
    let (h, ids) = setup(
        12,
        20,
        115,
        &[("CONTACT_CONCURRENCY", "2"), ("UPLOAD_BATCH_SIZE", "3")],
    )
    .await;
    // Contact Lens never answers about contacts 6 and 7: read two at a time, they hold both
    // reading slots until reading stops, 1 s (the reserve, a quarter of the 4 s left) before
    // the deadline. Contacts 0 to 5 are read and uploaded (in two batches) before that.
    for id in &ids[6..8] {
        h.world
            .inject(Service::ContactLens, Fault::delay(HANG).for_contact(id));
    }
    let run = run_within(&h, &ids, Duration::from_secs(4)).await;
    let outcomes = run.outcomes();
    let late = outcomes
        .values()
        .filter(|&&o| o == "DEADLINE_EXCEEDED")
        .count();
    let done = outcomes.values().filter(|&&o| o == SUCCESS).count();
    assert_eq!(late + done, ids.len(), "{outcomes:?}");
    assert!(late >= 2 && done >= 2, "{outcomes:?}");
    assert_eq!(h.world.uploads().len(), done);
    run.assert_outcomes(|id| {
        if ids[..6].iter().any(|i| i == id) {
            SUCCESS
        } else {
            "DEADLINE_EXCEEDED"
        }
    });
    assert_eq!(h.world.upload_requests(), 2);
    // The two hung reads were given up on, and the contacts after them were never looked up.
    let unanswered: Vec<Vec<String>> = h
        .world
        .requests()
        .into_iter()
        .filter(|r| r.answered.is_none())
        .map(|r| r.about)
        .collect();
    assert_eq!(unanswered.len(), 2, "{unanswered:?}");
    for id in &ids[6..8] {
        assert!(unanswered.contains(&vec![id.clone()]), "{unanswered:?}");
    }
    let described: HashSet<String> = h
        .world
        .requests_to(Service::Connect)
        .into_iter()
        .flat_map(|r| r.about)
        .collect();
    assert_eq!(
        described,
        ids[..8].iter().cloned().collect(),
        "{outcomes:?}"
    );
}
