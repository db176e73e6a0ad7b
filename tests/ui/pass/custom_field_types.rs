use mqttspec::{ColumnType, Entity, SpecEntity, field_type};

/// An alias is its type.
type Money = f64;

/// A newtype is stored, filtered and sent as its inner type.
#[derive(Debug, Clone)]
pub struct Email(pub String);
field_type!(Email(String));

#[derive(Debug, Clone, Copy)]
pub struct Quantity(pub u16);
field_type!(Quantity(u16));

/// An enum with `Display` and `FromStr` is stored as text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    Active,
    Blocked,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Active => "active",
            Status::Blocked => "blocked",
        })
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(Status::Active),
            "blocked" => Ok(Status::Blocked),
            _ => Err(format!("unknown status `{s}`")),
        }
    }
}
field_type!(Status as text);

#[derive(Debug, Clone, SpecEntity)]
struct Account {
    id: i64,
    email: Email,
    balance: Money,
    quantity: Quantity,
    status: Option<Status>,
}

fn main() {
    let c = Account::META.columns;
    assert_eq!((c[1].ty, c[1].nullable, c[1].sql.postgres), (ColumnType::Text, false, "TEXT"));
    assert_eq!((c[2].ty, c[2].sql.postgres), (ColumnType::Float, "DOUBLE PRECISION"));
    assert_eq!((c[3].ty, c[3].min, c[3].max, c[3].sql.postgres), (ColumnType::Integer, 0, 65535, "INTEGER"));
    assert_eq!((c[4].ty, c[4].nullable, c[4].filterable), (ColumnType::Text, true, true));
    assert!((c[4].check)(&mqttspec::Value::Text("active".into())).is_ok());
    assert_eq!((c[4].check)(&mqttspec::Value::Text("gone".into())), Err("`gone`: unknown status `gone`".to_owned()));
    let values = Account {
        id: 1,
        email: Email("a@x".into()),
        balance: 2.5,
        quantity: Quantity(3),
        status: Some(Status::Blocked),
    }
    .into_values();
    assert_eq!(values[4], mqttspec::Value::Text("blocked".into()));
    let back = Account::from_values(values).unwrap();
    assert_eq!((back.email.0.as_str(), back.quantity.0, back.status), ("a@x", 3, Some(Status::Blocked)));
}
