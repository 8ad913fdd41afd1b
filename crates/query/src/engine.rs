//! The session: tables, functions, views.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use prov9_model::tables::TABLE_NAMES;
use prov9_store::Warehouse;

use crate::{QueryError, check_read_only};

/// The views created at start, in order: (file name, SQL).
pub const VIEWS: &[(&str, &str)] = &[(
    "lineage_nodes.sql",
    include_str!("../../../sql/views/lineage_nodes.sql"),
)];

/// A query engine over one warehouse.
#[derive(Clone)]
pub struct Engine {
    ctx: Arc<SessionContext>,
}

impl Engine {
    /// A session with every table, the JSON functions and the views.
    pub async fn new(warehouse: &Warehouse) -> Result<Self, QueryError> {
        Self::with_config(warehouse, SessionConfig::new()).await
    }

    /// As [`Engine::new`], on a caller's configuration (the server adds its own settings).
    pub async fn with_config(
        warehouse: &Warehouse,
        config: SessionConfig,
    ) -> Result<Self, QueryError> {
        let mut config = config
            .with_information_schema(true)
            .with_default_catalog_and_schema("datafusion", "public");
        // Every timestamp is stored in UTC; this makes `::timestamptz` and
        // `TIMESTAMP WITH TIME ZONE` casts carry a zone too, as clients expect.
        config.options_mut().execution.time_zone = Some("UTC".to_string());
        let mut ctx = SessionContext::new_with_config(config);
        for name in TABLE_NAMES {
            ctx.register_table(name, Arc::new(warehouse.live_table(name).await?))?;
        }
        datafusion_functions_json::register_all(&mut ctx)?;
        for (file, sql) in VIEWS {
            ctx.sql(sql)
                .await
                .map_err(|source| QueryError::View { file, source })?;
        }
        Ok(Engine { ctx: Arc::new(ctx) })
    }

    pub fn context(&self) -> &Arc<SessionContext> {
        &self.ctx
    }

    /// Run one read-only query and collect its result.
    pub async fn query(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let plan = self.ctx.state().create_logical_plan(sql).await?;
        check_read_only(&plan)?;
        let df = self.ctx.execute_logical_plan(plan).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok((schema, batches))
    }
}
