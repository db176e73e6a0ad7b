//! One node of a broadcast rmqtt cluster, with retained messages (which mqttspec's membership
//! needs) kept in memory and synchronised across the nodes.
//!
//! ```text
//! mqttspec-rmqtt-node --id 1 --mqtt 127.0.0.1:1883 --grpc 127.0.0.1:5363 \
//!     --peer 1@127.0.0.1:5363 --peer 2@127.0.0.1:5364
//! ```
//!
//! Every node lists every node (itself included) with `--peer`. With `--acl FILE` the node runs
//! the `rmqtt-acl` plugin on that file (`deploy/rmqtt/rmqtt-acl.toml`); without it anonymous
//! clients may do anything, which suits loopback experiments only.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use rmqtt::context::ServerContext;
use rmqtt::net::Builder;
use rmqtt::node::Node;
use rmqtt::server::MqttServer;

struct Args {
    id: u64,
    mqtt: SocketAddr,
    grpc: SocketAddr,
    peers: Vec<String>,
    acl: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut id, mut mqtt, mut grpc, mut peers, mut acl) = (None, None, None, Vec::new(), None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--id" => id = Some(value.parse().map_err(|e| format!("--id: {e}"))?),
            "--mqtt" => mqtt = Some(value.parse().map_err(|e| format!("--mqtt: {e}"))?),
            "--grpc" => grpc = Some(value.parse().map_err(|e| format!("--grpc: {e}"))?),
            "--peer" => peers.push(value),
            "--acl" => acl = Some(std::fs::read_to_string(&value).map_err(|e| format!("--acl {value}: {e}"))?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        id: id.ok_or("--id is required")?,
        mqtt: mqtt.ok_or("--mqtt is required")?,
        grpc: grpc.ok_or("--grpc is required")?,
        peers,
        acl,
    })
}

async fn run(args: Args) -> Result<(), String> {
    let peers: Vec<String> = args.peers.iter().map(|p| format!("{p:?}")).collect();
    let cluster = format!("node_grpc_addrs = [{}]\nnode_grpc_client_timeout = \"5s\"\n", peers.join(", "));
    let mut scx = ServerContext::new()
        .node(Node::new(args.id, 80.0, 90.0, Duration::from_secs(2)))
        .busy_check_enable(false)
        .plugins_config_map_add("rmqtt-cluster-broadcast", cluster)
        .plugins_config_map_add("rmqtt-retainer", "storage.type = \"ram\"\n");
    if let Some(acl) = &args.acl {
        scx = scx.plugins_config_map_add("rmqtt-acl", acl.as_str());
    }
    let scx = scx.build().await;
    scx.node.start_grpc_server(scx.clone(), args.grpc, true, false);
    rmqtt_retainer::register(&scx, true, false).await.map_err(|e| format!("retainer: {e}"))?;
    rmqtt_cluster_broadcast::register(&scx, true, false).await.map_err(|e| format!("cluster: {e}"))?;
    if args.acl.is_some() {
        rmqtt_acl::register(&scx, true, false).await.map_err(|e| format!("acl: {e}"))?;
    }
    let listener = Builder::new()
        .name("tcp")
        .laddr(args.mqtt)
        .nodelay(true)
        .reuseaddr(Some(true))
        .allow_anonymous(args.acl.is_none())
        .bind()
        .and_then(|l| l.tcp())
        .map_err(|e| format!("--mqtt {}: {e}", args.mqtt))?;
    let server = MqttServer::new(scx).listener(listener).build();
    eprintln!("rmqtt node {} running on {} (grpc {})", args.id, args.mqtt, args.grpc);
    tokio::select! {
        outcome = server.run() => outcome.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match parse() {
        Ok(args) => match run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mqttspec-rmqtt-node: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("mqttspec-rmqtt-node: {e}\n(see the comment at the top of src/main.rs)");
            ExitCode::from(2)
        }
    }
}
