//! The bookkeeping every table family shares: insert-only rows go straight into the
//! [`Changes`], deduplicated by key; mutable rows are only marked as changed, by id, and copied
//! from the state once, when the batch is finished.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};

use super::Normalizer;
use crate::changes::Changes;
use crate::keys::Keyed;

/// The mutable rows a batch changed, by id: their rows are copied from the state once, at the
/// end, however many events of the batch changed them (a run's START and COMPLETE both do).
#[derive(Default)]
pub(super) struct ChangedIds {
    pub(super) jobs: HashSet<String>,
    pub(super) runs: HashSet<String>,
    pub(super) datasets: HashSet<String>,
    pub(super) versions: HashSet<String>,
    pub(super) models: HashSet<String>,
}

pub(super) fn mark_changed(ids: &mut HashSet<String>, id: &str) {
    if !ids.contains(id) {
        ids.insert(id.to_string());
    }
}

/// The rows of `ids` as they are now, in id order.
pub(super) fn rows_of<R: Clone>(
    ids: HashSet<String>,
    state: &HashMap<String, R>,
) -> BTreeMap<String, R> {
    ids.into_iter()
        .map(|id| {
            let row = state[&id].clone();
            (id, row)
        })
        .collect()
}

impl Normalizer<'_> {
    /// Add an insert-only row unless a row with its key is stored or pending.
    pub(super) fn insert<R: Keyed>(
        &mut self,
        table: &'static str,
        row: R,
        list: fn(&mut Changes) -> &mut Vec<R>,
    ) {
        if self.state.insert_key(table, row.key()) {
            list(&mut self.changes).push(row);
        }
    }
}

/// Whether an event sends a value the stored row lacks or holds otherwise (the last sent wins).
pub(super) fn sends_news<T: PartialEq>(seen: &Option<T>, stored: &Option<T>) -> bool {
    seen.is_some() && seen != stored
}

/// Whether an event sends a value the stored row lacks (the first sent stays).
pub(super) fn fills_gap<T>(seen: &Option<T>, stored: &Option<T>) -> bool {
    seen.is_some() && stored.is_none()
}

/// Take into `$merged` (an `Option` of the row: a copy of `$stored`, made at the first change,
/// so that the many events that change nothing copy nothing) each listed field of `$seen` (the
/// event's view of the row) for which `$takes(seen, stored)` holds.
macro_rules! take_fields {
    ($merged:ident, $stored:expr, $seen:ident, $takes:path; $($field:ident),+ $(,)?) => {
        $(
            if $takes(&$seen.$field, &$stored.$field) {
                $merged.get_or_insert_with(|| $stored.clone()).$field = $seen.$field;
            }
        )+
    };
}
pub(super) use take_fields;
