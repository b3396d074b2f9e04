//! Unknown paths and methods.

use super::*;

// ---------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unknown_paths_and_methods() {
    let realm = Realm::new();
    let ik = Imkit::new(&realm);
    ik.group(j!({"_id": "team", "nickname": "Team"})).await;
    ik.client(j!({"_id": "ann", "nickname": "Ann"})).await;
    let before = state(&realm, &ik).await;

    for (method, path) in [
        ("GET", "/admin/nope"),
        ("POST", "/admin/nope"),
        ("GET", "/admin/groups/team/members"),
        ("GET", "/admin/clients/ann/extra"),
        ("PUT", "/admin/clients/ann/token"),
        ("DELETE", "/admin/clients/ann/token"),
        ("POST", "/admin/clients/ann/mute/room1"),
        ("GET", "/admin/rooms"),
        ("GET", "/admin"),
        ("GET", "/admin/groups/"),
        ("DELETE", "/admin/groups/"),
        ("GET", "/admin/clients/"),
        ("GET", "/admin/groups//team"),
    ] {
        let got = ik
            .raw(method, path, "application/json", b"{}".to_vec())
            .await;
        assert_err(&got, 404, "Not Found", "NOT_FOUND", "No such endpoint");
        assert_eq!(state(&realm, &ik).await, before, "{method} {path}");
    }

    for (method, path, allow) in [
        ("PUT", "/admin/groups", "GET, POST"),
        ("PATCH", "/admin/groups", "GET, POST"),
        ("DELETE", "/admin/groups", "GET, POST"),
        ("POST", "/admin/groups/team", "DELETE, GET"),
        ("PUT", "/admin/groups/team", "DELETE, GET"),
        ("PATCH", "/admin/groups/team", "DELETE, GET"),
        ("DELETE", "/admin/clients", "GET, POST"),
        ("PUT", "/admin/clients", "GET, POST"),
        ("GET", "/admin/clients/list", "POST"),
        ("DELETE", "/admin/clients/list", "POST"),
        ("DELETE", "/admin/clients/ann", "GET"),
        ("POST", "/admin/clients/ann", "GET"),
        ("PUT", "/admin/clients/ann", "GET"),
    ] {
        let (status, got_allow, body) = ik.raw_allow(method, path).await;
        assert_err(
            &(status, body),
            405,
            "Method Not Allowed",
            "METHOD_NOT_ALLOWED",
            allow.split(", ").next().unwrap(),
        );
        assert_eq!(got_allow, allow, "{method} {path}");
        assert_eq!(state(&realm, &ik).await, before, "{method} {path}");
    }
    // OPTIONS lists the methods; HEAD is GET without a body.
    for (path, allow) in [
        ("/admin/groups", "GET, POST"),
        ("/admin/groups/team", "DELETE, GET"),
        ("/admin/clients/list", "POST"),
    ] {
        let (status, got_allow, _) = ik.raw_allow("OPTIONS", path).await;
        assert_eq!((status, got_allow.as_str()), (204, allow), "OPTIONS {path}");
    }
    let (status, _, body) = ik.raw_allow("HEAD", "/admin/groups").await;
    assert_eq!((status, body), (200, Value::String(String::new())));
    assert_eq!(state(&realm, &ik).await, before);
    assert_eq!(ok(&ik.get("/admin/groups/team", &[]).await)["_id"], "team");
    assert_eq!(ok(&ik.get("/admin/clients/ann", &[]).await)["_id"], "ann");
}
