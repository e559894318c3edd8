//! serde_json's errors as this function may show them: what kind of error and where, never
//! serde's own message. That message quotes what it found (`invalid type: string "..."`), and
//! what is parsed here (Salesforce's answers, analysis files, result files, secrets) can hold
//! transcript text or credentials.

use serde_json::error::Category;
use thiserror::Error;

/// A JSON parse failure without any of the input's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{} at line {line} column {column}", describe(*category))]
pub struct JsonError {
    category: Category,
    line: usize,
    column: usize,
}

impl From<serde_json::Error> for JsonError {
    fn from(error: serde_json::Error) -> Self {
        Self {
            category: error.classify(),
            line: error.line(),
            column: error.column(),
        }
    }
}

fn describe(category: Category) -> &'static str {
    match category {
        Category::Syntax => "malformed JSON",
        Category::Data => "JSON of another shape (a value of the wrong type, or one missing)",
        Category::Eof => "JSON that ends too early",
        Category::Io => "JSON that could not be read",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kind_and_position_are_shown() {
        let error: JsonError = serde_json::from_str::<Vec<i64>>("[1,\n \"SENTINEL\"]")
            .unwrap_err()
            .into();
        let text = format!("{error} {error:?}");
        assert!(!text.contains("SENTINEL"), "{text}");
        assert_eq!(
            error.to_string(),
            "JSON of another shape (a value of the wrong type, or one missing) at line 2 column 11"
        );
        let eof: JsonError = serde_json::from_str::<Vec<i64>>("[1,").unwrap_err().into();
        assert_eq!(
            eof.to_string(),
            "JSON that ends too early at line 1 column 3"
        );
    }
}
