//! The quickstart's `users` entity, for the benchmarks that serve it in process.

use mqttspec::SpecEntity;

/// A user, as in `examples/quickstart.rs`.
#[derive(Debug, SpecEntity)]
#[spec(table = "users")]
pub struct User {
    #[spec(generated)]
    id: i64,
    name: String,
    email: String,
    status: Option<String>,
}
