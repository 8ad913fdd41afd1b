//! Bad input: a bad line stops the load before its batch commits (earlier batches stay
//! committed, the one in flight included), unless `max_errors` allows skipping it, in which case
//! it goes to the rejects file.

use std::fs::File;
use std::io::Write;

use super::Loader;
use crate::IngestError;

impl Loader {
    /// Write a bad line to the rejects file; once `max_errors` are written, stop the load instead.
    pub(super) fn reject(
        &mut self,
        text: &str,
        location: String,
        reason: String,
    ) -> Result<(), IngestError> {
        if self.summary.rejects >= self.options.max_errors {
            // The batch holding the bad line is dropped: nothing of it commits.
            self.batch.clear();
            return Err(if self.options.max_errors == 0 {
                IngestError::BadEvent { location, reason }
            } else {
                IngestError::TooManyErrors {
                    location,
                    reason,
                    max_errors: self.options.max_errors,
                    rejects: self.options.rejects_path.display().to_string(),
                }
            });
        }
        let path = self.options.rejects_path.clone();
        let io = |source| IngestError::Io {
            path: path.clone(),
            source,
        };
        if self.rejects.is_none() {
            self.rejects = Some(File::create(&path).map_err(io)?);
            self.summary.rejects_path = Some(path.clone());
        }
        let record = serde_json::json!({ "location": location, "error": reason, "line": text });
        let file = self.rejects.as_mut().expect("opened above");
        writeln!(file, "{record}").map_err(io)?;
        self.summary.rejects += 1;
        Ok(())
    }
}
