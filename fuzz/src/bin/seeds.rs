//! Writes the seed corpora, `fuzz/corpus/<target>/<name>`, from the real client-side signers
//! and real calls into the fuzzing environment (so signatures and NFS handles in them verify).
//! Run by hand after a format change: `fuzz/run.sh seeds` (which sets `GATEHOUSE_SEEDS_OUT`).
//!
//! Built like the targets, with coverage instrumentation, so it links libFuzzer's runtime: it
//! is a libFuzzer binary that does its work in `init` and exits before any fuzzing.
#![no_main]

use std::path::{Path, PathBuf};

use gatehouse_fuzz::rpc_build::{MOUNT, NFS, PORTMAP, Xdr, call, mark};
use gatehouse_fuzz::{AK, JSON_ENDPOINTS, REGION, SK, TextRequest, chunk_context, env, t0};
use gatehouse_s3::auth::{ChunkSigner, SigningParams, presign_url, sign_request_v4};

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus directory");
    std::fs::write(d.join(name), data).expect("seed file");
}

libfuzzer_sys::fuzz_target!(
    init: {
        write_all_and_exit();
    },
    |_data: &[u8]| {}
);

fn write_all_and_exit() {
    let out: PathBuf = std::env::var_os("GATEHOUSE_SEEDS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("corpus"));
    sigv4(&out);
    chunked(&out);
    s3_xml(&out);
    admin_json(&out);
    nfs_rpc(&out);
    nfs_handle(&out);
    println!("seeds written under {}", out.display());
    std::process::exit(0);
}

fn params() -> SigningParams<'static> {
    SigningParams {
        access_key: AK,
        secret_key: SK,
        region: REGION,
        time: t0(),
    }
}

fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
            http::HeaderValue::from_str(v).expect("value"),
        );
    }
    h
}

fn sigv4(out: &Path) {
    let host = "examplebucket.s3.amazonaws.com";
    let signed = |name: &str,
                  method: &str,
                  path: &str,
                  query: Option<&str>,
                  extra: &[(&str, &str)],
                  payload: &str| {
        let mut h = headers(&[("host", host)]);
        for (n, v) in extra {
            h.insert(
                http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        sign_request_v4(method, path, query, &mut h, payload, &params()).expect("signs");
        let r = TextRequest {
            method: method.into(),
            path: path.into(),
            query: query.map(str::to_string),
            headers: h,
        };
        write(out, "sigv4", name, r.to_text().as_bytes());
    };
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    signed(
        "header-get",
        "GET",
        "/test.txt",
        None,
        &[("range", "bytes=0-9")],
        empty,
    );
    signed(
        "header-list",
        "GET",
        "/",
        Some("list-type=2&prefix=a%20b&max-keys=2"),
        &[],
        empty,
    );
    signed(
        "header-put-unsigned",
        "PUT",
        "/a%2Bb.txt",
        None,
        &[("x-amz-meta-k", "v"), ("content-length", "5")],
        "UNSIGNED-PAYLOAD",
    );
    signed(
        "header-put-streaming",
        "PUT",
        "/big",
        None,
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    );
    signed(
        "header-post-delete",
        "POST",
        "/",
        Some("delete"),
        &[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
        empty,
    );
    for (name, method, path, query) in [
        ("presigned-get", "GET", "/test.txt", None),
        (
            "presigned-put",
            "PUT",
            "/up%20load",
            Some("partNumber=1&uploadId=abc"),
        ),
    ] {
        let q = presign_url(method, path, query, host, 86_400, &params()).expect("presigns");
        let r = TextRequest {
            method: method.into(),
            path: path.into(),
            query: Some(q),
            headers: headers(&[("host", host)]),
        };
        write(out, "sigv4", name, r.to_text().as_bytes());
    }
    let basic = format!("Basic {}", base64(&format!("{AK}:{SK}")));
    for (name, auth) in [("bearer", format!("Bearer {AK}:{SK}")), ("basic", basic)] {
        let r = TextRequest {
            method: "GET".into(),
            path: "/".into(),
            query: None,
            headers: headers(&[("host", host), ("authorization", &auth)]),
        };
        write(out, "sigv4", name, r.to_text().as_bytes());
    }
    // SigV2 shapes (the signatures are not valid: no V2 signer here; the parser is the target).
    write(
        out,
        "sigv4",
        "sigv2-presigned",
        format!("GET /examplebucket/photo.jpg?AWSAccessKeyId={AK}&Expires=1369353700&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D\nhost: s3.amazonaws.com\n").as_bytes(),
    );
    write(
        out,
        "sigv4",
        "sigv2-header",
        format!("PUT /examplebucket/photo.jpg?acl\nhost: s3.amazonaws.com\ndate: Fri, 24 May 2013 00:00:30 GMT\ncontent-type: image/jpeg\nx-amz-meta-a: b\nauthorization: AWS {AK}:bWq2s1WEIj+Ydj0vQ697zp+IXMU=\n").as_bytes(),
    );
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn chunked(out: &Path) {
    // Byte 0: mode (0 unsigned+trailer, 1 signed, 2 signed+trailer); byte 1: declared length
    // (0xff none); byte 2: how the body is cut.
    let seed = |mode: u8, len: u8, body: &[u8]| {
        let mut v = vec![mode, len, 7];
        v.extend_from_slice(body);
        v
    };
    let data = b"hello aws-chunked world, in three chunks!";
    let mut s = ChunkSigner::new(chunk_context());
    let mut body = Vec::new();
    for part in data.chunks(16) {
        body.extend(s.chunk(part));
    }
    body.extend(s.finish(&[]));
    write(out, "chunked", "signed", &seed(1, data.len() as u8, &body));
    let mut s = ChunkSigner::new(chunk_context());
    let mut body = s.chunk(data);
    body.extend(s.finish(&[("x-amz-checksum-crc32", "sOO8/Q==")]));
    write(out, "chunked", "signed-trailer", &seed(2, 0xff, &body));
    let unsigned = b"10\r\nhello aws-chunke\r\n5;ext=1\r\nd wor\r\n0\r\nx-amz-checksum-crc32:sOO8/Q==\r\nx-amz-checksum-sha256 : abc\r\n\r\n";
    write(out, "chunked", "unsigned-trailer", &seed(0, 21, unsigned));
    write(
        out,
        "chunked",
        "unsigned-cut-at-eof",
        &seed(0, 0xff, b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA=="),
    );
}

fn s3_xml(out: &Path) {
    let docs: [(&str, &str); 8] = [
        (
            "create-bucket",
            r#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#,
        ),
        (
            "lifecycle",
            r#"<?xml version="1.0" encoding="UTF-8"?><LifecycleConfiguration><Rule><ID>r1</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>30</Days></Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule><Rule><Prefix>tmp/</Prefix><Status>Disabled</Status><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule></LifecycleConfiguration>"#,
        ),
        (
            "lifecycle-transition",
            r#"<LifecycleConfiguration><Rule><Filter><And><Prefix>a</Prefix></And></Filter><Status>Enabled</Status><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition></Rule></LifecycleConfiguration>"#,
        ),
        (
            "tagging",
            r#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>project</Key><Value>a&amp;b &#x263a; &#233;</Value></Tag><Tag><Key>empty</Key></Tag></TagSet></Tagging>"#,
        ),
        (
            "delete",
            r#"<Delete><Object><Key>a</Key></Object><Object><Key><![CDATA[b<c>]]></Key><VersionId>null</VersionId></Object><Quiet>true</Quiet></Delete>"#,
        ),
        (
            "complete",
            r#"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a54357aff0632cce46d942af68356b38"</ETag></Part><Part><ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag><PartNumber>2</PartNumber><ChecksumCRC32>sOO8/Q==</ChecksumCRC32></Part></CompleteMultipartUpload>"#,
        ),
        (
            "comment-pi-doctype",
            "<?xml version=\"1.0\"?>\n<!DOCTYPE Delete>\n<!-- c --><?pi x?><Delete>\r\n  <Object><Key>k</Key></Object>\n</Delete>\n",
        ),
        (
            "nested",
            "<a><b><c><d><e><f><g><h><i><j><k><l><m><n><o>x</o></n></m></l></k></j></i></h></g></f></e></d></c></b></a>",
        ),
    ];
    for (name, doc) in docs {
        write(out, "s3_xml", name, doc.as_bytes());
    }
}

fn admin_json(out: &Path) {
    let pk = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb8aN0C5c8v5h7Wq7mD0Yy6mJtqZb8T0U8t4yJx6xKc bob";
    let bodies: Vec<(&str, String)> = vec![
        ("POST /api/session", format!(r#"{{"access_key":"{AK}","secret_key":"{SK}"}}"#)),
        ("POST /api/users", format!(r#"{{"name":"bob","public_key":"{pk}"}}"#)),
        ("POST /api/join", format!(r#"{{"name":"carol","public_key":"{pk}","nonce":"n","signature":"00","token":"t"}}"#)),
        ("POST /api/groups", r#"{"name":"team","description":"the team"}"#.into()),
        ("POST /api/roles", r#"{"name":"reader","rules":[{"verbs":["get","list"],"resources":["objects"]}]}"#.into()),
        ("POST /api/bindings", r#"{"user":"admin","role":"bucket-admin","bucket":"fuzz"}"#.into()),
        ("POST /api/buckets", r#"{"name":"made-by-fuzz"}"#.into()),
        ("POST /api/buckets/fuzz/presign", r#"{"key":"obj","method":"GET","expires_secs":3600}"#.into()),
        ("POST /api/shares", r#"{"name":"team-files","description":"d","quota_bytes":1048576,"expires":"2030-01-01","guest_read":false}"#.into()),
        ("POST /api/peers", r#"{"address":"10.1.2.0/24","user":"admin","description":"lab"}"#.into()),
        ("POST /api/replication/connections", r#"{"name":"site-b","endpoint":"https://s3.example.net","region":"eu-west-3","access_key":"ak","secret_key":"sk"}"#.into()),
        ("PUT /api/replication/rules/fuzz", r#"{"connection":"site-b","target_bucket":"fuzz-copy","prefix":"logs/","deletes":true,"existing":false,"paused":true}"#.into()),
    ];
    assert_eq!(bodies.len(), JSON_ENDPOINTS.len());
    for (line, body) in bodies {
        let name = line.replace(['/', ' '], "_");
        write(
            out,
            "admin_json",
            name.trim_matches('_'),
            format!("{line}\n{body}").as_bytes(),
        );
    }
}

fn nfs_rpc(out: &Path) {
    let e = env();
    let fh = &e.fh;
    let dirop = |dir: &[u8], name: &[u8]| Xdr::default().opaque(dir).opaque(name);
    let nfs: Vec<(&str, u32, Vec<u8>)> = vec![
        ("null", 0, vec![]),
        ("getattr", 1, Xdr::default().opaque(&fh.file).0),
        (
            "setattr",
            2,
            Xdr::default()
                .opaque(&fh.file)
                .u32(1)
                .u32(0o600)
                .u32(0)
                .u32(0)
                .u32(1)
                .u64(3)
                .u32(1)
                .u32(2)
                .u32(1_700_000_000)
                .u32(0)
                .u32(0)
                .0,
        ),
        ("lookup", 3, dirop(&fh.root, b"file").0),
        ("access", 4, Xdr::default().opaque(&fh.file).u32(0x3f).0),
        ("readlink", 5, Xdr::default().opaque(&fh.link).0),
        (
            "read",
            6,
            Xdr::default().opaque(&fh.file).u64(0).u32(4096).0,
        ),
        (
            "write-unstable",
            7,
            Xdr::default()
                .opaque(&fh.file)
                .u64(6)
                .u32(5)
                .u32(0)
                .opaque(b"WORLD")
                .0,
        ),
        (
            "create-guarded",
            8,
            dirop(&fh.dir, b"new").u32(1).sattr(Some(0o640)).0,
        ),
        (
            "create-exclusive",
            8,
            dirop(&fh.dir, b"excl")
                .u32(2)
                .fixed(&[1, 2, 3, 4, 5, 6, 7, 8])
                .0,
        ),
        ("mkdir", 9, dirop(&fh.root, b"sub").sattr(None).0),
        (
            "symlink",
            10,
            dirop(&fh.dir, b"ln").sattr(None).opaque(b"../file").0,
        ),
        ("mknod", 11, dirop(&fh.dir, b"fifo").u32(7).sattr(None).0),
        ("remove", 12, dirop(&fh.dir, b"new").0),
        ("rmdir", 13, dirop(&fh.root, b"sub").0),
        (
            "rename",
            14,
            dirop(&fh.root, b"file").opaque(&fh.dir).opaque(b"moved").0,
        ),
        (
            "link",
            15,
            Xdr::default()
                .opaque(&fh.file)
                .opaque(&fh.dir)
                .opaque(b"hard")
                .0,
        ),
        (
            "readdir",
            16,
            Xdr::default()
                .opaque(&fh.root)
                .u64(0)
                .fixed(&[0; 8])
                .u32(4096)
                .0,
        ),
        (
            "readdirplus",
            17,
            Xdr::default()
                .opaque(&fh.root)
                .u64(0)
                .fixed(&[0; 8])
                .u32(1024)
                .u32(8192)
                .0,
        ),
        ("fsstat", 18, Xdr::default().opaque(&fh.root).0),
        ("fsinfo", 19, Xdr::default().opaque(&fh.root).0),
        ("pathconf", 20, Xdr::default().opaque(&fh.root).0),
        (
            "commit",
            21,
            Xdr::default().opaque(&fh.file).u64(0).u32(0).0,
        ),
    ];
    for (i, (name, proc_, args)) in nfs.iter().enumerate() {
        let rec = call(0x100 + i as u32, NFS, 3, *proc_, args);
        write(
            out,
            "nfs_rpc",
            &format!("nfs-{proc_:02}-{name}"),
            &mark(&rec),
        );
    }
    let mount = [
        ("mnt", 1, Xdr::default().opaque(b"/fz").0),
        ("mnt-subdir", 1, Xdr::default().opaque(b"/fz/dir").0),
        ("mnt-token", 1, Xdr::default().opaque(b"/fz@notatoken").0),
        ("dump", 2, vec![]),
        ("umnt", 3, Xdr::default().opaque(b"/fz").0),
        ("export", 5, vec![]),
    ];
    for (name, proc_, args) in mount {
        write(
            out,
            "nfs_rpc",
            &format!("mount-{name}"),
            &mark(&call(7, MOUNT, 3, proc_, &args)),
        );
    }
    let getport = Xdr::default().u32(NFS).u32(3).u32(6).u32(0).0;
    write(
        out,
        "nfs_rpc",
        "portmap-getport",
        &mark(&call(9, PORTMAP, 2, 3, &getport)),
    );
    // Several records in one stream, one of them in two fragments; then an unstable write
    // and its commit.
    let a = call(1, NFS, 3, 1, &Xdr::default().opaque(&fh.root).0);
    let b = call(2, NFS, 3, 3, &dirop(&fh.root, b"dir").0);
    let mut stream = mark(&a);
    let (b1, b2) = b.split_at(20);
    stream.extend_from_slice(&(b1.len() as u32).to_be_bytes());
    stream.extend_from_slice(b1);
    stream.extend(mark(b2));
    stream.extend(mark(&call(
        3,
        NFS,
        3,
        7,
        &Xdr::default()
            .opaque(&fh.file)
            .u64(11)
            .u32(3)
            .u32(0)
            .opaque(b"!!!")
            .0,
    )));
    stream.extend(mark(&call(
        4,
        NFS,
        3,
        21,
        &Xdr::default().opaque(&fh.file).u64(0).u32(0).0,
    )));
    write(out, "nfs_rpc", "stream-fragments-write-commit", &stream);
    // Credentials and versions the gateway refuses.
    let mut none = call(5, NFS, 3, 1, &Xdr::default().opaque(&fh.root).0);
    none[24..28].copy_from_slice(&0u32.to_be_bytes());
    write(out, "nfs_rpc", "wrong-flavor-shape", &mark(&none));
    write(out, "nfs_rpc", "nfs-v2", &mark(&call(6, NFS, 2, 1, &[])));
}

fn nfs_handle(out: &Path) {
    use gatehouse_nfs::handle::{Bearer, Handle, Signer, address_tag, principal_tag};
    let s = Signer::new([7u8; 32]);
    let h = Handle {
        bucket_id: 3,
        ino: 42,
        generation: 0,
    };
    write(
        out,
        "nfs_handle",
        "address",
        &s.mint(
            h,
            &Bearer::Address(address_tag(std::net::Ipv4Addr::new(192, 0, 2, 1).into())),
        ),
    );
    write(
        out,
        "nfs_handle",
        "principal-v1",
        &s.mint(h, &Bearer::Principal(principal_tag("0123456789abcdef"))),
    );
    write(
        out,
        "nfs_handle",
        "token",
        &s.mint(
            h,
            &Bearer::Token {
                user: *b"\x01\x23\x45\x67\x89\xab\xcd\xef",
                generation: 2,
            },
        ),
    );
}
