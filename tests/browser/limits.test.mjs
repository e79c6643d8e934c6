// The web page's bucket limits (issue 22) in headless Chromium: an admin sets a bucket's max
// objects on the page, S3 writes (and the page's own upload) past it are refused with
// QuotaExceeded, the page shows the usage against the limits; input it cannot read is told
// beside the form and changes nothing; a max size typed as "10Gi" leaves the object limit as
// it was; a share created with max objects lists them; the setting is hidden for the system
// bucket and for a user who is not an admin (even with bucket-admin on the bucket).
//
// Run by tests/it/object_quotas_admin.rs (cargo test), or alone:
//   GATEHOUSE_BIN=target/debug/gatehouse node --test tests/browser/limits.test.mjs
// Environment as e2e.test.mjs: GATEHOUSE_BIN, CHROMIUM, GATEHOUSE_BROWSER_TEST=required.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { missing, openPage } from './harness.mjs';

test('web page: bucket limits and a share with max objects', { skip: missing || false, timeout: 120_000 }, async (t) => {
  const { srv, basic, signedApi, page, consoleErrors } = await openPage(t, 'gatehouse-limits-');

  const bucket = 'limits-demo';
  assert.equal((await signedApi('POST', '/api/buckets', { name: bucket })).status, 201);
  const { s3_endpoint: s3 } = await (await signedApi('GET', '/api/info')).json();
  // A PUT to the S3 port with the admin's credentials (Basic, as e2e.test.mjs writes there).
  const s3put = (key, body) => fetch(`${s3}/${bucket}/${key}`, {
    method: 'PUT', headers: { Authorization: basic, 'Content-Type': 'text/plain' }, body,
  });
  const bucketOf = async (name = bucket) => (await signedApi('GET', `/api/buckets/${encodeURIComponent(name)}`)).json();
  const text = (sel) => page.locator(sel).textContent();
  const shows = (sel, want) => page.waitForFunction(
    ([s, w]) => document.querySelector(s).textContent === w, [sel, want]);
  const signIn = async (access, secret) => {
    await page.fill('#access-key', access);
    await page.fill('#secret-key', secret);
    await page.click('#signin-form button[type=submit]');
    await page.locator('#app').waitFor();
  };
  const pick = async (name) => {
    await page.locator(`#bucket-select option[value="${name}"]`).waitFor({ state: 'attached' });
    await page.selectOption('#bucket-select', name);
  };

  await page.goto(srv.base + '/');
  await signIn(srv.access, srv.secret);
  await page.click('#panel-nav button[data-panel=s3]');
  await pick(bucket);

  // No limits yet: usage against "unlimited", empty inputs, nothing to save.
  await page.locator('#limits').waitFor();
  await shows('#limits-objects-usage', '0 (unlimited)');
  assert.equal(await text('#limits-size-usage'), '0 B (unlimited)');
  assert.equal(await page.inputValue('#limits-size'), '');
  assert.equal(await page.inputValue('#limits-objects'), '');
  assert.equal(await page.isDisabled('#limits-save'), true);

  // Max objects 2, from the page.
  await page.fill('#limits-objects', '2');
  assert.equal(await page.isDisabled('#limits-save'), false);
  await page.click('#limits-save');
  await shows('#limits-objects-usage', '0 of 2');
  await page.locator('#flash-text', { hasText: `Limits of ${bucket}: size unlimited, objects 2.` }).waitFor();
  assert.equal(await page.isDisabled('#limits-save'), true, 'saved: nothing more to save');
  let b = await bucketOf();
  assert.deepEqual([b.quota_objects, b.quota_bytes], [2, 0], 'the server has it');

  // Two writes through S3 fit; the third is refused with QuotaExceeded and not stored.
  assert.equal((await s3put('a.txt', 'first')).status, 200);
  assert.equal((await s3put('b.txt', 'second')).status, 200);
  const refused = await s3put('c.txt', 'third');
  assert.equal(refused.status, 403);
  assert.match(await refused.text(), /<Code>QuotaExceeded<\/Code>/);
  // Overwriting a key adds no object.
  assert.equal((await s3put('a.txt', 'first again')).status, 200);
  b = await bucketOf();
  assert.deepEqual([b.object_count, b.usage_bytes], [2, 17]);

  // The page shows the usage after a refresh.
  await page.click('#bucket-refresh');
  await shows('#limits-objects-usage', '2 of 2');
  assert.equal(await text('#limits-size-usage'), '17 B (unlimited)');
  assert.equal(await page.locator('#objects-table td.file').count(), 2);

  // The page's own upload is refused too: told in the upload row and the flash.
  await page.setInputFiles('#upload-input', { name: 'd.txt', mimeType: 'text/plain', buffer: Buffer.from('fourth') });
  await page.locator('#uploads .upload.failed', { hasText: 'd.txt' }).waitFor();
  assert.match(await text('#flash-text'), /Upload of d\.txt failed: .*\(store\.quota_exceeded\)/);
  assert.equal((await signedApi('GET', `/api/buckets/${bucket}/objects/d.txt`)).status, 404);
  await shows('#limits-objects-usage', '2 of 2');

  // Input the page cannot read: told beside the form, the input marked, nothing sent.
  for (const [id, value, want] of [
    ['#limits-objects', '-1', /^Max objects: write a whole number/],
    ['#limits-objects', 'abc', /^Max objects: write a whole number/],
    ['#limits-objects', '1.5', /^Max objects: write a whole number/],
    ['#limits-size', 'abc', /^Max size: write bytes or a size/],
    ['#limits-size', '-1', /^Max size: write bytes or a size/],
    ['#limits-size', '10Xi', /^Max size: write bytes or a size/],
  ]) {
    await page.fill('#limits-objects', '2');
    await page.fill('#limits-size', '');
    await page.fill(id, value);
    assert.equal(await page.isDisabled('#limits-save'), false, `${value} offered to save`);
    await page.click('#limits-save');
    await page.locator('#limits-error').waitFor();
    assert.match(await text('#limits-error'), want, `${id} = ${value}`);
    assert.equal(await page.getAttribute(id, 'aria-invalid'), 'true');
    assert.doesNotMatch(await text('#flash-text'), /Max (size|objects)/, 'inline, not in the flash');
    assert.equal(await text('#limits-objects-usage'), '2 of 2', 'the limit in force is still shown');
    b = await bucketOf();
    assert.deepEqual([b.quota_objects, b.quota_bytes], [2, 0], `${value}: nothing changed`);
  }

  // A max size as a size: only it is sent, the object limit stays; the input reads it back.
  await page.fill('#limits-objects', '2');
  await page.fill('#limits-size', '10Gi');
  await page.click('#limits-save');
  await shows('#limits-size-usage', '17 B of 10 GiB');
  assert.equal(await page.isVisible('#limits-error'), false, 'the error is gone');
  assert.equal(await page.getAttribute('#limits-size', 'aria-invalid'), null);
  assert.equal(await text('#limits-objects-usage'), '2 of 2');
  assert.equal(await page.inputValue('#limits-size'), '10Gi');
  b = await bucketOf();
  assert.deepEqual([b.quota_objects, b.quota_bytes], [2, 10 * 2 ** 30]);
  // 500Mi and plain bytes read as the CLI reads them.
  await page.fill('#limits-size', '500Mi');
  await page.click('#limits-save');
  await shows('#limits-size-usage', '17 B of 500 MiB');
  assert.equal((await bucketOf()).quota_bytes, 500 * 2 ** 20);
  await page.fill('#limits-size', '1000');
  await page.click('#limits-save');
  await shows('#limits-size-usage', '17 B of 1000 B');
  assert.equal((await bucketOf()).quota_bytes, 1000);

  // Emptied: unlimited again (0), and S3 takes the third object.
  await page.fill('#limits-size', '');
  await page.fill('#limits-objects', '');
  await page.click('#limits-save');
  await shows('#limits-objects-usage', '2 (unlimited)');
  assert.equal(await text('#limits-size-usage'), '17 B (unlimited)');
  b = await bucketOf();
  assert.deepEqual([b.quota_objects, b.quota_bytes], [0, 0]);
  assert.equal((await s3put('c.txt', 'third')).status, 200);

  // The system bucket takes no limits: no form (where the list shows it at all).
  const buckets = await (await signedApi('GET', '/api/buckets')).json();
  const system = buckets.find((x) => x.kind === 'system');
  if (system) {
    await pick(system.name);
    await page.locator('#limits').waitFor({ state: 'hidden' });
    await pick(bucket);
    await page.locator('#limits').waitFor();
  }

  // A share with max objects 5: listed with them, and its bucket's limits say so.
  await page.click('#panel-nav button[data-panel=shares]');
  await page.fill('#share-name', 'capped');
  await page.fill('#share-max-objects', '5');
  await page.click('#share-form button[type=submit]');
  await page.locator('#flash-text', { hasText: 'Created share capped.' }).waitFor();
  const row = page.locator('#shares-table tr[data-share="capped"]');
  await row.waitFor();
  assert.equal(await row.locator('td.num').nth(1).textContent(), '0 / 5');
  const share = await (await signedApi('GET', '/api/shares/capped')).json();
  assert.deepEqual([share.max_objects, share.quota_bytes], [5, 0]);
  assert.equal(await page.inputValue('#share-max-objects'), '', 'the form is reset');
  await row.getByRole('button', { name: 'Browse' }).click();
  await page.waitForFunction(() => document.querySelector('#bucket-select').value === 'fs+capped');
  await shows('#limits-objects-usage', '0 of 5');
  assert.equal(await page.inputValue('#limits-objects'), '5');

  // A user with bucket-admin on the bucket is no admin: no limits form (the server would
  // refuse), while the bucket's other settings are there.
  const { publicKey } = crypto.generateKeyPairSync('ed25519');
  const hex = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');
  const carol = await (await signedApi('POST', '/api/users', { name: 'carol', public_key: hex })).json();
  assert.equal((await signedApi('POST', '/api/bindings', { user: 'carol', role: 'bucket-admin', bucket })).status, 201);
  await page.click('#sign-out');
  await page.locator('#signin').waitFor();
  await signIn(carol.access_key, carol.secret_key);
  await page.click('#panel-nav button[data-panel=s3]');
  await pick(bucket);
  await page.locator('#versioning').waitFor();
  await page.locator('#policy').waitFor();
  assert.equal(await page.isVisible('#limits'), false);
  const carolBasic = 'Basic ' + Buffer.from(`${carol.access_key}:${carol.secret_key}`).toString('base64');
  const r = await fetch(`${srv.base}/api/buckets/${bucket}/quota`, {
    method: 'PUT', headers: { Authorization: carolBasic, 'Content-Type': 'application/json' }, body: '{"max_objects":1}',
  });
  assert.equal(r.status, 403);
  assert.equal((await bucketOf()).quota_objects, 0);

  assert.deepEqual(consoleErrors.filter((e) => !/status of 40[0139]/.test(e)), [], 'no script errors');
});
