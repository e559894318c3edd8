//! uploadTranscript and fetchUploadIdsStatus through the real adapters against the emulators.

mod support;

use std::time::Duration;

use emulators::{
    Fault, RequestRecord, SAMPLE_ANALYSIS_RUNNING, SAMPLE_CJK, SAMPLE_IN_PROGRESS,
    SAMPLE_INTERNATIONAL, SAMPLE_NO_AGENT, SAMPLE_NO_TRANSCRIPT, SAMPLE_REALTIME_UNAVAILABLE,
    Service, World, sample_world,
};
use serde_json::{Value, json};
use support::*;

const UNKNOWN_CONTACT: &str = "99999999-9999-4999-8999-999999999999";

/// What the Salesforce emulator must have received for a sample contact, derived from the
/// transcript fixture itself rather than from the function's code.
fn expected_entries(world: &World, contact_id: &str, fixture: &str) -> Vec<Value> {
    let contact = world.contact(contact_id).unwrap();
    let connected = contact.connected_to_agent_ms.unwrap();
    let fixture: Value = serde_json::from_str(fixture).unwrap();
    let mut turns: Vec<&Value> = fixture["Segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.get("Transcript"))
        .collect();
    turns.sort_by_key(|t| t["BeginOffsetMillis"].as_i64().unwrap());
    turns
        .iter()
        .map(|t| {
            let (role, suffix) = match t["ParticipantRole"].as_str().unwrap() {
                "AGENT" => ("AGENT", "VIRTUAL_AGENT"),
                _ => ("END_USER", "END_USER"),
            };
            let begin = t["BeginOffsetMillis"].as_i64().unwrap();
            json!({
                "conversationId": contact_id,
                "id": t["Id"],
                "clientSentTimestamp": connected + begin,
                "clientDuration": t["EndOffsetMillis"].as_i64().unwrap() - begin,
                "messageText": t["Content"],
                "sender": {"appType": "TELEPHONY_INTEGRATION", "role": role, "subject": format!("{contact_id}{suffix}")},
                "relatedRecords": [contact.voice_call_id],
            })
        })
        .collect()
}

#[tokio::test]
async fn documented_example_uploads_both_transcripts_exactly() {
    let h = Harness::sample().await;
    let response = h.invoke_documented().await;

    assert_eq!(
        response.as_array().unwrap().len(),
        1,
        "one upload request: {response}"
    );
    assert_eq!(response[0]["StatusCode"], 200);
    let by_contact = results_by_contact(&response, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]);
    for r in by_contact.values() {
        assert_eq!(r["status"], "SUCCESS", "{r}");
        assert!(r["errorDetail"].is_null());
        assert!(r["uploadId"].as_str().is_some_and(|id| !id.is_empty()));
    }

    let uploads = h.world.uploads();
    assert_eq!(uploads.len(), 2);
    for (contact_id, fixture) in [
        (
            SAMPLE_INTERNATIONAL,
            include_str!(
                "../../tests/fixtures/transcripts/faaa3a21-5990-48cd-a035-e85ca8c861ff.json"
            ),
        ),
        (
            SAMPLE_CJK,
            include_str!(
                "../../tests/fixtures/transcripts/f15c9342-65a1-41e8-a752-81d630a2890d.json"
            ),
        ),
    ] {
        let upload = uploads
            .iter()
            .find(|u| u.conversation_id == contact_id)
            .unwrap();
        assert_eq!(upload.upload_id, by_contact[contact_id]["uploadId"]);
        assert_eq!(
            upload.entries,
            expected_entries(&h.world, contact_id, fixture)
        );
    }
    assert_eq!(h.world.token_mints(), 1);
}

#[tokio::test]
async fn status_of_the_uploads_comes_back_in_the_documented_shape() {
    let h = Harness::sample().await;
    let response = h.invoke_documented().await;
    let upload_ids: Vec<Value> = results(&response)
        .iter()
        .map(|r| r["uploadId"].clone())
        .collect();

    let status = h
        .invoke(&json!({"operation": "fetchUploadIdsStatus", "uploadIds": upload_ids}))
        .await;
    assert_eq!(status["StatusCode"], 200);
    assert_eq!(status["ExecutedVersion"], "$LATEST");
    let payload: Value = serde_json::from_str(status["Payload"].as_str().unwrap()).unwrap();
    let statuses = payload["conversationBulkUploadStatuses"]
        .as_array()
        .unwrap();
    assert_eq!(statuses.len(), 2);
    for s in statuses {
        assert_eq!(s["status"], "SUCCESS");
        assert_eq!(s["successEntryCount"], 9);
        assert!(upload_ids.contains(&s["uploadId"]));
    }
    // The cached token served both invocations.
    assert_eq!(h.world.token_mints(), 1);
}

#[tokio::test]
async fn every_contact_gets_its_own_outcome_in_a_mixed_request() {
    let h = Harness::sample().await;
    let ids = [
        SAMPLE_INTERNATIONAL,
        SAMPLE_IN_PROGRESS,
        SAMPLE_NO_AGENT,
        SAMPLE_ANALYSIS_RUNNING,
        SAMPLE_NO_TRANSCRIPT,
        SAMPLE_REALTIME_UNAVAILABLE,
        UNKNOWN_CONTACT,
        SAMPLE_CJK,
    ];
    let response = h.invoke(&upload_request(&h.world, &ids)).await;
    let by_contact = results_by_contact(&response, &ids);

    assert_eq!(by_contact[SAMPLE_INTERNATIONAL]["status"], "SUCCESS");
    assert_eq!(by_contact[SAMPLE_CJK]["status"], "SUCCESS");
    for (id, expected) in [
        (SAMPLE_IN_PROGRESS, "CALL_IN_PROGRESS"),
        (SAMPLE_NO_AGENT, "NO_AGENT"),
        (SAMPLE_ANALYSIS_RUNNING, "TRANSCRIPT_NOT_FINAL"),
        (SAMPLE_NO_TRANSCRIPT, "NO_TRANSCRIPT"),
        (SAMPLE_REALTIME_UNAVAILABLE, "TRANSCRIPT_UNAVAILABLE"),
        (UNKNOWN_CONTACT, "CONTACT_NOT_FOUND"),
    ] {
        assert_eq!(code(&by_contact[id]), expected, "{id}");
    }
    // Failures before upload are listed in a last element of their own.
    let elements = response.as_array().unwrap();
    assert_eq!(elements.len(), 2);
    let last: Value = serde_json::from_str(elements[1]["Payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        last["conversationBulkUploadsResults"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    // Nothing partial was uploaded.
    let uploaded: Vec<String> = h
        .world
        .uploads()
        .into_iter()
        .map(|u| u.conversation_id)
        .collect();
    assert_eq!(uploaded.len(), 2);
}

#[tokio::test]
async fn long_transcripts_are_read_across_pages_and_uploaded_in_order() {
    let (h, contacts) = Harness::generated(3, 250, 7, &[]).await;
    let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();
    let response = h.invoke(&upload_request(&h.world, &ids)).await;
    for r in results_by_contact(&response, &ids).values() {
        assert_eq!(r["status"], "SUCCESS", "{r}");
    }
    assert_eq!(
        h.world.stats().contact_lens.requests,
        9,
        "3 pages of 100 for each contact"
    );
    for c in &contacts {
        let upload = h
            .world
            .uploads()
            .into_iter()
            .find(|u| u.conversation_id == c.contact_id)
            .unwrap();
        let ids: Vec<&str> = upload
            .entries
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = c.segments.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, expected);
    }
}

#[tokio::test]
async fn a_throttling_storm_is_ridden_out_and_a_contact_throttled_throughout_fails_alone() {
    let (h, contacts) = Harness::generated(20, 20, 11, &[]).await;
    let hopeless = contacts[3].contact_id.clone();
    h.world
        .inject(Service::ContactLens, Fault::throttling().times(15));
    h.world.inject(
        Service::ContactLens,
        Fault::throttling().for_contact(&hopeless).always(),
    );
    h.world
        .inject(Service::Connect, Fault::throttling().times(5));

    let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();
    let response = h.invoke(&upload_request(&h.world, &ids)).await;
    let by_contact = results_by_contact(&response, &ids);
    for (id, r) in &by_contact {
        if *id == hopeless {
            assert_eq!(code(r), "THROTTLED");
        } else {
            assert_eq!(r["status"], "SUCCESS", "{r}");
        }
    }
    let stats = h.world.stats();
    // The first fault may also hit the hopeless contact, so the two overlap.
    assert!(stats.contact_lens.throttled >= 15, "{stats:?}");
    assert_eq!(stats.connect.throttled, 5);
    assert_no_duplicate_entries(&h.world);
}

#[tokio::test]
async fn a_401_in_the_middle_of_the_batches_gets_one_new_token_and_resends() {
    let h = Harness::with(sample_world(INSTANCE), &[("UPLOAD_BATCH_SIZE", "1")]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            .on_path("/conversations/upload")
            .after(1),
    );
    let response = h.invoke_documented().await;
    assert_eq!(
        response.as_array().unwrap().len(),
        2,
        "one element per upload request"
    );
    for r in results_by_contact(&response, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]).values() {
        assert_eq!(r["status"], "SUCCESS", "{r}");
    }
    assert_eq!(h.world.token_mints(), 2);
    assert_eq!(h.world.uploads().len(), 2);
    assert_no_duplicate_entries(&h.world);
}

#[tokio::test]
async fn an_expired_token_is_replaced_on_the_next_invocation() {
    let h = Harness::sample().await;
    let request = upload_request(&h.world, &[SAMPLE_INTERNATIONAL]);
    h.invoke(&request).await;
    h.world.expire_tokens();
    let response = h.invoke(&upload_request(&h.world, &[SAMPLE_CJK])).await;
    assert_eq!(results(&response)[0]["status"], "SUCCESS");
    assert_eq!(h.world.token_mints(), 2);
}

#[tokio::test]
async fn salesforce_refusals_503_with_retry_after_and_429_are_retried_without_duplicating_entries()
{
    let h = Harness::sample().await;
    let upload = "/conversations/upload";
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "Try later")
            .on_path(upload)
            .retry_after(1),
    );
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(429, "REQUEST_LIMIT_EXCEEDED", "Too many").on_path(upload),
    );
    let response = h.invoke_documented().await;
    assert_eq!(response[0]["StatusCode"], 200);
    for r in results_by_contact(&response, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]).values() {
        assert_eq!(r["status"], "SUCCESS", "{r}");
    }
    assert_eq!(h.world.upload_requests(), 3);
    assert_eq!(h.world.uploads().len(), 2);
    assert_no_duplicate_entries(&h.world);
    // The same batch three times: refused 503, refused 429, accepted; the Retry-After was
    // waited out before the second (the backoff alone waits about 10 ms).
    let posts = upload_posts(&h.world);
    let statuses: Vec<Option<u16>> = posts.iter().map(|r| r.status()).collect();
    assert_eq!(statuses, [Some(503), Some(429), Some(200)]);
    assert!(posts.iter().all(|r| r.about == posts[0].about), "{posts:?}");
    let waited = wait_between(&posts[0], &posts[1]);
    assert!(
        waited >= Duration::from_secs(1),
        "Retry-After was honoured: retried {waited:?} after the 503"
    );
}

#[tokio::test]
async fn a_batch_answered_500_reports_its_contacts_unconfirmed_and_spares_the_others() {
    let h = Harness::with(sample_world(INSTANCE), &[("UPLOAD_BATCH_SIZE", "1")]).await;
    h.world.inject(
        Service::Salesforce,
        Fault::http(
            500,
            "[{\"errorCode\":\"UNKNOWN_EXCEPTION\",\"message\":\"boom\"}]",
        )
        .for_contact(SAMPLE_CJK)
        .on_path(UPLOAD_PATH)
        .always(),
    );
    let response = h.invoke_documented().await;
    let by_contact = results_by_contact(&response, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]);
    assert_eq!(by_contact[SAMPLE_INTERNATIONAL]["status"], "SUCCESS");
    assert_eq!(code(&by_contact[SAMPLE_CJK]), "UPLOAD_UNCONFIRMED");
    assert!(
        by_contact[SAMPLE_CJK]["errorDetail"]
            .as_str()
            .unwrap()
            .contains("UNKNOWN_EXCEPTION: boom")
    );
    let failed_element = response
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Payload"].as_str().unwrap().contains(SAMPLE_CJK))
        .unwrap();
    assert_eq!(failed_element["StatusCode"], 500);
}

#[tokio::test]
async fn request_limit_exceeded_is_reported_and_not_retried() {
    let h = Harness::sample().await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .on_path("/conversations/upload"),
    );
    let response = h.invoke_documented().await;
    for r in results_by_contact(&response, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]).values() {
        assert_eq!(code(r), "SALESFORCE_LIMIT_EXCEEDED");
    }
    assert_eq!(h.world.upload_requests(), 1);
}

#[tokio::test]
async fn a_contact_missing_from_salesforces_answer_is_confirmed_by_reading_it_back() {
    let h = Harness::sample().await;
    h.world.inject(
        Service::Salesforce,
        Fault::omit_from_results(SAMPLE_CJK).on_path(UPLOAD_PATH),
    );
    let response = h.invoke_documented().await;
    let by_contact = results_by_contact(&response, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]);
    assert_eq!(by_contact[SAMPLE_INTERNATIONAL]["status"], "SUCCESS");
    assert_eq!(by_contact[SAMPLE_CJK]["status"], "SUCCESS");
    assert_eq!(
        by_contact[SAMPLE_CJK]["confirmedBy"],
        "CONVERSATION_ENTRIES"
    );
    assert_eq!(h.world.upload_requests(), 1);
}

#[tokio::test]
async fn a_broken_secret_fails_every_contact_clearly_without_reading_transcripts() {
    let cases = [
        (
            "{\"clientId\": TOPSECRET",
            "CONFIGURATION_ERROR",
            "not a JSON object",
        ),
        (
            "{\"authFlow\":\"jwt-bearer\",\"loginUrl\":\"https://login.salesforce.com\",\"clientId\":\"TOPSECRET\",\"username\":\"u\"}",
            "CONFIGURATION_ERROR",
            "the key privateKey is missing",
        ),
    ];
    for (secret, expected_code, expected_text) in cases {
        let h = Harness::sample().await;
        h.world.put_secret(emulators::SANDBOX_SECRET_ID, secret);
        let response = h.invoke_documented().await;
        for r in results_by_contact(&response, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]).values() {
            assert_eq!(code(r), expected_code);
            let detail = r["errorDetail"].as_str().unwrap();
            assert!(detail.contains(expected_text), "{detail}");
            assert!(!detail.contains("TOPSECRET"), "{detail}");
        }
        assert_eq!(h.world.stats().contact_lens.requests, 0);
    }
}

#[tokio::test]
async fn an_unreadable_secret_and_a_refused_grant_fail_every_contact() {
    let h = Harness::sample().await;
    h.world.deny_secret(emulators::SANDBOX_SECRET_ID);
    let response = h.invoke_documented().await;
    for r in results(&response) {
        assert_eq!(code(&r), "CONFIGURATION_ERROR");
        assert!(
            r["errorDetail"].as_str().unwrap().contains("access denied"),
            "{r}"
        );
    }

    let h = Harness::sample().await;
    h.world.inject(
        Service::Salesforce,
        Fault::oauth_error(400, "invalid_grant", "user hasn't approved this consumer")
            .on_path("/oauth2/token")
            .always(),
    );
    let response = h.invoke_documented().await;
    for r in results(&response) {
        assert_eq!(code(&r), "SALESFORCE_AUTH_FAILED");
        assert!(
            r["errorDetail"].as_str().unwrap().contains("invalid_grant"),
            "{r}"
        );
    }
    assert_eq!(h.world.stats().contact_lens.requests, 0);
}

#[tokio::test]
async fn client_credentials_flow_works_too() {
    let h = Harness::sample().await;
    h.world
        .salesforce_client_credentials("cc-client", "cc-secret");
    h.world.put_secret(
        emulators::SANDBOX_SECRET_ID,
        &emulators::client_credentials_secret_json(
            &h.emulators.salesforce.url(),
            "cc-client",
            "cc-secret",
        ),
    );
    let response = h.invoke_documented().await;
    for r in results(&response) {
        assert_eq!(r["status"], "SUCCESS", "{r}");
    }
}

#[tokio::test]
async fn near_the_deadline_unread_contacts_come_back_as_deadline_exceeded_in_time() {
    let (h, contacts) = Harness::generated(
        8,
        5,
        3,
        &[
            ("CONTACT_CONCURRENCY", "1"),
            ("DEADLINE_RESERVE_MS", "2000"),
        ],
    )
    .await;
    let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();
    // Contact Lens never answers about the fourth contact: it is being read, one contact at a
    // time, when reading stops.
    h.world
        .inject(Service::ContactLens, Fault::delay(HANG).for_contact(ids[3]));

    let response = h
        .invoke_within(&upload_request(&h.world, &ids), Duration::from_secs(4))
        .await;

    // Reading stops 1 s before the deadline (a quarter of the time left caps the 2 s
    // reserve): three contacts are read, the one that hangs is given up on, the rest come back
    // unread, and the ones read are still uploaded in time.
    let by_contact = results_by_contact(&response, &ids);
    let late: Vec<&Value> = by_contact
        .values()
        .filter(|r| r["status"] == "FAILED")
        .collect();
    assert!(late.len() >= 3, "{response}");
    for r in late {
        assert_eq!(code(r), "DEADLINE_EXCEEDED");
        assert!(
            r["errorDetail"]
                .as_str()
                .unwrap()
                .contains("before this contact was read")
        );
    }
    let uploaded = by_contact
        .values()
        .filter(|r| r["status"] == "SUCCESS")
        .count();
    assert!(uploaded >= 1, "{response}");
    for (at, id) in ids.iter().enumerate() {
        let status = if at < 3 { "SUCCESS" } else { "FAILED" };
        assert_eq!(by_contact[*id]["status"], status, "{response}");
    }

    // In time: the function gave up on the hung read (unanswered when it returned), looked no
    // further contact up, and uploaded the three read once reading had stopped.
    let lens = h.world.requests_to(Service::ContactLens);
    let read: Vec<(&str, Option<u16>)> = lens
        .iter()
        .map(|r| (r.about[0].as_str(), r.status()))
        .collect();
    assert_eq!(
        read,
        [
            (ids[0], Some(200)),
            (ids[1], Some(200)),
            (ids[2], Some(200)),
            (ids[3], None)
        ]
    );
    let described: Vec<String> = h
        .world
        .requests_to(Service::Connect)
        .into_iter()
        .flat_map(|r| r.about)
        .collect();
    assert_eq!(described, ids[..4]);
    let [upload] = <[RequestRecord; 1]>::try_from(upload_posts(&h.world)).unwrap();
    let mut batch = upload.about.clone();
    batch.sort();
    let mut read_ids = ids[..3].to_vec();
    read_ids.sort_unstable();
    assert_eq!(batch, read_ids);
    assert!(upload.received > lens[3].received, "{upload:?}");
}

#[tokio::test]
async fn bad_requests_are_answered_with_400_naming_the_field() {
    let h = Harness::sample().await;
    let response = h
        .invoke(&json!({"operation":"uploadTranscript","payload":[{"contactId":"nope","relatedRecords":["0LQ1Q000002TZtn"]}]}))
        .await;
    assert_eq!(response["statusCode"], 400);
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("payload[0].contactId: must be")
    );

    let response = h.invoke(&json!({"operation":"purge"})).await;
    assert!(
        response["body"]
            .as_str()
            .unwrap()
            .contains("uploadTranscript, fetchUploadIdsStatus")
    );
    assert_eq!(h.world.stats().connect.requests, 0);
}

#[tokio::test]
async fn contacts_are_read_concurrently_up_to_the_limit() {
    let (h, contacts) = Harness::generated(12, 3, 5, &[("CONTACT_CONCURRENCY", "4")]).await;
    h.world
        .set_latency(Service::ContactLens, Duration::from_millis(50));
    let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();
    h.invoke(&upload_request(&h.world, &ids)).await;
    let in_flight = h.world.stats().contact_lens.max_in_flight;
    assert!((2..=4).contains(&in_flight), "max in flight {in_flight}");
}

#[tokio::test]
async fn contact_lens_requests_are_paced_under_the_quota_instead_of_throttled() {
    let (h, contacts) =
        Harness::generated(10, 3, 13, &[("CONTACT_LENS_REQUESTS_PER_SECOND", "10")]).await;
    h.world.set_contact_lens_quota(20.0, 2);
    let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();
    let started = tokio::time::Instant::now();
    let response = h.invoke(&upload_request(&h.world, &ids)).await;
    for r in results_by_contact(&response, &ids).values() {
        assert_eq!(r["status"], "SUCCESS", "{r}");
    }
    let stats = h.world.stats().contact_lens;
    assert_eq!((stats.requests, stats.throttled), (10, 0), "{stats:?}");
    // Ten requests, one every 100 ms: the tenth cannot reach Contact Lens sooner than 900 ms
    // after the invocation started, however fast the machine (a slow one only adds to it).
    // The pacer and the emulator's log read the same monotonic clock.
    let requests = h.world.requests_to(Service::ContactLens);
    let tenth = requests[9].received - started;
    assert!(tenth >= Duration::from_millis(900), "{tenth:?}");
}

/// serde's message for a wrong-typed field quotes the value; Salesforce's answers may hold
/// transcript text, so only the kind of error and its position reach the answer.
#[tokio::test]
async fn salesforce_answers_of_another_shape_are_reported_without_their_text() {
    const SENTINEL: &str = "my card number is 4111 1111 1111 1111";
    // An unreadable upload answer does not say what was stored: its contacts are unconfirmed.
    for (path, body, expected) in [
        (
            "/entries",
            json!({"conversationEntries": [{"identifier": "e1", "clientTimestamp": SENTINEL}]}),
            "SALESFORCE_ERROR",
        ),
        (
            UPLOAD_PATH,
            json!({"conversationBulkUploadsResults": SENTINEL}),
            "UPLOAD_UNCONFIRMED",
        ),
    ] {
        let h = Harness::sample().await;
        h.world.inject(
            Service::Salesforce,
            Fault::http(200, &body.to_string()).on_path(path).always(),
        );
        let response = h.invoke_documented().await;
        assert!(!response.to_string().contains("4111"), "{response}");
        for r in results_by_contact(&response, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]).values() {
            assert_eq!(code(r), expected, "{r}");
            let detail = r["errorDetail"].as_str().unwrap();
            assert!(detail.contains("with an unreadable body"), "{detail}");
        }
    }
}

/// A contactId in upper case is the same contact: it is read, checked against what Salesforce
/// holds and uploaded under the lower-case id Amazon Connect uses, and the response names it
/// as the request spelled it.
#[tokio::test]
async fn a_mixed_case_request_is_one_contact_per_id_and_echoes_its_spelling() {
    let h = Harness::sample().await;
    let upper = SAMPLE_INTERNATIONAL.to_uppercase();
    let mixed = format!("{}{}", &SAMPLE_CJK[..18].to_uppercase(), &SAMPLE_CJK[18..]);
    let request = upload_request(&h.world, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]).to_string();
    let request: Value = serde_json::from_str(
        &request
            .replace(SAMPLE_INTERNATIONAL, &upper)
            .replace(SAMPLE_CJK, &mixed),
    )
    .unwrap();

    let response = h.invoke(&request).await;
    for r in results_by_contact(&response, &[&upper, &mixed]).values() {
        assert_eq!(r["status"], "SUCCESS", "{r}");
    }
    let uploaded = uploaded_conversations(&h.world);
    assert_eq!(uploaded.len(), 2);
    assert!(
        uploaded.contains(&SAMPLE_INTERNATIONAL.to_owned())
            && uploaded.contains(&SAMPLE_CJK.to_owned())
    );

    // The same calls in lower case: Salesforce already holds them, so nothing is sent twice.
    let again = h.invoke_documented().await;
    for r in results_by_contact(&again, &[SAMPLE_INTERNATIONAL, SAMPLE_CJK]).values() {
        assert_eq!(r["status"], "SKIPPED", "{r}");
    }
    let dry_run = h
        .invoke(&{
            let mut r = request.clone();
            r["dryRun"] = json!(true);
            r
        })
        .await;
    let payload: Value = serde_json::from_str(dry_run[0]["Payload"].as_str().unwrap()).unwrap();
    let named: Vec<&str> = payload["dryRunResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["conversationIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(named, [upper.as_str(), mixed.as_str()]);
    assert_no_duplicate_entries(&h.world);
    assert_eq!(h.world.uploads().len(), 2);
}

#[tokio::test]
async fn describe_contact_and_entries_reads_are_paced_by_their_shares() {
    let (h, contacts) = Harness::generated(
        10,
        3,
        14,
        &[
            ("DESCRIBE_CONTACT_REQUESTS_PER_SECOND", "10"),
            // Ten an hour's worth each second: one every 100 ms.
            ("SALESFORCE_ENTRIES_READS_PER_HOUR", "36000"),
        ],
    )
    .await;
    let ids: Vec<&str> = contacts.iter().map(|c| c.contact_id.as_str()).collect();
    let started = tokio::time::Instant::now();
    let response = h.invoke(&upload_request(&h.world, &ids)).await;
    for r in results_by_contact(&response, &ids).values() {
        assert_eq!(r["status"], "SUCCESS", "{r}");
    }
    // Ten of each, one every 100 ms: the tenth cannot come sooner than 900 ms after the start,
    // however fast the machine.
    let describes = h.world.requests_to(Service::Connect);
    let entries = entries_reads(&h.world);
    assert_eq!((describes.len(), entries.len()), (10, 10));
    for tenth in [&describes[9], &entries[9]] {
        let after = tenth.received - started;
        assert!(after >= Duration::from_millis(900), "{tenth:?}: {after:?}");
    }
}

#[tokio::test]
async fn a_retried_entries_read_waits_for_the_share_too() {
    let (h, contacts) = Harness::generated(
        1,
        3,
        15,
        // One read every 100 ms; the retries' own backoff starts at 10 ms.
        &[("SALESFORCE_ENTRIES_READS_PER_HOUR", "36000")],
    )
    .await;
    h.world.inject(
        Service::Salesforce,
        Fault::salesforce_error(503, "SERVER_UNAVAILABLE", "try later")
            .on_path("/entries")
            .times(2),
    );
    let ids = [contacts[0].contact_id.as_str()];
    let started = tokio::time::Instant::now();
    let response = h.invoke(&upload_request(&h.world, &ids)).await;
    assert_eq!(
        results_by_contact(&response, &ids)[ids[0]]["status"],
        "SUCCESS"
    );
    let reads = entries_reads(&h.world);
    // Two refused and one answered, each try with its own token of the share: the third cannot
    // come sooner than 200 ms after the start, however fast the machine. Unpaced, the backoff
    // would have sent it within about 30 ms.
    assert_eq!(reads.len(), 3);
    let after = reads[2].received - started;
    assert!(after >= Duration::from_millis(200), "{reads:?}: {after:?}");
}
