-- lineage_nodes: every node that appears in lineage_edges, with readable names.
--   node_id    the id used in lineage_edges.src / dst
--   kind       dataset_version | run | model_version | deployment
--   namespace  dataset / job / model namespace; the environment for a deployment
--   name       dataset / job / model name; the deployment target for a deployment
--   version    the dataset version (the producer's version facet, else the producing run's id,
--              else 'unversioned'), the model version; NULL for runs and deployments
--   created_at when the version was created, the run started (or ended), the deployment happened
CREATE VIEW lineage_nodes AS
WITH node_ids AS (
    SELECT src AS node_id FROM lineage_edges
    UNION
    SELECT dst AS node_id FROM lineage_edges
)
SELECT v.version_id AS node_id, 'dataset_version' AS kind, d.namespace, d.name, v.version, v.created_at
FROM dataset_versions v JOIN datasets d ON d.dataset_id = v.dataset_id
WHERE v.version_id IN (SELECT node_id FROM node_ids)
UNION ALL
SELECT r.run_id, 'run', j.namespace, j.name, CAST(NULL AS VARCHAR), COALESCE(r.started_at, r.ended_at)
FROM runs r JOIN jobs j ON j.job_id = r.job_id
WHERE r.run_id IN (SELECT node_id FROM node_ids)
UNION ALL
SELECT m.version_id, 'model_version', m.namespace, m.name, m.version, m.created_at
FROM model_versions m
WHERE m.version_id IN (SELECT node_id FROM node_ids)
UNION ALL
SELECT p.deployment_id, 'deployment', p.environment, p.target, CAST(NULL AS VARCHAR), p.deployed_at
FROM deployments p
WHERE p.deployment_id IN (SELECT node_id FROM node_ids)
