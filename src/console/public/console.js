/* pinnokio operator console: polls /admin/api/overview, draws uPlot charts, streams the user view.
 * Plain ES5-ish browser JavaScript, no build step. All text goes through textContent (never innerHTML). */
(function () {
  'use strict';
  var POLL_MS = 2000;
  var KEEP = 180; // points per chart (6 minutes at 2 s)
  var COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569', '#ea580c'];

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) {
      var td = document.createElement('td');
      if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? '' : String(c);
      tr.appendChild(td);
    });
    return tr;
  }
  function tags(list, cls) {
    var span = document.createElement('span');
    list.forEach(function (t) { span.appendChild(el('span', t, 'tag' + (cls ? ' ' + cls : ''))); });
    return span;
  }
  function fmtAge(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function fmtTime(ms) { return ms ? new Date(ms).toLocaleTimeString() : '—'; }
  function replaceBody(table, rows) {
    var tbody = table.tBodies[0];
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }

  // ---- rates and quantiles from consecutive cumulative snapshots ----------------------------
  var prev = Object.create(null); // instance -> {at, m}
  var rates = Object.create(null); // instance -> latest rates

  function histDelta(a, b) {
    if (!a || !b || a.buckets.length !== b.buckets.length) return null;
    return b.buckets.map(function (bk, i) { return [bk[0], Math.max(0, bk[1] - a.buckets[i][1])]; });
  }
  function sumHists(list) {
    var out = null;
    list.forEach(function (h) {
      if (!h) return;
      if (!out) { out = h.map(function (b) { return [b[0], b[1]]; }); return; }
      if (out.length !== h.length) return;
      h.forEach(function (b, i) { out[i][1] += b[1]; });
    });
    return out;
  }
  /** Quantile (ms) from cumulative bucket counts, interpolated inside the bucket; null without data. */
  function quantile(buckets, q) {
    if (!buckets || buckets.length === 0) return null;
    var total = buckets[buckets.length - 1][1];
    if (total <= 0) return null;
    var target = q * total, lower = 0, below = 0;
    for (var i = 0; i < buckets.length; i++) {
      var le = buckets[i][0], cum = buckets[i][1];
      if (cum >= target) {
        if (le === null) return lower * 1000;
        var inBucket = cum - below;
        var frac = inBucket > 0 ? (target - below) / inBucket : 1;
        return (lower + (le - lower) * frac) * 1000;
      }
      if (le !== null) lower = le;
      below = cum;
    }
    return lower * 1000;
  }

  function updateRates(nodes) {
    var seen = Object.create(null);
    nodes.forEach(function (n) {
      seen[n.instance_id] = true;
      var p = prev[n.instance_id];
      if (p && n.reported_at > p.at) {
        var dt = (n.reported_at - p.at) / 1000, a = p.m, b = n.metrics;
        var ev = Object.create(null);
        Object.keys(b.events_by_type).forEach(function (t) { ev[t] = Math.max(0, b.events_by_type[t] - (a.events_by_type[t] || 0)) / dt; });
        rates[n.instance_id] = {
          events: ev,
          rpc: Math.max(0, b.rpc_requests - a.rpc_requests) / dt,
          rpcHist: histDelta(a.rpc_duration, b.rpc_duration),
          qwHist: histDelta(a.queue_wait, b.queue_wait),
          jdHist: histDelta(a.job_duration, b.job_duration),
          connects: Math.max(0, b.socket_connects - a.socket_connects) / dt,
          disconnects: Math.max(0, b.socket_disconnects - a.socket_disconnects) / dt,
          fallbacks: Math.max(0, b.registry_fallbacks - a.registry_fallbacks) / dt,
        };
      }
      if (!p || n.reported_at > p.at) prev[n.instance_id] = { at: n.reported_at, m: n.metrics };
    });
    Object.keys(prev).forEach(function (id) { if (!seen[id]) { delete prev[id]; delete rates[id]; } });
  }

  // ---- charts ---------------------------------------------------------------------------------
  var data = { t: [], events: Object.create(null), rpc: [], p50: [], p99: [], qw50: [], qw99: [], jd50: [], jd99: [], conn: [], disc: [], fb: [] };
  var charts = Object.create(null);

  function push(arr, v) { arr.push(v); if (arr.length > KEEP) arr.shift(); }

  function makeChart(id, seriesDefs, columns) {
    var box = $(id);
    if (charts[id]) { charts[id].destroy(); }
    var width = Math.max(320, box.clientWidth || 460);
    var opts = {
      width: width, height: 200,
      series: [{}].concat(seriesDefs.map(function (s, i) { return { label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, scale: s.scale || 'y', spanGaps: true }; })),
      axes: [{}, { scale: 'y' }].concat(seriesDefs.some(function (s) { return s.scale === 'ms'; }) && seriesDefs.some(function (s) { return (s.scale || 'y') === 'y'; }) ? [{ scale: 'ms', side: 1, grid: { show: false } }] : []),
      scales: { x: { time: true } },
      legend: { live: false },
    };
    charts[id] = new uPlot(opts, columns, box);
  }

  function drawCharts() {
    var types = Object.keys(data.events).sort();
    var evCols = [data.t].concat(types.map(function (t) { return data.events[t]; }));
    var evKey = types.join('|');
    if (!charts['chart-events'] || charts['chart-events']._key !== evKey) {
      makeChart('chart-events', types.length ? types.map(function (t) { return { label: t }; }) : [{ label: 'events/s' }], types.length ? evCols : [data.t, data.t.map(function () { return 0; })]);
      charts['chart-events']._key = evKey;
    } else charts['chart-events'].setData(evCols);

    if (!charts['chart-rpc']) makeChart('chart-rpc', [{ label: 'calls/s' }, { label: 'p50 ms', scale: 'ms' }, { label: 'p99 ms', scale: 'ms' }], [data.t, data.rpc, data.p50, data.p99]);
    else charts['chart-rpc'].setData([data.t, data.rpc, data.p50, data.p99]);
    if (!charts['chart-jobs']) makeChart('chart-jobs', [{ label: 'queue wait p50', scale: 'ms' }, { label: 'queue wait p99', scale: 'ms' }, { label: 'job p50', scale: 'ms' }, { label: 'job p99', scale: 'ms' }], [data.t, data.qw50, data.qw99, data.jd50, data.jd99]);
    else charts['chart-jobs'].setData([data.t, data.qw50, data.qw99, data.jd50, data.jd99]);
    if (!charts['chart-sockets']) makeChart('chart-sockets', [{ label: 'connects/s' }, { label: 'disconnects/s' }, { label: 'registry fallbacks/s' }], [data.t, data.conn, data.disc, data.fb]);
    else charts['chart-sockets'].setData([data.t, data.conn, data.disc, data.fb]);
    var n = data.t.length;
    ['chart-events', 'chart-rpc', 'chart-jobs', 'chart-sockets'].forEach(function (id) { $(id).dataset.points = String(n); });
    var lastEvents = types.reduce(function (a, t) { return a + (data.events[t][n - 1] || 0); }, 0);
    $('chart-events').dataset.last = lastEvents.toFixed(3);
    $('chart-events').dataset.types = types.join(' ');
    $('chart-rpc').dataset.last = String(data.rpc[n - 1] || 0);
  }

  function addPoint() {
    var ids = Object.keys(rates);
    if (ids.length === 0) return;
    var sum = function (f) { return ids.reduce(function (a, id) { return a + f(rates[id]); }, 0); };
    push(data.t, Date.now() / 1000);
    var types = Object.create(null);
    ids.forEach(function (id) { Object.keys(rates[id].events).forEach(function (t) { types[t] = true; }); });
    Object.keys(types).forEach(function (t) {
      if (!data.events[t]) data.events[t] = data.t.slice(0, -1).map(function () { return null; });
    });
    Object.keys(data.events).forEach(function (t) {
      var arr = data.events[t];
      push(arr, sum(function (r) { return r.events[t] || 0; }));
      while (arr.length > data.t.length) arr.shift();
    });
    push(data.rpc, sum(function (r) { return r.rpc; }));
    var rh = sumHists(ids.map(function (id) { return rates[id].rpcHist; }));
    push(data.p50, quantile(rh, 0.5)); push(data.p99, quantile(rh, 0.99));
    var qh = sumHists(ids.map(function (id) { return rates[id].qwHist; }));
    push(data.qw50, quantile(qh, 0.5)); push(data.qw99, quantile(qh, 0.99));
    var jh = sumHists(ids.map(function (id) { return rates[id].jdHist; }));
    push(data.jd50, quantile(jh, 0.5)); push(data.jd99, quantile(jh, 0.99));
    push(data.conn, sum(function (r) { return r.connects; }));
    push(data.disc, sum(function (r) { return r.disconnects; }));
    push(data.fb, sum(function (r) { return r.fallbacks; }));
    drawCharts();
  }

  // ---- overview tables --------------------------------------------------------------------------
  function renderOverview(d) {
    var nodes = d.nodes;
    $('node-count').textContent = '(' + nodes.length + ')';
    replaceBody($('nodes'), nodes.map(function (n) {
      var age = d.now - n.reported_at;
      var deps = tags(n.dependencies.map(function (x) { return x.name + (x.ok ? ' ✓' : ' ✗'); }));
      Array.prototype.forEach.call(deps.children, function (c, i) { c.className += n.dependencies[i].ok ? ' ok' : ' bad'; if (n.dependencies[i].detail) c.title = n.dependencies[i].detail; });
      var watchers = tags(Object.keys(n.watchers_by_kind).filter(function (k) { return n.watchers_by_kind[k] > 0; }).map(function (k) { return k + ' ' + n.watchers_by_kind[k]; }));
      var r = row([n.instance_id, n.role, n.version, n.host + ' / ' + n.pid, fmtAge(n.uptime_s * 1000), n.sockets.total, n.users_connected.count, watchers, n.leases.count, deps, el('span', fmtAge(age) + ' ago', age > 2 * n.interval_ms ? 'pill stale' : 'pill ok')]);
      r.dataset.instance = n.instance_id;
      r.dataset.role = n.role;
      return r;
    }));

    var users = Object.create(null);
    var get = function (uid) { return users[uid] || (users[uid] = { nodes: [], watchers: [] }); };
    nodes.forEach(function (n) {
      n.users_connected.uids.forEach(function (uid) { get(uid).nodes.push(n.instance_id); });
      n.leases.users.forEach(function (u) { get(u.uid).watchers.push({ node: n.instance_id, kinds: u.watchers }); });
    });
    replaceBody($('users'), Object.keys(users).sort().map(function (uid) {
      var u = users[uid];
      var link = el('a', uid);
      link.href = '?uid=' + encodeURIComponent(uid);
      link.addEventListener('click', function (e) { e.preventDefault(); openUser(uid); });
      var w = document.createElement('span');
      u.watchers.forEach(function (x) { w.appendChild(tags(x.kinds)); w.appendChild(el('span', '(' + x.node + ') ', 'muted')); });
      var r = row([link, u.nodes.join(', ') || '—', u.watchers.length ? w : '—']);
      r.dataset.uid = uid;
      r.dataset.watchers = u.watchers.map(function (x) { return x.kinds.join(','); }).join(';');
      return r;
    }));

    var withQueues = nodes.filter(function (n) { return n.queues; })[0];
    var q = withQueues ? withQueues.queues : {};
    replaceBody($('queues'), Object.keys(q).sort().map(function (name) { var c = q[name]; var r = row([name, c.waiting, c.active, c.delayed, c.failed, c.completed]); r.dataset.queue = name; return r; }));
    var s = d.scheduler || [];
    replaceBody($('scheduler'), s.map(function (x) {
      return row([x.id, x.every_ms ? fmtAge(x.every_ms) : '—', x.last ? fmtTime(x.last.finished_at) + ' (' + x.last.outcome + ')' : '—', fmtTime(x.next_at)]);
    }));
  }

  var polling = false;
  function poll() {
    if (polling) return;
    polling = true;
    fetch('/admin/api/overview', { credentials: 'same-origin', cache: 'no-store' }).then(function (res) {
      if (res.status === 401 || res.status === 403) { location.reload(); throw new Error('signed out'); }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    }).then(function (body) {
      var d = body.data;
      updateRates(d.nodes);
      renderOverview(d);
      addPoint();
      $('conn').textContent = 'live · ' + new Date(d.now).toLocaleTimeString();
      $('conn').className = 'pill ok';
    }).catch(function (err) {
      $('conn').textContent = 'error: ' + err.message;
      $('conn').className = 'pill bad';
    }).then(function () { polling = false; });
  }

  // ---- user view ----------------------------------------------------------------------------------
  var source = null;
  function dl(target, pairs) {
    while (target.firstChild) target.removeChild(target.firstChild);
    pairs.forEach(function (p) { target.appendChild(el('dt', p[0])); target.appendChild(el('dd', p[1])); });
  }
  function short(v) { var s = typeof v === 'string' ? v : JSON.stringify(v); return s && s.length > 300 ? s.slice(0, 300) + '…' : s; }

  function renderUser(v) {
    $('user').hidden = false;
    $('user').dataset.uid = v.uid;
    dl($('user-presence'), [['sockets (live)', v.presence.sockets], ['connected on', v.presence.nodes.join(', ') || '—'], ['updated', fmtTime(v.at)]]);
    var reg = v.registry || {};
    var info = reg.user_info || {}, comp = reg.companies || {};
    dl($('user-registry'), v.registry ? [
      ['status', info.status], ['session', info.session_id], ['last seen', info.last_seen_at], ['backend route', info.backend_route],
      ['company', comp.current_company_id], ['authorized companies', (comp.authorized_companies_ids || []).join(', ')],
      ['heartbeat', reg.heartbeat ? reg.heartbeat.last_heartbeat : ''],
    ] : [['registry', v.registry_error ? 'error: ' + v.registry_error : 'no registry document']]);
    var ul = $('user-watchers');
    while (ul.firstChild) ul.removeChild(ul.firstChild);
    v.watchers.forEach(function (w) { var li = el('li'); li.appendChild(tags(w.watchers)); li.appendChild(el('span', 'lease held by ' + w.instance_id, 'muted')); li.dataset.instance = w.instance_id; ul.appendChild(li); });
    v.wanted.forEach(function (w) { ul.appendChild(el('li', 'requested: ' + short(w.spec) + ' ×' + w.refs)); });
    if (!ul.firstChild) ul.appendChild(el('li', 'no watcher attached', 'muted'));
    replaceBody($('user-tasks'), v.tasks.map(function (t) {
      var p = document.createElement('span');
      var bar = document.createElement('progress'); bar.max = 100; bar.value = t.progress ? t.progress.progress_percent : 0;
      p.appendChild(bar); p.appendChild(el('span', ' ' + (t.progress ? t.progress.progress_percent : 0) + '%' + (t.progress && t.progress.current_step ? ' ' + t.progress.current_step : '')));
      var r = row([t.task_info.task_id, t.task_info.task_type, t.task_info.status, p, t.task_info.created_at]);
      r.dataset.taskId = t.task_info.task_id;
      r.dataset.progress = String(t.progress ? t.progress.progress_percent : 0);
      return r;
    }));
    var list = $('user-events');
    while (list.firstChild) list.removeChild(list.firstChild);
    v.events.forEach(function (e) {
      var li = el('li', (e.timestamp || '') + '  ' + e.type + '  ' + short(e.payload));
      li.dataset.eventId = e.event_id; li.dataset.type = e.type;
      list.appendChild(li);
    });
    if (v.tasks_error) replaceBody($('user-tasks'), [row(['error: ' + v.tasks_error])]);
  }

  function openUser(uid) {
    $('uid').value = uid;
    history.replaceState(null, '', '?uid=' + encodeURIComponent(uid));
    if (source) source.close();
    $('user-state').textContent = 'connecting'; $('user-state').className = 'pill';
    source = new EventSource('/admin/api/users/' + encodeURIComponent(uid) + '/stream');
    source.addEventListener('open', function () { $('user-state').textContent = 'live'; $('user-state').className = 'pill ok'; });
    source.addEventListener('user', function (m) { renderUser(JSON.parse(m.data)); });
    source.addEventListener('problem', function (m) { $('user-state').textContent = 'error: ' + JSON.parse(m.data).message; $('user-state').className = 'pill bad'; });
    source.addEventListener('error', function () { $('user-state').textContent = 'reconnecting'; $('user-state').className = 'pill stale'; });
  }

  $('user-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var uid = $('uid').value.trim();
    if (uid) openUser(uid);
  });
  var initial = new URLSearchParams(location.search).get('uid');
  if (initial) openUser(initial);
  poll();
  setInterval(poll, POLL_MS);
})();
