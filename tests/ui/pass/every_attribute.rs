use chrono::{DateTime, NaiveDate, Utc};
use mqttspec::{Entity, SpecEntity};

#[derive(SpecEntity)]
#[spec(schema = "shop", table = "order_lines", entity = "lines", rename_all = "camelCase", no_delete)]
pub struct OrderLine {
    #[spec(primary_key, generated)]
    pub line_id: i64,
    #[spec(rename = "qty")]
    pub quantity: u16,
    pub unit_price: f64,
    pub weight: Option<f32>,
    pub gift: bool,
    pub r#type: String,
    pub placed_at: DateTime<Utc>,
    pub ship_on: Option<NaiveDate>,
    pub external: Option<uuid::Uuid>,
    #[spec(filterable = false)]
    pub extra: serde_json::Value,
    #[spec(write_only)]
    pub token: Option<String>,
    #[spec(read_only, default = "0", sortable = false)]
    pub revision: i32,
    pub tiny: i8,
    pub small: i16,
    pub byte: u8,
    pub wide: u32,
    pub huge: u64,
    pub size: usize,
    pub offset: isize,
}

fn main() {
    let meta = OrderLine::META;
    assert_eq!(meta.schema, "shop");
    assert_eq!(meta.table, "order_lines");
    assert_eq!(meta.name, "lines");
    assert_eq!(meta.pk().name, "lineId");
    assert_eq!(meta.columns[1].name, "qty");
    assert_eq!(meta.columns[5].name, "type");
    assert!(!meta.operations.delete && meta.operations.create);
    assert_eq!(OrderLine::column_index("unitPrice"), Some(2));
    let postgres = OrderLine::sql().get(mqttspec::Dialect::Postgres);
    assert_eq!(postgres.select_by_pk, format!("SELECT {} FROM \"shop\".\"order_lines\" WHERE \"lineId\" = $1", postgres.columns));
}
