// The web page's Keys panel (issue 23, decision 0046) in headless Chromium: an admin creates a
// key, an S3 write under it is sealed with it (`x-amz-server-side-encryption: aws:kms` and the
// key's ARN), disabling it from the page makes that object unreadable (400
// KMS.DisabledException) until it is enabled again, rotating shows version 2, a scheduled
// deletion shows its date and is cancelled, and the audit view lists the uses.
//
// Run by tests/it/kms.rs (cargo test), or alone:
//   GATEHOUSE_BIN=target/debug/gatehouse node --test tests/browser/keys.test.mjs
// Environment as e2e.test.mjs: GATEHOUSE_BIN, CHROMIUM, GATEHOUSE_BROWSER_TEST=required.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { missing, openPage } from './harness.mjs';

test('web page: the Keys panel', { skip: missing || false, timeout: 120_000 }, async (t) => {
  const { srv, basic, signedApi, page, consoleErrors, dialogs, answerPrompt } = await openPage(t, 'gatehouse-keys-');

  const bucket = 'kms-demo';
  assert.equal((await signedApi('POST', '/api/buckets', { name: bucket })).status, 201);
  const { s3_endpoint: s3 } = await (await signedApi('GET', '/api/info')).json();
  const s3get = (key) => fetch(`${s3}/${bucket}/${key}`, { headers: { Authorization: basic } });

  await page.goto(srv.base + '/');
  await page.fill('#access-key', srv.access);
  await page.fill('#secret-key', srv.secret);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor();
  await page.click('#panel-nav button[data-panel=keys]');
  await page.locator('#keys-empty').waitFor();

  await page.fill('#key-alias', 'web-demo');
  await page.fill('#key-description', 'made in the page');
  await page.click('#key-form button[type=submit]');
  const row = page.locator('#keys-table tbody tr');
  await row.first().waitFor();
  const id = await row.first().getAttribute('data-key');
  const state = () => page.locator(`#keys-table tr[data-key="${id}"] .key-state`).textContent();
  assert.equal(await state(), 'Enabled');

  // A write under the key, by its alias; the answer names the key's ARN.
  const put = await fetch(`${s3}/${bucket}/secret.txt`, {
    method: 'PUT',
    headers: {
      Authorization: basic,
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': 'alias/web-demo',
    },
    body: 'kms from the page',
  });
  assert.equal(put.status, 200);
  assert.equal(put.headers.get('x-amz-server-side-encryption'), 'aws:kms');
  assert.match(put.headers.get('x-amz-server-side-encryption-aws-kms-key-id'), new RegExp(`:key/${id}$`));
  assert.equal(await (await s3get('secret.txt')).text(), 'kms from the page');

  // Disable from the page: the object does not open; enable: it does.
  await page.click(`#keys-table tr[data-key="${id}"] button:has-text("Disable")`);
  await page.waitForFunction((k) => document.querySelector(`#keys-table tr[data-key="${k}"] .key-state`).textContent === 'Disabled', id);
  assert.match(dialogs.at(-1), /Disable alias\/web-demo/);
  const refused = await s3get('secret.txt');
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /KMS\.DisabledException/);
  await page.click(`#keys-table tr[data-key="${id}"] button:has-text("Enable")`);
  await page.waitForFunction((k) => document.querySelector(`#keys-table tr[data-key="${k}"] .key-state`).textContent === 'Enabled', id);
  assert.equal((await s3get('secret.txt')).status, 200);

  // Rotate: version 2.
  await page.click(`#keys-table tr[data-key="${id}"] button:has-text("Rotate")`);
  await page.waitForFunction((k) => document.querySelector(`#keys-table tr[data-key="${k}"] td.num`).textContent === '2', id);

  // Schedule its deletion in 7 days, then cancel: back disabled.
  answerPrompt('7');
  await page.click(`#keys-table tr[data-key="${id}"] button:has-text("Schedule deletion")`);
  await page.waitForFunction((k) => document.querySelector(`#keys-table tr[data-key="${k}"] .key-state`).textContent === 'PendingDeletion', id);
  const info = await (await signedApi('GET', `/api/kms/keys/${id}`)).json();
  assert.ok(info.deletion_due_ms > Date.now() + 6 * 86_400_000, 'seven days out');
  await page.click(`#keys-table tr[data-key="${id}"] button:has-text("Cancel deletion")`);
  await page.waitForFunction((k) => document.querySelector(`#keys-table tr[data-key="${k}"] .key-state`).textContent === 'Disabled', id);

  // The audit view: the refused read is there, by the admin.
  await page.click(`#keys-table tr[data-key="${id}"] button:has-text("Audit")`);
  await page.locator('#key-audit-table tbody tr').first().waitFor();
  const audit = await page.locator('#key-audit-table tbody').textContent();
  for (const op of ['create', 'encrypt', 'decrypt', 'disable', 'rotate', 'schedule-deletion', 'cancel-deletion']) {
    assert.ok(audit.includes(op), `${op} in the audit view`);
  }
  assert.match(audit, /refused: .*disabled/);
  assert.deepEqual(consoleErrors.filter((e) => !/status of 40[0139]/.test(e)), [], 'no script errors');
});
