//! `sql/schema.sql` documents the public schema; this keeps it true to the code.

use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use prov9_model::tables::{TABLE_NAMES, schema_of};

fn family(dt: &DataType) -> &'static str {
    match dt {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "text",
        DataType::Int64 => "bigint",
        DataType::Float64 => "double",
        DataType::Timestamp(..) => "timestamp",
        DataType::List(_) | DataType::LargeList(_) => "list",
        _ => "other",
    }
}

#[tokio::test]
async fn schema_sql_matches_the_tables() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql/schema.sql"))
            .unwrap();
    let ctx = SessionContext::new();
    let code: String = text
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    for statement in code.split(';').filter(|s| s.contains("CREATE TABLE")) {
        ctx.sql(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    for name in TABLE_NAMES {
        let documented = ctx
            .table(name)
            .await
            .unwrap_or_else(|_| panic!("{name} is not documented in sql/schema.sql"));
        let documented = documented.schema().as_arrow().clone();
        let actual = schema_of(name).unwrap();
        let doc: Vec<(String, &str, bool)> = documented
            .fields()
            .iter()
            .map(|f| (f.name().clone(), family(f.data_type()), f.is_nullable()))
            .collect();
        let code: Vec<(String, &str, bool)> = actual
            .fields()
            .iter()
            .map(|f| (f.name().clone(), family(f.data_type()), f.is_nullable()))
            .collect();
        assert_eq!(
            doc, code,
            "sql/schema.sql disagrees with the code on {name}"
        );
    }
}
