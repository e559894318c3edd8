//! One contact to upload: what a request names and what the transcript mapping needs. Its own
//! module so that the request contract and the transcript mapping both use it, neither the
//! other.

#[derive(Debug, Clone, PartialEq)]
pub struct ContactRequest {
    /// The contactId in lower case, the form Amazon Connect writes: every lookup, comparison
    /// and upload uses this.
    pub contact_id: String,
    /// The contactId as the request spelled it, which the response echoes.
    pub as_requested: String,
    /// VoiceCall ids in their 15-character form, without repeats.
    pub related_records: Vec<String>,
}
