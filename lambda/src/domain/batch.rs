//! Groups conversation files into upload requests, by count and by bytes, as they arrive.

use super::transcript::ConversationFile;

pub struct Batcher {
    max_files: usize,
    max_bytes: usize,
    current: Vec<ConversationFile>,
    bytes: usize,
}

impl Batcher {
    pub fn new(max_files: usize, max_bytes: usize) -> Self {
        Self {
            max_files: max_files.max(1),
            max_bytes,
            current: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds a file; returns the batches that are ready to upload (at most two: the one this
    /// file would have overflowed, and this file's own when it fills a batch alone). A file
    /// larger than `max_bytes` travels alone, since a conversation cannot be split across parts.
    /// A conversation appears once per request: a second file of it starts the next batch.
    pub fn push(&mut self, file: ConversationFile) -> Vec<Vec<ConversationFile>> {
        let mut ready = Vec::new();
        let overflows = self.bytes + file.body.len() > self.max_bytes;
        let repeats = self
            .current
            .iter()
            .any(|f| f.conversation_id == file.conversation_id);
        if !self.current.is_empty() && (overflows || repeats) {
            ready.extend(self.take());
        }
        self.bytes += file.body.len();
        self.current.push(file);
        if self.current.len() >= self.max_files || self.bytes >= self.max_bytes {
            ready.extend(self.take());
        }
        ready
    }

    /// The last, partly filled batch.
    pub fn flush(&mut self) -> Option<Vec<ConversationFile>> {
        self.take()
    }

    fn take(&mut self) -> Option<Vec<ConversationFile>> {
        self.bytes = 0;
        (!self.current.is_empty()).then(|| std::mem::take(&mut self.current))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn file(id: &str, len: usize) -> ConversationFile {
        ConversationFile {
            conversation_id: id.into(),
            contact_ids: vec![id.into()],
            body: Bytes::from(vec![b'x'; len]),
            entry_ids: vec!["e1".into()],
            skipped_turns: 0,
            first_timestamp: None,
            last_timestamp: None,
        }
    }

    fn ids(batches: &[Vec<ConversationFile>]) -> Vec<Vec<&str>> {
        batches
            .iter()
            .map(|b| b.iter().map(|f| f.conversation_id.as_str()).collect())
            .collect()
    }

    #[test]
    fn batches_fill_by_count() {
        let mut batcher = Batcher::new(2, 1_000);
        let mut ready = Vec::new();
        for id in ["a", "b", "c", "d", "e"] {
            ready.extend(batcher.push(file(id, 10)));
        }
        ready.extend(batcher.flush());
        assert_eq!(ids(&ready), vec![vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
    }

    #[test]
    fn batches_never_exceed_the_byte_cap_unless_one_file_does() {
        let mut batcher = Batcher::new(10, 100);
        let mut ready = Vec::new();
        for (id, len) in [("a", 60), ("b", 60), ("c", 150), ("d", 30)] {
            ready.extend(batcher.push(file(id, len)));
        }
        ready.extend(batcher.flush());
        assert_eq!(
            ids(&ready),
            vec![vec!["a"], vec!["b"], vec!["c"], vec!["d"]]
        );
        assert!(
            ready
                .iter()
                .all(|b| b.len() == 1 || b.iter().map(|f| f.body.len()).sum::<usize>() <= 100)
        );
    }

    #[test]
    fn a_conversation_is_never_twice_in_one_request() {
        let mut batcher = Batcher::new(10, 1_000);
        let mut ready = Vec::new();
        for id in ["a", "b", "a", "c"] {
            ready.extend(batcher.push(file(id, 10)));
        }
        ready.extend(batcher.flush());
        assert_eq!(ids(&ready), vec![vec!["a", "b"], vec!["a", "c"]]);
    }
}
