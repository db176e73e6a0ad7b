//! A database with the suite's tables, an engine over it, and helpers that speak the protocol's JSON.

use std::sync::Arc;

use mqttspec::engine::Outcome;
use mqttspec::{Dialect, Engine, EntityDef, EntityRegistry, ErrorCode, Operation, Request};
use serde_json::{Value as Json, json};

use crate::entities::{Account, AuditEntry, Item, Note, Ticket};
use crate::support::{Backend, fresh_database};

pub struct Fixture {
    pub engine: Engine,
}

impl Fixture {
    pub async fn new(backend: Backend) -> Self {
        Self::with_max_limit(backend, 1000).await
    }

    pub async fn with_max_limit(backend: Backend, max_limit: u64) -> Self {
        let db = fresh_database(backend).await;
        let defs = [
            EntityDef::of::<Item>(),
            EntityDef::of::<Account>(),
            EntityDef::of::<Note>(),
            EntityDef::of::<AuditEntry>(),
            EntityDef::of::<Ticket>(),
        ];
        // Constraints the generated DDL does not express: a unique email and a foreign key.
        let mut conn = db.acquire().await.unwrap();
        match db.dialect() {
            Dialect::Sqlite => {
                conn.conn()
                    .execute(
                        "CREATE TABLE notes (key TEXT PRIMARY KEY, account_id INTEGER NOT NULL \
                         REFERENCES accounts(id), body TEXT NOT NULL)",
                    )
                    .await
                    .unwrap();
            }
            Dialect::Postgres => {}
        }
        drop(conn);
        db.create_tables(&defs).await.unwrap();
        let mut conn = db.acquire().await.unwrap();
        conn.conn().execute("CREATE UNIQUE INDEX accounts_email ON accounts (email)").await.unwrap();
        if db.dialect() == Dialect::Postgres {
            conn.conn()
                .execute("ALTER TABLE app.notes ADD FOREIGN KEY (account_id) REFERENCES public.accounts (id)")
                .await
                .unwrap();
        }
        drop(conn);
        let registry = Arc::new(EntityRegistry::new(defs).unwrap());
        let engine = Engine::new(db.clone(), registry).with_max_limit(max_limit);
        Self { engine }
    }

    /// Executes a request given as the protocol's JSON envelope.
    pub async fn run(&self, request: Json) -> mqttspec::Result<Outcome> {
        let operation = Operation::parse(request["operation"].as_str().unwrap()).unwrap();
        let request = Request {
            schema: request.get("schema").and_then(Json::as_str),
            entity: request.get("entity").and_then(Json::as_str),
            operation,
            record_id: request.get("record_id"),
            data: request.get("data"),
            options: request.get("options"),
        };
        self.engine.execute(request).await
    }

    /// Runs a request that must succeed; returns `(data, metadata)`.
    pub async fn ok(&self, request: Json) -> (Json, Json) {
        let shown = request.to_string();
        match self.run(request).await {
            Ok(outcome) => (outcome.data, outcome.metadata.unwrap_or(Json::Null)),
            Err(e) => panic!("request {shown} failed: {e} (source: {:?})", std::error::Error::source(&e)),
        }
    }

    /// Runs a request that must fail; returns the error.
    pub async fn err(&self, request: Json) -> mqttspec::Error {
        let shown = request.to_string();
        match self.run(request).await {
            Ok(outcome) => panic!("request {shown} succeeded with {}", outcome.data),
            Err(e) => e,
        }
    }

    /// Asserts the error code of a failing request.
    pub async fn expect_code(&self, request: Json, code: ErrorCode) -> mqttspec::Error {
        let shown = request.to_string();
        let error = self.err(request).await;
        assert_eq!(error.code(), code, "request {shown}: {error}");
        error
    }

    /// Reads many items with these options; returns `(rows, metadata)`.
    pub async fn items(&self, options: Json) -> (Vec<Json>, Json) {
        let (data, metadata) = self.ok(json!({"operation": "read", "entity": "items", "options": options})).await;
        (data.as_array().unwrap().clone(), metadata)
    }

    /// The `id`s of items matching these options, in reply order.
    pub async fn item_ids(&self, options: Json) -> Vec<i64> {
        self.items(options).await.0.iter().map(|r| r["id"].as_i64().unwrap()).collect()
    }

    /// Creates one item from a partial object (defaults for the required columns).
    pub async fn item(&self, fields: Json) -> Json {
        let mut record = json!({
            "name": "item", "qty": 0, "price": 0.0, "active": true,
            "created_at": "2026-01-01T00:00:00Z",
        });
        for (k, v) in fields.as_object().unwrap() {
            record[k] = v.clone();
        }
        self.ok(json!({"operation": "create", "entity": "items", "data": record})).await.0
    }

    /// Every table's full content, to assert that nothing changed.
    pub async fn snapshot(&self) -> Json {
        let mut all = serde_json::Map::new();
        for entity in ["items", "accounts", "notes", "audit"] {
            let (data, _) = self.ok(json!({"operation": "read", "entity": entity, "options": {"limit": 100000}})).await;
            all.insert(entity.into(), data);
        }
        Json::Object(all)
    }
}
