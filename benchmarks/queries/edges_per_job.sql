-- Lineage edges recorded per job.
SELECT j.namespace, j.name, count(*) AS edges
FROM lineage_edges e
JOIN runs r ON r.run_id = e.run_id
JOIN jobs j ON j.job_id = r.job_id
GROUP BY j.namespace, j.name
