//! A JSON document of events read whole — a `.json` file, an object in a bucket — one event
//! (the OpenLineage client's file transport, and its S3 and GCS transports, write one per file)
//! or several, however laid out, with `NAME:LINE` locations.

use super::{LoadProgress, Loader};
use crate::IngestError;

impl Loader {
    /// A document's bytes, which must be UTF-8 text.
    pub(super) async fn load_document_bytes(
        &mut self,
        bytes: Vec<u8>,
        display: &str,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        match String::from_utf8(bytes) {
            Ok(text) => self.load_document(&text, display, progress).await,
            Err(e) => self.reject(
                "",
                format!("{display}:1"),
                format!("not UTF-8 text: {}", e.utf8_error()),
            ),
        }
    }

    /// One document: one event (pretty-printed, say) or several, however laid out.
    pub(super) async fn load_document(
        &mut self,
        text: &str,
        display: &str,
        progress: &dyn LoadProgress,
    ) -> Result<(), IngestError> {
        let mut values =
            serde_json::Deserializer::from_str(text).into_iter::<serde::de::IgnoredAny>();
        // Line numbers are counted as the values go by, never from the start again.
        let (mut counted_to, mut line) = (0usize, 1usize);
        loop {
            let start = values.byte_offset();
            match values.next() {
                None => return Ok(()),
                Some(Ok(_)) => {
                    let value = &text[start..values.byte_offset()];
                    let begins = start + (value.len() - value.trim_start().len());
                    line += text[counted_to..begins].matches('\n').count();
                    counted_to = begins;
                    self.add_line(value, format!("{display}:{line}"), progress)
                        .await?;
                }
                Some(Err(e)) => {
                    // The rest of the document cannot be read past a syntax error.
                    let location = format!("{display}:{}", e.line());
                    return self.reject(
                        text[start..].trim(),
                        location,
                        format!("invalid JSON: {e}"),
                    );
                }
            }
        }
    }
}

/// A file or object name of events: `.ndjson`, `.jsonl` or `.json`, optionally `.gz`.
pub(super) fn is_loadable_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".ndjson", ".jsonl", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext))
}
