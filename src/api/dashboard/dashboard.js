// sqsn dashboard: polls /dashboard/api/state and draws it. Plain DOM, no
// framework, no build step; every value goes in with textContent.
'use strict';

(function () {
  const POLL_MS = 2000;
  const HISTORY = 30; // points per sparkline

  let csrf = null;
  let timer = null;
  // Answers to requests sent before the last sign-in or sign-out, or older
  // than one already drawn, are dropped: they would undo it.
  let epoch = 0;
  let sent = 0;
  let drawn = 0;
  let last = null; // the previous state, for rates
  const history = new Map(); // queue -> {sent: [], received: []}

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else if (k.startsWith('data-')) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function num(n) {
    if (n === null || n === undefined) return '–';
    return Number(n).toLocaleString('en-US');
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    const s = Math.round(Number(seconds));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }

  function bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let v = Number(n);
    let u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return (u === 0 ? v : v.toFixed(1)) + ' ' + units[u];
  }

  function when(ts) {
    if (!ts) return 'never';
    const d = new Date(ts);
    return isNaN(d) ? String(ts) : d.toLocaleString();
  }

  function tag(text, kind) {
    return el('span', { class: 'tag' + (kind ? ' ' + kind : '') }, text);
  }

  async function call(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    if (method === 'POST' && csrf) opts.headers['X-Sqsn-Csrf'] = csrf;
    const res = await fetch('/dashboard/api/' + path, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    return { status: res.status, data };
  }

  // Sparklines ------------------------------------------------------------

  function sparkline(points, label) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 110 26');
    svg.setAttribute('role', 'img');
    const max = Math.max(1, ...points);
    const step = points.length > 1 ? 80 / (points.length - 1) : 0;
    const coords = points.map((p, i) =>
      (i * step).toFixed(1) + ',' + (24 - (p / max) * 22).toFixed(1));
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', coords.join(' '));
    svg.append(line);
    const text = document.createElementNS(ns, 'text');
    text.setAttribute('x', '84');
    text.setAttribute('y', '17');
    text.setAttribute('class', 'rate');
    const current = points.length ? points[points.length - 1] : 0;
    text.textContent = current >= 10 ? Math.round(current) : current.toFixed(1);
    svg.append(text);
    svg.setAttribute('aria-label', label + ': ' + text.textContent + ' per second');
    return svg;
  }

  function recordRates(state) {
    const now = Date.parse(state.server.now);
    const before = last ? new Map(last.queues.map((q) => [q.name, q])) : new Map();
    const dt = last ? (now - Date.parse(last.server.now)) / 1000 : 0;
    for (const q of state.queues) {
      const h = history.get(q.name) || { sent: [], received: [] };
      const p = before.get(q.name);
      if (p && dt > 0) {
        const rate = (a, b) => Math.max(0, ((a ?? 0) - (b ?? 0)) / dt);
        h.sent.push(rate(q.sent, p.sent));
        h.received.push(rate(q.received, p.received));
        if (h.sent.length > HISTORY) h.sent.shift();
        if (h.received.length > HISTORY) h.received.shift();
      }
      history.set(q.name, h);
    }
  }

  // Actions ---------------------------------------------------------------

  // A button that asks once more before it acts.
  function actionButton(label, kind, body, confirmText) {
    const b = el('button', { type: 'button', class: kind || '' }, label);
    b.dataset.action = body.action;
    let armed = null;
    b.addEventListener('click', async () => {
      if (confirmText && !armed) {
        b.textContent = confirmText;
        b.classList.add('confirm');
        armed = setTimeout(() => {
          armed = null;
          b.textContent = label;
          b.classList.remove('confirm');
        }, 5000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      b.disabled = true;
      const { status, data } = await call('POST', 'action', body);
      const msg = $('action-message');
      if (status === 200) {
        msg.className = 'message';
        msg.textContent = describe(body, data);
      } else {
        msg.className = 'message error';
        msg.textContent = (data && data.error) || ('failed: HTTP ' + status);
      }
      refresh();
    });
    return b;
  }

  function describe(body, data) {
    switch (body.action) {
      case 'purge': return 'Purged ' + body.queue + ': ' + data.result + ' message(s) removed.';
      case 'redrive': return 'Redrove ' + data.result + ' message(s) out of ' + body.queue + '.';
      case 'pause': return 'Paused subscription ' + body.subscription + '.';
      case 'resume': return 'Resumed subscription ' + body.subscription + '.';
      case 'pause_mapping': return 'Paused event source mapping ' + body.mapping + '.';
      case 'resume_mapping': return 'Resumed event source mapping ' + body.mapping + '.';
      default: return 'Done.';
    }
  }

  // Rendering -------------------------------------------------------------

  function fill(tbody, rows, columns, emptyText) {
    tbody.replaceChildren(...rows);
    if (rows.length === 0) {
      tbody.append(el('tr', {}, el('td', { class: 'empty', colSpan: columns }, emptyText)));
    }
  }

  function renderQueues(state) {
    const rows = state.queues.map((q) => {
      const h = history.get(q.name) || { sent: [], received: [] };
      const actions = el('td');
      if (q.can_admin) {
        actions.append(actionButton('Purge', 'danger', { action: 'purge', queue: q.name },
          'Purge all?'));
      }
      const oldest = q.oldest_age;
      return el('tr', { 'data-queue': q.name },
        el('td', { class: 'name' }, q.name),
        el('td', {}, q.kind),
        el('td', { class: 'num visible' }, num(q.visible)),
        el('td', { class: 'num in-flight' }, num(q.in_flight)),
        el('td', { class: 'num delayed' }, num(q.delayed)),
        el('td', { class: 'num oldest' }, q.visible + q.in_flight + q.delayed > 0 ? age(oldest) : '–'),
        el('td', {}, sparkline(h.sent, 'sent')),
        el('td', {}, sparkline(h.received, 'received')),
        el('td', {}, q.dead_letter_queue ? q.dead_letter_queue + ' (after ' + q.max_receive_count + ')' : '–'),
        actions);
    });
    fill($('queues').tBodies[0], rows, 10, 'No queues you may see.');
  }

  function renderDlqs(state) {
    const dlqs = state.queues.filter((q) => q.sources.length > 0 || q.subscription_sources > 0);
    const rows = dlqs.map((q) => {
      const actions = el('td');
      if (q.can_admin && q.sources.length > 0) {
        actions.append(actionButton('Redrive', '', { action: 'redrive', queue: q.name }));
      }
      const sources = q.sources.slice();
      if (q.subscription_sources > 0) sources.push(q.subscription_sources + ' subscription(s)');
      const depth = q.visible + q.in_flight + q.delayed;
      return el('tr', { 'data-dlq': q.name },
        el('td', { class: 'name' }, q.name),
        el('td', { class: 'num depth' }, depth > 0 ? tag(num(depth), 'bad') : '0'),
        el('td', {}, sources.join(', ')),
        el('td', { class: 'num' }, num(state.queues
          .filter((s) => q.sources.includes(s.name))
          .reduce((a, s) => a + (s.dead_lettered || 0), 0))),
        el('td', { class: 'num' }, num(q.redriven)),
        actions);
    });
    fill($('dlqs').tBodies[0], rows, 6, 'No queue is a dead-letter queue.');
  }

  function renderSubscriptions(state) {
    const rows = [];
    for (const t of state.topics) {
      if (t.subscriptions.length === 0) {
        rows.push(el('tr', { 'data-topic': t.name },
          el('td', { class: 'name' }, t.name),
          el('td', { class: 'empty', colSpan: 10 }, 'no subscriptions')));
      }
      for (const s of t.subscriptions) {
        const push = s.protocol !== 'sqs';
        const state = !s.confirmed ? tag('pending confirmation', 'warn')
          : s.paused ? tag('paused', 'warn') : tag('active', 'good');
        const actions = el('td');
        if (push && s.can_admin && s.confirmed) {
          actions.append(s.paused
            ? actionButton('Resume', '', { action: 'resume', subscription: s.id })
            : actionButton('Pause', '', { action: 'pause', subscription: s.id }));
        }
        rows.push(el('tr', { 'data-subscription': s.id, 'data-topic': t.name },
          el('td', { class: 'name' }, t.name),
          el('td', {}, s.protocol),
          el('td', { class: 'endpoint' }, s.endpoint),
          el('td', { class: 'state' }, state),
          el('td', { class: 'num' }, push ? num(s.pending) : '–'),
          el('td', { class: 'num' }, push ? num(s.delivered) : '–'),
          el('td', { class: 'num' }, push ? (s.failed > 0 ? tag(num(s.failed), 'bad') : '0') : '–'),
          el('td', { class: 'num' }, s.retries !== undefined ? num(s.retries) : '–'),
          el('td', { class: 'num' }, s.latency_ms_avg !== undefined && s.posts > 0
            ? s.latency_ms_avg.toFixed(0) + ' ms' : '–'),
          el('td', { class: 'error' }, s.last_error ? s.last_error + ' (' + when(s.last_error_at) + ')' : ''),
          actions));
      }
    }
    fill($('subscriptions').tBodies[0], rows, 11, 'No topics you may see.');
  }

  function renderMappings(state) {
    const rows = (state.mappings || []).map((m) => {
      const actions = el('td');
      if (m.can_admin) {
        // a mapping sqsn paused itself resumes the same way
        actions.append(m.state === 'enabled'
          ? actionButton('Pause', '', { action: 'pause_mapping', mapping: m.id })
          : actionButton('Resume', '', { action: 'resume_mapping', mapping: m.id }));
      }
      const state = m.state === 'enabled' ? tag('enabled', 'good')
        : m.state === 'paused' ? tag('paused: ' + (m.paused_reason || ''), 'bad')
        : tag('disabled', 'warn');
      return el('tr', { 'data-mapping': m.id, 'data-queue': m.queue },
        el('td', { class: 'name' }, m.queue),
        el('td', { class: 'function' }, m.function),
        el('td', { class: 'state' }, state),
        el('td', { class: 'num invocations' }, num(m.invocations)),
        el('td', { class: 'num errors' }, m.errors > 0 ? tag(num(m.errors), 'bad') : '0'),
        el('td', { class: 'num' }, m.avg_duration_ms !== null && m.avg_duration_ms !== undefined
          ? Number(m.avg_duration_ms).toFixed(0) + ' ms' : '–'),
        el('td', {}, when(m.last_invocation_at)),
        actions);
    });
    fill($('mappings').tBodies[0], rows, 8, 'No event source mappings on the queues you may see.');
  }

  function renderWorkers(state) {
    const p = state.server.processes || {};
    const m = state.server.maintenance;
    const line = (label, value) => el('tr', {}, el('th', {}, label), el('td', {}, value));
    const running = (n) => n > 0 ? tag(n + ' running', 'good') : tag('not running', 'bad');
    const rows = [
      line('maintenance worker', running(p['sqsn worker'] || 0)),
      line('last sweep', m ? when(m.last_sweep_at) + (m.last_error ? ' – ' + m.last_error : '') : '–'),
      line('delivery worker', running(p['sqsn delivery worker'] || 0)),
      line('endpoint workers', running(p['sqsn api'] || 0)),
      line('push outbox', num(state.server.outbox_pending) + ' pending'),
      line('oldest snapshot', age(state.server.xmin_horizon_age)),
    ];
    $('workers').tBodies[0].replaceChildren(...rows);
  }

  function renderStorage(state) {
    const rows = state.queues.map((q) => {
      const dead = q.dead_tuples || 0;
      const live = q.live_tuples || 0;
      const bloat = dead > 1000 && dead > live;
      return el('tr', { 'data-storage': q.name },
        el('td', { class: 'name' }, q.name),
        el('td', { class: 'num' }, bytes(q.size_bytes)),
        el('td', { class: 'num' }, num(live)),
        el('td', { class: 'num' }, bloat ? tag(num(dead), 'warn') : num(dead)),
        el('td', {}, when(q.last_vacuum)),
        el('td', { class: 'num' }, q.low_water_hard !== null && q.low_water_hard !== undefined
          ? num(q.low_water_hard) : '–'));
    });
    fill($('storage').tBodies[0], rows, 6, 'No queues.');
  }

  function render(state) {
    recordRates(state);
    last = state;
    $('whoami').textContent = 'signed in as ' + state.role +
      (state.sqsn_admin ? ' (sqsn_admin)' : '');
    $('whoami').hidden = false;
    $('signout').hidden = false;
    $('signin').hidden = true;
    $('board').hidden = false;
    renderQueues(state);
    renderDlqs(state);
    renderSubscriptions(state);
    renderMappings(state);
    renderWorkers(state);
    renderStorage(state);
    $('status').textContent = 'Updated ' + new Date(state.server.now).toLocaleTimeString() +
      '; every ' + POLL_MS / 1000 + ' s.';
  }

  function showSignIn() {
    csrf = null;
    last = null;
    history.clear();
    clearInterval(timer);
    timer = null;
    $('board').hidden = true;
    $('whoami').hidden = true;
    $('signout').hidden = true;
    $('signin').hidden = false;
  }

  async function refresh() {
    const mine = epoch;
    const seq = ++sent;
    let res;
    try {
      res = await call('GET', 'state');
    } catch (e) {
      if (mine === epoch) $('status').textContent = 'Cannot reach the server: ' + e.message;
      return;
    }
    if (mine !== epoch || seq < drawn) return;
    drawn = seq;
    if (res.status === 401) {
      showSignIn();
      return;
    }
    if (res.status !== 200 || !res.data) {
      $('status').textContent = 'Update failed: ' + ((res.data && res.data.error) || 'HTTP ' + res.status);
      return;
    }
    csrf = res.data.csrf;
    render(res.data);
    if (!timer) timer = setInterval(refresh, POLL_MS);
  }

  $('signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const { status, data } = await call('POST', 'login', {
      access_key_id: $('key').value.trim(),
      secret_access_key: $('secret').value,
    });
    $('secret').value = '';
    if (status !== 200) {
      $('signin-error').textContent = (data && data.error) || ('sign-in failed: HTTP ' + status);
      return;
    }
    $('signin-error').textContent = '';
    epoch++;
    csrf = data.csrf;
    refresh();
  });

  $('signout').addEventListener('click', async () => {
    epoch++;
    clearInterval(timer);
    timer = null;
    await call('POST', 'logout', {});
    showSignIn();
  });

  refresh();
})();
