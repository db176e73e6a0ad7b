//! The benchmark of what users run: the quickstart's release binary out of process, driven by
//! real MQTT clients (rumqttc, TCP_NODELAY, QoS 1), beside its two floors measured in the same
//! run: the transport floor (mqttspec's embedded broker echoing requests, [`floor`]) and the
//! database floor (the same statements through sqlx, [`sqlbase`]). Systems are measured in
//! alternation, round after round, so that drift affects all alike. Also notification fan-out
//! ([`fanout`]) and resident memory ([`memory`]). Writes `BENCHMARKS.md` and its chart ([`report`]).
//!
//! `scripts/bench` (builds the quickstart, then `cargo bench --bench system`). Settings (env):
//! `BENCH_QUICK=1` (a smoke run of a minute or two), `MQTTSPEC_BENCH_POSTGRES_URL` (an admin URL;
//! unset: no PostgreSQL rows), `BENCH_ROUNDS`, `BENCH_SEQ`, `BENCH_RATE_SECS`, `BENCH_CLIENTS`,
//! `BENCH_WINDOW`, `BENCH_ROWS`, `BENCH_FANOUT_SUBS`, `BENCH_FANOUT_WRITES`, `BENCH_IDLE`,
//! `BENCH_VISITORS`, `BENCH_VISIT_SECS`, `BENCH_QUICKSTART` (the binary), `BENCH_OUT` (where the
//! report goes); for profiling, `BENCH_OPS` (operations to measure, e.g. `read by id,create`, or `none`)
//! and `BENCH_EXTRAS` (`0`: no fan-out or memory runs; `fanout`: no memory run).

mod fanout;
mod floor;
mod memory;
mod procs;
mod report;
mod sqlbase;
mod workload;

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection;

use common::measure::{NextRequest, OnReply, Rate, pipelined, sequential};
use common::probe::{Probe, probe};
use workload::{Db, Log, Op, created_id, expect_success, next_id};

/// The sizes of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BENCH_QUICK=1`.
    pub quick: bool,
    /// Alternating rounds.
    pub rounds: usize,
    /// Sequential round trips per system, operation and round.
    pub seq: usize,
    /// Seconds of each pipelined measurement.
    pub rate_secs: f64,
    /// Pipelining clients.
    pub clients: usize,
    /// Requests in flight per client.
    pub window: usize,
    /// Rows seeded (half of them `active`).
    pub rows: usize,
    /// Fan-out subscriptions.
    pub fanout_subs: usize,
    /// Fan-out writes measured.
    pub fanout_writes: usize,
    /// Idle connections.
    pub idle: usize,
    /// Distinct client ids that visit.
    pub visitors: usize,
    /// Bound on the visits, seconds.
    pub visit_secs: u64,
    /// PostgreSQL admin URL.
    pub postgres: Option<String>,
    /// The quickstart binary.
    pub quickstart: PathBuf,
    /// Where BENCHMARKS.md and docs/benchmarks.svg go.
    pub out: PathBuf,
    /// The operations measured (`BENCH_OPS`, default all).
    pub ops: Vec<Op>,
    /// Whether fan-out and memory are measured (`BENCH_EXTRAS`: `0` neither, `fanout` fan-out
    /// only; default both).
    pub extras: Extras,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

impl Config {
    fn from_env() -> Self {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf();
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
        Self {
            quick,
            rounds: env("BENCH_ROUNDS", if quick { 1 } else { 5 }),
            seq: env("BENCH_SEQ", if quick { 100 } else { 250 }),
            rate_secs: env("BENCH_RATE_SECS", if quick { 0.5 } else { 1.2 }),
            clients: env("BENCH_CLIENTS", 16),
            window: env("BENCH_WINDOW", 16),
            rows: env("BENCH_ROWS", 2000),
            fanout_subs: env("BENCH_FANOUT_SUBS", if quick { 2_000 } else { 10_000 }),
            fanout_writes: env("BENCH_FANOUT_WRITES", if quick { 10 } else { 50 }),
            idle: env("BENCH_IDLE", if quick { 2_000 } else { 10_000 }),
            visitors: env("BENCH_VISITORS", if quick { 10_000 } else { 100_000 }),
            visit_secs: env("BENCH_VISIT_SECS", if quick { 60 } else { 240 }),
            postgres: std::env::var("MQTTSPEC_BENCH_POSTGRES_URL").ok().filter(|u| !u.is_empty()),
            quickstart: std::env::var_os("BENCH_QUICKSTART")
                .map_or_else(|| target.join("release/examples/quickstart"), PathBuf::from),
            out: std::env::var_os("BENCH_OUT")
                .map_or_else(|| if quick { target.join("bench") } else { workspace }, PathBuf::from),
            ops: match std::env::var("BENCH_OPS") {
                Ok(list) if list == "none" => Vec::new(),
                Ok(list) if !list.is_empty() => list
                    .split(',')
                    .map(|name| {
                        let name = name.trim();
                        *Op::ALL
                            .iter()
                            .find(|op| op.short() == name)
                            .unwrap_or_else(|| panic!("BENCH_OPS: no `{name}`"))
                    })
                    .collect(),
                _ => Op::ALL.to_vec(),
            },
            extras: match std::env::var("BENCH_EXTRAS").as_deref() {
                Ok("0") => Extras::None,
                Ok("fanout") => Extras::Fanout,
                _ => Extras::All,
            },
        }
    }
}

/// What a run measures besides the operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extras {
    /// Nothing.
    None,
    /// Notification fan-out.
    Fanout,
    /// Fan-out and memory.
    All,
}

/// Who answers in a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Member {
    /// The echo floor.
    Floor,
    /// The quickstart with this logging.
    Quickstart(Log),
    /// sqlx on the database, no MQTT.
    Sqlx,
}

/// An MQTT server of the run and its clients.
struct System {
    child: procs::Child,
    floor: bool,
    seq: Probe,
    rate: Vec<Probe>,
    targets: Arc<Vec<i64>>,
    cursor: Arc<AtomicUsize>,
    created: Arc<Mutex<Vec<i64>>>,
}

impl System {
    /// Starts `child`'s clients once it listens; seeds `rows` rows unless it is the floor.
    async fn connect(mut child: procs::Child, tag: &str, config: &Config, floor: bool) -> Self {
        procs::wait_listening(&mut child, Duration::from_secs(60)).await;
        let mut seq = probe(child.port, &format!("{tag}-seq")).await;
        let mut rate = Vec::new();
        for c in 0..config.clients {
            rate.push(probe(child.port, &format!("{tag}-rate{c}")).await);
        }
        let mut targets = vec![1];
        if !floor {
            targets = seed(&mut seq, config.rows).await;
        }
        let (cursor, created) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
        Self { child, floor, seq, rate, targets: Arc::new(targets), cursor, created }
    }

    fn next(&self, op: Op) -> NextRequest {
        let (targets, cursor, created, floor) =
            (self.targets.clone(), self.cursor.clone(), self.created.clone(), self.floor);
        Arc::new(move |_| {
            let target = match op {
                Op::ReadById | Op::Update => targets[cursor.fetch_add(1, Ordering::Relaxed) % targets.len()],
                Op::Delete if !floor => created.lock().unwrap().pop()?,
                _ => 1,
            };
            Some(op.request(&next_id(), target))
        })
    }

    fn on_reply(&self, op: Op) -> OnReply {
        if self.floor {
            return Arc::new(|_| {});
        }
        let created = self.created.clone();
        Arc::new(move |reply| {
            expect_success(reply);
            if op == Op::Create {
                created.lock().unwrap().push(created_id(reply));
            }
        })
    }

    async fn sequential(&mut self, op: Op, n: usize) -> Vec<f64> {
        let n = if op == Op::Delete && !self.floor { n.min(self.created.lock().unwrap().len()) } else { n };
        let (next, on_reply) = (self.next(op), self.on_reply(op));
        let topic = self.seq.request_topic();
        sequential(&mut self.seq, &topic, n, |_| next(0).expect("a request"), |reply| on_reply(reply)).await
    }

    async fn rate(&mut self, op: Op, window: usize, duration: Duration) -> Rate {
        let (next, on_reply) = (self.next(op), self.on_reply(op));
        let probes = std::mem::take(&mut self.rate);
        let (probes, rate) = pipelined(probes, "spec/{id}/request", window, duration, next, on_reply).await;
        self.rate = probes;
        rate
    }

    /// Deletes the rows created and not deleted yet (not measured).
    async fn clean_up(&mut self, window: usize) {
        while !self.floor && !self.created.lock().unwrap().is_empty() {
            self.rate(Op::Delete, window, Duration::from_secs(60)).await;
        }
    }

    async fn close(self) -> procs::Child {
        self.seq.close().await;
        for p in self.rate {
            p.close().await;
        }
        self.child
    }
}

/// Creates `rows` users, half of them `active`, in batches of 100; their ids.
async fn seed(p: &mut Probe, rows: usize) -> Vec<i64> {
    let topic = p.request_topic();
    let mut ids = Vec::with_capacity(rows);
    for start in (0..rows).step_by(100) {
        let records: Vec<_> = (start..(start + 100).min(rows))
            .map(|i| {
                let status = if i % 2 == 0 { "active" } else { "away" };
                serde_json::json!({"name": format!("user {i}"), "email": format!("user{i}@example.org"), "status": status})
            })
            .collect();
        let request = serde_json::json!({"id": next_id(), "type": "request", "operation": "create", "entity": "users", "data": records});
        p.send(&topic, serde_json::to_vec(&request).unwrap()).await;
        let reply = p.next().await;
        expect_success(&reply.payload);
        let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
        ids.extend(reply["data"].as_array().expect("rows").iter().map(|r| r["id"].as_i64().expect("id")));
    }
    ids
}

/// The systems on one database.
struct OnDb {
    db: Db,
    default: System,
    warn: System,
    sqlx: Arc<sqlbase::SqlBase>,
}

/// Samples and rate of one (database, operation, member).
#[derive(Debug, Default, Clone)]
pub struct Acc {
    /// Sequential round trips, µs.
    pub samples: Vec<f64>,
    /// Pipelined.
    pub rate: Rate,
}

/// Everything a run measured.
#[derive(Debug, Default)]
pub struct Results {
    /// Per (database, operation, member).
    pub rows: BTreeMap<(Db, Op, Member), Acc>,
    /// Fan-out per database.
    pub fanout: Vec<(Db, fanout::Fanout)>,
    /// Memory of the SQLite quickstart.
    pub memory: memory::Memory,
    /// Databases measured.
    pub dbs: Vec<Db>,
    /// Wall time of the run.
    pub seconds: f64,
}

async fn measure_group(
    floor: &mut System,
    on: &mut OnDb,
    op: Op,
    round: usize,
    config: &Config,
    results: &mut Results,
) {
    let mut members = vec![Member::Floor, Member::Quickstart(Log::Default), Member::Quickstart(Log::Warn)];
    if op != Op::Ping {
        members.push(Member::Sqlx);
    }
    let first = round % members.len();
    members.rotate_left(first);
    let duration = Duration::from_secs_f64(config.rate_secs);
    for &member in &members {
        let samples = match member {
            Member::Floor => floor.sequential(op, config.seq).await,
            Member::Quickstart(Log::Default) => on.default.sequential(op, config.seq).await,
            Member::Quickstart(Log::Warn) => on.warn.sequential(op, config.seq).await,
            Member::Sqlx => on.sqlx.sequential(op, config.seq).await,
        };
        results.rows.entry((on.db, op, member)).or_default().samples.extend(samples);
    }
    for &member in &members {
        let rate = match member {
            Member::Floor => floor.rate(op, config.window, duration).await,
            Member::Quickstart(Log::Default) => on.default.rate(op, config.window, duration).await,
            Member::Quickstart(Log::Warn) => on.warn.rate(op, config.window, duration).await,
            Member::Sqlx => on.sqlx.concurrent(op, config.clients, duration).await,
        };
        results.rows.entry((on.db, op, member)).or_default().rate.add(rate);
    }
    let line: Vec<String> = members
        .iter()
        .map(|m| {
            let acc = &results.rows[&(on.db, op, *m)];
            let mut s = acc.samples.clone();
            format!(
                "{} {:.0} µs {:.0}/s",
                report::member_label(*m),
                common::measure::p50_p99(&mut s).0,
                acc.rate.per_second()
            )
        })
        .collect();
    println!("  {} {}: {}", on.db.label(), op.short(), line.join(" | "));
}

async fn start_db(db: Db, config: &Config, dir: &std::path::Path, databases: &mut procs::Databases) -> OnDb {
    let mut systems = Vec::new();
    let mut warn_url = String::new();
    for log in [Log::Default, Log::Warn] {
        let tag = format!(
            "{}-{}",
            if db == Db::Sqlite { "lite" } else { "pg" },
            if log == Log::Warn { "warn" } else { "info" }
        );
        let url = match (db, &config.postgres) {
            (Db::Postgres, Some(_)) => {
                databases.create(&format!("mqttspec_bench_{}_{}", std::process::id(), tag.replace('-', "_"))).await
            }
            _ => format!("sqlite://{}/{tag}.db", dir.display()),
        };
        let name = format!("quickstart, {}, {}", db.label(), log.label());
        let child = procs::start_quickstart(&config.quickstart, dir, &name, &url, log.rust_log());
        systems.push(System::connect(child, &tag, config, false).await);
        warn_url = url;
    }
    let warn = systems.pop().expect("warn");
    let default = systems.pop().expect("default");
    let sqlx = Arc::new(sqlbase::SqlBase::connect(&warn_url, warn.targets.to_vec()).await);
    OnDb { db, default, warn, sqlx }
}

async fn run(mut config: Config) {
    let started = Instant::now();
    assert!(
        config.quickstart.exists(),
        "{} is missing: build it with `cargo build --release --example quickstart` (scripts/bench does)",
        config.quickstart.display()
    );
    let dir = std::env::temp_dir().join(format!("mqttspec-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!("mqttspec system benchmark{}: {config:?}", if config.quick { " (quick)" } else { "" });
    if config.postgres.is_none() {
        eprintln!(
            "\n*** MQTTSPEC_BENCH_POSTGRES_URL is not set: the PostgreSQL rows are SKIPPED. ***\n\
             *** Set it to an admin URL, e.g. postgres://mqttspec:mqttspec@127.0.0.1:5432/postgres ***\n"
        );
    }
    if let Some(limit) = procs::open_files_limit()
        && limit < config.idle + 1000
    {
        config.idle = limit.saturating_sub(1000);
        eprintln!(
            "\n*** open files limited to {limit}: only {} idle connections (raise `ulimit -n`) ***\n",
            config.idle
        );
    }
    let mut databases = procs::Databases::new(config.postgres.clone());
    let mut results = Results { dbs: vec![Db::Sqlite], ..Results::default() };
    if config.postgres.is_some() {
        results.dbs.push(Db::Postgres);
    }
    let mut floor = System::connect(procs::start_floor(&dir), "floor", &config, true).await;
    let mut on_dbs = Vec::new();
    for &db in &results.dbs {
        on_dbs.push(start_db(db, &config, &dir, &mut databases).await);
    }
    println!("setup done in {:.1} s", started.elapsed().as_secs_f64());
    for round in 0..config.rounds {
        println!("round {}/{} (sequential p50, pipelined rate so far)", round + 1, config.rounds);
        for on in &mut on_dbs {
            for &op in &config.ops {
                measure_group(&mut floor, on, op, round, &config, &mut results).await;
            }
            on.default.clean_up(config.window).await;
            on.warn.clean_up(config.window).await;
            on.sqlx.clean_up().await;
        }
    }
    if config.extras != Extras::None {
        for on in &on_dbs {
            println!("fan-out on {} ({} subscriptions)", on.db.label(), config.fanout_subs);
            let tag = if on.db == Db::Sqlite { "lite" } else { "pg" };
            let fanout = fanout::run(on.warn.child.port, tag, config.fanout_subs, config.fanout_writes).await;
            println!("  {fanout:?}");
            results.fanout.push((on.db, fanout));
        }
    }
    if config.extras != Extras::All {
        for on in on_dbs {
            drop(on.default.close().await);
            drop(on.warn.close().await);
        }
        drop(floor.close().await);
        databases.drop_all().await;
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    for on in on_dbs {
        drop(on.default.close().await);
        drop(on.warn.close().await);
    }
    drop(floor.close().await);

    println!("memory: {} idle connections, {} visiting client ids", config.idle, config.visitors);
    let url = format!("sqlite://{}/memory.db", dir.display());
    let mut child = procs::start_quickstart(&config.quickstart, &dir, "memory", &url, Log::Warn.rust_log());
    procs::wait_listening(&mut child, Duration::from_secs(60)).await;
    // The row the visitors read, written past MQTT: a client of its own would count as a connection.
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("memory database");
    let insert =
        r#"INSERT INTO "users" ("name", "email", "status") VALUES ('visited', 'visited@example.org', 'active')"#;
    sqlx::query(insert).execute(&mut conn).await.expect("seed row");
    conn.close().await.expect("close");
    results.memory =
        memory::measure(child.pid(), child.port, config.idle, config.visitors, Duration::from_secs(config.visit_secs))
            .await;
    println!("  {:?}", results.memory);
    drop(child);
    databases.drop_all().await;
    let _ = std::fs::remove_dir_all(&dir);
    results.seconds = started.elapsed().as_secs_f64();
    report::write(&config, &results).await;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--echo-floor") {
        floor::serve(args.get(i + 1).and_then(|p| p.parse().ok()).expect("--echo-floor PORT"));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run(Config::from_env()));
}
