//! The web page in a real browser: runs `tests/browser/e2e.test.mjs` (Node's test runner,
//! playwright-core driving Debian's headless Chromium) against the built binary; other
//! scripts there through [`run_in_chromium`] (`versions.test.mjs`: `versioning_admin.rs`).
//!
//! Without Chromium, Node or `tests/browser/node_modules` (`npm ci` there) the test says so
//! loudly and passes — unless `GATEHOUSE_BROWSER_TEST=required` (set by `.ci/run`), where a
//! missing piece fails it.

use std::io::Write;
use std::path::Path;
use std::process::Command;

#[test]
fn web_page_end_to_end_in_chromium() {
    run_in_chromium("e2e.test.mjs");
}

/// Runs `tests/browser/<script>` with Node's test runner; fails unless it ran and passed.
pub(crate) fn run_in_chromium(script: &str) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = repo.join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let required = std::env::var("GATEHOUSE_BROWSER_TEST").is_ok_and(|v| v == "required");
    let node = Command::new("node").arg("--version").output();
    let missing = if !Path::new(&chromium).exists() {
        Some(format!(
            "no Chromium at {chromium} (apt-get install chromium chromium-driver)"
        ))
    } else if !node.is_ok_and(|o| o.status.success()) {
        Some("no node on PATH".to_string())
    } else if !dir.join("node_modules/playwright-core").exists() {
        Some(format!(
            "no playwright-core: run `npm ci` in {}",
            dir.display()
        ))
    } else {
        None
    };
    if let Some(why) = missing {
        assert!(!required, "GATEHOUSE_BROWSER_TEST=required but {why}");
        // Straight to the stderr handle: the test harness captures eprintln! of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!! BROWSER TEST SKIPPED: {why} !!!!!\n"
        );
        return;
    }
    let out = Command::new("node")
        .arg("--test")
        .arg(script)
        .current_dir(&dir)
        .env("GATEHOUSE_BIN", env!("CARGO_BIN_EXE_gatehouse"))
        .env("CHROMIUM", &chromium)
        .env("GATEHOUSE_BROWSER_TEST", "required")
        .output()
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "browser test {script} failed:\n{text}"
    );
    assert!(
        !text.contains("# pass 0") && text.contains("# fail 0"),
        "the browser test {script} did not run:\n{text}"
    );
}
