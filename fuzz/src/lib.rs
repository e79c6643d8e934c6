//! What the fuzz targets share: an allocation bound that libFuzzer enforces, and one small
//! deterministic server environment (store, S3 and admin routers, NFS gateway) per process.
//!
//! Determinism matters for the corpus: the data directory gets a fixed master key and the
//! admin a fixed keypair, so S3 credentials, user ids, bucket ids and NFS file handles are the
//! same in every run, and a seed that carries a valid handle or credential keeps working.
//!
//! The data directory lives under `$TMPDIR` (`fuzz/run.sh` points it at a scratch directory it
//! removes afterwards: libFuzzer ends the process with `exit`, so nothing here gets dropped).

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{c_int, c_void};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use gatehouse_store::identity::Keypair;
use gatehouse_store::ops::NewShare;
use gatehouse_store::{Principal, Store, StoreConfig};
use http_body_util::BodyExt;
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------------
// Allocation bound.
//
// libFuzzer's `-malloc_limit_mb` works through malloc hooks that normally only a sanitizer
// runtime installs (`__sanitizer_install_malloc_and_free_hooks`, a weak symbol libFuzzer calls
// at start). We build without sanitizers (stable Rust has none), so we define that function
// here and call libFuzzer's hook from the global allocator for every allocation of 1 MiB or
// more: a single allocation over the limit is then reported by libFuzzer itself
// ("out-of-memory (malloc(N))"), with the input saved as `oom-<sha1>`.
// ---------------------------------------------------------------------------------------------

type MallocHook = unsafe extern "C" fn(*const c_void, usize);

/// libFuzzer's malloc hook (a function pointer), 0 until libFuzzer installs it.
static MALLOC_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Called by libFuzzer at start-up (it looks for this symbol as a weak reference).
///
/// # Safety
/// `malloc_hook` must be a function that may be called with any pointer and size, from any
/// thread; libFuzzer's is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __sanitizer_install_malloc_and_free_hooks(
    malloc_hook: Option<MallocHook>,
    _free_hook: Option<unsafe extern "C" fn(*const c_void)>,
) -> c_int {
    if let Some(h) = malloc_hook {
        MALLOC_HOOK.store(h as usize, Ordering::Release);
    }
    1
}

/// The system allocator, reporting large allocations to libFuzzer before making them.
pub struct Bounded;

const REPORT_FROM: usize = 1 << 20;

fn report(size: usize) {
    if size < REPORT_FROM {
        return;
    }
    let h = MALLOC_HOOK.load(Ordering::Acquire);
    if h != 0 {
        // SAFETY: only ever set from a `MallocHook` in the function above.
        let hook: MallocHook = unsafe { std::mem::transmute::<usize, MallocHook>(h) };
        // SAFETY: libFuzzer's hook only reads the size (and prints the pointer when tracing).
        unsafe { hook(std::ptr::null(), size) };
    }
}

// SAFETY: every method forwards to `System` unchanged; `report` only observes sizes.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        report(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        report(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        report(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

/// Keeps the hook installer in the link (libFuzzer refers to it only weakly).
#[used]
static KEEP_HOOK_INSTALLER: unsafe extern "C" fn(
    Option<MallocHook>,
    Option<unsafe extern "C" fn(*const c_void)>,
) -> c_int = __sanitizer_install_malloc_and_free_hooks;

// ---------------------------------------------------------------------------------------------
// The server environment.
// ---------------------------------------------------------------------------------------------

/// Master key of the fuzzing store (fixed: see the module docs).
const MASTER_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// Seed of the admin's keypair.
const ADMIN_SEED: [u8; 32] = [0x42; 32];
/// The share the NFS target works in (its root handle comes from MNT `/fz`).
pub const SHARE: &str = "fz";
/// A plain bucket the S3 targets write into, and an object in it.
pub const BUCKET: &str = "fuzz";
pub const OBJECT: &str = "obj";
/// Address NFS calls come from: a registered peer of the admin.
pub const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub store: Store,
    pub admin: Principal,
    pub access_key: String,
    pub secret_key: String,
    pub s3: Router,
    pub admin_api: Router,
    pub nfs: gatehouse_nfs::fuzzing::Harness,
    /// Handles of share `fz`'s root, its file `file` (11 bytes), directory `dir` and symlink
    /// `link`, as the peer [`PEER`] gets them.
    pub fh: NfsHandles,
    _dir: tempfile::TempDir,
}

/// The process's environment, made on first use.
pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| match make_env() {
        Ok(e) => e,
        Err(e) => panic!("fuzz environment: {e}"),
    })
}

fn make_env() -> Result<Env, Box<dyn std::error::Error>> {
    let dir = tempfile::Builder::new()
        .prefix("gatehouse-fuzz")
        .tempdir()?;
    std::fs::write(dir.path().join("master.key"), format!("{MASTER_KEY}\n"))?;
    set_mode_0600(&dir.path().join("master.key"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut cfg = StoreConfig::new(dir.path());
    cfg.db_cache_bytes = 4 << 20;
    cfg.max_size = 64 << 20;
    let (store, _) = Store::open(cfg)?;
    let (admin, reg) = rt.block_on(async {
        let reg = store
            .register_local_user(Keypair::from_seed(ADMIN_SEED).public(), "admin")
            .await?;
        store.set_admin_peers(vec![reg.user_id.clone()])?;
        let admin = store
            .lookup_credential(&reg.access_key)?
            .ok_or("the admin's credential is missing")?
            .1;
        store
            .add_peer(&admin, &PEER.to_string(), &reg.user_id, "fuzz")
            .await?;
        store
            .create_share(
                &admin,
                NewShare {
                    name: SHARE.into(),
                    description: String::new(),
                    quota_bytes: 16 << 20,
                    max_objects: 0,
                    expires_ms: None,
                    guest_read: Some(false),
                },
            )
            .await?;
        store.create_bucket(&admin, BUCKET).await?;
        store.create_bucket(&admin, "fuzz-del").await?;
        store.create_bucket(&admin, "fuzz-enc").await?;
        Ok::<_, Box<dyn std::error::Error>>((admin, reg))
    })?;
    let s3 = gatehouse_s3::router(gatehouse_s3::S3State::new(
        store.clone(),
        gatehouse_s3::S3Config::default(),
    ));
    let admin_api = gatehouse_admin::router(gatehouse_admin::AdminState::new(
        store.clone(),
        gatehouse_admin::AdminConfig {
            region: "us-east-1".into(),
            s3_endpoint: "http://127.0.0.1:9000".into(),
            max_size: 64 << 20,
            login_max_failures: gatehouse_admin::AdminConfig::DEFAULT_LOGIN_MAX_FAILURES,
            login_lockout: gatehouse_admin::AdminConfig::DEFAULT_LOGIN_LOCKOUT,
            secure_cookie: false,
            trusted_proxies: Vec::new(),
            nfs_endpoint: "127.0.0.1:2049".into(),
        },
    ));
    let nfs = gatehouse_nfs::fuzzing::Harness::new(store.clone());
    let env = Env {
        rt,
        store,
        admin,
        access_key: reg.access_key,
        secret_key: reg.secret_key,
        s3,
        admin_api,
        nfs,
        fh: NfsHandles::default(),
        _dir: dir,
    };
    let mut env = env;
    env.fh = env.nfs_fixtures()?;
    // The object the tagging target names.
    let put = env.request("PUT", &format!("/{BUCKET}/{OBJECT}"), b"hello".to_vec());
    let (status, _) = env.send(&env.s3, put);
    if status != 200 {
        return Err(format!("PUT of the fixture object answered {status}").into());
    }
    Ok(env)
}

#[cfg(unix)]
fn set_mode_0600(p: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
}

#[derive(Default, Clone)]
pub struct NfsHandles {
    pub root: Vec<u8>,
    pub file: Vec<u8>,
    pub dir: Vec<u8>,
    pub link: Vec<u8>,
}

impl Env {
    /// One NFS call from [`PEER`]; the reply's body.
    pub fn nfs_call(&self, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
        let rec = rpc_build::call(0x5eed, prog, vers, proc_, args);
        self.rt
            .block_on(self.nfs.call(&rec, PEER))
            .map(|r| r.body)
            .unwrap_or_default()
    }

    fn nfs_fixtures(&self) -> Result<NfsHandles, String> {
        use rpc_build::{MOUNT, NFS, Xdr, reply_handle};
        let root = reply_handle(
            &self.nfs_call(MOUNT, 3, 1, &Xdr::default().opaque(b"/fz").0),
            false,
        )
        .ok_or("MNT /fz failed")?;
        let dirop = |name: &[u8]| Xdr::default().opaque(&root).opaque(name);
        let file = reply_handle(
            &self.nfs_call(NFS, 3, 8, &dirop(b"file").u32(0).sattr(Some(0o644)).0),
            true,
        )
        .ok_or("CREATE file failed")?;
        let wrote = self.nfs_call(
            NFS,
            3,
            7,
            &Xdr::default()
                .opaque(&file)
                .u64(0)
                .u32(11)
                .u32(2)
                .opaque(b"hello world")
                .0,
        );
        if wrote.get(24..28) != Some(&[0, 0, 0, 0]) {
            return Err("WRITE file failed".into());
        }
        let dir = reply_handle(
            &self.nfs_call(NFS, 3, 9, &dirop(b"dir").sattr(Some(0o755)).0),
            true,
        )
        .ok_or("MKDIR dir failed")?;
        let link = reply_handle(
            &self.nfs_call(NFS, 3, 10, &dirop(b"link").sattr(None).opaque(b"file").0),
            true,
        )
        .ok_or("SYMLINK link failed")?;
        Ok(NfsHandles {
            root,
            file,
            dir,
            link,
        })
    }

    /// A request signed the simple way (`Authorization: Bearer <access>:<secret>`, which
    /// both the S3 gateway and the admin API accept) as the admin.
    pub fn request(&self, method: &str, uri: &str, body: Vec<u8>) -> http::Request<Body> {
        let mut b = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1")
            .header(
                "authorization",
                format!("Bearer {}:{}", self.access_key, self.secret_key),
            );
        if !body.is_empty() {
            b = b.header("content-length", body.len().to_string());
        }
        match b.body(Body::from(body)) {
            Ok(r) => r,
            Err(e) => panic!("building a request for {uri}: {e}"),
        }
    }

    /// Sends `req` through `router` and returns the status and the whole body.
    pub fn send(&self, router: &Router, req: http::Request<Body>) -> (u16, Vec<u8>) {
        self.rt.block_on(async {
            let resp = match router.clone().oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let status = resp.status().as_u16();
            let body = match resp.into_body().collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(e) => panic!("reading a response body: {e}"),
            };
            (status, body)
        })
    }
}

/// Fails the run when a request answered 5xx other than 501: a malformed request must get a
/// 4xx refusal (or 501 NotImplemented for a feature we refuse on purpose); anything else means
/// the server broke on client input.
pub fn assert_not_server_error(what: &str, status: u16, body: &[u8]) {
    assert!(
        status < 500 || status == 501,
        "{what} answered {status}: {}",
        String::from_utf8_lossy(body)
    );
}

// ---------------------------------------------------------------------------------------------
// Fixed signing inputs of the authentication targets (the AWS documentation's example key).
// ---------------------------------------------------------------------------------------------

pub const AK: &str = "AKIAIOSFODNN7EXAMPLE";
pub const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const REGION: &str = "us-east-1";

/// 20130524T000000Z, the time of the AWS examples: the seeds are signed then, and the
/// targets verify at this time plus a minute.
pub fn t0() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600)
}

/// The secret of [`AK`]; every other access key is unknown.
pub fn lookup(ak: &str) -> Option<String> {
    (ak == AK).then(|| SK.to_string())
}

/// A request in the text form of the `sigv4` corpus: a first line `METHOD PATH[?QUERY]`, then
/// `name: value` header lines. Lines that do not make a header are skipped.
pub struct TextRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
}

impl TextRequest {
    pub fn parse(data: &[u8]) -> Option<TextRequest> {
        let text = std::str::from_utf8(data).ok()?;
        let mut lines = text.split('\n');
        let first = lines.next()?.trim_end_matches('\r');
        let (method, target) = first.split_once(' ')?;
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (target, None),
        };
        let mut headers = http::HeaderMap::new();
        for line in lines {
            let line = line.trim_end_matches('\r');
            let Some((n, v)) = line.split_once(':') else {
                continue;
            };
            let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(n.trim().as_bytes()),
                http::HeaderValue::from_str(v.trim()),
            ) else {
                continue;
            };
            headers.append(n, v);
        }
        Some(TextRequest {
            method: method.to_string(),
            path: path.to_string(),
            query,
            headers,
        })
    }

    pub fn to_text(&self) -> String {
        let mut s = format!("{} {}", self.method, self.path);
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s.push('\n');
        for (n, v) in &self.headers {
            s.push_str(&format!("{}: {}\n", n, v.to_str().unwrap_or("")));
        }
        s
    }
}

/// The streaming context the `chunked` corpus is signed with.
pub fn chunk_context() -> gatehouse_s3::auth::StreamingContext {
    gatehouse_s3::auth::StreamingContext::new(
        SK,
        t0(),
        REGION,
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    )
}

/// The endpoints whose bodies the `s3_xml` target sends each input to: every S3 request that
/// carries an XML document (method, path and query, as the admin).
pub const XML_ENDPOINTS: &[(&str, &str, &str)] = &[
    ("CreateBucketConfiguration", "PUT", "/fuzz-new"),
    ("LifecycleConfiguration", "PUT", "/fuzz?lifecycle"),
    ("Tagging", "PUT", "/fuzz/obj?tagging"),
    ("Tagging", "PUT", "/fuzz?tagging"),
    ("Delete", "POST", "/fuzz-del?delete"),
    (
        "ServerSideEncryptionConfiguration",
        "PUT",
        "/fuzz-enc?encryption",
    ),
    (
        "CompleteMultipartUpload",
        "POST",
        "/fuzz/mp?uploadId=00000000000000000000000000000000",
    ),
];

/// The admin API endpoints that read a JSON body; the `admin_json` corpus names one per input
/// on its first line (`METHOD PATH`), the body follows.
pub const JSON_ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/session"),
    ("POST", "/api/users"),
    ("POST", "/api/join"),
    ("POST", "/api/groups"),
    ("POST", "/api/roles"),
    ("POST", "/api/bindings"),
    ("POST", "/api/buckets"),
    ("POST", "/api/buckets/fuzz/presign"),
    ("PUT", "/api/buckets/fuzz/encryption"),
    ("POST", "/api/shares"),
    ("POST", "/api/peers"),
    ("POST", "/api/replication/connections"),
    ("PUT", "/api/replication/rules/fuzz"),
];

// ---------------------------------------------------------------------------------------------
// ONC RPC calls, built by hand (RFC 5531 / RFC 1813), for the NFS fixtures and the seeds.
// ---------------------------------------------------------------------------------------------

pub mod rpc_build {
    pub const NFS: u32 = 100_003;
    pub const MOUNT: u32 = 100_005;
    pub const PORTMAP: u32 = 100_000;

    /// XDR writer.
    #[derive(Default, Clone)]
    pub struct Xdr(pub Vec<u8>);

    impl Xdr {
        pub fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub fn opaque(mut self, b: &[u8]) -> Self {
            self = self.u32(b.len() as u32);
            self.0.extend_from_slice(b);
            self.0.resize(self.0.len() + (4 - b.len() % 4) % 4, 0);
            self
        }
        pub fn fixed(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
        /// sattr3 with every field "don't set" except, optionally, the mode.
        pub fn sattr(self, mode: Option<u32>) -> Self {
            let s = match mode {
                Some(m) => self.u32(1).u32(m),
                None => self.u32(0),
            };
            s.u32(0).u32(0).u32(0).u32(0).u32(0)
        }
    }

    /// A CALL record body: header with AUTH_UNIX (uid/gid 1000), then `args`.
    pub fn call(xid: u32, prog: u32, vers: u32, proc_: u32, args: &[u8]) -> Vec<u8> {
        let cred = Xdr::default()
            .u32(0)
            .opaque(b"fuzzhost")
            .u32(1000)
            .u32(1000)
            .u32(1)
            .u32(1000);
        Xdr::default()
            .u32(xid)
            .u32(0)
            .u32(2)
            .u32(prog)
            .u32(vers)
            .u32(proc_)
            .u32(1)
            .opaque(&cred.0)
            .u32(0)
            .opaque(b"")
            .fixed(args)
            .0
    }

    /// `rec` with its record mark (one last fragment).
    pub fn mark(rec: &[u8]) -> Vec<u8> {
        let mut out = (0x8000_0000u32 | rec.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(rec);
        out
    }

    /// The file handle in a reply whose result starts `nfsstat3, post_op_fh3` (CREATE, MKDIR,
    /// SYMLINK) or `mountstat3, fhandle3` (MNT): `None` unless the status is OK.
    pub fn reply_handle(reply: &[u8], post_op: bool) -> Option<Vec<u8>> {
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(reply.get(at..at + 4)?.try_into().ok()?))
        };
        // xid, REPLY, MSG_ACCEPTED, verifier flavor + length, accept_stat.
        if word(20)? != 0 || word(24)? != 0 {
            return None;
        }
        let mut at = 28;
        if post_op {
            if word(at)? != 1 {
                return None;
            }
            at += 4;
        }
        let len = word(at)? as usize;
        reply.get(at + 4..at + 4 + len).map(<[u8]>::to_vec)
    }
}

// ---------------------------------------------------------------------------------------------
// POST Object forms (the `post_form` target).
// ---------------------------------------------------------------------------------------------

/// The bucket the `post_form` target's forms are posted to.
pub const POST_BUCKET: &str = "fuzz";

/// The time the `post_form` target judges forms at: a minute after [`t0`] (the seeds' policies
/// expire a day after it).
pub fn post_now() -> std::time::SystemTime {
    t0() + std::time::Duration::from_secs(60)
}

/// Placeholders in a `post_form` body, replaced by [`sign_post_form`] with the signature of the
/// form's own `policy` field, so that the fuzzer can change the policy and still get past the
/// signature check to the policy's conditions.
pub const SIG4_PLACEHOLDER: &[u8] = b"@SIG4@";
pub const SIG2_PLACEHOLDER: &[u8] = b"@SIG2@";

/// The value of form field `name` (lowercase) in a `multipart/form-data` body, found the simple
/// way: after `name="NAME"` (in any case), the blank line, up to the next CRLF `--`.
fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let tag = format!("name=\"{name}\"");
    let at = find(&body.to_ascii_lowercase(), tag.as_bytes())? + tag.len();
    let start = at + find(&body[at..], b"\r\n\r\n")? + 4;
    let len = find(&body[start..], b"\r\n--").unwrap_or(body.len() - start);
    Some(&body[start..start + len])
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit as _, Mac as _};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The SigV4 POST policy signature (hex) of `policy` as sent, with [`SK`].
pub fn post_signature_v4(date: &str, region: &str, policy: &[u8]) -> String {
    let key = gatehouse_s3::auth::sigv4::signing_key(SK, date, region);
    hex::encode(hmac_sha256(&key, policy))
}

/// The SigV2 POST policy signature (base64) of `policy` as sent, with [`SK`].
pub fn post_signature_v2(policy: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(SK.as_bytes()) else {
        return String::new();
    };
    mac.update(policy);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `body` with [`SIG4_PLACEHOLDER`] and [`SIG2_PLACEHOLDER`] replaced by the signatures of its
/// `policy` field (SigV4 with the date and region of its `x-amz-credential` field).
pub fn sign_post_form(body: &[u8]) -> Vec<u8> {
    let has = |p: &[u8]| find(body, p).is_some();
    if !has(SIG4_PLACEHOLDER) && !has(SIG2_PLACEHOLDER) {
        return body.to_vec();
    }
    let policy = form_field(body, "policy").unwrap_or_default();
    let credential =
        String::from_utf8_lossy(form_field(body, "x-amz-credential").unwrap_or_default());
    let mut scope = credential.split('/').skip(1);
    let (date, region) = (scope.next().unwrap_or(""), scope.next().unwrap_or(""));
    let v4 = post_signature_v4(date, region, policy);
    let v2 = post_signature_v2(policy);
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut rest = body;
    while let Some(i) = rest
        .windows(SIG4_PLACEHOLDER.len())
        .position(|w| w == SIG4_PLACEHOLDER || w == SIG2_PLACEHOLDER)
    {
        out.extend_from_slice(&rest[..i]);
        let sig = if rest[i..].starts_with(SIG4_PLACEHOLDER) {
            &v4
        } else {
            &v2
        };
        out.extend_from_slice(sig.as_bytes());
        rest = &rest[i + SIG4_PLACEHOLDER.len()..];
    }
    out.extend_from_slice(rest);
    out
}
