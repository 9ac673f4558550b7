/// The dashboard's stylesheet and script, served from `/ui/static/` (the Content-Security-Policy allows
/// scripts and styles from the server only). The pages work without the script; it adds live updates over
/// server-sent events and bulk selection.
enum DashboardAssets {
    static let css = """
        :root{--bg:#f6f7f9;--card:#fff;--ink:#1d2330;--muted:#667085;--line:#e4e7ec;--accent:#3b63d9;--accent-ink:#fff;
        --ok:#127a4a;--ok-bg:#e3f6ec;--warn:#9a5b00;--warn-bg:#fff2d6;--bad:#c1272d;--bad-bg:#fde7e7;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
        *{box-sizing:border-box}
        html{font-size:14px}
        body{margin:0;background:var(--bg);color:var(--ink);font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;line-height:1.45}
        a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
        header.top{display:flex;align-items:center;gap:24px;background:#151b2c;color:#e8ecf6;padding:0 24px;height:52px}
        header.top .brand{color:#fff;font-weight:700;font-size:1.15rem;letter-spacing:.01em}
        .logo{color:#7aa2ff}
        header.top nav{display:flex;gap:4px;flex:1;overflow-x:auto}
        header.top nav a{color:#c3cbe0;padding:6px 10px;border-radius:6px;white-space:nowrap}
        header.top nav a:hover{background:#232b40;text-decoration:none}
        header.top nav a.current{background:#2d3752;color:#fff}
        .who{display:flex;align-items:center;gap:8px;white-space:nowrap}
        .who form{display:inline}
        .role{font-size:.75rem;text-transform:uppercase;letter-spacing:.05em;padding:2px 6px;border-radius:4px;background:#2d3752;color:#c3d3ff}
        button.linkish{background:none;border:0;color:#c3cbe0;cursor:pointer;font:inherit;padding:4px}
        button.linkish:hover{color:#fff;text-decoration:underline}
        main{padding:20px 24px;max-width:1500px;margin:0 auto}
        h1{font-size:1.45rem;margin:4px 0 16px}
        h2{font-size:1.05rem;margin:0 0 12px}
        .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px;margin-bottom:18px;box-shadow:0 1px 2px rgba(16,24,40,.04);overflow-x:auto}
        .cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px}
        .cols>.card{margin-bottom:18px}
        table.grid{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
        table.grid th{text-align:left;font-weight:600;color:var(--muted);font-size:.75rem;text-transform:uppercase;letter-spacing:.02em;border-bottom:1px solid var(--line);padding:8px 8px;white-space:nowrap}
        table.grid td{border-bottom:1px solid var(--line);padding:7px 8px;vertical-align:middle}
        table.grid tr:last-child td{border-bottom:0}
        table.grid tbody tr:hover{background:#fafbfc}
        .num{text-align:right;white-space:nowrap}
        table.grid td:first-child{white-space:nowrap}
        .wrap{overflow-wrap:anywhere}
        table.grid th.num{text-align:right}
        .check{width:28px}
        .mono,code{font-family:var(--mono);font-size:.9em}
        .muted{color:var(--muted)}.small{font-size:.85rem}
        .empty{color:var(--muted);text-align:center;padding:18px}
        .bad{color:var(--bad);font-weight:600}
        .ok-text{color:var(--ok)}
        .pill{display:inline-block;font-size:.75rem;padding:1px 8px;border-radius:999px;background:#eef0f4;color:#475467;font-weight:600;vertical-align:middle}
        .pill.warn{background:var(--warn-bg);color:var(--warn)}.pill.bad{background:var(--bad-bg);color:var(--bad)}.pill.ok{background:var(--ok-bg);color:var(--ok)}
        .state{display:inline-block;font-size:.78rem;padding:1px 8px;border-radius:999px;font-weight:600;background:#eef0f4;color:#475467}
        .state-completed{background:var(--ok-bg);color:var(--ok)}.state-dead{background:var(--bad-bg);color:var(--bad)}
        .state-active{background:#e4ecff;color:#2747a8}.state-retrying{background:var(--warn-bg);color:var(--warn)}
        .state-ready{background:#eef4ff;color:#3b63d9}.state-scheduled{background:#f2effd;color:#5b3fc4}
        .error-cell{color:var(--bad);max-width:420px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
        dd.error-cell{white-space:normal}
        .titlebar{display:flex;align-items:center;justify-content:space-between;gap:16px;flex-wrap:wrap}
        .titlebar h1,.titlebar h2{margin-bottom:12px}
        .actions{display:flex;gap:8px;align-items:center;flex-wrap:wrap}
        .actions form{display:inline}
        button,.button{font:inherit;border:1px solid #cfd4dc;background:#fff;color:var(--ink);border-radius:7px;padding:6px 12px;cursor:pointer;display:inline-block}
        button:hover,.button:hover{background:#f2f4f7;text-decoration:none}
        button.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-ink)}
        button.primary:hover{background:#2f52b8}
        button.danger{color:var(--bad);border-color:#f1b5b7}
        button.danger:hover{background:var(--bad-bg)}
        input,select{font:inherit;padding:6px 8px;border:1px solid #cfd4dc;border-radius:7px;background:#fff;color:var(--ink)}
        input[type=checkbox],input[type=radio]{padding:0}
        label{display:flex;flex-direction:column;gap:4px;font-size:.85rem;color:var(--muted)}
        label.inline{flex-direction:row;align-items:center;gap:6px;color:var(--ink)}
        .filters{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px;align-items:end}
        .bulkbar{display:flex;gap:12px;align-items:center;margin-bottom:10px;flex-wrap:wrap}
        .tabs{display:flex;gap:4px;margin-bottom:12px;flex-wrap:wrap}
        .tabs a{padding:6px 12px;border-radius:7px;color:var(--ink);background:#fff;border:1px solid var(--line)}
        .tabs a.current{background:var(--accent);color:#fff;border-color:var(--accent)}
        .tabs a.current .count{color:#dfe7ff}
        .count{color:var(--muted);font-variant-numeric:tabular-nums;font-size:.9em}
        .pager{display:flex;gap:16px;align-items:center;justify-content:flex-end;margin-top:10px}
        .pager .muted{margin-right:auto}
        dl.kv{display:grid;grid-template-columns:130px 1fr;gap:6px 12px;margin:0}
        dl.kv.wide{grid-template-columns:100px 1fr 100px 1fr;margin-bottom:12px}
        dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;overflow-wrap:anywhere}
        pre.code{background:#f4f6fa;border:1px solid var(--line);border-radius:8px;padding:12px;overflow:auto;max-height:420px;font-family:var(--mono);font-size:.85rem;margin:0 0 12px}
        ol.timeline{list-style:none;padding:0;margin:0}
        ol.timeline li{padding:6px 0;border-bottom:1px dashed var(--line)}
        ol.timeline .when{color:var(--muted);font-variant-numeric:tabular-nums;margin-right:8px}
        .flash{background:var(--ok-bg);color:var(--ok);border-bottom:1px solid #b7e4cb;padding:10px 24px;font-weight:500}
        .notice{background:#eef4ff;border:1px solid #c9d8ff;color:#2747a8;border-radius:8px;padding:10px 14px}
        .confirm{max-width:640px}
        tr.disabled td{color:var(--muted)}
        svg.spark{display:block}
        footer{color:var(--muted);font-size:.85rem;padding:8px 24px 24px;max-width:1500px;margin:0 auto}
        .live[data-state=on]{color:var(--ok)}
        .login-page{display:flex;align-items:center;justify-content:center;min-height:100vh}
        form.login{width:360px;display:flex;flex-direction:column;gap:14px;padding:28px}
        form.login h1{margin:0}
        .error{color:var(--bad);background:var(--bad-bg);padding:8px 10px;border-radius:7px;margin:0}
        """

    static let js = """
        (function () {
          'use strict';
          // Bulk selection: "select the page" and a count of selected rows.
          var all = document.querySelector('[data-select-all]');
          var boxes = function () { return Array.prototype.slice.call(document.querySelectorAll('input[name=ids]')); };
          var counter = document.querySelector('[data-selected-count]');
          var recount = function () {
            if (!counter) return;
            var n = boxes().filter(function (b) { return b.checked; }).length;
            counter.textContent = n ? n + ' selected' : '';
          };
          if (all) all.addEventListener('change', function () { boxes().forEach(function (b) { b.checked = all.checked; }); recount(); });
          boxes().forEach(function (b) { b.addEventListener('change', recount); });

          // Live updates over server-sent events; without them the page is a snapshot (reload to refresh).
          if (!window.EventSource) return;
          var live = document.getElementById('live');
          var jobState = document.getElementById('job-state');
          var page = document.body.getAttribute('data-page');
          var url = '/ui/events';
          if (jobState) url += '?job=' + encodeURIComponent(jobState.getAttribute('data-job')) + '&queue=' + encodeURIComponent(jobState.getAttribute('data-queue'));
          var source = new EventSource(url);
          var set = function (el, text) { if (el && el.textContent !== String(text)) el.textContent = text; };
          source.addEventListener('open', function () { if (live) { live.setAttribute('data-state', 'on'); live.textContent = 'live'; } });
          source.addEventListener('error', function () { if (live) { live.setAttribute('data-state', 'off'); live.textContent = 'live updates paused — reconnecting'; } });
          source.addEventListener('tick', function (e) {
            var data = JSON.parse(e.data);
            data.queues.forEach(function (q) {
              var row = document.querySelector('tr[data-queue="' + CSS.escape(q.name) + '"]');
              if (row) ['scheduled', 'ready', 'active', 'retrying', 'dead'].forEach(function (k) { set(row.querySelector('[data-live=' + k + ']'), q[k]); });
              if (page === 'queue' && document.body.getAttribute('data-queue') === q.name) {
                ['scheduled', 'ready', 'active', 'retrying', 'dead', 'completed', 'canceled'].forEach(function (k) {
                  set(document.querySelector('[data-live-tab=' + k + ']'), q[k]);
                });
              }
            });
            data.nodes.forEach(function (n) {
              var row = document.querySelector('[data-node="' + CSS.escape(n.id) + '"]');
              if (!row) return;
              set(row.querySelector('[data-live=busy]'), n.busy + ' / ' + n.concurrency);
              set(row.querySelector('[data-live=heartbeat]'), n.heartbeatAge + ' ago');
            });
            set(document.querySelector('[data-live-nodes]'), data.nodes.length);
            if (jobState) {
              (data.jobs || []).forEach(function (job) {
                if (job.id !== jobState.getAttribute('data-job') || job.queue !== jobState.getAttribute('data-queue')) return;
                if (jobState.textContent === job.state) return;
                jobState.textContent = job.state;
                jobState.className = 'state state-' + job.state;
                var note = document.getElementById('job-live');
                if (note) { note.hidden = false; note.textContent = 'This job is now ' + job.state + '. Reload for its result and timeline.'; }
              });
            }
          });
        })();
        """
}
