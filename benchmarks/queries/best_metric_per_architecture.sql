-- The best evaluation AUC per model architecture, over every evaluation run.
SELECT mv.architecture, count(*) AS evaluations, max(m.value) AS best_auc, avg(m.value) AS mean_auc
FROM metrics m JOIN model_versions mv ON mv.version_id = m.model_version_id
WHERE m.key = 'auc'
GROUP BY mv.architecture
