//! Normalisation and loading against a real (in-memory) Delta warehouse: OpenLineage events in,
//! the public schema's rows out. One test binary (one link), a module per area.

mod common;

mod inputs;
mod loading;
mod merging;
mod ml_facets;
mod rejects;
mod standard_facets;
