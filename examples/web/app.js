// The live users table: plain DOM, one mqttspec client, one subscription that follows the filter box.
import { connect } from '/client/index.js';

const params = new URLSearchParams(location.search);
const WS_URL = params.get('ws') || 'ws://127.0.0.1:8083/mqtt';
const CLIENT_ID = `web-${crypto.randomUUID().slice(0, 8)}`;
const ENTITY = 'users';

const $ = (id) => document.getElementById(id);
const rowsEl = $('rows');
const form = $('form');

/** @type {import('/client/index.js').MqttspecClient | undefined} */
let client;
let subscription;
/** id → row currently shown */
const rows = new Map();
let editing = null; // id of the row in the form, or null
let generation = 0; // bumps on every (re)load, so that a stale load never paints

// ---------- connection ----------

function showState(state, text) {
  const el = $('conn');
  el.dataset.state = state;
  $('conn-text').textContent = text;
}

const STATE_TEXT = { connecting: 'Connecting…', connected: 'Live', reconnecting: 'Reconnecting…', closed: 'Closed' };

async function start() {
  $('client-id').textContent = CLIENT_ID;
  $('broker-url').textContent = WS_URL;
  for (let attempt = 0; ; attempt++) {
    try {
      client = await connect({ url: WS_URL, clientId: CLIENT_ID, timeout: 8000 });
      break;
    } catch (e) {
      showState('offline', 'Offline');
      showError(e);
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 10_000)));
      showState('connecting', 'Connecting…');
    }
  }
  hideError();
  showState('connected', STATE_TEXT.connected);
  client.on('state', (s) => showState(s, STATE_TEXT[s] ?? s));
  client.on('error', (e) => console.warn('mqttspec:', e.code, e.message));
  await load();
}

// ---------- loading and live changes ----------

function filtersFor(text) {
  const q = text.trim();
  if (!q) return [];
  return [{ or: ['name', 'email', 'status'].map((column) => ({ column, operator: 'contains', value: q })) }];
}

/** Subscribe first, then read, then apply what arrived meanwhile: no change falls in between. */
async function load() {
  const gen = ++generation;
  const filters = filtersFor($('filter').value);
  const buffered = [];
  let loaded = false;
  const old = subscription;
  subscription = undefined;
  old?.unsubscribe().catch(() => {});
  try {
    const sub = await client.subscribe(ENTITY, { filters, onResync: () => gen === generation && load() }, (n) => {
      if (gen !== generation) return;
      if (loaded) apply(n);
      else buffered.push(n);
    });
    if (gen !== generation) {
      sub.unsubscribe().catch(() => {});
      return;
    }
    subscription = sub;
    const { data } = await client.read(ENTITY, { filters, sort: [{ column: 'id', direction: 'asc' }], limit: 500 });
    if (gen !== generation) return;
    rows.clear();
    for (const r of data) rows.set(r.id, r);
    renderAll();
    loaded = true;
    for (const n of buffered) apply(n);
  } catch (e) {
    if (gen === generation) showError(e);
  }
}

function apply(n) {
  const row = n.data;
  if (n.scope === 'leave') {
    rows.delete(row.id);
    const tr = rowEl(row.id);
    if (tr) {
      tr.classList.add('leaving');
      tr.dataset.leaving = 'true';
      setTimeout(() => {
        tr.remove();
        renderEmptyAndCount();
      }, 700);
    }
    if (editing === row.id) resetForm();
  } else {
    const existed = rows.has(row.id);
    rows.set(row.id, row);
    const tr = existed ? updateRow(row) : insertRow(row);
    flash(tr, n.scope === 'enter' && !existed ? 'flash-enter' : 'flash-stay');
  }
  renderEmptyAndCount();
  logActivity(n);
}

// ---------- rendering ----------

const rowEl = (id) => rowsEl.querySelector(`tr[data-id="${CSS.escape(String(id))}"]`);

function cell(cls, text) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  if (text !== undefined) td.textContent = text;
  return td;
}

function buildRow(row) {
  const tr = document.createElement('tr');
  tr.dataset.id = String(row.id);
  fillRow(tr, row);
  return tr;
}

function fillRow(tr, row) {
  tr.dataset.email = row.email;
  const status = cell('status');
  if (row.status) {
    const badge = document.createElement('span');
    badge.className = `badge ${row.status.replace(/[^a-z0-9_-]/gi, '')}`;
    badge.textContent = row.status;
    status.append(badge);
  } else {
    status.innerHTML = '<span class="muted">—</span>';
  }
  const actions = cell('actions');
  const edit = document.createElement('button');
  edit.type = 'button';
  edit.className = 'small';
  edit.textContent = 'Edit';
  edit.dataset.action = 'edit';
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'small danger';
  del.textContent = 'Delete';
  del.dataset.action = 'delete';
  actions.append(edit, del);
  tr.replaceChildren(cell('num', String(row.id)), cell('name', row.name), cell('email', row.email), status, actions);
  tr.classList.toggle('editing', editing === row.id);
}

function insertRow(row) {
  const tr = buildRow(row);
  const after = [...rowsEl.querySelectorAll('tr[data-id]')].find((el) => Number(el.dataset.id) > row.id);
  rowsEl.insertBefore(tr, after ?? null);
  return tr;
}

function updateRow(row) {
  const tr = rowEl(row.id);
  if (!tr || tr.dataset.leaving) return insertRow(row);
  fillRow(tr, row);
  return tr;
}

const flashTimers = new WeakMap();
function flash(tr, cls) {
  tr.classList.remove('flash-enter', 'flash-stay');
  void tr.offsetWidth; // restart the animation
  tr.classList.add(cls);
  clearTimeout(flashTimers.get(tr));
  flashTimers.set(tr, setTimeout(() => tr.classList.remove(cls), 1700)); // the animation lasts 1.6 s
}

function renderAll() {
  rowsEl.replaceChildren(...[...rows.values()].sort((a, b) => a.id - b.id).map(buildRow));
  renderEmptyAndCount();
}

function renderEmptyAndCount() {
  $('count').textContent = String(rows.size);
  const empty = rowsEl.querySelector('tr.empty');
  const visible = rowsEl.querySelectorAll('tr[data-id]').length;
  if (visible === 0 && !empty) {
    const tr = document.createElement('tr');
    tr.className = 'empty';
    tr.append(cell('', $('filter').value.trim() ? 'No user matches the filter.' : 'No users yet — create one with the form.'));
    tr.firstChild.colSpan = 5;
    rowsEl.append(tr);
  } else if (visible > 0 && empty) {
    empty.remove();
  }
}

function logActivity(n) {
  const list = $('activity');
  list.querySelector('.muted')?.remove();
  const li = document.createElement('li');
  const seq = document.createElement('span');
  seq.className = 'seq';
  seq.textContent = `#${n.seq}`;
  const scope = document.createElement('span');
  scope.className = `scope ${n.scope}`;
  scope.textContent = n.scope;
  const what = document.createElement('span');
  what.textContent = n.data.name ?? `#${n.data.id}`;
  what.title = `${n.operation} of user #${n.data.id}`;
  const time = document.createElement('time');
  time.textContent = new Date(n.timestamp || Date.now()).toLocaleTimeString([], { hour12: false });
  li.append(seq, scope, what, time);
  list.prepend(li);
  while (list.children.length > 7) list.lastChild.remove();
}

// ---------- errors ----------

let errorTimer;
function showError(e) {
  $('error-code').textContent = e?.code ?? 'error';
  $('error-message').textContent = e?.message ?? String(e);
  $('error').hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(hideError, 10_000);
}
function hideError() {
  $('error').hidden = true;
}
$('error-close').addEventListener('click', hideError);

// ---------- forms ----------

function resetForm() {
  editing = null;
  form.reset();
  $('form-title').textContent = 'New user';
  $('submit').textContent = 'Create user';
  $('cancel').hidden = true;
  for (const tr of rowsEl.querySelectorAll('tr.editing')) tr.classList.remove('editing');
}

function startEdit(id) {
  const row = rows.get(id);
  if (!row) return;
  resetForm();
  editing = id;
  $('f-name').value = row.name;
  $('f-email').value = row.email;
  $('f-status').value = row.status ?? '';
  $('form-title').textContent = `Edit user #${id}`;
  $('submit').textContent = 'Save changes';
  $('cancel').hidden = false;
  rowEl(id)?.classList.add('editing');
  $('f-name').focus();
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('f-name').value.trim();
  const email = $('f-email').value.trim();
  const status = $('f-status').value || null;
  const button = $('submit');
  button.disabled = true;
  try {
    if (editing === null) {
      // Empty fields are left out, so that the server says what is missing, in its own words.
      const data = { ...(name && { name }), ...(email && { email }), ...(status && { status }) };
      await client.create(ENTITY, data);
    } else {
      await client.update(ENTITY, editing, { name, email, status });
    }
    hideError();
    resetForm();
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
  }
});
$('cancel').addEventListener('click', resetForm);

rowsEl.addEventListener('click', async (ev) => {
  const button = ev.target.closest('button[data-action]');
  if (!button) return;
  const id = Number(button.closest('tr').dataset.id);
  if (button.dataset.action === 'edit') {
    startEdit(id);
    return;
  }
  // Delete asks once more on the button itself.
  if (!button.classList.contains('confirm')) {
    button.classList.add('confirm');
    button.textContent = 'Confirm';
    setTimeout(() => {
      button.classList.remove('confirm');
      button.textContent = 'Delete';
    }, 3000);
    return;
  }
  button.disabled = true;
  try {
    await client.delete(ENTITY, id);
    if (editing === id) resetForm();
  } catch (e) {
    showError(e);
    button.disabled = false;
  }
});

let filterTimer;
$('filter').addEventListener('input', () => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => client && load(), 250);
});

start();
