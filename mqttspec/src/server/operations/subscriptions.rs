//! `subscribe` (new or resumed) and `unsubscribe`: operations beside the engine's, with their
//! hook points.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use super::Answer;
use crate::engine::Request;
use crate::entity::EntityDef;
use crate::error::{Error, ErrorCode, Result};
use crate::hooks::{Client, HookContext, HookPoint};
use crate::operation::Operation;
use crate::protocol::Envelope;
use crate::query::QueryOptions;
use crate::server::Core;

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

pub(super) async fn subscribe(core: &Arc<Core>, client: &Client, envelope: &Envelope) -> Result<Answer> {
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
    let mut ctx = HookContext::subscribe(client.clone(), def, &envelope.id, options);
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

pub(super) async fn unsubscribe(core: &Arc<Core>, client: &Client, envelope: &Envelope) -> Result<Answer> {
    let id = envelope
        .subscription_id
        .clone()
        .ok_or_else(|| Error::new(ErrorCode::InvalidMessage, "`subscription_id` is required"))?;
    let existing = core.subscriptions.get_owned(client.id(), &id).ok_or_else(|| {
        Error::new(ErrorCode::SubscriptionNotFound, format!("no subscription `{}`", crate::value::clip(&id)))
    })?;
    let mut ctx = HookContext::unsubscribe(client.clone(), existing.entity, &envelope.id, &id);
    core.hooks.run(&mut ctx).await?;
    core.subscriptions.remove(client.id(), &id)?;
    core.forget_subscriptions(std::slice::from_ref(&id)).await;
    ctx.point = HookPoint::AfterUnsubscribe;
    ctx.result = Some(json!({"unsubscribed": true, "subscription_id": id}));
    core.hooks.run(&mut ctx).await?;
    Ok(Answer::Data(ctx.result.unwrap_or(Json::Null), None))
}
