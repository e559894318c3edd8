use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder;
use aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, EncodingType};
use emulators::{
    Fault, SAMPLE_ANALYSIS_BUCKET, SAMPLE_OLD_CALL, SAMPLE_OLD_CALL_MIDNIGHT, Server, Service,
    World, analysis_key, fill_analysis_day, sample_world, start_s3,
};

use crate::{INSTANCE_ID, sdk_config};

/// 2026-01-15T00:00:00Z.
const DAY_MS: i64 = 1_768_435_200_000;
const DAY_PREFIX: &str = "Analysis/Voice/2026/01/15/";
const BUCKET: &str = SAMPLE_ANALYSIS_BUCKET;

async fn setup(world: &World) -> (Server, Client) {
    let server = start_s3(world).await;
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(&server.url()).await)
        .force_path_style(true)
        .build();
    (server, Client::from_conf(config))
}

fn list(client: &Client, prefix: &str) -> ListObjectsV2FluentBuilder {
    client.list_objects_v2().bucket(BUCKET).prefix(prefix)
}

/// What `encoding-type=url` leaves for the client to undo: percent escapes and `+` for space.
fn url_decode(text: &str) -> String {
    url::form_urlencoded::parse(text.as_bytes())
        .map(|(key, value)| format!("{key}{value}"))
        .collect()
}

#[tokio::test]
async fn a_busy_day_lists_in_three_pages_in_key_order() {
    let world = sample_world(INSTANCE_ID);
    fill_analysis_day(&world, BUCKET, DAY_MS + 3_600_000, 2_500, 11);
    let (_server, client) = setup(&world).await;

    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = list(&client, DAY_PREFIX)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(page.continuation_token(), token.as_deref());
        assert_eq!(page.max_keys(), Some(1000));
        assert_eq!(page.prefix(), Some(DAY_PREFIX));
        assert_eq!(page.name(), Some(BUCKET));
        let contents = page.contents();
        assert_eq!(
            page.key_count(),
            Some(i32::try_from(contents.len()).unwrap())
        );
        for object in contents {
            assert_eq!(object.storage_class().unwrap().as_str(), "STANDARD");
            assert!(object.size().unwrap() > 0);
            let etag = object.e_tag().unwrap();
            assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34);
            keys.push(object.key().unwrap().to_owned());
        }
        pages.push((contents.len(), page.is_truncated() == Some(true)));
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, [(1000, true), (1000, true), (500, false)]);
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "keys come in order, none repeated");
    assert_eq!(keys.len(), 2_500);
    assert!(keys.iter().all(|k| k.starts_with(DAY_PREFIX)));
    assert_eq!(world.stats().s3_list_requests, 3);

    // The SDK's paginator walks the same pages.
    let pages: Vec<_> = list(&client, DAY_PREFIX)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let paginated: Vec<String> = pages
        .iter()
        .flat_map(|page| page.contents())
        .map(|object| object.key().unwrap().to_owned())
        .collect();
    assert_eq!(paginated, keys);
}

#[tokio::test]
async fn start_after_and_max_keys_bound_a_listing_in_utf8_byte_order() {
    let world = World::new(INSTANCE_ID);
    for key in ["é/1", "b/1", "a/2", "Z", "a/1", "a/3"] {
        world.put_object(BUCKET, key, key.as_bytes());
    }
    let (_server, client) = setup(&world).await;
    let keys = |page: &aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output| {
        page.contents()
            .iter()
            .map(|o| o.key().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    let all = list(&client, "").send().await.unwrap();
    assert_eq!(keys(&all), ["Z", "a/1", "a/2", "a/3", "b/1", "é/1"]);
    assert_eq!(all.is_truncated(), Some(false));
    assert!(all.next_continuation_token().is_none());

    let after = list(&client, "").start_after("a/2").send().await.unwrap();
    assert_eq!(keys(&after), ["a/3", "b/1", "é/1"]);
    assert_eq!(after.start_after(), Some("a/2"));
    let within = list(&client, "a/").start_after("a/1").send().await.unwrap();
    assert_eq!(keys(&within), ["a/2", "a/3"]);
    let before_prefix = list(&client, "b/").start_after("a/9").send().await.unwrap();
    assert_eq!(keys(&before_prefix), ["b/1"]);

    let first = list(&client, "").max_keys(2).send().await.unwrap();
    assert_eq!(keys(&first), ["Z", "a/1"]);
    assert_eq!(first.max_keys(), Some(2));
    assert_eq!(first.is_truncated(), Some(true));
    // A continuation token wins over an earlier start-after.
    let rest = list(&client, "")
        .max_keys(2)
        .start_after("Z")
        .continuation_token(first.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(keys(&rest), ["a/2", "a/3"]);

    let capped = list(&client, "").max_keys(5_000).send().await.unwrap();
    assert_eq!(capped.max_keys(), Some(1000));
    let none = list(&client, "").max_keys(0).send().await.unwrap();
    assert_eq!(
        (none.key_count(), none.is_truncated()),
        (Some(0), Some(false))
    );

    let err = list(&client, "")
        .continuation_token("bogus")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidArgument"));
}

#[tokio::test]
async fn keys_with_colons_round_trip_through_list_and_get() {
    let world = sample_world(INSTANCE_ID);
    let odd = "odd dir/key+é:1~*.json";
    world.put_object(BUCKET, odd, "{}");
    let (_server, client) = setup(&world).await;
    let contact = world.contact(SAMPLE_OLD_CALL_MIDNIGHT).unwrap();
    let key = analysis_key(&contact, false);
    assert!(key.contains(':'));
    let prefix = &key[..key.find("_analysis_").unwrap()];

    let plain = list(&client, prefix).send().await.unwrap();
    assert_eq!(plain.contents().len(), 1);
    assert_eq!(plain.contents()[0].key(), Some(key.as_str()));
    assert!(plain.encoding_type().is_none());

    let encoded = list(&client, prefix)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(encoded.encoding_type(), Some(&EncodingType::Url));
    let listed = encoded.contents()[0].key().unwrap();
    assert!(listed.contains("%3A") && !listed.contains(':'), "{listed}");
    assert_eq!(url_decode(listed), key);
    assert_eq!(url_decode(encoded.prefix().unwrap()), prefix);

    let odd_listed = list(&client, "odd ")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let odd_key = odd_listed.contents()[0].key().unwrap();
    assert_eq!(odd_key, "odd+dir/key%2B%C3%A9%3A1%7E*.json");
    assert_eq!(url_decode(odd_key), odd);
    assert_eq!(odd_listed.prefix(), Some("odd+"));

    for key in [url_decode(listed), url_decode(odd_key)] {
        let object = client
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(object.content_type(), Some("application/json"));
        let length = object.content_length().unwrap();
        let etag = object.e_tag().unwrap().to_owned();
        let body = object.body.collect().await.unwrap().into_bytes();
        let stored = world.object(BUCKET, &key).unwrap();
        assert_eq!(body.as_ref(), stored.as_slice());
        assert_eq!(usize::try_from(length).unwrap(), stored.len());
        assert_eq!(etag.len(), 34);
    }
    // The analysis file was written when the call ended, and is valid UTF-8 JSON.
    let object = client
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    let modified = object.last_modified().unwrap().secs();
    assert_eq!(modified, contact.disconnect_ms.unwrap().div_euclid(1000));
    let file: serde_json::Value =
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert!(
        file["Transcript"][4]["Content"]
            .as_str()
            .unwrap()
            .contains("返金")
    );
    assert_eq!(world.stats().s3_get_requests, 3);
}

/// The HTTP status of the response an SDK error came with.
fn status<E>(err: &SdkError<E, HttpResponse>) -> u16 {
    err.raw_response()
        .map(|response| response.status().as_u16())
        .unwrap_or_default()
}

#[tokio::test]
async fn missing_keys_buckets_and_denied_access_are_typed_errors() {
    let world = sample_world(INSTANCE_ID);
    world.create_bucket("empty");
    let (_server, client) = setup(&world).await;

    let missing = client
        .get_object()
        .bucket(BUCKET)
        .key("Analysis/Voice/nothing.json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&missing), 404);
    let missing = missing.into_service_error();
    assert!(missing.is_no_such_key(), "{missing:?}");

    let no_bucket = client
        .list_objects_v2()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(no_bucket.is_no_such_bucket(), "{no_bucket:?}");
    let no_bucket = client
        .get_object()
        .bucket("no-such-bucket")
        .key("k")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(no_bucket.code(), Some("NoSuchBucket"));

    let empty = client
        .list_objects_v2()
        .bucket("empty")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.key_count(), Some(0));

    world.deny_bucket(BUCKET);
    let denied_list = list(&client, "").send().await.unwrap_err();
    assert_eq!(status(&denied_list), 403);
    assert_eq!(
        denied_list.into_service_error().code(),
        Some("AccessDenied")
    );
    let key = analysis_key(&world.contact(SAMPLE_OLD_CALL).unwrap(), false);
    let denied_get = client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&denied_get), 403);
    assert_eq!(denied_get.into_service_error().code(), Some("AccessDenied"));

    // Failed requests count too.
    let stats = world.stats();
    assert_eq!((stats.s3_list_requests, stats.s3_get_requests), (3, 3));
    assert_eq!(stats.s3.errors, 5);
}

#[tokio::test]
async fn faults_for_a_contact_hit_its_keys_and_prefixes_only() {
    let world = sample_world(INSTANCE_ID);
    let (_server, client) = setup(&world).await;
    let key = |id| analysis_key(&world.contact(id).unwrap(), false);
    let (target, other) = (key(SAMPLE_OLD_CALL), key(SAMPLE_OLD_CALL_MIDNIGHT));
    world.inject(
        Service::S3,
        Fault::aws_error(503, "SlowDown")
            .for_contact(SAMPLE_OLD_CALL)
            .times(2),
    );
    let get = |key: String| client.get_object().bucket(BUCKET).key(key).send();

    assert!(get(other.clone()).await.is_ok());
    assert!(list(&client, "Analysis/Voice/").send().await.is_ok());
    let prefix = &target[..target.find("_analysis_").unwrap()];
    let listed = list(&client, prefix).send().await.unwrap_err();
    assert_eq!(status(&listed), 503);
    assert_eq!(listed.into_service_error().code(), Some("SlowDown"));
    let got = get(target.clone()).await.unwrap_err();
    assert_eq!(got.into_service_error().code(), Some("SlowDown"));
    // Used up.
    assert!(get(target).await.is_ok());
}

#[tokio::test]
async fn unsigned_and_unimplemented_requests_are_refused() {
    let world = sample_world(INSTANCE_ID);
    let (server, client) = setup(&world).await;
    let unsigned = reqwest::get(format!("{}/{BUCKET}?list-type=2", server.url()))
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let body = unsigned.text().await.unwrap();
    assert!(
        body.starts_with("<?xml") && body.contains("<Error><Code>"),
        "{body}"
    );

    let kept = analysis_key(&world.contact(SAMPLE_OLD_CALL).unwrap(), false);
    let delete = client
        .delete_object()
        .bucket(BUCKET)
        .key(&kept)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&delete), 501);
    assert_eq!(delete.into_service_error().code(), Some("NotImplemented"));
    let v1 = client
        .list_objects()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(v1.code(), Some("NotImplemented"));
    assert!(world.object(BUCKET, &kept).is_some());
}

#[tokio::test]
async fn put_object_stores_what_the_sdk_streams_and_refuses_a_missing_bucket() {
    let world = sample_world(INSTANCE_ID);
    world.create_bucket("backfill-bucket");
    let (_server, client) = setup(&world).await;
    let body = "contactId,relatedRecords\n".repeat(2_000);

    let put = client
        .put_object()
        .bucket("backfill-bucket")
        .key("results/1/failed.csv")
        .content_type("text/csv")
        .body(body.clone().into_bytes().into())
        .send()
        .await
        .unwrap();

    assert!(put.e_tag().is_some_and(|tag| tag.starts_with('"')));
    assert_eq!(
        world.object("backfill-bucket", "results/1/failed.csv"),
        Some(body.into_bytes())
    );
    let missing = client
        .put_object()
        .bucket("no-such-bucket")
        .key("k")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NoSuchBucket"));
    assert_eq!(world.stats().s3_put_requests, 2);
}

const PART: usize = 5 * 1024 * 1024;

/// Bytes that differ from part to part, so a part stored in the wrong place shows.
fn part_bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

async fn start_upload(client: &Client, key: &str, crc32: bool) -> String {
    client
        .create_multipart_upload()
        .bucket("backfill-bucket")
        .key(key)
        .content_type("text/csv")
        .set_checksum_algorithm(crc32.then_some(ChecksumAlgorithm::Crc32))
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned()
}

fn upload_part(
    client: &Client,
    key: &str,
    upload_id: &str,
    number: i32,
    body: &[u8],
) -> UploadPartFluentBuilder {
    client
        .upload_part()
        .bucket("backfill-bucket")
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(body.to_vec().into())
}

/// The part as CompleteMultipartUpload lists it, from UploadPart's answer.
fn completed(number: i32, uploaded: &UploadPartOutput) -> CompletedPart {
    CompletedPart::builder()
        .part_number(number)
        .e_tag(uploaded.e_tag().unwrap())
        .set_checksum_crc32(uploaded.checksum_crc32().map(str::to_owned))
        .build()
}

fn complete(
    client: &Client,
    key: &str,
    upload_id: &str,
    parts: Vec<CompletedPart>,
) -> CompleteMultipartUploadFluentBuilder {
    client
        .complete_multipart_upload()
        .bucket("backfill-bucket")
        .key(key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
}

#[tokio::test]
async fn a_multipart_upload_becomes_one_object_of_its_parts_in_order() {
    let world = World::new(INSTANCE_ID);
    world.create_bucket("backfill-bucket");
    let (_server, client) = setup(&world).await;
    let key = "manifests/windows/w.csv";
    let upload_id = start_upload(&client, key, true).await;
    assert_eq!(
        world.open_multipart_uploads(),
        [("backfill-bucket".to_owned(), key.to_owned())]
    );
    let (first, last) = (part_bytes(1, PART), part_bytes(2, 1_000));
    // Parts may come in any order and be sent again; the list says which make the object. A
    // part streamed from a file goes `aws-chunked` with its CRC32 in a trailer.
    let file = std::env::temp_dir().join(format!("emulators-part-{}", std::process::id()));
    std::fs::write(&file, &last).unwrap();
    let uploaded_last = upload_part(&client, key, &upload_id, 2, &[])
        .body(ByteStream::from_path(&file).await.unwrap())
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    upload_part(&client, key, &upload_id, 1, b"replaced")
        .send()
        .await
        .unwrap();
    let uploaded_first = upload_part(&client, key, &upload_id, 1, &first)
        .send()
        .await
        .unwrap();
    // Started with CRC32, the upload reports each part's, for the complete request to list.
    assert!(uploaded_first.checksum_crc32().is_some());
    assert_ne!(uploaded_first.e_tag(), uploaded_last.e_tag());

    let done = complete(
        &client,
        key,
        &upload_id,
        vec![completed(1, &uploaded_first), completed(2, &uploaded_last)],
    )
    .send()
    .await
    .unwrap();

    let etag = done.e_tag().unwrap();
    assert!(etag.starts_with('"') && etag.ends_with("-2\""), "{etag}");
    assert_eq!(
        (done.bucket(), done.key()),
        (Some("backfill-bucket"), Some(key))
    );
    let stored = world.object("backfill-bucket", key).unwrap();
    assert_eq!(stored.len(), PART + 1_000);
    assert!(stored[..PART] == first[..] && stored[PART..] == last[..]);
    assert!(world.open_multipart_uploads().is_empty());
    let got = client
        .get_object()
        .bucket("backfill-bucket")
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), Some(etag));
    let stats = world.stats();
    assert_eq!(
        (
            stats.s3_create_multipart_requests,
            stats.s3_upload_part_requests,
            stats.s3_complete_multipart_requests,
            stats.s3_abort_multipart_requests
        ),
        (1, 3, 1, 0)
    );

    // One part of any size is a whole upload, with or without a checksum algorithm.
    let small = start_upload(&client, "small.csv", false).await;
    let only = upload_part(
        &client,
        "small.csv",
        &small,
        1,
        b"contactId,relatedRecords\n",
    )
    .send()
    .await
    .unwrap();
    complete(&client, "small.csv", &small, vec![completed(1, &only)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        world.object("backfill-bucket", "small.csv").unwrap(),
        b"contactId,relatedRecords\n"
    );
}

#[tokio::test]
async fn completing_enforces_s3s_part_rules_and_keeps_the_upload_open() {
    let world = World::new(INSTANCE_ID);
    world.create_bucket("backfill-bucket");
    let (_server, client) = setup(&world).await;
    let key = "k.csv";
    let upload_id = start_upload(&client, key, true).await;
    let small = upload_part(&client, key, &upload_id, 1, &part_bytes(1, 1_000))
        .send()
        .await
        .unwrap();
    let big = upload_part(&client, key, &upload_id, 2, &part_bytes(2, PART))
        .send()
        .await
        .unwrap();
    let third = upload_part(&client, key, &upload_id, 3, b"end")
        .send()
        .await
        .unwrap();
    let code = |err: SdkError<_, HttpResponse>| {
        let err: aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError =
            err.into_service_error();
        err.code().unwrap_or_default().to_owned()
    };

    let too_small = complete(
        &client,
        key,
        &upload_id,
        vec![completed(1, &small), completed(2, &big)],
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!(status(&too_small), 400);
    assert_eq!(code(too_small), "EntityTooSmall");
    let out_of_order = complete(
        &client,
        key,
        &upload_id,
        vec![completed(3, &third), completed(2, &big)],
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(out_of_order), "InvalidPartOrder");
    let repeated = complete(
        &client,
        key,
        &upload_id,
        vec![completed(2, &big), completed(2, &big)],
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(repeated), "InvalidPartOrder");
    let wrong_etag = complete(
        &client,
        key,
        &upload_id,
        vec![completed(2, &third), completed(3, &third)],
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(wrong_etag), "InvalidPart");
    let never_uploaded = CompletedPart::builder()
        .part_number(4)
        .e_tag(third.e_tag().unwrap())
        .set_checksum_crc32(third.checksum_crc32().map(str::to_owned))
        .build();
    let missing = complete(
        &client,
        key,
        &upload_id,
        vec![completed(2, &big), never_uploaded],
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(missing), "InvalidPart");
    // Started with CRC32, the upload wants each part's checksum back.
    let without_checksum = CompletedPart::builder()
        .part_number(3)
        .e_tag(third.e_tag().unwrap())
        .build();
    let unchecked = complete(
        &client,
        key,
        &upload_id,
        vec![completed(2, &big), without_checksum],
    )
    .send()
    .await
    .unwrap_err();
    assert_eq!(code(unchecked), "InvalidRequest");
    let empty = complete(&client, key, &upload_id, Vec::new())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(empty), "MalformedXML");
    assert!(world.object("backfill-bucket", key).is_none());
    assert_eq!(world.open_multipart_uploads().len(), 1);

    // Part numbers run from 1 to 10,000.
    for number in [0, 10_001] {
        let refused = upload_part(&client, key, &upload_id, number, b"x")
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(refused.code(), Some("InvalidArgument"));
    }
    // The failed attempts left it open: the valid list still completes it.
    complete(
        &client,
        key,
        &upload_id,
        vec![completed(2, &big), completed(3, &third)],
    )
    .send()
    .await
    .unwrap();
    let stored = world.object("backfill-bucket", key).unwrap();
    assert_eq!(stored.len(), PART + 3);
    assert!(world.open_multipart_uploads().is_empty());
}

#[tokio::test]
async fn an_aborted_or_unknown_upload_is_no_such_upload() {
    let world = World::new(INSTANCE_ID);
    world.create_bucket("backfill-bucket");
    let (_server, client) = setup(&world).await;
    let key = "aborted.csv";
    let upload_id = start_upload(&client, key, true).await;
    let part = upload_part(&client, key, &upload_id, 1, b"rows")
        .send()
        .await
        .unwrap();

    client
        .abort_multipart_upload()
        .bucket("backfill-bucket")
        .key(key)
        .upload_id(&upload_id)
        .send()
        .await
        .unwrap();

    assert!(world.open_multipart_uploads().is_empty());
    assert!(world.object("backfill-bucket", key).is_none());
    let after_abort = upload_part(&client, key, &upload_id, 2, b"more")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&after_abort), 404);
    let after_abort = after_abort.into_service_error();
    assert_eq!(after_abort.code(), Some("NoSuchUpload"));
    let completing = complete(&client, key, &upload_id, vec![completed(1, &part)])
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(completing.code() == Some("NoSuchUpload"), "{completing:?}");
    let aborting = client
        .abort_multipart_upload()
        .bucket("backfill-bucket")
        .key(key)
        .upload_id("not-an-upload")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(aborting.is_no_such_upload(), "{aborting:?}");
    // An upload id belongs to its key.
    let other = start_upload(&client, "other.csv", false).await;
    let elsewhere = upload_part(&client, key, &other, 1, b"x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(elsewhere.code(), Some("NoSuchUpload"));
    let no_bucket = client
        .create_multipart_upload()
        .bucket("no-such-bucket")
        .key(key)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(no_bucket.code(), Some("NoSuchBucket"));
    let stats = world.stats();
    assert_eq!(
        (
            stats.s3_create_multipart_requests,
            stats.s3_abort_multipart_requests
        ),
        (3, 2)
    );
}

#[tokio::test]
async fn a_part_whose_checksum_does_not_match_is_refused() {
    let world = World::new(INSTANCE_ID);
    world.create_bucket("backfill-bucket");
    let (_server, client) = setup(&world).await;
    let upload_id = start_upload(&client, "k", true).await;
    let refused = upload_part(&client, "k", &upload_id, 1, b"rows")
        .checksum_crc32("AAAAAA==")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(refused.code(), Some("BadDigest"));
}
