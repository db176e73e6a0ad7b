use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct Doc {
    id: i64,
    #[spec(sortable)]
    body: serde_json::Value,
}

fn main() {}
