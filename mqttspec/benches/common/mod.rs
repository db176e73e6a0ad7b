//! What the benchmarks share: the MQTT client ([`probe`]), sequential and pipelined measurement
//! ([`measure`]) and the `users` entity of the in-process benchmarks ([`user`]).

// Every benchmark uses a part of this module.
#![allow(dead_code)]

pub mod measure;
pub mod probe;
pub mod user;
