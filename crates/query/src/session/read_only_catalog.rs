//! A view of the catalog that cannot be changed: what every connection sees.
//!
//! The catalog (tables, views, `pg_catalog`) is shared by all connections. Wrapping it here means
//! that even a DDL statement that slipped past a front end's statement checks (`CREATE VIEW`,
//! `CREATE EXTERNAL TABLE`, `DROP TABLE`) fails instead of changing what others see.

use std::sync::Arc;

use crate::ReadOnlyViolation;
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::TableType;

fn refuse(what: &str) -> DataFusionError {
    DataFusionError::External(Box::new(ReadOnlyViolation(what.to_string())))
}

#[derive(Debug)]
pub struct ReadOnlyCatalogList(pub Arc<dyn CatalogProviderList>);

impl CatalogProviderList for ReadOnlyCatalogList {
    fn register_catalog(
        &self,
        name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // This trait method cannot fail; refusing means not registering.
        tracing::warn!(catalog = %name, "refused to register a catalog through SQL");
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.0.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        self.0
            .catalog(name)
            .map(|c| Arc::new(ReadOnlyCatalog(c)) as Arc<dyn CatalogProvider>)
    }
}

#[derive(Debug)]
struct ReadOnlyCatalog(Arc<dyn CatalogProvider>);

impl CatalogProvider for ReadOnlyCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.0.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.0
            .schema(name)
            .map(|s| Arc::new(ReadOnlySchema(s)) as Arc<dyn SchemaProvider>)
    }

    fn register_schema(
        &self,
        name: &str,
        _schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(refuse(&format!("CREATE SCHEMA {name}")))
    }

    fn deregister_schema(
        &self,
        name: &str,
        _cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        Err(refuse(&format!("DROP SCHEMA {name}")))
    }
}

#[derive(Debug)]
struct ReadOnlySchema(Arc<dyn SchemaProvider>);

#[async_trait]
impl SchemaProvider for ReadOnlySchema {
    fn owner_name(&self) -> Option<&str> {
        self.0.owner_name()
    }

    fn table_names(&self) -> Vec<String> {
        self.0.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.0.table(name).await
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        self.0.table_type(name).await
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(refuse(&format!("CREATE {name}")))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Err(refuse(&format!("DROP {name}")))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.table_exist(name)
    }
}
