// The web page's versioning views in headless Chromium: a bucket's setting (enable, suspend)
// beside the bucket picker, and the Objects panel's versions of a key (listed newest first,
// one downloaded, one restored as current, one deleted for good), each checked against the
// API.
//
// Run by tests/it/versioning_admin.rs (cargo test), or alone:
//   GATEHOUSE_BIN=target/debug/gatehouse node --test tests/browser/versions.test.mjs
// Environment as e2e.test.mjs: GATEHOUSE_BIN, CHROMIUM, GATEHOUSE_BROWSER_TEST=required.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { missing, openPage } from './harness.mjs';

test('web page: bucket versioning and the versions of a key', { skip: missing || false, timeout: 120_000 }, async (t) => {
  const { srv, basic, signedApi, page, consoleErrors, dialogs } = await openPage(t, 'gatehouse-versions-');

  const bucket = 'versioned-docs';
  assert.equal((await signedApi('POST', '/api/buckets', { name: bucket })).status, 201);
  const objPath = `/api/buckets/${bucket}/objects/notes.txt`;
  const versionsOf = async () => (await (await signedApi('GET', `/api/buckets/${bucket}/versions?key=notes.txt`)).json()).versions;

  await page.goto(srv.base + '/');
  await page.fill('#access-key', srv.access);
  await page.fill('#secret-key', srv.secret);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor();
  await page.click('#panel-nav button[data-panel=s3]');
  await page.waitForFunction((b) => document.querySelector('#bucket-select').value === b, bucket);

  // The setting: unversioned, then enabled from the page (after a confirmation).
  await page.locator('#versioning').waitFor();
  assert.equal(await page.textContent('#versioning-state'), 'unversioned');
  assert.equal(await page.textContent('#versioning-toggle'), 'Enable');
  await page.click('#versioning-toggle');
  await page.locator('#versioning-state', { hasText: 'enabled' }).waitFor();
  assert.match(dialogs.at(-1), /Enable versioning of versioned-docs/);
  assert.equal(await page.textContent('#versioning-toggle'), 'Suspend');
  const state = await (await signedApi('GET', `/api/buckets/${bucket}/versioning`)).json();
  assert.equal(state.status, 'enabled', 'the server has it');

  // Two writes of one key; its versions, newest first, the newest marked latest.
  assert.equal((await signedApi('PUT', objPath, 'first version')).status, 200);
  assert.equal((await signedApi('PUT', objPath, 'second version, longer')).status, 200);
  const [v2, v1] = (await versionsOf()).map((v) => v.version_id);
  await page.click('#bucket-refresh');
  await page.locator('#objects-table tr', { hasText: 'notes.txt' }).getByRole('button', { name: 'Versions' }).click();
  await page.locator('#object-versions').waitFor();
  assert.equal(await page.textContent('#versions-key'), 'notes.txt');
  const rows = page.locator('#versions-table tbody tr');
  const shown = async () => rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.version));
  assert.deepEqual(await shown(), [v2, v1]);
  const newest = rows.nth(0);
  assert.match(await newest.textContent(), /latest/);
  assert.match(await newest.locator('td.num').textContent(), /22 B/);
  assert.equal(await newest.getByRole('button', { name: 'Restore' }).count(), 0, 'the latest needs no restore');
  const older = page.locator(`#versions-table tr[data-version="${v1}"]`);
  assert.doesNotMatch(await older.textContent(), /latest/);

  // The older version's download link serves its bytes (with the page's session).
  const href = await older.getByRole('link', { name: 'Download' }).getAttribute('href');
  assert.equal(href, `${objPath}?version_id=${encodeURIComponent(v1)}`);
  assert.equal(await page.evaluate(async (u) => (await fetch(u)).text(), href), 'first version');

  // Restore it: a new latest version with its bytes; the others stay.
  await older.getByRole('button', { name: 'Restore' }).click();
  await page.locator('#flash-text', { hasText: 'Restored notes.txt from version' }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#versions-table tbody tr').length === 3);
  const afterRestore = await versionsOf();
  assert.deepEqual(await shown(), afterRestore.map((v) => v.version_id));
  assert.deepEqual(afterRestore.slice(1).map((v) => v.version_id), [v2, v1]);
  assert.equal(await (await signedApi('GET', objPath)).text(), 'first version', 'current again');

  // Delete the middle version for good.
  await page.locator(`#versions-table tr[data-version="${v2}"]`).getByRole('button', { name: 'Delete' }).click();
  await page.locator(`#versions-table tr[data-version="${v2}"]`).waitFor({ state: 'detached' });
  assert.match(dialogs.at(-1), /for good/);
  assert.deepEqual((await versionsOf()).map((v) => v.version_id), [afterRestore[0].version_id, v1]);
  assert.equal((await signedApi('GET', `${objPath}?version_id=${v2}`)).status, 404);

  // A delete from the objects list leaves a marker on top of the open versions view;
  // deleting the marker brings the key back.
  await page.locator('#objects-table tr', { hasText: 'notes.txt' }).getByRole('button', { name: 'Delete' }).click();
  await page.locator('#objects-table td.file', { hasText: 'notes.txt' }).waitFor({ state: 'detached' });
  const [marker] = await versionsOf();
  assert.equal(marker.delete_marker, true);
  const markerRow = page.locator(`#versions-table tr[data-version="${marker.version_id}"]`);
  await markerRow.waitFor();
  assert.equal(await rows.count(), 3);
  assert.match(await markerRow.textContent(), /latest.*delete marker/);
  assert.equal(await markerRow.getByRole('link', { name: 'Download' }).count(), 0, 'a marker has no bytes');
  await markerRow.getByRole('button', { name: 'Delete' }).click();
  await markerRow.waitFor({ state: 'detached' });
  assert.match(dialogs.at(-1), /delete marker/);
  await page.locator('#objects-table td.file', { hasText: 'notes.txt' }).waitFor();
  assert.equal(await (await signedApi('GET', objPath)).text(), 'first version');
  await page.locator('#versions-close').click();
  await page.locator('#object-versions').waitFor({ state: 'hidden' });

  // Suspend from the page.
  await page.click('#versioning-toggle');
  await page.locator('#versioning-state', { hasText: 'suspended' }).waitFor();
  assert.equal((await (await signedApi('GET', `/api/buckets/${bucket}/versioning`)).json()).status, 'suspended');

  assert.deepEqual(consoleErrors.filter((e) => !/status of 40[139]/.test(e)), [], 'no script errors');
});
