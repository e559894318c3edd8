//! Which Salesforce org a request is for: the optional `secretName` and `accessTokenSecretName`
//! of the existing contactDataSync, checked against the secrets the function is configured with.

/// The org fields of a request, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgChoice {
    pub secret_name: Option<String>,
    pub access_token_secret_name: Option<String>,
}

/// Whether a secret named in a request is a configured one. Either side may be a name or an
/// ARN; a name matches an ARN when it equals the ARN's secret name, with or without the
/// `-XXXXXX` suffix Secrets Manager appends.
pub fn same_secret(requested: &str, configured: &str) -> bool {
    if requested == configured {
        return true;
    }
    match (arn_name(requested), arn_name(configured)) {
        (None, Some(names)) => names.matches(requested),
        (Some(names), None) => names.matches(configured),
        // A partial ARN (no suffix) matches the complete one.
        (Some(a), Some(b)) => a.prefix == b.prefix && (a.full == b.base || a.base == b.full),
        (None, None) => false,
    }
}

/// The first of `configured` that `requested` names.
pub fn find_secret<'a>(requested: &str, configured: &'a [String]) -> Option<&'a String> {
    configured.iter().find(|c| same_secret(requested, c))
}

struct ArnName<'a> {
    /// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:`
    prefix: &'a str,
    /// The name as it appears in the ARN.
    full: &'a str,
    /// The name without the 6-character suffix, when it has one.
    base: &'a str,
}

impl ArnName<'_> {
    fn matches(&self, name: &str) -> bool {
        name == self.full || name == self.base
    }
}

fn arn_name(arn: &str) -> Option<ArnName<'_>> {
    if !arn.starts_with("arn:") {
        return None;
    }
    let at = arn.find(":secret:")? + ":secret:".len();
    let (prefix, full) = arn.split_at(at);
    let base = match full.rsplit_once('-') {
        Some((base, suffix))
            if suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            base
        }
        _ => full,
    };
    Some(ArnName { prefix, full, base })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:ACME-salesforce-secret-AbC123";

    #[test]
    fn names_match_arns_with_or_without_the_suffix() {
        assert!(same_secret("ACME-salesforce-secret", ARN));
        assert!(same_secret("ACME-salesforce-secret-AbC123", ARN));
        assert!(same_secret(ARN, ARN));
        assert!(same_secret(ARN, "ACME-salesforce-secret"));
        assert!(same_secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ACME-salesforce-secret",
            ARN
        ));
        assert!(same_secret("plain", "plain"));
    }

    #[test]
    fn other_secrets_do_not_match() {
        assert!(!same_secret("ACME-salesforce", ARN));
        assert!(!same_secret("OTHER-salesforce-secret", ARN));
        assert!(!same_secret("acme-salesforce-secret", ARN));
        assert!(!same_secret(
            "arn:aws:secretsmanager:us-east-1:999999999999:secret:ACME-salesforce-secret-AbC123",
            ARN
        ));
        assert!(!same_secret("a", "b"));
        assert!(!same_secret("", ARN));
    }

    #[test]
    fn finds_the_configured_entry() {
        let configured = vec!["first".to_owned(), ARN.to_owned()];
        assert_eq!(
            find_secret("ACME-salesforce-secret", &configured),
            Some(&configured[1])
        );
        assert_eq!(find_secret("missing", &configured), None);
    }
}
