-- Point lookup of one run by id; the driver runs it for many ids, prepared once.
SELECT * FROM runs WHERE run_id = $1
