//! The query engine: executes read/create/update/delete/meta against the database, with a seam
//! ([`Interceptor`]) where the runtime's hooks run inside each operation (and inside the write's
//! transaction). It knows nothing of MQTT.

mod statements;
mod write;

use std::future::Future;
use std::sync::Arc;

use serde_json::{Map, Value as Json, json};

pub use write::{Origin, WriteData, key_value, target_key};

use crate::db::{Conn, Database, SharedTx};
use crate::entity::{Entity, EntityDef, EntityRegistry};
use crate::error::{Error, ErrorCode, Result};
use crate::operation::Operation;
use crate::protocol::Meta;
use crate::query::{Condition, CountMode, Cursor, Filter, QueryOptions, SortKey, SqlBuilder};
use crate::value::Value;

/// Default cap on `limit`.
pub const DEFAULT_MAX_LIMIT: u64 = 1000;

/// A request as the engine sees it: the parsed JSON fields of the protocol envelope.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `schema`, when given.
    pub schema: Option<&'a str>,
    /// `entity` (optional for `meta`).
    pub entity: Option<&'a str>,
    /// The operation.
    pub operation: Operation,
    /// `record_id`.
    pub record_id: Option<&'a Json>,
    /// `data`.
    pub data: Option<&'a Json>,
    /// `options`.
    pub options: Option<&'a Json>,
}

impl<'a> Request<'a> {
    /// The request an envelope carries (`None` for a ping: it has no operation).
    pub fn from_envelope(envelope: &'a crate::protocol::Envelope) -> Option<Self> {
        Some(Request {
            schema: envelope.schema.as_deref(),
            entity: envelope.entity.as_deref(),
            operation: envelope.operation?,
            record_id: envelope.record_id.as_ref(),
            data: envelope.data.as_ref(),
            options: envelope.options.as_ref(),
        })
    }
}

/// What an operation produced: the reply's `data` and `metadata`, and the row changes to notify.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Reply `data`.
    pub data: Json,
    /// Reply `metadata`.
    pub metadata: Option<Json>,
    /// Committed row changes (empty for reads).
    pub changes: Vec<Change>,
}

/// A committed change of one row: the old and new row (column values), for notifications.
#[derive(Debug, Clone)]
pub struct Change {
    /// The entity.
    pub entity: EntityDef,
    /// `create`, `update` or `delete`.
    pub operation: Operation,
    /// The row before (update, delete).
    pub old: Option<Vec<Value>>,
    /// The row after (create, update).
    pub new: Option<Vec<Value>>,
}

/// The mutable state of one operation that interceptors (hooks) see and may change.
#[derive(Debug)]
pub struct Stage {
    /// The operation.
    pub operation: Operation,
    /// Target primary key (read-one, update, delete).
    pub target: Option<Value>,
    /// Query options; for update/delete, `options.filter` is the guard the target must satisfy.
    pub options: QueryOptions,
    /// Record data (create: one record; update: the patch).
    pub data: Option<Map<String, Json>>,
    /// The result (after-interceptors): the reply's `data`.
    pub result: Option<Json>,
    /// The write's transaction (create, update, delete).
    pub(crate) tx: Option<SharedTx>,
}

impl Stage {
    /// The stage of one write inside `tx`.
    fn write(operation: Operation, target: Option<Value>, data: Option<Map<String, Json>>, tx: &SharedTx) -> Self {
        Self { operation, target, options: QueryOptions::default(), data, result: None, tx: Some(tx.clone()) }
    }
}

/// Where the runtime hooks into an operation. `before` runs after validation and before the
/// statement; `after` after the statement and before commit, inside the same transaction.
/// For a batch create both run once per record.
pub trait Interceptor: Send {
    /// Before the operation's statement.
    fn before(&mut self, def: &EntityDef, stage: &mut Stage) -> impl Future<Output = Result<()>> + Send;
    /// After the statement (and before commit for writes).
    fn after(&mut self, def: &EntityDef, stage: &mut Stage) -> impl Future<Output = Result<()>> + Send;
    /// A write is about to commit with `data` as its result: the last statement inside its
    /// transaction (the server records the reply here, so that it commits with the write, and
    /// only one run of a request can commit).
    fn committing(&mut self, conn: &mut Conn<'_>, data: &Json) -> impl Future<Output = Result<()>> + Send {
        let _ = (conn, data);
        async { Ok(()) }
    }
}

/// The interceptor that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHooks;

impl Interceptor for NoHooks {
    async fn before(&mut self, _: &EntityDef, _: &mut Stage) -> Result<()> {
        Ok(())
    }
    async fn after(&mut self, _: &EntityDef, _: &mut Stage) -> Result<()> {
        Ok(())
    }
}

/// One page of a read-many.
#[derive(Debug, Clone)]
pub struct Page {
    /// Rows (column values) in the requested order.
    pub rows: Vec<Vec<Value>>,
    /// Rows matching the filters (unless `count: "none"`).
    pub total: Option<i64>,
    /// Applied limit.
    pub limit: u64,
    /// Applied offset.
    pub offset: u64,
    /// Cursor of the next page, when rows follow.
    pub next_cursor: Option<String>,
    /// Cursor of the previous page, when rows precede.
    pub prev_cursor: Option<String>,
}

/// The query engine over one database and one set of entities.
#[derive(Debug, Clone)]
pub struct Engine {
    db: Database,
    registry: Arc<EntityRegistry>,
    meta: Arc<Meta>,
    max_limit: u64,
}

impl Engine {
    /// An engine with the default `max_limit`.
    pub fn new(db: Database, registry: Arc<EntityRegistry>) -> Self {
        let meta = Arc::new(Meta::new(&registry));
        Self { db, registry, meta, max_limit: DEFAULT_MAX_LIMIT }
    }

    /// Sets the cap on `limit` (at least 1).
    pub fn with_max_limit(mut self, max_limit: u64) -> Self {
        self.max_limit = max_limit.max(1);
        self
    }

    /// The database.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The entities.
    pub fn registry(&self) -> &EntityRegistry {
        &self.registry
    }

    /// The cap on `limit`.
    pub fn max_limit(&self) -> u64 {
        self.max_limit
    }

    /// Executes a request without hooks.
    pub async fn execute(&self, request: Request<'_>) -> Result<Outcome> {
        self.execute_with(request, &mut NoHooks).await
    }

    /// Executes a request, calling `hooks` around the statement(s). Writes run in one
    /// transaction together with their hooks; an error anywhere rolls everything back.
    pub async fn execute_with(&self, request: Request<'_>, hooks: &mut impl Interceptor) -> Result<Outcome> {
        if request.operation == Operation::Meta {
            let data = match request.entity {
                None => self.meta.all(request.schema)?,
                Some(entity) => self.meta.entity(self.registry.find(request.schema, entity)?).clone(),
            };
            return Ok(Outcome { data, metadata: None, changes: Vec::new() });
        }
        let def = *self.entity(&request)?;
        match request.operation {
            Operation::Read => self.read(&def, request, hooks).await,
            Operation::Create => self.create(&def, request, hooks).await,
            Operation::Update => self.update(&def, request, hooks).await,
            Operation::Delete => self.delete(&def, request, hooks).await,
            other => Err(Error::new(
                ErrorCode::InvalidOperation,
                format!("`{other}` is handled by the server, not the query engine"),
            )),
        }
    }

    /// Resolves the request's entity.
    pub fn entity(&self, request: &Request<'_>) -> Result<&EntityDef> {
        let entity = request.entity.ok_or_else(|| Error::new(ErrorCode::InvalidMessage, "`entity` is required"))?;
        self.registry.find(request.schema, entity)
    }

    async fn read(&self, def: &EntityDef, request: Request<'_>, hooks: &mut impl Interceptor) -> Result<Outcome> {
        if request.data.is_some_and(|d| !d.is_object() && !d.is_null()) {
            return Err(Error::new(ErrorCode::InvalidMessage, "`data` must be an object for read"));
        }
        let options = QueryOptions::parse(def, request.options)?;
        let target = target_key(def, request.record_id, request.data)?;
        let mut stage = Stage { operation: Operation::Read, target, options, data: None, result: None, tx: None };
        hooks.before(def, &mut stage).await?;
        // The pooled connection goes back before the after-hooks run.
        let mut pooled = self.db.acquire().await?;
        let mut conn = pooled.conn();
        let metadata = match &stage.target {
            Some(pk) => {
                let row = self.read_one(&mut conn, def, pk, &stage.options.filter).await?;
                stage.result = Some(project(def, &row, stage.options.projection.as_deref()));
                json!({ "total": 1, "count": 1 })
            }
            None => {
                let page = self.read_many(&mut conn, def, &stage.options).await?;
                let projection = stage.options.projection.as_deref();
                let rows: Vec<Json> = page.rows.iter().map(|r| project(def, r, projection)).collect();
                let mut metadata = json!({ "count": rows.len(), "limit": page.limit, "offset": page.offset });
                if let Some(total) = page.total {
                    metadata["total"] = json!(total);
                }
                metadata["next_cursor"] = json!(page.next_cursor);
                metadata["prev_cursor"] = json!(page.prev_cursor);
                stage.result = Some(Json::Array(rows));
                metadata
            }
        };
        drop(pooled);
        hooks.after(def, &mut stage).await?;
        Ok(Outcome { data: stage.result.unwrap_or(Json::Null), metadata: Some(metadata), changes: Vec::new() })
    }

    async fn create(&self, def: &EntityDef, request: Request<'_>, hooks: &mut impl Interceptor) -> Result<Outcome> {
        allowed(def, Operation::Create, def.meta.operations.create)?;
        let (records, batch) = match request.data {
            Some(Json::Object(object)) => (vec![object], false),
            Some(Json::Array(items)) => {
                if items.is_empty() {
                    return Err(Error::validation("`data` is an empty array: nothing to create"));
                }
                let objects = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        item.as_object().ok_or_else(|| {
                            Error::validation(format!("record {i} of `data` must be an object"))
                                .with_details(json!({ "index": i }))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                (objects, true)
            }
            Some(_) => {
                return Err(Error::new(ErrorCode::InvalidMessage, "`data` must be an object or an array of objects"));
            }
            None => return Err(Error::new(ErrorCode::InvalidMessage, "`data` is required for create")),
        };
        for (i, record) in records.iter().enumerate() {
            WriteData::check_client_keys(def, record, false).map_err(|e| at_index(e, batch, i))?;
        }
        let tx = self.begin_write().await?;
        let mut created = Vec::with_capacity(records.len());
        let mut changes = Vec::with_capacity(records.len());
        for (i, record) in records.into_iter().enumerate() {
            let mut stage = Stage::write(Operation::Create, None, Some(record.clone()), &tx);
            let row: Result<Json> = async {
                hooks.before(def, &mut stage).await?;
                let data = WriteData::for_create(def, stage.data.as_ref().expect("set above"), Origin::Trusted)?;
                let row = self.insert(&mut tx.engine()?.conn(), def, &data).await?;
                stage.result = Some(Json::Object(def.row_json(&row)));
                hooks.after(def, &mut stage).await?;
                changes.push(Change { entity: *def, operation: Operation::Create, old: None, new: Some(row) });
                Ok(stage.result.take().unwrap_or(Json::Null))
            }
            .await;
            drop(stage);
            created.push(row.map_err(|e| at_index(e, batch, i))?);
        }
        let data = if batch { Json::Array(created) } else { created.pop().unwrap_or(Json::Null) };
        Self::commit_write(tx, data, changes, hooks).await
    }

    async fn update(&self, def: &EntityDef, request: Request<'_>, hooks: &mut impl Interceptor) -> Result<Outcome> {
        allowed(def, Operation::Update, def.meta.operations.update)?;
        let object = match request.data {
            Some(Json::Object(object)) => object,
            Some(_) => return Err(Error::new(ErrorCode::InvalidMessage, "`data` must be an object for update")),
            None => return Err(Error::new(ErrorCode::InvalidMessage, "`data` is required for update")),
        };
        let target = target_key(def, request.record_id, request.data)?;
        if target.is_none() {
            return Err(Error::validation("update needs `record_id` or the primary key inside `data`"));
        }
        WriteData::check_client_keys(def, object, true)?;
        let tx = self.begin_write().await?;
        let mut stage = Stage::write(Operation::Update, target, Some(object.clone()), &tx);
        hooks.before(def, &mut stage).await?;
        let pk = stage.target.clone().ok_or_else(|| Error::validation("update needs a target"))?;
        let data = WriteData::for_update(def, stage.data.as_ref().expect("set above"), Origin::Trusted)?;
        if data.values.is_empty() {
            return Err(Error::validation("update needs at least one column besides the primary key"));
        }
        let (old, new) = self.update_row(&mut tx.engine()?.conn(), def, &pk, &data, &stage.options.filter).await?;
        stage.result = Some(Json::Object(def.row_json(&new)));
        hooks.after(def, &mut stage).await?;
        stage.tx = None;
        let change = Change { entity: *def, operation: Operation::Update, old: Some(old), new: Some(new) };
        Self::commit_write(tx, stage.result.unwrap_or(Json::Null), vec![change], hooks).await
    }

    async fn delete(&self, def: &EntityDef, request: Request<'_>, hooks: &mut impl Interceptor) -> Result<Outcome> {
        allowed(def, Operation::Delete, def.meta.operations.delete)?;
        if let Some(data) = request.data
            && !data.is_object()
            && !data.is_null()
        {
            return Err(Error::new(ErrorCode::InvalidMessage, "`data` must be an object for delete"));
        }
        let target = target_key(def, request.record_id, request.data)?;
        if target.is_none() {
            return Err(Error::validation("delete needs `record_id` or the primary key inside `data`"));
        }
        let tx = self.begin_write().await?;
        let mut stage = Stage::write(Operation::Delete, target, None, &tx);
        hooks.before(def, &mut stage).await?;
        let pk = stage.target.clone().ok_or_else(|| Error::validation("delete needs a target"))?;
        let old = self.delete_row(&mut tx.engine()?.conn(), def, &pk, &stage.options.filter).await?;
        stage.result = Some(json!({ "deleted": true, "id": pk.to_json() }));
        hooks.after(def, &mut stage).await?;
        stage.tx = None;
        let change = Change { entity: *def, operation: Operation::Delete, old: Some(old), new: None };
        Self::commit_write(tx, stage.result.unwrap_or(Json::Null), vec![change], hooks).await
    }

    /// Opens a write's transaction.
    async fn begin_write(&self) -> Result<SharedTx> {
        Ok(SharedTx::new(self.db.begin().await?))
    }

    /// Ends a write: the interceptor sees the reply data inside the transaction (`committing`),
    /// then it commits.
    async fn commit_write(
        tx: SharedTx,
        data: Json,
        changes: Vec<Change>,
        hooks: &mut impl Interceptor,
    ) -> Result<Outcome> {
        hooks.committing(&mut tx.engine()?.conn(), &data).await?;
        tx.commit().await?;
        Ok(Outcome { data, metadata: None, changes })
    }

    /// Reads one row by primary key that also satisfies `guard`; `not_found` otherwise.
    pub async fn read_one(
        &self,
        conn: &mut Conn<'_>,
        def: &EntityDef,
        pk: &Value,
        guard: &Condition,
    ) -> Result<Vec<Value>> {
        let b = statements::select_by_key(def, self.db.dialect(), pk, guard, false);
        fetch_one(conn, def, &b, pk).await
    }

    /// Every row of `E` that satisfies `filter`, in primary-key order: typed reads for Rust code
    /// beside the server (no hooks run, no `max_limit` applies).
    ///
    /// ```no_run
    /// # #[derive(mqttspec::SpecEntity)] struct User { id: i64, tenant_id: String, age: i32 }
    /// # async fn f(engine: &mqttspec::Engine) -> mqttspec::Result<()> {
    /// let adults = engine.find(User::TENANT_ID.eq("acme").and(User::AGE.between(18, 65))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn find<E: Entity>(&self, filter: Filter<E>) -> Result<Vec<E>> {
        let def = EntityDef::of::<E>();
        let condition = filter.into_condition()?;
        let b = statements::select_page(&def, self.db.dialect(), &condition, &sort_keys(&def, &[]), None, u64::MAX, 0);
        let mut conn = self.db.acquire().await?;
        let rows = conn.conn().fetch_rows(&def, &b).await?;
        rows.into_iter().map(E::from_values).collect()
    }

    /// Reads one page of rows.
    pub async fn read_many(&self, conn: &mut Conn<'_>, def: &EntityDef, options: &QueryOptions) -> Result<Page> {
        let dialect = self.db.dialect();
        let limit = options.limit.unwrap_or(self.max_limit).min(self.max_limit);
        let keys = sort_keys(def, &options.sort);
        let cursor = match &options.cursor {
            Some(cursor) => Some((cursor.before, cursor.values(def, &keys, &options.filter)?)),
            None => None,
        };
        let before = cursor.as_ref().is_some_and(|(before, _)| *before);
        // A backwards page is read in the reversed order, then flipped.
        let order: Vec<SortKey> = keys.iter().map(|k| SortKey { column: k.column, desc: k.desc != before }).collect();
        // One row more than asked tells whether another page follows.
        let after = cursor.as_ref().map(|(_, values)| values.as_slice());
        let b = statements::select_page(
            def,
            dialect,
            &options.filter,
            &order,
            after,
            limit.saturating_add(1),
            options.offset,
        );
        let mut rows = if limit == 0 { Vec::new() } else { conn.fetch_rows(def, &b).await? };
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        if before {
            rows.reverse();
        }
        // Beside a cursor page, whether rows lie on the other side is asked, not assumed: rows
        // before the cursor may have been deleted since it was issued.
        let (has_next, has_prev) = match &cursor {
            None => (more, options.offset > 0 && !rows.is_empty()),
            Some((false, _)) => (more, self.row_beyond(conn, def, options, &keys, rows.first(), true).await?),
            Some((true, _)) => (self.row_beyond(conn, def, options, &keys, rows.last(), false).await?, more),
        };
        let cursor_of = |row: Option<&Vec<Value>>| row.map(|r| Cursor::encode(def, &keys, &options.filter, r));
        let next_cursor = if has_next { cursor_of(rows.last()) } else { None };
        let prev_cursor = if has_prev { cursor_of(rows.first()) } else { None };
        let total = match options.count {
            CountMode::None => None,
            CountMode::Exact => Some(conn.fetch_count(&statements::count(def, dialect, &options.filter)).await?),
        };
        Ok(Page { rows, total, limit, offset: options.offset, next_cursor, prev_cursor })
    }

    /// Whether a row matching the filters lies beyond `edge` (before it when `backwards`, else
    /// after it) in the sort order of `keys`.
    async fn row_beyond(
        &self,
        conn: &mut Conn<'_>,
        def: &EntityDef,
        options: &QueryOptions,
        keys: &[SortKey],
        edge: Option<&Vec<Value>>,
        backwards: bool,
    ) -> Result<bool> {
        let Some(edge) = edge else { return Ok(false) };
        let order: Vec<SortKey> =
            keys.iter().map(|k| SortKey { column: k.column, desc: k.desc != backwards }).collect();
        let from: Vec<Value> = keys.iter().map(|k| edge[k.column].clone()).collect();
        let b = statements::select_page(def, self.db.dialect(), &options.filter, &order, Some(&from), 1, 0);
        Ok(!conn.fetch_rows(def, &b).await?.is_empty())
    }

    /// Inserts one row and returns it as stored.
    pub async fn insert(&self, conn: &mut Conn<'_>, def: &EntityDef, data: &WriteData) -> Result<Vec<Value>> {
        let b = statements::insert(def, self.db.dialect(), data);
        conn.fetch_rows(def, &b).await?.pop().ok_or_else(|| Error::internal("INSERT returned no row"))
    }

    /// Updates one row that also satisfies `guard`; returns the old and the new row.
    pub async fn update_row(
        &self,
        conn: &mut Conn<'_>,
        def: &EntityDef,
        pk: &Value,
        data: &WriteData,
        guard: &Condition,
    ) -> Result<(Vec<Value>, Vec<Value>)> {
        let dialect = self.db.dialect();
        let select = statements::select_by_key(def, dialect, pk, guard, true);
        let old = fetch_one(conn, def, &select, pk).await?;
        let b = statements::update(def, dialect, pk, data);
        let new = fetch_one(conn, def, &b, pk).await?;
        Ok((old, new))
    }

    /// Deletes one row that also satisfies `guard`; returns the deleted row.
    pub async fn delete_row(
        &self,
        conn: &mut Conn<'_>,
        def: &EntityDef,
        pk: &Value,
        guard: &Condition,
    ) -> Result<Vec<Value>> {
        let b = statements::delete_by_key(def, self.db.dialect(), pk, guard);
        fetch_one(conn, def, &b, pk).await
    }
}

/// The requested sort keys followed by the primary key (when not already among them), so that
/// the order is total and keyset paging is exact.
/// The one row a statement by primary key returns; `not_found` when there is none.
async fn fetch_one(conn: &mut Conn<'_>, def: &EntityDef, b: &SqlBuilder, pk: &Value) -> Result<Vec<Value>> {
    conn.fetch_rows(def, b).await?.pop().ok_or_else(|| missing(def, pk))
}

fn sort_keys(def: &EntityDef, sort: &[SortKey]) -> Vec<SortKey> {
    let mut keys = sort.to_vec();
    if !keys.iter().any(|k| k.column == def.meta.primary_key) {
        keys.push(SortKey { column: def.meta.primary_key, desc: false });
    }
    keys
}

/// The JSON of a row restricted to a projection.
pub fn project(def: &EntityDef, row: &[Value], projection: Option<&[usize]>) -> Json {
    match projection {
        None => Json::Object(def.row_json(row)),
        Some(columns) => {
            Json::Object(columns.iter().map(|i| (def.meta.columns[*i].name.to_owned(), row[*i].to_json())).collect())
        }
    }
}

fn missing(def: &EntityDef, pk: &Value) -> Error {
    Error::not_found(format!("{} {} not found", def.meta.name, pk.to_json()))
}

fn allowed(def: &EntityDef, operation: Operation, allowed: bool) -> Result<()> {
    if allowed {
        Ok(())
    } else {
        Err(Error::forbidden(format!("`{operation}` is not allowed on {}", def.meta.qualified_name())))
    }
}

/// Adds the index of the failing record of a batch to the error.
fn at_index(error: Error, batch: bool, index: usize) -> Error {
    if !batch {
        return error;
    }
    let mut details = error.details().cloned().unwrap_or_else(|| json!({}));
    if let Some(object) = details.as_object_mut() {
        object.insert("index".into(), json!(index));
    }
    let message = format!("record {index}: {}", error.message());
    error.with_message(message).with_details(details)
}
