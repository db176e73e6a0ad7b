//! The benchmarks' MQTT client: rumqttc (MQTT 3.1.1) with TCP_NODELAY, subscribed to its response
//! topic and an echo topic outside the namespace; every message it receives is stamped on arrival.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// How long any one reply may take before a benchmark gives up (a dead server must not hang it).
pub const REPLY_DEADLINE: Duration = Duration::from_secs(30);

/// A message received, stamped by the client's event loop as it arrived.
#[derive(Debug)]
pub struct Received {
    /// Arrival time.
    pub at: Instant,
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
}

/// A connected client and what it receives.
pub struct Probe {
    /// Its client id.
    pub id: String,
    /// Publishes.
    pub client: AsyncClient,
    /// Messages received.
    pub rx: mpsc::UnboundedReceiver<Received>,
}

impl Probe {
    /// `spec/{id}/request`.
    pub fn request_topic(&self) -> String {
        format!("spec/{}/request", self.id)
    }

    /// Publishes at QoS 1.
    pub async fn send(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload.into()).await.expect("event loop alive");
    }

    /// The next message, or a panic after [`REPLY_DEADLINE`].
    pub async fn next(&mut self) -> Received {
        match tokio::time::timeout(REPLY_DEADLINE, self.rx.recv()).await {
            Ok(Some(received)) => received,
            Ok(None) => panic!("{}: connection lost", self.id),
            Err(_) => panic!("{}: no message within {REPLY_DEADLINE:?}", self.id),
        }
    }

    /// Disconnects cleanly.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// Connects as `id`, subscribed to `spec/{id}/response` and `bench/{id}/echo`, once both
/// subscriptions are active.
pub async fn probe(port: u16, id: &str) -> Probe {
    probe_with(port, id, &[]).await
}

/// [`probe`], also subscribed to `extra` filters (`{id}` in them becomes the client id).
pub async fn probe_with(port: u16, id: &str, extra: &[&str]) -> Probe {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_max_packet_size(1 << 20, 1 << 20);
    options.set_request_channel_capacity(1024);
    options.set_inflight(200);
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                let received = Received { at: Instant::now(), topic: p.topic, payload: p.payload };
                if tx.send(received).is_err() {
                    return;
                }
            }
        }
    });
    client.subscribe(format!("spec/{id}/response"), QoS::AtLeastOnce).await.unwrap();
    for filter in extra {
        client.subscribe(filter.replace("{id}", id), QoS::AtLeastOnce).await.unwrap();
    }
    client.subscribe(format!("bench/{id}/echo"), QoS::AtLeastOnce).await.unwrap();
    let mut p = Probe { id: id.to_owned(), client, rx };
    // The broker handles one session's packets in order: once an echo comes back, every
    // subscription before it is active.
    p.send(&format!("bench/{id}/echo"), "warm").await;
    p.next().await;
    p
}
