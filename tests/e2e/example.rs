//! The examples, started as a user starts them: their binary, a free port, a fresh SQLite file.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Example {
    child: Child,
    pub port: u16,
    dir: PathBuf,
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

    /// Starts an example with exactly these arguments (`port` is what it serves on, for the test).
    pub fn start_with(name: &str, port: u16, dir: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Self {
        // target/<profile>/deps/e2e-… → target/<profile>/examples/<name>
        let exe = std::env::current_exe().unwrap();
        let binary = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
        assert!(binary.exists(), "{} is built with the tests", binary.display());
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("example starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().unwrap_or_else(|| panic!("{name} exited before serving")).unwrap();
            if line.contains(" serving ") {
                break;
            }
        }
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, port, dir }
    }
}

impl Example {
    /// The process's resident memory (Linux: `VmRSS` of `/proc/<pid>/status`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("a live process");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
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
