//! Concurrent writes, and instants and queries that must match the served objects.

use super::*;

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

/// Send `count` requests at once; returns the replies in order.
async fn at_once(
    realm: &Realm,
    count: usize,
    make: impl Fn(usize) -> (&'static str, Value),
) -> Vec<Reply> {
    let mut tasks = Vec::new();
    for i in 0..count {
        let ik = Imkit::new(realm);
        let (path, body) = make(i);
        tasks.push(tokio::spawn(async move { ik.post_json(path, body).await }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_do_not_race() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);

    // One _id, many creators: exactly one wins, the others get 409.
    let replies = at_once(&realm, 16, |i| {
        (
            "/admin/groups",
            j!({"_id": "race", "nickname": format!("Race {i}")}),
        )
    })
    .await;
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.0 == 200).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    for got in replies.iter().filter(|r| r.0 != 200) {
        assert_err(
            got,
            409,
            "Conflict",
            "GROUP_ALREADY_EXISTS",
            "already exists",
        );
    }
    assert_eq!(group_page(&ik, &[]).await, (vec![ok(winners[0])], 1));

    // One nickname, many _ids: one wins.
    let replies = at_once(&realm, 16, |i| {
        (
            "/admin/groups",
            j!({"_id": format!("same{i}"), "nickname": "Same"}),
        )
    })
    .await;
    assert_eq!(
        replies.iter().filter(|r| r.0 == 200).count(),
        1,
        "{replies:?}"
    );
    for got in replies.iter().filter(|r| r.0 != 200) {
        assert_err(got, 409, "Conflict", "NICKNAME_TAKEN", "'Same'");
    }
    assert_eq!(group_page(&ik, &[]).await.1, 2);

    // One client _id, many upserts: all succeed, one client results.
    let replies = at_once(&realm, 16, |i| {
        (
            "/admin/clients",
            j!({"_id": "cl", "email": format!("e{i}@example.com")}),
        )
    })
    .await;
    assert!(replies.iter().all(|r| r.0 == 200), "{replies:?}");
    let (found, total) = ik.search(r#"{"_id": "cl"}"#, &[]).await;
    assert_eq!((found, total), (strs(&["cl"]), 1));
    // Distinct batches: every item lands once.
    let replies = at_once(&realm, 8, |i| {
        let data: Vec<Value> = (0..10).map(|k| j!({"_id": format!("b{i}-{k}")})).collect();
        ("/admin/clients/list", j!({"data": data}))
    })
    .await;
    for got in &replies {
        assert_eq!(ok(got), j!({"count": 10}));
    }
    let (_, total) = ik
        .search(r#"{"_id": {"$regex": "^b[0-9]-[0-9]$"}}"#, &[])
        .await;
    assert_eq!(total, 80);
}

/// Epoch milliseconds are numbers; JSON may write them as `1.7e12` or with a
/// fraction, and they still compare as instants.
#[tokio::test]
async fn epoch_ms_written_as_json_floats_compare_as_instants() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    let (all, total) = client_page(&ik, &[]).await;
    assert_eq!(total, 7);
    let all = ids(&all);
    // Every client here was created after 2023-11-14 (1.7e12 ms).
    for (q, expected) in [
        (r#"{"createdAt": {"$gte": 1700000000000}}"#, all.clone()),
        (r#"{"createdAt": {"$lt": 1700000000000}}"#, vec![]),
        (r#"{"createdAt": {"$gte": 1.7e12}}"#, all.clone()),
        (r#"{"createdAt": {"$lt": 1.7e12}}"#, vec![]),
        (r#"{"createdAt": {"$gte": 1700000000000.0}}"#, all.clone()),
        (r#"{"createdAt": {"$lt": 1700000000000.5}}"#, vec![]),
        (r#"{"updatedAt": {"$gt": -1.5}}"#, all.clone()),
    ] {
        assert_eq!(
            ik.search(q, &[]).await,
            (expected.clone(), expected.len() as u64),
            "q={q}"
        );
    }
}

/// `q` filters the objects as served: every client is served with an
/// `avatarUrl` (`""` when it has none), so that field exists and equals `""`.
#[tokio::test]
async fn avatar_url_queries_match_the_served_objects() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.client(j!({"_id": "pic", "nickname": "Pic", "avatarUrl": "https://x/p.png"}))
        .await;
    let (page, total) = client_page(&ik, &[]).await;
    assert_eq!(total, 8);
    let all = ids(&page);
    let bare: Vec<String> = page
        .iter()
        .filter(|c| c["avatarUrl"] == "")
        .map(|c| c["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bare.len(), 7);
    for (q, expected) in [
        (r#"{"avatarUrl": "https://x/p.png"}"#, strs(&["pic"])),
        (r#"{"avatarUrl": ""}"#, bare.clone()),
        (r#"{"avatarUrl": {"$exists": true}}"#, all.clone()),
        (r#"{"avatarUrl": {"$exists": false}}"#, vec![]),
        (r#"{"avatarUrl": {"$ne": ""}}"#, strs(&["pic"])),
    ] {
        assert_eq!(
            ik.search(q, &[]).await,
            (expected.clone(), expected.len() as u64),
            "q={q}"
        );
    }
}
