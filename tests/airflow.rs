//! A real Airflow 3 (scheduler, DAG processor and API server, LocalExecutor, SQLite) with the
//! OpenLineage provider runs tests/airflow/dags/shop.py and sends its events to `prov9 serve`
//! over HTTP, as a deployment would. What Airflow says lands in columns: the DAG and task job
//! types, owners and tags, the task runs under their DAG run (`parent` edges, `root_run_id`), the
//! failed task with its message, the output it declared but never wrote, and lineage from the
//! raw file to the daily table.
//!
//! Airflow comes from `AIRFLOW_BIN` (a path) or PATH; .ci/run installs it into a virtualenv.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// One Airflow installation in a temporary home, its components stopped on drop.
struct Airflow {
    bin: PathBuf,
    home: PathBuf,
    env: Vec<(String, String)>,
    components: Vec<Child>,
}

impl Airflow {
    fn new(bin: PathBuf, home: &Path, prov9_http_port: u16) -> Airflow {
        let dags = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/airflow/dags");
        let api_port = free_port();
        let transport = format!(
            r#"{{"type": "http", "url": "http://127.0.0.1:{prov9_http_port}", "endpoint": "api/v1/lineage"}}"#
        );
        let env = [
            (
                "PATH",
                path_with_folder_of(&bin).to_string_lossy().into_owned(),
            ),
            ("AIRFLOW_HOME", home.to_string_lossy().into_owned()),
            (
                "AIRFLOW__CORE__DAGS_FOLDER",
                dags.to_string_lossy().into_owned(),
            ),
            ("AIRFLOW__CORE__LOAD_EXAMPLES", "False".into()),
            ("AIRFLOW__CORE__EXECUTOR", "LocalExecutor".into()),
            ("AIRFLOW__API__PORT", api_port.to_string()),
            (
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                format!("http://127.0.0.1:{api_port}/execution/"),
            ),
            (
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
                free_port().to_string(),
            ),
            ("AIRFLOW__OPENLINEAGE__TRANSPORT", transport),
            ("AIRFLOW__OPENLINEAGE__NAMESPACE", "airflow-test".into()),
        ]
        .map(|(k, v)| (k.to_string(), v));
        Airflow {
            bin,
            home: home.to_path_buf(),
            env: env.to_vec(),
            components: Vec::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Run an `airflow` command to its end, asserting success; its stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("airflow runs");
        assert!(
            out.status.success(),
            "airflow {args:?}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    fn start(&mut self, component: &str) {
        let log = std::fs::File::create(self.home.join(format!("{component}.log"))).unwrap();
        let child = self
            .command(&[component])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("an airflow component starts");
        self.components.push(child);
    }

    fn logs(&self) -> String {
        ["scheduler", "dag-processor", "api-server"]
            .iter()
            .map(|c| {
                let text =
                    std::fs::read_to_string(self.home.join(format!("{c}.log"))).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                format!(
                    "--- {c} (last lines)\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Airflow {
    fn drop(&mut self) {
        // SIGTERM first: the scheduler stops its LocalExecutor workers on the way out.
        for child in &self.components {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for child in &mut self.components {
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Poll `check` until it returns `Some`, or fail with `what` and the Airflow logs.
fn wait_for<T>(airflow: &Airflow, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            airflow.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn an_airflow_dag_run_under_the_scheduler() {
    let Some(bin) = venv_tool("AIRFLOW_BIN", "airflow") else {
        assert!(missing_client(
            "Airflow (pip install -r tests/airflow/requirements.txt)"
        ));
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("wh"), &[]);
    let home = dir.path().join("airflow");
    std::fs::create_dir_all(&home).unwrap();
    let mut airflow = Airflow::new(bin, &home, server.http_port);
    airflow.run(&["db", "migrate"]);
    for component in ["api-server", "scheduler", "dag-processor"] {
        airflow.start(component);
    }
    wait_for(&airflow, "the DAG to be parsed", || {
        let out = airflow
            .command(&["dags", "list", "-o", "plain"])
            .output()
            .ok()?;
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("shop"))
            .then_some(())
    });
    airflow.run(&["dags", "unpause", "shop"]);
    airflow.run(&["dags", "trigger", "shop"]);
    // One task fails on purpose, so the DAG run fails; its FAIL event comes from the scheduler
    // last of all.
    wait_for(&airflow, "the DAG run's end in prov9", || {
        let state = server_csv(
            server.port,
            "SELECT r.state FROM runs r JOIN jobs j USING (job_id) WHERE j.name = 'shop'",
        );
        (state == ["FAIL"]).then_some(())
    });
    drop(airflow);

    let rows = |q: &str| server_csv(server.port, q);
    assert_eq!(
        rows(
            "SELECT integration, integration_job_type, processing_type, count(*) FROM jobs \
              GROUP BY 1, 2, 3 ORDER BY 2"
        ),
        ["AIRFLOW,DAG,BATCH,1", "AIRFLOW,TASK,BATCH,3"]
    );
    let extract = rows("SELECT owners, tags FROM jobs WHERE name = 'shop.extract'").remove(0);
    assert!(
        extract.contains("data-team") && extract.contains(r#""key":"shop""#),
        "{extract}"
    );
    assert_eq!(
        rows(
            "SELECT j.name, r.state, r.error_message FROM runs r JOIN jobs j USING (job_id) \
              ORDER BY j.name"
        ),
        [
            "shop,FAIL,task_failure".to_string(),
            "shop.aggregate,COMPLETE,".to_string(),
            "shop.extract,COMPLETE,".to_string(),
            "shop.refunds,FAIL,refunds: upstream schema changed".to_string(),
        ]
    );
    // Every task run sits under the DAG run.
    let dag_run =
        rows("SELECT r.run_id FROM runs r JOIN jobs j USING (job_id) WHERE j.name = 'shop'")
            .remove(0);
    assert_eq!(
        rows(
            "SELECT count(*) FROM runs WHERE parent_run_id = root_run_id AND root_run_id IS NOT NULL"
        ),
        ["3"]
    );
    assert_eq!(
        rows(&format!(
            "SELECT count(*) FROM lineage_edges WHERE edge_type = 'parent' AND src = '{dag_run}'"
        )),
        ["3"]
    );
    // The failed task's output is a known dataset, never written.
    assert_eq!(
        rows(
            "SELECT d.name, count(v.version_id) FROM datasets d \
              LEFT JOIN dataset_versions v USING (dataset_id) \
              WHERE d.name LIKE '/data/marts/%' GROUP BY 1 ORDER BY 1"
        ),
        [
            "/data/marts/orders_daily.parquet,1",
            "/data/marts/refunds.parquet,0"
        ]
    );
    // The raw file reaches the daily table.
    let reached = rows(
        "SELECT n.name FROM lineage_downstream('dataset:file:/data/raw/orders.csv@unversioned') d \
         JOIN lineage_nodes n ON n.node_id = d.node WHERE n.kind = 'dataset_version' ORDER BY n.name",
    );
    assert_eq!(
        reached,
        [
            "/data/marts/orders_daily.parquet",
            "/data/staging/orders.parquet"
        ]
    );
}
