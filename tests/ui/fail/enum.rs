use mqttspec::SpecEntity;

#[derive(SpecEntity)]
enum Status {
    Active,
    Banned,
}

fn main() {}
