//! Amazon S3 (restXml, SigV4 signing name `s3`), path-style addressing only (clients set
//! `force_path_style`): ListObjectsV2 (`GET /{bucket}?list-type=2`), GetObject
//! (`GET /{bucket}/{key}`), PutObject (`PUT /{bucket}/{key}`, plain or `aws-chunked` with a
//! trailing checksum, as current SDKs send it) and multipart uploads: CreateMultipartUpload
//! (`POST /{bucket}/{key}?uploads`), UploadPart (`PUT ...?partNumber=&uploadId=`, bodies as
//! PutObject's), CompleteMultipartUpload (`POST ...?uploadId=` with the XML part list) and
//! AbortMultipartUpload (`DELETE ...?uploadId=`). Enough to find and read Contact Lens
//! post-call analysis files and to write a backfill's summary and a window's manifest.

use std::collections::BTreeMap;
use std::ops::Bound;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::aws::{self, Outcome, Protocol, xml_escape};
use crate::fault::{self, IdMatch, Injected, RequestInfo};
use crate::server::{self, Server};
use crate::world::{S3Object, Service, State as WorldState, World, content_hash, format_utc};

/// Default and maximum of `max-keys`: S3 never returns more keys in one page.
const MAX_KEYS: usize = 1000;
/// S3's smallest part of a multipart upload, the last one excepted.
const MIN_PART_BYTES: usize = 5 * 1024 * 1024;
/// S3's part numbers run from 1 to this.
const MAX_PART_NUMBER: u32 = 10_000;
/// Largest body accepted, above axum's 2 MB default: parts are at least 5 MiB, and S3 takes
/// far more; this keeps a runaway client from filling the test's memory.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// The only checksum algorithm the emulator computes.
const CRC32: &str = "CRC32";

/// LastModified in listings: `2024-03-01T00:00:15.250Z`.
const XML_TIMESTAMP: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
/// Last-Modified headers, an IMF-fixdate: `Fri, 01 Mar 2024 00:00:15 GMT`.
const HTTP_DATE: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Starts the S3 emulator on a free port.
pub async fn start_s3(world: &World) -> Server {
    start_on(world, 0).await
}

pub(crate) async fn start_on(world: &World, port: u16) -> Server {
    let (listener, _) = server::bind(port).await;
    // One handler for every path: keys may hold any character, so routing is done by hand.
    let router = Router::new()
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(world.clone());
    server::serve(listener, world, Service::S3, router)
}

const NOT_IMPLEMENTED: &str = "The S3 emulator only implements ListObjectsV2, GetObject, \
     PutObject and multipart uploads (create, upload part, complete, abort)";

/// What a path-style path names.
enum Target {
    Bucket(String),
    Object { bucket: String, key: String },
}

async fn dispatch(
    State(world): State<World>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(denied) = aws::reject_unsigned(&headers, "s3", Protocol::RestXml) {
        return denied;
    }
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let outcome = match (method, target(uri.path())) {
        (_, None) => {
            Err(S3Error::new(400, "InvalidURI", "Couldn't parse the specified URI.").into())
        }
        (Method::GET, Some(Target::Bucket(bucket))) if param("list-type") == Some("2") => {
            list_objects(&world, uri.path(), &bucket, &param).await
        }
        // The SDK tags GetObject with `x-id`; any other parameter is a sub-resource (?acl,
        // ?tagging, ...) or a variant (versionId, partNumber) this emulator does not have.
        (Method::GET, Some(Target::Object { bucket, key }))
            if params.iter().all(|(name, _)| name == "x-id") =>
        {
            get_object(&world, uri.path(), &bucket, &key, &headers).await
        }
        (Method::PUT, Some(Target::Object { bucket, key }))
            if params.iter().all(|(name, _)| name == "x-id") =>
        {
            put_object(&world, uri.path(), &bucket, &key, &headers, &body).await
        }
        (method, Some(Target::Object { bucket, key })) => {
            let request = ObjectRequest {
                world: &world,
                path: uri.path(),
                bucket: &bucket,
                key: &key,
            };
            // Multipart requests are told apart by their parameters, `x-id` aside.
            let named: Vec<&str> = params
                .iter()
                .map(|(name, _)| name.as_str())
                .filter(|name| *name != "x-id")
                .collect();
            match (method, named.as_slice(), param("uploadId")) {
                (Method::POST, ["uploads"], _) => create_multipart_upload(&request, &headers).await,
                (
                    Method::PUT,
                    ["partNumber", "uploadId"] | ["uploadId", "partNumber"],
                    Some(id),
                ) => {
                    let number = param("partNumber").unwrap_or_default();
                    upload_part(&request, id, number, &headers, &body).await
                }
                (Method::POST, ["uploadId"], Some(id)) => {
                    complete_multipart_upload(&request, id, &body).await
                }
                (Method::DELETE, ["uploadId"], Some(id)) => {
                    abort_multipart_upload(&request, id).await
                }
                _ => Err(not_implemented(NOT_IMPLEMENTED).into()),
            }
        }
        _ => Err(not_implemented(NOT_IMPLEMENTED).into()),
    };
    outcome.unwrap_or_else(|error| error)
}

/// `/{bucket}` or `/{bucket}/` names the bucket, `/{bucket}/{key...}` an object; the key is
/// percent-decoded (`+` stays a plus: this is a path, not a form). None for a path naming no
/// bucket or not decoding to UTF-8.
fn target(path: &str) -> Option<Target> {
    let path = path.strip_prefix('/')?;
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let bucket = percent_decode(bucket)?;
    if bucket.is_empty() {
        return None;
    }
    if key.is_empty() {
        return Some(Target::Bucket(bucket));
    }
    let key = percent_decode(key)?;
    Some(Target::Object { bucket, key })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// How S3 encodes keys and prefixes in a listing asked for with `encoding-type=url`: the
/// query-string escaping of Go's `url.QueryEscape` (space becomes `+`) except that `/` and
/// `*` stay, as S3-compatible servers reproduce it. A client must decode with form rules.
fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'*' => {
                encoded.push(char::from(b));
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    encoded
}

/// An S3 error before it becomes a response: small enough for the results of helpers.
struct S3Error {
    status: u16,
    code: &'static str,
    message: &'static str,
    /// The elements some codes add: `Key` for NoSuchKey, `BucketName` for NoSuchBucket,
    /// `UploadId` for NoSuchUpload, ...
    extra: Vec<(&'static str, String)>,
}

impl S3Error {
    fn new(status: u16, code: &'static str, message: &'static str) -> S3Error {
        S3Error {
            status,
            code,
            message,
            extra: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: &str) -> S3Error {
        self.extra.push((name, value.to_owned()));
        self
    }
}

impl From<S3Error> for Response {
    fn from(error: S3Error) -> Response {
        let extra: Vec<(&str, &str)> = error
            .extra
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        aws::xml_error(error.status, error.code, error.message, &extra)
    }
}

fn not_implemented(message: &'static str) -> S3Error {
    S3Error::new(501, "NotImplemented", message)
}

fn invalid_argument(message: &'static str) -> S3Error {
    S3Error::new(400, "InvalidArgument", message)
}

/// Faults aimed with [`crate::Fault::for_contact`] match an object key or listing prefix that
/// contains the contact id.
async fn check_faults(world: &World, path: &str, id: &str) -> Result<(), Response> {
    let request = RequestInfo {
        path,
        contact_ids: vec![id],
        id_match: IdMatch::Within,
        upload: false,
    };
    match fault::check(world, Service::S3, request).await {
        Injected::Respond(response) => Err(response),
        Injected::Proceed(_) => Ok(()),
    }
}

/// The bucket's objects, unless the bucket is denied (checked first, as IAM is) or missing.
fn bucket_objects<'a>(
    state: &'a WorldState,
    bucket: &str,
) -> Result<&'a BTreeMap<String, S3Object>, S3Error> {
    if state.s3.denied_buckets.contains(bucket) {
        return Err(S3Error::new(403, "AccessDenied", "Access Denied"));
    }
    state.s3.buckets.get(bucket).ok_or_else(|| {
        S3Error::new(404, "NoSuchBucket", "The specified bucket does not exist")
            .with("BucketName", bucket)
    })
}

/// A successful XML document.
fn xml_ok(body: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE.as_str(), "application/xml".to_owned()),
        ("x-amz-request-id", aws::request_id()),
    ];
    (StatusCode::OK, headers, body).into_response()
}

/// The parameters of a ListObjectsV2 request.
struct ListRequest<'a> {
    prefix: &'a str,
    continuation_token: Option<&'a str>,
    start_after: Option<&'a str>,
    max_keys: usize,
    url_encoded: bool,
}

impl<'a> ListRequest<'a> {
    fn parse(param: &impl Fn(&str) -> Option<&'a str>) -> Result<ListRequest<'a>, S3Error> {
        if param("delimiter").is_some_and(|d| !d.is_empty()) {
            return Err(not_implemented(
                "The S3 emulator does not group keys: delimiter is not supported",
            ));
        }
        let url_encoded = match param("encoding-type") {
            None => false,
            Some("url") => true,
            Some(_) => {
                return Err(invalid_argument(
                    "Invalid Encoding Method specified in Request",
                ));
            }
        };
        let max_keys = match param("max-keys").map(str::parse::<u32>) {
            None => MAX_KEYS,
            Some(Ok(n)) => usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS),
            Some(Err(_)) => {
                return Err(invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                ));
            }
        };
        Ok(ListRequest {
            prefix: param("prefix").unwrap_or_default(),
            continuation_token: param("continuation-token"),
            start_after: param("start-after"),
            max_keys,
            url_encoded,
        })
    }
}

/// Continuation tokens hold the last key returned, bound to the bucket.
fn continuation_token(bucket: &str, last_key: &str) -> String {
    aws::encode_token(&format!("{bucket}\n{last_key}"))
}

fn token_key(bucket: &str, token: &str) -> Option<String> {
    let text = aws::decode_token(token)?;
    let (token_bucket, key) = text.split_once('\n')?;
    (token_bucket == bucket).then(|| key.to_owned())
}

/// ListObjectsV2: keys with the prefix, in UTF-8 byte order, after both the continuation
/// token's key and `start-after`. MaxKeys reports the page size used (at most 1000).
async fn list_objects<'a>(
    world: &World,
    path: &str,
    bucket: &str,
    param: &impl Fn(&str) -> Option<&'a str>,
) -> Outcome {
    world.lock().stats.s3_list_requests += 1;
    let request = ListRequest::parse(param)?;
    check_faults(world, path, request.prefix).await?;
    let resume_after = match request.continuation_token {
        None => None,
        Some(token) => Some(
            token_key(bucket, token)
                .ok_or_else(|| invalid_argument("The continuation token provided is incorrect"))?,
        ),
    };
    let after = resume_after
        .as_deref()
        .into_iter()
        .chain(request.start_after)
        .max();
    let state = world.lock();
    let objects = bucket_objects(&state, bucket)?;
    // Keys with the prefix are contiguous in byte order, starting at the prefix itself.
    let lower = match after {
        Some(after) if after >= request.prefix => Bound::Excluded(after),
        _ => Bound::Included(request.prefix),
    };
    let mut page: Vec<(&String, &S3Object)> = objects
        .range::<str, _>((lower, Bound::Unbounded))
        .take_while(|(key, _)| key.starts_with(request.prefix))
        .take(request.max_keys + 1)
        .collect();
    let truncated = page.len() > request.max_keys;
    page.truncate(request.max_keys);
    let next_token = page
        .last()
        .filter(|_| truncated)
        .map(|(key, _)| continuation_token(bucket, key));
    Ok(xml_ok(list_result(bucket, &request, &page, next_token)))
}

/// The `ListBucketResult` document.
fn list_result(
    bucket: &str,
    request: &ListRequest<'_>,
    page: &[(&String, &S3Object)],
    next_token: Option<String>,
) -> String {
    let shown = |text: &str| {
        if request.url_encoded {
            url_encode(text)
        } else {
            text.to_owned()
        }
    };
    let element = |name: &str, value: &str| format!("<{name}>{}</{name}>", xml_escape(value));
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    body.push_str(&element("Name", bucket));
    body.push_str(&element("Prefix", &shown(request.prefix)));
    body.push_str(&element("KeyCount", &page.len().to_string()));
    body.push_str(&element("MaxKeys", &request.max_keys.to_string()));
    body.push_str(&element("IsTruncated", &next_token.is_some().to_string()));
    let optional = [
        (
            "ContinuationToken",
            request.continuation_token.map(str::to_owned),
        ),
        ("NextContinuationToken", next_token),
        ("StartAfter", request.start_after.map(shown)),
        (
            "EncodingType",
            request.url_encoded.then(|| "url".to_owned()),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            body.push_str(&element(name, &value));
        }
    }
    for (key, object) in page {
        body.push_str("<Contents>");
        body.push_str(&element("Key", &shown(key)));
        body.push_str(&element(
            "LastModified",
            &format_utc(object.modified_ms, XML_TIMESTAMP),
        ));
        body.push_str(&element("ETag", &object.etag));
        body.push_str(&element("Size", &object.bytes.len().to_string()));
        body.push_str(&element("StorageClass", "STANDARD"));
        body.push_str("</Contents>");
    }
    body.push_str("</ListBucketResult>");
    body
}

/// GetObject: the whole object. Ranges are refused rather than ignored, so that a client
/// relying on them notices.
async fn get_object(
    world: &World,
    path: &str,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
) -> Outcome {
    world.lock().stats.s3_get_requests += 1;
    check_faults(world, path, key).await?;
    if headers.contains_key(header::RANGE) {
        return Err(not_implemented("The S3 emulator does not serve byte ranges").into());
    }
    let state = world.lock();
    let object = bucket_objects(&state, bucket)?.get(key).ok_or_else(|| {
        S3Error::new(404, "NoSuchKey", "The specified key does not exist.").with("Key", key)
    })?;
    let headers = [
        (header::CONTENT_TYPE.as_str(), content_type(key).to_owned()),
        (header::ETAG.as_str(), object.etag.clone()),
        (
            header::LAST_MODIFIED.as_str(),
            format_utc(object.modified_ms, HTTP_DATE),
        ),
        (header::ACCEPT_RANGES.as_str(), "bytes".to_owned()),
        ("x-amz-request-id", aws::request_id()),
    ];
    Ok((StatusCode::OK, headers, object.bytes.clone()).into_response())
}

/// PutObject into an existing bucket.
async fn put_object(
    world: &World,
    path: &str,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    world.lock().stats.s3_put_requests += 1;
    check_faults(world, path, key).await?;
    let Payload { bytes, checksum } = payload(headers, body)?;
    let mut state = world.lock();
    bucket_objects(&state, bucket)?;
    state.store_object(bucket, key, bytes, crate::world::now_ms());
    let etag = bucket_objects(&state, bucket)?
        .get(key)
        .map(|o| o.etag.clone())
        .unwrap_or_default();
    Ok(stored_response(etag, checksum))
}

/// The answer to a stored body: its ETag, and the checksum it came with.
fn stored_response(etag: String, checksum: Option<String>) -> Response {
    let headers = [
        (header::ETAG.as_str(), etag),
        ("x-amz-request-id", aws::request_id()),
    ];
    let mut response = (StatusCode::OK, headers).into_response();
    if let Some(value) = checksum.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("x-amz-checksum-crc32", value);
    }
    response
}

/// A PutObject or UploadPart body as the client meant it, and the CRC32 it was sent with.
struct Payload {
    bytes: Vec<u8>,
    checksum: Option<String>,
}

/// Reads a body the way S3 does: a streamed (`aws-chunked`) one is decoded and checked against
/// its declared length, and a CRC32 sent with it (header or trailer) against the bytes, so a
/// client that frames or checksums it wrongly fails here too.
fn payload(headers: &HeaderMap, body: &[u8]) -> Result<Payload, S3Error> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let chunked = header("content-encoding").is_some_and(|e| e.contains("aws-chunked"));
    let ChunkedBody {
        payload: bytes,
        trailers,
    } = if chunked {
        decode_aws_chunked(body).ok_or_else(|| {
            S3Error::new(
                400,
                "IncompleteBody",
                "The request body is not valid aws-chunked data",
            )
        })?
    } else {
        ChunkedBody {
            payload: body.to_vec(),
            trailers: Vec::new(),
        }
    };
    if chunked
        && header("x-amz-decoded-content-length").and_then(|l| l.parse::<usize>().ok())
            != Some(bytes.len())
    {
        return Err(S3Error::new(
            400,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the x-amz-decoded-content-length header",
        ));
    }
    let checksum = header("x-amz-checksum-crc32")
        .map(str::to_owned)
        .or_else(|| {
            trailers
                .iter()
                .find(|(name, _)| name == "x-amz-checksum-crc32")
                .map(|(_, value)| value.clone())
        });
    if let Some(checksum) = &checksum
        && *checksum != crc32_base64(&bytes)
    {
        return Err(S3Error::new(
            400,
            "BadDigest",
            "The CRC32 you specified did not match the calculated checksum.",
        ));
    }
    Ok(Payload { bytes, checksum })
}

/// A request about one object, as the multipart handlers need it.
struct ObjectRequest<'a> {
    world: &'a World,
    path: &'a str,
    bucket: &'a str,
    key: &'a str,
}

/// A multipart upload in progress: its parts by number, kept until it is completed or
/// aborted.
pub(crate) struct MultipartUpload {
    pub bucket: String,
    pub key: String,
    /// CreateMultipartUpload's `x-amz-checksum-algorithm`: completing then needs each part's.
    checksum_algorithm: Option<String>,
    parts: BTreeMap<u32, UploadedPart>,
}

struct UploadedPart {
    bytes: Vec<u8>,
    /// Quoted, as S3 sends it.
    etag: String,
    crc32: String,
}

/// An id as opaque as S3's, from the world's id sequence.
fn new_upload_id(state: &mut WorldState) -> String {
    let (a, b) = (state.next_random(), state.next_random());
    format!("{a:016x}{b:016x}")
}

fn no_such_upload(upload_id: &str) -> S3Error {
    S3Error::new(
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may \
         have been aborted or completed.",
    )
    .with("UploadId", upload_id)
}

/// The upload `upload_id` of this object, once the bucket is checked as for any request.
fn upload_of<'a>(
    state: &'a mut WorldState,
    request: &ObjectRequest<'_>,
    upload_id: &str,
) -> Result<&'a mut MultipartUpload, S3Error> {
    bucket_objects(state, request.bucket)?;
    state
        .s3
        .uploads
        .get_mut(upload_id)
        .filter(|u| u.bucket == request.bucket && u.key == request.key)
        .ok_or_else(|| no_such_upload(upload_id))
}

/// CreateMultipartUpload: a new upload id. Only CRC32 is offered as its checksum algorithm,
/// the one the emulator computes.
async fn create_multipart_upload(request: &ObjectRequest<'_>, headers: &HeaderMap) -> Outcome {
    let world = request.world;
    world.lock().stats.s3_create_multipart_requests += 1;
    check_faults(world, request.path, request.key).await?;
    let checksum_algorithm = headers
        .get("x-amz-checksum-algorithm")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_uppercase);
    if checksum_algorithm.as_deref().is_some_and(|a| a != CRC32) {
        return Err(not_implemented("The S3 emulator computes CRC32 checksums only").into());
    }
    let mut state = world.lock();
    bucket_objects(&state, request.bucket)?;
    let upload_id = new_upload_id(&mut state);
    let upload = MultipartUpload {
        bucket: request.bucket.to_owned(),
        key: request.key.to_owned(),
        checksum_algorithm: checksum_algorithm.clone(),
        parts: BTreeMap::new(),
    };
    state.s3.uploads.insert(upload_id.clone(), upload);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Bucket>{}</Bucket><Key>{}</Key><UploadId>{upload_id}</UploadId>\
         </InitiateMultipartUploadResult>",
        xml_escape(request.bucket),
        xml_escape(request.key)
    );
    let mut response = xml_ok(body);
    if let Some(algorithm) = checksum_algorithm {
        let headers = response.headers_mut();
        headers.insert("x-amz-checksum-algorithm", header_value(&algorithm));
        headers.insert("x-amz-checksum-type", header_value("COMPOSITE"));
    }
    Ok(response)
}

fn header_value(text: &str) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(text).unwrap_or(axum::http::HeaderValue::from_static(""))
}

/// UploadPart: stores (or replaces) part `number` of the upload. Sizes are checked when the
/// upload is completed, as S3 does: only then is it known which part is the last.
async fn upload_part(
    request: &ObjectRequest<'_>,
    upload_id: &str,
    number: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    let world = request.world;
    world.lock().stats.s3_upload_part_requests += 1;
    check_faults(world, request.path, request.key).await?;
    let number = number
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            invalid_argument("Part number must be an integer between 1 and 10000, inclusive")
        })?;
    let Payload { bytes, checksum } = payload(headers, body)?;
    let mut state = world.lock();
    let upload = upload_of(&mut state, request, upload_id)?;
    let crc32 = crc32_base64(&bytes);
    let etag = format!("\"{}\"", content_hash(&bytes));
    // An upload started with CRC32 reports each part's, whether the client sent it or not.
    let checksum = checksum.or_else(|| upload.checksum_algorithm.is_some().then(|| crc32.clone()));
    let part = UploadedPart {
        bytes,
        etag: etag.clone(),
        crc32,
    };
    upload.parts.insert(number, part);
    Ok(stored_response(etag, checksum))
}

/// A `<Part>` of CompleteMultipartUpload's list.
#[derive(Debug, PartialEq)]
struct ListedPart {
    number: u32,
    etag: String,
    crc32: Option<String>,
}

/// CompleteMultipartUpload: the listed parts, in order, become the object, and the upload is
/// gone. S3's rules: numbers ascending, each part uploaded with the ETag listed (and the CRC32,
/// when the upload was started with that algorithm), every part but the last at least 5 MiB.
async fn complete_multipart_upload(
    request: &ObjectRequest<'_>,
    upload_id: &str,
    body: &[u8],
) -> Outcome {
    let world = request.world;
    world.lock().stats.s3_complete_multipart_requests += 1;
    check_faults(world, request.path, request.key).await?;
    let mut state = world.lock();
    let upload = upload_of(&mut state, request, upload_id)?;
    let listed = completed_parts(body)
        .filter(|parts| !parts.is_empty())
        .ok_or_else(|| {
            S3Error::new(
                400,
                "MalformedXML",
                "The XML you provided was not well-formed or did not validate against our \
                 published schema",
            )
        })?;
    if listed
        .windows(2)
        .any(|pair| pair[0].number >= pair[1].number)
    {
        return Err(S3Error::new(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. The parts list must be specified in \
             order by part number.",
        )
        .into());
    }
    let unquoted = |etag: &str| etag.trim_matches('"').to_owned();
    for (i, part) in listed.iter().enumerate() {
        let number = part.number.to_string();
        let invalid = || {
            S3Error::new(
                400,
                "InvalidPart",
                "One or more of the specified parts could not be found. The part may not have \
                 been uploaded, or the specified entity tag may not match the part's entity tag.",
            )
            .with("UploadId", upload_id)
            .with("PartNumber", &number)
        };
        let stored = upload.parts.get(&part.number).ok_or_else(invalid)?;
        if unquoted(&stored.etag) != unquoted(&part.etag) {
            return Err(invalid().with("ETag", &part.etag).into());
        }
        if upload.checksum_algorithm.is_some() {
            match &part.crc32 {
                None => {
                    return Err(S3Error::new(
                        400,
                        "InvalidRequest",
                        "The upload was created using a crc32 checksum. The complete request \
                         must include the checksum for each part.",
                    )
                    .with("PartNumber", &number)
                    .into());
                }
                Some(crc32) if *crc32 != stored.crc32 => return Err(invalid().into()),
                Some(_) => {}
            }
        }
        if i + 1 < listed.len() && stored.bytes.len() < MIN_PART_BYTES {
            return Err(S3Error::new(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            )
            .with("ProposedSize", &stored.bytes.len().to_string())
            .with("MinSizeAllowed", &MIN_PART_BYTES.to_string())
            .with("PartNumber", &number)
            .with("ETag", &stored.etag)
            .into());
        }
    }
    let mut upload = state
        .s3
        .uploads
        .remove(upload_id)
        .expect("the upload was just found");
    let mut bytes = Vec::new();
    let mut etags = String::new();
    for part in &listed {
        let stored = upload
            .parts
            .remove(&part.number)
            .expect("every listed part was just found");
        bytes.extend(stored.bytes);
        etags.push_str(&stored.etag);
    }
    // Like S3's: a hash of the parts' ETags, then how many parts there were.
    let etag = format!("\"{}-{}\"", content_hash(etags.as_bytes()), listed.len());
    state.store_object(request.bucket, request.key, bytes, crate::world::now_ms());
    if let Some(object) = state
        .s3
        .buckets
        .get_mut(request.bucket)
        .and_then(|objects| objects.get_mut(request.key))
    {
        object.etag = etag.clone();
    }
    Ok(xml_ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Location>/{bucket}/{key}</Location><Bucket>{bucket}</Bucket><Key>{key}</Key>\
         <ETag>{}</ETag></CompleteMultipartUploadResult>",
        xml_escape(&etag),
        bucket = xml_escape(request.bucket),
        key = xml_escape(request.key),
    )))
}

/// AbortMultipartUpload: the upload and its parts are gone.
async fn abort_multipart_upload(request: &ObjectRequest<'_>, upload_id: &str) -> Outcome {
    let world = request.world;
    world.lock().stats.s3_abort_multipart_requests += 1;
    check_faults(world, request.path, request.key).await?;
    let mut state = world.lock();
    upload_of(&mut state, request, upload_id)?;
    state.s3.uploads.remove(upload_id);
    let headers = [("x-amz-request-id", aws::request_id())];
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// The parts CompleteMultipartUpload lists: `<CompleteMultipartUpload xmlns=...>` holding
/// `<Part>` elements of `<PartNumber>`, `<ETag>` and checksum elements in any order. None for
/// a body that is not such a document.
fn completed_parts(body: &[u8]) -> Option<Vec<ListedPart>> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let text = match text.strip_prefix("<?xml") {
        Some(declared) => declared.split_once("?>")?.1.trim_start(),
        None => text,
    };
    let open = text.strip_prefix("<CompleteMultipartUpload")?;
    let (attributes, rest) = open.split_once('>')?;
    if !(attributes.is_empty() || attributes.starts_with(char::is_whitespace)) {
        return None;
    }
    let mut rest = rest.trim_end().strip_suffix("</CompleteMultipartUpload>")?;
    let mut parts = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(parts);
        }
        let (inner, after) = rest.strip_prefix("<Part>")?.split_once("</Part>")?;
        rest = after;
        let (mut number, mut etag, mut crc32) = (None, None, None);
        for (name, value) in elements(inner)? {
            match name {
                "PartNumber" => number = Some(value.trim().parse::<u32>().ok()?),
                "ETag" => etag = Some(value),
                "ChecksumCRC32" => crc32 = Some(value),
                _ => {}
            }
        }
        parts.push(ListedPart {
            number: number?,
            etag: etag?,
            crc32,
        });
    }
}

/// The simple elements `<name>text</name>` one after another, their text unescaped.
fn elements(mut xml: &str) -> Option<Vec<(&str, String)>> {
    let mut found = Vec::new();
    loop {
        xml = xml.trim_start();
        if xml.is_empty() {
            return Some(found);
        }
        let (name, rest) = xml.strip_prefix('<')?.split_once('>')?;
        let (text, rest) = rest.split_once(&format!("</{name}>"))?;
        found.push((name, xml_unescape(text)?));
        xml = rest;
    }
}

/// Undoes XML escaping: the five named entities and numeric character references.
fn xml_unescape(text: &str) -> Option<String> {
    let mut unescaped = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        unescaped.push_str(&rest[..at]);
        let (entity, after) = rest[at + 1..].split_once(';')?;
        let c = match entity {
            "quot" => '"',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => entity.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        unescaped.push(c);
        rest = after;
    }
    unescaped.push_str(rest);
    Some(unescaped)
}

/// The payload and trailing headers of an `aws-chunked` body: chunks of `<hex size>[;ext]\r\n
/// <data>\r\n`, a zero-size chunk, then `name:value\r\n` trailers and a blank line.
struct ChunkedBody {
    payload: Vec<u8>,
    /// Lower-case names with their values.
    trailers: Vec<(String, String)>,
}

fn decode_aws_chunked(body: &[u8]) -> Option<ChunkedBody> {
    let mut rest = body;
    let mut payload = Vec::new();
    let line = |rest: &mut &[u8]| -> Option<String> {
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let text = std::str::from_utf8(&rest[..end]).ok()?.to_owned();
        *rest = &rest[end + 2..];
        Some(text)
    };
    loop {
        let size_line = line(&mut rest)?;
        let size_hex = size_line.split(';').next()?;
        let size = usize::from_str_radix(size_hex.trim(), 16).ok()?;
        if size == 0 {
            break;
        }
        payload.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
    let mut trailers = Vec::new();
    loop {
        let trailer = line(&mut rest)?;
        if trailer.is_empty() {
            break;
        }
        let (name, value) = trailer.split_once(':')?;
        trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Some(ChunkedBody { payload, trailers })
}

/// S3's `x-amz-checksum-crc32`: the big-endian CRC32 in base64.
fn crc32_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(bytes).to_be_bytes())
}

/// What S3 would report for an object stored with its usual Content-Type: JSON for `.json`
/// keys (Contact Lens files), S3's default otherwise.
fn content_type(key: &str) -> &'static str {
    if key.ends_with(".json") {
        "application/json"
    } else {
        "binary/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_in_utc_to_the_millisecond_or_the_second() {
        // 2024-03-01T00:00:15.250Z, the day after a leap day.
        let at = 1_709_251_215_250;
        assert_eq!(format_utc(at, XML_TIMESTAMP), "2024-03-01T00:00:15.250Z");
        assert_eq!(format_utc(at, HTTP_DATE), "Fri, 01 Mar 2024 00:00:15 GMT");
        assert_eq!(format_utc(-1, XML_TIMESTAMP), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_utc(-1, HTTP_DATE), "Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(
            format_utc(4_107_542_400_000, HTTP_DATE),
            "Mon, 01 Mar 2100 00:00:00 GMT"
        );
    }

    #[test]
    fn aws_chunked_bodies_decode_to_their_payload_and_trailers() {
        let body = b"5;chunk-signature=ab\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let ChunkedBody { payload, trailers } = decode_aws_chunked(body).unwrap();
        assert_eq!(payload, b"hello world");
        assert_eq!(
            trailers,
            [("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
        assert_eq!(crc32_base64(b"hello world"), "DUoRhQ==");
        assert!(decode_aws_chunked(b"5\r\nhel").is_none());
        assert!(decode_aws_chunked(b"zz\r\n").is_none());
    }

    #[test]
    fn paths_name_a_bucket_or_a_decoded_key() {
        let object = |path| match target(path) {
            Some(Target::Object { bucket, key }) => Some((bucket, key)),
            _ => None,
        };
        assert!(matches!(target("/b"), Some(Target::Bucket(b)) if b == "b"));
        assert!(matches!(target("/b/"), Some(Target::Bucket(b)) if b == "b"));
        assert!(target("/").is_none());
        assert_eq!(
            object("/b/a/x%3Ay%20z+%C3%A9.json"),
            Some(("b".to_owned(), "a/x:y z+é.json".to_owned()))
        );
        assert!(object("/b/bad%zz").is_none());
        assert!(object("/b/cut%4").is_none());
        assert!(object("/b/%FF").is_none());
    }

    #[test]
    fn url_encoding_keeps_slashes_and_escapes_the_rest() {
        assert_eq!(
            url_encode("Analysis/Voice/x_analysis_2026-01-02T00:01:02Z.json"),
            "Analysis/Voice/x_analysis_2026-01-02T00%3A01%3A02Z.json"
        );
        assert_eq!(url_encode("a b+c~é*"), "a+b%2Bc%7E%C3%A9*");
    }

    #[test]
    fn continuation_tokens_are_bound_to_their_bucket() {
        let token = continuation_token("b", "k/1");
        assert_eq!(token_key("b", &token).as_deref(), Some("k/1"));
        assert_eq!(token_key("other", &token), None);
        assert_eq!(token_key("b", "not-a-token"), None);
    }
}
