//! The scan of a lookup by primary key: [`key_values`] recognises `key = '…'` or
//! `key IN ('…', …)` among a scan's filters, and [`KeyLookupExec`] reads those rows through the
//! table's [`KeyIndex`]. The index returns exactly the rows with those keys, so such filters
//! are pushed down as exact ([`pins_key`]) and the plan is the lookup alone.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, Operator};
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::TryStreamExt;

use crate::key_index::KeyIndex;

/// The keys a scan's filters pin `column` to, if one filter does: those every such filter
/// allows (none when one compares the key with NULL).
pub(crate) fn key_values(filters: &[Expr], column: &str) -> Option<Vec<String>> {
    filters
        .iter()
        .filter_map(|filter| pinned(filter, column))
        .map(|values| values.into_iter().flatten().collect::<Vec<String>>())
        .reduce(|mut allowed, values| {
            allowed.retain(|k| values.contains(k));
            allowed
        })
        .map(|mut keys| {
            keys.sort();
            keys.dedup();
            keys
        })
}

/// Whether the lookup answers `filter` exactly, so the query need not apply it again.
pub(crate) fn pins_key(filter: &Expr, column: &str) -> bool {
    pinned(filter, column).is_some()
}

/// The values `filter` allows `column` (`None` for NULL), when it allows no others:
/// `key = 'a'`, `key IN ('a', 'b')`, or `key = 'a' OR key = 'b'` (what DataFusion makes of a
/// short IN list).
fn pinned(filter: &Expr, column: &str) -> Option<Vec<Option<String>>> {
    match filter {
        Expr::BinaryExpr(b) if b.op == Operator::Eq => {
            let (value, other) = if is_column(&b.left, column) {
                (&b.right, &b.left)
            } else {
                (&b.left, &b.right)
            };
            is_column(other, column)
                .then(|| text_literal(value))
                .flatten()
                .map(|v| vec![v])
        }
        Expr::BinaryExpr(b) if b.op == Operator::Or => {
            let mut values = pinned(&b.left, column)?;
            values.extend(pinned(&b.right, column)?);
            Some(values)
        }
        Expr::InList(list) if !list.negated && is_column(&list.expr, column) => {
            list.list.iter().map(text_literal).collect()
        }
        // What DataFusion folds `key = NULL` (or `key IN (NULL)`) into after it was pushed here
        // as a key filter: it allows no key, and the scan must answer nothing, not everything.
        Expr::Literal(ScalarValue::Boolean(None | Some(false)), _) => Some(Vec::new()),
        _ => None,
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// `expr` is the column itself, possibly cast to another text type.
fn is_column(expr: &Expr, column: &str) -> bool {
    match expr {
        Expr::Column(c) => c.name == column,
        Expr::Cast(c) if is_text(c.field.data_type()) => is_column(&c.expr, column),
        _ => false,
    }
}

/// A text literal (`Some(None)` for NULL), possibly cast to another text type.
fn text_literal(expr: &Expr) -> Option<Option<String>> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(v) | ScalarValue::Utf8View(v) | ScalarValue::LargeUtf8(v),
            _,
        ) => Some(v.clone()),
        Expr::Literal(ScalarValue::Null, _) => Some(None),
        Expr::Cast(c) if is_text(c.field.data_type()) => text_literal(&c.expr),
        _ => None,
    }
}

/// The rows holding some keys, read through the key index.
pub(crate) struct KeyLookupExec {
    index: Arc<KeyIndex>,
    keys: Vec<String>,
    /// The table version read (`None`: the newest).
    version: Option<i64>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for KeyLookupExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLookupExec")
            .field("table", &self.index.table())
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl KeyLookupExec {
    pub(crate) fn new(
        index: Arc<KeyIndex>,
        keys: Vec<String>,
        schema: SchemaRef,
        version: Option<i64>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        KeyLookupExec {
            index,
            keys,
            version,
            properties,
        }
    }
}

impl DisplayAs for KeyLookupExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "KeyLookupExec: {}.{} in {} key(s)",
            self.index.table(),
            self.index.column(),
            self.keys.len()
        )
    }
}

impl ExecutionPlan for KeyLookupExec {
    fn name(&self) -> &str {
        "KeyLookupExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let (index, keys, schema) = (Arc::clone(&self.index), self.keys.clone(), self.schema());
        let version = self.version;
        let rows = futures::stream::once(async move {
            let batches = index
                .lookup(&keys, schema, version)
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            Ok::<_, DataFusionError>(futures::stream::iter(batches.into_iter().map(Ok)))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), rows)))
    }
}
