//! Amazon S3 (restXml, SigV4 signing name `s3`), path-style addressing only (clients set
//! `force_path_style`): ListObjectsV2 (`GET /{bucket}?list-type=2`), GetObject
//! (`GET /{bucket}/{key}`) and PutObject (`PUT /{bucket}/{key}`, plain or `aws-chunked` with a
//! trailing checksum, as current SDKs send it), enough to find and read Contact Lens post-call
//! analysis files and to write a backfill's summary.

use std::collections::BTreeMap;
use std::ops::Bound;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::aws::{self, Outcome, Protocol, xml_escape};
use crate::fault::{self, IdMatch, Injected, RequestInfo};
use crate::server::{self, Server};
use crate::utc::Utc;
use crate::world::{S3Object, Service, State as WorldState, World};

/// Default and maximum of `max-keys`: S3 never returns more keys in one page.
const MAX_KEYS: usize = 1000;

/// Starts the S3 emulator on a free port.
pub async fn start_s3(world: &World) -> Server {
    start_on(world, 0).await
}

pub(crate) async fn start_on(world: &World, port: u16) -> Server {
    let (listener, _) = server::bind(port).await;
    // One handler for every path: keys may hold any character, so routing is done by hand.
    let router = Router::new().fallback(dispatch).with_state(world.clone());
    server::serve(listener, world, Service::S3, router)
}

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
        _ => Err(not_implemented(
            "The S3 emulator only implements ListObjectsV2, GetObject and PutObject",
        )
        .into()),
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
    /// The element some codes add: `Key` for NoSuchKey, `BucketName` for NoSuchBucket.
    extra: Option<(&'static str, String)>,
}

impl S3Error {
    fn new(status: u16, code: &'static str, message: &'static str) -> S3Error {
        S3Error {
            status,
            code,
            message,
            extra: None,
        }
    }

    fn with(self, name: &'static str, value: &str) -> S3Error {
        S3Error {
            extra: Some((name, value.to_owned())),
            ..self
        }
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
            &Utc::at(object.modified_ms).iso_millis(),
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
            Utc::at(object.modified_ms).http_date(),
        ),
        (header::ACCEPT_RANGES.as_str(), "bytes".to_owned()),
        ("x-amz-request-id", aws::request_id()),
    ];
    Ok((StatusCode::OK, headers, object.bytes.clone()).into_response())
}

/// PutObject into an existing bucket. A streamed (`aws-chunked`) body is decoded and checked
/// against its declared length and trailing CRC32 the way S3 does, so a client that frames or
/// checksums it wrongly fails here too.
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
        )
        .into());
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
        )
        .into());
    }
    let mut state = world.lock();
    bucket_objects(&state, bucket)?;
    state.store_object(bucket, key, bytes, crate::world::now_ms());
    let etag = bucket_objects(&state, bucket)?
        .get(key)
        .map(|o| o.etag.clone())
        .unwrap_or_default();
    let headers = [
        (header::ETAG.as_str(), etag),
        ("x-amz-request-id", aws::request_id()),
    ];
    let mut response = (StatusCode::OK, headers).into_response();
    if let Some(value) = checksum.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert("x-amz-checksum-crc32", value);
    }
    Ok(response)
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
