//! In a share a name is a file or a directory, never both, in every order of writes: a folder
//! marker `K/` is refused when `K` is a file, as `K` is refused when `K/` or `K/x` exists and
//! `K/x` when `K` is a file.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use gatehouse_store::ops::NewShare;

use crate::common::*;

const S: &str = "fs+marks";

async fn put(c: &Client, key: &str) -> Result<(), (String, String)> {
    c.put_object()
        .bucket(S)
        .key(key)
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            let msg = e
                .as_service_error()
                .and_then(|s| s.meta().message())
                .unwrap_or_default()
                .to_string();
            (code(&e), msg)
        })
}

#[tokio::test]
async fn a_folder_marker_is_refused_over_a_file() {
    let srv = TestServer::start().await;
    srv.store()
        .create_share(
            &srv.admin(),
            NewShare {
                name: "marks".into(),
                ..Default::default()
            },
        )
        .await
        .expect("share");
    let c = srv.client();

    // The order this change adds: file K, then marker K/.
    put(&c, "K").await.expect("file");
    let (code, msg) = put(&c, "K/").await.expect_err("K is a file");
    assert_eq!(code, "InvalidArgument");
    assert!(msg.contains("\"K\" is a file"), "{msg}");
    // Nested too: file a/b, then marker a/b/.
    put(&c, "a/b").await.expect("nested file");
    assert_eq!(
        put(&c, "a/b/").await.map_err(|e| e.0),
        Err("InvalidArgument".into())
    );

    // The other three orders, refused with the same error as before.
    put(&c, "D/").await.expect("marker");
    assert_eq!(
        put(&c, "D").await.map_err(|e| e.0),
        Err("InvalidArgument".into())
    );
    put(&c, "E/x").await.expect("file under E");
    assert_eq!(
        put(&c, "E").await.map_err(|e| e.0),
        Err("InvalidArgument".into())
    );
    assert_eq!(
        put(&c, "K/x").await.map_err(|e| e.0),
        Err("InvalidArgument".into())
    );
    // A marker over a marker is an overwrite, not a conflict.
    put(&c, "D/").await.expect("marker again");

    // The file view shows one entry per name.
    let store = srv.store();
    let share = store.fs_share(&srv.admin(), "marks", "").await.expect("fs");
    let page = store
        .fs_readdir(&srv.admin(), S, share.root.ino, None, 100)
        .await
        .expect("readdir");
    let mut names: Vec<&str> = page.entries.iter().map(|e| e.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["D", "E", "K", "a"]);
}
