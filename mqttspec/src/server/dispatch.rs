//! One client's requests, in order: parse → idempotency → before_handle → operation → reply.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::FutureExt;
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::Core;
use super::idempotency::Claim;
use super::reply_log::{self, Requester};
use crate::db::Conn;
use crate::engine::{Interceptor, Request, Stage};
use crate::entity::EntityDef;
use crate::error::{Error, ErrorCode, Result};
use crate::hooks::{Client, HookContext, HookPoint, HookRegistry};
use crate::operation::Operation;
use crate::protocol::{Envelope, MessageType, error_reply, parse_envelope, pong, recover_id, success_reply};
use crate::query::QueryOptions;
use crate::subscription::Subscription;
use crate::transport::{InboundRequest, Outbound};

/// Processes one client's queue until it is closed and drained.
pub(super) async fn worker(core: Arc<Core>, client: Client, mut queue: mpsc::Receiver<InboundRequest>) {
    while let Some(request) = queue.recv().await {
        handle(&core, &client, request).await;
    }
}

async fn handle(core: &Arc<Core>, client: &Client, request: InboundRequest) {
    let started = Instant::now();
    let envelope = parse_envelope(&request.payload);
    let (id, entity, operation) = match &envelope {
        Ok(e) => (e.id.clone(), e.entity.clone().unwrap_or_default(), e.operation.map_or("ping", |o| o.as_str())),
        Err((id, _)) => (id.clone(), String::new(), ""),
    };
    let span = tracing::info_span!(
        "request",
        instance = tracing::field::Empty,
        client = %client.id(),
        %entity,
        operation,
        id = %id
    );
    if let Some(instance) = core.instance.get().and_then(Option::as_deref) {
        span.record("instance", instance);
    }
    async {
        // Every message with an id is answered once (PROTOCOL §7, §9): a repeat, even of a
        // malformed message, gets the first reply again. Pings are not remembered.
        let is_ping = matches!(&envelope, Ok(e) if e.kind == MessageType::Ping);
        let mut running = None;
        let principal = client.principal();
        let stored = if is_ping || id.is_empty() {
            None
        } else {
            loop {
                match core.replies.claim(client.id(), principal.as_deref(), &id) {
                    Claim::Stored(reply) => break Some(reply),
                    // The same request is being executed (a redelivery racing its first run after
                    // a reconnect): its reply will be this one's.
                    Claim::Wait(mut first) => {
                        let _ = first.changed().await;
                    }
                    Claim::Execute(claim) => {
                        running = Some(claim);
                        break None;
                    }
                }
            }
        };
        let mut resumed = None;
        let reply = match (stored, envelope) {
            (Some(stored), _) => {
                tracing::info!("repeated request: first reply re-sent");
                Reply { payload: stored, remember: false, outcome: "repeat" }
            }
            (None, Err((id, error))) => Reply::once(error_reply(&id, &error), Some(&error)),
            (None, Ok(envelope)) if envelope.kind == MessageType::Ping => {
                Reply { remember: false, ..Reply::once(pong(&envelope.id), None) }
            }
            (None, Ok(envelope)) => {
                let who = Requester { client: client.id(), principal: principal.as_deref(), id: &envelope.id };
                let result = AssertUnwindSafe(execute(core, client, &envelope, &who)).catch_unwind().await;
                let result = result.unwrap_or_else(|panic| {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned());
                    Err(Error::new(ErrorCode::InternalError, "internal error")
                        .with_source(format!("handler panicked: {}", what.unwrap_or_default())))
                });
                match result {
                    Ok(Answer::Data(data, metadata)) => Reply::once(success_reply(&envelope.id, data, metadata), None),
                    Ok(Answer::Logged(payload)) => Reply { payload, remember: true, outcome: "ok" },
                    Ok(Answer::Repeat(payload)) => {
                        tracing::info!("repeated write: the logged reply re-sent");
                        Reply { payload, remember: true, outcome: "repeat" }
                    }
                    Ok(Answer::Resumed(data, subscription, after)) => {
                        resumed = Some((subscription, after));
                        // Not remembered: a repeated resume replays again.
                        Reply { remember: false, ..Reply::once(success_reply(&envelope.id, data, None), None) }
                    }
                    Err(error) => Reply::once(error_reply(&envelope.id, &error), Some(&error)),
                }
            }
        };
        // Every executed message with an id holds a claim: store its reply and wake any repeat.
        if let Some(running) = running {
            core.replies.finish(running, reply.remember.then(|| reply.payload.clone()));
        }
        // A client id taken over by another identity meanwhile: the reply is not theirs to read.
        if !core.holds_identity(client) {
            tracing::info!("reply withheld: the client id now belongs to another identity");
            return;
        }
        let topic = reply_topic(core, client.id(), request.response_topic.as_deref());
        let message = Outbound {
            topic,
            payload: reply.payload,
            qos: core.config.response_qos,
            correlation_data: request.correlation_data,
        };
        if let Err(e) = core.publisher().publish(message).await {
            tracing::warn!(error = %e, "reply not sent");
        }
        // A resumed subscription: the missed notifications follow the reply, then live ones.
        if let Some((subscription, after)) = resumed {
            core.notifier.replay(subscription, after).await;
        }
        tracing::info!(outcome = reply.outcome, elapsed_us = started.elapsed().as_micros() as u64, "handled");
    }
    .instrument(span)
    .await;
}

struct Reply {
    payload: Bytes,
    remember: bool,
    outcome: &'static str,
}

impl Reply {
    /// Errors are remembered too, except those a retry may cure (PROTOCOL §9).
    fn once(json: Json, error: Option<&Error>) -> Self {
        if let Some(error) = error {
            match error.code() {
                ErrorCode::InternalError | ErrorCode::Unavailable => {
                    tracing::error!(code = %error.code(), error = ?error, "request failed");
                }
                _ => tracing::debug!(code = %error.code(), message = error.message(), "request refused"),
            }
        }
        let remember = !matches!(error.map(Error::code), Some(ErrorCode::InternalError | ErrorCode::Unavailable));
        let outcome = error.map_or("ok", |e| e.code().as_str());
        Self { payload: Bytes::from(serde_json::to_vec(&json).expect("serializable")), remember, outcome }
    }
}

/// Answers a request that will not be executed (the server is shutting down) with `error`.
pub(super) async fn refuse(core: &Core, request: InboundRequest, error: &Error) {
    let id = recover_id(&request.payload);
    let message = Outbound {
        topic: reply_topic(core, &request.client_id, request.response_topic.as_deref()),
        payload: Bytes::from(serde_json::to_vec(&error_reply(&id, error)).expect("serializable")),
        qos: core.config.response_qos,
        correlation_data: request.correlation_data,
    };
    if let Err(e) = core.publisher().publish(message).await {
        tracing::warn!(error = %e, "refusal not sent");
    }
}

/// The client's response topic, or the MQTT 5 Response Topic when it lies at or below it.
fn reply_topic(core: &Core, client: &str, requested: Option<&str>) -> String {
    let default = core.topics.response(client);
    match requested {
        Some(topic) if topic == default || topic.strip_prefix(&default).is_some_and(|rest| rest.starts_with('/')) => {
            // Wildcards, `$` and NUL make a topic the broker will not publish to.
            if topic.contains(['+', '#', '$', '\0']) { default } else { topic.to_owned() }
        }
        _ => default,
    }
}

/// What an executed request answers.
enum Answer {
    /// Reply data and metadata.
    Data(Json, Option<Json>),
    /// A write's reply, built inside its transaction and logged with it.
    Logged(Bytes),
    /// A write that had committed before (a redelivery): its logged reply.
    Repeat(Bytes),
    /// A resumed subscription: reply data, then its notifications after the seq.
    Resumed(Json, Arc<Subscription>, u64),
}

async fn execute(core: &Arc<Core>, client: &Client, envelope: &Envelope, who: &Requester<'_>) -> Result<Answer> {
    let operation = envelope.operation.expect("requests carry an operation");
    if core.hooks.has(HookPoint::BeforeHandle) {
        let mut ctx = HookContext::new(HookPoint::BeforeHandle, client.clone());
        ctx.operation = Some(operation);
        ctx.message_id = Some(envelope.id.clone());
        if let Some(entity) = &envelope.entity {
            ctx.entity = core.engine.registry().find(envelope.schema.as_deref(), entity).ok().copied();
        }
        core.hooks.run(&mut ctx).await.map_err(|e| match e.code() {
            ErrorCode::Forbidden | ErrorCode::ValidationError | ErrorCode::InternalError | ErrorCode::HookError => e,
            _ => Error::new(ErrorCode::Unauthorized, e.message().to_owned()),
        })?;
    }
    // A write that committed before is found by its claim in the write's own transaction (no
    // extra round trip for the writes that are new).
    let logged = core.config.durable_replies && operation.is_write();
    match operation {
        Operation::Subscribe => subscribe(core, client, envelope).await,
        Operation::Unsubscribe => unsubscribe(core, client, envelope).await.map(|(d, m)| Answer::Data(d, m)),
        _ => {
            let request = Request {
                schema: envelope.schema.as_deref(),
                entity: envelope.entity.as_deref(),
                operation,
                record_id: envelope.record_id.as_ref(),
                data: envelope.data.as_ref(),
                options: envelope.options.as_ref(),
            };
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
                // Another run of this request (a redelivery on another instance) committed first.
                Err(_) if hooks.superseded => {
                    let reply = reply_log::find(core.engine.db(), who).await?;
                    return reply.map(Answer::Repeat).ok_or_else(|| Error::internal("a logged reply vanished"));
                }
                Err(e) => return Err(e),
            };
            if !outcome.changes.is_empty() {
                core.notifier.publish(outcome.changes).await;
            }
            Ok(match hooks.logged {
                Some(reply) => Answer::Logged(reply),
                None => Answer::Data(outcome.data, outcome.metadata),
            })
        }
    }
}

/// The filters of a subscribe as the client sent them; none and an empty list are the same.
fn requested_filters(options: Option<&Json>) -> Json {
    match options.and_then(|o| o.get("filters")) {
        None | Some(Json::Null) => Json::Null,
        Some(Json::Array(list)) if list.is_empty() => Json::Null,
        Some(filters) => filters.clone(),
    }
}

/// `options.resume` of a subscribe: `{"subscription_id": "...", "after_seq": N}`.
fn parse_resume(resume: &Json) -> Result<(String, u64)> {
    let invalid =
        || Error::validation("options.resume must be {\"subscription_id\": string, \"after_seq\": integer ≥ 0}");
    let id = resume.get("subscription_id").and_then(Json::as_str).ok_or_else(invalid)?;
    let after = resume.get("after_seq").and_then(Json::as_u64).ok_or_else(invalid)?;
    Ok((id.to_owned(), after))
}

/// Continues an earlier subscription of this client (PROTOCOL §6 Resume).
fn resume(core: &Core, client: &Client, def: &EntityDef, envelope: &Envelope, resume: &Json) -> Result<Answer> {
    let (id, after) = parse_resume(resume)?;
    let gone = || {
        Error::new(
            ErrorCode::ResyncRequired,
            format!("subscription `{}` can no longer be resumed: re-read and subscribe anew", crate::value::clip(&id)),
        )
    };
    let subscription = core
        .subscriptions
        .get_owned(client.id(), &id)
        .filter(|s| s.client.principal() == client.principal())
        .ok_or_else(gone)?;
    if subscription.entity.key() != def.key() || subscription.requested != requested_filters(envelope.options.as_ref())
    {
        return Err(Error::validation("a resume repeats the entity and filters of the subscription it continues"));
    }
    if after > subscription.seq() {
        return Err(Error::validation(format!(
            "after_seq {after} is ahead of the subscription (last seq {})",
            subscription.seq()
        )));
    }
    if !subscription.holds_after(after) {
        return Err(gone().with_details(json!({"subscription_id": id, "last_seq": subscription.seq()})));
    }
    let data = json!({
        "subscription_id": subscription.id,
        "notify_topic": subscription.topic,
        "schema": def.meta.schema,
        "entity": def.meta.name,
        "resumed": true,
    });
    Ok(Answer::Resumed(data, subscription, after))
}

async fn subscribe(core: &Arc<Core>, client: &Client, envelope: &Envelope) -> Result<Answer> {
    let request = Request {
        schema: envelope.schema.as_deref(),
        entity: envelope.entity.as_deref(),
        operation: Operation::Subscribe,
        record_id: None,
        data: None,
        options: envelope.options.as_ref(),
    };
    let def: EntityDef = *core.engine.entity(&request)?;
    let options = QueryOptions::parse(&def, envelope.options.as_ref())?;
    if let Some(resume_options) = envelope.options.as_ref().and_then(|o| o.get("resume")).filter(|r| !r.is_null()) {
        return resume(core, client, &def, envelope, resume_options);
    }
    let mut ctx = HookContext::new(HookPoint::BeforeSubscribe, client.clone());
    ctx.entity = Some(def);
    ctx.operation = Some(Operation::Subscribe);
    ctx.message_id = Some(envelope.id.clone());
    ctx.options = options;
    // `record_id` (or the key inside `data`, as for a read) narrows the subscription to that record.
    if envelope.data.as_ref().is_some_and(|d| !d.is_object()) {
        return Err(Error::new(ErrorCode::InvalidMessage, "`data` must be an object for subscribe"));
    }
    if let Some(key) = crate::engine::target_key(&def, envelope.record_id.as_ref(), envelope.data.as_ref())? {
        ctx.add_filter(def.meta.pk().name, "eq", key.to_json())?;
        ctx.target = Some(key);
    }
    core.hooks.run(&mut ctx).await?;
    // What a client could not read, it must not receive: before_read hooks shape the subscription.
    ctx.point = HookPoint::BeforeRead;
    core.hooks.run(&mut ctx).await?;
    let subscription = core.subscriptions.add(
        client.clone(),
        def,
        ctx.options.filter.clone(),
        ctx.options.projection.clone(),
        requested_filters(envelope.options.as_ref()),
        |id| core.topics.notify(client.id(), id),
    )?;
    let data = json!({
        "subscription_id": subscription.id,
        "notify_topic": subscription.topic,
        "schema": def.meta.schema,
        "entity": def.meta.name,
    });
    ctx.point = HookPoint::AfterSubscribe;
    ctx.subscription_id = Some(subscription.id.clone());
    ctx.result = Some(data);
    let recorded = match core.hooks.run(&mut ctx).await {
        Ok(()) => core.record_subscription(&subscription).await,
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        core.subscriptions.remove(client.id(), &subscription.id).ok();
        return Err(e);
    }
    Ok(Answer::Data(ctx.result.unwrap_or(Json::Null), None))
}

async fn unsubscribe(core: &Arc<Core>, client: &Client, envelope: &Envelope) -> Result<(Json, Option<Json>)> {
    let id = envelope
        .subscription_id
        .clone()
        .ok_or_else(|| Error::new(ErrorCode::InvalidMessage, "`subscription_id` is required"))?;
    let existing = core.subscriptions.get_owned(client.id(), &id).ok_or_else(|| {
        Error::new(ErrorCode::SubscriptionNotFound, format!("no subscription `{}`", crate::value::clip(&id)))
    })?;
    let mut ctx = HookContext::new(HookPoint::BeforeUnsubscribe, client.clone());
    ctx.entity = Some(existing.entity);
    ctx.operation = Some(Operation::Unsubscribe);
    ctx.message_id = Some(envelope.id.clone());
    ctx.subscription_id = Some(id.clone());
    core.hooks.run(&mut ctx).await?;
    core.subscriptions.remove(client.id(), &id)?;
    core.forget_subscriptions(std::slice::from_ref(&id)).await;
    ctx.point = HookPoint::AfterUnsubscribe;
    ctx.result = Some(json!({"unsubscribed": true, "subscription_id": id}));
    core.hooks.run(&mut ctx).await?;
    Ok((ctx.result.unwrap_or(Json::Null), None))
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
        let mut ctx = HookContext::from_stage(point, self.client.clone(), def, stage);
        ctx.message_id = Some(self.message_id.to_owned());
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

    async fn began(&mut self, conn: &mut Conn<'_>) -> Result<()> {
        let Some(who) = self.log else { return Ok(()) };
        if !reply_log::claim(conn, who).await? {
            self.superseded = true;
            return Err(Error::new(ErrorCode::Conflict, "this request was answered by another run"));
        }
        Ok(())
    }

    async fn committing(&mut self, conn: &mut Conn<'_>, data: &Json) -> Result<()> {
        let Some(who) = self.log else { return Ok(()) };
        let reply = success_reply(self.message_id, data.clone(), None);
        let reply = Bytes::from(serde_json::to_vec(&reply).expect("serializable"));
        reply_log::complete(conn, who, &reply).await?;
        self.logged = Some(reply);
        Ok(())
    }
}
