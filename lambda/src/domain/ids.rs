//! Identifier rules: Amazon Connect ids (UUIDs) and Salesforce record ids.

/// Connect instance and contact ids are UUIDs in 8-4-4-4-12 hex form.
pub fn is_connect_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A contact id in the one form every comparison and lookup uses: lower case, as Amazon Connect
/// writes it (a request, an event or a VoiceCall may carry upper case). `None` when it is not a
/// UUID.
pub fn contact_id(s: &str) -> Option<String> {
    is_connect_id(s).then(|| s.to_ascii_lowercase())
}

#[derive(Debug, PartialEq, Eq)]
pub enum SalesforceIdError {
    Length,
    Characters,
    Checksum,
}

impl SalesforceIdError {
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Length => "must be a 15- or 18-character Salesforce id",
            Self::Characters => "must contain only letters and digits",
            Self::Checksum => {
                "has an 18-character suffix that does not match its first 15 characters"
            }
        }
    }
}

/// Returns the 15-character form that the upload's `relatedRecords` takes.
///
/// An 18-character id's last three characters encode the case of the first fifteen; checking
/// them catches ids whose case was changed (for example by a spreadsheet) before they are sent.
pub fn salesforce_id_15(s: &str) -> Result<&str, SalesforceIdError> {
    if s.len() != 15 && s.len() != 18 {
        return Err(SalesforceIdError::Length);
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(SalesforceIdError::Characters);
    }
    let (id15, suffix) = s.split_at(15);
    if !suffix.is_empty() && !suffix.eq_ignore_ascii_case(&case_suffix(id15)) {
        return Err(SalesforceIdError::Checksum);
    }
    Ok(id15)
}

fn case_suffix(id15: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            ALPHABET[bits] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_ids_are_uuids() {
        assert!(is_connect_id("faaa3a21-5990-48cd-a035-e85ca8c861ff"));
        assert!(is_connect_id("FAAA3A21-5990-48CD-A035-E85CA8C861FF"));
        assert!(!is_connect_id("faaa3a21599048cda035e85ca8c861ff"));
        assert!(!is_connect_id("faaa3a21-5990-48cd-a035-e85ca8c861fg"));
        assert!(!is_connect_id("faaa3a21-5990-48cd-a035-e85ca8c861f"));
        assert!(!is_connect_id(""));
        assert_eq!(
            contact_id("FAAA3A21-5990-48cd-A035-e85ca8c861ff").as_deref(),
            Some("faaa3a21-5990-48cd-a035-e85ca8c861ff")
        );
        assert_eq!(contact_id("faaa3a21"), None);
    }

    #[test]
    fn eighteen_character_ids_become_fifteen_after_their_checksum_is_checked() {
        // 0LQ1Q000002TZtn: chunks "0LQ1Q" (bits 1,2,4 -> 22 'W'), "00000" (0 'A'), "2TZtn" (bits 1,2 -> 6 'G').
        assert_eq!(
            salesforce_id_15("0LQ1Q000002TZtnWAG"),
            Ok("0LQ1Q000002TZtn")
        );
        assert_eq!(
            salesforce_id_15("0LQ1Q000002TZtnwag"),
            Ok("0LQ1Q000002TZtn")
        );
        assert_eq!(salesforce_id_15("0LQ1Q000002TZtn"), Ok("0LQ1Q000002TZtn"));
        assert_eq!(
            salesforce_id_15("0lq1q000002TZtnWAG"),
            Err(SalesforceIdError::Checksum)
        );
        assert_eq!(
            salesforce_id_15("0LQ1Q000002TZt"),
            Err(SalesforceIdError::Length)
        );
        assert_eq!(
            salesforce_id_15("0LQ1Q000002TZ-n"),
            Err(SalesforceIdError::Characters)
        );
        // Multi-byte text of the right byte length is not alphanumeric ASCII.
        assert_eq!(
            salesforce_id_15("0LQ1Q000002TZé"),
            Err(SalesforceIdError::Characters)
        );
    }
}
