//! The operations a request can ask for, behind one entry (`execute`) that dispatch calls:
//! `before_handle`, then the query engine's (read, create, update, delete, meta) with their hooks
//! around them, or the subscriptions' (`subscriptions`).

mod subscriptions;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value as Json;

use super::Core;
use super::reply_log::{self, Requester};
use crate::db::Conn;
use crate::engine::{Interceptor, Request, Stage};
use crate::entity::EntityDef;
use crate::error::{Error, ErrorCode, Result};
use crate::hooks::{Client, HookContext, HookPoint, HookRegistry};
use crate::operation::Operation;
use crate::protocol::{Envelope, success_reply};
use crate::subscription::Subscription;

/// What an executed request answers.
pub(super) enum Answer {
    /// Reply data and metadata.
    Data(Json, Option<Json>),
    /// A write's reply, built inside its transaction and logged with it.
    Logged(Bytes),
    /// A write that had committed before (a redelivery): its logged reply.
    Repeat(Bytes),
    /// A resumed subscription: reply data, then its notifications after the seq.
    Resumed(Json, Arc<Subscription>, u64),
}

/// Runs one request's operation: `before_handle`, then the engine's operations or the
/// subscriptions'.
pub(super) async fn execute(
    core: &Arc<Core>,
    client: &Client,
    envelope: &Envelope,
    who: &Requester<'_>,
) -> Result<Answer> {
    let operation = envelope.operation.expect("requests carry an operation");
    if core.hooks.has(HookPoint::BeforeHandle) {
        let entity = envelope.entity.as_deref();
        let entity = entity.and_then(|e| core.engine.registry().find(envelope.schema.as_deref(), e).ok().copied());
        let mut ctx = HookContext::handle(client.clone(), operation, &envelope.id, entity);
        core.hooks.run(&mut ctx).await.map_err(|e| match e.code() {
            ErrorCode::Forbidden | ErrorCode::ValidationError | ErrorCode::InternalError | ErrorCode::HookError => e,
            _ => Error::new(ErrorCode::Unauthorized, e.message().to_owned()),
        })?;
    }
    // A write that committed before is found when its reply is logged, the last statement of the
    // write's own transaction (no extra round trip for the writes that are new).
    let logged = core.config.durable_replies && operation.is_write();
    match operation {
        Operation::Subscribe => subscriptions::subscribe(core, client, envelope).await,
        Operation::Unsubscribe => subscriptions::unsubscribe(core, client, envelope).await,
        _ => {
            let request = Request::from_envelope(envelope).expect("requests carry an operation");
            let mut hooks = HookInterceptor {
                hooks: &core.hooks,
                client,
                message_id: &envelope.id,
                log: logged.then_some(who),
                logged: None,
                superseded: false,
            };
            let outcome = match core.engine.execute_with(request, &mut hooks).await {
                Ok(outcome) => outcome,
                // Another run of this request (a redelivery, after a restart or on another
                // instance) committed first: this one found its logged reply, or failed on what
                // that run wrote (the row it deleted, the unique value it inserted).
                Err(e) if logged => {
                    return match reply_log::find(core.engine.db(), who).await {
                        Ok(Some(reply)) => Ok(Answer::Repeat(reply)),
                        Ok(None) if hooks.superseded => Err(Error::internal("a logged reply vanished")),
                        // Not logged (or the log cannot be read now): this run's own error.
                        _ => Err(e),
                    };
                }
                Err(e) => return Err(e),
            };
            if !outcome.changes.is_empty() {
                core.notifier.publish(outcome.changes, client.id()).await;
            }
            Ok(match hooks.logged {
                Some(reply) => Answer::Logged(reply),
                None => Answer::Data(outcome.data, outcome.metadata),
            })
        }
    }
}

/// Runs the hooks of the engine's operations, inside its transaction for writes.
struct HookInterceptor<'a> {
    hooks: &'a HookRegistry,
    client: &'a Client,
    message_id: &'a str,
    /// Writes: log the reply inside the transaction under this requester.
    log: Option<&'a Requester<'a>>,
    /// The reply logged with the write.
    logged: Option<Bytes>,
    /// Another run of the same request had logged its reply: this one rolled back.
    superseded: bool,
}

impl HookInterceptor<'_> {
    async fn run(&mut self, point: HookPoint, def: &EntityDef, stage: &mut Stage) -> Result<()> {
        if !self.hooks.has(point) {
            return Ok(());
        }
        let mut ctx = HookContext::from_stage(point, self.client.clone(), def, self.message_id, stage);
        let result = self.hooks.run(&mut ctx).await;
        ctx.into_stage(stage);
        result
    }
}

impl Interceptor for HookInterceptor<'_> {
    async fn before(&mut self, def: &EntityDef, stage: &mut Stage) -> Result<()> {
        let point = match stage.operation {
            Operation::Create => HookPoint::BeforeCreate,
            Operation::Update => HookPoint::BeforeUpdate,
            Operation::Delete => HookPoint::BeforeDelete,
            _ => HookPoint::BeforeRead,
        };
        self.run(point, def, stage).await
    }

    async fn after(&mut self, def: &EntityDef, stage: &mut Stage) -> Result<()> {
        let point = match stage.operation {
            Operation::Create => HookPoint::AfterCreate,
            Operation::Update => HookPoint::AfterUpdate,
            Operation::Delete => HookPoint::AfterDelete,
            _ => HookPoint::AfterRead,
        };
        self.run(point, def, stage).await
    }

    async fn committing(&mut self, conn: &mut Conn<'_>, data: &Json) -> Result<()> {
        let Some(who) = self.log else { return Ok(()) };
        let reply = success_reply(self.message_id, data.clone(), None);
        let reply = Bytes::from(serde_json::to_vec(&reply).expect("serializable"));
        if !reply_log::record(conn, who, &reply).await? {
            self.superseded = true;
            return Err(Error::new(ErrorCode::Conflict, "this request was answered by another run"));
        }
        self.logged = Some(reply);
        Ok(())
    }
}
