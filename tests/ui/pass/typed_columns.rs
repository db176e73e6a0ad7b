use mqttspec::query::{Condition, Operator};
use mqttspec::{SpecEntity, Value, field_type};

#[derive(Debug, Clone)]
pub struct Email(pub String);
field_type!(Email(String));

#[derive(SpecEntity)]
pub struct User {
    pub id: i64,
    pub tenant_id: String,
    pub age: i32,
    pub name: String,
    pub status: Option<String>,
    pub email: Email,
    pub active: bool,
    pub r#type: Option<u8>,
}

fn main() {
    let tenant = String::from("acme");
    let filter = User::TENANT_ID
        .eq(&tenant)
        .and(User::AGE.between(18, 65))
        .and(User::NAME.ilike("a%").or(User::STATUS.eq("active")).or(User::STATUS.is_null()))
        .and(User::EMAIL.neq(Email("x@y".into())))
        .and(User::ACTIVE.eq(true))
        .and(User::TYPE.is_in([1, 2]));
    let condition = filter.into_condition().unwrap();
    let Condition::And(items) = condition else { panic!("an AND") };
    assert_eq!(items[0], Condition::Compare { column: 1, op: Operator::Eq, value: Value::Text("acme".into()) });
    assert_eq!(items[1], Condition::Between { column: 2, low: Value::Int(18), high: Value::Int(65) });
    assert!(matches!(&items[2], Condition::Or(parts) if parts.len() == 3));
    assert_eq!(items[5], Condition::In { column: 7, values: vec![Value::Int(1), Value::Int(2)], negated: false });
    assert_eq!(User::TYPE.name(), "type");
    // What the types cannot rule out is refused when the filter is used.
    assert!(User::NAME.like("ends in \\").into_condition().is_err());
    assert!(User::NAME.eq("nul \0").into_condition().is_err());
}
