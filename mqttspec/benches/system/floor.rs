//! The transport floor: mqttspec's own embedded broker (rmqtt 0.24 with mqttspec's ACL hooks and
//! request interception, [`EmbeddedBroker`]) behind a gate that republishes every request payload
//! to the client's response topic at QoS 1, from the publish-ACL hook where mqttspec takes its
//! requests: no parsing, no queue, no database. It runs as a child process of the benchmark
//! (`--echo-floor PORT`), like the quickstart, and ends when its stdin closes.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use mqttspec::protocol::Topics;
use mqttspec::transport::{
    ConnectDecision, ConnectRequest, EmbeddedBroker, EmbeddedConfig, Gate, InboundRequest, Outbound, Publisher, QoS,
    Transport,
};

struct EchoGate {
    topics: Topics,
    publisher: OnceLock<Arc<dyn Publisher>>,
}

#[async_trait::async_trait]
impl Gate for EchoGate {
    async fn connect(&self, _request: ConnectRequest) -> ConnectDecision {
        ConnectDecision::Accept
    }
    async fn connected(&self, _client_id: &str, _session: u64) {}
    async fn disconnected(&self, _client_id: &str, _session: u64) {}
    async fn session_ended(&self, _client_id: &str, _session: u64) {}

    async fn request(&self, request: InboundRequest) -> Result<(), InboundRequest> {
        let Some(publisher) = self.publisher.get() else { return Err(request) };
        let reply = Outbound {
            topic: self.topics.response(&request.client_id),
            payload: request.payload,
            qos: QoS::AtLeastOnce,
            correlation_data: request.correlation_data,
        };
        publisher.publish(reply).await.expect("echo published");
        Ok(())
    }

    async fn refused(&self, _request: InboundRequest) {}
    async fn remote_changes(&self, _changes: bytes::Bytes) {}
    async fn ownership_changed(&self) {}
    async fn instance_departed(&self, _instance: &str) {}

    fn allow_publish(&self, _client_id: &str, _topic: &str) -> bool {
        true
    }

    fn allow_subscribe(&self, _client_id: &str, _filter: &str) -> bool {
        true
    }
}

/// Serves the echo on `127.0.0.1:port` until stdin closes (the benchmark ended), on a default
/// multi-thread runtime like the quickstart's `#[tokio::main]`.
pub fn serve(port: u16) {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let gate = Arc::new(EchoGate { topics: Topics::new("spec"), publisher: OnceLock::new() });
        let config = EmbeddedConfig { tcp: SocketAddr::from(([127, 0, 0, 1], port)), ..EmbeddedConfig::default() };
        let broker = EmbeddedBroker::start(&config, Topics::new("spec"), gate.clone()).await.expect("echo broker");
        let _ = gate.publisher.set(broker.publisher());
        std::future::pending::<()>().await;
    });
}
