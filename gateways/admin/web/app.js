// gatehouse web page: sign-in and the Data tab, over the admin JSON API of this origin.
//
// Plain browser JavaScript, no build step. The page is built with DOM calls and textContent
// only (never innerHTML), so bucket names, keys and descriptions are always shown as text;
// the server's Content-Security-Policy allows no inline script either. The session cookie is
// HttpOnly: this script never sees it, only the CSRF token that every state-changing request
// sends back in X-CSRF-Token.
'use strict';

(() => {
  const PAGE_SIZE = 100;
  // Panels this page has a view for, in the order they are listed.
  const VIEWS = ['s3', 'shares', 'bindings', 'groups', 'users', 'peers-mgmt', 'replication', 'keys', 'storage'];

  let session = null;
  let presignAvailable = true;
  let current = null;
  let allowedPanels = new Set();
  let me = null;

  const $ = (id) => document.getElementById(id);

  // ----- small helpers -----

  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k in e && typeof v !== 'string') e[k] = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + units[i];
  }

  function fmtTime(ms) {
    return ms ? new Date(ms).toLocaleString() : '';
  }

  function fmtDate(ms) {
    return ms ? new Date(ms).toLocaleDateString() : 'never';
  }

  // An object key as the path of a URL: the one helper every object URL is built with
  // (download, details, versions, upload, delete). `/` stays readable, except in a key with a
  // `.` or `..` segment: the browser would resolve those and reach another key, so there every
  // `/` goes as %2F (the server decodes it back), as the presigned URLs do. A key that is just
  // `.` or `..` cannot be named by any URL (%2E is resolved too): null.
  function objectPath(key) {
    if (key === '.' || key === '..') return null;
    const dotted = key.split('/').some((s) => s === '.' || s === '..');
    return dotted ? encodeURIComponent(key) : key.split('/').map(encodeURIComponent).join('/');
  }

  function bucketUrl(bucket, what, key) {
    const path = objectPath(key);
    return path === null ? null : '/api/buckets/' + encodeURIComponent(bucket) + '/' + what + '/' + path;
  }

  function objectUrl(bucket, key) {
    return bucketUrl(bucket, 'objects', key);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // ----- messages -----

  let flashTimer = null;

  // Errors stay until dismissed; confirmations fade after a few seconds.
  function flash(message, ok) {
    $('flash-text').textContent = message;
    $('flash').classList.toggle('ok', !!ok);
    $('flash').hidden = false;
    clearTimeout(flashTimer);
    if (ok) flashTimer = setTimeout(() => { $('flash').hidden = true; }, 6000);
  }

  function showError(err) {
    // A 401 after the session ended is already told by the sign-in form.
    if (err instanceof ApiError && err.status === 401 && !session) return;
    if (err instanceof ApiError) {
      flash(err.message + ' (' + err.code + ')');
    } else {
      flash(String(err && err.message ? err.message : err));
    }
  }

  $('flash-close').addEventListener('click', () => { $('flash').hidden = true; });

  // ----- the API -----

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function isMissingRoute(err) {
    return err instanceof ApiError && err.status === 404 && err.code === 'api.no_such_route';
  }

  async function errorFrom(resp) {
    let body = null;
    try { body = await resp.json(); } catch (_) { /* not JSON */ }
    return new ApiError(
      resp.status,
      (body && body.error) || 'http.' + resp.status,
      (body && body.message) || resp.statusText || 'request failed',
    );
  }

  async function api(method, path, body) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (session && method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = session.csrf_token;
    const resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
    if (!resp.ok) {
      const err = await errorFrom(resp);
      if (resp.status === 401 && session) sessionEnded();
      throw err;
    }
    if (resp.status === 204) return null;
    const text = await resp.text();
    return text ? JSON.parse(text) : null;
  }

  // Runs an action, showing its error; returns its result or undefined.
  async function attempt(fn) {
    try {
      return await fn();
    } catch (err) {
      showError(err);
      return undefined;
    }
  }

  // ----- sign-in and sign-out -----

  function showSignIn(message) {
    session = null;
    // Whoever signs in next in this tab must not find the last one's secrets in the page.
    forgetCredentials();
    mountToken = null;
    for (const card of document.querySelectorAll('.mount-token')) {
      clear(card);
      card.hidden = true;
    }
    $('loading').hidden = true;
    $('app').hidden = true;
    clear($('panel-nav'));
    $('sign-out').hidden = true;
    $('who').textContent = '';
    $('signin').hidden = false;
    $('flash').hidden = true;
    $('signin-error').hidden = !message;
    $('signin-error').textContent = message || '';
    $('access-key').focus();
  }

  function sessionEnded() {
    showSignIn('Your session has ended: sign in again.');
  }

  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('signin-error').hidden = true;
    try {
      const resp = await fetch('/api/session', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          access_key: $('access-key').value.trim(),
          secret_key: $('secret-key').value.trim(),
        }),
        credentials: 'same-origin',
      });
      if (!resp.ok) throw await errorFrom(resp);
      session = await resp.json();
      $('secret-key').value = '';
      await enterApp();
    } catch (err) {
      $('signin-error').textContent = err.message;
      $('signin-error').hidden = false;
    }
  });

  $('sign-out').addEventListener('click', async () => {
    await attempt(() => api('DELETE', '/api/session'));
    showSignIn();
  });

  async function enterApp() {
    me = await api('GET', '/api/me');
    // A tab strip with one tab says nothing: it appears when a second tab exists.
    $('tabs').hidden = $('tabs').querySelectorAll('.tab').length < 2;
    mountToken = null;
    $('who').textContent = 'Signed in as ' + me.name + (me.admin ? ' (admin)' : '');
    const allowed = new Set(me.panels.filter((p) => p.allowed).map((p) => p.id));
    if (!me.panels.some((p) => p.id === 'replication') && await replicationVisible()) allowed.add('replication');
    if (await keysVisible()) allowed.add('keys');
    allowedPanels = allowed;
    // The panels are this user's before the page is shown: never the last one's for a moment.
    const nav = $('panel-nav');
    clear(nav);
    for (const section of document.querySelectorAll('.panel')) section.hidden = true;
    $('sign-out').hidden = false;
    $('signin').hidden = true;
    $('loading').hidden = true;
    $('app').hidden = false;
    const titles = new Map(me.panels.map((p) => [p.id, p.title]));
    const shown = VIEWS.filter((id) => allowed.has(id));
    for (const id of shown) {
      nav.append(el('button', {
        type: 'button',
        'data-panel': id,
        text: titles.get(id) || $('panel-' + id).dataset.title,
        onclick: () => openPanel(id),
      }));
    }
    if (shown.length === 0) {
      nav.append(el('p', { class: 'muted', text: 'Nothing here is open to you.' }));
      return;
    }
    await openPanel(shown.includes(current) ? current : shown[0]);
  }

  async function openPanel(id, arg) {
    current = id;
    for (const b of $('panel-nav').querySelectorAll('button')) {
      b.classList.toggle('active', b.dataset.panel === id);
    }
    for (const section of document.querySelectorAll('.panel')) {
      section.hidden = section.dataset.panel !== id;
    }
    await LOADERS[id](arg);
  }

  // ----- objects -----

  // starts[i] is the continuation token of page i (null for the first).
  const browse = { bucket: null, prefix: '', starts: [null], page: 0, kinds: new Map() };

  async function loadBuckets(bucket) {
    const buckets = await attempt(() => api('GET', '/api/buckets'));
    if (!buckets) return;
    const select = $('bucket-select');
    clear(select);
    for (const b of buckets) {
      const label = b.kind === 'plain' ? b.name : b.name + ' (' + b.kind + ')';
      select.append(el('option', { value: b.name, text: label }));
    }
    const names = buckets.map((b) => b.name);
    browse.kinds = new Map(buckets.map((b) => [b.name, b.kind]));
    const want = bucket || browse.bucket;
    if (bucket && !names.includes(bucket)) flash('Bucket ' + bucket + ' is not visible to you.');
    const chosen = names.includes(want) ? want : names[0] || null;
    if (chosen !== browse.bucket) {
      browse.prefix = '';
    }
    browse.bucket = chosen;
    select.value = chosen || '';
    $('dropzone').hidden = !chosen;
    showBucketDelete();
    $('object-details').hidden = true;
    $('object-versions').hidden = true;
    resetPages();
    await Promise.all([listObjects(), loadVersioning(), loadPolicy(), loadLimits()]);
  }

  // A share's bucket goes with its share (Shares panel); plain buckets are deleted here.
  function showBucketDelete() {
    $('bucket-delete').hidden = !browse.bucket || browse.kinds.get(browse.bucket) !== 'plain';
  }

  function resetPages() {
    browse.starts = [null];
    browse.page = 0;
  }

  $('bucket-select').addEventListener('change', async () => {
    browse.bucket = $('bucket-select').value;
    browse.prefix = '';
    $('object-details').hidden = true;
    $('object-versions').hidden = true;
    showBucketDelete();
    resetPages();
    await Promise.all([listObjects(), loadVersioning(), loadPolicy(), loadLimits()]);
  });
  $('bucket-refresh').addEventListener('click', () => loadBuckets());

  $('bucket-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = $('bucket-name').value.trim();
    if (await attempt(() => api('POST', '/api/buckets', { name })) === undefined) return;
    flash('Created bucket ' + name + '.', true);
    $('bucket-form').reset();
    await loadBuckets(name);
  });

  $('bucket-delete').addEventListener('click', async () => {
    const name = browse.bucket;
    if (!name) return;
    if (!window.confirm('Delete bucket ' + name + '? Only an empty bucket can be deleted.')) return;
    if (await attempt(() => api('DELETE', '/api/buckets/' + encodeURIComponent(name))) === undefined) return;
    flash('Deleted bucket ' + name + '.', true);
    browse.bucket = null;
    await loadBuckets();
  });

  async function goTo(prefix) {
    browse.prefix = prefix;
    resetPages();
    await listObjects();
  }

  function renderBreadcrumb() {
    const nav = $('breadcrumb');
    clear(nav);
    if (!browse.bucket) return;
    nav.append(el('button', { type: 'button', class: 'link', text: browse.bucket, onclick: () => goTo('') }));
    let acc = '';
    for (const part of browse.prefix.split('/').filter((p) => p !== '')) {
      acc += part + '/';
      const target = acc;
      nav.append(el('span', { class: 'sep', text: '/' }));
      nav.append(el('button', { type: 'button', class: 'link', text: part, onclick: () => goTo(target) }));
    }
  }

  async function listObjects() {
    const tbody = $('objects-table').tBodies[0];
    renderBreadcrumb();
    if (!browse.bucket) {
      clear(tbody);
      $('objects-empty').hidden = false;
      $('objects-empty').textContent = 'No bucket is visible to you.';
      return;
    }
    const q = new URLSearchParams({ delimiter: '/', max_keys: String(PAGE_SIZE) });
    if (browse.prefix) q.set('prefix', browse.prefix);
    const start = browse.starts[browse.page];
    if (start) q.set('continuation_token', start);
    const page = await attempt(() => api('GET', '/api/buckets/' + encodeURIComponent(browse.bucket) + '/objects?' + q));
    clear(tbody);
    if (!page) return;
    for (const p of page.prefixes) {
      const name = p.slice(browse.prefix.length);
      tbody.append(el('tr', {},
        el('td', {}, el('button', { type: 'button', class: 'link folder', text: name, onclick: () => goTo(p) })),
        el('td', { class: 'num' }), el('td'), el('td')));
    }
    for (const o of page.objects) tbody.append(objectRow(o));
    const empty = page.prefixes.length === 0 && page.objects.length === 0;
    $('objects-empty').hidden = !empty;
    $('objects-empty').textContent = 'This folder is empty.';
    browse.starts.length = browse.page + 1;
    if (page.truncated && page.next_continuation_token) browse.starts.push(page.next_continuation_token);
    $('page-prev').disabled = browse.page === 0;
    $('page-next').disabled = browse.starts.length <= browse.page + 1;
    const paged = browse.page > 0 || !$('page-next').disabled;
    $('page-no').textContent = paged ? 'Page ' + (browse.page + 1) : '';
    $('pager').hidden = !paged;
  }

  function objectRow(o) {
    const bucket = browse.bucket;
    const name = o.key.slice(browse.prefix.length);
    if (objectUrl(bucket, o.key) === null) {
      return el('tr', {},
        el('td', { class: 'file', title: o.key, text: name }),
        el('td', { class: 'num', title: o.size + ' bytes', text: fmtBytes(o.size) }),
        el('td', { text: fmtTime(o.modified_ms) }),
        el('td', { class: 'actions' }, el('span', { class: 'badge', text: 'no URL names this key: use S3' })));
    }
    const actions = el('td', { class: 'actions' },
      el('button', { type: 'button', class: 'quiet', text: 'Details', onclick: () => showDetails(bucket, o.key) }),
      el('button', { type: 'button', class: 'quiet', text: 'Versions', onclick: () => showVersions(bucket, o.key) }),
      el('a', { href: objectUrl(bucket, o.key), download: name.split('/').pop() || 'download', text: 'Download' }),
      presignAvailable ? el('button', { type: 'button', class: 'quiet presign', text: 'Copy link', onclick: () => copyLink(bucket, o.key) }) : null,
      el('button', {
        type: 'button',
        class: 'danger',
        text: 'Delete',
        onclick: async () => {
          if (!window.confirm('Delete ' + o.key + '?')) return;
          if (await attempt(() => api('DELETE', objectUrl(bucket, o.key))) !== undefined) {
            flash('Deleted ' + o.key + '.', true);
            await Promise.all([listObjects(), loadLimits()]);
            // In a versioned bucket the delete left a marker: the open versions view shows it.
            if (!$('object-versions').hidden && versionsShown.bucket === bucket && versionsShown.key === o.key) {
              await showVersions(bucket, o.key);
            }
          }
        },
      }));
    return el('tr', {},
      el('td', { class: 'file', title: o.key, text: name }),
      el('td', { class: 'num', title: o.size + ' bytes', text: fmtBytes(o.size) }),
      el('td', { text: fmtTime(o.modified_ms) }),
      actions);
  }

  // Object details: attributes, HTTP metadata, x-amz-meta-* and tags.
  async function showDetails(bucket, key) {
    const path = bucketUrl(bucket, 'metadata', key);
    const m = await attempt(() => api('GET', path));
    if (!m) return;
    $('details-key').textContent = key;
    const fields = [
      ['Size', fmtBytes(m.size) + ' (' + m.size + ' bytes)'],
      ['ETag', m.etag],
      ['Modified', fmtTime(m.modified_ms)],
      ['Content-Type', m.content_type],
      ['Content-Encoding', m.content_encoding],
      ['Content-Disposition', m.content_disposition],
      ['Content-Language', m.content_language],
      ['Cache-Control', m.cache_control],
      ['Expires', m.expires],
      ['Checksum', m.checksum ? m.checksum.algorithm + ' ' + m.checksum.value + ' (' + m.checksum.kind + ')' : null],
      ['Parts', m.parts ? String(m.parts) : null],
    ];
    const fbody = $('details-fields').tBodies[0];
    clear(fbody);
    for (const [k, v] of fields) {
      if (v === null || v === undefined || v === '') continue;
      fbody.append(el('tr', {}, el('th', { text: k }), el('td', {}, el('code', { text: v }))));
    }
    const pairs = (table, none, rows) => {
      const body = $(table).tBodies[0];
      clear(body);
      for (const [k, v] of rows) body.append(el('tr', {}, el('td', { text: k }), el('td', { text: v })));
      $(table).hidden = rows.length === 0;
      $(none).hidden = rows.length > 0;
    };
    pairs('details-metadata', 'details-metadata-none', m.metadata.map((x) => [x.name, x.value]));
    pairs('details-tags', 'details-tags-none', m.tags.map((x) => [x.key, x.value]));
    $('object-details').hidden = false;
    $('object-details').scrollIntoView({ block: 'nearest' });
  }

  $('details-close').addEventListener('click', () => { $('object-details').hidden = true; });

  // ----- versioning -----

  function bucketPath(bucket) {
    return '/api/buckets/' + encodeURIComponent(bucket);
  }

  // The bucket's setting, beside the bucket picker; hidden where the caller may not read it.
  let versioningState = null;

  async function loadVersioning() {
    const bucket = browse.bucket;
    versioningState = null;
    $('versioning').hidden = true;
    if (!bucket || browse.kinds.get(bucket) === 'system') return;
    let v;
    try {
      v = await api('GET', bucketPath(bucket) + '/versioning');
    } catch (err) {
      if (!(err instanceof ApiError && (err.status === 403 || isMissingRoute(err)))) showError(err);
      return;
    }
    // Object lock, read-only here: on or off, and the retention new versions get.
    const lock = await api('GET', bucketPath(bucket) + '/object-lock').catch(() => null);
    // Default encryption of new writes (decision 0044), from the bucket's record.
    const info = await api('GET', bucketPath(bucket)).catch(() => null);
    if (bucket !== browse.bucket) return;
    encryptionState = info ? info.encryption : undefined;
    $('encryption-state').textContent = !info ? 'unknown'
      : info.encryption === 'aws:kms' ? 'aws:kms (SSE-KMS, key ' + (info.encryption_key || '?') + ')'
        : info.encryption ? info.encryption + ' (SSE-S3)' : 'none';
    $('encryption-toggle').textContent = info && info.encryption ? 'Turn off' : 'Encrypt new writes';
    $('encryption-toggle').hidden = !info;
    versioningState = v.status;
    $('versioning-state').textContent = v.status;
    $('versioning-toggle').textContent = v.status === 'enabled' ? 'Suspend' : 'Enable';
    // A bucket with object lock keeps versioning enabled (the server refuses to suspend it).
    $('versioning-toggle').hidden = !!(lock && lock.enabled);
    $('object-lock-state').textContent = lock ? lockText(lock) : 'unknown';
    // Setting a default retention turns object lock on; it needs versioning enabled first.
    $('object-lock-edit').hidden = !lock || (!lock.enabled && v.status !== 'enabled');
    $('versioning').hidden = false;
  }

  // "off", "on (no default retention)", "on, GOVERNANCE 30 days".
  function lockText(lock) {
    if (!lock.enabled) return 'off';
    const d = lock.default_retention;
    if (!d) return 'on (no default retention)';
    const n = d.days || d.years;
    const unit = d.days ? (n === 1 ? 'day' : 'days') : (n === 1 ? 'year' : 'years');
    return 'on, ' + d.mode + ' ' + n + ' ' + unit;
  }

  // Object lock's default retention: "GOVERNANCE 30", "COMPLIANCE 1y", or empty for none. The
  // first setting turns object lock on for good (the server says so and refuses to undo it).
  $('object-lock-edit').addEventListener('click', async () => {
    const bucket = browse.bucket;
    if (!bucket) return;
    const answer = window.prompt(
      'Default retention of new versions in ' + bucket + ': GOVERNANCE or COMPLIANCE and a number of days ' +
      '(e.g. "GOVERNANCE 30", or "COMPLIANCE 2y" for years); empty for none. ' +
      'This turns object lock on, and it cannot be turned off.', '');
    if (answer === null) return;
    const text = answer.trim();
    let body = { default_retention: null };
    if (text) {
      const m = /^(GOVERNANCE|COMPLIANCE)\s+(\d+)\s*([dy]?)$/i.exec(text);
      if (!m) {
        flash('Write the mode and a number of days, e.g. "GOVERNANCE 30" or "COMPLIANCE 2y".', false);
        return;
      }
      const n = Number(m[2]);
      body = { default_retention: m[3].toLowerCase() === 'y'
        ? { mode: m[1].toUpperCase(), years: n }
        : { mode: m[1].toUpperCase(), days: n } };
    }
    const r = await attempt(() => api('PUT', bucketPath(bucket) + '/object-lock', body));
    if (!r) return;
    flash('Object lock of ' + bucket + ': ' + lockText(r) + '.', true);
    await loadVersioning();
  });

  // The bucket's default encryption as last shown (a string, null for none, undefined unknown).
  let encryptionState;

  $('encryption-toggle').addEventListener('click', async () => {
    const bucket = browse.bucket;
    if (!bucket) return;
    const on = !encryptionState;
    const warn = on
      ? 'Encrypt every new write to ' + bucket + ' (AES-256, keys derived from the server\'s master.key; NFS writes of a share too)? Objects written before stay as they are.'
      : 'Stop encrypting new writes to ' + bucket + '? Objects written encrypted stay encrypted.';
    if (!window.confirm(warn)) return;
    const b = await attempt(() => api('PUT', bucketPath(bucket) + '/encryption', { algorithm: on ? 'AES256' : null }));
    if (!b) return;
    flash('Default encryption of ' + bucket + ': ' + (b.encryption || 'none') + '.', true);
    await loadVersioning();
  });

  $('versioning-toggle').addEventListener('click', async () => {
    const bucket = browse.bucket;
    if (!bucket) return;
    const to = versioningState === 'enabled' ? 'suspended' : 'enabled';
    const warn = to === 'enabled'
      ? 'Enable versioning of ' + bucket + '? Every write and delete then keeps what it replaces (and counts in the bucket\'s usage).'
      : 'Suspend versioning of ' + bucket + '? The versions kept so far stay; new writes replace what they overwrite.';
    if (!window.confirm(warn)) return;
    const v = await attempt(() => api('PUT', bucketPath(bucket) + '/versioning', { status: to }));
    if (!v) return;
    flash('Versioning of ' + bucket + ': ' + v.status + '.', true);
    await loadVersioning();
  });

  // ----- bucket policy -----

  // The bucket's policy as the server last answered ({bucket, preset, policy, public}), below
  // the bucket picker; null while hidden (no bucket, or the caller may not read it).
  let policyState = null;

  async function loadPolicy() {
    const bucket = browse.bucket;
    policyState = null;
    $('policy').hidden = true;
    $('policy-editor').hidden = true;
    if (!bucket || browse.kinds.get(bucket) === 'system') return;
    let p;
    try {
      p = await api('GET', bucketPath(bucket) + '/policy');
    } catch (err) {
      if (!(err instanceof ApiError && (err.status === 403 || isMissingRoute(err)))) showError(err);
      return;
    }
    if (bucket !== browse.bucket) return;
    showPolicy(p);
  }

  function showPolicy(p) {
    policyState = p;
    $('policy-state').textContent = p.preset;
    $('policy-public').textContent = p.public ? 'public' : 'not public';
    $('policy-public').classList.toggle('public', !!p.public);
    $('policy-public').title = p.public
      ? 'The policy lets anyone, without credentials, reach this bucket'
      : 'The policy grants nothing to callers without credentials';
    $('policy-preset').value = p.preset;
    // The editor opens again on the document as stored.
    $('policy-editor').hidden = true;
    $('policy').hidden = false;
    choosePreset();
  }

  // A template for a bucket without a document: public read of one prefix.
  function policyTemplate(bucket) {
    return JSON.stringify({
      Version: '2012-10-17',
      Statement: [{
        Sid: 'PublicReadOfPrefix',
        Effect: 'Allow',
        Principal: '*',
        Action: ['s3:GetObject'],
        Resource: ['arn:aws:s3:::' + bucket + '/public/*'],
      }],
    }, null, 2);
  }

  // A stored document to edit: compact JSON (as the presets are) is laid out on lines, which
  // changes nothing else in it; any other text is shown exactly as it was put.
  function policyText(doc) {
    try {
      const v = JSON.parse(doc);
      if (JSON.stringify(v) === doc) return JSON.stringify(v, null, 2);
    } catch (_) { /* shown as it is */ }
    return doc;
  }

  // Whether a document plainly allows anyone (Principal "*"): only for the confirmation; the
  // server decides what is public and answers with it.
  function grantsEveryone(doc) {
    let v;
    try { v = JSON.parse(doc); } catch (_) { return false; }
    const list = (x) => (Array.isArray(x) ? x : [x]);
    const anyone = (p) => p === '*' || (p && typeof p === 'object' && list(p.AWS).includes('*'));
    return !!v && typeof v === 'object' && list(v.Statement).some((st) => st && st.Effect === 'Allow' && anyone(st.Principal));
  }

  function policyError(message) {
    $('policy-error').textContent = message || '';
    $('policy-error').hidden = !message;
    if (message) $('policy-document').setAttribute('aria-invalid', 'true');
    else $('policy-document').removeAttribute('aria-invalid');
  }

  // The editor follows the selector: Custom opens it on the current document (a template
  // naming the bucket when it has none). Save is offered when there is something to apply.
  function choosePreset() {
    const p = policyState;
    if (!p) return;
    const chosen = $('policy-preset').value;
    policyError(null);
    if (chosen === 'custom') {
      if ($('policy-editor').hidden) {
        $('policy-bucket').textContent = p.bucket;
        $('policy-document').value = p.policy ? policyText(p.policy) : policyTemplate(p.bucket);
        $('policy-editor').hidden = false;
      }
    } else {
      $('policy-editor').hidden = true;
    }
    $('policy-save').disabled = chosen === p.preset && chosen !== 'custom';
  }

  $('policy-preset').addEventListener('change', choosePreset);

  // Applies the choice. A document the server refuses (malformed, or public where the
  // bucket's public access block forbids it) is told beside the editor and changes nothing.
  $('policy-save').addEventListener('click', async () => {
    const p = policyState;
    if (!p) return;
    const bucket = p.bucket;
    const chosen = $('policy-preset').value;
    let body;
    let warn = null;
    if (chosen === 'custom') {
      body = { policy: $('policy-document').value };
      if (!p.public && grantsEveryone(body.policy)) {
        warn = 'This policy allows anyone ("*"), without credentials. Apply it to bucket ' + bucket + '?';
      }
    } else {
      body = { preset: chosen };
      if (chosen === 'public') {
        warn = 'Make bucket ' + bucket + ' public? Anyone, without credentials, may then read every object in it and list it.';
      } else if (p.preset === 'custom') {
        warn = 'Make bucket ' + bucket + ' private? Its custom policy is removed: only role bindings decide who reaches it.';
      } else {
        warn = 'Make bucket ' + bucket + ' private? Requests without credentials are refused again.';
      }
    }
    if (warn && !window.confirm(warn)) return;
    policyError(null);
    $('policy-save').disabled = true;
    let r;
    try {
      r = await api('PUT', bucketPath(bucket) + '/policy', body);
    } catch (err) {
      $('policy-save').disabled = false;
      if (chosen === 'custom' && err instanceof ApiError && (err.status === 400 || err.status === 403)) {
        policyError(err.message);
        $('policy-document').focus();
      } else {
        showError(err);
      }
      return;
    }
    flash('Policy of ' + bucket + ': ' + r.preset + (r.public ? ' (public)' : '') + '.', true);
    if (bucket === browse.bucket) showPolicy(r);
  });

  // ----- bucket limits -----

  // The bucket's limits (issue 22) as the server last answered: {bucket, quota_bytes,
  // quota_objects, usage_bytes, object_count, versioning}, below the bucket picker; null while
  // hidden. Only admins set limits (the storage operator's `put` on `storage`), so only they
  // see the form; the system bucket and snapshots take none.
  let limitsState = null;

  const SIZE_UNITS = {
    '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15,
    ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30, ti: 2 ** 40, pi: 2 ** 50,
  };

  // "10Gi", "500 MiB", "2T", "1.5Gi", "1048576" → bytes (as the CLI's --max-size: Ki, Mi…
  // are powers of 1024, K, M… of 1000); empty is 0 (unlimited). Throws a message otherwise.
  function parseSize(text) {
    const t = text.trim();
    if (t === '') return 0;
    const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]i?)?b?$/i.exec(t);
    if (!m) throw new Error('Max size: write bytes or a size such as 500Mi, 10Gi or 2T, not "' + t + '".');
    const n = Number(m[1]) * SIZE_UNITS[(m[2] || '').toLowerCase()];
    if (!Number.isFinite(n) || n > Number.MAX_SAFE_INTEGER) throw new Error('Max size: ' + t + ' is too large.');
    if (!m[2] && !Number.isInteger(n)) throw new Error('Max size: a number of bytes is a whole number.');
    return Math.round(n);
  }

  function parseCount(text) {
    const t = text.trim();
    if (t === '') return 0;
    if (!/^\d+$/.test(t)) throw new Error('Max objects: write a whole number (0 or empty for unlimited), not "' + t + '".');
    const n = Number(t);
    if (!Number.isSafeInteger(n)) throw new Error('Max objects: ' + t + ' is too large.');
    return n;
  }

  // A limit as the input shows it: the largest binary unit that divides it ("10Gi"), else
  // bytes; empty for unlimited. It reads back as the same number.
  function sizeText(n) {
    if (!n) return '';
    const units = ['Pi', 'Ti', 'Gi', 'Mi', 'Ki'];
    for (const u of units) {
      const m = SIZE_UNITS[u.toLowerCase()];
      if (n >= m && n % m === 0) return String(n / m) + u;
    }
    return String(n);
  }

  function limitsError(message, input) {
    $('limits-error').textContent = message || '';
    $('limits-error').hidden = !message;
    for (const id of ['limits-size', 'limits-objects']) {
      if (message && $(id) === input) $(id).setAttribute('aria-invalid', 'true');
      else $(id).removeAttribute('aria-invalid');
    }
  }

  function mayLimit(bucket) {
    return !!(me && me.admin) && !!bucket && browse.kinds.get(bucket) !== 'system'
      && !(bucket.startsWith('fs+') && bucket.includes('@'));
  }

  async function loadLimits() {
    const bucket = browse.bucket;
    if (!mayLimit(bucket)) {
      limitsState = null;
      $('limits').hidden = true;
      return;
    }
    let b;
    try {
      b = await api('GET', bucketPath(bucket));
    } catch (err) {
      if (bucket === browse.bucket) {
        limitsState = null;
        $('limits').hidden = true;
      }
      if (!(err instanceof ApiError && (err.status === 403 || err.status === 404))) showError(err);
      return;
    }
    if (bucket !== browse.bucket) return;
    showLimits(b);
  }

  // Usage against the limits; the inputs take the limits unless something not saved yet is
  // typed there for this same bucket.
  function showLimits(b) {
    const prev = limitsState;
    const same = prev && prev.name === b.name;
    limitsState = b;
    const of = (used, limit) => used + (limit ? ' of ' + limit : ' (unlimited)');
    $('limits-size-usage').textContent = of(fmtBytes(b.usage_bytes), b.quota_bytes ? fmtBytes(b.quota_bytes) : '');
    $('limits-size-usage').title = b.usage_bytes + ' bytes' + (b.quota_bytes ? ' of ' + b.quota_bytes : '');
    $('limits-objects-usage').textContent = of(String(b.object_count), b.quota_objects ? String(b.quota_objects) : '');
    // The limit counts noncurrent versions and delete markers too; the count shown is of
    // current objects.
    $('limits-objects-usage').title = b.versioning && b.versioning !== 'unversioned'
      ? 'current objects; the limit also counts noncurrent versions and delete markers'
      : 'objects';
    const fields = [['limits-size', sizeText(b.quota_bytes), prev && sizeText(prev.quota_bytes)],
      ['limits-objects', b.quota_objects ? String(b.quota_objects) : '', prev && (prev.quota_objects ? String(prev.quota_objects) : '')]];
    for (const [id, now, before] of fields) {
      if (!same || $(id).value.trim() === before) $(id).value = now;
    }
    if (!same) limitsError(null);
    $('limits').hidden = false;
    limitsChanged();
  }

  // Save is offered when an input says something else than the limit in force.
  function limitsChanged() {
    const b = limitsState;
    if (!b) return;
    const size = $('limits-size').value.trim();
    const count = $('limits-objects').value.trim();
    let differs;
    try {
      differs = parseSize(size) !== b.quota_bytes || parseCount(count) !== b.quota_objects;
    } catch (_) {
      differs = true;
    }
    $('limits-save').disabled = !differs;
  }

  $('limits-size').addEventListener('input', limitsChanged);
  $('limits-objects').addEventListener('input', limitsChanged);

  // Sends only the limits that change (an absent one stays as it is). Input the page cannot
  // read, or a refusal from the server, is told beside the form and changes nothing.
  $('limits').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const b = limitsState;
    if (!b) return;
    const bucket = b.name;
    const body = {};
    let field = $('limits-size');
    try {
      const size = parseSize(field.value);
      field = $('limits-objects');
      const count = parseCount(field.value);
      if (size !== b.quota_bytes) body.max_size_bytes = size;
      if (count !== b.quota_objects) body.max_objects = count;
    } catch (err) {
      limitsError(err.message, field);
      field.focus();
      return;
    }
    limitsError(null);
    if (Object.keys(body).length === 0) {
      limitsChanged();
      return;
    }
    $('limits-save').disabled = true;
    let r;
    try {
      r = await api('PUT', bucketPath(bucket) + '/quota', body);
    } catch (err) {
      $('limits-save').disabled = false;
      if (err instanceof ApiError && err.status !== 401) limitsError(err.message + ' (' + err.code + ')', null);
      else showError(err);
      return;
    }
    const said = (n, f) => (n ? f(n) : 'unlimited');
    flash('Limits of ' + bucket + ': size ' + said(r.quota_bytes, fmtBytes) + ', objects ' + said(r.quota_objects, String) + '.', true);
    if (bucket === browse.bucket) {
      $('limits-size').value = sizeText(r.quota_bytes);
      $('limits-objects').value = r.quota_objects ? String(r.quota_objects) : '';
      showLimits(r);
    }
  });

  // The versions of one key: download one, make one current again, delete one for good.
  const versionsShown = { bucket: null, key: null };

  async function showVersions(bucket, key) {
    const page = await attempt(() => api('GET', bucketPath(bucket) + '/versions?' + new URLSearchParams({ key })));
    if (!page) return;
    versionsShown.bucket = bucket;
    versionsShown.key = key;
    $('versions-key').textContent = key;
    const tbody = $('versions-table').tBodies[0];
    clear(tbody);
    for (const v of page.versions) tbody.append(versionRow(bucket, key, v));
    $('versions-none').hidden = page.versions.length > 0;
    $('versions-more').hidden = !page.truncated;
    $('object-versions').hidden = false;
    $('object-versions').scrollIntoView({ block: 'nearest' });
  }

  function versionRow(bucket, key, v) {
    const url = objectUrl(bucket, key) + '?version_id=' + encodeURIComponent(v.version_id);
    const actions = el('td', { class: 'actions' },
      v.delete_marker ? null : el('a', { href: url, download: key.split('/').pop() || 'download', text: 'Download' }),
      v.delete_marker || v.is_latest ? null : el('button', {
        type: 'button',
        class: 'quiet',
        text: 'Restore',
        onclick: () => restoreVersion(bucket, key, v),
      }),
      el('button', { type: 'button', class: 'danger', text: 'Delete', onclick: () => deleteVersion(bucket, key, v) }));
    return el('tr', { 'data-version': v.version_id, class: v.delete_marker ? 'marker' : null },
      el('td', {}, el('code', { text: v.version_id }),
        v.is_latest ? el('span', { class: 'badge', text: 'latest' }) : null,
        v.delete_marker ? el('span', { class: 'badge', text: 'delete marker' }) : null),
      el('td', { text: fmtTime(v.modified_ms) }),
      el('td', { class: 'num', title: v.delete_marker ? null : v.size + ' bytes', text: v.delete_marker ? '' : fmtBytes(v.size) }),
      actions);
  }

  async function restoreVersion(bucket, key, v) {
    if (!window.confirm('Make version ' + v.version_id + ' of ' + key + ' current again? It is copied as a new version; the others stay.')) return;
    const r = await attempt(() => api('POST', bucketPath(bucket) + '/restore', { key, version_id: v.version_id }));
    if (!r) return;
    flash('Restored ' + key + ' from version ' + v.version_id + '.', true);
    await Promise.all([showVersions(bucket, key), listObjects(), loadLimits()]);
  }

  async function deleteVersion(bucket, key, v) {
    const what = v.delete_marker ? 'the delete marker ' + v.version_id : 'version ' + v.version_id;
    if (!window.confirm('Delete ' + what + ' of ' + key + ' for good?')) return;
    const url = objectUrl(bucket, key) + '?version_id=' + encodeURIComponent(v.version_id);
    if (await attempt(() => api('DELETE', url)) === undefined) return;
    flash('Deleted ' + what + ' of ' + key + '.', true);
    await Promise.all([showVersions(bucket, key), listObjects(), loadLimits()]);
  }

  $('versions-close').addEventListener('click', () => { $('object-versions').hidden = true; });

  $('page-next').addEventListener('click', async () => {
    browse.page += 1;
    await listObjects();
  });
  $('page-prev').addEventListener('click', async () => {
    browse.page = Math.max(0, browse.page - 1);
    await listObjects();
  });

  async function copyLink(bucket, key) {
    try {
      const r = await api('POST', '/api/buckets/' + encodeURIComponent(bucket) + '/presign',
        { key, method: 'GET', expires_secs: 3600 });
      try {
        await navigator.clipboard.writeText(r.url);
        flash('Link copied: valid for one hour.', true);
      } catch (_) {
        window.prompt('Copy this link (valid for one hour):', r.url);
      }
    } catch (err) {
      if (isMissingRoute(err)) {
        presignAvailable = false;
        for (const b of document.querySelectorAll('button.presign')) b.remove();
        flash('This server cannot make presigned links yet.');
      } else {
        showError(err);
      }
    }
  }

  // Uploads: one XMLHttpRequest per file (fetch reports no upload progress).
  function upload(file) {
    const bucket = browse.bucket;
    const key = browse.prefix + file.name;
    const bar = el('progress', { max: 1, value: 0 });
    const state = el('span', { class: 'state', text: 'starting' });
    const row = el('div', { class: 'upload' }, el('span', { class: 'name', title: key, text: key }), bar, state);
    $('uploads').append(row);
    if (objectUrl(bucket, key) === null) {
      state.textContent = 'no URL can name this key: upload it over S3';
      row.classList.add('failed');
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', objectUrl(bucket, key));
      xhr.setRequestHeader('X-CSRF-Token', session ? session.csrf_token : '');
      xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
      xhr.upload.addEventListener('progress', (ev) => {
        if (!ev.lengthComputable) return;
        bar.max = ev.total || 1;
        bar.value = ev.loaded;
        state.textContent = Math.floor((100 * ev.loaded) / (ev.total || 1)) + ' %';
      });
      xhr.addEventListener('load', () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = bar.max;
          row.classList.add('done');
          state.textContent = 'done';
          setTimeout(() => row.remove(), 4000);
        } else {
          let msg = 'HTTP ' + xhr.status;
          try {
            const body = JSON.parse(xhr.responseText);
            msg = body.message + ' (' + body.error + ')';
          } catch (_) { /* not JSON */ }
          row.classList.add('failed');
          state.textContent = 'failed';
          flash('Upload of ' + key + ' failed: ' + msg);
          if (xhr.status === 401) sessionEnded();
        }
        resolve();
      });
      xhr.addEventListener('error', () => {
        row.classList.add('failed');
        state.textContent = 'failed';
        flash('Upload of ' + key + ' failed: network error');
        resolve();
      });
      xhr.send(file);
    });
  }

  async function uploadAll(files) {
    if (!browse.bucket || files.length === 0) return;
    for (const f of files) await upload(f);
    // The bucket's usage (beside its limits) changed too.
    await Promise.all([listObjects(), loadLimits()]);
  }

  $('upload-input').addEventListener('change', async (ev) => {
    const files = Array.from(ev.target.files || []);
    ev.target.value = '';
    await uploadAll(files);
  });
  const zone = $('dropzone');
  zone.addEventListener('dragover', (ev) => { ev.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    zone.classList.remove('over');
    await uploadAll(Array.from(ev.dataTransfer ? ev.dataTransfer.files : []));
  });

  // ----- shares -----

  async function loadShares() {
    await loadMountToken();
    const deleted = $('shares-deleted').checked;
    const tbody = $('shares-table').tBodies[0];
    let shares;
    try {
      shares = await api('GET', '/api/shares' + (deleted ? '?deleted=true' : ''));
    } catch (err) {
      clear(tbody);
      $('shares-empty').hidden = false;
      $('shares-empty').textContent = isMissingRoute(err) ? 'This server has no shares API.' : 'Could not list shares.';
      if (!isMissingRoute(err)) showError(err);
      return;
    }
    // Owners by name where the caller may read users (an admin); by user id otherwise.
    const users = allowedPanels.has('users') ? await api('GET', '/api/users').catch(() => []) : [];
    const names = new Map(users.map((u) => [u.user_id, u.name]));
    clear(tbody);
    $('shares-empty').hidden = shares.length > 0;
    $('shares-empty').textContent = deleted ? 'No deleted shares.' : 'No shares yet.';
    for (const s of shares) tbody.append(shareRow(s, names.get(s.owner)));
    const open = snapshotsShown.share;
    if (open && !$('snapshots-card').hidden) {
      if (shares.some((s) => s.name === open && s.state !== 'deleted')) await showSnapshots(open);
      else $('snapshots-card').hidden = true;
    }
  }

  // ----- share snapshots -----

  const snapshotsShown = { share: null };

  function snapshotsPath(share) {
    return '/api/shares/' + encodeURIComponent(share) + '/snapshots';
  }

  async function showSnapshots(share) {
    const snaps = await attempt(() => api('GET', snapshotsPath(share)));
    if (!snaps) return;
    if (snapshotsShown.share !== share) $('snapshot-path').value = '';
    snapshotsShown.share = share;
    $('snapshots-share').textContent = share;
    $('snapshots-nfs').textContent = '/' + share + '/.snapshots/NAME/';
    const tbody = $('snapshots-table').tBodies[0];
    clear(tbody);
    for (const snap of snaps) tbody.append(snapshotRow(share, snap));
    $('snapshots-table').hidden = snaps.length === 0;
    $('snapshots-none').hidden = snaps.length > 0;
    $('snapshots-card').hidden = false;
    $('snapshots-card').scrollIntoView({ block: 'nearest' });
  }

  function snapshotRow(share, snap) {
    return el('tr', { 'data-snapshot': snap.name },
      el('td', { text: snap.name }),
      el('td', { text: fmtTime(snap.created_ms) }),
      el('td', { class: 'num', title: snap.bytes + ' bytes', text: fmtBytes(snap.bytes) }),
      el('td', { class: 'num', text: String(snap.objects) }),
      el('td', {}, el('code', { title: snap.bucket, text: snap.alias })),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'quiet', text: 'Restore', onclick: () => restoreSnapshot(share, snap.name) }),
        el('button', { type: 'button', class: 'danger', text: 'Delete', onclick: () => deleteSnapshot(share, snap.name) })));
  }

  // Restores the path in the card's field (empty: the whole share) from one snapshot.
  async function restoreSnapshot(share, name) {
    const path = $('snapshot-path').value.trim().replace(/^\/+/, '');
    const what = path ? path + ' of ' + share : 'the whole share ' + share;
    const warn = 'Restore ' + what + ' from snapshot ' + name + '? Files there are put back as the snapshot has them,'
      + ' and files the snapshot did not have there are removed.';
    if (!window.confirm(warn)) return;
    const r = await attempt(() => api('POST', snapshotsPath(share) + '/' + encodeURIComponent(name) + '/restore', { path }));
    if (!r) return;
    const files = (n) => n + (n === 1 ? ' file' : ' files');
    flash('Restored ' + (path || 'share ' + share) + ' from snapshot ' + name + ': '
      + files(r.restored) + ' put back, ' + files(r.removed) + ' removed.', true);
    await loadShares();
  }

  async function deleteSnapshot(share, name) {
    if (!window.confirm('Delete snapshot ' + name + ' of ' + share + '? What only it holds is freed.')) return;
    if (await attempt(() => api('DELETE', snapshotsPath(share) + '/' + encodeURIComponent(name))) === undefined) return;
    flash('Deleted snapshot ' + name + ' of ' + share + '.', true);
    await loadShares();
  }

  $('snapshot-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const share = snapshotsShown.share;
    if (!share) return;
    const name = $('snapshot-name').value.trim();
    const snap = await attempt(() => api('POST', snapshotsPath(share), name ? { name } : {}));
    if (!snap) return;
    flash('Took snapshot ' + snap.name + ' of ' + share + ' (' + fmtBytes(snap.bytes) + ').', true);
    $('snapshot-name').value = '';
    await loadShares();
  });

  $('snapshots-close').addEventListener('click', () => { $('snapshots-card').hidden = true; });

  function shareRow(s, ownerName) {
    const actions = el('td', { class: 'actions' });
    if (s.state === 'deleted') {
      actions.append(el('button', {
        type: 'button',
        class: 'quiet',
        text: 'Restore',
        onclick: async () => {
          if (await attempt(() => api('POST', '/api/shares/' + encodeURIComponent(s.name) + '/restore')) !== undefined) {
            flash('Restored share ' + s.name + '.', true);
            await loadShares();
          }
        },
      }));
    } else {
      actions.append(
        el('button', { type: 'button', class: 'quiet', text: 'Browse', onclick: () => openPanel('s3', s.bucket) }),
        el('button', { type: 'button', class: 'quiet', text: 'Snapshots', onclick: () => showSnapshots(s.name) }),
        el('button', {
          type: 'button',
          class: 'danger',
          text: 'Delete',
          onclick: async () => {
            if (!window.confirm('Delete share ' + s.name + '? It can be restored later.')) return;
            if (await attempt(() => api('DELETE', '/api/shares/' + encodeURIComponent(s.name))) !== undefined) {
              flash('Deleted share ' + s.name + '.', true);
              await loadShares();
            }
          },
        }));
    }
    const quota = s.quota_bytes ? fmtBytes(s.quota_bytes) : 'unlimited';
    const expires = s.state === 'deleted' && s.purge_after_ms
      ? 'purged ' + fmtDate(s.purge_after_ms)
      : fmtDate(s.expires_ms);
    return el('tr', { 'data-share': s.name },
      el('td', {}, s.name, s.state && s.state !== 'active' ? el('span', { class: 'badge', text: s.state }) : null),
      el('td', { text: s.description || '' }),
      el('td', {}, el('code', { text: s.s3_alias || s.bucket })),
      el('td', { title: s.owner, text: ownerName || s.owner || '' }),
      el('td', { class: 'num', text: fmtBytes(s.used_bytes || 0) + ' / ' + quota }),
      el('td', { class: 'num', text: String(s.object_count || 0) + (s.max_objects ? ' / ' + s.max_objects : '') }),
      el('td', { text: s.guest_read ? 'read' : 'no' }),
      el('td', { text: expires }),
      actions);
  }

  $('shares-deleted').addEventListener('change', () => loadShares());

  $('share-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const amount = $('share-quota').value.trim();
    const quota = amount === '' ? 0 : Math.round(Number(amount) * Number($('share-quota-unit').value));
    if (!Number.isFinite(quota) || quota < 0) {
      flash('The quota must be a positive number (or empty for unlimited).');
      return;
    }
    const count = $('share-max-objects').value.trim();
    const maxObjects = count === '' ? 0 : Number(count);
    if (!/^\d*$/.test(count) || !Number.isSafeInteger(maxObjects)) {
      flash('Max objects must be a whole number (or empty for unlimited).');
      return;
    }
    const body = {
      name: $('share-name').value.trim(),
      description: $('share-description').value.trim(),
      quota_bytes: quota,
      guest_read: $('share-guest').checked,
    };
    // Sent only when set: a server without object limits still creates the share.
    if (maxObjects > 0) body.max_objects = maxObjects;
    if ($('share-expires').value) body.expires_at = $('share-expires').value;
    const s = await attempt(() => api('POST', '/api/shares', body));
    if (!s) return;
    flash((s.restored ? 'Restored share ' : 'Created share ') + s.name + '.', true);
    $('share-form').reset();
    await loadShares();
  });

  // ----- bindings -----

  async function loadBindings() {
    const [roles, bindings] = await Promise.all([
      attempt(() => api('GET', '/api/roles')),
      attempt(() => api('GET', '/api/bindings')),
    ]);
    if (roles) {
      const select = $('binding-role');
      const keep = select.value;
      clear(select);
      for (const r of roles) {
        select.append(el('option', { value: r.name, title: r.description || null, text: r.name }));
      }
      if (keep) select.value = keep;
    }
    const tbody = $('bindings-table').tBodies[0];
    clear(tbody);
    for (const b of bindings || []) tbody.append(bindingRow(b));
  }

  function bindingRow(b) {
    const who = b.subject_kind === 'user' ? (b.subject_name || b.subject) : b.subject;
    const scope = b.scope_kind === 'global' ? 'everywhere' : b.scope_kind + ' ' + (b.scope || '');
    const actions = el('td', { class: 'actions' });
    if (b.builtin) {
      actions.append(el('span', { class: 'badge', text: 'built-in' }));
    } else {
      actions.append(el('button', {
        type: 'button',
        class: 'danger',
        text: 'Unbind',
        onclick: async () => {
          // Every scope (bucket, panel, key): without it the server would look for a global one.
          const q = new URLSearchParams({ [b.subject_kind]: b.subject, role: b.role });
          if (b.scope_kind !== 'global') q.set(b.scope_kind, b.scope || '');
          if (await attempt(() => api('DELETE', '/api/bindings?' + q)) !== undefined) {
            flash('Unbound ' + b.role + ' from ' + who + '.', true);
            await loadBindings();
          }
        },
      }));
    }
    return el('tr', {},
      el('td', {}, b.subject_kind + ' ', el('strong', { text: who })),
      el('td', { text: b.role }),
      el('td', { text: scope }),
      actions);
  }

  $('binding-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { role: $('binding-role').value };
    body[$('binding-kind').value] = $('binding-subject').value.trim();
    const bucket = $('binding-bucket').value.trim();
    if (bucket) body.bucket = bucket;
    if (await attempt(() => api('POST', '/api/bindings', body)) === undefined) return;
    flash('Bound ' + body.role + '.', true);
    $('binding-subject').value = '';
    $('binding-bucket').value = '';
    await loadBindings();
  });

  // ----- groups -----

  let openGroup = null;

  async function loadGroups() {
    const groups = await attempt(() => api('GET', '/api/groups'));
    const tbody = $('groups-table').tBodies[0];
    clear(tbody);
    for (const g of groups || []) {
      const actions = el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'quiet', text: 'Members', onclick: () => loadMembers(g.name) }));
      if (!g.builtin) {
        actions.append(el('button', {
          type: 'button',
          class: 'danger',
          text: 'Delete',
          onclick: async () => {
            if (!window.confirm('Delete group ' + g.name + '?')) return;
            if (await attempt(() => api('DELETE', '/api/groups/' + encodeURIComponent(g.name))) !== undefined) {
              if (openGroup === g.name) $('members-card').hidden = true;
              await loadGroups();
            }
          },
        }));
      }
      tbody.append(el('tr', {},
        el('td', {}, g.name, g.builtin ? el('span', { class: 'badge', text: 'built-in' }) : null),
        el('td', { text: g.description || '' }),
        el('td', { class: 'num', text: String(g.members.length) }),
        actions));
    }
    if (openGroup) await loadMembers(openGroup);
  }

  async function loadMembers(group) {
    const m = await attempt(() => api('GET', '/api/groups/' + encodeURIComponent(group) + '/members'));
    if (!m) {
      openGroup = null;
      $('members-card').hidden = true;
      return;
    }
    openGroup = group;
    $('members-card').hidden = false;
    $('members-group').textContent = group;
    $('member-form').hidden = m.builtin;
    const list = $('members-list');
    clear(list);
    if (m.members.length === 0) list.append(el('li', { class: 'muted', text: 'No members.' }));
    for (const u of m.members) {
      list.append(el('li', {},
        el('span', { text: u.name ? u.name + ' (' + u.user_id + ')' : u.user_id }),
        m.builtin ? null : el('button', {
          type: 'button',
          class: 'danger',
          text: 'Remove',
          onclick: async () => {
            const path = '/api/groups/' + encodeURIComponent(group) + '/members/' + encodeURIComponent(u.user_id);
            if (await attempt(() => api('DELETE', path)) !== undefined) await loadGroups();
          },
        })));
    }
  }

  $('group-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: $('group-name').value.trim(), description: $('group-description').value.trim() };
    if (await attempt(() => api('POST', '/api/groups', body)) === undefined) return;
    flash('Created group ' + body.name + '.', true);
    $('group-form').reset();
    await loadGroups();
  });

  $('member-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const who = $('member-who').value.trim();
    if (!openGroup || !who) return;
    const path = '/api/groups/' + encodeURIComponent(openGroup) + '/members/' + encodeURIComponent(who);
    if (await attempt(() => api('PUT', path)) === undefined) return;
    $('member-who').value = '';
    await loadGroups();
  });

  // ----- users -----

  async function loadUsers() {
    const users = await attempt(() => api('GET', '/api/users'));
    const tbody = $('users-table').tBodies[0];
    clear(tbody);
    for (const u of users || []) {
      const self = me && u.user_id === me.user_id;
      const actions = el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'quiet', text: 'Rotate', onclick: () => rotateUser(u, self) }),
        // Not oneself (from this page: it would end the session it runs in), nor a service
        // user (the server manages those and refuses).
        self || u.kind === 'service' ? null : el('button', { type: 'button', class: 'danger', text: 'Remove', onclick: () => removeUser(u) }));
      tbody.append(el('tr', { 'data-user': u.name },
        el('td', {}, u.name, u.admin ? el('span', { class: 'badge', text: 'admin' }) : null),
        el('td', {}, el('code', { text: u.user_id })),
        el('td', { text: u.kind }),
        el('td', {}, el('code', { text: u.access_key })),
        el('td', { text: (u.groups || []).join(', ') }),
        el('td', { text: fmtTime(u.created_ms) }),
        actions));
    }
  }

  // The shown-once secret leaves the page, not just the view.
  function forgetCredentials() {
    for (const id of ['user-created-name', 'user-created-ak', 'user-created-sk']) $(id).textContent = '';
    $('user-created').hidden = true;
  }

  function showCredentials(what, r) {
    $('user-created-what').textContent = what;
    $('user-created-name').textContent = r.name;
    $('user-created-ak').textContent = r.access_key;
    $('user-created-sk').textContent = r.secret_key;
    $('user-created').hidden = false;
  }

  // New credentials: the old key stops working and the user's sessions end (ours too, when
  // they are our own: the page then asks to sign in again with the new ones).
  async function rotateUser(u, self) {
    const warn = self
      ? 'Rotate your own credentials? This session ends; sign in again with the new ones.'
      : 'Rotate the credentials of ' + u.name + '? The old access key stops working at once.';
    if (!window.confirm(warn)) return;
    const r = await attempt(() => api('POST', '/api/users/' + encodeURIComponent(u.user_id) + '/rotate'));
    if (!r) return;
    showCredentials('New credentials of', r);
    if (self) {
      flash('These are your new credentials: note them, then sign in again.', true);
      return;
    }
    flash('Rotated the credentials of ' + u.name + '.', true);
    await loadUsers();
  }

  async function removeUser(u) {
    if (!window.confirm('Remove ' + u.name + '? Their credentials, memberships and bindings go; their data stays.')) return;
    if (await attempt(() => api('DELETE', '/api/users/' + encodeURIComponent(u.user_id))) === undefined) return;
    flash('Removed ' + u.name + '.', true);
    forgetCredentials();
    await loadUsers();
  }

  $('user-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: $('user-name').value.trim(), public_key: $('user-key').value.trim() };
    const r = await attempt(() => api('POST', '/api/users', body));
    if (!r) return;
    showCredentials('Credentials of', r);
    flash(r.created ? 'Registered ' + r.name + '.' : r.name + ' was already registered with this key.', true);
    $('user-form').reset();
    await loadUsers();
  });

  // ----- peers and mount tokens -----

  async function loadPeers() {
    await loadMountToken();
    const peers = await attempt(() => api('GET', '/api/peers'));
    const tbody = $('peers-table').tBodies[0];
    clear(tbody);
    if (!peers) return;
    $('peers-empty').hidden = peers.length > 0;
    for (const p of peers) {
      tbody.append(el('tr', { 'data-peer': p.address },
        el('td', {}, el('code', { text: p.address })),
        el('td', { title: p.user_id, text: p.name || p.user_id }),
        el('td', { text: p.description || '' }),
        el('td', { text: fmtTime(p.created_ms) }),
        el('td', { class: 'actions' }, el('button', {
          type: 'button',
          class: 'danger',
          text: 'Remove',
          onclick: async () => {
            if (!window.confirm('Remove peer ' + p.address + '? Its clients become the guest.')) return;
            if (await attempt(() => api('DELETE', '/api/peers/' + encodeURIComponent(p.address))) === undefined) return;
            flash('Removed peer ' + p.address + '.', true);
            await loadPeers();
          },
        }))));
    }
  }

  $('peer-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      address: $('peer-address').value.trim(),
      user: $('peer-user').value.trim(),
      description: $('peer-description').value.trim(),
    };
    const p = await attempt(() => api('POST', '/api/peers', body));
    if (!p) return;
    flash('Peer ' + p.address + ' acts as ' + (p.name || p.user_id) + '.', true);
    $('peer-form').reset();
    await loadPeers();
  });

  // The signed-in user's own NFS mount token (a secret like an S3 key: shown on request).
  let mountToken = null;

  async function loadMountToken() {
    if (!mountToken) {
      const [t, info] = await Promise.all([
        api('GET', '/api/me/nfs-token').catch(() => null),
        api('GET', '/api/info').catch(() => null),
      ]);
      if (!t) return;
      mountToken = { token: t.token, nfs: info ? info.nfs_endpoint : '' };
    }
    for (const card of document.querySelectorAll('.mount-token')) renderMountToken(card);
  }

  function renderMountToken(card) {
    clear(card);
    const value = el('code', { class: 'token', text: '••••••••' });
    const example = el('code', { text: 'HOST:/SHARE@TOKEN' });
    const show = el('button', {
      type: 'button',
      class: 'quiet',
      text: 'Show',
      onclick: () => {
        const hidden = show.textContent === 'Show';
        value.textContent = hidden ? mountToken.token : '••••••••';
        example.textContent = hidden ? hostOf(mountToken.nfs) + ':/SHARE@' + mountToken.token : 'HOST:/SHARE@TOKEN';
        show.textContent = hidden ? 'Hide' : 'Show';
      },
    });
    card.append(
      el('h2', { text: 'Your NFS mount token' }),
      el('p', {}, value, ' ', show),
      el('p', { class: 'muted small' },
        'Mount a share as yourself from any address with ', example,
        ' (port ' + portOf(mountToken.nfs) + ', also for mountport). It is a secret like your S3 key; rotating your credentials replaces it.'));
    card.hidden = false;
  }

  function hostOf(endpoint) {
    const i = (endpoint || '').lastIndexOf(':');
    return i > 0 ? endpoint.slice(0, i) : 'HOST';
  }

  function portOf(endpoint) {
    const i = (endpoint || '').lastIndexOf(':');
    return i > 0 ? endpoint.slice(i + 1) : '2049';
  }

  // ----- replication -----

  // The server lists no Replication panel: it is shown to admins and to whoever may see a
  // rule (a `replication` grant on a bucket), on a server that has the API.
  async function replicationVisible() {
    try {
      const rules = await api('GET', '/api/replication/rules');
      return me.admin || rules.length > 0;
    } catch (_) {
      return false;
    }
  }

  function ruleState(r) {
    if (r.paused) return 'paused';
    return r.backfilling ? 'backfilling' : 'active';
  }

  function rulePath(bucket) {
    return '/api/replication/rules/' + encodeURIComponent(bucket);
  }

  async function loadReplication() {
    // The configuration part only for whoever may list connections (admins).
    let connections = null;
    try {
      connections = await api('GET', '/api/replication/connections');
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 403)) showError(err);
    }
    const rules = await attempt(() => api('GET', '/api/replication/rules'));
    const admin = connections !== null;
    $('replication-admin').hidden = !admin;
    const tbody = $('replication-table').tBodies[0];
    clear(tbody);
    if (rules) {
      $('replication-empty').hidden = rules.length > 0;
      for (const r of rules) tbody.append(ruleRow(r, admin));
    }
    if (!admin) return;
    const ctbody = $('connections-table').tBodies[0];
    clear(ctbody);
    $('connections-empty').hidden = connections.length > 0;
    for (const c of connections) ctbody.append(connectionRow(c));
    const csel = $('rule-connection');
    const keepConn = csel.value;
    clear(csel);
    for (const c of connections) csel.append(el('option', { value: c.name, text: c.name }));
    if (keepConn) csel.value = keepConn;
    const buckets = await api('GET', '/api/buckets').catch(() => []);
    const bsel = $('rule-bucket');
    const keepBucket = bsel.value;
    clear(bsel);
    for (const b of buckets) {
      if (b.kind === 'system') continue;
      bsel.append(el('option', { value: b.name, text: b.name }));
    }
    if (keepBucket) bsel.value = keepBucket;
  }

  function ruleRow(r, admin) {
    const paused = r.paused;
    const actions = el('td', { class: 'actions' },
      el('button', {
        type: 'button',
        class: 'quiet',
        text: paused ? 'Resume' : 'Pause',
        onclick: async () => {
          const verb = paused ? 'resume' : 'pause';
          if (await attempt(() => api('POST', rulePath(r.bucket) + '/' + verb)) === undefined) return;
          flash((paused ? 'Resumed' : 'Paused') + ' replication of ' + r.bucket + '.', true);
          await loadReplication();
        },
      }),
      admin ? el('button', {
        type: 'button',
        class: 'danger',
        text: 'Remove',
        onclick: async () => {
          if (!window.confirm('Remove the replication rule of ' + r.bucket + '? Changes not sent yet are not sent.')) return;
          if (await attempt(() => api('DELETE', rulePath(r.bucket))) === undefined) return;
          flash('Removed the replication rule of ' + r.bucket + '.', true);
          await loadReplication();
        },
      }) : null);
    const target = r.connection + '/' + r.target_bucket + (r.prefix ? ' (keys ' + r.prefix + '…)' : '');
    return el('tr', { 'data-rule': r.bucket },
      el('td', {}, r.bucket, r.deletes ? el('span', { class: 'badge', text: 'deletes' }) : null),
      el('td', {}, el('code', { text: target })),
      el('td', { class: 'state', text: ruleState(r) }),
      el('td', { class: 'num', text: String(r.queued) }),
      el('td', { class: 'num', text: String(r.in_flight) }),
      el('td', { class: 'num', title: fmtBytes(r.replicated_bytes), text: String(r.replicated) }),
      el('td', { class: 'num', text: String(r.failed) }),
      el('td', { class: 'num', text: r.lag_seconds.toFixed(1) + ' s' }),
      el('td', { class: 'error-text', text: r.last_error || '' }),
      actions);
  }

  function connectionRow(c) {
    return el('tr', { 'data-connection': c.name },
      el('td', { text: c.name }),
      el('td', {}, el('code', { text: c.endpoint })),
      el('td', { text: c.region }),
      el('td', {}, el('code', { text: c.access_key })),
      el('td', { text: fmtTime(c.created_ms) }),
      el('td', { class: 'actions' }, el('button', {
        type: 'button',
        class: 'danger',
        text: 'Remove',
        onclick: async () => {
          if (!window.confirm('Remove connection ' + c.name + '?')) return;
          if (await attempt(() => api('DELETE', '/api/replication/connections/' + encodeURIComponent(c.name))) === undefined) return;
          flash('Removed connection ' + c.name + '.', true);
          await loadReplication();
        },
      })));
  }

  $('replication-refresh').addEventListener('click', () => loadReplication());

  $('rule-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const bucket = $('rule-bucket').value;
    const body = {
      connection: $('rule-connection').value,
      target_bucket: $('rule-target').value.trim(),
      prefix: $('rule-prefix').value,
      deletes: $('rule-deletes').checked,
      existing: $('rule-existing').checked,
    };
    const r = await attempt(() => api('PUT', rulePath(bucket), body));
    if (!r) return;
    flash('Replicating ' + r.bucket + ' to ' + r.connection + '/' + r.target_bucket + '.', true);
    $('rule-form').reset();
    await loadReplication();
  });

  $('connection-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      name: $('connection-name').value.trim(),
      endpoint: $('connection-endpoint').value.trim(),
      region: $('connection-region').value.trim(),
      access_key: $('connection-access-key').value.trim(),
      secret_key: $('connection-secret-key').value,
    };
    // The secret leaves the form whatever the answer: the server keeps it sealed.
    $('connection-secret-key').value = '';
    const c = await attempt(() => api('POST', '/api/replication/connections', body));
    if (!c) return;
    flash('Added connection ' + c.name + '.', true);
    $('connection-form').reset();
    await loadReplication();
  });

  // ----- storage -----

  async function loadStorage() {
    const st = await attempt(() => api('GET', '/api/storage'));
    if (!st) return;
    const limit = st.total_bytes_limit;
    $('storage-used').textContent = fmtBytes(st.used_bytes) + (limit ? ' of ' + fmtBytes(limit) : '');
    $('storage-bar').max = limit || 1;
    $('storage-bar').value = limit ? Math.min(st.used_bytes, limit) : 0;
    $('storage-bar').hidden = !limit;
    $('storage-objects').textContent = String(st.object_count);
    $('storage-disk').textContent = st.disk
      ? fmtBytes(st.disk.free_bytes) + ' of ' + fmtBytes(st.disk.total_bytes)
      : 'unknown';
    // The room a write really has, and which limit binds it (quota, server, disk).
    const room = (x) => x.available_bytes === null || x.available_bytes === undefined
      ? 'unlimited'
      : fmtBytes(x.available_bytes) + ' (' + x.binding + ' limit)';
    $('storage-room').textContent = room(st);
    const tbody = $('storage-table').tBodies[0];
    clear(tbody);
    for (const b of st.buckets) {
      const quota = b.quota_bytes
        ? fmtBytes(b.quota_bytes) + (b.quota_pct !== null && b.quota_pct !== undefined ? ' (' + b.quota_pct + ' %)' : '')
        : 'unlimited';
      const snapshots = b.snapshot_bytes === null || b.snapshot_bytes === undefined ? '' : fmtBytes(b.snapshot_bytes);
      tbody.append(el('tr', { 'data-bucket': b.name },
        el('td', { text: b.name }),
        el('td', { text: b.snapshot_of ? 'snapshot' : b.kind }),
        el('td', { class: 'num', text: fmtBytes(b.used_bytes) }),
        el('td', { class: 'num noncurrent', text: fmtBytes(b.noncurrent_bytes || 0) }),
        el('td', { class: 'num snapshots', text: snapshots }),
        el('td', { class: 'num', text: String(b.object_count) }),
        el('td', { class: 'num', text: quota }),
        el('td', { class: 'num', text: room(b) })));
    }
  }

  // ----- keys (the key service, SSE-KMS) -----

  // The Keys view is there for whoever may list keys (key admins, and users of some key).
  async function keysVisible() {
    try {
      await api('GET', '/api/kms/keys');
      return true;
    } catch (_) {
      return false;
    }
  }

  function keyPath(k, action) {
    return '/api/kms/keys/' + encodeURIComponent(k.id) + (action ? '/' + action : '');
  }

  // `body` undefined for the actions that take none (the server refuses a body there).
  async function keyAction(k, action, body, done) {
    const r = await attempt(() => api('POST', keyPath(k, action), body));
    if (!r) return;
    flash(done(r), true);
    await loadKeys();
  }

  async function loadKeys() {
    const keys = await attempt(() => api('GET', '/api/kms/keys'));
    const tbody = $('keys-table').tBodies[0];
    clear(tbody);
    if (!keys) return;
    $('keys-empty').hidden = keys.length > 0;
    for (const k of keys) {
      const name = k.alias ? 'alias/' + k.alias : k.id;
      const buttons = [];
      const button = (text, onclick, cls) => buttons.push(el('button', { type: 'button', class: cls || 'quiet', text, onclick }));
      if (k.state === 'Enabled') {
        button('Rotate', () => keyAction(k, 'rotate', undefined, (r) => name + ': new material, version ' + r.current_version + '.'));
        button('Disable', async () => {
          if (!window.confirm('Disable ' + name + '? Nothing encrypted with it can be read until it is enabled again.')) return;
          await keyAction(k, 'disable', undefined, () => name + ' is disabled.');
        });
      }
      if (k.state === 'Disabled') button('Enable', () => keyAction(k, 'enable', undefined, () => name + ' is enabled.'));
      if (k.state === 'Enabled' || k.state === 'Disabled') {
        button('Schedule deletion', async () => {
          const days = window.prompt('Delete ' + name + ' after how many days (7-30)? Then what it encrypted can never be read.', '30');
          if (days === null) return;
          await keyAction(k, 'schedule-deletion', { days: Number(days) }, (r) => name + ' will be deleted on ' + fmtTime(r.deletion_due_ms) + '.');
        }, 'danger');
      }
      if (k.state === 'PendingDeletion') button('Cancel deletion', () => keyAction(k, 'cancel-deletion', undefined, () => name + ': deletion cancelled; the key is disabled.'));
      button('Audit', () => loadKeyAudit(k, name));
      tbody.append(el('tr', { 'data-key': k.id },
        el('td', { title: k.arn }, el('code', { text: k.id })),
        el('td', { text: k.alias ? 'alias/' + k.alias : '' }),
        el('td', { class: 'key-state', text: k.state }),
        el('td', { class: 'num', text: String(k.current_version) }),
        el('td', { text: fmtTime(k.created_ms) + (k.creator ? ' by ' + k.creator : '') }),
        el('td', { text: k.deletion_due_ms ? fmtTime(k.deletion_due_ms) : (k.deleted_ms ? 'deleted ' + fmtTime(k.deleted_ms) : '') }),
        el('td', { class: 'actions' }, buttons)));
    }
  }

  async function loadKeyAudit(k, name) {
    const events = await attempt(() => api('GET', keyPath(k, 'audit') + '?limit=200'));
    if (!events) return;
    $('key-audit').hidden = false;
    $('key-audit-title').textContent = 'Audit of ' + name;
    const tbody = $('key-audit-table').tBodies[0];
    clear(tbody);
    for (const e of events) {
      // (no object: uses under S3 Bucket Keys, counted per bucket)
      const target = e.bucket ? e.bucket + '/' + (e.object === null || e.object === undefined ? '*' : e.object) : '';
      tbody.append(el('tr', {},
        el('td', { text: fmtTime(e.time_ms) }),
        el('td', { title: e.actor_id, text: e.actor }),
        el('td', { text: e.op }),
        el('td', { class: 'num', text: e.version === null || e.version === undefined ? '' : String(e.version) }),
        el('td', { text: target }),
        el('td', { text: (e.allowed ? 'ok' : 'refused: ' + (e.reason || '')) + (e.count > 1 ? ' (x' + e.count + ')' : '') })));
    }
  }

  $('key-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { alias: $('key-alias').value.trim() || null, description: $('key-description').value.trim() };
    const k = await attempt(() => api('POST', '/api/kms/keys', body));
    if (!k) return;
    flash('Created key ' + (k.alias ? 'alias/' + k.alias + ' (' + k.id + ')' : k.id) + '.', true);
    $('key-form').reset();
    await loadKeys();
  });

  const LOADERS = {
    s3: (bucket) => loadBuckets(bucket),
    shares: () => loadShares(),
    bindings: () => loadBindings(),
    groups: () => loadGroups(),
    users: () => loadUsers(),
    'peers-mgmt': () => loadPeers(),
    replication: () => loadReplication(),
    keys: () => loadKeys(),
    storage: () => loadStorage(),
  };

  // ----- start -----

  (async () => {
    try {
      const resp = await fetch('/api/session', { credentials: 'same-origin' });
      if (!resp.ok) {
        showSignIn();
        return;
      }
      session = await resp.json();
      await enterApp();
    } catch (err) {
      showSignIn('Could not reach the server: ' + err.message);
    }
  })();
})();
