//! Fast lineage: an in-memory index of `lineage_edges` ([`LineageIndex`]) shared by all
//! sessions, and what answers from it: the `lineage_upstream`, `lineage_downstream` and
//! `lineage_path` table functions, and users' own `WITH RECURSIVE` over `lineage_edges`
//! ([`IndexedRecursion`], which answers a plain closure with one traversal).

mod call_exec;
mod closure;
mod edges_table;
mod frontier;
mod functions;
mod graph;
mod index;
mod recursion;
mod single_partition;

pub use call_exec::LineageCallExec;
pub use edges_table::{EdgesFromIndex, IndexedEdgesTable};
pub use functions::{LineageFunction, Traversal, is_lineage_call};
pub use graph::{Direction, Graph};
pub use index::LineageIndex;
pub use recursion::IndexedRecursion;
pub use single_partition::LineageCallsInOnePartition;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning};
use datafusion::physical_plan::PlanProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};

/// The properties of a plan answered from the index: one partition, bounded, no known order.
fn one_partition(schema: SchemaRef, emission: EmissionType) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(1),
        emission,
        Boundedness::Bounded,
    ))
}
