//! The Salesforce secret: parsed and checked once, never printed.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::EncodingKey;
use serde_json::{Map, Value};
use thiserror::Error;
use url::Url;

use crate::domain::json::JsonError;

/// SCV's secret names its call center under this key; its presence selects the SCV format.
pub const SCV_CALL_CENTER_KEY: &str = "CALL_CENTER_API_NAME";
pub const SCV_AUTH_ENDPOINT_KEY: &str = "SALESFORCE_AUTH_ENDPOINT";
pub const SCV_REST_BASE_KEY: &str = "SALESFORCE_REST_API_ENDPOINT_BASE";

/// The SCV keys (and SSM parameter names) that hold the JWT bearer values of call center `n`:
/// consumer key, private key, audience and subject.
pub fn scv_jwt_names(call_center: &str) -> [String; 4] {
    [
        "auth-consumer-key",
        "auth-private-key",
        "audience",
        "subject",
    ]
    .map(|suffix| format!("{call_center}-salesforce-rest-api-{suffix}"))
}

/// Where SCV keeps the shared access token of call center `n`: the key in its token-cache
/// secret, and the name of its SSM parameter.
pub fn scv_token_name(call_center: &str) -> String {
    format!("{call_center}-salesforce-rest-api-access-token")
}

/// Everything needed to obtain an access token and to address the org's API.
pub struct Credentials {
    pub token_url: Url,
    pub grant: Grant,
    /// The org's versioned REST base (`.../services/data/vNN.N/`) when the secret names it
    /// (SCV); otherwise the token response's `instance_url` decides.
    pub api_base: Option<Url>,
    /// SCV's call center API name, which names the shared access token.
    pub call_center: Option<String>,
}

/// The OAuth 2.0 grant, with its values.
pub enum Grant {
    /// JWT bearer flow: an RS256 assertion signed with the connected app's key.
    JwtBearer {
        client_id: String,
        username: String,
        audience: String,
        key: EncodingKey,
    },
    /// Client credentials flow, posted to the org's My Domain.
    ClientCredentials {
        client_id: String,
        client_secret: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flow = match self.grant {
            Grant::JwtBearer { .. } => "jwt-bearer",
            Grant::ClientCredentials { .. } => "client-credentials",
        };
        f.debug_struct("Credentials")
            .field("flow", &flow)
            .field("token_url", &self.token_url.as_str())
            .field("call_center", &self.call_center)
            .finish_non_exhaustive()
    }
}

/// What is wrong with the secret. Names keys and rules, never values.
#[derive(Debug, Error)]
pub enum CredentialsError {
    #[error("it is not a JSON object ({0})")]
    NotJson(#[source] JsonError),
    #[error("it is JSON but not an object")]
    NotObject,
    #[error("the key {0} is missing")]
    MissingKey(String),
    #[error("the key {0} must be a non-empty string")]
    NotString(String),
    #[error("the SSM parameter {0} is missing")]
    MissingParameter(String),
    #[error("authFlow must be \"jwt-bearer\" or \"client-credentials\"")]
    UnknownFlow,
    #[error("{key} is not a valid URL")]
    InvalidUrl {
        key: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{0} must use https (plain http is accepted only for loopback hosts)")]
    InsecureUrl(String),
    #[error("{key} is not a PEM-encoded RSA private key")]
    InvalidKey {
        key: String,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
}

impl Credentials {
    /// Reads either secret format: SCV's (it has `CALL_CENTER_API_NAME`) or the project's,
    /// `{"authFlow","loginUrl","clientId","username"+"privateKey" | "clientSecret"}`.
    pub fn from_secret_json(raw: &str, api_version: &str) -> Result<Self, CredentialsError> {
        // Parsing into a Value first keeps serde's type errors out: the keys are checked one
        // by one below, each error naming its key.
        let value: Value =
            serde_json::from_str(raw).map_err(|e| CredentialsError::NotJson(e.into()))?;
        let object = value.as_object().ok_or(CredentialsError::NotObject)?;
        let field = |key: &str| string(object, key);
        if object.contains_key(SCV_CALL_CENTER_KEY) {
            let call_center = field(SCV_CALL_CENTER_KEY)?;
            return Self::scv(
                call_center,
                (SCV_AUTH_ENDPOINT_KEY, field(SCV_AUTH_ENDPOINT_KEY)?),
                (SCV_REST_BASE_KEY, field(SCV_REST_BASE_KEY)?),
                field,
                api_version,
            );
        }
        let login_url = checked_url("loginUrl", field("loginUrl")?)?;
        let token_url = login_url.join("/services/oauth2/token").map_err(|source| {
            CredentialsError::InvalidUrl {
                key: "loginUrl".into(),
                source,
            }
        })?;
        let client_id = field("clientId")?.to_owned();
        let grant = match field("authFlow")? {
            "jwt-bearer" => Grant::JwtBearer {
                key: rsa_key("privateKey", field("privateKey")?)?,
                client_id,
                username: field("username")?.to_owned(),
                audience: login_url.as_str().trim_end_matches('/').to_owned(),
            },
            "client-credentials" => Grant::ClientCredentials {
                client_id,
                client_secret: field("clientSecret")?.to_owned(),
            },
            _ => return Err(CredentialsError::UnknownFlow),
        };
        Ok(Self {
            token_url,
            grant,
            api_base: None,
            call_center: None,
        })
    }

    /// Reads the SSM parameters of an older SCV deployment; the token URL and REST base come
    /// from the function's configuration under SCV's variable names.
    pub fn from_scv_parameters(
        call_center: &str,
        auth_endpoint: &str,
        rest_api_endpoint_base: &str,
        parameters: &HashMap<String, String>,
        api_version: &str,
    ) -> Result<Self, CredentialsError> {
        Self::scv(
            call_center,
            (SCV_AUTH_ENDPOINT_KEY, auth_endpoint),
            (SCV_REST_BASE_KEY, rest_api_endpoint_base),
            |name| {
                parameters
                    .get(name)
                    .map(String::as_str)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| CredentialsError::MissingParameter(name.to_owned()))
            },
            api_version,
        )
    }

    fn scv<'a>(
        call_center: &str,
        (auth_key, auth_endpoint): (&str, &str),
        (base_key, rest_base): (&str, &str),
        field: impl Fn(&str) -> Result<&'a str, CredentialsError>,
        api_version: &str,
    ) -> Result<Self, CredentialsError> {
        let token_url = checked_url(auth_key, auth_endpoint)?;
        let api_base = versioned_base(checked_url(base_key, rest_base)?, api_version, base_key)?;
        let [client_id, private_key, audience, subject] = scv_jwt_names(call_center);
        Ok(Self {
            token_url,
            grant: Grant::JwtBearer {
                client_id: field(&client_id)?.to_owned(),
                key: rsa_key(&private_key, field(&private_key)?)?,
                audience: field(&audience)?.to_owned(),
                username: field(&subject)?.to_owned(),
            },
            api_base: Some(api_base),
            call_center: Some(call_center.to_owned()),
        })
    }
}

/// The REST base as a directory URL ending in `/services/data/vNN.N/`: SCV's base normally
/// names its version; one that does not gets the configured version.
fn versioned_base(mut url: Url, api_version: &str, key: &str) -> Result<Url, CredentialsError> {
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    if url.path().contains("/services/data/v") {
        return Ok(url);
    }
    url.join(&format!("services/data/v{api_version}/"))
        .map_err(|source| CredentialsError::InvalidUrl {
            key: key.to_owned(),
            source,
        })
}

fn string<'a>(object: &'a Map<String, Value>, key: &str) -> Result<&'a str, CredentialsError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(CredentialsError::MissingKey(key.to_owned())),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(CredentialsError::NotString(key.to_owned())),
    }
}

fn rsa_key(key: &str, pem: &str) -> Result<EncodingKey, CredentialsError> {
    EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|source| CredentialsError::InvalidKey {
        key: key.to_owned(),
        source,
    })
}

fn checked_url(key: &str, value: &str) -> Result<Url, CredentialsError> {
    let url = Url::parse(value.trim()).map_err(|source| CredentialsError::InvalidUrl {
        key: key.to_owned(),
        source,
    })?;
    require_secure(&url, key)?;
    Ok(url)
}

/// Tokens and keys travel only over https, except to a local emulator on this machine.
pub fn require_secure(url: &Url, key: &str) -> Result<(), CredentialsError> {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(CredentialsError::InsecureUrl(key.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const KEY: &str = include_str!("../../../../tests/fixtures/keys/test-jwt-key.pem");

    fn jwt_secret() -> Value {
        json!({"authFlow":"jwt-bearer","loginUrl":"https://login.salesforce.com","clientId":"3MVG9",
               "username":"integration@example.com","privateKey":KEY})
    }

    fn parse(v: &Value) -> Result<Credentials, CredentialsError> {
        Credentials::from_secret_json(&v.to_string(), "64.0")
    }

    #[test]
    fn jwt_secret_gives_token_url_and_audience() {
        let credentials = parse(&jwt_secret()).unwrap();
        let Grant::JwtBearer {
            audience, username, ..
        } = credentials.grant
        else {
            panic!("expected jwt-bearer");
        };
        let token_url = credentials.token_url;
        assert!(credentials.api_base.is_none() && credentials.call_center.is_none());
        assert_eq!(
            token_url.as_str(),
            "https://login.salesforce.com/services/oauth2/token"
        );
        assert_eq!(audience, "https://login.salesforce.com");
        assert_eq!(username, "integration@example.com");
    }

    #[test]
    fn client_credentials_secret_parses() {
        let secret = json!({"authFlow":"client-credentials","loginUrl":"https://acme.my.salesforce.com/",
                            "clientId":"id","clientSecret":"s3cr3t"});
        let credentials = parse(&secret).unwrap();
        assert!(matches!(credentials.grant, Grant::ClientCredentials { .. }));
        assert_eq!(
            credentials.token_url.as_str(),
            "https://acme.my.salesforce.com/services/oauth2/token"
        );
    }

    #[test]
    fn each_missing_key_is_named() {
        for key in ["authFlow", "loginUrl", "clientId", "username", "privateKey"] {
            let mut secret = jwt_secret();
            secret.as_object_mut().unwrap().remove(key);
            let message = parse(&secret).unwrap_err().to_string();
            assert_eq!(message, format!("the key {key} is missing"));
        }
        let secret = json!({"authFlow":"client-credentials","loginUrl":"https://x.my.salesforce.com","clientId":"id"});
        assert_eq!(
            parse(&secret).unwrap_err().to_string(),
            "the key clientSecret is missing"
        );
    }

    #[test]
    fn errors_never_echo_secret_values() {
        let mut secret = jwt_secret();
        secret["privateKey"] =
            json!("-----BEGIN PRIVATE KEY-----\nTOPSECRETVALUE\n-----END PRIVATE KEY-----");
        let message = format!(
            "{:?} {}",
            parse(&secret).unwrap_err(),
            parse(&secret).unwrap_err()
        );
        assert!(!message.contains("TOPSECRETVALUE"), "{message}");
        assert!(message.contains("privateKey"));

        let not_json = Credentials::from_secret_json("{\"clientSecret\": TOPSECRETVALUE}", "64.0")
            .unwrap_err();
        assert!(!format!("{not_json:?} {not_json}").contains("TOPSECRETVALUE"));

        let debug = format!("{:?}", parse(&jwt_secret()).unwrap());
        assert!(
            !debug.contains("PRIVATE") && !debug.contains("integration@"),
            "{debug}"
        );
    }

    #[test]
    fn plain_http_only_for_loopback() {
        for (url, ok) in [
            ("http://127.0.0.1:8080", true),
            ("http://localhost:1234", true),
            ("http://[::1]:99", true),
            ("http://login.salesforce.com", false),
            ("ftp://login.salesforce.com", false),
        ] {
            let mut secret = jwt_secret();
            secret["loginUrl"] = json!(url);
            assert_eq!(parse(&secret).is_ok(), ok, "{url}");
        }
        let mut secret = jwt_secret();
        secret["loginUrl"] = json!("not a url");
        assert_eq!(
            parse(&secret).unwrap_err().to_string(),
            "loginUrl is not a valid URL"
        );
    }

    #[test]
    fn wrong_types_and_flows_are_named() {
        let mut secret = jwt_secret();
        secret["clientId"] = json!(42);
        assert_eq!(
            parse(&secret).unwrap_err().to_string(),
            "the key clientId must be a non-empty string"
        );
        secret = jwt_secret();
        secret["authFlow"] = json!("password");
        assert!(matches!(parse(&secret), Err(CredentialsError::UnknownFlow)));
        assert!(matches!(
            parse(&json!([1])),
            Err(CredentialsError::NotObject)
        ));
    }

    fn scv_secret(base: &str) -> Value {
        json!({
            "CALL_CENTER_API_NAME": "ACME_CC",
            "SALESFORCE_AUTH_ENDPOINT": "https://login.salesforce.com/services/oauth2/token",
            "SALESFORCE_REST_API_ENDPOINT_BASE": base,
            "ACME_CC-salesforce-rest-api-auth-consumer-key": "3MVG9scv",
            "ACME_CC-salesforce-rest-api-auth-private-key": KEY,
            "ACME_CC-salesforce-rest-api-audience": "https://login.salesforce.com",
            "ACME_CC-salesforce-rest-api-subject": "scv@example.com",
            "ACME_CC-salesforce-rest-api-access-token": "ignored here",
        })
    }

    #[test]
    fn scv_secret_is_read_as_it_is() {
        let credentials = parse(&scv_secret(
            "https://acme.my.salesforce.com/services/data/v62.0",
        ))
        .unwrap();
        assert_eq!(
            credentials.token_url.as_str(),
            "https://login.salesforce.com/services/oauth2/token"
        );
        assert_eq!(
            credentials.api_base.unwrap().as_str(),
            "https://acme.my.salesforce.com/services/data/v62.0/"
        );
        assert_eq!(credentials.call_center.as_deref(), Some("ACME_CC"));
        let Grant::JwtBearer {
            client_id,
            username,
            audience,
            ..
        } = credentials.grant
        else {
            panic!("expected jwt-bearer");
        };
        assert_eq!(
            (client_id.as_str(), username.as_str(), audience.as_str()),
            (
                "3MVG9scv",
                "scv@example.com",
                "https://login.salesforce.com"
            )
        );
    }

    #[test]
    fn scv_rest_base_gets_the_configured_version_only_when_it_names_none() {
        for (base, expected) in [
            (
                "https://acme.my.salesforce.com/services/data/v58.0/",
                "https://acme.my.salesforce.com/services/data/v58.0/",
            ),
            (
                "https://acme.my.salesforce.com",
                "https://acme.my.salesforce.com/services/data/v64.0/",
            ),
            (
                "http://127.0.0.1:9000/sf/",
                "http://127.0.0.1:9000/sf/services/data/v64.0/",
            ),
        ] {
            let credentials = parse(&scv_secret(base)).unwrap();
            assert_eq!(credentials.api_base.unwrap().as_str(), expected, "{base}");
        }
    }

    #[test]
    fn each_missing_scv_key_is_named_without_values() {
        let keys = [
            "SALESFORCE_AUTH_ENDPOINT",
            "SALESFORCE_REST_API_ENDPOINT_BASE",
            "ACME_CC-salesforce-rest-api-auth-consumer-key",
            "ACME_CC-salesforce-rest-api-auth-private-key",
            "ACME_CC-salesforce-rest-api-audience",
            "ACME_CC-salesforce-rest-api-subject",
        ];
        for key in keys {
            let mut secret = scv_secret("https://acme.my.salesforce.com");
            secret.as_object_mut().unwrap().remove(key);
            assert_eq!(
                parse(&secret).unwrap_err().to_string(),
                format!("the key {key} is missing")
            );
        }
        let mut secret = scv_secret("https://acme.my.salesforce.com");
        secret["ACME_CC-salesforce-rest-api-auth-private-key"] = json!("TOPSECRETVALUE");
        let error = parse(&secret).unwrap_err();
        let message = format!("{error} {error:?}");
        assert!(
            message.starts_with("ACME_CC-salesforce-rest-api-auth-private-key is not a PEM"),
            "{message}"
        );
        assert!(!message.contains("TOPSECRETVALUE"), "{message}");
        secret = scv_secret("http://acme.my.salesforce.com");
        assert_eq!(
            parse(&secret).unwrap_err().to_string(),
            "SALESFORCE_REST_API_ENDPOINT_BASE must use https (plain http is accepted only for loopback hosts)"
        );
        secret = scv_secret("https://acme.my.salesforce.com");
        secret["CALL_CENTER_API_NAME"] = json!("");
        assert_eq!(
            parse(&secret).unwrap_err().to_string(),
            "the key CALL_CENTER_API_NAME must be a non-empty string"
        );
    }

    #[test]
    fn scv_parameters_name_the_missing_parameter() {
        let [client_id, private_key, audience, subject] = scv_jwt_names("ACME_CC");
        let mut parameters: HashMap<String, String> = [
            (client_id, "3MVG9scv"),
            (private_key, KEY),
            (audience, "https://login.salesforce.com"),
            (subject.clone(), "scv@example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
        let read = |parameters: &HashMap<String, String>| {
            Credentials::from_scv_parameters(
                "ACME_CC",
                "https://login.salesforce.com/services/oauth2/token",
                "https://acme.my.salesforce.com/services/data/v60.0",
                parameters,
                "64.0",
            )
        };
        let credentials = read(&parameters).unwrap();
        assert_eq!(
            credentials.api_base.unwrap().as_str(),
            "https://acme.my.salesforce.com/services/data/v60.0/"
        );
        parameters.remove(&subject);
        assert_eq!(
            read(&parameters).unwrap_err().to_string(),
            "the SSM parameter ACME_CC-salesforce-rest-api-subject is missing"
        );
        assert_eq!(
            scv_token_name("ACME_CC"),
            "ACME_CC-salesforce-rest-api-access-token"
        );
    }
}
