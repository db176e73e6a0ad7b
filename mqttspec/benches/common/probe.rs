//! The benchmarks' MQTT client: rumqttc with TCP_NODELAY, subscribed to its response topic and an
//! echo topic (the bare-broker baseline).

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// A connected client and the payloads it receives.
pub struct Probe {
    pub client: AsyncClient,
    pub rx: mpsc::UnboundedReceiver<bytes::Bytes>,
}

/// Connects as `id` and waits until both subscriptions are active.
pub async fn probe(port: u16, id: &str) -> Probe {
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
            if let Event::Incoming(Packet::Publish(p)) = event
                && tx.send(p.payload).is_err()
            {
                return;
            }
        }
    });
    client.subscribe(format!("spec/{id}/response"), QoS::AtLeastOnce).await.unwrap();
    client.subscribe(format!("bench/{id}/echo"), QoS::AtLeastOnce).await.unwrap();
    let mut p = Probe { client, rx };
    // Wait until both subscriptions are active: an echo comes back.
    p.client.publish(format!("bench/{id}/echo"), QoS::AtLeastOnce, false, "warm").await.unwrap();
    p.rx.recv().await.unwrap();
    p
}
