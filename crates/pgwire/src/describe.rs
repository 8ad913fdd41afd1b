//! The plans `Describe` sees for statements DataFusion cannot plan: they carry the statement
//! to execution, where its family answers it, and tell the client its result's columns.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};

/// No columns: the statement answers with a command tag.
pub(crate) fn empty_plan() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
}

/// One text column named `column`: what a `SHOW` answers.
pub(crate) fn text_column_plan(column: &str) -> PgWireResult<LogicalPlan> {
    let schema = DFSchema::try_from(Schema::new(vec![Field::new(column, DataType::Utf8, true)]))
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(schema),
    }))
}
