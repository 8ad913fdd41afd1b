//! Marquez has no models; prov9 shows each model as a dataset of the same namespace and name
//! (`dataset:<ns>:<name>` for `model:<ns>:<name>`), and its versions as the dataset's versions,
//! each created by its training run. The dataset routes, the lineage graph and search read these
//! two relations instead of `datasets` and `dataset_versions`, so a model node the UI draws can
//! be opened like any dataset.

/// `datasets` and the models: dataset_id, namespace, name, source_uri, description, tags.
pub(crate) const DATASETS: &str = "(SELECT dataset_id, namespace, name, source_uri, description, tags \
     FROM datasets \
     UNION ALL \
     SELECT DISTINCT concat('dataset:', substr(model_id, 7)) AS dataset_id, namespace, name, \
     'model' AS source_uri, 'a model (prov9 model_versions)' AS description, \
     CAST(NULL AS VARCHAR) AS tags FROM model_versions)";

/// `dataset_versions` and the model versions: version_id, dataset_id, version, schema,
/// created_at, created_by_run.
pub(crate) const VERSIONS: &str = "(SELECT version_id, dataset_id, version, schema, created_at, created_by_run \
     FROM dataset_versions \
     UNION ALL \
     SELECT version_id, concat('dataset:', substr(model_id, 7)) AS dataset_id, version, \
     CAST(NULL AS VARCHAR) AS schema, created_at, training_run_id AS created_by_run \
     FROM model_versions)";
