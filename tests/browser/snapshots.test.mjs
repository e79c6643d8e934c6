// The web page's share snapshots in headless Chromium: the Shares panel's Snapshots card (take
// one, list it with its size, restore one file and then the whole share, delete it), the
// Storage panel's noncurrent and snapshot bytes, and a bucket's object lock shown beside its
// versioning; each checked against the API.
//
// Run by tests/it/snapshots_admin.rs (cargo test), or alone:
//   GATEHOUSE_BIN=target/debug/gatehouse node --test tests/browser/snapshots.test.mjs
// Environment as e2e.test.mjs: GATEHOUSE_BIN, CHROMIUM, GATEHOUSE_BROWSER_TEST=required.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { missing, openPage } from './harness.mjs';

test('web page: share snapshots, storage bytes and object lock', { skip: missing || false, timeout: 120_000 }, async (t) => {
  const { srv, basic, signedApi, page, consoleErrors, dialogs, answerPrompt } = await openPage(t, 'gatehouse-snapshots-');

  // A share with two files, written through the API.
  assert.equal((await signedApi('POST', '/api/shares', { name: 'team', guest_read: false })).status, 201);
  const obj = (key) => `/api/buckets/fs+team/objects/${key}`;
  assert.equal((await signedApi('PUT', obj('a.txt'), 'monday')).status, 200);
  assert.equal((await signedApi('PUT', obj('dir/b.txt'), 'bee')).status, 200);
  const text = async (p) => {
    const r = await signedApi('GET', p);
    return r.ok ? r.text() : r.status;
  };
  const liveKeys = async () => (await (await signedApi('GET', '/api/buckets/fs+team/objects')).json()).objects.map((o) => o.key);
  const snapshotsOf = async () => (await (await signedApi('GET', '/api/shares/team/snapshots')).json()).map((s) => s.name);

  await page.goto(srv.base + '/');
  await page.fill('#access-key', srv.access);
  await page.fill('#secret-key', srv.secret);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor();
  await page.click('#panel-nav button[data-panel=shares]');
  const shareRow = page.locator('#shares-table tr[data-share="team"]');
  await shareRow.waitFor();

  // The card: none yet.
  await shareRow.getByRole('button', { name: 'Snapshots' }).click();
  await page.locator('#snapshots-card').waitFor();
  assert.equal(await page.textContent('#snapshots-share'), 'team');
  assert.equal(await page.textContent('#snapshots-nfs'), '/team/.snapshots/NAME/');
  assert.equal(await page.isVisible('#snapshots-none'), true);

  // Take one by name: listed with its size, object count and S3 bucket.
  await page.fill('#snapshot-name', 'monday');
  await page.click('#snapshot-form button[type=submit]');
  await page.locator('#flash-text', { hasText: 'Took snapshot monday of team' }).waitFor();
  const monday = page.locator('#snapshots-table tr[data-snapshot="monday"]');
  await monday.waitFor();
  assert.equal(await page.isVisible('#snapshots-none'), false);
  const cells = await monday.locator('td').allTextContents();
  assert.equal(cells[0], 'monday');
  assert.ok(cells[1].length > 0, 'a creation time');
  assert.deepEqual(cells.slice(2, 5), ['9 B', '2', 'fs--team.monday']);
  assert.deepEqual(await snapshotsOf(), ['monday'], 'the server has it');
  assert.equal(await page.inputValue('#snapshot-name'), '', 'the form is cleared');

  // The share changes; the snapshot's bucket still has the old bytes.
  assert.equal((await signedApi('PUT', obj('a.txt'), 'changed on tuesday')).status, 200);
  assert.equal((await signedApi('PUT', obj('new.txt'), 'fresh')).status, 200);
  assert.equal((await signedApi('DELETE', obj('dir/b.txt'))).status, 204);
  assert.equal(await text('/api/buckets/fs--team.monday/objects/a.txt'), 'monday');

  // Restore one file: only it comes back.
  await page.fill('#snapshot-path', 'a.txt');
  await monday.getByRole('button', { name: 'Restore' }).click();
  await page.locator('#flash-text', { hasText: 'Restored a.txt from snapshot monday: 1 file put back, 0 files removed.' }).waitFor();
  assert.match(dialogs.at(-1), /^Restore a\.txt of team from snapshot monday\?/);
  assert.equal(await text(obj('a.txt')), 'monday');
  assert.deepEqual(await liveKeys(), ['a.txt', 'new.txt']);
  assert.equal(await page.inputValue('#snapshot-path'), 'a.txt', 'the path stays for the next restore');

  // The whole share: the deleted file is back, the new one gone.
  await page.fill('#snapshot-path', '');
  await monday.getByRole('button', { name: 'Restore' }).click();
  await page.locator('#flash-text', { hasText: 'Restored share team from snapshot monday: 2 files put back, 1 file removed.' }).waitFor();
  assert.match(dialogs.at(-1), /^Restore the whole share team from snapshot monday\?/);
  assert.deepEqual(await liveKeys(), ['a.txt', 'dir/b.txt']);
  assert.equal(await text(obj('dir/b.txt')), 'bee');

  // A second snapshot without a name takes the default one.
  await page.click('#snapshot-form button[type=submit]');
  await page.locator('#flash-text', { hasText: /Took snapshot snap-\d+ of team/ }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#snapshots-table tbody tr').length === 2);
  const [, auto] = await snapshotsOf();
  assert.match(auto, /^snap-\d+$/);
  assert.deepEqual(
    await page.locator('#snapshots-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.snapshot)),
    ['monday', auto],
    'oldest first, as the server lists them',
  );

  // A versioned bucket with object lock and a noncurrent version.
  assert.equal((await signedApi('POST', '/api/buckets', { name: 'vault' })).status, 201);
  assert.equal((await signedApi('PUT', '/api/buckets/vault/versioning', { status: 'enabled' })).status, 200);
  assert.equal((await signedApi('PUT', '/api/buckets/vault/object-lock',
    { default_retention: { mode: 'GOVERNANCE', days: 3 } })).status, 200);
  assert.equal((await signedApi('PUT', '/api/buckets/vault/objects/k', '0123456789')).status, 200);
  assert.equal((await signedApi('PUT', '/api/buckets/vault/objects/k', 'abc')).status, 200);
  assert.equal((await signedApi('POST', '/api/buckets', { name: 'plain-one' })).status, 201);

  // Storage: noncurrent bytes per bucket, a share's snapshot bytes, snapshots as rows.
  await page.click('#panel-nav button[data-panel=storage]');
  const storageRow = (name) => page.locator(`#storage-table tr[data-bucket="${name}"]`);
  await storageRow('vault').waitFor();
  const rowCells = async (name) => storageRow(name).locator('td').allTextContents();
  // Bucket, Kind, Used, Noncurrent, Snapshots, Objects, …
  assert.deepEqual((await rowCells('vault')).slice(0, 6), ['vault', 'plain', '13 B', '10 B', '', '1']);
  assert.deepEqual((await rowCells('fs+team')).slice(0, 6), ['fs+team', 'share', '9 B', '0 B', '18 B', '2']);
  assert.deepEqual((await rowCells('fs+team@monday')).slice(0, 6), ['fs+team@monday', 'snapshot', '9 B', '0 B', '', '2']);

  // Object lock beside the versioning setting: read-only, and no Suspend while it is on.
  await page.click('#panel-nav button[data-panel=s3]');
  await page.locator('#bucket-select').waitFor();
  await page.selectOption('#bucket-select', 'vault');
  await page.locator('#object-lock-state', { hasText: 'on, GOVERNANCE 3 days' }).waitFor();
  assert.equal(await page.textContent('#versioning-state'), 'enabled');
  assert.equal(await page.isVisible('#versioning-toggle'), false);
  await page.selectOption('#bucket-select', 'plain-one');
  await page.locator('#object-lock-state', { hasText: 'off' }).waitFor();
  assert.equal(await page.textContent('#versioning-state'), 'unversioned');
  assert.equal(await page.isVisible('#versioning-toggle'), true);
  // Not offered before versioning is enabled (the server would refuse it).
  assert.equal(await page.isVisible('#object-lock-edit'), false);
  // Enabled, the default retention can be set from the page: lock goes on.
  await page.click('#versioning-toggle');
  await page.locator('#versioning-state', { hasText: 'enabled' }).waitFor();
  answerPrompt('COMPLIANCE 2y');
  await page.click('#object-lock-edit');
  await page.locator('#object-lock-state', { hasText: 'on, COMPLIANCE 2 years' }).waitFor();
  const lockNow = await (await signedApi('GET', '/api/buckets/plain-one/object-lock')).json();
  assert.deepEqual(lockNow.default_retention, { mode: 'COMPLIANCE', years: 2 });
  assert.equal(await page.isVisible('#versioning-toggle'), false, 'no Suspend under lock');

  // Back to the share: delete the first snapshot; its bucket is gone.
  await page.click('#panel-nav button[data-panel=shares]');
  await shareRow.getByRole('button', { name: 'Snapshots' }).click();
  await monday.waitFor();
  await monday.getByRole('button', { name: 'Delete' }).click();
  await monday.waitFor({ state: 'detached' });
  assert.match(dialogs.at(-1), /^Delete snapshot monday of team\?/);
  await page.locator('#flash-text', { hasText: 'Deleted snapshot monday of team.' }).waitFor();
  assert.deepEqual(await snapshotsOf(), [auto]);
  assert.equal(await text('/api/buckets/fs--team.monday/objects/a.txt'), 404);

  // A refused name shows the server's reason.
  await page.fill('#snapshot-name', auto);
  await page.click('#snapshot-form button[type=submit]');
  await page.locator('#flash-text', { hasText: 'store.conflict' }).waitFor();
  assert.deepEqual(await snapshotsOf(), [auto]);

  assert.deepEqual(consoleErrors.filter((e) => !/status of 40[1349]/.test(e)), [], 'no script errors');
});
