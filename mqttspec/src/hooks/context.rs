//! What a hook sees and may change.

use serde_json::{Map, Value as Json};

use super::{Client, HookPoint};
use crate::db::{SharedTx, TxGuard};
use crate::engine::{Stage, key_value};
use crate::entity::{Entity, EntityDef};
use crate::error::{Error, Result};
use crate::operation::Operation;
use crate::query::{Condition, QueryOptions};
use crate::value::Value;

/// The context of one hook call.
#[derive(Debug)]
pub struct HookContext {
    pub(crate) point: HookPoint,
    pub(crate) client: Client,
    pub(crate) entity: Option<EntityDef>,
    pub(crate) operation: Option<Operation>,
    pub(crate) message_id: Option<String>,
    pub(crate) subscription_id: Option<String>,
    pub(crate) target: Option<Value>,
    pub(crate) options: QueryOptions,
    pub(crate) data: Option<Map<String, Json>>,
    pub(crate) result: Option<Json>,
    pub(crate) tx: Option<SharedTx>,
}

/// One constructor per kind of hook point: each says what its points see.
impl HookContext {
    fn new(point: HookPoint, client: Client) -> Self {
        Self {
            point,
            client,
            entity: None,
            operation: None,
            message_id: None,
            subscription_id: None,
            target: None,
            options: QueryOptions::default(),
            data: None,
            result: None,
            tx: None,
        }
    }

    /// `before/after_connect` and `before/after_disconnect`: the client only.
    pub(crate) fn connection(point: HookPoint, client: Client) -> Self {
        Self::new(point, client)
    }

    /// `before_handle`: the request's operation and id, and its entity when it names a known one.
    pub(crate) fn handle(client: Client, operation: Operation, message_id: &str, entity: Option<EntityDef>) -> Self {
        let mut ctx = Self::new(HookPoint::BeforeHandle, client);
        ctx.operation = Some(operation);
        ctx.message_id = Some(message_id.to_owned());
        ctx.entity = entity;
        ctx
    }

    /// `before_subscribe` (then `before_read` and `after_subscribe` on the same context): the
    /// entity and the subscription's options.
    pub(crate) fn subscribe(client: Client, def: EntityDef, message_id: &str, options: QueryOptions) -> Self {
        let mut ctx = Self::new(HookPoint::BeforeSubscribe, client);
        ctx.entity = Some(def);
        ctx.operation = Some(Operation::Subscribe);
        ctx.message_id = Some(message_id.to_owned());
        ctx.options = options;
        ctx
    }

    /// `before_unsubscribe` (then `after_unsubscribe`): the subscription and its entity.
    pub(crate) fn unsubscribe(client: Client, def: EntityDef, message_id: &str, subscription_id: &str) -> Self {
        let mut ctx = Self::new(HookPoint::BeforeUnsubscribe, client);
        ctx.entity = Some(def);
        ctx.operation = Some(Operation::Unsubscribe);
        ctx.message_id = Some(message_id.to_owned());
        ctx.subscription_id = Some(subscription_id.to_owned());
        ctx
    }

    /// `after_read` of a notification: the change's operation and row, for one subscription.
    pub(crate) fn notification(
        client: Client,
        def: EntityDef,
        operation: Operation,
        subscription_id: &str,
        data: Json,
    ) -> Self {
        let mut ctx = Self::new(HookPoint::AfterRead, client);
        ctx.entity = Some(def);
        ctx.operation = Some(operation);
        ctx.subscription_id = Some(subscription_id.to_owned());
        ctx.result = Some(data);
        ctx
    }

    /// The engine's operations (read, create, update, delete): moves an engine stage into a
    /// context (the engine's interceptor seam).
    pub(crate) fn from_stage(
        point: HookPoint,
        client: Client,
        def: &EntityDef,
        message_id: &str,
        stage: &mut Stage,
    ) -> Self {
        let mut ctx = Self::new(point, client);
        ctx.message_id = Some(message_id.to_owned());
        ctx.entity = Some(*def);
        ctx.operation = Some(stage.operation);
        ctx.target = stage.target.take();
        ctx.options = std::mem::take(&mut stage.options);
        ctx.data = stage.data.take();
        ctx.result = stage.result.take();
        ctx.tx = stage.tx.clone();
        ctx
    }

    /// Moves the (possibly changed) state back into the stage.
    pub(crate) fn into_stage(self, stage: &mut Stage) {
        stage.target = self.target;
        stage.options = self.options;
        stage.data = self.data;
        stage.result = self.result;
    }

    /// The hook point being run.
    pub fn point(&self) -> HookPoint {
        self.point
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The entity of the request, when it has one.
    pub fn entity(&self) -> Option<&EntityDef> {
        self.entity.as_ref()
    }

    /// The operation of the request, when it has one.
    pub fn operation(&self) -> Option<Operation> {
        self.operation
    }

    /// The request's message `id`.
    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The subscription (subscribe/unsubscribe hooks, and `after_read` on a notification).
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription_id.as_deref()
    }

    /// The target primary key (read-one, update, delete) as JSON.
    pub fn record_id(&self) -> Option<Json> {
        self.target.as_ref().map(Value::to_json)
    }

    /// Changes the target primary key (validated against the key's type).
    pub fn set_record_id(&mut self, id: &Json) -> Result<()> {
        let def = self.entity.ok_or_else(|| Error::validation("this hook has no entity"))?;
        self.target = Some(key_value(&def, id)?);
        Ok(())
    }

    /// Adds a filter the rows must also satisfy: for reads and subscriptions it narrows the
    /// result; for update and delete the target must satisfy it, else `not_found`.
    pub fn add_filter(&mut self, column: &str, operator: &str, value: Json) -> Result<()> {
        let def = self.entity.ok_or_else(|| Error::validation("this hook has no entity"))?;
        let condition = Condition::parse_one(&def, column, operator, &value)?;
        self.options.restrict(condition);
        Ok(())
    }

    /// Adds a typed filter the rows must also satisfy (as [`add_filter`](Self::add_filter)):
    /// `ctx.filter(User::TENANT_ID.eq(tenant))?`. A filter of another entity than the hook's is
    /// a `validation_error`.
    pub fn filter<E: crate::Entity>(&mut self, filter: crate::Filter<E>) -> Result<()> {
        let def = self.entity.ok_or_else(|| Error::validation("this hook has no entity"))?;
        if !def.is::<E>() {
            return Err(Error::validation(format!(
                "a filter on `{}` in a hook on `{}`",
                E::META.name,
                def.meta.qualified_name()
            )));
        }
        self.options.restrict(filter.into_condition()?);
        Ok(())
    }

    /// The write's transaction, in the before/after hooks of create, update and delete (`None`
    /// elsewhere): what a hook executes on it commits or rolls back together with the write.
    ///
    /// ```no_run
    /// # async fn audit(ctx: &mut mqttspec::HookContext) -> mqttspec::Result<()> {
    /// use mqttspec::Value;
    /// let who = Value::Text(ctx.client().id().to_owned());
    /// if let Some(mut tx) = ctx.transaction().await {
    ///     tx.conn().execute_with("INSERT INTO audit (who) VALUES ($1)", &[who]).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn transaction(&mut self) -> Option<TxGuard<'_>> {
        match &self.tx {
            Some(tx) => Some(tx.hook().await),
            None => None,
        }
    }

    /// The query options (filters, sort, limit...).
    pub fn options(&self) -> &QueryOptions {
        &self.options
    }

    /// The query options, mutable (before_read, before_subscribe).
    pub fn options_mut(&mut self) -> &mut QueryOptions {
        &mut self.options
    }

    /// The record data (create: one record; update: the patch).
    pub fn data(&self) -> Option<&Map<String, Json>> {
        self.data.as_ref()
    }

    /// The record data, mutable (before_create, before_update).
    pub fn data_mut(&mut self) -> Option<&mut Map<String, Json>> {
        self.data.as_mut()
    }

    /// Sets one field of the record data (before_create, before_update).
    pub fn set_field(&mut self, column: &str, value: Json) {
        self.data.get_or_insert_with(Map::new).insert(column.to_owned(), value);
    }

    /// The result: the reply's `data` (after hooks), or a notification's row.
    pub fn result(&self) -> Option<&Json> {
        self.result.as_ref()
    }

    /// The result, mutable (after hooks may redact it).
    pub fn result_mut(&mut self) -> Option<&mut Json> {
        self.result.as_mut()
    }

    /// Drops the result: on a notification, the notification is not sent.
    pub fn drop_result(&mut self) {
        self.result = None;
    }

    /// A typed view of the record (the result after an operation, else the data), when the
    /// hook's entity is `E` and the record is complete.
    pub fn record<E: Entity>(&self) -> Option<E> {
        let def = self.entity.filter(|d| d.is::<E>())?;
        let object = match &self.result {
            Some(Json::Object(object)) => object,
            _ => self.data.as_ref()?,
        };
        let values = def
            .meta
            .columns
            .iter()
            .map(|c| c.parse_json(object.get(c.name).unwrap_or(&Json::Null)))
            .collect::<std::result::Result<Vec<_>, _>>()
            .ok()?;
        E::from_values(values).ok()
    }
}
