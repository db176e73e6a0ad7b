//! One client's requests, in order: parse → idempotency → operation (`operations`) → reply.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::FutureExt;
use serde_json::Value as Json;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::Core;
use super::idempotency::Claim;
use super::operations::{Answer, execute};
use super::reply_log::Requester;
use crate::error::{Error, ErrorCode};
use crate::hooks::Client;
use crate::protocol::{MessageType, error_reply, parse_envelope, pong, recover_id, success_reply};
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
            (None, Ok(envelope)) if client.is_revoked() => {
                let error = Error::new(ErrorCode::Unauthorized, "this connection's access was revoked: connect again");
                // Not remembered: the same request from a new connection is executed.
                Reply { remember: false, ..Reply::once(error_reply(&envelope.id, &error), Some(&error)) }
            }
            (None, Ok(envelope)) => {
                let who = Requester { client: client.id(), principal: principal.as_deref(), id: &envelope.id };
                let result = AssertUnwindSafe(execute(core, client, &envelope, &who)).catch_unwind().await;
                let result = result.unwrap_or_else(|panic| {
                    let what = crate::error::panic_message(&*panic);
                    Err(Error::new(ErrorCode::InternalError, "internal error")
                        .with_source(format!("handler panicked: {what}")))
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
        // Counted before the reply leaves: whoever reads the reply finds the request counted.
        let elapsed = started.elapsed();
        super::metrics::request(operation, reply.outcome, elapsed);
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
        tracing::info!(outcome = reply.outcome, elapsed_us = elapsed.as_micros() as u64, "handled");
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
