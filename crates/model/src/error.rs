//! Errors of the model crate.

/// Why an event or a row could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The text is not JSON at all.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is not an OpenLineage event, or a field has the wrong shape.
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    /// A RecordBatch read back from storage does not have the expected columns.
    #[error("table {table}: {reason}")]
    Schema { table: &'static str, reason: String },
}

impl ModelError {
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ModelError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
