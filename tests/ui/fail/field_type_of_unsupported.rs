use mqttspec::{SpecEntity, field_type};

pub struct Tags(pub Vec<String>);
field_type!(Tags(Vec<String>));

#[derive(SpecEntity)]
struct Post {
    id: i64,
    tags: Tags,
}

fn main() {}
