//! The quickstart server: the seed's `User` model served over an embedded MQTT broker.
//!
//! ```text
//! cargo run --release --example quickstart -- --port 1883 --database-url sqlite://quickstart.db
//! mosquitto_sub -i alice -t 'spec/alice/response' &
//! mosquitto_pub -i alice -t 'spec/alice/request' -m '{"id":"1","type":"request","operation":"read","entity":"users"}'
//! ```

use std::net::{IpAddr, SocketAddr};

use clap::Parser;
use mqttspec::{Server, SpecEntity};

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
    /// Address the embedded broker listens on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// MQTT port.
    #[arg(long, default_value_t = 1883)]
    port: u16,
    /// Database URL: a SQLite file (created when missing) or postgres://...
    #[arg(long, default_value = "sqlite://quickstart.db")]
    database_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,rmqtt=warn".into()),
        )
        .init();
    let args = Args::parse();
    let server = Server::builder()
        .database_url(&args.database_url)
        .entity::<User>()
        .create_tables(true)
        .listen(SocketAddr::new(args.host, args.port))
        .start()
        .await?;
    tracing::info!(addr = %server.local_addr(), database = %args.database_url, "quickstart serving public.users; Ctrl-C stops");
    server.run().await?;
    Ok(())
}
