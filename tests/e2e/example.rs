//! The examples, started as a user starts them: their binary, a free port, a fresh SQLite file.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The first this many bytes of an example's log are kept for the test to read.
const LOG_KEPT: usize = 1 << 20;

/// What an example wrote to its log.
#[derive(Debug, Default)]
pub struct Log {
    /// The first `LOG_KEPT` bytes.
    pub text: String,
    /// Every byte written.
    pub bytes: usize,
}

pub struct Example {
    child: Child,
    pub port: u16,
    dir: PathBuf,
    pub log: Arc<Mutex<Log>>,
}

impl Example {
    /// Starts `target/<profile>/examples/<name>` and waits for its "serving" line.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("mqttspec-{name}-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let database = format!("sqlite://{}/example.db", dir.display());
        Self::start_with(name, port, dir, &["--port", &port.to_string(), "--database-url", &database], env)
    }

    /// Starts an example with exactly these arguments (`port` is what it serves on, for the test);
    /// it logs at its default level unless `env` sets `RUST_LOG`.
    pub fn start_with(name: &str, port: u16, dir: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Self {
        // target/<profile>/deps/e2e-… → target/<profile>/examples/<name>
        let exe = std::env::current_exe().unwrap();
        let binary = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
        assert!(binary.exists(), "{} is built with the tests", binary.display());
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(binary)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE")
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("example starts");
        let log = Arc::new(Mutex::new(Log::default()));
        let keep = |log: &Mutex<Log>, line: &str| {
            let mut log = log.lock().unwrap();
            log.bytes += line.len() + 1;
            if log.text.len() < LOG_KEPT {
                log.text.push_str(line);
                log.text.push('\n');
            }
        };
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().unwrap_or_else(|| panic!("{name} exited before serving")).unwrap();
            keep(&log, &line);
            if line.contains(" serving ") {
                break;
            }
        }
        // Keep draining its output so that it never blocks on a full pipe.
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        for stream in [Box::new(lines) as Box<dyn Iterator<Item = std::io::Result<String>> + Send>, Box::new(stderr)] {
            let log = log.clone();
            std::thread::spawn(move || stream.map_while(Result::ok).for_each(|line| keep(&log, &line)));
        }
        Self { child, port, dir, log }
    }
}

impl Example {
    /// The process's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// Kills the process at once (SIGKILL): no shutdown, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A process's resident memory (Linux: `VmRSS` of `/proc/<pid>/status`), in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a live process");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
