// Browser uploads (POST Object) from a page on another origin than the S3 port, in headless
// Chromium: an HTML form posted with a file the user picked, landing on its
// success_action_redirect page; a fetch() + FormData upload whose 201 answer the page can
// read because the bucket's CORS rule names its origin; and the same fetch() from an origin
// the rule does not name, which fails in the page.
//
// Run by tests/it/post_object_browser.rs (cargo test --test it post_object_browser), which
// starts gatehouse and the page servers, signs the POST policies, writes what this script needs
// to $TMPDIR/gatehouse-post-upload-<its pid>.json (found here through the ancestors' pids, or
// named by GATEHOUSE_POST_UPLOAD) and checks the stored objects afterwards.
// Environment as e2e.test.mjs: CHROMIUM, GATEHOUSE_BROWSER_TEST=required.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromiumPath, missing, sleep } from './harness.mjs';

/// The config file the Rust test wrote: named by the pid of an ancestor process.
function configPath() {
  if (process.env.GATEHOUSE_POST_UPLOAD) return process.env.GATEHOUSE_POST_UPLOAD;
  let pid = process.ppid;
  for (let i = 0; i < 5 && pid > 1; i += 1) {
    const p = path.join(os.tmpdir(), `gatehouse-post-upload-${pid}.json`);
    if (fs.existsSync(p)) return p;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch (_) {
      break;
    }
  }
  return null;
}

const cfgPath = configPath();
const noConfig = cfgPath ? null : 'no config from tests/it/post_object_browser.rs (run it with cargo test --test it post_object_browser)';
if (noConfig && !missing) {
  if (process.env.GATEHOUSE_BROWSER_TEST === 'required') throw new Error(noConfig);
  console.error(`\n!!!!! BROWSER TEST NOT RUN: ${noConfig} !!!!!\n`);
}

test('POST Object from another origin: a form and fetch() in Chromium', { skip: missing || noConfig || false, timeout: 120_000 }, async (t) => {
  const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  t.after(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  // (a) The form: a file picked, submitted; S3 answers 303 to the redirect page on the
  // page's own origin, which shows the bucket, key and ETag it was sent.
  await page.goto(cfg.allowed + '/');
  assert.equal(await page.getAttribute('#upload', 'action'), cfg.s3);
  await page.setInputFiles('input[name=file]', {
    name: cfg.form.file, mimeType: 'text/plain', buffer: Buffer.from(cfg.form.text),
  });
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/done'),
    page.click('#submit'),
  ]);
  assert.equal(new URL(page.url()).origin, cfg.allowed, 'landed on the redirect target');
  await page.waitForFunction(() => document.querySelector('#etag').textContent !== '');
  assert.equal(await page.textContent('#bucket'), cfg.bucket);
  assert.equal(await page.textContent('#key'), `uploads/${cfg.form.file}`);
  assert.equal(await page.textContent('#etag'), cfg.form.etag);

  // (b) fetch() + FormData from the allowed origin: cross-origin, not preflighted; the
  // answer is readable (Access-Control-Allow-Origin) and so is the exposed ETag.
  await page.goto(cfg.allowed + '/');
  const ok = await page.evaluate(([n, s]) => window.fetchUpload(n, s), [cfg.fetch.file, cfg.fetch.text]);
  assert.equal(ok.ok, true, `fetch failed: ${ok.error}`);
  assert.equal(ok.status, 201, ok.body);
  assert.match(ok.body, new RegExp(`<Key>uploads/${cfg.fetch.file}</Key>`));
  assert.match(ok.body, new RegExp(`<Bucket>${cfg.bucket}</Bucket>`));
  assert.ok(ok.body.includes(`<ETag>${cfg.fetch.etag}</ETag>`), ok.body);
  assert.equal(ok.etag, cfg.fetch.etag, 'ETag exposed by the CORS rule');
  assert.deepEqual(consoleErrors, [], 'no errors on the allowed origin');

  // (c) The same from an origin the rule does not name: the browser withholds the answer,
  // so fetch() rejects and Chromium says why on the console.
  await page.goto(cfg.other + '/');
  const blocked = await page.evaluate(([n, s]) => window.fetchUpload(n, s), [cfg.blocked.file, cfg.blocked.text]);
  assert.equal(blocked.ok, false, `read the answer from a disallowed origin: ${JSON.stringify(blocked)}`);
  assert.match(blocked.error, /TypeError: Failed to fetch/);
  const corsError = () => consoleErrors.some((e) => /blocked by CORS policy/.test(e) && /Access-Control-Allow-Origin/.test(e));
  for (let i = 0; i < 50 && !corsError(); i += 1) await sleep(100);
  assert.ok(corsError(), `no CORS console error: ${JSON.stringify(consoleErrors)}`);
});
