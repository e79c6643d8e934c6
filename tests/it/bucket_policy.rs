//! Bucket policies, anonymous access, public access blocks and CORS (issue 22, decision 0041)
//! through aws-sdk-s3 and raw HTTP: the policy's Deny beats every binding (an admin's too, but
//! an admin can always remove the policy), its Allow grants callers no binding does (anonymous
//! ones included), conditions see the request, and the AWS errors for bad documents.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CorsConfiguration, CorsRule, Delete, ObjectIdentifier, PublicAccessBlockConfiguration,
};

use crate::common::*;

async fn put(c: &Client, b: &str, k: &str, body: &'static [u8]) {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .expect("put");
}

async fn set_policy(c: &Client, b: &str, json: &str) -> Result<(), String> {
    c.put_bucket_policy()
        .bucket(b)
        .policy(json)
        .send()
        .await
        .map(drop)
        .map_err(|e| code(&e))
}

/// An unsigned GET, as a browser or `curl` sends it.
async fn anonymous(srv: &TestServer, method: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(method.parse().expect("method"), srv.url(path))
        .send()
        .await
        .expect("send")
}

fn public_read(bucket: &str, prefix: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/{prefix}*"}}]}}"#
    )
}

#[tokio::test]
async fn a_policy_is_kept_as_sent_and_refused_when_malformed() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("pol")
        .send()
        .await
        .expect("create");
    let e = c
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .expect_err("no policy yet");
    assert_eq!(code(&e), "NoSuchBucketPolicy");
    let json = public_read("pol", "pub/");
    set_policy(&c, "pol", &json).await.expect("put policy");
    let got = c
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .expect("get policy");
    assert_eq!(got.policy(), Some(json.as_str()));
    let status = c
        .get_bucket_policy_status()
        .bucket("pol")
        .send()
        .await
        .expect("status");
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(true)
    );

    for bad in [
        "not json",
        r#"{"Statement":[]}"#,
        // Another bucket's resource.
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
        // An action that does not exist.
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:FlyAway","Resource":"arn:aws:s3:::pol/*"}]}"#,
        // A principal nobody is.
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"nobody-here"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}"#,
        // An object action on the bucket itself.
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol"}]}"#,
        // An operator that does not exist.
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*","Condition":{"StringSortOf":{"s3:prefix":"a"}}}]}"#,
    ] {
        assert_eq!(
            set_policy(&c, "pol", bad).await,
            Err("MalformedPolicy".into()),
            "{bad}"
        );
    }
    // Over 20 KB.
    let big = format!(
        r#"{{"Version":"2012-10-17","Id":"{}","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}}]}}"#,
        "x".repeat(21 * 1024)
    );
    assert_eq!(
        set_policy(&c, "pol", &big).await,
        Err("MalformedPolicy".into())
    );
    // Nothing refused replaced what was there.
    let got = c
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .expect("get policy");
    assert_eq!(got.policy(), Some(json.as_str()));
    c.delete_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .expect("delete");
    let e = c
        .get_bucket_policy()
        .bucket("pol")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&e), "NoSuchBucketPolicy");
}

#[tokio::test]
async fn anonymous_callers_get_only_what_a_policy_grants() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("site")
        .send()
        .await
        .expect("create");
    put(&c, "site", "pub/index.html", b"hello world").await;
    put(&c, "site", "private/key", b"secret").await;

    // No policy: an unsigned request is refused, as before.
    let r = anonymous(&srv, "GET", "/site/pub/index.html").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("AccessDenied"));

    set_policy(&c, "site", &public_read("site", "pub/"))
        .await
        .expect("policy");
    let r = anonymous(&srv, "GET", "/site/pub/index.html").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("body"), "hello world");
    let r = anonymous(&srv, "HEAD", "/site/pub/index.html").await;
    assert_eq!(r.status(), 200);
    // Response header overrides are for signed requests only (API_GetObject), not applied.
    let r = anonymous(
        &srv,
        "GET",
        "/site/pub/index.html?response-content-type=text/x-evil",
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("InvalidRequest"));
    // Only that prefix, only reads.
    assert_eq!(
        anonymous(&srv, "GET", "/site/private/key").await.status(),
        403
    );
    assert_eq!(
        anonymous(&srv, "GET", "/site?list-type=2").await.status(),
        403
    );
    assert_eq!(anonymous(&srv, "PUT", "/site/pub/new").await.status(), 403);
    assert_eq!(
        anonymous(&srv, "DELETE", "/site/pub/index.html")
            .await
            .status(),
        403
    );
    assert_eq!(anonymous(&srv, "GET", "/").await.status(), 403);
    assert_eq!(anonymous(&srv, "PUT", "/newbucket").await.status(), 403);
    // A missing key under the public prefix: without s3:ListBucket a caller may not learn
    // which keys exist, so AWS answers 403, not 404.
    let r = anonymous(&srv, "GET", "/site/pub/missing").await;
    assert_eq!(r.status(), 403);

    // Listing granted with a prefix condition: only listings of that prefix.
    let listing = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/pub/*"},
        {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::site",
         "Condition":{"StringLike":{"s3:prefix":"pub/*"}}}]}"#;
    set_policy(&c, "site", listing).await.expect("policy");
    let r = anonymous(&srv, "GET", "/site?list-type=2&prefix=pub/").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains("pub/index.html"), "{body}");
    assert_eq!(
        anonymous(&srv, "GET", "/site?list-type=2&prefix=private/")
            .await
            .status(),
        403
    );
    assert_eq!(
        anonymous(&srv, "GET", "/site?list-type=2").await.status(),
        403
    );

    // Removing the policy closes it again, at once.
    c.delete_bucket_policy()
        .bucket("site")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        anonymous(&srv, "GET", "/site/pub/index.html")
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn an_explicit_deny_beats_every_binding_but_an_admin_can_remove_it() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("vault")
        .send()
        .await
        .expect("create");
    put(&c, "vault", "keep/a", b"a").await;
    put(&c, "vault", "keep/b", b"b").await;
    put(&c, "vault", "tmp/c", b"c").await;
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoDeletes","Effect":"Deny","Principal":"*",
        "Action":["s3:DeleteObject","s3:PutObject"],"Resource":"arn:aws:s3:::vault/keep/*"}]}"#;
    set_policy(&c, "vault", deny).await.expect("policy");
    // The admin's own binding allows everything; the policy's Deny wins.
    let e = c
        .delete_object()
        .bucket("vault")
        .key("keep/a")
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(&e), "AccessDenied");
    let e = c
        .put_object()
        .bucket("vault")
        .key("keep/new")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(&e), "AccessDenied");
    // Elsewhere in the bucket nothing changed.
    c.delete_object()
        .bucket("vault")
        .key("tmp/c")
        .send()
        .await
        .expect("delete outside the prefix");
    put(&c, "vault", "tmp/d", b"d").await;
    // DeleteObjects: the denied keys fail one by one, the rest go.
    let out = c
        .delete_objects()
        .bucket("vault")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("keep/b")
                        .build()
                        .expect("id"),
                )
                .objects(
                    ObjectIdentifier::builder()
                        .key("tmp/d")
                        .build()
                        .expect("id"),
                )
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    assert_eq!(out.deleted().len(), 1);
    assert_eq!(out.deleted()[0].key(), Some("tmp/d"));
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].key(), Some("keep/b"));
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    // A CopyObject onto a denied key is a PutObject there: refused too.
    let e = c
        .copy_object()
        .bucket("vault")
        .key("keep/copy")
        .copy_source("vault/keep/a")
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(&e), "AccessDenied");

    // A policy that locks everyone out of everything, its own management included...
    let lockout = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",
        "Resource":["arn:aws:s3:::vault","arn:aws:s3:::vault/*"]}]}"#;
    set_policy(&c, "vault", lockout).await.expect("policy");
    let e = c
        .get_object()
        .bucket("vault")
        .key("keep/a")
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(&e), "AccessDenied");
    // ...can still be read and removed by an administrator.
    c.get_bucket_policy()
        .bucket("vault")
        .send()
        .await
        .expect("admin reads it");
    c.delete_bucket_policy()
        .bucket("vault")
        .send()
        .await
        .expect("admin removes it");
    c.delete_object()
        .bucket("vault")
        .key("keep/a")
        .send()
        .await
        .expect("delete after");

    // A user with no binding at all is also refused by the policy's silence.
    let u = srv.new_user("nobody").await;
    let n = client_with(srv.addr, &u.access_key, &u.secret_key);
    let e = n
        .get_object()
        .bucket("vault")
        .key("keep/b")
        .send()
        .await
        .expect_err("no binding, no policy");
    assert_eq!(code(&e), "AccessDenied");
    // Nor can a non-admin remove a policy that denies it.
    set_policy(&c, "vault", lockout).await.expect("policy");
    let e = n
        .delete_bucket_policy()
        .bucket("vault")
        .send()
        .await
        .expect_err("not theirs");
    assert_eq!(code(&e), "AccessDenied");
}

#[tokio::test]
async fn an_allow_grants_named_users_and_groups_what_no_binding_does() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("shared")
        .send()
        .await
        .expect("create");
    put(&c, "shared", "reports/q1", b"q1").await;
    let alice = srv.new_user("alice").await;
    let bob = srv.new_user("bob").await;
    let a = client_with(srv.addr, &alice.access_key, &alice.secret_key);
    let b = client_with(srv.addr, &bob.access_key, &bob.secret_key);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam:::user/alice"}},"Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::shared/reports/*"}},
        {{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared"}}]}}"#,
        bob.user_id
    );
    set_policy(&c, "shared", &policy).await.expect("policy");
    let got = a
        .get_object()
        .bucket("shared")
        .key("reports/q1")
        .send()
        .await
        .expect("alice reads");
    assert_eq!(body_bytes(got).await, b"q1");
    put(&a, "shared", "reports/q2", b"q2").await;
    let e = a
        .put_object()
        .bucket("shared")
        .key("other")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("outside the resource");
    assert_eq!(code(&e), "AccessDenied");
    let e = a
        .list_objects_v2()
        .bucket("shared")
        .send()
        .await
        .expect_err("not alice's");
    assert_eq!(code(&e), "AccessDenied");
    let listed = b
        .list_objects_v2()
        .bucket("shared")
        .send()
        .await
        .expect("bob lists");
    assert_eq!(listed.key_count(), Some(2));
    let e = b
        .get_object()
        .bucket("shared")
        .key("reports/q1")
        .send()
        .await
        .expect_err("bob may only list");
    assert_eq!(code(&e), "AccessDenied");
}

#[tokio::test]
async fn conditions_see_the_request() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("cond")
        .send()
        .await
        .expect("create");
    put(&c, "cond", "x", b"x").await;
    // Deny unless from 10.0.0.0/8: this client is 127.0.0.1.
    let ip = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::cond/*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
    set_policy(&c, "cond", ip).await.expect("policy");
    let e = c
        .get_object()
        .bucket("cond")
        .key("x")
        .send()
        .await
        .expect_err("not from 10/8");
    assert_eq!(code(&e), "AccessDenied");
    let local = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::cond/*","Condition":{"NotIpAddress":{"aws:SourceIp":["127.0.0.0/8","::1/128"]}}}]}"#;
    set_policy(&c, "cond", local).await.expect("policy");
    c.get_object()
        .bucket("cond")
        .key("x")
        .send()
        .await
        .expect("from loopback");
    // Deny without TLS: this server speaks plain HTTP.
    let tls = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",
        "Resource":"arn:aws:s3:::cond/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    set_policy(&c, "cond", tls).await.expect("policy");
    let e = c
        .get_object()
        .bucket("cond")
        .key("x")
        .send()
        .await
        .expect_err("plain HTTP");
    assert_eq!(code(&e), "AccessDenied");
    // Uploads must carry a tag (s3:RequestObjectTag) or are refused.
    let tags = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject",
        "Resource":"arn:aws:s3:::cond/*","Condition":{"StringNotEquals":{"s3:RequestObjectTag/team":"blue"}}}]}"#;
    set_policy(&c, "cond", tags).await.expect("policy");
    let e = c
        .put_object()
        .bucket("cond")
        .key("untagged")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("no tag");
    assert_eq!(code(&e), "AccessDenied");
    c.put_object()
        .bucket("cond")
        .key("tagged")
        .tagging("team=blue")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("tagged");
    // Presigned URLs are REST-QUERY-STRING (s3:authType).
    let qs = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::cond/*","Condition":{"StringEquals":{"s3:authType":"REST-QUERY-STRING"}}}]}"#;
    set_policy(&c, "cond", qs).await.expect("policy");
    let url = srv.presign("GET", "/cond/x", 300, std::time::SystemTime::now());
    let r = reqwest::get(&url).await.expect("send");
    assert_eq!(r.status(), 403);
    c.get_object()
        .bucket("cond")
        .key("x")
        .send()
        .await
        .expect("header-signed");
    // aws:Referer: anonymous reads only from pages of one site (the hotlinking policy of the
    // AWS examples); aws:UserAgent likewise.
    let referer = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::cond/*","Condition":{"StringLike":{"aws:Referer":"https://example.com/*"}}}]}"#;
    set_policy(&c, "cond", referer).await.expect("policy");
    let get_with = |h: &'static str, v: &'static str| {
        let url = srv.url("/cond/x");
        async move {
            reqwest::Client::new()
                .get(url)
                .header(h, v)
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }
    };
    assert_eq!(get_with("referer", "https://example.com/page").await, 200);
    assert_eq!(get_with("referer", "https://elsewhere.example/").await, 403);
    assert_eq!(anonymous(&srv, "GET", "/cond/x").await.status(), 403);
    let agent = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::cond/*","Condition":{"StringEquals":{"aws:UserAgent":"backup-robot/1"}}}]}"#;
    set_policy(&c, "cond", agent).await.expect("policy");
    assert_eq!(get_with("user-agent", "backup-robot/1").await, 200);
    assert_eq!(get_with("user-agent", "curl/8").await, 403);
}

#[tokio::test]
async fn public_access_blocks_refuse_and_restrict_public_policies() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("blk")
        .send()
        .await
        .expect("create");
    put(&c, "blk", "pub/x", b"x").await;
    let e = c
        .get_public_access_block()
        .bucket("blk")
        .send()
        .await
        .expect_err("none yet");
    assert_eq!(code(&e), "NoSuchPublicAccessBlockConfiguration");
    c.put_public_access_block()
        .bucket("blk")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_policy(true)
                .build(),
        )
        .send()
        .await
        .expect("block");
    let got = c
        .get_public_access_block()
        .bucket("blk")
        .send()
        .await
        .expect("get");
    let cfg = got.public_access_block_configuration().expect("cfg");
    assert_eq!(cfg.block_public_policy(), Some(true));
    assert_eq!(cfg.block_public_acls(), Some(false));
    assert_eq!(
        set_policy(&c, "blk", &public_read("blk", "pub/")).await,
        Err("AccessDenied".into())
    );
    // A policy for a named user is not public: allowed.
    let u = srv.new_user("carol").await;
    let named = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::blk/*"}}]}}"#,
        u.user_id
    );
    set_policy(&c, "blk", &named).await.expect("named policy");
    let status = c
        .get_bucket_policy_status()
        .bucket("blk")
        .send()
        .await
        .expect("status");
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(false)
    );

    // RestrictPublicBuckets: a public policy stays but grants anonymous callers nothing.
    c.put_public_access_block()
        .bucket("blk")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .expect("restrict");
    set_policy(&c, "blk", &public_read("blk", "pub/"))
        .await
        .expect("public policy");
    assert_eq!(anonymous(&srv, "GET", "/blk/pub/x").await.status(), 403);
    c.delete_public_access_block()
        .bucket("blk")
        .send()
        .await
        .expect("delete");
    assert_eq!(anonymous(&srv, "GET", "/blk/pub/x").await.status(), 200);
}

#[tokio::test]
async fn the_server_switch_blocks_public_access_everywhere() {
    let srv = TestServer::start_with(|c| c.s3.block_public_access = Some(true)).await;
    let c = srv.client();
    c.create_bucket()
        .bucket("nope")
        .send()
        .await
        .expect("create");
    assert_eq!(
        set_policy(&c, "nope", &public_read("nope", "")).await,
        Err("AccessDenied".into())
    );
}

#[tokio::test]
async fn cors_rules_answer_preflights_and_mark_actual_responses() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("web")
        .send()
        .await
        .expect("create");
    put(&c, "web", "a.txt", b"a").await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str, method: &'static str| {
        http.request(reqwest::Method::OPTIONS, srv.url("/web/a.txt"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .send()
    };
    // No configuration: 403 AccessForbidden.
    let r = preflight("https://app.example.com", "GET")
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("AccessForbidden"));
    let e = c
        .get_bucket_cors()
        .bucket("web")
        .send()
        .await
        .expect_err("none");
    assert_eq!(code(&e), "NoSuchCORSConfiguration");

    c.put_bucket_cors()
        .bucket("web")
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(
                    CorsRule::builder()
                        .allowed_origins("https://*.example.com")
                        .allowed_methods("GET")
                        .allowed_methods("PUT")
                        .allowed_headers("*")
                        .expose_headers("ETag")
                        .max_age_seconds(600)
                        .build()
                        .expect("rule"),
                )
                .build()
                .expect("cors"),
        )
        .send()
        .await
        .expect("put cors");
    let got = c.get_bucket_cors().bucket("web").send().await.expect("get");
    assert_eq!(got.cors_rules().len(), 1);
    assert_eq!(got.cors_rules()[0].allowed_methods(), ["GET", "PUT"]);

    let r = preflight("https://app.example.com", "PUT")
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(
        h.get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"https://app.example.com"[..])
    );
    assert_eq!(
        h.get("access-control-max-age").map(|v| v.as_bytes()),
        Some(&b"600"[..])
    );
    assert_eq!(
        preflight("https://evil.test", "GET")
            .await
            .expect("send")
            .status(),
        403
    );
    assert_eq!(
        preflight("https://app.example.com", "DELETE")
            .await
            .expect("send")
            .status(),
        403
    );
    // An actual request from that origin carries the headers (signed or not).
    let r = srv
        .signed(
            "GET",
            "/web/a.txt",
            None,
            &[("origin", "https://app.example.com")],
            vec![],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://app.example.com"[..])
    );
    assert_eq!(
        r.headers()
            .get("access-control-expose-headers")
            .map(|v| v.as_bytes()),
        Some(&b"ETag"[..])
    );
    let r = srv
        .signed(
            "GET",
            "/web/a.txt",
            None,
            &[("origin", "https://evil.test")],
            vec![],
        )
        .await;
    assert!(r.headers().get("access-control-allow-origin").is_none());

    c.delete_bucket_cors()
        .bucket("web")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        preflight("https://app.example.com", "GET")
            .await
            .expect("send")
            .status(),
        403
    );
}

#[tokio::test]
async fn what_a_policy_cannot_be_used_for() {
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket()
        .bucket("edge")
        .send()
        .await
        .expect("create");
    // A header that needs a permission of its own (s3:PutObjectAcl) is judged as that.
    let deny_acl = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObjectAcl","Resource":"arn:aws:s3:::edge/*"}]}"#;
    set_policy(&c, "edge", deny_acl).await.expect("policy");
    put(&c, "edge", "plain", b"x").await;
    let e = c
        .put_object()
        .bucket("edge")
        .key("public")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("acl denied");
    assert_eq!(code(&e), "AccessDenied");
    assert_eq!(anonymous(&srv, "GET", "/edge/public").await.status(), 403);
    // Callers nobody vouches for never manage the bucket's settings, whatever it allows.
    let open = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::edge","arn:aws:s3:::edge/*"]}]}"#;
    set_policy(&c, "edge", open).await.expect("policy");
    let r = reqwest::Client::new()
        .put(srv.url("/edge?policy"))
        .body(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::edge/*"}]}"#)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    assert_eq!(
        anonymous(&srv, "DELETE", "/edge?policy").await.status(),
        403
    );
    assert_eq!(anonymous(&srv, "GET", "/edge?policy").await.status(), 403);
    // ...while what it grants on objects and listings works.
    assert_eq!(anonymous(&srv, "GET", "/edge/plain").await.status(), 200);
    // A condition key no request here carries is refused, not kept to never match.
    let vpce = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::edge/*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}"#;
    assert_eq!(
        set_policy(&c, "edge", vpce).await,
        Err("MalformedPolicy".into())
    );
    let tls = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::edge/*","Condition":{"NumericLessThan":{"s3:TlsVersion":"1.2"}}}]}"#;
    assert_eq!(
        set_policy(&c, "edge", tls).await,
        Err("MalformedPolicy".into())
    );
}

#[tokio::test]
async fn a_share_policy_names_the_share_as_s3_clients_do() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            gatehouse_store::ops::NewShare {
                name: "docs".into(),
                guest_read: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let c = srv.client();
    put(&c, "fs--docs", "pub/readme", b"read me").await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::fs--docs/pub/*"}]}"#;
    set_policy(&c, "fs--docs", policy)
        .await
        .expect("the alias names the share");
    assert_eq!(
        anonymous(&srv, "GET", "/fs--docs/pub/readme")
            .await
            .status(),
        200
    );
    let got = c
        .get_bucket_policy()
        .bucket("fs--docs")
        .send()
        .await
        .expect("get");
    assert_eq!(got.policy(), Some(policy));
}

/// `s3:ExistingObjectTag/<key>`: a policy decides on the tags the object has — an Allow
/// reaches only objects tagged so, a Deny holds even for callers whose bindings allow (the
/// object is read before it is decided on), for GET, HEAD, PutObjectTagging and a copy's source.
#[tokio::test]
async fn policies_see_the_tags_an_object_has() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let srv = TestServer::start().await;
    let c = srv.client();
    c.create_bucket().bucket("extag").send().await.expect("mb");
    for (k, tagging) in [
        ("open", Some("security=public")),
        ("closed", Some("security=private")),
        ("none", None),
    ] {
        let mut r = c
            .put_object()
            .bucket("extag")
            .key(k)
            .body(ByteStream::from_static(b"x"));
        if let Some(t) = tagging {
            r = r.tagging(t);
        }
        r.send().await.expect("put");
    }
    let alice = srv.new_user("alice").await;
    let a = client_with(srv.addr, &alice.access_key, &alice.secret_key);
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"alice"},"Action":["s3:GetObject","s3:PutObjectTagging"],
         "Resource":"arn:aws:s3:::extag/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/security":"public"}}},
        {"Effect":"Deny","Principal":"*","Action":"s3:GetObject",
         "Resource":"arn:aws:s3:::extag/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/security":"private"}}}]}"#;
    set_policy(&c, "extag", policy).await.expect("policy");
    let get = |client: &Client, k: &'static str| {
        let client = client.clone();
        async move {
            client
                .get_object()
                .bucket("extag")
                .key(k)
                .send()
                .await
                .map(drop)
                .map_err(|e| code(&e))
        }
    };
    assert_eq!(get(&a, "open").await, Ok(()));
    assert_eq!(get(&a, "closed").await, Err("AccessDenied".into()));
    assert_eq!(get(&a, "none").await, Err("AccessDenied".into()));
    assert!(
        a.head_object()
            .bucket("extag")
            .key("open")
            .send()
            .await
            .is_ok(),
        "HEAD as GET"
    );
    // The Deny holds for the bucket's owner too; untagged objects stay theirs.
    assert_eq!(get(&c, "closed").await, Err("AccessDenied".into()));
    assert_eq!(get(&c, "none").await, Ok(()));
    let e = c
        .copy_object()
        .bucket("extag")
        .key("copy")
        .copy_source("extag/closed")
        .send()
        .await
        .expect_err("a copy reads its source");
    assert_eq!(code(&e), "AccessDenied");
    // Retagging is decided on the tags before the change.
    let retag = |k: &'static str, v: &'static str| {
        let a = a.clone();
        async move {
            a.put_object_tagging()
                .bucket("extag")
                .key(k)
                .tagging(
                    Tagging::builder()
                        .tag_set(
                            Tag::builder()
                                .key("security")
                                .value(v)
                                .build()
                                .expect("tag"),
                        )
                        .build()
                        .expect("tagging"),
                )
                .send()
                .await
                .map(drop)
                .map_err(|e| code(&e))
        }
    };
    assert_eq!(retag("open", "private").await, Ok(()));
    assert_eq!(retag("open", "public").await, Err("AccessDenied".into()));
    assert_eq!(get(&a, "open").await, Err("AccessDenied".into()));
    srv.stop().await;
}
