//! Sensor readings: each device publishes readings under its own MQTT identity; hooks stamp
//! `device_id` from the client id and `recorded_at` from the server clock, and let a device delete
//! only its own readings.
//!
//! ```text
//! cargo run --release --example iot_sensors -- --port 1883
//! ```

mod common;

use chrono::{DateTime, Utc};
use clap::Parser;
use mqttspec::{HookContext, Server, SpecEntity, hook};
use serde_json::json;

/// One measurement. Readings are immutable: no updates.
#[derive(Debug, Clone, SpecEntity)]
#[spec(table = "sensor_readings", no_update)]
struct SensorReading {
    #[spec(primary_key, generated)]
    id: i64,
    /// Set by the server from the MQTT client id; clients cannot write it.
    #[spec(read_only)]
    device_id: String,
    metric: String,
    value: f64,
    /// Set by the server's clock when the reading arrives.
    #[spec(read_only)]
    recorded_at: DateTime<Utc>,
}

/// The device is whoever is connected; the time is the server's.
#[hook(before_create, entity = SensorReading)]
async fn stamp_reading(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let device = ctx.client().id().to_owned();
    ctx.set_field("device_id", json!(device));
    ctx.set_field("recorded_at", json!(Utc::now().to_rfc3339()));
    Ok(())
}

/// A device deletes only its own readings; another device's are `not_found`.
#[hook(before_delete, entity = SensorReading)]
async fn own_readings_only(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let device = ctx.client().id().to_owned();
    ctx.filter(SensorReading::DEVICE_ID.eq(device))
}

#[derive(Debug, Parser)]
#[command(about = "mqttspec IoT example: sensor readings stamped by device identity")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
    /// Database URL: a SQLite file (created when missing) or postgres://...
    #[arg(long, default_value = "sqlite://iot_sensors.db")]
    database_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    let args = Args::parse();
    let builder = Server::builder().database_url(&args.database_url).entity::<SensorReading>().create_tables(true);
    let server = args.listen.apply(builder).start().await?;
    tracing::info!(addr = ?server.local_addr(), "iot_sensors serving public.sensor_readings; Ctrl-C stops");
    server.run().await?;
    Ok(())
}
