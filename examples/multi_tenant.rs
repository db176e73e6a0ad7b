//! Multi-tenancy through hooks: an HS256 JWT in the MQTT username identifies the client and its
//! tenant; every read, subscription and write is confined to that tenant.
//!
//! ```text
//! MQTTSPEC_JWT_SECRET=change-me cargo run --release --example multi_tenant -- --port 1883
//! ```
//! Claims: `sub` and `tenant_id` (strings), `roles` (array of strings), `exp` (checked when present:
//! at CONNECT, before each request and before each notification, so a token that expires
//! mid-connection stops working and its subscriptions end), `nbf` (checked when present).

mod common;

use std::collections::HashSet;

use clap::Parser;
use mqttspec::{Error, HookContext, Server, SpecEntity, hook};
use serde_json::json;

/// A user that belongs to one tenant.
#[derive(Debug, Clone, SpecEntity)]
#[spec(schema = "public", table = "users")]
struct User {
    #[spec(primary_key, generated)]
    id: i64,
    tenant_id: String,
    name: String,
    email: String,
    status: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Claims {
    sub: String,
    tenant_id: String,
    #[serde(default)]
    roles: Vec<String>,
    /// Expiry (seconds since the epoch), when the token has one.
    exp: Option<u64>,
}

fn secret() -> String {
    std::env::var("MQTTSPEC_JWT_SECRET").unwrap_or_default()
}

/// Validates the token in the MQTT username; its claims live in the client's metadata.
#[hook(before_connect)]
async fn authenticate(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let token = ctx.client().username().ok_or_else(|| Error::forbidden("a JWT is required as the MQTT username"))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims = HashSet::new(); // `exp` is checked when present
    validation.leeway = 0;
    validation.validate_nbf = true; // a token not yet valid is refused too
    let key = jsonwebtoken::DecodingKey::from_secret(secret().as_bytes());
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| Error::forbidden(format!("invalid token: {e}")))?
        .claims;
    let client = ctx.client();
    // The principal, not the token: a refreshed token resumes the same session and its replies.
    client.set_principal(format!("{}/{}", claims.tenant_id, claims.sub));
    client.set_metadata("sub", json!(claims.sub));
    client.set_metadata("tenant_id", json!(claims.tenant_id));
    client.set_metadata("roles", json!(claims.roles));
    if let Some(exp) = claims.exp {
        client.set_metadata("exp", json!(exp));
    }
    Ok(())
}

/// A token that expires while the client is connected stops working then: every later request
/// is `unauthorized` (reconnect with a fresh token).
#[hook(before_handle)]
async fn token_still_valid(ctx: &mut HookContext) -> mqttspec::Result<()> {
    if expired(ctx) {
        ctx.client().revoke();
        return Err(Error::unauthorized("the token has expired"));
    }
    Ok(())
}

/// Notifications too: once the token has expired, the client's subscriptions end (the same hook
/// runs for every notification it would get).
#[hook(after_read, priority = 100)]
async fn token_still_valid_for_notifications(ctx: &mut HookContext) -> mqttspec::Result<()> {
    if expired(ctx) {
        ctx.client().revoke();
        return Err(Error::unauthorized("the token has expired"));
    }
    Ok(())
}

fn expired(ctx: &HookContext) -> bool {
    let exp = ctx.client().metadata("exp").and_then(|e| e.as_u64());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    exp.is_some_and(|exp| now >= exp)
}

fn tenant(ctx: &HookContext) -> mqttspec::Result<String> {
    let tenant = ctx.client().metadata("tenant_id");
    tenant.and_then(|t| t.as_str().map(str::to_owned)).ok_or_else(|| Error::forbidden("no tenant"))
}

/// Reads and subscriptions see the client's tenant only (a client's own tenant filter only narrows it).
#[hook(before_read, entity = User)]
async fn tenant_reads(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let tenant = tenant(ctx)?;
    ctx.filter(User::TENANT_ID.eq(tenant))
}

/// New rows belong to the client's tenant, whatever the client sent.
#[hook(before_create, entity = User)]
async fn tenant_creates(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let tenant = tenant(ctx)?;
    ctx.set_field("tenant_id", json!(tenant));
    Ok(())
}

/// Another tenant's row is `not_found`; moving a row to another tenant is forbidden.
#[hook(before_update, entity = User)]
async fn tenant_updates(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let tenant = tenant(ctx)?;
    if ctx.data().and_then(|d| d.get("tenant_id")).is_some_and(|t| t.as_str() != Some(tenant.as_str())) {
        return Err(Error::forbidden("a row cannot move to another tenant"));
    }
    ctx.filter(User::TENANT_ID.eq(tenant))
}

/// Deleting needs the `admin` role, and only within the tenant.
#[hook(before_delete, entity = User)]
async fn tenant_deletes(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let roles = ctx.client().metadata("roles").unwrap_or_default();
    if !roles.as_array().is_some_and(|r| r.iter().any(|role| role == "admin")) {
        return Err(Error::forbidden("deleting needs the admin role"));
    }
    let tenant = tenant(ctx)?;
    ctx.filter(User::TENANT_ID.eq(tenant))
}

/// An audit line per created row.
#[hook(after_create, entity = User)]
async fn audit(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let id = ctx.result().and_then(|r| r.get("id")).cloned().unwrap_or_default();
    tracing::info!(
        target: "audit",
        sub = %ctx.client().metadata("sub").unwrap_or_default(),
        tenant = %tenant(ctx)?,
        user_id = %id,
        "user created"
    );
    Ok(())
}

#[derive(Debug, Parser)]
#[command(about = "mqttspec multi-tenant example: JWT identity, tenant-scoped users")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
    /// Database URL: a SQLite file (created when missing) or postgres://...
    #[arg(long, default_value = "sqlite://multi_tenant.db")]
    database_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    common::init_logging();
    if secret().is_empty() {
        anyhow::bail!("set MQTTSPEC_JWT_SECRET to the HS256 secret of the tokens");
    }
    let args = Args::parse();
    let builder = Server::builder().database_url(&args.database_url).entity::<User>().create_tables(true);
    let server = args.listen.apply(builder).start().await?;
    tracing::info!(addr = ?server.local_addr(), "multi_tenant serving public.users; Ctrl-C stops");
    server.run().await?;
    Ok(())
}
