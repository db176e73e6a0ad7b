//! Settings of the external broker connection, and their translation into rumqttc options.

use std::path::PathBuf;
use std::time::Duration;

use rumqttc::{NetworkOptions, TlsConfiguration, Transport};

use super::link::Options;

use crate::error::{Error, ErrorCode, Result};

/// MQTT protocol version of the server's own connection to an external broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MqttVersion {
    /// MQTT 3.1.1, for brokers without MQTT 5: clients' correlation data and response topics do
    /// not reach the server (replies go to `{prefix}/{client}/response`).
    V311,
    /// MQTT 5 (the default).
    #[default]
    V5,
}

/// How mqttspec connects, as a client, to a broker it does not run (Mosquitto, EMQX, an rmqtt
/// cluster...): `ExternalBrokerConfig::new("mqtt://127.0.0.1:1883").credentials("mqttspec", "secret")`.
#[derive(Debug, Clone)]
pub struct ExternalBrokerConfig {
    pub(crate) url: String,
    pub(crate) client_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) clean_session: bool,
    pub(crate) session_expiry: Duration,
    pub(crate) keep_alive: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_delay: Duration,
    pub(crate) max_reconnect_delay: Duration,
    pub(crate) max_reconnects: Option<u32>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) client_cert: Option<(PathBuf, PathBuf)>,
    pub(crate) idle_expiry: Duration,
    pub(crate) version: MqttVersion,
}

impl ExternalBrokerConfig {
    /// A broker at `url`: `mqtt://host:port` (also `tcp://`), `mqtts://` (also `ssl://`, TLS
    /// through rustls), `ws://host:port/path`, `wss://host:port/path`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client_id: None,
            username: None,
            password: None,
            clean_session: false,
            session_expiry: Duration::from_secs(3600),
            keep_alive: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            reconnect_delay: Duration::from_millis(200),
            max_reconnect_delay: Duration::from_secs(30),
            max_reconnects: None,
            ca_file: None,
            client_cert: None,
            idle_expiry: Duration::from_secs(30 * 60),
            version: MqttVersion::V5,
        }
    }

    /// The server's MQTT client id (default `mqttspec-{host}-{pid}`, unique per instance).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Username and password of the server's connection.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// Clean session (default `false`: the broker keeps the server's subscription and the
    /// requests published while it reconnects).
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.clean_session = clean;
        self
    }

    /// How long the broker keeps the server's session while it is away (MQTT 5; default 1 h).
    pub fn session_expiry(mut self, expiry: Duration) -> Self {
        self.session_expiry = expiry;
        self
    }

    /// Keep-alive interval (default 30 s).
    pub fn keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = interval;
        self
    }

    /// How long one connection attempt may take (default 10 s; whole seconds).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Reconnect delays: the first, doubled on each failure up to `max`, with jitter
    /// (defaults 200 ms and 30 s).
    pub fn reconnect_delay(mut self, first: Duration, max: Duration) -> Self {
        self.reconnect_delay = first;
        self.max_reconnect_delay = max.max(first);
        self
    }

    /// Gives up after this many failed attempts in a row (default: never).
    pub fn max_reconnects(mut self, attempts: Option<u32>) -> Self {
        self.max_reconnects = attempts;
        self
    }

    /// CA certificates (PEM) that sign the broker's certificate (`mqtts://`, `wss://`; default:
    /// the system's roots).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Client certificate and key (PEM) for brokers that ask for one.
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// A client that has sent nothing for this long is taken as gone, and its subscriptions end
    /// (default 30 min). Clients should also set a Last Will on `{prefix}/{client_id}/status`.
    pub fn idle_expiry(mut self, idle: Duration) -> Self {
        self.idle_expiry = idle;
        self
    }

    /// Protocol version of the server's connection (default MQTT 5).
    pub fn version(mut self, version: MqttVersion) -> Self {
        self.version = version;
        self
    }

    /// The URL's host, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }
}

fn setting(name: &str, problem: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::ValidationError, format!("external broker: {name}: {problem}"))
}

/// The server's default client id: host and process id, unique per instance on a network.
pub(crate) fn default_client_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".to_owned());
    let host: String = host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    format!("mqttspec-{host}-{}", std::process::id())
}

/// rumqttc options for this configuration; a bad URL or unreadable TLS file names the setting.
pub(crate) fn mqtt_options(config: &ExternalBrokerConfig, max_packet: u32) -> Result<Options> {
    let (scheme, rest) = config
        .url
        .split_once("://")
        .ok_or_else(|| setting("url", format!("`{}` has no scheme (mqtt://host:port)", config.url)))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse::<u16>().map_err(|_| setting("url", format!("bad port `{port}`")))?;
            (host.to_owned(), Some(port))
        }
        None => (authority.to_owned(), None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    if host.is_empty() {
        return Err(setting("url", format!("`{}` has no host", config.url)));
    }
    // rumqttc takes the whole URL as the address of a WebSocket broker.
    let (address, port, transport) = match scheme {
        "mqtt" | "tcp" => (host, port.unwrap_or(1883), Transport::Tcp),
        "mqtts" | "ssl" | "tls" => (host, port.unwrap_or(8883), Transport::Tls(tls(config)?)),
        "ws" => (config.url.clone(), port.unwrap_or(80), Transport::Ws),
        "wss" => (config.url.clone(), port.unwrap_or(443), Transport::Wss(tls(config)?)),
        other => {
            return Err(setting("url", format!("unknown scheme `{other}` (mqtt, mqtts, ws, wss)")));
        }
    };
    let client_id = config.client_id.clone().unwrap_or_else(default_client_id);
    let keep_alive = config.keep_alive.max(Duration::from_secs(1));
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    // A request is acknowledged once its reply is published (a crash leaves it to the broker).
    Ok(match config.version {
        MqttVersion::V5 => {
            let mut options = rumqttc::v5::MqttOptions::new(&client_id, address, port);
            options.set_transport(transport);
            options.set_keep_alive(keep_alive);
            options.set_connection_timeout(config.connect_timeout.as_secs().max(1));
            options.set_clean_start(config.clean_session);
            if !config.clean_session {
                options.set_session_expiry_interval(Some(config.session_expiry.as_secs().min(u32::MAX as u64) as u32));
            }
            if let Some(user) = &config.username {
                options.set_credentials(user, config.password.clone().unwrap_or_default());
            }
            options.set_manual_acks(true);
            // Requests are acknowledged once answered: this window is how many run at once.
            options.set_receive_maximum(Some(1024));
            options.set_max_packet_size(Some(max_packet.saturating_add(4096)));
            options.set_request_channel_capacity(16 * 1024);
            options.set_outgoing_inflight_upper_limit(1024);
            options.set_network_options(network);
            Options::V5(Box::new(options))
        }
        MqttVersion::V311 => {
            let mut options = rumqttc::MqttOptions::new(&client_id, address, port);
            options.set_transport(transport);
            options.set_keep_alive(keep_alive);
            network.set_connection_timeout(config.connect_timeout.as_secs().max(1));
            options.set_clean_session(config.clean_session);
            if let Some(user) = &config.username {
                options.set_credentials(user, config.password.clone().unwrap_or_default());
            }
            options.set_manual_acks(true);
            let max = max_packet.saturating_add(4096) as usize;
            options.set_max_packet_size(max, max);
            options.set_request_channel_capacity(16 * 1024);
            options.set_inflight(1024);
            Options::V4(Box::new(options), network)
        }
    })
}

fn read(name: &str, path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| setting(name, format!("cannot read {}: {e}", path.display())))
}

fn tls(config: &ExternalBrokerConfig) -> Result<TlsConfiguration> {
    let client_auth = match &config.client_cert {
        Some((cert, key)) => Some((read("client certificate", cert)?, read("client key", key)?)),
        None => None,
    };
    match &config.ca_file {
        Some(ca) => {
            let ca = read("ca_file", ca)?;
            if !String::from_utf8_lossy(&ca).contains("-----BEGIN CERTIFICATE-----") {
                return Err(setting("ca_file", "no PEM certificate in it"));
            }
            Ok(TlsConfiguration::Simple { ca, alpn: None, client_auth })
        }
        None if client_auth.is_some() => Err(setting("ca_file", "a client certificate needs a CA file too")),
        None => Ok(TlsConfiguration::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(config: ExternalBrokerConfig) -> String {
        mqtt_options(&config, 1024).unwrap_err().message().to_owned()
    }

    #[test]
    fn urls_and_settings() {
        let Options::V5(options) =
            mqtt_options(&ExternalBrokerConfig::new("mqtt://127.0.0.1:1884").client_id("a"), 1024).unwrap()
        else {
            panic!("MQTT 5 by default")
        };
        assert_eq!(options.broker_address(), ("127.0.0.1".to_owned(), 1884));
        assert!(!options.clean_start(), "persistent by default");
        assert!(options.manual_acks());
        let options =
            mqtt_options(&ExternalBrokerConfig::new("tcp://broker").version(MqttVersion::V311), 1024).unwrap();
        let Options::V4(v4, _) = &options else { panic!("3.1.1 when asked") };
        assert_eq!(v4.broker_address().1, 1883);
        assert!(!v4.clean_session() && v4.manual_acks());
        assert!(options.client_id().starts_with("mqttspec-"));
        assert!(error(ExternalBrokerConfig::new("broker:1883")).contains("url"));
        assert!(error(ExternalBrokerConfig::new("http://broker")).contains("unknown scheme `http`"));
        assert!(error(ExternalBrokerConfig::new("mqtt://broker:x")).contains("bad port"));
        assert!(error(ExternalBrokerConfig::new("mqtt://:1883")).contains("no host"));
        let missing = ExternalBrokerConfig::new("mqtts://broker").ca_file("/nonexistent/ca.pem");
        assert!(error(missing).contains("ca_file: cannot read /nonexistent/ca.pem"));
    }
}
