//! A real Mosquitto per test, started from the shipped configuration (`deploy/mosquitto`) on a
//! free loopback port, and stopped (this process only) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mqttspec::ExternalBrokerConfig;

/// The test password file's client login (`deploy/mosquitto/test.passwd`).
pub const CLIENT_LOGIN: (&str, &str) = ("client", "client");
/// The test password file's server login.
pub const SERVER_LOGIN: (&str, &str) = ("mqttspec", "mqttspec");

pub struct Mosquitto {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

/// Starts Mosquitto on `conf` and waits for its "running" line. Right after a restart the port
/// can be held for a moment by the old broker's closing connections: try again then.
fn spawn(conf: &Path) -> Child {
    let mut attempts = 0;
    loop {
        match try_spawn(conf) {
            Ok(child) => return child,
            Err(seen) if attempts < 100 && seen.iter().any(|l| l.contains("Address already in use")) => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(seen) => panic!("mosquitto exited before running: {seen:#?}"),
        }
    }
}

fn try_spawn(conf: &Path) -> Result<Child, Vec<String>> {
    let mut child = Command::new(binary())
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("mosquitto is required for this test (scripts/test installs it): {e}"));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(" running") => break,
            Some(Ok(line)) => seen.push(line),
            _ => {
                let _ = child.wait();
                return Err(seen);
            }
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Ok(child)
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/mosquitto")
}

fn binary() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("mosquitto"))
}

impl Mosquitto {
    /// Starts Mosquitto with the shipped configuration, ACL and test password file; panics
    /// (loudly, naming the fix) when it is not installed.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port)
    }

    /// Starts Mosquitto on this port.
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, "")
    }

    /// Starts Mosquitto on this port, with `extra` appended to the shipped configuration (another
    /// listener, say).
    pub fn start_with(port: u16, extra: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mqttspec-mosquitto-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped =
            std::fs::read_to_string(deploy().join("mosquitto.conf")).expect("deploy/mosquitto/mosquitto.conf");
        // The shipped file with this test's port, files and logging; every other setting as shipped.
        let overridden =
            ["listener", "password_file", "acl_file", "log_dest", "pid_file", "persistence_location", "user"];
        let mut conf: String = shipped
            .lines()
            .filter(|line| !overridden.iter().any(|key| line.trim_start().starts_with(&format!("{key} "))))
            .map(|line| format!("{line}\n"))
            .collect();
        // Mosquitto refuses password and ACL files that others can read: copy them with tight modes.
        for file in ["test.passwd", "acl"] {
            let to = dir.join(file);
            std::fs::copy(deploy().join(file), &to).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        // Started as root, Mosquitto would become user `mosquitto`, who cannot read these files.
        let user = Command::new("id").arg("-un").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        conf += &format!("user {}\n", user.unwrap_or_default());
        conf += &format!(
            "listener {port} 127.0.0.1\npassword_file {}\nacl_file {}\nlog_dest stderr\npersistence_location {}/\n",
            dir.join("test.passwd").display(),
            dir.join("acl").display(),
            dir.display()
        );
        conf += extra;
        let conf_path = dir.join("mosquitto.conf");
        std::fs::write(&conf_path, conf).unwrap();
        Self { child: spawn(&conf_path), port, dir }
    }

    /// Stops the broker as a service manager would (SIGTERM: it saves its persistent sessions)
    /// and starts it again on the same port; returns once it runs.
    pub fn restart(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("mosquitto stops");
        self.child = spawn(&self.dir.join("mosquitto.conf"));
    }

    /// The server's connection to this broker, with a client id unique to the test.
    pub fn server_config(&self) -> ExternalBrokerConfig {
        self.instance_config(&format!("mqttspec-test-{}", self.port))
    }

    /// The connection of one server instance named `client_id`.
    pub fn instance_config(&self, client_id: &str) -> ExternalBrokerConfig {
        ExternalBrokerConfig::new(format!("mqtt://127.0.0.1:{}", self.port))
            .credentials(SERVER_LOGIN.0, SERVER_LOGIN.1)
            .client_id(client_id)
            // The first retry comes 150–300 ms after a loss: long enough for a test to publish
            // while the server is away, short enough not to slow the suite.
            .reconnect_delay(std::time::Duration::from_millis(300), std::time::Duration::from_secs(1))
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
