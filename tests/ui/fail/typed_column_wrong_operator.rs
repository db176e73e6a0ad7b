use mqttspec::SpecEntity;

#[derive(SpecEntity)]
pub struct User {
    pub id: i64,
    pub age: i32,
    pub active: bool,
    pub attrs: serde_json::Value,
}

fn main() {
    let _ = User::AGE.like("1%");
    let _ = User::ACTIVE.gt(false);
    let _ = User::ATTRS.eq(serde_json::json!({}));
}
