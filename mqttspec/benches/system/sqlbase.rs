//! The database floor: the statements of each operation, hand-written with sqlx on the same
//! database as a quickstart, with no MQTT and no mqttspec (the pool settings are mqttspec's). Writes
//! run in a transaction, as mqttspec runs them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::common::measure::Rate;
use super::workload::{Op, next_id};

type UserRow = (i64, String, String, Option<String>);

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Statement texts of one dialect (what mqttspec sends for these requests, without its own
/// bookkeeping).
struct Sql {
    by_id: String,
    page: String,
    count: String,
    insert: String,
    update: String,
    delete: String,
}

impl Sql {
    fn new(table: &str, p: impl Fn(usize) -> String) -> Self {
        let columns = r#""id", "name", "email", "status""#;
        Self {
            by_id: format!(r#"SELECT {columns} FROM {table} WHERE "id" = {}"#, p(1)),
            page: format!(
                r#"SELECT {columns} FROM {table} WHERE "status" = {} ORDER BY "id" ASC LIMIT {}"#,
                p(1),
                p(2)
            ),
            count: format!(r#"SELECT COUNT(*) FROM {table} WHERE "status" = {}"#, p(1)),
            insert: format!(
                r#"INSERT INTO {table} ("name", "email", "status") VALUES ({}, {}, {}) RETURNING {columns}"#,
                p(1),
                p(2),
                p(3)
            ),
            update: format!(r#"UPDATE {table} SET "name" = {} WHERE "id" = {} RETURNING {columns}"#, p(1), p(2)),
            delete: format!(r#"DELETE FROM {table} WHERE "id" = {} RETURNING {columns}"#, p(1)),
        }
    }
}

/// A sqlx pool on a quickstart's database and the rows it works on.
pub struct SqlBase {
    pool: Pool,
    sql: Sql,
    targets: Vec<i64>,
    cursor: AtomicUsize,
    created: Mutex<Vec<i64>>,
}

/// Runs one statement kind on either pool (the two sqlx drivers share no trait object).
macro_rules! on_pool {
    ($self:ident, $pool:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

impl SqlBase {
    /// Connects to `url` (a quickstart's database) with the pool settings mqttspec uses;
    /// `targets` are the rows read and updated.
    pub async fn connect(url: &str, targets: Vec<i64>) -> Self {
        let (pool, sql) = if url.starts_with("postgres") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .expect("PostgreSQL pool");
            (Pool::Postgres(pool), Sql::new(r#""public"."users""#, |n| format!("${n}")))
        } else {
            let options = url
                .parse::<SqliteConnectOptions>()
                .expect("SQLite URL")
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .journal_mode(SqliteJournalMode::Wal);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .expect("SQLite pool");
            (Pool::Sqlite(pool), Sql::new(r#""users""#, |n| format!("?{n}")))
        };
        Self { pool, sql, targets, cursor: AtomicUsize::new(0), created: Mutex::new(Vec::new()) }
    }

    fn target(&self) -> i64 {
        self.targets[self.cursor.fetch_add(1, Ordering::Relaxed) % self.targets.len()]
    }

    /// Runs `op` once; `false` when there was nothing to do (no created row left to delete).
    pub async fn run(&self, op: Op) -> bool {
        let s = &self.sql;
        match op {
            Op::Ping => {}
            Op::ReadById => {
                let target = self.target();
                let row: Option<UserRow> = on_pool!(self, pool => sqlx::query_as(&s.by_id).bind(target).fetch_optional(pool).await.expect("select"));
                assert!(row.is_some(), "row {target} missing");
            }
            Op::ReadMany => {
                let rows: Vec<UserRow> = on_pool!(self, pool => sqlx::query_as(&s.page).bind("active").bind(10_i64).fetch_all(pool).await.expect("page"));
                let total: i64 = on_pool!(self, pool => sqlx::query_scalar(&s.count).bind("active").fetch_one(pool).await.expect("count"));
                assert!(rows.len() == 10 && total >= 10, "page of {} of {total}", rows.len());
            }
            Op::Create => {
                let id = next_id();
                let row: UserRow = on_pool!(self, pool => {
                    let mut tx = pool.begin().await.expect("begin");
                    let row = sqlx::query_as(&s.insert)
                        .bind("bench")
                        .bind(format!("{id}@example.org"))
                        .bind("new")
                        .fetch_one(&mut *tx)
                        .await
                        .expect("insert");
                    tx.commit().await.expect("commit");
                    row
                });
                self.created.lock().unwrap().push(row.0);
            }
            Op::Update => {
                let (target, name) = (self.target(), next_id());
                let _: UserRow = on_pool!(self, pool => {
                    let mut tx = pool.begin().await.expect("begin");
                    let row = sqlx::query_as(&s.update).bind(name).bind(target).fetch_one(&mut *tx).await.expect("update");
                    tx.commit().await.expect("commit");
                    row
                });
            }
            Op::Delete => {
                let Some(target) = self.created.lock().unwrap().pop() else { return false };
                let _: UserRow = on_pool!(self, pool => {
                    let mut tx = pool.begin().await.expect("begin");
                    let row = sqlx::query_as(&s.delete).bind(target).fetch_one(&mut *tx).await.expect("delete");
                    tx.commit().await.expect("commit");
                    row
                });
            }
        }
        true
    }

    /// Microseconds of up to `n` sequential runs of `op`.
    pub async fn sequential(&self, op: Op, n: usize) -> Vec<f64> {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            if !self.run(op).await {
                break;
            }
            samples.push(start.elapsed().as_secs_f64() * 1e6);
        }
        samples
    }

    /// `tasks` tasks running `op` one after another for `duration` (or until there is nothing left).
    pub async fn concurrent(self: &Arc<Self>, op: Op, tasks: usize, duration: Duration) -> Rate {
        let start = Instant::now();
        let deadline = start + duration;
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let base = self.clone();
                tokio::spawn(async move {
                    let (mut done, mut last) = (0u64, start);
                    while Instant::now() < deadline && base.run(op).await {
                        let now = Instant::now();
                        if now <= deadline {
                            done += 1;
                            last = now;
                        }
                    }
                    (done, last)
                })
            })
            .collect();
        let (mut rate, mut last) = (Rate::default(), start);
        for handle in handles {
            let (done, at) = handle.await.expect("task");
            rate.completed += done;
            last = last.max(at);
        }
        rate.elapsed = last.duration_since(start);
        rate
    }

    /// Deletes the rows created and not deleted yet.
    pub async fn clean_up(&self) {
        while self.run(Op::Delete).await {}
    }
}
