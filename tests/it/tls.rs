//! TLS on the S3 and admin listeners with a certificate made for the test (openssl CLI), and a
//! rustls client that trusts only that test CA.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use gatehouse::config::RawTls;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::admin_api::admin_addr;
use crate::common::*;

/// A CA and a leaf for 127.0.0.1 signed by it; `None` when openssl is not installed.
pub(crate) fn make_certs(dir: &Path) -> Option<()> {
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=gatehouse test CA",
    ]);
    let o = match run(&a) {
        Ok(o) => o,
        Err(_) => return None,
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    assert!(run(&a).expect("openssl").status.success());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    let o = run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ])
    .expect("openssl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Some(())
}

/// A server with `tls:` (a leaf for 127.0.0.1 from a CA made for the test, configured further
/// by `f`) and the directory of that CA's `ca.pem`; `None` (the test skips, unless
/// GATEHOUSE_TLS_TEST=required) when openssl is not installed.
pub(crate) async fn tls_server(
    f: impl FnOnce(&mut gatehouse::config::RawConfig),
) -> Option<(TestServer, tempfile::TempDir)> {
    let certs = tempfile::tempdir().expect("tmp");
    if make_certs(certs.path()).is_none() {
        assert!(
            std::env::var("GATEHOUSE_TLS_TEST").as_deref() != Ok("required"),
            "openssl is required for this test here"
        );
        eprintln!("SKIPPED: openssl not installed (the CI installs it)");
        return None;
    }
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let srv = TestServer::start_with(|raw| {
        raw.tls = Some(RawTls {
            cert_file: cert,
            key_file: key,
        });
        f(raw);
    })
    .await;
    Some((srv, certs))
}

async fn https_get(
    ca: &Path,
    addr: std::net::SocketAddr,
    path: &str,
    auth: Option<&str>,
) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(c.expect("pem")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
        .await
        .expect("TLS handshake with the test CA");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http1");
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .uri(path)
        .header("host", addr.to_string());
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = send
        .send_request(req.body(Empty::<Bytes>::new()).expect("req"))
        .await
        .expect("response");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_and_admin_speak_tls_with_the_configured_certificate() {
    let Some((srv, certs)) = tls_server(|_| {}).await else {
        return;
    };
    let ca = certs.path().join("ca.pem");
    let (status, body) = https_get(&ca, admin_addr(&srv), "/api/health", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ok\""), "{body}");
    let (_, info) = https_get(&ca, admin_addr(&srv), "/api/info", None).await;
    assert!(
        info.contains("https://127.0.0.1:"),
        "the S3 endpoint is reported as https: {info}"
    );
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", srv.access, srv.secret))
    );
    let (status, body) = https_get(&ca, srv.addr, "/", Some(&basic)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<ListAllMyBucketsResult"), "{body}");

    // Plain HTTP on the TLS port gets no HTTP answer; the server keeps serving TLS.
    let mut plain = tokio::net::TcpStream::connect(srv.addr).await.expect("tcp");
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(std::time::Duration::from_secs(15), plain.read(&mut buf))
        .await
        .map(|r| r.unwrap_or(0))
        .unwrap_or(0);
    assert!(!buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let (status, _) = https_get(&ca, srv.addr, "/", Some(&basic)).await;
    assert_eq!(status, 200);
}

#[test]
fn unreadable_or_mismatched_tls_files_stop_the_start_with_their_names() {
    let certs = tempfile::tempdir().expect("tmp");
    if make_certs(certs.path()).is_none() {
        return;
    }
    let data = tempfile::tempdir().expect("data");
    let run = |cert: &str, key: &str| {
        let cfg = data.path().join("c.yaml");
        std::fs::write(
            &cfg,
            format!(
                "tls:\n  cert_file: {}\n  key_file: {}\n",
                certs.path().join(cert).display(),
                certs.path().join(key).display()
            ),
        )
        .expect("cfg");
        std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["serve", "--config"])
            .arg(&cfg)
            .arg("--data-dir")
            .arg(data.path().join("d"))
            .args([
                "--s3-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--nfs-listen",
                "127.0.0.1:0",
            ])
            .output()
            .expect("runs")
    };
    let o = run("missing.pem", "key.pem");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing.pem"),
        "{o:?}"
    );
    let o = run("cert.pem", "ca.key");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not match"),
        "{o:?}"
    );
}

/// The admin CLI talks to a TLS admin listener (`--server https://…`), trusting the CA given
/// with `--cacert` (or `GATEHOUSE_CACERT`); without it the certificate is refused by name, and
/// nothing is sent in the clear.
#[tokio::test]
async fn the_admin_cli_speaks_https_with_the_ca_it_is_given() {
    use crate::admin_api::{cli, ok};
    let Some((srv, certs)) = tls_server(|_| {}).await else {
        return;
    };
    let ca = certs.path().join("ca.pem");
    let home = tempfile::tempdir().expect("home");
    let https = format!("https://{}", admin_addr(&srv));
    let data_dir = srv.data_dir();
    let data_dir = data_dir.to_str().expect("utf-8");
    let ca = ca.to_str().expect("utf-8");
    let server = [("GATEHOUSE_SERVER", https.as_str())];

    let out = ok(&cli(
        &srv,
        home.path(),
        &server,
        &["--data-dir", data_dir, "--cacert", ca, "status"],
    )
    .await);
    assert!(out.contains(&https), "{out}");
    // The same through the environment, and a change made over it.
    let with_env = [
        ("GATEHOUSE_SERVER", https.as_str()),
        ("GATEHOUSE_CACERT", ca),
    ];
    ok(&cli(
        &srv,
        home.path(),
        &with_env,
        &["--data-dir", data_dir, "share", "create", "over-tls"],
    )
    .await);
    let shares = ok(&cli(
        &srv,
        home.path(),
        &with_env,
        &["--data-dir", data_dir, "share", "list"],
    )
    .await);
    assert!(shares.contains("over-tls"), "{shares}");

    // Without the CA: refused, naming why.
    let o = cli(
        &srv,
        home.path(),
        &server,
        &["--data-dir", data_dir, "status"],
    )
    .await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("certificate"), "{err}");
    // http:// to the TLS port does not get an answer it could mistake for one.
    let plain = format!("http://{}", admin_addr(&srv));
    let o = cli(
        &srv,
        home.path(),
        &[("GATEHOUSE_SERVER", plain.as_str())],
        &["--data-dir", data_dir, "status"],
    )
    .await;
    assert!(!o.status.success());
    // Not a URL the CLI speaks.
    let o = cli(
        &srv,
        home.path(),
        &[("GATEHOUSE_SERVER", "ftp://127.0.0.1:1")],
        &["--data-dir", data_dir, "status"],
    )
    .await;
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("https://"),
        "{o:?}"
    );
    // A CA file in the environment, meant for some https server, does not stand in the way of
    // an http:// one.
    let plain_srv = TestServer::start().await;
    let plain_dir = plain_srv.data_dir();
    ok(&cli(
        &plain_srv,
        home.path(),
        &[("GATEHOUSE_CACERT", "/nonexistent/ca.pem")],
        &["--data-dir", plain_dir.to_str().expect("utf-8"), "status"],
    )
    .await);
}
