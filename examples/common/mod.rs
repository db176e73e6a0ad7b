//! What the examples share: their listener flags, their logging and their allocator.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use mqttspec::ServerBuilder;

/// mimalloc rather than the system allocator: under connect/disconnect churn glibc's malloc keeps
/// freed memory mapped (resident memory grows long after the heap stops growing, see the README's
/// soak figures). Built with `no_thp`: with transparent huge pages mimalloc's arenas cost an idle
/// connection 28 KiB instead of 19 KiB. An application's choice, so the examples make it; the
/// library does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the embedded broker listens, and the optional endpoints beside it.
#[derive(Debug, clap::Args)]
pub struct Listen {
    /// Address the embedded broker listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// MQTT port (MQTT over TLS with `--tls-cert`).
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// Also accept MQTT over WebSocket (browsers, MQTT.js) on this address, e.g. 127.0.0.1:8083
    /// (connect to ws://127.0.0.1:8083/mqtt; wss:// with `--tls-cert`).
    #[arg(long)]
    pub websocket: Option<SocketAddr>,
    /// Certificate chain (PEM) of the broker's TLS identity: every listener then speaks TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464.
    #[arg(long)]
    pub metrics: Option<SocketAddr>,
}

impl Listen {
    /// These settings on `builder`.
    pub fn apply(&self, mut builder: ServerBuilder) -> ServerBuilder {
        builder = builder.listen(SocketAddr::new(self.host, self.port));
        if let Some(ws) = self.websocket {
            builder = builder.websocket(ws);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            builder = builder.tls(cert, key);
        }
        if let Some(metrics) = self.metrics {
            builder = builder.metrics(metrics);
        }
        builder
    }
}

/// Logs at `RUST_LOG`, by default `info,rmqtt=error`: rmqtt's warnings are about one client's
/// misbehaviour (a malformed SUBSCRIBE, say), name the client by its username, which may be a
/// credential (a JWT), and would let any client fill the log; mqttspec logs what an operator needs.
/// Colours only on a terminal: a log file or collector gets plain text.
pub fn init_logging() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rmqtt=error".into()),
        )
        .init();
}
