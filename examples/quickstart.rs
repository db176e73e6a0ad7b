//! The quickstart server: the seed's `User` model served over an embedded MQTT broker, or
//! through an external one with `--broker-url`.
//!
//! ```text
//! cargo run --release --example quickstart -- --port 1883 --database-url sqlite://quickstart.db
//! MQTTSPEC_BROKER_PASSWORD=secret cargo run --release --example quickstart -- \
//!     --broker-url mqtt://127.0.0.1:1883 --broker-username mqttspec
//! mosquitto_sub -i alice -t 'spec/alice/response' &
//! mosquitto_pub -i alice -t 'spec/alice/request' -m '{"id":"1","type":"request","operation":"read","entity":"users"}'
//! ```

mod common;

use clap::Parser;
use mqttspec::{ExternalBrokerConfig, MqttVersion, Server, SpecEntity};

/// A user, as in the Go package's README.
#[derive(Debug, Clone, SpecEntity)]
#[spec(schema = "public", table = "users")]
pub struct User {
    #[spec(primary_key, generated)]
    id: i64,
    name: String,
    email: String,
    status: Option<String>,
}

#[derive(Debug, Parser)]
#[command(about = "mqttspec quickstart: users over MQTT")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
    /// Database URL: a SQLite file (created when missing) or postgres://...
    #[arg(long, default_value = "sqlite://quickstart.db")]
    database_url: String,
    /// Serve through this external broker (mqtt://, mqtts://, ws://, wss://) instead of the
    /// embedded one; `--host` and `--port` then do not apply.
    #[arg(long, env = "MQTTSPEC_BROKER_URL")]
    broker_url: Option<String>,
    /// Username of the server's connection to the external broker.
    #[arg(long, env = "MQTTSPEC_BROKER_USERNAME")]
    broker_username: Option<String>,
    /// Password of the server's connection to the external broker (prefer the environment).
    #[arg(long, env = "MQTTSPEC_BROKER_PASSWORD", hide_env_values = true)]
    broker_password: Option<String>,
    /// The server's MQTT client id on the external broker (default: mqttspec-{host}-{pid}).
    #[arg(long, env = "MQTTSPEC_BROKER_CLIENT_ID")]
    broker_client_id: Option<String>,
    /// CA certificate file (PEM) for mqtts:// and wss://.
    #[arg(long)]
    broker_ca_file: Option<std::path::PathBuf>,
    /// Speak MQTT 3.1.1 to the external broker (default MQTT 5).
    #[arg(long)]
    broker_mqtt311: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let args = Args::parse();
    let mut builder = Server::builder().database_url(&args.database_url).entity::<User>().create_tables(true);
    builder = args.listen.apply(builder);
    if let Some(url) = &args.broker_url {
        let mut external = ExternalBrokerConfig::new(url);
        if let Some(user) = &args.broker_username {
            external = external.credentials(user, args.broker_password.clone().unwrap_or_default());
        }
        if let Some(id) = &args.broker_client_id {
            external = external.client_id(id);
        }
        if let Some(ca) = &args.broker_ca_file {
            external = external.ca_file(ca);
        }
        if args.broker_mqtt311 {
            external = external.version(MqttVersion::V311);
        }
        builder = builder.external_broker(external);
    }
    let server = builder.start().await?;
    match server.local_addr() {
        Some(addr) => {
            let ws = server.websocket_addr().map(|a| a.to_string()).unwrap_or_else(|| "off".into());
            tracing::info!(%addr, %ws, database = %args.database_url, "quickstart serving public.users; Ctrl-C stops")
        }
        None => tracing::info!(
            broker = args.broker_url.as_deref().unwrap_or_default(),
            database = %args.database_url,
            "quickstart serving public.users through the external broker; Ctrl-C stops"
        ),
    }
    server.run().await?;
    Ok(())
}
