//! Resident memory of the quickstart: per idle connection (each connected and subscribed to its
//! response topic), and its growth while distinct client ids connect, send one request and leave.
//! The clients are raw MQTT 3.1.1 over TCP (a few hundred bytes each on this side).

use std::io;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::procs::settled_rss_kib;

const IO_DEADLINE: Duration = Duration::from_secs(15);

fn push_len(packet: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if len == 0 {
            return;
        }
    }
}

fn push_str(body: &mut Vec<u8>, s: &str) {
    body.extend_from_slice(&(s.len() as u16).to_be_bytes());
    body.extend_from_slice(s.as_bytes());
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut packet = vec![first];
    push_len(&mut packet, body.len());
    packet.extend_from_slice(body);
    packet
}

async fn read_packet(stream: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let first = stream.read_u8().await?;
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let byte = stream.read_u8().await?;
        len |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await?;
    Ok((first, body))
}

fn refused(what: &str) -> io::Error {
    io::Error::other(what.to_owned())
}

/// Connects as `id` (clean session, keep-alive 10 min) and subscribes to its response topic.
pub async fn connect(port: u16, id: &str) -> io::Result<TcpStream> {
    tokio::time::timeout(IO_DEADLINE, async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let mut body = Vec::new();
        push_str(&mut body, "MQTT");
        body.extend_from_slice(&[4, 0x02, 0x02, 0x58]);
        push_str(&mut body, id);
        let mut subscribe = vec![0, 1];
        push_str(&mut subscribe, &format!("spec/{id}/response"));
        subscribe.push(1);
        stream.write_all(&[packet(0x10, &body), packet(0x82, &subscribe)].concat()).await?;
        match read_packet(&mut stream).await? {
            (0x20, ack) if ack.get(1) == Some(&0) => {}
            (_, ack) => return Err(refused(&format!("CONNACK {ack:?}"))),
        }
        match read_packet(&mut stream).await? {
            (0x90, ack) if ack.get(2) == Some(&1) => Ok(stream),
            (_, ack) => Err(refused(&format!("SUBACK {ack:?}"))),
        }
    })
    .await
    .map_err(|_| refused("no CONNACK/SUBACK in time"))?
}

/// One short-lived client: connects, reads record 1, acknowledges the reply, disconnects.
pub async fn visit(port: u16, id: &str) -> io::Result<()> {
    let mut stream = connect(port, id).await?;
    tokio::time::timeout(IO_DEADLINE, async {
        let mut publish = Vec::new();
        push_str(&mut publish, &format!("spec/{id}/request"));
        publish.extend_from_slice(br#"{"id":"v","type":"request","operation":"read","entity":"users","record_id":1}"#);
        stream.write_all(&packet(0x30, &publish)).await?;
        let (first, reply) = read_packet(&mut stream).await?;
        if first & 0xf0 != 0x30 {
            return Err(refused(&format!("packet {first:#x} instead of the reply")));
        }
        let topic_len = usize::from(u16::from_be_bytes([reply[0], reply[1]]));
        if first & 0x06 != 0 {
            let id = &reply[2 + topic_len..4 + topic_len];
            stream.write_all(&packet(0x40, id)).await?;
        }
        // rmqtt 0.24 leaves the socket open after DISCONNECT until the client closes it.
        stream.write_all(&[0xe0, 0]).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| refused("no reply or close in time"))?
}

/// Memory figures of one quickstart process.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// Idle connections that connected (of those tried).
    pub idle_connected: usize,
    /// Tried.
    pub idle_tried: usize,
    /// Why the first idle connection that failed did.
    pub idle_error: Option<String>,
    /// VmRSS before and with them, KiB.
    pub idle_rss: (u64, u64),
    /// VmRSS after they left, KiB.
    pub after_idle_kib: u64,
    /// (client ids so far, VmRSS KiB) at the start and after each batch of visits.
    pub churn: Vec<(usize, u64)>,
    /// Visits that failed.
    pub churn_failed: usize,
    /// Seconds the visits took.
    pub churn_secs: f64,
    /// Whether the time bound stopped the visits early.
    pub churn_cut: bool,
}

impl Memory {
    /// Bytes per idle connection.
    pub fn per_connection(&self) -> f64 {
        (self.idle_rss.1 as f64 - self.idle_rss.0 as f64) * 1024.0 / self.idle_connected.max(1) as f64
    }

    /// Growth from the first quarter of the visits to the last, KiB: the start is no baseline, as
    /// the allocator may still be giving back what the idle connections used (mimalloc does).
    pub fn churn_growth_kib(&self) -> i64 {
        match (self.churn.get(1), self.churn.last()) {
            (Some(a), Some(b)) => b.1 as i64 - a.1 as i64,
            _ => 0,
        }
    }
}

/// Measures `pid` (listening on `port`): `idle` idle connections, then `visits` client ids in
/// four batches, within `bound`.
pub async fn measure(pid: u32, port: u16, idle: usize, visits: usize, bound: Duration) -> Memory {
    let mut memory = Memory { idle_tried: idle, ..Memory::default() };
    let before = settled_rss_kib(pid).await;
    let streams: Vec<_> = futures::stream::iter(0..idle)
        .map(|i| async move { connect(port, &format!("idle-{i}")).await })
        .buffer_unordered(64)
        .collect()
        .await;
    memory.idle_error = streams.iter().find_map(|s| s.as_ref().err().map(|e| e.to_string()));
    let streams: Vec<TcpStream> = streams.into_iter().filter_map(Result::ok).collect();
    memory.idle_connected = streams.len();
    memory.idle_rss = (before, settled_rss_kib(pid).await);
    drop(streams);
    memory.after_idle_kib = settled_rss_kib(pid).await;

    let started = Instant::now();
    memory.churn.push((0, memory.after_idle_kib));
    let batch = visits.div_ceil(4).max(1);
    let mut done = 0;
    while done < visits {
        if started.elapsed() >= bound {
            memory.churn_cut = true;
            break;
        }
        let range = done..(done + batch).min(visits);
        let failed = futures::stream::iter(range.clone())
            .map(|i| async move {
                if started.elapsed() >= bound {
                    return None;
                }
                Some(visit(port, &format!("visitor-{i}")).await.is_err())
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
        let attempted = failed.iter().flatten().count();
        memory.churn_failed += failed.iter().flatten().filter(|f| **f).count();
        done += attempted;
        memory.churn.push((done, settled_rss_kib(pid).await));
        if attempted < range.len() {
            memory.churn_cut = true;
            break;
        }
    }
    memory.churn_secs = started.elapsed().as_secs_f64();
    memory
}
