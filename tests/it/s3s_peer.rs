//! A real s3s-fs (crates.io `s3s-fs` 0.14.1, `--features binary`) the tests start as a peer S3
//! service: the chunk backend's store and a replication target. `S3S_FS=path` or `s3s-fs` on
//! PATH. Without it the tests say so loudly and pass — unless `GATEHOUSE_S3S_TEST=required`
//! (set by `.ci/run`), where a missing s3s-fs fails them.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::client_with;

pub const AK: &str = "backendak";
pub const SK: &str = "backendsecret0123456789";

pub fn s3s_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("S3S_FS") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
}

/// A running s3s-fs with one bucket, restartable on its port.
pub struct S3sFs {
    bin: PathBuf,
    root: tempfile::TempDir,
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl S3sFs {
    /// `None` (after saying so) when s3s-fs is not installed and not required.
    pub fn start(buckets: &[&str]) -> Option<S3sFs> {
        let Some(bin) = s3s_binary() else {
            let required = std::env::var("GATEHOUSE_S3S_TEST").is_ok_and(|v| v == "required");
            assert!(
                !required,
                "GATEHOUSE_S3S_TEST=required but no s3s-fs (S3S_FS or PATH)"
            );
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! CHUNK BACKEND TEST SKIPPED: no s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary) !!!!!\n"
            );
            return None;
        };
        let root = tempfile::tempdir().expect("s3s root");
        for b in buckets {
            std::fs::create_dir(root.path().join(b)).expect("bucket dir");
        }
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let mut s = S3sFs {
            bin,
            root,
            addr,
            child: None,
        };
        s.resume();
        Some(s)
    }

    pub fn resume(&mut self) {
        let child = Command::new(&self.bin)
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.addr.port().to_string())
            .args(["--access-key", AK, "--secret-key", SK])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(self.addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "s3s-fs did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A client of the backend itself, to look at what gatehouse stored there.
    pub fn client(&self) -> aws_sdk_s3::Client {
        client_with(self.addr, AK, SK)
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        self.stop();
    }
}
