//! Helpers shared by the end-to-end tests: run the `prov9` binary, start a server on a free port,
//! find outside clients (which may be missing on a laptop, never under CI).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn prov9() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prov9"));
    cmd.env_remove("PROV9_DATA").env("PROV9_LOG", "warn");
    cmd
}

/// Run `prov9 --data DATA ARGS...`.
pub fn run(data: &Path, args: &[&str]) -> Output {
    prov9()
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("prov9 runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `prov9 sql --format csv QUERY`, asserting success; the rows without the header.
pub fn sql_rows(data: &Path, query: &str) -> Vec<String> {
    let out = run(data, &["sql", "--format", "csv", query]);
    assert!(
        out.status.success(),
        "query failed: {query}\n{}",
        stderr(&out)
    );
    stdout(&out).lines().skip(1).map(str::to_string).collect()
}

/// The bundled demo pipeline's NDJSON file.
pub fn demo_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/ingest/demo/pipeline.ndjson")
}

/// An outside client is missing: fail under CI, skip loudly elsewhere. Returns true to skip.
pub fn missing_client(what: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!("{what} is required under CI=true but is not available");
    }
    // Straight to the terminal: `eprintln!` is captured by the test harness, and a skipped
    // test would show only as `ok`.
    let _ = writeln!(
        std::io::stderr().lock(),
        "\nSKIPPED: {what} is not available (install it, or run under CI=true to make this a failure)"
    );
    true
}

/// A `prov9 serve` process on a free loopback port, killed on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    /// The OpenLineage ingest endpoint's port.
    pub http_port: u16,
}

impl Server {
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        let mut child = prov9()
            .arg("--data")
            .arg(data)
            .args([
                "serve",
                "--pg-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("prov9 serve starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel::<(bool, u16)>();
        std::thread::spawn(move || {
            let port_after = |line: &str, prefix: &str| -> Option<u16> {
                let rest = line.split(prefix).nth(1)?;
                rest.split('/').next().and_then(|p| p.parse().ok())
            };
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = port_after(&line, "postgresql://127.0.0.1:") {
                    let _ = tx.send((true, port));
                }
                if let Some(port) = port_after(&line, "http://127.0.0.1:") {
                    let _ = tx.send((false, port));
                }
                eprintln!("[prov9 serve] {line}");
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let (mut port, mut http_port) = (None, None);
        while port.is_none() || http_port.is_none() {
            if let Ok((pg, p)) = rx.recv_timeout(Duration::from_millis(200)) {
                if pg {
                    port = Some(p);
                } else {
                    http_port = Some(p);
                }
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("prov9 serve exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "prov9 serve did not start in time"
            );
        }
        let (port, http_port) = (port.unwrap(), http_port.unwrap());
        Server {
            child,
            port,
            http_port,
        }
    }

    pub fn conn_str(&self) -> String {
        format!("host=127.0.0.1 port={} user=prov9 dbname=prov9", self.port)
    }

    /// SIGTERM: the server shuts down gracefully (folding in its live tail); waits for it.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("the server exits");
        assert!(
            exit.success(),
            "prov9 serve exited with {exit} after SIGTERM"
        );
    }

    /// SIGKILL this server, then start another on the same warehouse (new ports).
    pub fn kill_and_restart(&mut self, data: &Path, extra: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Server::start(data, extra);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file of a directory tree with its bytes, to prove nothing changed.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("readable file");
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A `prov9 serve` process on any address (`Server` expects loopback), whose stderr is kept, so
/// a test can stop it and read what it said; killed on drop.
pub struct ServeProcess {
    child: Child,
    /// The host of the banner's `postgresql://HOST:PORT/`, e.g. `0.0.0.0`.
    pub host: String,
    pub port: u16,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServeProcess {
    /// `prov9 --data DATA serve --http-listen 127.0.0.1:0 ARGS...`; ARGS give `--pg-listen`.
    pub fn start(data: &Path, args: &[&str]) -> ServeProcess {
        let mut child = prov9()
            .arg("--data")
            .arg(data)
            .args(["serve", "--http-listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("prov9 serve starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent
                    && let Some(rest) = line.split("postgresql://").nth(1)
                    && let Some((host, port)) =
                        rest.split('/').next().and_then(|a| a.rsplit_once(':'))
                {
                    let port: u16 = port.parse().expect("port in banner");
                    let _ = tx.send((host.to_string(), port));
                    sent = true;
                }
                eprintln!("[prov9 serve] {line}");
                let mut log = lines.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let (host, port) = loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(200)) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "prov9 serve exited early: {status}\n{}",
                    log.lock().expect("log lock")
                );
            }
            assert!(
                Instant::now() < deadline,
                "prov9 serve did not start in time"
            );
        };
        ServeProcess {
            child,
            host,
            port,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Wait up to `timeout` for the process to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader thread take in the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `prov9 --data DATA serve ARGS...` must refuse to start: asserts it exits non-zero within a
/// minute (a server that starts instead is killed, and the test fails), returns its stderr.
pub fn serve_must_fail(data: &Path, args: &[&str]) -> String {
    let mut child = prov9()
        .arg("--data")
        .arg(data)
        .arg("serve")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prov9 serve starts");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "prov9 serve {args:?} was expected to refuse to start, but it is still running:\n{}",
                reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().unwrap_or_default();
    assert!(
        !status.success(),
        "prov9 serve {args:?} was expected to fail, but exited with {status}:\n{text}"
    );
    text
}

/// The first column of a query's rows, asked of a running server over a new connection (what a
/// client sees right after an ingest request was answered).
pub fn server_rows(port: u16, query: &str) -> Vec<Option<String>> {
    server_query(port, query)
        .into_iter()
        .map(|row| row.into_iter().next().flatten())
        .collect()
}

pub fn server_query(port: u16, query: &str) -> Vec<Vec<Option<String>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = connect(port).await;
        let messages = client
            .simple_query(query)
            .await
            .unwrap_or_else(|e| panic!("{query}: {}", error_text(&e)));
        simple_rows(&messages)
    })
}

/// A client error with the server's SQLSTATE and message (`Display` says only "db error").
pub fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// A trusted connection to a server on loopback (its connection task spawned).
pub async fn connect(port: u16) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=prov9 dbname=prov9"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connects");
    tokio::spawn(connection);
    client
}

/// A query's rows asked of a running server, each as its columns joined by commas.
pub fn server_csv(port: u16, query: &str) -> Vec<String> {
    server_query(port, query)
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// The rows of a simple-protocol answer, as text.
pub fn simple_rows(messages: &[tokio_postgres::SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// One HTTP/1.1 request to the ingest endpoint over a plain socket: (status, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    try_http(port, method, path, headers, body).expect("the server answers")
}

/// [`http`], or why no answer came (refused, reset, cut short: a server being killed).
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn post(port: u16, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    http(port, "POST", "/api/v1/lineage", &all, body.as_bytes())
}

/// The whole app (both endpoints, one warehouse) started in this process on free loopback ports,
/// as roapi's tests do: no process to spawn or port to scrape, and a panic in the server fails
/// the test with its backtrace. It runs on a runtime of its own thread, so sync and async tests
/// alike can use it; dropping it shuts the app down gracefully and waits.
pub struct InProcess {
    pub port: u16,
    pub http_port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcess {
    /// Serve `data` (the demo pipeline loaded first with `demo`).
    pub fn start(data: &Path, demo: bool) -> InProcess {
        let mut config = prov9_cli::AppConfig::local(data.to_string_lossy());
        config.demo = demo;
        let (started, addresses) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(prov9_cli::THREAD_STACK_BYTES)
                .enable_all()
                .build()
                .expect("a runtime for the app");
            runtime.block_on(async move {
                let app = prov9_cli::App::start(config).await.expect("the app starts");
                started
                    .send((app.pg_addr.port(), app.http_addr.port()))
                    .expect("the test waits for the app");
                let _ = stopped.await;
                app.stop().await.expect("the app stops cleanly");
            });
        });
        let (port, http_port) = addresses
            .recv_timeout(Duration::from_secs(120))
            .expect("the app started in time");
        InProcess {
            port,
            http_port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn conn_str(&self) -> String {
        format!("host=127.0.0.1 port={} user=prov9 dbname=prov9", self.port)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
            && !std::thread::panicking()
        {
            panic!("the app panicked while stopping");
        }
    }
}

/// A throwaway PostgreSQL server (initdb in a temporary directory, trust auth, loopback, a free
/// port), stopped on drop; for producers that keep their state in PostgreSQL (MLflow).
pub struct TempPostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    /// The user the server runs as when the tests run as root (initdb refuses root).
    run_as: Option<String>,
    _dir: tempfile::TempDir,
}

impl TempPostgres {
    /// None (after [`missing_client`]) when no PostgreSQL server is installed.
    pub fn start() -> Option<TempPostgres> {
        Self::start_with(false)
    }

    /// A server that takes TLS connections only (`hostnossl … reject` in pg_hba.conf), its
    /// certificate made for `localhost` (not for 127.0.0.1) by a CA of its own, [`Self::ca_file`]
    /// (openssl makes both).
    pub fn start_tls_only() -> Option<TempPostgres> {
        Self::start_with(true)
    }

    /// The CA that signed a [`Self::start_tls_only`] server's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self._dir.path().join("ca.crt")
    }

    fn start_with(tls: bool) -> Option<TempPostgres> {
        let bin = std::env::var_os("PG_BIN")
            .map(PathBuf::from)
            .into_iter()
            .chain(
                std::fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path().join("bin")),
            )
            .find(|b| b.join("initdb").is_file());
        let Some(bin) = bin else {
            missing_client("a PostgreSQL server (apt-get install postgresql-15, or set PG_BIN)");
            return None;
        };
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let run_as = is_root.then(|| "postgres".to_string());
        let dir = tempfile::tempdir().unwrap();
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .args([user, &dir.path().display().to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "chown {user} (does the user exist?)");
        }
        let data = dir.path().join("data");
        let mut server = TempPostgres {
            port: 0,
            bin,
            data,
            run_as,
            _dir: dir,
        };
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(&server.data)
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .args(["--locale=C"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", stderr(&out));
        server.port = free_port();
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off",
            server.port,
            server._dir.path().display()
        );
        if tls {
            server.make_certificates();
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let out = server
            .command("pg_ctl")
            .arg("-D")
            .arg(&server.data)
            .arg("-l")
            .arg(server._dir.path().join("log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start: {}", stderr(&out));
        Some(server)
    }

    /// A CA, a certificate it signed for `localhost`, and a pg_hba.conf refusing plain TCP.
    fn make_certificates(&self) {
        let dir = self._dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl (apt-get install openssl)");
            assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=prov9 test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(dir.join("san.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.cnf",
            "-out",
            "server.crt",
        ]);
        std::fs::write(
            dir.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        // Into the data directory, owned by the server's user; the key readable by it alone.
        for (file, mode) in [
            ("server.crt", "644"),
            ("server.key", "600"),
            ("pg_hba.conf", "600"),
        ] {
            let mut install = Command::new("install");
            install.args(["-m", mode]);
            if let Some(user) = &self.run_as {
                install.args(["-o", user]);
            }
            let out = install
                .arg(dir.join(file))
                .arg(self.data.join(file))
                .output()
                .unwrap();
            assert!(out.status.success(), "install {file}: {}", stderr(&out));
        }
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres`.
    pub fn uri(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// A loopback port free right now (for servers that cannot bind port 0 themselves).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command-line tool installed in a virtualenv of its own (.ci/run): the path in `env_var`,
/// else `name` on PATH.
pub fn venv_tool(env_var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// PATH with the folder of `tool` first: a virtualenv's tool runs its siblings (`dbt-ol` runs
/// `dbt`, Airflow runs `airflow` and `python`) from PATH.
pub fn path_with_folder_of(tool: &Path) -> std::ffi::OsString {
    let folder = tool.parent().unwrap_or(Path::new("/")).to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(folder).chain(std::env::split_paths(&rest)))
        .expect("PATH entries hold no separator")
}

/// Copy a folder and everything under it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// SHA-256 hex of a key, with the `sha256sum` the README tells operators to use.
pub fn sha256_hex(key: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(key.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    stdout(&out).split_whitespace().next().unwrap().to_string()
}
