//! The Salesforce secret: parsed and checked once, never printed.

use std::fmt;

use jsonwebtoken::EncodingKey;
use serde_json::{Map, Value};
use thiserror::Error;
use url::Url;

/// How to obtain an access token, with every value the token request needs.
pub enum Credentials {
    /// OAuth 2.0 JWT bearer flow: an RS256 assertion signed with the connected app's key.
    JwtBearer {
        token_url: Url,
        client_id: String,
        username: String,
        audience: String,
        key: EncodingKey,
    },
    /// OAuth 2.0 client credentials flow, posted to the org's My Domain.
    ClientCredentials {
        token_url: Url,
        client_id: String,
        client_secret: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (flow, token_url) = match self {
            Self::JwtBearer { token_url, .. } => ("jwt-bearer", token_url),
            Self::ClientCredentials { token_url, .. } => ("client-credentials", token_url),
        };
        f.debug_struct("Credentials")
            .field("flow", &flow)
            .field("token_url", &token_url.as_str())
            .finish_non_exhaustive()
    }
}

/// What is wrong with the secret. Names keys and rules, never values.
#[derive(Debug, Error)]
pub enum CredentialsError {
    #[error("it is not a JSON object ({0})")]
    NotJson(#[source] serde_json::Error),
    #[error("it is JSON but not an object")]
    NotObject,
    #[error("the key {0} is missing")]
    MissingKey(&'static str),
    #[error("the key {0} must be a non-empty string")]
    NotString(&'static str),
    #[error("authFlow must be \"jwt-bearer\" or \"client-credentials\"")]
    UnknownFlow,
    #[error("{key} is not a valid URL")]
    InvalidUrl {
        key: &'static str,
        #[source]
        source: url::ParseError,
    },
    #[error("{0} must use https (plain http is accepted only for loopback hosts)")]
    InsecureUrl(&'static str),
    #[error("privateKey is not a PEM-encoded RSA private key")]
    InvalidKey(#[source] jsonwebtoken::errors::Error),
}

impl Credentials {
    /// Reads the project's secret format:
    /// `{"authFlow","loginUrl","clientId","username"+"privateKey" | "clientSecret"}`.
    pub fn from_secret_json(raw: &str) -> Result<Self, CredentialsError> {
        // Parsing into a Value first keeps serde's type errors, which quote values, out of
        // the messages: a syntax error names only a line and column.
        let value: Value = serde_json::from_str(raw).map_err(CredentialsError::NotJson)?;
        let object = value.as_object().ok_or(CredentialsError::NotObject)?;
        let login_url = checked_url(object, "loginUrl")?;
        let token_url = login_url.join("/services/oauth2/token").map_err(|source| {
            CredentialsError::InvalidUrl {
                key: "loginUrl",
                source,
            }
        })?;
        let client_id = string(object, "clientId")?.to_owned();
        match string(object, "authFlow")? {
            "jwt-bearer" => {
                let key = EncodingKey::from_rsa_pem(string(object, "privateKey")?.as_bytes())
                    .map_err(CredentialsError::InvalidKey)?;
                Ok(Self::JwtBearer {
                    token_url,
                    client_id,
                    username: string(object, "username")?.to_owned(),
                    audience: login_url.as_str().trim_end_matches('/').to_owned(),
                    key,
                })
            }
            "client-credentials" => Ok(Self::ClientCredentials {
                token_url,
                client_id,
                client_secret: string(object, "clientSecret")?.to_owned(),
            }),
            _ => Err(CredentialsError::UnknownFlow),
        }
    }
}

fn string<'a>(
    object: &'a Map<String, Value>,
    key: &'static str,
) -> Result<&'a str, CredentialsError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(CredentialsError::MissingKey(key)),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err(CredentialsError::NotString(key)),
    }
}

fn checked_url(object: &Map<String, Value>, key: &'static str) -> Result<Url, CredentialsError> {
    let url = Url::parse(string(object, key)?)
        .map_err(|source| CredentialsError::InvalidUrl { key, source })?;
    require_secure(&url, key)?;
    Ok(url)
}

/// Tokens and keys travel only over https, except to a local emulator on this machine.
pub fn require_secure(url: &Url, key: &'static str) -> Result<(), CredentialsError> {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(CredentialsError::InsecureUrl(key)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const KEY: &str = include_str!("../../../../emulators/fixtures/test-jwt-key.pem");

    fn jwt_secret() -> Value {
        json!({"authFlow":"jwt-bearer","loginUrl":"https://login.salesforce.com","clientId":"3MVG9",
               "username":"integration@example.com","privateKey":KEY})
    }

    fn parse(v: &Value) -> Result<Credentials, CredentialsError> {
        Credentials::from_secret_json(&v.to_string())
    }

    #[test]
    fn jwt_secret_gives_token_url_and_audience() {
        let Credentials::JwtBearer {
            token_url,
            audience,
            username,
            ..
        } = parse(&jwt_secret()).unwrap()
        else {
            panic!("expected jwt-bearer");
        };
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
        let Credentials::ClientCredentials { token_url, .. } = parse(&secret).unwrap() else {
            panic!("expected client-credentials");
        };
        assert_eq!(
            token_url.as_str(),
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

        let not_json =
            Credentials::from_secret_json("{\"clientSecret\": TOPSECRETVALUE}").unwrap_err();
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
}
