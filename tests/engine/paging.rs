//! Keyset paging over a few hundred rows with ties in the sort columns.

use mqttspec::ErrorCode;
use serde_json::{Value as Json, json};

use crate::fixture::Fixture;
use crate::support::Backend;

async fn seeded(backend: Backend, n: usize) -> Fixture {
    let f = Fixture::new(backend).await;
    let rows: Vec<Json> = (0..n)
        .map(|i| {
            json!({
                "name": format!("n{:03}", (i * 37) % 101),
                "qty": i % 7,
                "small": if i % 5 == 0 { Json::Null } else { json!(i % 3) },
                "price": 1.0, "active": i % 2 == 0, "created_at": "2026-01-01T00:00:00Z",
            })
        })
        .collect();
    f.ok(json!({"operation": "create", "entity": "items", "data": rows})).await;
    f
}

fn ids(rows: &[Json]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// Walks every page forwards, then every page backwards from the last, and compares both with
/// one read of everything in the same order.
async fn walk(f: &Fixture, base: Json, page: u64) {
    let mut all_options = base.clone();
    all_options["limit"] = json!(1000);
    let everything = ids(&f.items(all_options).await.0);

    let mut forwards = Vec::new();
    let mut options = base.clone();
    options["limit"] = json!(page);
    let mut pages = Vec::new();
    loop {
        let (rows, metadata) = f.items(options.clone()).await;
        if pages.is_empty() {
            assert!(metadata["prev_cursor"].is_null(), "the first page has no prev_cursor");
        } else {
            assert!(metadata["prev_cursor"].is_string(), "later pages have a prev_cursor");
        }
        forwards.extend(ids(&rows));
        pages.push(metadata.clone());
        match metadata["next_cursor"].as_str() {
            Some(cursor) => {
                options = base.clone();
                options["limit"] = json!(page);
                options["cursor_after"] = json!(cursor);
            }
            None => break,
        }
        assert!(pages.len() < 1000, "paging does not terminate");
    }
    assert_eq!(forwards, everything, "forward pages cover every row once, in order ({base})");

    let mut backwards: Vec<Vec<i64>> = Vec::new();
    let mut cursor = pages.last().unwrap()["prev_cursor"].as_str().map(str::to_owned);
    let last_page_len = everything.len() - (pages.len() - 1) * page as usize;
    backwards.push(everything[everything.len() - last_page_len..].to_vec());
    while let Some(before) = cursor {
        let mut options = base.clone();
        options["limit"] = json!(page);
        options["cursor_before"] = json!(before);
        let (rows, metadata) = f.items(options).await;
        assert!(metadata["next_cursor"].is_string(), "a page before another has a next_cursor");
        backwards.push(ids(&rows));
        cursor = metadata["prev_cursor"].as_str().map(str::to_owned);
        assert!(backwards.len() < 1000, "paging does not terminate");
    }
    backwards.reverse();
    assert_eq!(backwards.concat(), everything, "backward pages list rows in the requested order ({base})");
}

pub async fn keyset_forwards_and_backwards_with_ties(backend: Backend) {
    let f = seeded(backend, 300).await;
    walk(&f, json!({}), 40).await;
    walk(&f, json!({"sort": [{"column": "qty"}]}), 25).await;
    walk(&f, json!({"sort": [{"column": "qty", "direction": "desc"}, {"column": "name"}]}), 17).await;
    walk(&f, json!({"sort": [{"column": "small"}, {"column": "active", "direction": "desc"}]}), 23).await;
    walk(&f, json!({"sort": [{"column": "small", "direction": "desc"}]}), 30).await;
    walk(
        &f,
        json!({"sort": [{"column": "name", "direction": "desc"}], "filters": [{"column": "qty", "operator": "in", "value": [1, 2, 3]}]}),
        11,
    )
    .await;
}

pub async fn cursor_bound_to_its_query(backend: Backend) {
    let f = seeded(backend, 30).await;
    let (_, metadata) = f.items(json!({"limit": 5, "sort": [{"column": "qty"}]})).await;
    let cursor = metadata["next_cursor"].as_str().unwrap().to_owned();
    for options in [
        json!({"limit": 5, "sort": [{"column": "price"}], "cursor_after": cursor}),
        json!({"limit": 5, "cursor_after": cursor}),
        json!({"limit": 5, "sort": [{"column": "qty"}], "filters": [{"column": "qty", "operator": "gt", "value": 1}], "cursor_after": cursor}),
        json!({"limit": 5, "sort": [{"column": "qty"}], "cursor_after": "not a cursor"}),
        json!({"limit": 5, "sort": [{"column": "qty"}], "cursor_after": 5}),
        json!({"limit": 5, "sort": [{"column": "qty"}], "cursor_after": cursor, "cursor_before": cursor}),
    ] {
        f.expect_code(json!({"operation": "read", "entity": "items", "options": options}), ErrorCode::ValidationError)
            .await;
    }
    let (rows, _) = f.items(json!({"limit": 5, "sort": [{"column": "qty"}], "cursor_after": cursor})).await;
    assert_eq!(rows.len(), 5);

    // Cursors report what is there now: once the rows before a `cursor_after` page (or after a
    // `cursor_before` page) are gone, that side has no cursor.
    let ids = |rows: &[Json]| rows.iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let (first, metadata) = f.items(json!({"limit": 5})).await;
    let after = metadata["next_cursor"].as_str().unwrap().to_owned();
    let (last, metadata) = f.items(json!({"limit": 5, "offset": 25})).await;
    assert!(metadata["next_cursor"].is_null(), "nothing follows the last page");
    let before = metadata["prev_cursor"].as_str().unwrap().to_owned();
    let (_, metadata) = f.items(json!({"limit": 5, "cursor_after": after})).await;
    assert!(metadata["prev_cursor"].is_string(), "rows precede while the first page exists");
    for id in ids(&first).into_iter().chain(ids(&last)) {
        f.ok(json!({"operation": "delete", "entity": "items", "record_id": id})).await;
    }
    let (page, metadata) = f.items(json!({"limit": 5, "cursor_after": after})).await;
    assert_eq!(ids(&page), [6, 7, 8, 9, 10]);
    assert!(metadata["prev_cursor"].is_null(), "no row precedes any more: {metadata}");
    assert!(metadata["next_cursor"].is_string());
    let (page, metadata) = f.items(json!({"limit": 5, "cursor_before": before})).await;
    assert_eq!(ids(&page), [21, 22, 23, 24, 25]);
    assert!(metadata["next_cursor"].is_null(), "no row follows any more: {metadata}");
    assert!(metadata["prev_cursor"].is_string());
    let (_, metadata) = f.items(json!({"limit": 5, "offset": 100})).await;
    assert!(metadata["prev_cursor"].is_null() && metadata["next_cursor"].is_null(), "an empty page has no cursors");
}
