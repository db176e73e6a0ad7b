use mqttspec::{Entity, SpecEntity};

/// The key is the field named `id`; the table is the snake_case plural.
#[derive(Debug, Clone, SpecEntity)]
struct SensorReading {
    id: uuid::Uuid,
    value: f64,
}

#[derive(SpecEntity)]
#[spec(read_only)]
struct Category {
    id: i32,
    label: String,
}

fn main() {
    assert_eq!(SensorReading::META.table, "sensor_readings");
    assert_eq!(SensorReading::META.name, "sensor_readings");
    assert_eq!(SensorReading::META.schema, "public");
    assert_eq!(Category::META.table, "categories");
    assert!(!Category::META.operations.create);
    assert_eq!(SensorReading::sql().get(mqttspec::Dialect::Sqlite).select, "SELECT \"id\", \"value\" FROM \"sensor_readings\"");
}
