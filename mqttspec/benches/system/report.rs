//! The run's report: the console table with ratios to the floors, `BENCHMARKS.md` (machine, date,
//! commit, command, tables) and its chart, `docs/benchmarks.svg` (hand-written SVG).

use std::fmt::Write;
use std::process::Command;

use super::common::measure::p50_p99;
use super::workload::{Db, Log, Op};
use super::{Acc, Config, Member, Results};

/// A member's short name.
pub fn member_label(member: Member) -> &'static str {
    match member {
        Member::Floor => "floor",
        Member::Quickstart(Log::Default) => "quickstart",
        Member::Quickstart(Log::Warn) => "quickstart warn",
        Member::Sqlx => "sqlx",
    }
}

/// One row of the main table.
struct Row {
    db: Db,
    op: Op,
    log: Log,
    seq: (f64, f64),
    floor_seq: f64,
    sqlx_seq: Option<f64>,
    rate: f64,
    floor_rate: f64,
    sqlx_rate: Option<f64>,
}

impl Row {
    fn label(&self) -> String {
        format!("{}, {}, {}", self.op.label(), self.db.label(), self.log.label())
    }

    fn short(&self) -> String {
        let log = if self.log == Log::Warn { "warn" } else { "default log" };
        format!("{}, {}, {log}", self.op.short(), self.db.label())
    }
}

fn p50(acc: &Acc) -> (f64, f64) {
    p50_p99(&mut acc.samples.clone())
}

fn rows(results: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    for &db in &results.dbs {
        for op in Op::ALL {
            let get = |m| results.rows.get(&(db, op, m));
            let Some(floor) = get(Member::Floor) else { continue };
            for log in [Log::Default, Log::Warn] {
                let Some(acc) = get(Member::Quickstart(log)) else { continue };
                let sqlx = get(Member::Sqlx);
                rows.push(Row {
                    db,
                    op,
                    log,
                    seq: p50(acc),
                    floor_seq: p50(floor).0,
                    sqlx_seq: sqlx.map(|a| p50(a).0),
                    rate: acc.rate.per_second(),
                    floor_rate: floor.rate.per_second(),
                    sqlx_rate: sqlx.map(|a| a.rate.per_second()),
                });
            }
        }
    }
    rows
}

fn us(v: f64) -> String {
    if v.is_nan() { "—".into() } else { thousands(v.round() as i64) + " µs" }
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("−{out}") } else { out }
}

fn per_s(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k/s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k/s", v / 1000.0)
    } else {
        format!("{v:.0}/s")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn sh(command: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(command).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned())))
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or_else(|| "?".into(), |kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = sh("rustc", &["-V"]).unwrap_or_else(|| "rustc ?".into());
    format!("{cpu}, {cores} cores, {memory} RAM, Linux {}, {rustc}", kernel.trim())
}

fn commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let head = sh("git", &["-C", dir, "rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = sh("git", &["-C", dir, "status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head} with uncommitted changes") } else { head }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() { format!("{:.2}", a / b) } else { "—".into() }
}

/// The headline rows: the issue's table.
const HEADLINE: [(Op, Db, Log); 9] = [
    (Op::Ping, Db::Sqlite, Log::Default),
    (Op::Ping, Db::Sqlite, Log::Warn),
    (Op::ReadById, Db::Sqlite, Log::Warn),
    (Op::ReadById, Db::Postgres, Log::Warn),
    (Op::ReadMany, Db::Sqlite, Log::Warn),
    (Op::ReadMany, Db::Postgres, Log::Warn),
    (Op::Create, Db::Sqlite, Log::Warn),
    (Op::Create, Db::Postgres, Log::Warn),
    (Op::Create, Db::Sqlite, Log::Default),
];

fn headline_table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| QoS 1, quickstart as shipped | seq p50 | × floor | 16 clients × 16 in flight | × floor |\n|---|---|---|---|---|\n",
    );
    for (op, db, log) in HEADLINE {
        if let Some(r) = rows.iter().find(|r| r.op == op && r.db == db && r.log == log) {
            let label = if op == Op::Ping { format!("ping ({})", log.label()) } else { r.label() };
            let _ = writeln!(
                t,
                "| {label} | {} | {} | {} | {} |",
                us(r.seq.0),
                ratio(r.seq.0, r.floor_seq),
                per_s(r.rate),
                ratio(r.rate, r.floor_rate)
            );
        }
    }
    t
}

fn full_table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| QoS 1, quickstart as shipped | seq p50 | seq p99 | echo floor p50 | × floor | sqlx p50 | pipelined rate | echo floor rate | × floor | sqlx, 16 tasks |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label(),
            us(r.seq.0),
            us(r.seq.1),
            us(r.floor_seq),
            ratio(r.seq.0, r.floor_seq),
            r.sqlx_seq.map_or("—".into(), us),
            per_s(r.rate),
            per_s(r.floor_rate),
            ratio(r.rate, r.floor_rate),
            r.sqlx_rate.map_or("—".into(), per_s),
        );
    }
    t
}

fn fanout_table(results: &Results) -> String {
    let mut t = String::from(
        "| fan-out, quickstart (RUST_LOG=warn) | subscriptions (matching) | connections | writes | reply → last notification p50 / p99 | request → last notification p50 / p99 | the write's own round trip p50 |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (db, f) in &results.fanout {
        let _ = writeln!(
            t,
            "| update of one row, {} | {} ({}) | {} | {} | {} / {} | {} / {} | {} |",
            db.label(),
            thousands(f.subscriptions as i64),
            thousands(f.matching as i64),
            f.connections,
            f.writes,
            us(f.after_reply.0),
            us(f.after_reply.1),
            us(f.after_request.0),
            us(f.after_request.1),
            us(f.write_p50),
        );
    }
    t
}

fn memory_table(results: &Results) -> String {
    let m = &results.memory;
    let mut t = String::from("| resident memory, quickstart (SQLite, RUST_LOG=warn) | figure |\n|---|---:|\n");
    let _ = writeln!(
        t,
        "| per idle connection ({} of {} connected{}, each subscribed to its response topic; VmRSS {} → {}) | {:.1} KiB |",
        thousands(m.idle_connected as i64),
        thousands(m.idle_tried as i64),
        m.idle_error.as_ref().map_or(String::new(), |e| format!(" (first failure: {e})")),
        mib(m.idle_rss.0),
        mib(m.idle_rss.1),
        m.per_connection() / 1024.0
    );
    let ids = m.churn.last().map_or(0, |c| c.0);
    let trail: Vec<String> =
        m.churn.iter().map(|(n, kib)| format!("{}: {}", thousands(*n as i64), mib(*kib))).collect();
    let _ = writeln!(
        t,
        "| growth over {} distinct client ids, each connecting, reading a row and leaving, from the first quarter to the last ({:.0} s{}{}; VmRSS after 0 / each quarter: {}) | {} |",
        thousands(ids as i64),
        m.churn_secs,
        if m.churn_cut { ", cut by the time bound" } else { "" },
        if m.churn_failed > 0 { format!(", {} failed", m.churn_failed) } else { String::new() },
        trail.join(", "),
        {
            let g = m.churn_growth_kib();
            format!("{}{:.1} MiB", if g < 0 { "−" } else { "+" }, g.unsigned_abs() as f64 / 1024.0)
        }
    );
    t
}

/// A logarithmic axis over whole decades.
struct LogAxis {
    lo: f64,
    hi: f64,
    width: f64,
}

impl LogAxis {
    fn over(values: impl Iterator<Item = f64>, width: f64) -> Self {
        let (min, max) = values.filter(|v| *v > 0.0).fold((f64::MAX, 1.0_f64), |(a, b), v| (a.min(v), b.max(v)));
        let lo = 10f64.powf(min.min(max).log10().floor());
        Self { lo, hi: 10f64.powf(max.log10().ceil()).max(lo * 10.0), width }
    }

    fn x(&self, v: f64) -> f64 {
        ((v.max(self.lo) / self.lo).log10() / (self.hi / self.lo).log10() * self.width).max(1.0)
    }

    fn decades(&self) -> impl Iterator<Item = f64> + '_ {
        (0..).map(|k| self.lo * 10f64.powi(k)).take_while(|v| *v <= self.hi * 1.001)
    }
}

/// Horizontal grouped bars per row, on logarithmic axes (equal ratios, equal lengths): echo floor,
/// sqlx, quickstart; sequential p50 on the left, pipelined rate on the right.
fn svg(rows: &[Row], title: &str) -> String {
    const LABEL_W: f64 = 250.0;
    const PANEL_W: f64 = 330.0;
    const GAP: f64 = 70.0;
    const BAR: f64 = 6.0;
    const GROUP: f64 = 3.0 * BAR + 8.0;
    const TOP: f64 = 80.0;
    let width = LABEL_W + 2.0 * PANEL_W + GAP + 60.0;
    let bottom = TOP + GROUP * rows.len() as f64;
    let height = bottom + 30.0;
    let seq = LogAxis::over(rows.iter().flat_map(|r| [r.seq.0, r.floor_seq, r.sqlx_seq.unwrap_or(0.0)]), PANEL_W);
    let rate = LogAxis::over(rows.iter().flat_map(|r| [r.rate, r.floor_rate, r.sqlx_rate.unwrap_or(0.0)]), PANEL_W);
    let colors = [
        ("#9e9e9e", "echo floor (embedded broker, no dispatch)"),
        ("#4c78a8", "sqlx, no MQTT"),
        ("#f58518", "quickstart"),
    ];
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="10" y="18" font-size="14" font-weight="bold">{title}</text>"#);
    for (i, (color, name)) in colors.iter().enumerate() {
        let x = 10.0 + i as f64 * 260.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="28" width="10" height="10" fill="{color}"/><text x="{}" y="37">{name}</text>"#,
            x + 14.0
        );
    }
    let panels = [
        (LABEL_W, &seq, "sequential p50, µs (log scale; shorter is better)"),
        (LABEL_W + PANEL_W + GAP, &rate, "16 clients × 16 in flight, requests/s (log scale; longer is better)"),
    ];
    for (panel, (x0, axis, name)) in panels.iter().enumerate() {
        let _ = writeln!(s, r#"<text x="{x0}" y="{}" font-weight="bold">{name}</text>"#, TOP - 24.0);
        for v in axis.decades() {
            let x = x0 + axis.x(v);
            let label = if panel == 0 { us(v) } else { per_s(v) };
            let _ =
                writeln!(s, r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="#e0e0e0"/>"##, TOP - 6.0);
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{}" text-anchor="middle" font-size="9" fill="#666">{label}</text>"##,
                TOP - 9.0
            );
        }
        let _ = writeln!(s, r##"<line x1="{x0}" y1="{}" x2="{x0}" y2="{bottom}" stroke="#444"/>"##, TOP - 6.0);
    }
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + i as f64 * GROUP;
        if i > 0 && rows[i - 1].db != r.db {
            let _ = writeln!(
                s,
                r##"<line x1="10" y1="{}" x2="{}" y2="{}" stroke="#bbb"/>"##,
                y - 3.0,
                width - 10.0,
                y - 3.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LABEL_W - 6.0,
            y + GROUP / 2.0,
            r.short()
        );
        let values = [[Some(r.floor_seq), r.sqlx_seq, Some(r.seq.0)], [Some(r.floor_rate), r.sqlx_rate, Some(r.rate)]];
        for (panel, values) in values.iter().enumerate() {
            let (x0, axis, _) = panels[panel];
            for (k, value) in values.iter().enumerate() {
                let Some(v) = value.filter(|v| *v > 0.0) else { continue };
                let w = axis.x(v);
                let by = y + k as f64 * BAR;
                let _ = writeln!(
                    s,
                    r#"<rect x="{x0}" y="{by}" width="{w:.1}" height="{}" fill="{}"/>"#,
                    BAR - 1.0,
                    colors[k].0
                );
                if k == 2 {
                    let text = if panel == 0 { us(v) } else { per_s(v) };
                    let _ =
                        writeln!(s, r#"<text x="{:.1}" y="{}" font-size="9">{text}</text>"#, x0 + w + 3.0, by + BAR);
                }
            }
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Prints the tables and writes `BENCHMARKS.md` and `docs/benchmarks.svg` under `config.out`.
pub async fn write(config: &Config, results: &Results) {
    let rows = rows(results);
    let headline = headline_table(&rows);
    let full = full_table(&rows);
    let fanout = fanout_table(results);
    let memory = memory_table(results);
    println!("\n{full}\n{fanout}\n{memory}");
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let mut command = std::env::var("BENCH_COMMAND").unwrap_or_else(|_| "cargo bench --bench system".into());
    if config.quick {
        command = format!("BENCH_QUICK=1 {command}");
    }
    if config.postgres.is_some() {
        command = format!("MQTTSPEC_BENCH_POSTGRES_URL=<admin URL> {command}");
    }
    let minutes = results.seconds / 60.0;
    let postgres_note = if config.postgres.is_none() {
        "\n**PostgreSQL was not measured** (`MQTTSPEC_BENCH_POSTGRES_URL` unset): its rows are missing.\n"
    } else {
        ""
    };
    let sizes = format!(
        "{} alternating rounds; per round, system and operation: {} sequential round trips and {:.1} s of \
         {} clients × {} in flight; {} seeded rows; fan-out {} subscriptions × {} writes; {} idle connections; \
         {} visiting client ids (bounded to {} s){}",
        config.rounds,
        config.seq,
        config.rate_secs,
        config.clients,
        config.window,
        thousands(config.rows as i64),
        thousands(config.fanout_subs as i64),
        config.fanout_writes,
        thousands(config.idle as i64),
        thousands(config.visitors as i64),
        config.visit_secs,
        if config.quick { " (BENCH_QUICK: a smoke run, not figures to quote)" } else { "" }
    );
    let markdown = format!(
        r#"# Benchmarks

What users run, measured: the quickstart (`examples/quickstart.rs`, release build, out of process)
answering real MQTT clients, beside its floors measured in the same run. Written by
`mqttspec/benches/system` — do not edit by hand; run `scripts/bench` again.

- **Machine:** {machine}
- **Date:** {date}
- **Commit:** {commit}
- **Command:** `{command}` ({minutes:.1} min)
- **Sizes:** {sizes}
{postgres_note}
![Sequential p50 and pipelined rate per row: echo floor, sqlx and the quickstart](docs/benchmarks.svg)

## The issue's rows

{headline}
## Every row

{full}
× floor: the quickstart's p50 divided by the echo floor's p50 (above 1 = slower), and its rate
divided by the floor's rate (below 1 = fewer requests per second). sqlx: the same statements with no
MQTT on the same database (the database floor). Pipelined: 16 clients with 16 requests in flight each.

## Notification fan-out

{fanout}
Subscriptions filter `status` by equality, 100 per connection; a tenth of them (`"hot"`) match the row
that the writer, another connection, updates one write at a time. Only the writer's own notifications
leave before its reply (PROTOCOL §7): "reply → last" is the time the others' take after it.

## Memory

{memory}
VmRSS from `/proc/<pid>/status` of the quickstart process, read once it stops moving (two readings
300 ms apart within 0.5 %). Idle clients connect with a clean session and stay silent. Visiting
clients connect, subscribe to their response topic, read one row, acknowledge the reply and
disconnect, 32 at a time, after the idle clients left; the growth is the resident memory after the
last quarter minus after the first (the examples run on mimalloc, which returns what the idle
connections used during the first quarter: the reading before it is no baseline).

## How it is measured

- **Systems, all running at once on loopback, measured in alternation.** Each round measures, per
  database and operation, every system in turn (the order rotates by round), first the sequential
  round trips, then the pipelined rate; samples are pooled over the rounds. Drift (thermal, other
  load) therefore affects every system alike.
- **The echo floor** is a child process of the benchmark binary (`system --echo-floor PORT`): it
  starts mqttspec's own embedded broker (`mqttspec::transport::EmbeddedBroker`: rmqtt 0.24 with
  mqttspec's listener settings, ACL hooks and request interception) with a gate that republishes each
  request payload to `spec/{{client}}/response` at QoS 1 from the publish-ACL hook — the same hops as a
  reply, with no parsing, queue, database or logging. Out of process, like the quickstart, so that
  both run on their own default multi-thread tokio runtime and the client's process is the same; it
  receives each row's own request payloads.
- **The quickstart** is `target/release/examples/quickstart --port P --database-url URL`, one
  process per database and logging setting, each on a fresh SQLite file (WAL) in a temporary
  directory or a fresh PostgreSQL database that the run creates and drops. Default logging
  (`info,rmqtt=error`, one line per request) goes to a log file; `RUST_LOG=warn` logs nothing per
  request. Every reply is checked (`"success":true`).
- **Clients:** rumqttc 0.25 (MQTT 3.1.1) with TCP_NODELAY in the benchmark's process, QoS 1 requests of
  about 30–170 bytes of JSON, each with a message id never used before (replies are remembered by id).
  Latency is from publish to the reply's arrival in the client's event loop. Seeded: {rows} rows,
  half `active`. Read by id and update cycle over the seeded rows (update changes `name`); delete
  removes rows created earlier in the round; left-overs are deleted between rounds, unmeasured.
- **sqlx** runs on the same database as the `RUST_LOG=warn` quickstart, with mqttspec's pool settings
  (SQLite: WAL, 8 connections; PostgreSQL: 16): read by id is one `SELECT`, read many a page `SELECT`
  and a `COUNT(*)`, writes `BEGIN`, the statement with `RETURNING`, `COMMIT`. It does not include what
  mqttspec adds (the durable reply log of writes, the old row read for notifications).
"#,
        machine = machine(),
        commit = commit(),
        rows = thousands(config.rows as i64),
    );
    std::fs::create_dir_all(config.out.join("docs")).expect("output directory");
    let md_path = config.out.join("BENCHMARKS.md");
    let svg_path = config.out.join("docs/benchmarks.svg");
    std::fs::write(&md_path, markdown).expect("BENCHMARKS.md");
    let title = format!("mqttspec quickstart vs its floors — {date}, {}", commit());
    std::fs::write(&svg_path, svg(&rows, &title)).expect("benchmarks.svg");
    println!("wrote {} and {} ({minutes:.1} min)", md_path.display(), svg_path.display());
}
