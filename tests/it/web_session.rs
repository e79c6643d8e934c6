//! The web page's sign-in over real HTTP: `/api/session`, the session cookie and its flags,
//! the lockout, CSRF on cookie writes, sign-out, sessions dying with their credentials, and
//! the page's assets with their Content-Security-Policy.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::common::*;

fn base(srv: &TestServer) -> String {
    format!(
        "http://{}",
        srv.running
            .as_ref()
            .expect("running")
            .admin_addr
            .expect("admin listener on")
    )
}

/// A browser-like caller: no credentials of its own, the session cookie once signed in.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
    csrf: Option<String>,
}

/// Status, headers and JSON body (`Null` when empty).
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

impl Browser {
    fn new(srv: &TestServer) -> Browser {
        Browser {
            base: base(srv),
            http: reqwest::Client::new(),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let req = match &self.cookie {
            Some(c) => req.header("cookie", format!("gatehouse_session={c}")),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request with the cookie and, when `csrf`, the session's CSRF token.
    async fn call(&self, method: &str, path: &str, body: Option<Value>, csrf: bool) -> Reply {
        let mut req = self.http.request(
            method.parse().expect("method"),
            format!("{}{path}", self.base),
        );
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        if csrf && let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        self.send(req).await
    }

    async fn sign_in(&mut self, access: &str, secret: &str) -> Reply {
        let r = self
            .call(
                "POST",
                "/api/session",
                Some(json!({"access_key": access, "secret_key": secret})),
                false,
            )
            .await;
        if r.status == 200 {
            let set = set_cookie(&r);
            let id = set
                .split(';')
                .next()
                .and_then(|kv| kv.strip_prefix("gatehouse_session="))
                .expect("session cookie");
            self.cookie = Some(id.to_string());
            self.csrf = r.body["csrf_token"].as_str().map(str::to_string);
        }
        r
    }
}

fn set_cookie(r: &Reply) -> String {
    r.headers
        .get("set-cookie")
        .expect("set-cookie")
        .to_str()
        .expect("ascii")
        .to_string()
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_session_cookie() {
    let srv = TestServer::start().await;
    let mut b = Browser::new(&srv);
    let r = b.sign_in(&srv.access, &srv.secret).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "admin");
    assert_eq!(r.body["access_key"], srv.access.as_str());
    let csrf = r.body["csrf_token"].as_str().expect("csrf token");
    assert_eq!(csrf.len(), 64);
    let cookie = set_cookie(&r);
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    let id = attrs[0].strip_prefix("gatehouse_session=").expect("name");
    assert_eq!(id.len(), 64, "256 random bits in hex");
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
    assert!(attrs.contains(&"HttpOnly"), "{cookie}");
    assert!(attrs.contains(&"SameSite=Strict"), "{cookie}");
    assert!(attrs.contains(&"Path=/"), "{cookie}");
    assert!(
        !attrs.contains(&"Secure"),
        "plain HTTP: a Secure cookie would never come back"
    );

    let who = b.call("GET", "/api/session", None, false).await;
    assert_eq!(who.status, 200);
    assert_eq!(who.body["csrf_token"], csrf);
    assert_eq!(who.body["name"], "admin");
    let me = b.call("GET", "/api/me", None, false).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["name"], "admin");
    assert_eq!(me.body["admin"], true);

    // Signing in again with the old cookie ends the old session.
    let old = b.cookie.clone();
    assert_eq!(b.sign_in(&srv.access, &srv.secret).await.status, 200);
    assert_ne!(b.cookie, old);
    let mut stale = Browser::new(&srv);
    stale.cookie = old;
    assert_eq!(stale.call("GET", "/api/me", None, false).await.status, 401);

    let anon = Browser::new(&srv);
    let r = anon.call("GET", "/api/session", None, false).await;
    assert_eq!((r.status, r.code()), (401, "auth.no_session"));
    let mut forged = Browser::new(&srv);
    forged.cookie = Some("00".repeat(32));
    let r = forged.call("GET", "/api/me", None, false).await;
    assert_eq!((r.status, r.code()), (401, "auth.session_expired"));
}

#[tokio::test]
async fn wrong_secret_or_unknown_key_is_refused() {
    let srv = TestServer::start().await;
    let mut b = Browser::new(&srv);
    let r = b.sign_in(&srv.access, "wrong-secret").await;
    assert_eq!((r.status, r.code()), (401, "auth.bad_credentials"));
    assert!(r.headers.get("set-cookie").is_none());
    let r = b.sign_in("AKNOSUCHKEY000000000", &srv.secret).await;
    assert_eq!((r.status, r.code()), (401, "auth.bad_credentials"));
    let r = b
        .call(
            "POST",
            "/api/session",
            Some(json!({"access_key": 1})),
            false,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "api.invalid_json"));
}

#[tokio::test]
async fn lockout_after_failures_even_with_the_right_secret_then_expires() {
    let srv = TestServer::start_with(|c| {
        c.admin.login_max_failures = Some(5);
        c.admin.login_lockout_secs = Some(2);
    })
    .await;
    let bob = srv.new_user("bob").await;
    let mut b = Browser::new(&srv);
    for i in 0..5 {
        let r = b.sign_in(&srv.access, "wrong-secret").await;
        assert_eq!(r.status, 401, "failure {i}");
    }
    let r = b.sign_in(&srv.access, &srv.secret).await;
    assert_eq!((r.status, r.code()), (429, "auth.locked_out"), "{}", r.body);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("try again")
    );
    // The client address is locked out too: another key's wrong secret is refused as locked,
    // but its right secret signs in (its own key is not locked).
    let r = b.sign_in(&bob.access_key, "wrong-secret").await;
    assert_eq!((r.status, r.code()), (429, "auth.locked_out"));
    let r = Browser::new(&srv)
        .sign_in(&bob.access_key, &bob.secret_key)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Signed API calls are not sign-ins: they go on working.
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", srv.access, srv.secret));
    let r = reqwest::Client::new()
        .get(format!("{}/api/me", base(&srv)))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = b.sign_in(&srv.access, &srv.secret).await;
    assert_eq!(r.status, 200, "the lockout expired: {}", r.body);
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_token() {
    let srv = TestServer::start().await;
    let mut b = Browser::new(&srv);
    b.sign_in(&srv.access, &srv.secret).await;

    let body = || Some(json!({"name": "web-bucket"}));
    let r = b.call("POST", "/api/buckets", body(), false).await;
    assert_eq!((r.status, r.code()), (403, "auth.csrf"));
    let right = b.csrf.take();
    b.csrf = Some("0".repeat(64));
    let r = b.call("POST", "/api/buckets", body(), true).await;
    assert_eq!((r.status, r.code()), (403, "auth.csrf"), "a wrong token");
    b.csrf = right;
    let r = b.call("POST", "/api/buckets", body(), true).await;
    assert_eq!(r.status, 201, "{}", r.body);

    // Reads need no token; object bodies go both ways under the cookie.
    let r = b.call("GET", "/api/buckets", None, false).await;
    assert_eq!(r.status, 200);
    let put = |csrf: bool| {
        let mut req = b
            .http
            .put(format!("{}/api/buckets/web-bucket/objects/a/b.txt", b.base))
            .body("hello");
        if csrf {
            req = req.header("x-csrf-token", b.csrf.clone().expect("token"));
        }
        b.send(req)
    };
    assert_eq!(put(false).await.status, 403);
    let r = put(true).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = b
        .http
        .get(format!("{}/api/buckets/web-bucket/objects/a/b.txt", b.base))
        .header(
            "cookie",
            format!("gatehouse_session={}", b.cookie.clone().expect("c")),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(got.text().await.expect("text"), "hello");
    let r = b
        .call(
            "DELETE",
            "/api/buckets/web-bucket/objects/a/b.txt",
            None,
            false,
        )
        .await;
    assert_eq!(r.code(), "auth.csrf");
    let r = b
        .call(
            "DELETE",
            "/api/buckets/web-bucket/objects/a/b.txt",
            None,
            true,
        )
        .await;
    assert_eq!(r.status, 204);
}

/// Login CSRF: a page of another origin (the S3 endpoint's, same site on another port) can
/// post a form or a `text/plain` fetch without a preflight. Sign-in takes JSON that says so,
/// and refuses a browser's `Sec-Fetch-Site` other than `same-origin` or `none`; a cookie
/// request's JSON body must say so too.
#[tokio::test]
async fn sign_in_only_from_this_origin_with_a_json_body() {
    let srv = TestServer::start().await;
    let b = Browser::new(&srv);
    let creds = json!({"access_key": srv.access, "secret_key": srv.secret}).to_string();
    let post = |ctype: Option<&str>, site: Option<&str>| {
        let mut req = b
            .http
            .post(format!("{}/api/session", b.base))
            .body(creds.clone());
        if let Some(t) = ctype {
            req = req.header("content-type", t);
        }
        if let Some(s) = site {
            req = req.header("sec-fetch-site", s);
        }
        b.send(req)
    };
    for ctype in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let r = post(ctype, None).await;
        assert_eq!(
            (r.status, r.code()),
            (415, "api.unsupported_media_type"),
            "{ctype:?}"
        );
        assert!(r.headers.get("set-cookie").is_none());
    }
    for site in ["same-site", "cross-site"] {
        let r = post(Some("application/json"), Some(site)).await;
        assert_eq!((r.status, r.code()), (403, "auth.cross_origin"), "{site}");
        assert!(r.headers.get("set-cookie").is_none());
    }
    for site in [None, Some("same-origin"), Some("none")] {
        let r = post(Some("application/json"), site).await;
        assert_eq!(r.status, 200, "{site:?}: {}", r.body);
    }

    // Signed in, a JSON body without its type is refused even with the CSRF token.
    let mut b = Browser::new(&srv);
    b.sign_in(&srv.access, &srv.secret).await;
    let req = b
        .http
        .post(format!("{}/api/buckets", b.base))
        .header("content-type", "text/plain")
        .header("x-csrf-token", b.csrf.clone().expect("token"))
        .body(r#"{"name":"plain-text"}"#);
    let r = b.send(req).await;
    assert_eq!((r.status, r.code()), (415, "api.unsupported_media_type"));
    let r = b.call("GET", "/api/buckets/plain-text", None, false).await;
    assert_eq!(r.status, 404, "{}", r.body);
}

#[tokio::test]
async fn signed_requests_ignore_cookies() {
    let srv = TestServer::start().await;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", srv.access, srv.secret));
    // Basic credentials win over a (bogus) cookie, and need no CSRF token.
    let r = reqwest::Client::new()
        .post(format!("{}/api/buckets", base(&srv)))
        .header("authorization", format!("Basic {basic}"))
        .header("cookie", "gatehouse_session=bogus")
        .header("content-type", "application/json")
        .body(r#"{"name":"signed-bucket"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 201);
    // A wrong Basic secret with a valid cookie is still refused: no fallback to the cookie.
    let mut b = Browser::new(&srv);
    b.sign_in(&srv.access, &srv.secret).await;
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{}:nope", srv.access));
    let r = b
        .send(
            b.http
                .get(format!("{}/api/me", b.base))
                .header("authorization", format!("Basic {bad}")),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let srv = TestServer::start().await;
    let mut b = Browser::new(&srv);
    b.sign_in(&srv.access, &srv.secret).await;
    assert_eq!(b.call("GET", "/api/me", None, false).await.status, 200);
    let r = b.call("DELETE", "/api/session", None, false).await;
    assert_eq!(r.status, 204);
    let cleared = set_cookie(&r);
    assert!(cleared.starts_with("gatehouse_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie (a browser would have dropped it; an attacker who kept it) is dead.
    let r = b.call("GET", "/api/me", None, false).await;
    assert_eq!((r.status, r.code()), (401, "auth.session_expired"));
    let r = b.call("GET", "/api/session", None, false).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn rotating_or_removing_the_user_kills_the_session() {
    let srv = TestServer::start().await;
    let admin = srv.admin();

    let carol = srv.new_user("carol").await;
    let mut b = Browser::new(&srv);
    assert_eq!(
        b.sign_in(&carol.access_key, &carol.secret_key).await.status,
        200
    );
    let me = b.call("GET", "/api/me", None, false).await;
    assert_eq!(me.body["name"], "carol");
    // Policy changes reach a live session at once: the principal is resolved per request.
    srv.store()
        .create_group(&admin, "team", "")
        .await
        .expect("group");
    srv.store()
        .set_group_member(&admin, "team", "carol", true)
        .await
        .expect("member");
    let me = b.call("GET", "/api/me", None, false).await;
    let groups = me.body["groups"].as_array().expect("groups");
    assert!(groups.contains(&json!("team")), "{}", me.body);
    srv.store()
        .rotate_credentials(&admin, "carol")
        .await
        .expect("rotate");
    let r = b.call("GET", "/api/me", None, false).await;
    assert_eq!((r.status, r.code()), (401, "auth.session_expired"));

    let dave = srv.new_user("dave").await;
    let mut b = Browser::new(&srv);
    assert_eq!(
        b.sign_in(&dave.access_key, &dave.secret_key).await.status,
        200
    );
    srv.store()
        .remove_user(&admin, "dave")
        .await
        .expect("remove");
    let r = b.call("GET", "/api/session", None, false).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn page_and_assets_are_served_with_a_strict_csp() {
    let srv = TestServer::start().await;
    let http = reqwest::Client::new();
    for (path, ctype) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let r = http
            .get(format!("{}{path}", base(&srv)))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let got = h["content-type"].to_str().expect("ascii");
        assert!(got.starts_with(ctype), "{path}: {got}");
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let text = r.text().await.expect("text");
        if path == "/" {
            // Every script is a file of this origin: nothing inline for the CSP to refuse.
            for tag in text.split("<script").skip(1) {
                assert!(tag.trim_start().starts_with("src=\"/assets/"), "{tag}");
            }
            assert!(text.contains("/assets/app.css"));
        }
    }
    let r = http
        .get(format!("{}/assets/nope.js", base(&srv)))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn objects_from_the_page_origin_are_downloads_never_rendered() {
    let srv = TestServer::start().await;
    let mut b = Browser::new(&srv);
    b.sign_in(&srv.access, &srv.secret).await;
    let r = b
        .call("POST", "/api/buckets", Some(json!({"name": "web"})), true)
        .await;
    assert_eq!(r.status, 201);
    let put = b
        .http
        .put(format!("{}/api/buckets/web/objects/evil.html", b.base))
        .header("x-csrf-token", b.csrf.clone().expect("token"))
        .header("content-type", "text/html")
        .body("<script>fetch('/api/session')</script>");
    assert_eq!(b.send(put).await.status, 200);
    let r = b
        .call("GET", "/api/buckets/web/objects/evil.html", None, false)
        .await;
    assert_eq!(r.status, 200);
    let disposition = r.headers["content-disposition"].to_str().expect("ascii");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    let csp = r.headers["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{csp}"
    );
}

/// Sign-in over HTTPS (the admin listener with `tls:`): the cookie is also `Secure`, and the
/// listener still knows the client's address (a lockout from 127.0.0.1 covers other keys' wrong secrets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_cookie_is_secure_and_lockouts_see_the_client() {
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls;

    let Some((srv, certs)) = crate::tls::tls_server(|raw| {
        raw.admin.login_max_failures = Some(2);
    })
    .await
    else {
        return;
    };
    let ca = certs.path().join("ca.pem");
    let addr = srv
        .running
        .as_ref()
        .expect("running")
        .admin_addr
        .expect("admin listener on");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&ca).expect("ca") {
        roots.add(c.expect("pem")).expect("root");
    }
    let cfg = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let sign_in = |access: String, secret: String| {
        let cfg = cfg.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
            let tls = tokio_rustls::TlsConnector::from(cfg)
                .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
                .await
                .expect("TLS handshake");
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .expect("http1");
            tokio::spawn(conn);
            let body = json!({"access_key": access, "secret_key": secret}).to_string();
            let req = http::Request::post("/api/session")
                .header("host", addr.to_string())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .expect("req");
            let resp = send.send_request(req).await.expect("response");
            let status = resp.status().as_u16();
            let cookie = resp
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().expect("ascii").to_string());
            let _ = resp.into_body().collect().await;
            (status, cookie)
        }
    };
    let (status, cookie) = sign_in(srv.access.clone(), srv.secret.clone()).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("set-cookie");
    let attrs: Vec<&str> = cookie.split(';').map(str::trim).collect();
    for want in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
        assert!(attrs.contains(&want), "{want} in {cookie}");
    }
    for _ in 0..2 {
        assert_eq!(sign_in(srv.access.clone(), "wrong".into()).await.0, 401);
    }
    let bob = srv.new_user("bob").await;
    assert_eq!(
        sign_in(bob.access_key.clone(), "wrong".into()).await.0,
        429,
        "the address 127.0.0.1 is locked out for wrong secrets, whatever the key"
    );
    assert_eq!(
        sign_in(bob.access_key, bob.secret_key).await.0,
        200,
        "a right secret for a key that is not locked still signs in"
    );
}
