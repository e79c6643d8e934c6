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

/// The Data tab with keys holding `.` and `..` segments (a browser resolves those in a URL
/// and would reach another key: `a/../b.txt` is not `b.txt`), and the Bindings panel's
/// Unbind of a key-scoped binding (it must name its scope, or a global one goes instead).
#[test]
fn dotted_keys_and_scoped_unbinds_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/harness.mjs");
    let script = dir.path().join("dotted.test.mjs");
    let text = DOTTED_KEYS_SCRIPT.replace("HARNESS", &harness.display().to_string());
    std::fs::write(&script, text).expect("write the script");
    run_in_chromium(&script.display().to_string());
}

/// Node's test runner script for [`dotted_keys_and_scoped_unbinds_in_chromium`] (`HARNESS`:
/// the path of `tests/browser/harness.mjs`).
const DOTTED_KEYS_SCRIPT: &str = r#"
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { missing, openPage } from 'HARNESS';

test('dotted keys and scoped unbinds', { skip: missing || false, timeout: 120_000 }, async (t) => {
  const { srv, signedApi, page, consoleErrors } = await openPage(t, 'gatehouse-dotted-');
  const bucket = 'dotted';
  assert.equal((await signedApi('POST', '/api/buckets', { name: bucket })).status, 201);
  const objects = `/api/buckets/${bucket}/objects/`;
  const put = async (key, body) => {
    const r = await signedApi('PUT', objects + encodeURIComponent(key), body);
    assert.equal(r.status, 200, key);
  };
  const get = (key) => signedApi('GET', objects + encodeURIComponent(key));
  await put('a/../b.txt', 'the dotted one');
  await put('b.txt', 'decoy');

  await page.goto(srv.base + '/');
  await page.fill('#access-key', srv.access);
  await page.fill('#secret-key', srv.secret);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor();
  await page.click('#panel-nav button[data-panel=s3]');
  await page.locator(`#bucket-select option[value="${bucket}"]`).waitFor({ state: 'attached' });
  await page.selectOption('#bucket-select', bucket);
  await page.getByRole('button', { name: 'a/', exact: true }).click();
  await page.getByRole('button', { name: '../', exact: true }).click();
  const row = page.locator('#objects-table tr', { has: page.locator('td.file', { hasText: 'b.txt' }) });
  await row.waitFor();

  // Download: the link's URL reaches the dotted key, not b.txt.
  const href = await row.locator('a', { hasText: 'Download' }).getAttribute('href');
  const body = await page.evaluate(async (h) => (await fetch(h)).text(), href);
  assert.equal(body, 'the dotted one', href);

  // Details: of the dotted key (14 bytes), not of the decoy (5).
  await row.getByRole('button', { name: 'Details' }).click();
  await page.locator('#object-details').waitFor();
  assert.equal(await page.textContent('#details-key'), 'a/../b.txt');
  assert.match(await page.textContent('#details-fields'), /14 bytes/);

  // Upload here: the key is a/../up.txt, and nothing lands at up.txt.
  await page.setInputFiles('#upload-input', { name: 'up.txt', mimeType: 'text/plain', buffer: Buffer.from('uploaded') });
  await page.locator('#objects-table td.file', { hasText: 'up.txt' }).waitFor();
  assert.equal(await (await get('a/../up.txt')).text(), 'uploaded');
  assert.equal((await get('up.txt')).status, 404);

  // Delete: the dotted key goes, the decoy stays.
  await row.getByRole('button', { name: 'Delete' }).click();
  await page.locator('#objects-table td.file', { hasText: 'b.txt' }).waitFor({ state: 'detached' });
  assert.equal((await get('a/../b.txt')).status, 404);
  assert.equal(await (await get('b.txt')).text(), 'decoy');

  // Unbind of a key-scoped binding removes that one, not alice's global one of the same role.
  const kp = await (await signedApi('POST', '/api/kms/keys', { alias: 'alias/dotted' })).json();
  const spki = crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  const reg = await signedApi('POST', '/api/users', {
    public_key: spki.subarray(-32).toString('hex'), name: 'alice',
  });
  assert.equal(reg.status, 201);
  for (const extra of [{}, { key: kp.id }]) {
    const r = await signedApi('POST', '/api/bindings', { user: 'alice', role: 'key-user', ...extra });
    assert.equal(r.status, 201, JSON.stringify(extra));
  }
  const aliceBindings = async () => (await (await signedApi('GET', '/api/bindings?user=alice')).json())
    .filter((b) => b.role === 'key-user').map((b) => b.scope_kind + ':' + (b.scope || ''));
  assert.deepEqual((await aliceBindings()).sort(), ['global:', `key:${kp.id}`]);
  await page.click('#panel-nav button[data-panel=bindings]');
  const scoped = page.locator('#bindings-table tr', { hasText: `key ${kp.id}` });
  await scoped.getByRole('button', { name: 'Unbind' }).click();
  await scoped.waitFor({ state: 'detached' });
  assert.deepEqual(await aliceBindings(), ['global:']);
  assert.deepEqual(consoleErrors.filter((e) => !/status of 40[0139]/.test(e)), [], 'no script errors');
});
"#;

/// Runs `tests/browser/<script>` (or a script at an absolute path) with Node's test runner;
/// fails unless it ran and passed.
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
