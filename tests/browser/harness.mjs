// What every browser test shares: where the binary and Chromium are (a missing browser skips
// the test, or fails it under GATEHOUSE_BROWSER_TEST=required), a real gatehouse started on a
// fresh data directory, and a headless page on it with console errors and dialogs collected.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
export const bin = process.env.GATEHOUSE_BIN || path.join(repo, 'target', 'debug', 'gatehouse');
export const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const required = process.env.GATEHOUSE_BROWSER_TEST === 'required';

export const missing = !fs.existsSync(chromiumPath) ? `no Chromium at ${chromiumPath}` : null;
if (missing) {
  const msg = `BROWSER TEST NOT RUN: ${missing} (apt-get install chromium chromium-driver)`;
  if (required) throw new Error(msg + ' — GATEHOUSE_BROWSER_TEST=required');
  console.error('\n!!!!! ' + msg + ' !!!!!\n');
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// The real binary on `dataDir`, its admin API on a free port; the bootstrap admin's keys.
export async function startServer(dataDir) {
  const port = await freePort();
  const child = spawn(bin, [
    'serve', '--data-dir', dataDir, '--s3-listen', '127.0.0.1:0', '--admin-listen', `127.0.0.1:${port}`, '--nfs-listen', '127.0.0.1:0',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i += 1) {
    if (child.exitCode !== null) throw new Error(`gatehouse exited: ${log}`);
    try {
      const r = await fetch(base + '/api/info');
      if (r.ok) break;
    } catch (_) { /* not up yet */ }
    await sleep(50);
  }
  const creds = fs.readFileSync(path.join(dataDir, 'admin.credentials'), 'utf8');
  const access = /aws_access_key_id\s*=\s*(\S+)/.exec(creds)[1];
  const secret = /aws_secret_access_key\s*=\s*(\S+)/.exec(creds)[1];
  return { child, base, access, secret, log: () => log };
}

/// A server on a fresh directory (`prefix` names it), `signedApi` calling its admin API as the
/// admin (Basic), and a headless page; everything is torn down after test `t`.
export async function openPage(t, prefix) {
  const { chromium } = await import('playwright-core');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const srv = await startServer(path.join(tmp, 'data'));
  const basic = 'Basic ' + Buffer.from(`${srv.access}:${srv.secret}`).toString('base64');
  const signedApi = (method, p, body) => fetch(srv.base + p, {
    method,
    headers: { Authorization: basic, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  t.after(async () => {
    await browser.close();
    srv.child.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const dialogs = [];
  // A prompt gets the text `answerPrompt` set last (empty when none); confirms are accepted.
  let nextPrompt = '';
  const answerPrompt = (text) => { nextPrompt = text; };
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.accept(d.type() === 'prompt' ? nextPrompt : undefined);
  });
  return { srv, basic, signedApi, browser, page, consoleErrors, dialogs, answerPrompt, tmp };
}
