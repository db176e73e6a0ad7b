use mqttspec::SpecEntity;

#[derive(SpecEntity)]
struct Note {
    id: i64,
    body: Option<Option<String>>,
}

fn main() {}
