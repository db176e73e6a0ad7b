//! The wire protocol: topics, request envelopes, replies and notifications (PROTOCOL.md).

mod message;
mod meta;
mod reply;
mod topic;

pub use message::{Envelope, MessageType, parse_envelope, recover_id};
pub use meta::Meta;
pub use reply::{Notice, error_reply, pong, resync_notice, success_reply, timestamp};
pub use topic::Topics;
