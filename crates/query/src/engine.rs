//! The session: tables, functions, views.

use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::TableProvider;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use prov9_model::tables::{LineageEdgeRow, TABLE_NAMES};
use prov9_store::Warehouse;

use crate::lineage::{
    EdgesFromIndex, IndexedEdgesTable, IndexedRecursion, LineageCallsInOnePartition,
    LineageFunction, LineageIndex, Traversal,
};
use crate::session::SnapshotPlanner;
use crate::{KeySet, Prov9Options, QueryError, check_read_only};

/// The views created at start, in order: (file name, SQL).
pub const VIEWS: &[(&str, &str)] = &[(
    "lineage_nodes.sql",
    include_str!("../../../sql/views/lineage_nodes.sql"),
)];

/// A query engine over one warehouse.
#[derive(Clone)]
pub struct Engine {
    ctx: Arc<SessionContext>,
    lineage: Arc<LineageIndex>,
}

impl Engine {
    /// A session with every table, the JSON functions and the views.
    pub async fn new(warehouse: &Warehouse) -> Result<Self, QueryError> {
        Self::with_config(warehouse, SessionConfig::new()).await
    }

    /// As [`Engine::new`], answering as the warehouse was at `as_of` (see `prov9.as_of`).
    pub async fn as_of(warehouse: &Warehouse, as_of: &str) -> Result<Self, QueryError> {
        let as_of = crate::resolve_time(as_of).map_err(QueryError::InvalidSetting)?;
        let options = Prov9Options {
            as_of: Some(as_of),
            ..Prov9Options::default()
        };
        let mut config = SessionConfig::new();
        config.options_mut().extensions.insert(options);
        Self::with_config(warehouse, config).await
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
        if config.options().extensions.get::<Prov9Options>().is_none() {
            config
                .options_mut()
                .extensions
                .insert(Prov9Options::default());
        }
        // The index fills on first use; `serve` warms it at start.
        let lineage = Arc::new(LineageIndex::new(warehouse.clone()));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_optimizer_rule(Arc::new(EdgesFromIndex))
            .with_physical_optimizer_rule(Arc::new(IndexedRecursion))
            .with_physical_optimizer_rule(Arc::new(LineageCallsInOnePartition))
            .with_query_planner(Arc::new(SnapshotPlanner::new(warehouse.clone())))
            .build();
        let mut ctx = SessionContext::new_with_state(state);
        for name in TABLE_NAMES {
            let table: Arc<dyn TableProvider> = Arc::new(warehouse.live_table(name).await?);
            let table: Arc<dyn TableProvider> = if name == LineageEdgeRow::NAME {
                Arc::new(IndexedEdgesTable {
                    inner: table,
                    index: lineage.clone(),
                    from_index: false,
                })
            } else {
                table
            };
            ctx.register_table(name, table)?;
        }
        ctx.register_table(
            crate::commits_table::NAME,
            Arc::new(crate::commits_table::CommitsTable::new(warehouse.clone())),
        )?;
        datafusion_functions_json::register_all(&mut ctx)?;
        for traversal in [Traversal::Upstream, Traversal::Downstream, Traversal::Path] {
            ctx.register_udtf(
                traversal.name(),
                Arc::new(LineageFunction {
                    index: lineage.clone(),
                    traversal,
                }),
            );
        }
        for (file, sql) in VIEWS {
            ctx.sql(sql)
                .await
                .map_err(|source| QueryError::View { file, source })?;
        }
        Ok(Engine {
            ctx: Arc::new(ctx),
            lineage,
        })
    }

    pub fn context(&self) -> &Arc<SessionContext> {
        &self.ctx
    }

    /// The lineage index behind the lineage table functions, shared by every session.
    pub fn lineage_index(&self) -> &Arc<LineageIndex> {
        &self.lineage
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

    /// `keys` to look up in `table`, weighed against its rows, which are counted (from the
    /// table's statistics, about a millisecond) only when there are more keys than are always
    /// looked up.
    pub async fn key_set<'a>(
        &self,
        table: &str,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<KeySet, QueryError> {
        let keys: Vec<&str> = keys.into_iter().collect();
        let rows = match keys.len() <= crate::ALWAYS_LOOKED_UP {
            true => 0,
            false => self.row_count(table).await?,
        };
        Ok(KeySet::new(keys, rows))
    }

    /// `SELECT count(*)` of a table or relation.
    async fn row_count(&self, table: &str) -> Result<usize, QueryError> {
        let (_, batches) = self
            .query(&format!("SELECT count(*) AS n FROM {table}"))
            .await?;
        let count = batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .and_then(|b| {
                arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Int64).ok()
            })
            .map(|n| n.as_primitive::<arrow::datatypes::Int64Type>().value(0))
            .unwrap_or(0);
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// [`Engine::query`] of `sql`, which restricts `key_column` by `keys.condition(…)`; only the
    /// rows whose `key_column` is one of `keys`.
    pub async fn query_keys(
        &self,
        sql: &str,
        keys: &KeySet,
        key_column: &str,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let (schema, batches) = self.query(sql).await?;
        Ok((schema, keys.retain(batches, key_column)?))
    }
}
