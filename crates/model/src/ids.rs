//! Readable node ids, in Marquez's style.
//!
//! | node | id |
//! |---|---|
//! | job | `job:<namespace>:<name>` |
//! | run | `run:<runId>` |
//! | dataset | `dataset:<namespace>:<name>` |
//! | dataset version | `dataset:<namespace>:<name>@<version>` |
//! | model | `model:<namespace>:<name>` |
//! | model version | `model:<namespace>:<name>@<version>` |
//! | deployment | `deployment:<environment>:<model name>@<runId>` |
//!
//! Ids are for reading and joining, never parsed back: namespaces may themselves contain `:`
//! (`postgres://db:5432`), so the parts live in their own columns (see `lineage_nodes`).

pub fn job_id(namespace: &str, name: &str) -> String {
    format!("job:{namespace}:{name}")
}

pub fn run_id(run_uuid: &str) -> String {
    format!("run:{run_uuid}")
}

pub fn dataset_id(namespace: &str, name: &str) -> String {
    format!("dataset:{namespace}:{name}")
}

/// A version of a dataset or model: `<entity id>@<version>`.
pub fn version_id(entity_id: &str, version: &str) -> String {
    format!("{entity_id}@{version}")
}

pub fn model_id(namespace: &str, name: &str) -> String {
    format!("model:{namespace}:{name}")
}

pub fn deployment_id(environment: &str, model_name: &str, run_uuid: &str) -> String {
    format!("deployment:{environment}:{model_name}@{run_uuid}")
}

/// The version an input gets when no producer ever gave the dataset one: a single
/// node per dataset standing for "the data as it existed before prov9 saw it being written".
pub const UNVERSIONED: &str = "unversioned";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_readable() {
        assert_eq!(
            version_id(&dataset_id("s3://lake", "raw/clicks"), "v3"),
            "dataset:s3://lake:raw/clicks@v3"
        );
        assert_eq!(run_id("0190"), "run:0190");
        assert_eq!(
            version_id(&model_id("ml", "churn"), "7"),
            "model:ml:churn@7"
        );
        assert_eq!(
            deployment_id("prod", "churn", "r1"),
            "deployment:prod:churn@r1"
        );
    }
}
