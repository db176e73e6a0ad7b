//! The multi_tenant and iot_sensors examples, driven over MQTT.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value as Json, json};

use crate::example::Example;
use crate::harness::{TestClient, err, ok};

const SECRET: &str = "test-secret";

fn token(sub: &str, tenant: &str, roles: &[&str], exp_offset: Option<i64>) -> String {
    let mut claims = json!({"sub": sub, "tenant_id": tenant, "roles": roles});
    if let Some(offset) = exp_offset {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        claims["exp"] = json!(now + offset);
    }
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

async fn tenant_client(port: u16, id: &str, token: &str) -> TestClient {
    let mut c = TestClient::connect(port, id, Some((token, ""))).await.expect("token accepted");
    c.subscribe_own().await;
    c
}

fn names(data: &Json) -> Vec<String> {
    let mut names: Vec<String> =
        data.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_tenant_isolates_tenants() {
    let server = Example::start("multi_tenant", &[("MQTTSPEC_JWT_SECRET", SECRET)]);
    let port = server.port;
    // Bad, foreign-signed and expired tokens are refused at CONNECT.
    for bad in ["not-a-jwt", &token("x", "a", &[], Some(-60))] {
        let refused = TestClient::connect(port, "intruder", Some((bad, ""))).await.err().expect("refused");
        assert!(refused.contains("NotAuthorized"), "{refused}");
    }
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "x", "tenant_id": "a"}),
        &jsonwebtoken::EncodingKey::from_secret(b"other"),
    )
    .unwrap();
    assert!(TestClient::connect(port, "forger", Some((&forged, ""))).await.is_err());
    assert!(TestClient::connect(port, "anonymous", None).await.is_err());

    // A token whose expiry is now passes CONNECT (it is not yet past) but is expired for every
    // request: what happens to any token once its time has come.
    let mut expiring = None;
    for _ in 0..3 {
        if let Ok(c) = TestClient::connect(port, "expiring", Some((&token("eve", "a", &[], Some(0)), ""))).await {
            expiring = Some(c);
            break;
        }
    }
    let mut expiring = expiring.expect("a token expiring this very second is accepted at CONNECT");
    expiring.subscribe_own().await;
    err(&expiring.request(json!({"operation": "read", "entity": "users"})).await, "unauthorized");

    let mut a = tenant_client(port, "a1", &token("ann", "a", &[], Some(3600))).await;
    let mut b = tenant_client(port, "b1", &token("bob", "b", &[], None)).await;
    let mut b_admin = tenant_client(port, "b-admin", &token("boss", "b", &["admin"], None)).await;

    let sub = ok(&a.request(json!({"type": "subscription", "entity": "users"})).await);
    let a_sub = sub["subscription_id"].as_str().unwrap().to_owned();
    // A client cannot choose another tenant: the hook sets it.
    let ann = ok(&a.request(json!({"operation": "create", "entity": "users", "data": {"tenant_id": "b", "name": "Ann", "email": "ann@a"}})).await);
    assert_eq!(ann["tenant_id"], "a");
    let n = a.notification().await;
    assert_eq!((n["subscription_id"].clone(), n["data"]["name"].clone()), (json!(a_sub), json!("Ann")));
    let bo = ok(&b
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "Bo", "email": "bo@b"}}))
        .await);
    assert_eq!(bo["tenant_id"], "b");
    a.no_notification().await; // tenant A never receives a row of tenant B by notification ...
    assert_eq!(names(&ok(&a.request(json!({"operation": "read", "entity": "users"})).await)), ["Ann"]); // ... nor by read
    assert_eq!(names(&ok(&b.request(json!({"operation": "read", "entity": "users"})).await)), ["Bo"]);
    err(&a.request(json!({"operation": "read", "entity": "users", "record_id": bo["id"]})).await, "not_found");
    // Filtering on tenant_id only narrows.
    let sneaky = json!({"operation": "read", "entity": "users", "options": {"filters": [{"column": "tenant_id", "operator": "eq", "value": "b"}]}});
    assert_eq!(ok(&a.request(sneaky).await), json!([]));
    let sneaky_or = json!({"operation": "read", "entity": "users", "options": {"filters": [{"column": "tenant_id", "operator": "eq", "value": "a"}, {"column": "tenant_id", "operator": "eq", "value": "b", "logic_operator": "OR"}]}});
    assert_eq!(names(&ok(&a.request(sneaky_or).await)), ["Ann"]);
    // Writes across tenants: not_found; moving a row: forbidden; delete needs admin.
    err(
        &b.request(
            json!({"operation": "update", "entity": "users", "record_id": ann["id"], "data": {"name": "pwned"}}),
        )
        .await,
        "not_found",
    );
    err(
        &b.request(
            json!({"operation": "update", "entity": "users", "record_id": bo["id"], "data": {"tenant_id": "a"}}),
        )
        .await,
        "forbidden",
    );
    err(&b.request(json!({"operation": "delete", "entity": "users", "record_id": bo["id"]})).await, "forbidden");
    err(&b_admin.request(json!({"operation": "delete", "entity": "users", "record_id": ann["id"]})).await, "not_found");
    ok(&b
        .request(json!({"operation": "update", "entity": "users", "record_id": bo["id"], "data": {"status": "x"}}))
        .await);
    ok(&b_admin.request(json!({"operation": "delete", "entity": "users", "record_id": bo["id"]})).await);
    a.no_notification().await;
    let still = ok(&a.request(json!({"operation": "read", "entity": "users", "record_id": ann["id"]})).await);
    assert_eq!(still["name"], "Ann");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iot_sensors_stamps_device_and_time() {
    let server = Example::start("iot_sensors", &[]);
    let mut device = TestClient::connect(server.port, "thermo-7", None).await.unwrap();
    device.subscribe_own().await;
    let reading = ok(&device
        .request(json!({"operation": "create", "entity": "sensor_readings", "data": {"metric": "temp", "value": 21.5}}))
        .await);
    assert_eq!(reading["device_id"], "thermo-7");
    assert!(reading["recorded_at"].as_str().is_some_and(|t| t.starts_with("20")), "{reading}");
    // device_id is not the client's to choose; readings are immutable.
    err(&device.request(json!({"operation": "create", "entity": "sensor_readings", "data": {"metric": "t", "value": 1, "device_id": "other"}})).await, "validation_error");
    err(&device.request(json!({"operation": "update", "entity": "sensor_readings", "record_id": reading["id"], "data": {"value": 1}})).await, "forbidden");
    err(&device.request(json!({"operation": "create", "entity": "sensor_readings", "data": {"metric": "t", "value": 1, "recorded_at": "2000-01-01T00:00:00Z"}})).await, "validation_error");
    let mine = ok(&device.request(json!({"operation": "read", "entity": "sensor_readings", "options": {"filters": [{"column": "device_id", "operator": "eq", "value": "thermo-7"}]}})).await);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    // Another device cannot delete this reading; its own device can.
    let mut other = TestClient::connect(server.port, "hygro-2", None).await.unwrap();
    other.subscribe_own().await;
    err(
        &other.request(json!({"operation": "delete", "entity": "sensor_readings", "record_id": reading["id"]})).await,
        "not_found",
    );
    ok(&device.request(json!({"operation": "delete", "entity": "sensor_readings", "record_id": reading["id"]})).await);
}

/// CONNECT (with a username) then a SUBSCRIBE to `filter`, written as raw bytes: MQTT clients
/// refuse to send an invalid filter, an attacker does not.
async fn raw_invalid_subscribe(port: u16, version: u8, id: &str, username: &str, filter: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let v5 = version == 5;
    use crate::raw::{packet, string};
    let mut connect = Vec::new();
    string("MQTT", &mut connect);
    connect.extend([version, 0x80 | 0x40 | 0x02, 0, 60]);
    if v5 {
        connect.push(0); // no properties
    }
    string(id, &mut connect);
    string(username, &mut connect);
    string("", &mut connect);
    let mut subscribe = vec![0, 1];
    if v5 {
        subscribe.push(0);
    }
    string(filter, &mut subscribe);
    subscribe.push(1);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(&[packet(0x10, connect), packet(0x82, subscribe)].concat()).await.unwrap();
    // CONNACK, then a SUBACK refusing the filter (MQTT 5) or the connection closed (3.1.1).
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(crate::harness::WAIT, async {
        let mut got = Vec::new();
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            // CONNACK (4 bytes in 3.1.1) and a SUBACK (0x90) have arrived.
            if got.len() > 4 && got.contains(&0x90) {
                return got;
            }
        }
    })
    .await
    .expect("the broker answers or closes");
    assert_eq!(read.first(), Some(&0x20), "CONNACK first: {read:?}");
    // The SUBACK refuses the filter: "topic filter invalid" (MQTT 5), "failure" (3.1.1).
    let suback = read.iter().position(|&b| b == 0x90).map(|at| &read[at..]);
    let expected = if v5 { 0x8F } else { 0x80 };
    assert_eq!(suback.and_then(|p| p.last()), Some(&expected), "SUBACK: {read:?}");
}

/// A client whose username is its JWT sends malformed SUBSCRIBEs (`a/#/b`, `a+/b`), MQTT 3.1.1 and
/// 5, again and again: each is refused in its SUBACK, its token never reaches the log, and the log
/// does not grow with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_subscribes_neither_leak_credentials_nor_fill_the_log() {
    let server = Example::start("multi_tenant", &[("MQTTSPEC_JWT_SECRET", SECRET)]);
    let jwt = token("mallory", "a", &[], Some(3600));
    let before = server.log.lock().unwrap().bytes;
    let attempts = 40;
    for i in 0..attempts {
        let version = if i % 2 == 0 { 4 } else { 5 };
        let filter = if i % 4 < 2 { "a/#/b" } else { "a+/b" };
        raw_invalid_subscribe(server.port, version, &format!("mallory{i}"), &jwt, filter).await;
    }
    // The server still serves, and has logged whatever it logs for these connections by now.
    let mut c = tenant_client(server.port, "after", &token("bob", "a", &[], Some(3600))).await;
    ok(&c.request(json!({"operation": "read", "entity": "users"})).await);
    let log = server.log.lock().unwrap();
    let signature = jwt.rsplit('.').next().unwrap();
    assert!(!log.text.contains(signature), "the token reached the log:\n{}", log.text);
    let grown = log.bytes - before;
    assert!(grown < attempts * 200, "{grown} bytes of log for {attempts} malformed SUBSCRIBEs:\n{}", log.text);
}
