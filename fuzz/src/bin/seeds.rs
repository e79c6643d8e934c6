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
    bucket_policy(&out);
    cors(&out);
    post_form(&out);
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
    let docs: [(&str, &str); 10] = [
        (
            "encryption",
            r#"<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>"#,
        ),
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
            "lifecycle-filters",
            r#"<LifecycleConfiguration><Rule><ID>t</ID><Filter><And><Prefix>big/</Prefix><Tag><Key>temp</Key><Value>yes</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>1000</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule><Rule><Filter><Tag><Key>k</Key><Value></Value></Tag></Filter><Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration></Rule></LifecycleConfiguration>"#,
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
        ("PUT /api/buckets/fuzz/encryption", r#"{"algorithm":"aws:kms","key":"alias/fuzz"}"#.into()),
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

fn bucket_policy(out: &Path) {
    // A first line of context tokens (see fuzz_targets/bucket_policy.rs), then the document.
    let docs: Vec<(&str, &str, String)> = vec![
        (
            "public-read",
            "",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::photos/*"}]}"#.into(),
        ),
        (
            "users-groups-variables",
            "u:bob i:00000000000000b2 g:devs k:home/bob/a.txt c:s3:prefix=home/bob/ c:aws:username=bob",
            r#"{
  "Version": "2012-10-17",
  "Id": "home-directories",
  "Statement": [
    {"Sid": "List", "Effect": "Allow",
     "Principal": {"AWS": ["bob", "arn:aws:iam::123456789012:group/devs", "arn:aws:iam:::user/dev/alice"]},
     "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::photos",
     "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}},
    {"Sid": "Own", "Effect": "Allow",
     "Principal": {"AWS": "00000000000000b2", "CanonicalUser": "00112233aabbccdd"},
     "Action": ["s3:Get*", "s3:PutObject*", "s3:DeleteObject"],
     "Resource": "arn:aws:s3:::photos/home/${aws:username}/*"},
    {"Sid": "OthersNot", "Effect": "Deny", "NotPrincipal": {"AWS": ["alice", "bob"]},
     "Action": "s3:*", "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/home/*"]}
  ]
}"#.into(),
        ),
        (
            "conditions",
            "c:aws:sourceip=192.0.2.10 c:aws:securetransport=false c:aws:currenttime=2024-01-01T00:00:00Z c:s3:max-keys=10 c:s3:existingobjecttag/color=red c:s3:x-amz-acl=public-read",
            r#"{"Version":"2012-10-17","Statement":[
{"Sid":"Ip","Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]},"NotIpAddress":{"aws:SourceIp":"192.0.2.128/25"}}},
{"Sid":"Tls","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},
{"Sid":"Window","Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},"DateLessThanEquals":{"aws:CurrentTime":"2030-12-31"},"NumericLessThanEquals":{"s3:max-keys":"100"},"NumericGreaterThan":{"s3:max-keys":0}}},
{"Sid":"Tags","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"ForAnyValue:StringEqualsIgnoreCase":{"s3:ExistingObjectTag/color":["RED","blue"]},"StringNotEqualsIfExists":{"s3:x-amz-acl":"private"},"Null":{"aws:SourceVpc":"true"}}},
{"Sid":"Arn","Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/up/*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::other-*"},"ForAllValues:StringLike":{"s3:RequestObjectTagKeys":["a*","b?"]},"BinaryEquals":{"s3:x-amz-content-sha256":"YWJj"}}}
]}"#.into(),
        ),
        (
            "version-2008-not-action",
            "a:s3:ListAllMyBuckets a:s3:getobject",
            r#"{"Version":"2008-10-17","Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"NotAction":["s3:Get*","s3:List*"],"NotResource":"arn:aws:s3:::photos/public/${literal}*"}}"#.into(),
        ),
        (
            "no-version-any-object",
            "b:logs.example-1 k:a/b/c k:",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*Object","Resource":"arn:aws:s3:::logs.example-1/*/?","Condition":{"StringEquals":{"aws:userid":"anonymous"}}},{"Effect":"Deny","Principal":{"AWS":"alice"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::logs.*/a*"}]}"#.into(),
        ),
        (
            "bad-duplicate-sid",
            "",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"},{"Sid":"a","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}"#.into(),
        ),
        (
            "bad-not-principal-allow",
            "",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}"#.into(),
        ),
        (
            "bad-unknown-principal-other-bucket",
            "u:carol",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["carol","dave"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::elsewhere/*"}]}"#.into(),
        ),
        (
            "bad-duplicate-member",
            "",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}"#.into(),
        ),
        (
            "bad-action-resource-kind",
            "",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:ListBucket","s3:NoSuchAction"],"Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"ec2:Region":"x"}}}]}"#.into(),
        ),
    ];
    for (name, line, doc) in docs {
        write(
            out,
            "bucket_policy",
            name,
            format!("{line}\n{doc}").as_bytes(),
        );
    }
    // At the size limit exactly (parses), and one byte over it.
    let statement = r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}"#;
    let at_limit = |extra: usize| {
        let frame = format!(r#"{{"Id":"","Statement":[{statement}]}}"#);
        let pad = gatehouse_policy::MAX_POLICY_BYTES - frame.len() + extra;
        format!(
            "\n{{\"Id\":\"{}\",\n  \"Statement\": [ {statement} ]}}",
            "x".repeat(pad)
        )
    };
    write(
        out,
        "bucket_policy",
        "size-at-limit",
        at_limit(0).as_bytes(),
    );
    write(
        out,
        "bucket_policy",
        "size-over-limit",
        at_limit(1).as_bytes(),
    );
}

fn cors(out: &Path) {
    // A first line `ORIGIN METHOD REQUEST-HEADERS` (see fuzz_targets/cors.rs), then the document.
    let docs: [(&str, &str, &str); 9] = [
        (
            "aws-example",
            "http://www.example.com PUT content-type, x-amz-meta-a",
            r#"<CORSConfiguration>
 <CORSRule>
   <AllowedOrigin>http://www.example.com</AllowedOrigin>
   <AllowedMethod>PUT</AllowedMethod>
   <AllowedMethod>POST</AllowedMethod>
   <AllowedMethod>DELETE</AllowedMethod>
   <AllowedHeader>*</AllowedHeader>
 </CORSRule>
 <CORSRule>
   <AllowedOrigin>*</AllowedOrigin>
   <AllowedMethod>GET</AllowedMethod>
 </CORSRule>
</CORSConfiguration>"#,
        ),
        (
            "full-rule",
            "https://app.example.org GET x-amz-date,authorization",
            r#"<?xml version="1.0" encoding="UTF-8"?>
<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule><ID>rule-1 &amp; &#x263a;</ID><AllowedOrigin>https://*.example.org</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Authorization</AllowedHeader><MaxAgeSeconds> +0003000 </MaxAgeSeconds><ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader></CORSRule></CORSConfiguration>"#,
        ),
        (
            "prefixed-cdata-comments",
            "null DELETE",
            "\u{feff}<?xml version=\"1.0\"?><!-- c --><s3:CORSConfiguration xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:CORSRule><?pi x?><s3:AllowedOrigin><![CDATA[null]]></s3:AllowedOrigin><s3:AllowedMethod>DELETE</s3:AllowedMethod><s3:AllowedHeader/></s3:CORSRule></s3:CORSConfiguration>\r\n",
        ),
        (
            "escaped-values",
            "http://a\tb OPTIONS",
            "<CORSConfiguration><CORSRule><ID>&#13;\t&lt;id&gt;&quot;&apos;</ID><AllowedOrigin>http://a&#9;b*</AllowedOrigin><AllowedMethod>POST</AllowedMethod><ExposeHeader>x-a</ExposeHeader></CORSRule></CORSConfiguration>",
        ),
        (
            "bad-method",
            "http://x GET",
            "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod></CORSRule></CORSConfiguration>",
        ),
        (
            "bad-two-wildcards",
            "http://x GET",
            "<CORSConfiguration><CORSRule><AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>a b</AllowedHeader><ExposeHeader>x-*</ExposeHeader></CORSRule></CORSConfiguration>",
        ),
        (
            "bad-max-age-twice",
            "http://x GET",
            "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>2147483648</MaxAgeSeconds></CORSRule></CORSConfiguration>",
        ),
        (
            "bad-doctype-nested",
            "http://x GET",
            "<!DOCTYPE CORSConfiguration><CORSConfiguration><CORSRule><AllowedOrigin><b>x</b></AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
        ),
        (
            "no-request-line",
            "",
            "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule></CORSConfiguration>",
        ),
    ];
    for (name, line, doc) in docs {
        write(out, "cors", name, format!("{line}\n{doc}").as_bytes());
    }
}

/// A `multipart/form-data` body with these fields (a `file` part last, when given).
fn form_body(boundary: &str, fields: &[(&str, &str)], file: Option<(&str, &str)>) -> String {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    if let Some((filename, content)) = file {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n{content}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

fn post_form(out: &Path) {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let credential = format!("{AK}/20130524/us-east-1/s3/aws4_request");
    let policy_v4 = b64(&format!(
        r#"{{"expiration":"2013-05-25T00:00:00.000Z","conditions":[{{"bucket":"fuzz"}},["starts-with","$key","user/"],{{"acl":"public-read"}},{{"success_action_redirect":"http://example.com/done?a=1#top"}},["starts-with","$Content-Type","image/"],{{"x-amz-meta-uuid":"14365123651274"}},["starts-with","$x-amz-meta-tag",""],{{"x-amz-credential":"{credential}"}},{{"x-amz-algorithm":"AWS4-HMAC-SHA256"}},{{"x-amz-date":"20130524T000000Z"}},["content-length-range",1,64]]}}"#
    ));
    let v4_fields = [
        ("key", "user/${filename}"),
        ("acl", "public-read"),
        ("success_action_redirect", "http://example.com/done?a=1#top"),
        ("Content-Type", "image/jpeg"),
        ("x-amz-meta-uuid", "14365123651274"),
        ("X-Amz-Meta-Tag", "a"),
        ("X-Amz-Credential", credential.as_str()),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Date", "20130524T000000Z"),
        ("Policy", policy_v4.as_str()),
        ("X-Amz-Signature", "@SIG4@"),
    ];
    let policy_v2 = b64(
        r#"{"expiration":"2013-05-25T00:00:00Z","conditions":[["eq","$bucket","fuzz"],["starts-with","$key",""],{"success_action_status":"201"},["content-length-range","0","1048576"],["eq","$x-amz-meta-list","a,b"]]}"#,
    );
    let v2_fields = [
        ("key", "${filename}"),
        ("success_action_status", "201"),
        ("x-amz-meta-list", "a"),
        ("x-amz-meta-list", "b"),
        ("AWSAccessKeyId", AK),
        ("policy", policy_v2.as_str()),
        ("signature", "@SIG2@"),
        ("x-ignore-me", "whatever"),
    ];
    let expired = b64(r#"{"expiration":"2013-05-23T00:00:00Z","conditions":[]}"#);
    let too_big = "x".repeat(20 * 1024);
    let forms: Vec<(&str, String, &str, String)> = vec![
        (
            "v4-redirect",
            "multipart/form-data; boundary=9431149156168".into(),
            "7,1,0,300",
            form_body(
                "9431149156168",
                &v4_fields,
                Some(("C:\\photos\\cat.jpg", "GIF89a\r\n--9431149156")),
            ),
        ),
        (
            "v2-201",
            "multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWxkTrZu0gW\"".into(),
            "64",
            form_body(
                "----WebKitFormBoundary7MA4YWxkTrZu0gW",
                &v2_fields,
                Some(("a/b.txt", "hello\r\nworld")),
            ),
        ),
        (
            "anonymous-preamble-padding",
            "Multipart/Form-Data; charset=utf-8; boundary=xyz".into(),
            "1",
            format!(
                "preamble\r\n--xyz \t\r\nContent-Disposition: form-data; name=key\r\n\r\n${{filename}}.bin\r\n--xyz\r\nContent-Disposition: form-data;\r\n name=\"file\"; filename=\"\"\r\n\r\nbody\r\r\n--xy\r\n--xyz--\r\nepilogue"
            ),
        ),
        (
            "bad-expired",
            "multipart/form-data; boundary=b".into(),
            "3,5",
            form_body(
                "b",
                &[
                    ("key", "k"),
                    ("AWSAccessKeyId", AK),
                    ("policy", expired.as_str()),
                    ("signature", "@SIG2@"),
                ],
                Some(("f", "")),
            ),
        ),
        (
            "bad-no-file",
            "multipart/form-data; boundary=b".into(),
            "",
            form_body("b", &[("key", "k")], None),
        ),
        (
            "bad-range-too-small",
            "multipart/form-data; boundary=9431149156168".into(),
            "2",
            form_body("9431149156168", &v4_fields, Some(("cat.jpg", ""))),
        ),
        (
            "bad-not-multipart",
            "application/x-www-form-urlencoded".into(),
            "",
            "key=a&file=b".into(),
        ),
        (
            "bad-pre-data-too-long",
            "multipart/form-data; boundary=b".into(),
            "4096",
            form_body(
                "b",
                &[("key", "k"), ("x-ignore-big", too_big.as_str())],
                Some(("f", "x")),
            ),
        ),
    ];
    for (name, content_type, sizes, body) in forms {
        write(
            out,
            "post_form",
            name,
            format!("{content_type}\n{sizes}\n{body}").as_bytes(),
        );
    }
}
