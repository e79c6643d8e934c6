// The web page's bucket policy setting in headless Chromium: Private, Public (after a
// confirmation) and a Custom document edited on the page, each checked against the API and
// with unsigned requests to the S3 port (what anyone without credentials gets); a document the
// server refuses is told beside the editor and changes nothing.
//
// Run by tests/it/bucket_policy_admin.rs (cargo test), or alone:
//   GATEHOUSE_BIN=target/debug/gatehouse node --test tests/browser/policy.test.mjs
// Environment as e2e.test.mjs: GATEHOUSE_BIN, CHROMIUM, GATEHOUSE_BROWSER_TEST=required.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { missing, openPage } from './harness.mjs';

test('web page: a bucket policy from preset to custom and back', { skip: missing || false, timeout: 120_000 }, async (t) => {
  const { srv, signedApi, page, consoleErrors, dialogs } = await openPage(t, 'gatehouse-policy-');

  const bucket = 'policy-site';
  assert.equal((await signedApi('POST', '/api/buckets', { name: bucket })).status, 201);
  assert.equal((await signedApi('PUT', `/api/buckets/${bucket}/objects/hello.txt`, 'hello, anyone')).status, 200);
  const { s3_endpoint: s3 } = await (await signedApi('GET', '/api/info')).json();
  // Node's fetch, no credentials: what a browser or curl elsewhere gets.
  const unsigned = (path) => fetch(s3 + path);
  const policyOf = async () => (await signedApi('GET', `/api/buckets/${bucket}/policy`)).json();
  const text = (sel) => page.locator(sel).textContent();
  const shows = (sel, want) => page.waitForFunction(
    ([s, w]) => document.querySelector(s).textContent === w, [sel, want]);

  assert.equal((await unsigned(`/${bucket}/hello.txt`)).status, 403, 'private to begin with');

  await page.goto(srv.base + '/');
  await page.fill('#access-key', srv.access);
  await page.fill('#secret-key', srv.secret);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor();
  await page.click('#panel-nav button[data-panel=s3]');
  await page.waitForFunction((b) => document.querySelector('#bucket-select').value === b, bucket);

  // Private: nothing to save, no editor.
  await page.locator('#policy').waitFor();
  assert.equal(await text('#policy-state'), 'private');
  assert.equal(await text('#policy-public'), 'not public');
  assert.equal(await page.inputValue('#policy-preset'), 'private');
  assert.equal(await page.isDisabled('#policy-save'), true);
  assert.equal(await page.isVisible('#policy-editor'), false);

  // Public, after a confirmation: anyone reads the object.
  await page.selectOption('#policy-preset', 'public');
  assert.equal(await page.isDisabled('#policy-save'), false);
  const before = dialogs.length;
  await page.click('#policy-save');
  await shows('#policy-state', 'public');
  assert.equal(dialogs.length, before + 1, 'one confirmation');
  assert.match(dialogs.at(-1), /Make bucket policy-site public\?/);
  assert.equal(await text('#policy-public'), 'public');
  await page.locator('#flash-text', { hasText: 'Policy of policy-site: public (public).' }).waitFor();
  const pub = await policyOf();
  assert.equal(pub.preset, 'public', 'the server has it');
  assert.equal(pub.public, true);
  let r = await unsigned(`/${bucket}/hello.txt`);
  assert.equal(r.status, 200, 'readable without credentials');
  assert.equal(await r.text(), 'hello, anyone');

  // Custom: the editor opens on the current document, laid out on lines.
  await page.selectOption('#policy-preset', 'custom');
  await page.locator('#policy-editor').waitFor();
  assert.equal(await text('#policy-bucket'), bucket);
  const shown = await page.inputValue('#policy-document');
  assert.ok(shown.includes('\n'), shown);
  assert.deepEqual(JSON.parse(shown), JSON.parse(pub.policy));

  // A document naming another bucket: refused, the reason beside the editor, nothing changed.
  const doc = (resource, sid) => JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: sid, Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: resource }],
  }, null, 2);
  const dialogsBefore = dialogs.length;
  await page.fill('#policy-document', doc('arn:aws:s3:::some-other-bucket/*', 'Elsewhere'));
  await page.click('#policy-save');
  await page.locator('#policy-error').waitFor();
  const reason = await text('#policy-error');
  assert.match(reason, /^malformed policy: ./, reason);
  assert.match(reason, /resource/i, reason);
  assert.equal(await page.getAttribute('#policy-document', 'aria-invalid'), 'true');
  assert.doesNotMatch(await text('#flash-text'), /malformed/, 'inline, not in the flash');
  assert.equal(dialogs.length, dialogsBefore, 'no alert (nor a confirmation: the bucket is public already)');
  assert.equal(await text('#policy-state'), 'public', 'the page still shows the policy in force');
  assert.equal(await page.isVisible('#policy-editor'), true, 'the editor keeps the text');
  assert.match(await page.inputValue('#policy-document'), /some-other-bucket/);
  assert.deepEqual(await policyOf(), pub, 'the server kept the public preset');
  assert.equal((await unsigned(`/${bucket}/hello.txt`)).status, 200);

  // A valid one: anyone may read objects but no longer list the bucket.
  const custom = doc(`arn:aws:s3:::${bucket}/*`, 'ReadOnly');
  await page.fill('#policy-document', custom);
  await page.click('#policy-save');
  await shows('#policy-state', 'custom');
  assert.equal(await page.isVisible('#policy-error'), false, 'the error is gone');
  assert.equal(await text('#policy-public'), 'public');
  assert.equal(await page.inputValue('#policy-document'), custom, 'stored as typed');
  const now = await policyOf();
  assert.deepEqual([now.preset, now.policy, now.public], ['custom', custom, true]);
  assert.equal((await unsigned(`/${bucket}/hello.txt`)).status, 200);
  assert.equal((await unsigned(`/${bucket}?list-type=2`)).status, 403, 'no s3:ListBucket for anyone');

  // Private again, after a confirmation: the document goes, anonymous reads are refused.
  await page.selectOption('#policy-preset', 'private');
  assert.equal(await page.isVisible('#policy-editor'), false);
  await page.click('#policy-save');
  await shows('#policy-state', 'private');
  assert.match(dialogs.at(-1), /Make bucket policy-site private\? Its custom policy is removed/);
  assert.equal(await text('#policy-public'), 'not public');
  assert.deepEqual(await policyOf(), { bucket, preset: 'private', policy: null, public: false });
  r = await unsigned(`/${bucket}/hello.txt`);
  assert.equal(r.status, 403, 'refused without credentials again');
  assert.match(await r.text(), /AccessDenied/);

  // With no document, Custom starts from a template naming the bucket; one that lets anyone
  // in is confirmed first (declined here: nothing is saved).
  await page.selectOption('#policy-preset', 'custom');
  const template = JSON.parse(await page.inputValue('#policy-document'));
  assert.deepEqual(template.Statement[0].Resource, [`arn:aws:s3:::${bucket}/public/*`]);
  // The harness accepts every dialog: this one confirm answers "Cancel" and keeps its text.
  await page.evaluate(() => {
    const confirm = window.confirm;
    window.confirm = (m) => { window.declined = m; window.confirm = confirm; return false; };
  });
  await page.click('#policy-save');
  const asked = await (await page.waitForFunction(() => window.declined)).jsonValue();
  assert.match(asked, /allows anyone \("\*"\), without credentials\. Apply it to bucket policy-site\?/);
  assert.equal(await page.isEnabled('#policy-save'), true, 'still to save');
  assert.equal(await text('#policy-state'), 'private');
  assert.equal((await policyOf()).preset, 'private');
  await page.selectOption('#policy-preset', 'private');
  assert.equal(await page.isDisabled('#policy-save'), true);
  assert.equal(await page.isVisible('#policy-editor'), false);

  assert.deepEqual(consoleErrors.filter((e) => !/status of 40[0139]/.test(e)), [], 'no script errors');
});
