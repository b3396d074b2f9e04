//! TLS served directly (`serve --tls-cert --tls-key`): every face answers a
//! client that trusts only the test's own CA, over HTTP/2 and HTTP/1.1;
//! plain HTTP to the TLS port gets a clear refusal; SIGHUP swaps the
//! certificate for new connections (open ones keep theirs) and keeps the old
//! one when the new files are bad; a bad pair at start is a non-zero exit;
//! the official Zulip Python client talks to cohort over TLS.
//!
//! Certificates are made per test with the `openssl` command (a missing
//! `openssl` fails the test).

mod common;

use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command must be installed for the TLS tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (in `dir/<ca>.pem`) made once per test.
fn make_ca(dir: &Path, ca: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=cohort test {ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ],
    );
    dir.join(format!("{ca}.pem"))
}

/// A server certificate for 127.0.0.1 signed by `ca`, as `dir/<name>.pem`
/// and `dir/<name>.key`.
fn make_leaf(dir: &Path, ca: &str, name: &str) -> (PathBuf, PathBuf) {
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write leaf.ext");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            &format!("{name}.pem"),
        ],
    );
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    )
}

fn der(pem: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem)
        .expect("a PEM certificate")
        .to_vec()
}

/// An HTTPS client that trusts only `ca`.
fn client(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("read CA");
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("a CA")])
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// A raw TLS connection to `base` (trusting only `ca`), for looking at the
/// certificate the server presented.
async fn connect(base: &str, ca: &Path) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("a CA"))
        .expect("add CA");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let address = base.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").expect("a name"), tcp)
        .await
        .expect("TLS handshake")
}

fn peer_der(stream: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a peer certificate")[0]
        .to_vec()
}

/// One `GET /healthz` on a kept-alive HTTP/1.1 connection; its status line.
async fn healthz_on(stream: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // The body is a small JSON object; read until it is complete.
    while !answer.ends_with(b"}") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer).to_string();
    text.lines().next().unwrap_or("").to_string()
}

fn tls_args(cert: &Path, key: &Path) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]
}

fn start_tls(cert: &Path, key: &Path) -> Realm {
    let args = tls_args(cert, key);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Realm::with_server_args(&args)
}

#[tokio::test]
async fn every_face_answers_over_tls_on_http2_and_http1() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = make_ca(pki.path(), "ca");
    let (cert, key) = make_leaf(pki.path(), "ca", "server");
    let realm = start_tls(&cert, &key);
    let base = realm.cohort.base.clone();
    assert!(
        base.starts_with("https://127.0.0.1:"),
        "startup line: {base}"
    );

    let h2 = client(&ca);
    let h1 = {
        let pem = std::fs::read(&ca).expect("read CA");
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("a CA")])
            .http1_only()
            .build()
            .expect("a client")
    };
    let (email, key) = (&realm.owner.email, Some(&realm.owner.key));
    for (http, version) in [
        (&h2, reqwest::Version::HTTP_2),
        (&h1, reqwest::Version::HTTP_11),
    ] {
        let requests = [
            http.get(format!("{base}/api/v1/user_groups"))
                .basic_auth(email, key),
            http.get(format!("{base}/admin/groups"))
                .header("IM-API-KEY", &realm.platform_key),
            http.get(format!("{base}/scim/v2/Groups"))
                .bearer_auth(&realm.scim_token),
            http.get(format!("{base}/cohort/v1/realm"))
                .basic_auth(email, key),
            http.get(format!("{base}/ui/login")),
            http.get(format!("{base}/healthz")),
        ];
        for request in requests {
            let response = request.send().await.expect("an HTTPS answer");
            let url = response.url().to_string();
            assert_eq!(response.status(), 200, "{url}");
            assert_eq!(response.version(), version, "{url}");
        }
    }

    // A client that does not trust this CA refuses the server.
    let stranger_pki = tempfile::tempdir().expect("tempdir");
    let stranger = make_ca(stranger_pki.path(), "other");
    let refused = client(&stranger)
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client trusting another CA got {refused:?}"
    );

    // Plain HTTP to the TLS port: a plain 400 saying so, and the server
    // goes on serving HTTPS.
    let plain = reqwest::Client::new()
        .get(format!("{}/healthz", base.replace("https://", "http://")))
        .send()
        .await
        .expect("a plain answer");
    assert_eq!(plain.status(), 400);
    let text = plain.text().await.expect("a body");
    assert!(text.contains("HTTPS"), "{text}");
    let again = h2
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("HTTPS");
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn sighup_serves_new_certificates_to_new_connections_and_keeps_a_good_one() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = make_ca(pki.path(), "ca");
    let (first_cert, first_key) = make_leaf(pki.path(), "ca", "first");
    let (second_cert, second_key) = make_leaf(pki.path(), "ca", "second");
    let (third_cert, _third_key) = make_leaf(pki.path(), "ca", "third");
    // The server reads these two paths; the test replaces their contents.
    let cert = pki.path().join("serving.pem");
    let key = pki.path().join("serving.key");
    std::fs::copy(&first_cert, &cert).expect("copy");
    std::fs::copy(&first_key, &key).expect("copy");
    let realm = start_tls(&cert, &key);
    let base = realm.cohort.base.clone();
    let pid = realm.cohort.pid().expect("running") as i32;

    let mut old = connect(&base, &ca).await;
    assert_eq!(peer_der(&old), der(&first_cert));
    assert!(healthz_on(&mut old).await.contains("200"));

    // New files, SIGHUP: new connections get the new certificate.
    std::fs::copy(&second_cert, &cert).expect("copy");
    std::fs::copy(&second_key, &key).expect("copy");
    unsafe {
        libc::kill(pid, libc::SIGHUP);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let fresh = connect(&base, &ca).await;
        if peer_der(&fresh) == der(&second_cert) {
            break;
        }
        assert_eq!(peer_der(&fresh), der(&first_cert));
        assert!(
            Instant::now() < deadline,
            "SIGHUP never brought the new certificate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection opened before goes on working, with its certificate.
    assert!(healthz_on(&mut old).await.contains("200"));
    assert_eq!(peer_der(&old), der(&first_cert));

    // Broken files: the server says so and keeps the certificate it has.
    let https = client(&ca);
    let reload_errors = || async {
        let text = https
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find(|l| l.starts_with("cohort_tls_reloads_total") && l.contains("result=\"error\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let bad_pairs: [(&[u8], Option<&Path>); 2] = [
        // Not PEM at all.
        (b"this is not a certificate\n", None),
        // A certificate with another certificate's key.
        (b"", Some(third_cert.as_path())),
    ];
    for (round, (garbage, mismatched)) in bad_pairs.into_iter().enumerate() {
        match mismatched {
            Some(other) => std::fs::copy(other, &cert).map(|_| ()).expect("copy"),
            None => {
                std::fs::write(&cert, garbage).expect("write");
                std::fs::write(&key, garbage).expect("write");
            }
        }
        unsafe {
            libc::kill(pid, libc::SIGHUP);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while reload_errors().await < round as u64 + 1 {
            assert!(
                Instant::now() < deadline,
                "the failed reload was never counted"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let fresh = connect(&base, &ca).await;
        assert_eq!(peer_der(&fresh), der(&second_cert), "round {round}");
        let answer = https
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("HTTPS");
        assert_eq!(answer.status(), 200);
        if mismatched.is_none() {
            // Put the good key back for the mismatch round.
            std::fs::copy(&second_key, &key).expect("copy");
        }
    }
}

#[test]
fn a_bad_certificate_or_key_at_start_is_a_clear_error() {
    let (cohort, _owner, _platform) = Cohort::init();
    let pki = tempfile::tempdir().expect("tempdir");
    make_ca(pki.path(), "ca");
    let (cert, key) = make_leaf(pki.path(), "ca", "server");
    let (other_cert, _) = make_leaf(pki.path(), "ca", "other");
    let garbage = pki.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN NONSENSE-----\n").expect("write");
    let missing = pki.path().join("missing.pem");
    let cases: [(&Path, &Path, &str); 4] = [
        (&garbage, &key, "garbage.pem"),
        (&cert, &garbage, "garbage.pem"),
        (&missing, &key, "missing.pem"),
        (&other_cert, &key, "not a usable certificate and key"),
    ];
    for (cert, key, says) in cases {
        let out = cohort.cli(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert.to_str().expect("a path"),
            "--tls-key",
            key.to_str().expect("a path"),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {cert:?} {key:?}");
        assert!(stderr.contains(says), "{says}: {stderr}");
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("cohort listening"),
            "listened with a bad pair"
        );
    }
    // One of the two flags alone is refused by the argument parser.
    let out = cohort.cli(&["serve", "--listen", "127.0.0.1:0", "--tls-cert", "x.pem"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

fn python() -> PathBuf {
    let python = std::env::var("COHORT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../test-venv/bin/python")
        });
    assert!(
        python.exists(),
        "{}: no Python with the zulip client; set COHORT_PYTHON as scripts/test.sh does",
        python.display()
    );
    python
}

#[tokio::test]
async fn the_official_python_client_talks_to_cohort_over_tls() {
    let pki = tempfile::tempdir().expect("tempdir");
    let ca = make_ca(pki.path(), "ca");
    let (cert, key) = make_leaf(pki.path(), "ca", "server");
    let realm = start_tls(&cert, &key);
    let script = r#"
import sys, zulip
site, email, key, ca = sys.argv[1:5]
for n, options in enumerate(({"cert_bundle": ca}, {"insecure": True})):
    client = zulip.Client(email=email, api_key=key, site=site, **options)
    groups = client.get_user_groups()
    assert groups["result"] == "success", groups
    made = client.create_user_group({"name": "over tls %d" % n, "description": "d", "members": []})
    assert made["result"] == "success", made
print("ok")
"#;
    let out = Command::new(python())
        .args([
            "-c",
            script,
            &realm.cohort.base,
            &realm.owner.email,
            &realm.owner.key,
        ])
        .arg(&ca)
        // requests lets these override a session's `verify`, which is how
        // the client applies `cert_bundle`.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .expect("run python");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Both writes arrived.
    let groups: serde_json::Value = client(&ca)
        .get(format!("{}/api/v1/user_groups", realm.cohort.base))
        .basic_auth(&realm.owner.email, Some(&realm.owner.key))
        .send()
        .await
        .expect("HTTPS")
        .json()
        .await
        .expect("JSON");
    let names: Vec<&str> = groups["user_groups"]
        .as_array()
        .map(|a| a.iter().filter_map(|g| g["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        names.contains(&"over tls 0") && names.contains(&"over tls 1"),
        "{names:?}"
    );
}
