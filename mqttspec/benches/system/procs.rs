//! The processes a run starts (the echo floor, quickstarts) and stops by their pid, free loopback
//! ports, resident memory from `/proc`, and the PostgreSQL databases of the run.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;

/// A child process of this run, killed when dropped.
pub struct Child {
    /// What it is.
    pub name: String,
    /// Its MQTT port.
    pub port: u16,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    process: std::process::Child,
}

impl Child {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn spawn(name: &str, mut command: Command, port: u16, log: PathBuf) -> Child {
    let out = File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let process = command
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot start {:?}: {e}", command.get_program()));
    Child { name: name.to_owned(), port, log, process }
}

/// The echo floor: this benchmark binary with `--echo-floor PORT`.
pub fn start_floor(dir: &Path) -> Child {
    let port = free_port();
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command.arg("--echo-floor").arg(port.to_string());
    spawn("echo floor", command, port, dir.join("floor.log"))
}

/// The quickstart as users start it, on `database_url`, with `RUST_LOG` set or (None) unset.
pub fn start_quickstart(binary: &Path, dir: &Path, name: &str, database_url: &str, rust_log: Option<&str>) -> Child {
    let port = free_port();
    let mut command = Command::new(binary);
    command.args(["--port", &port.to_string(), "--database-url", database_url]);
    match rust_log {
        Some(level) => command.env("RUST_LOG", level),
        None => command.env_remove("RUST_LOG"),
    };
    let log = dir.join(format!("{}.log", name.replace([' ', ',', '='], "_")));
    spawn(name, command, port, log)
}

/// Waits until `child` accepts TCP connections (at most `deadline`); panics with its log if it exits.
pub async fn wait_listening(child: &mut Child, deadline: Duration) {
    let until = Instant::now() + deadline;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", child.port)).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.process.try_wait() {
            let log = std::fs::read_to_string(&child.log).unwrap_or_default();
            panic!("{} exited ({status}) before listening:\n{log}", child.name);
        }
        assert!(Instant::now() < until, "{} not listening on {} after {deadline:?}", child.name, child.port);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The soft limit on open files of this process (inherited by its children).
pub fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// VmRSS of a process in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// VmRSS of `pid` once it stops moving: two readings 300 ms apart within 0.5 % (at most 10 s).
pub async fn settled_rss_kib(pid: u32) -> u64 {
    let until = Instant::now() + Duration::from_secs(10);
    let mut last = rss_kib(pid);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = rss_kib(pid);
        if now.abs_diff(last) * 200 <= last || Instant::now() >= until {
            return now;
        }
        last = now;
    }
}

/// `admin` (a PostgreSQL URL) with its database replaced by `database`.
pub fn with_database(admin: &str, database: &str) -> String {
    let (base, query) = admin.split_once('?').map_or((admin, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..].find('/').map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// The PostgreSQL databases of a run, dropped at the end (also when the run panics).
pub struct Databases {
    admin: Option<String>,
    names: Vec<String>,
}

impl Databases {
    /// Databases created through the admin URL `admin` (None: no PostgreSQL).
    pub fn new(admin: Option<String>) -> Self {
        Self { admin, names: Vec::new() }
    }

    /// Creates database `name` (dropped first if a crashed run left it) and returns its URL.
    pub async fn create(&mut self, name: &str) -> String {
        let admin = self.admin.as_deref().expect("a PostgreSQL admin URL");
        let mut conn = sqlx::PgConnection::connect(admin).await.expect("PostgreSQL admin connection");
        for sql in [format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#), format!(r#"CREATE DATABASE "{name}""#)]
        {
            sqlx::query(&sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        self.names.push(name.to_owned());
        with_database(admin, name)
    }

    /// Drops them all (their connections are ended).
    pub async fn drop_all(&mut self) {
        let Some(admin) = &self.admin else { return };
        for name in std::mem::take(&mut self.names) {
            let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
            let dropped = match sqlx::PgConnection::connect(admin).await {
                Ok(mut conn) => sqlx::query(&sql).execute(&mut conn).await.map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = dropped {
                eprintln!("warning: database {name} not dropped: {e}");
            }
        }
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        if self.names.is_empty() {
            return;
        }
        let mut rest = Databases { admin: self.admin.clone(), names: std::mem::take(&mut self.names) };
        // Possibly inside the run's runtime (unwinding): drop them from a runtime of their own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(rest.drop_all());
        })
        .join();
    }
}
