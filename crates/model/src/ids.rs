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
//! Ids are for reading and joining, not parsed back: namespaces may themselves contain `:`
//! (`postgres://db:5432`), so the parts live in their own columns (see `lineage_nodes`). The one
//! exception is [`version_owner`], which answers only when the answer is unambiguous.

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

/// The dataset or model a version id (from [`version_id`]) belongs to, when the id holds
/// exactly one `@`: then it is the separator. `None` when a name or version holds an `@` of its
/// own; look the owner up instead.
pub fn version_owner(version_id: &str) -> Option<&str> {
    let (owner, version) = version_id.split_once('@')?;
    (!version.contains('@')).then_some(owner)
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

    #[test]
    fn a_version_names_its_owner_only_when_unambiguous() {
        let lake = dataset_id("postgres://db:5432", "public.clicks");
        assert_eq!(version_owner(&version_id(&lake, "v3")), Some(lake.as_str()));
        let model = model_id("ml", "churn");
        assert_eq!(
            version_owner(&version_id(&model, "7")),
            Some(model.as_str())
        );
        // An `@` in the name or in the version: which `@` separates is unknowable.
        let at_name = dataset_id("s3://lake", "user@corp/clicks");
        assert_eq!(version_owner(&version_id(&at_name, "v3")), None);
        assert_eq!(version_owner(&version_id(&lake, "sha@1")), None);
        assert_eq!(version_owner(&lake), None);
    }
}
