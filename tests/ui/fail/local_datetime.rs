use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct Event {
    id: i64,
    at: chrono::DateTime<chrono::Local>,
}

fn main() {}
