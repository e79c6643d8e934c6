// The web page's bucket encryption setting (issue 23) in headless Chromium: an admin turns a
// bucket's default encryption on from the page, an S3 write without headers is then stored
// encrypted (the GET says `x-amz-server-side-encryption: AES256`), and turns it off again.
//
// Run by tests/it/encryption.rs (cargo test), or alone:
//   GATEHOUSE_BIN=target/debug/gatehouse node --test tests/browser/encryption.test.mjs
// Environment as e2e.test.mjs: GATEHOUSE_BIN, CHROMIUM, GATEHOUSE_BROWSER_TEST=required.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { missing, openPage } from './harness.mjs';

test('web page: a bucket\'s default encryption', { skip: missing || false, timeout: 120_000 }, async (t) => {
  const { srv, basic, signedApi, page, consoleErrors, dialogs } = await openPage(t, 'gatehouse-encryption-');

  const bucket = 'sealed-demo';
  assert.equal((await signedApi('POST', '/api/buckets', { name: bucket })).status, 201);
  const { s3_endpoint: s3 } = await (await signedApi('GET', '/api/info')).json();
  const s3put = (key, body) => fetch(`${s3}/${bucket}/${key}`, {
    method: 'PUT', headers: { Authorization: basic, 'Content-Type': 'text/plain' }, body,
  });
  const s3get = (key) => fetch(`${s3}/${bucket}/${key}`, { headers: { Authorization: basic } });
  const shows = (sel, want) => page.waitForFunction(
    ([s, w]) => document.querySelector(s).textContent === w, [sel, want]);

  await page.goto(srv.base + '/');
  await page.fill('#access-key', srv.access);
  await page.fill('#secret-key', srv.secret);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor();
  await page.click('#panel-nav button[data-panel=s3]');
  await page.locator(`#bucket-select option[value="${bucket}"]`).waitFor({ state: 'attached' });
  await page.selectOption('#bucket-select', bucket);

  await shows('#encryption-state', 'none');
  await page.click('#encryption-toggle');
  await shows('#encryption-state', 'AES256 (SSE-S3)');
  assert.match(dialogs.at(-1), /Encrypt every new write/, 'asked first (the harness confirms)');
  const info = await (await signedApi('GET', `/api/buckets/${bucket}`)).json();
  assert.equal(info.encryption, 'AES256');

  assert.equal((await s3put('note.txt', 'hello')).status, 200);
  const got = await s3get('note.txt');
  assert.equal(got.status, 200);
  assert.equal(got.headers.get('x-amz-server-side-encryption'), 'AES256');
  assert.equal(await got.text(), 'hello');

  await page.click('#encryption-toggle');
  await shows('#encryption-state', 'none');
  assert.equal((await s3put('plain.txt', 'plain')).status, 200);
  assert.equal((await s3get('plain.txt')).headers.get('x-amz-server-side-encryption'), null);
  assert.equal((await s3get('note.txt')).headers.get('x-amz-server-side-encryption'), 'AES256');
  assert.deepEqual(consoleErrors.filter((e) => !/status of 40[0139]/.test(e)), [], 'no script errors');
});
