//! Test harness: a server on an ephemeral port with a fresh data dir, an SDK client for it,
//! and a raw SigV4-signed request helper for what the SDK will not send.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use gatehouse::app::{self, Running};
use gatehouse::config::{Overrides, RawConfig};
use gatehouse_s3::auth::{SigningParams, presign_url, sign_request_v4};

pub struct TestServer {
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    pub addr: std::net::SocketAddr,
    pub nfs_addr: std::net::SocketAddr,
    pub access: String,
    pub secret: String,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir).await
    }

    pub async fn start_in(dir: tempfile::TempDir) -> TestServer {
        Self::start_in_with(dir, |_| {}).await
    }

    /// Starts with the default test config adjusted by `f` (admin_peers, enrolment_token, …).
    pub async fn start_with(f: impl FnOnce(&mut RawConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in_with(dir, f).await
    }

    pub async fn start_in_with(
        dir: tempfile::TempDir,
        f: impl FnOnce(&mut RawConfig),
    ) -> TestServer {
        let mut raw = RawConfig::default();
        f(&mut raw);
        let running = app::start(config_from(raw, dir.path()))
            .await
            .expect("server starts");
        let addr = running.s3_addr.expect("S3 listener on");
        let nfs_addr = running.nfs_addr.expect("NFS listener on");
        let (access, secret) = read_credentials(&dir.path().join("admin.credentials"));
        TestServer {
            running: Some(running),
            dir,
            addr,
            nfs_addr,
            access,
            secret,
        }
    }

    pub fn store(&self) -> &gatehouse_store::Store {
        &self.running.as_ref().expect("running").store
    }

    /// The bootstrap admin as a principal (for calling the store directly).
    pub fn admin(&self) -> gatehouse_store::Principal {
        self.store()
            .lookup_credential(&self.access)
            .expect("lookup")
            .expect("bootstrap admin exists")
            .1
    }

    /// Registers a fresh keypair under `name` (as the bootstrap admin).
    pub async fn new_user(&self, name: &str) -> gatehouse_store::ops::Registered {
        let kp = gatehouse_store::identity::Keypair::generate().expect("keygen");
        let line = kp.public().to_openssh(name);
        self.store()
            .register_user(&self.admin(), line.as_bytes(), name)
            .await
            .expect("register")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn client(&self) -> Client {
        client_with(self.addr, &self.access, &self.secret)
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        self.dir
    }

    /// Number of chunk files on disk.
    pub fn chunk_files(&self) -> usize {
        count_files(&self.dir.path().join("blobs"))
    }

    /// A raw request signed with SigV4 (payload hash of `body`), sent with reqwest.
    pub async fn signed(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.signed_as(&self.secret.clone(), method, path, query, extra, body)
            .await
    }

    pub async fn signed_as(
        &self,
        secret: &str,
        method: &str,
        path: &str,
        query: Option<&str>,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let access = self.access.clone();
        self.signed_by(&access, secret, method, path, query, extra, body)
            .await
    }

    /// A bodiless request signed with another user's keys.
    pub async fn signed_with_keys(
        &self,
        access: &str,
        secret: &str,
        method: &str,
        path: &str,
        query: Option<&str>,
    ) -> reqwest::Response {
        self.signed_by(access, secret, method, path, query, &[], Vec::new())
            .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn signed_by(
        &self,
        access: &str,
        secret: &str,
        method: &str,
        path: &str,
        query: Option<&str>,
        extra: &[(&str, &str)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        use sha2::Digest;
        let mut headers = http::HeaderMap::new();
        let host = extra
            .iter()
            .find(|(k, _)| *k == "host")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| self.addr.to_string());
        headers.insert("host", host.parse().expect("host"));
        for (k, v) in extra {
            if *k != "host" {
                headers.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    v.parse().expect("value"),
                );
            }
        }
        let hash = hex::encode(sha2::Sha256::digest(&body));
        sign_request_v4(
            method,
            path,
            query,
            &mut headers,
            &hash,
            &SigningParams {
                access_key: access,
                secret_key: secret,
                region: "us-east-1",
                time: SystemTime::now(),
            },
        )
        .expect("sign");
        let url = match query {
            Some(q) => format!("http://{}{}?{}", self.addr, path, q),
            None => format!("http://{}{}", self.addr, path),
        };
        let mut req = reqwest::Client::new().request(method.parse().expect("method"), url);
        for (k, v) in headers.iter() {
            if k.as_str() != "host" {
                req = req.header(k.as_str(), v.as_bytes());
            }
        }
        if let Some(h) = headers.get("host") {
            req = req.header("host", h.as_bytes());
        }
        req.body(body).send().await.expect("send")
    }

    pub fn presign(&self, method: &str, path: &str, expires: u64, time: SystemTime) -> String {
        let q = presign_url(
            method,
            path,
            None,
            &self.addr.to_string(),
            expires,
            &SigningParams {
                access_key: &self.access,
                secret_key: &self.secret,
                region: "us-east-1",
                time,
            },
        )
        .expect("presign");
        format!("http://{}{}?{}", self.addr, path, q)
    }
}

pub fn config(dir: &Path) -> gatehouse::config::Config {
    config_from(RawConfig::default(), dir)
}

pub fn config_from(raw: RawConfig, dir: &Path) -> gatehouse::config::Config {
    raw.validate(&Overrides {
        data_dir: Some(dir.to_path_buf()),
        s3_listen: Some("127.0.0.1:0".into()),
        admin_listen: Some("127.0.0.1:0".into()),
        nfs_listen: Some("127.0.0.1:0".into()),
    })
    .expect("config")
}

pub fn client_with(addr: std::net::SocketAddr, access: &str, secret: &str) -> Client {
    let creds = Credentials::new(access, secret, None, None, "test");
    let http = aws_smithy_http_client::Builder::new().build_http();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(creds)
        .force_path_style(true)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

pub fn read_credentials(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).expect("credentials file");
    let get = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .map(|r| r.trim_start_matches([' ', '=']).trim().to_string())
            })
            .expect("credential line")
    };
    (get("aws_access_key_id"), get("aws_secret_access_key"))
}

pub fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "tmp") {
                    0
                } else {
                    count_files(&p)
                }
            } else {
                1
            }
        })
        .sum()
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// The S3 error code of an SDK error, for assertions.
pub fn code<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("").to_string(),
        other => format!("not a service error: {other:?}"),
    }
}

pub async fn body_bytes(o: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    o.body.collect().await.expect("body").into_bytes().to_vec()
}

/// A small tmpfs for full-disk tests, unmounted when dropped; `None` where mounting is not
/// allowed (not root). CI runs as root.
pub struct Tmpfs {
    pub dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tmp");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
