//! Acknowledged means durable: writers hammer a server, the server is killed
//! (SIGKILL, and separately SIGTERM), and after a restart every acknowledged
//! write is there and the change log replays to exactly the stored state.

mod common;

use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Acknowledged {
    groups: Vec<(i64, String)>,
    members: Vec<(i64, i64)>,
}

/// Writers that create groups and add members until the server goes away.
fn start_writers(
    realm: &Realm,
    writers: usize,
) -> (Arc<Mutex<Acknowledged>>, Vec<tokio::task::JoinHandle<()>>) {
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut handles = Vec::new();
    for writer in 0..writers {
        let api = realm.api(&realm.owner);
        let acked = acked.clone();
        let (member, other) = (realm.member.id, realm.member2.id);
        handles.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("w{writer}-{i}");
                let response = api
                    .http
                    .post(format!("{}/api/v1/user_groups/create", api.base))
                    .basic_auth(&api.email, Some(&api.key))
                    .form(&[
                        ("name", name.as_str()),
                        ("description", "durable"),
                        ("members", &format!("[{member}]")),
                    ])
                    .send()
                    .await;
                let Ok(response) = response else { return };
                if response.status() != 200 {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                let id = body["group_id"].as_i64().expect("group_id");
                acked.lock().unwrap().groups.push((id, name));
                let response = api
                    .http
                    .post(format!("{}/api/v1/user_groups/{id}/members", api.base))
                    .basic_auth(&api.email, Some(&api.key))
                    .form(&[("add", format!("[{other}]"))])
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().members.push((id, other)),
                    _ => return,
                }
            }
        }));
    }
    (acked, handles)
}

async fn assert_all_present(realm: &Realm, acked: &Acknowledged) {
    let body = realm.all_groups().await;
    let groups = body["user_groups"].as_array().expect("groups");
    for (id, name) in &acked.groups {
        let group = groups
            .iter()
            .find(|g| g["id"] == *id)
            .unwrap_or_else(|| panic!("acknowledged group {id} ({name}) is missing after restart"));
        assert_eq!(group["name"], name.as_str());
        assert!(group["members"]
            .as_array()
            .unwrap()
            .contains(&realm.member.id.into()));
    }
    for (id, user) in &acked.members {
        let group = groups.iter().find(|g| g["id"] == *id).unwrap();
        assert!(
            group["members"]
                .as_array()
                .unwrap()
                .contains(&(*user).into()),
            "acknowledged member {user} of group {id} is missing after restart"
        );
    }
}

fn assert_log_consistent(cohort: &Cohort) {
    let report = cohort.cli_json(&["check", "--json"]);
    assert_eq!(
        report["ok"], true,
        "change log and tables disagree: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let mut realm = Realm::new();
    let (acked, writers) = start_writers(&realm, 8);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    realm.cohort.kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.groups.len() >= 10,
        "too few writes to mean anything: {}",
        acked.groups.len()
    );

    realm.cohort.start();
    assert_all_present(&realm, &acked).await;
    assert_log_consistent(&realm.cohort);
    // The restarted server takes writes again.
    realm.create_group(&realm.owner, "after-restart", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_writes() {
    let mut realm = Realm::new();
    let (acked, writers) = start_writers(&realm, 8);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        realm.cohort.stop(),
        "cohort did not exit cleanly on SIGTERM"
    );
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.groups.len() >= 5,
        "too few writes: {}",
        acked.groups.len()
    );
    realm.cohort.start();
    assert_all_present(&realm, &acked).await;
    assert_log_consistent(&realm.cohort);
}
