use std::collections::HashMap;

use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct User {
    id: i64,
    tags: HashMap<String, String>,
}

fn main() {}
