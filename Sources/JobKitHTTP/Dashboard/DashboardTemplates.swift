/// The dashboard's Mustache templates, compiled once when the server starts (``DashboardRenderer``).
/// `{{x}}` is HTML-escaped; only server-built SVG is inserted raw (`{{{svg}}}`). No inline script or style.
enum DashboardTemplates {
    static let all: [String: String] = [
        "layout": layout, "login": login, "overview": overview, "queue": queue, "job": job, "search": search,
        "nodes": nodes, "schedules": schedules, "limits": limits, "tenants": tenants, "audit": audit,
        "confirm": confirm, "error": error, "jobtable": jobTable,
    ]

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{$title}}JobKit{{/title}} · JobKit</title>
        <link rel="stylesheet" href="/ui/static/app.css">
        <script src="/ui/static/app.js" defer></script>
        </head>
        <body data-page="{{page}}" data-queue="{{bodyQueue}}">
        <header class="top">
          <a class="brand" href="/ui"><span class="logo">◆</span> JobKit</a>
          <nav>{{#nav}}<a href="{{href}}"{{#current}} class="current" aria-current="page"{{/current}}>{{label}}</a>{{/nav}}</nav>
          <div class="who">
            <span class="user">{{user}}</span> <span class="role role-{{role}}">{{role}}</span>
            {{#readOnly}}<span class="pill">read-only</span>{{/readOnly}}
            <form method="post" action="/ui/logout"><input type="hidden" name="csrf" value="{{csrf}}"><button class="linkish" type="submit">Sign out</button></form>
          </div>
        </header>
        {{#flash}}<div class="flash" role="status">{{flash}}</div>{{/flash}}
        <main>
        {{$content}}{{/content}}
        </main>
        <footer><span>JobKit {{version}}</span> · <span id="live" class="live" data-state="off">live updates off — reload to refresh</span></footer>
        </body>
        </html>
        """

    static let login = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Sign in · JobKit</title><link rel="stylesheet" href="/ui/static/app.css"></head>
        <body class="login-page">
        <form class="login card" method="post" action="/ui/login">
          <h1><span class="logo">◆</span> JobKit</h1>
          <p class="muted">Sign in to the dashboard.</p>
          {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
          {{#noUsers}}<p class="muted small">No users are configured (JOBKIT_UI_USERS); sign in with an API key.</p>{{/noUsers}}
          <label>User <input name="user" autocomplete="username" value="{{user}}"></label>
          <label>Password or API key <input name="password" type="password" autocomplete="current-password"></label>
          <input type="hidden" name="next" value="{{next}}">
          <button class="primary" type="submit">Sign in</button>
          <p class="muted small">Leave the user empty to sign in with an API key.</p>
        </form>
        </body></html>
        """

    static let overview = """
        {{<layout}}{{$title}}Overview{{/title}}{{$content}}
        <h1>Overview</h1>
        <section class="card">
          <h2>Queues</h2>
          <table class="grid" id="queues">
            <thead><tr><th>Queue</th><th class="num">Scheduled</th><th class="num">Ready</th><th class="num">Active</th><th class="num">Retrying</th><th class="num">Dead</th><th class="num">1 h done / failed</th><th class="num">24 h done · fail</th><th class="num">Run p50 / p95</th><th class="num">Wait p50 / p95</th><th class="num">Oldest</th><th>Last 60 min</th></tr></thead>
            <tbody>
            {{#queues}}<tr data-queue="{{name}}">
              <td><a href="{{href}}">{{name}}</a>{{#paused}} <span class="pill warn" data-live-paused>paused</span>{{/paused}}</td>
              <td class="num" data-live="scheduled">{{scheduled}}</td><td class="num" data-live="ready">{{ready}}</td>
              <td class="num" data-live="active">{{active}}</td><td class="num" data-live="retrying">{{retrying}}</td>
              <td class="num{{#hasDead}} bad{{/hasDead}}" data-live="dead">{{dead}}</td>
              <td class="num">{{hourDone}} / <span class="{{#hourHasFailed}}bad{{/hourHasFailed}}">{{hourFailed}}</span></td><td class="num">{{dayDone}} · {{dayRate}}</td>
              <td class="num">{{run}}</td><td class="num">{{wait}}</td><td class="num">{{oldest}}</td>
              <td>{{{spark}}}</td>
            </tr>{{/queues}}
            {{^queues}}<tr><td colspan="12" class="empty">No queue has been used yet.</td></tr>{{/queues}}
            </tbody>
          </table>
          <p class="muted small">Rates and times come from the history the nodes write with their heartbeats (per minute for 48 h, per hour for 30 days); percentiles are log₂ buckets, so they are upper bounds within a factor of two.</p>
        </section>
        <div class="cols">
          <section class="card">
            <h2>Nodes <span class="count" data-live-nodes>{{nodeCount}}</span></h2>
            <table class="grid" id="nodes"><thead><tr><th>Node</th><th>Queues</th><th class="num">Busy</th><th class="num">Heartbeat</th></tr></thead>
            <tbody>{{#nodes}}<tr data-node="{{id}}"><td><a href="/ui/nodes">{{name}}</a></td><td class="small">{{queues}}</td><td class="num" data-live="busy">{{busy}} / {{concurrency}}</td><td class="num" data-live="heartbeat">{{age}} ago</td></tr>{{/nodes}}
            {{^nodes}}<tr><td colspan="4" class="empty">No live node.</td></tr>{{/nodes}}</tbody></table>
          </section>
          <section class="card">
            <h2>Schedules due next</h2>
            <table class="grid"><thead><tr><th>Schedule</th><th>Trigger</th><th>Next</th></tr></thead>
            <tbody>{{#schedules}}<tr><td><a href="/ui/schedules">{{name}}</a></td><td><code>{{trigger}}</code></td><td>{{next}}</td></tr>{{/schedules}}
            {{^schedules}}<tr><td colspan="3" class="empty">No enabled schedule.</td></tr>{{/schedules}}</tbody></table>
          </section>
        </div>
        <div class="cols">
          <section class="card">
            <h2>Circuit breakers</h2>
            {{#breakers}}<p><span class="pill {{stateClass}}">{{state}}</span> <strong>{{service}}</strong> on {{node}} — failure rate {{failureRate}}</p>{{/breakers}}
            {{^breakers}}<p class="ok-text">Every breaker is closed.</p>{{/breakers}}
          </section>
          <section class="card">
            <h2>Webhook providers</h2>
            <table class="grid"><thead><tr><th>Provider</th><th class="num">Received</th><th class="num">Accepted</th><th class="num">Rejected</th><th>Last accepted</th></tr></thead>
            <tbody>{{#webhooks}}<tr><td>{{provider}}</td><td class="num">{{received}}</td><td class="num">{{accepted}}</td><td class="num{{#hasRejected}} bad{{/hasRejected}}">{{rejected}}</td><td>{{last}}</td></tr>{{/webhooks}}</tbody></table>
          </section>
        </div>
        {{/content}}{{/layout}}
        """

    static let jobTable = """
        <table class="grid jobs">
          <thead><tr>{{#selectable}}<th class="check"><input type="checkbox" data-select-all aria-label="Select the page"></th>{{/selectable}}<th>Job</th><th>Name</th><th>Queue</th><th>State</th><th>Tenant</th><th class="num">Attempts</th><th>When</th><th>Last error</th></tr></thead>
          <tbody>
          {{#jobs}}<tr data-job="{{id}}">
            {{#selectable}}<td class="check"><input type="checkbox" name="ids" value="{{id}}" aria-label="Select {{id}}"></td>{{/selectable}}
            <td><a class="mono" href="{{href}}">{{shortID}}</a></td><td>{{name}}</td><td>{{queue}}</td><td><span class="state state-{{state}}">{{state}}</span></td><td>{{tenant}}</td>
            <td class="num">{{attempts}} / {{maxAttempts}}</td><td>{{when}}</td><td class="error-cell">{{error}}</td>
          </tr>{{/jobs}}
          {{^jobs}}<tr><td colspan="9" class="empty">No job here.</td></tr>{{/jobs}}
          </tbody>
        </table>
        """

    static let queue = """
        {{<layout}}{{$title}}Queue {{name}}{{/title}}{{$content}}
        <div class="titlebar">
          <h1>Queue <span class="mono">{{name}}</span> {{#paused}}<span class="pill warn">paused</span>{{/paused}}</h1>
          <div class="actions">
          {{#canOperate}}
            {{#paused}}<form method="post" action="{{base}}/resume"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Resume</button></form>{{/paused}}
            {{^paused}}<form method="post" action="{{base}}/pause"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Pause</button></form>{{/paused}}
          {{/canOperate}}
          {{#canAdmin}}<form method="post" action="{{base}}/purge"><input type="hidden" name="csrf" value="{{csrf}}"><button class="danger" type="submit">Purge waiting…</button></form>{{/canAdmin}}
          </div>
        </div>
        <nav class="tabs">{{#tabs}}<a href="{{href}}"{{#current}} class="current"{{/current}}>{{label}} <span class="count" data-live-tab="{{state}}">{{count}}</span></a>{{/tabs}}</nav>
        <section class="card">
        <form method="post" action="{{base}}/jobs" id="bulk">
          <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="state" value="{{state}}">
          {{#hasActions}}<div class="bulkbar">
            <select name="action" aria-label="Action">{{#actions}}<option value="{{value}}">{{label}}</option>{{/actions}}</select>
            <label class="inline"><input type="radio" name="scope" value="selected" checked> selected</label>
            <label class="inline"><input type="radio" name="scope" value="all"> all {{total}} {{state}}</label>
            <button type="submit">Apply…</button>
            <span class="muted small" data-selected-count></span>
          </div>{{/hasActions}}
          {{>jobtable}}
        </form>
        <div class="pager"><span class="muted">{{from}}–{{to}} of {{total}}, newest first</span>{{#prev}}<a href="{{prev}}">← Newer</a>{{/prev}}{{#next}}<a href="{{next}}">Older →</a>{{/next}}</div>
        </section>
        {{/content}}{{/layout}}
        """

    static let job = """
        {{<layout}}{{$title}}Job {{id}}{{/title}}{{$content}}
        <div class="titlebar">
          <h1>Job <span class="mono">{{id}}</span> <span class="state state-{{state}}" id="job-state" data-job="{{id}}" data-queue="{{queue}}">{{state}}</span></h1>
          <div class="actions">
          {{#canRetry}}<form method="post" action="{{base}}/retry"><input type="hidden" name="csrf" value="{{csrf}}"><button class="primary" type="submit">Retry</button></form>{{/canRetry}}
          {{#canCancel}}<form method="post" action="{{base}}/cancel"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Cancel…</button></form>{{/canCancel}}
          {{#canDelete}}<form method="post" action="{{base}}/delete"><input type="hidden" name="csrf" value="{{csrf}}"><button class="danger" type="submit">Delete…</button></form>{{/canDelete}}
          </div>
        </div>
        <p class="notice" id="job-live" hidden></p>
        <div class="cols">
        <section class="card">
          <h2>Record</h2>
          <dl class="kv">
            <dt>Name</dt><dd>{{name}}</dd>
            <dt>Queue</dt><dd><a href="/ui/queues/{{queueEncoded}}">{{queue}}</a></dd>
            <dt>Priority</dt><dd>{{priority}}</dd>
            <dt>Attempts</dt><dd>{{attempts}} of {{maxAttempts}}</dd>
            <dt>Tenant</dt><dd>{{#tenant}}<a href="/ui/search?tenant={{tenantEncoded}}">{{tenant}}</a>{{/tenant}}{{^tenant}}–{{/tenant}}</dd>
            <dt>Correlation</dt><dd class="mono">{{correlation}}</dd>
            <dt>Trace</dt><dd class="mono">{{trace}}</dd>
            <dt>Node</dt><dd>{{node}}</dd>
            <dt>Enqueued</dt><dd>{{enqueued}}</dd>
            <dt>Due</dt><dd>{{runAt}}</dd>
            <dt>Started</dt><dd>{{started}}</dd>
            <dt>Finished</dt><dd>{{finished}}</dd>
            {{#lastError}}<dt>Last error</dt><dd class="error-cell">{{lastError}}</dd>{{/lastError}}
          </dl>
        </section>
        <section class="card">
          <h2>Payload</h2>
          <pre class="code">{{payload}}</pre>
          {{#result}}<h2>Result</h2><pre class="code">{{result}}</pre>{{/result}}
        </section>
        </div>
        <section class="card">
          <h2>Failed attempts</h2>
          <table class="grid"><thead><tr><th class="num">Attempt</th><th>At</th><th>Node</th><th>Kind</th><th>Error</th></tr></thead>
          <tbody>{{#history}}<tr><td class="num">{{attempt}}</td><td>{{at}}</td><td>{{node}}</td><td>{{kind}}</td><td class="error-cell">{{error}}</td></tr>{{/history}}
          {{^history}}<tr><td colspan="5" class="empty">No failed attempt.</td></tr>{{/history}}</tbody></table>
        </section>
        <section class="card">
          <h2>Events</h2>
          <ol class="timeline">{{#events}}<li><span class="when">{{at}}</span> <strong>{{type}}</strong> {{detail}}</li>{{/events}}
          {{^events}}<li class="muted">No event of this job among the queue's last {{eventWindow}} events.</li>{{/events}}</ol>
        </section>
        {{/content}}{{/layout}}
        """

    static let search = """
        {{<layout}}{{$title}}Search{{/title}}{{$content}}
        <h1>Search</h1>
        <section class="card">
        <form method="get" action="/ui/search" class="filters">
          <label>Job id <input name="id" value="{{f.id}}" placeholder="any queue"></label>
          <label>Name <input name="name" value="{{f.name}}" placeholder="plaid.transactions.sync"></label>
          <label>State <select name="state"><option value="">any</option>{{#stateOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/stateOptions}}</select></label>
          <label>Queue <select name="queue"><option value="">any</option>{{#queueOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/queueOptions}}</select></label>
          <label>Tenant <input name="tenant" value="{{f.tenant}}"></label>
          <label>Plaid item <input name="item" value="{{f.item}}"></label>
          <label>Stripe customer <input name="customer" value="{{f.customer}}" placeholder="cus_…"></label>
          <label>Payload contains <input name="q" value="{{f.q}}"></label>
          <button class="primary" type="submit">Search</button>
        </form>
        </section>
        {{#searched}}<section class="card">
          <p class="muted">{{summary}}</p>
          {{>jobtable}}
          <div class="pager">{{#next}}<a href="{{next}}">Scan the next {{budget}} →</a>{{/next}}</div>
        </section>{{/searched}}
        {{/content}}{{/layout}}
        """

    static let nodes = """
        {{<layout}}{{$title}}Nodes{{/title}}{{$content}}
        <h1>Nodes</h1>
        {{#nodes}}<section class="card node" data-node="{{id}}">
          <div class="titlebar"><h2>{{name}} <span class="muted small mono">{{id}}</span></h2>
          <div class="actions">
            {{#canOperate}}<form method="post" action="/ui/nodes/{{idEncoded}}/drain"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Drain…</button></form>{{/canOperate}}
            {{#canAdmin}}<form method="post" action="/ui/nodes/{{idEncoded}}/shutdown"><input type="hidden" name="csrf" value="{{csrf}}"><button class="danger" type="submit">Shut down…</button></form>{{/canAdmin}}
          </div></div>
          <dl class="kv wide"><dt>Host</dt><dd>{{host}} (pid {{pid}})</dd><dt>Version</dt><dd>{{version}}</dd><dt>Queues</dt><dd>{{queues}}</dd>
          <dt>Slots</dt><dd data-live="busy">{{busy}} / {{concurrency}}</dd><dt>Heartbeat</dt><dd data-live="heartbeat">{{age}} ago</dd><dt>Up</dt><dd>{{uptime}}</dd><dt>Processed</dt><dd>{{processed}} ({{failed}} failed)</dd></dl>
          <table class="grid"><thead><tr><th>Running job</th><th>Name</th><th>Queue</th><th>Tenant</th><th class="num">Attempt</th><th class="num">Running for</th></tr></thead>
          <tbody>{{#running}}<tr><td><a class="mono" href="{{href}}">{{shortID}}</a></td><td>{{name}}</td><td>{{queue}}</td><td>{{tenant}}</td><td class="num">{{attempts}}</td><td class="num">{{age}}</td></tr>{{/running}}
          {{^running}}<tr><td colspan="6" class="empty">Idle.</td></tr>{{/running}}</tbody></table>
        </section>{{/nodes}}
        {{^nodes}}<section class="card"><p class="empty">No live node.</p></section>{{/nodes}}
        {{/content}}{{/layout}}
        """

    static let schedules = """
        {{<layout}}{{$title}}Schedules{{/title}}{{$content}}
        <h1>Schedules</h1>
        <section class="card">
        <table class="grid"><thead><tr><th>Schedule</th><th>Job</th><th>Queue</th><th>Trigger</th><th>Time zone</th><th>Next</th><th>Last</th><th>Misfire</th><th>Overlap</th><th></th></tr></thead>
        <tbody>{{#schedules}}<tr{{^enabled}} class="disabled"{{/enabled}}>
          <td><strong>{{name}}</strong>{{^enabled}} <span class="pill">disabled</span>{{/enabled}}</td><td>{{job}}</td><td><a href="/ui/queues/{{queueEncoded}}">{{queue}}</a></td>
          <td><code>{{trigger}}</code></td><td>{{zone}}</td><td>{{next}}</td><td>{{#lastJobHref}}<a href="{{lastJobHref}}">{{last}}</a>{{/lastJobHref}}{{^lastJobHref}}{{last}}{{/lastJobHref}}</td><td>{{misfire}}</td><td>{{overlap}}</td>
          <td class="actions">{{#canOperate}}
            {{#enabled}}<form method="post" action="/ui/schedules/{{nameEncoded}}/disable"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Disable</button></form>{{/enabled}}
            {{^enabled}}<form method="post" action="/ui/schedules/{{nameEncoded}}/enable"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Enable</button></form>{{/enabled}}
            <form method="post" action="/ui/schedules/{{nameEncoded}}/trigger"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Run now</button></form>
          {{/canOperate}}</td>
        </tr>{{/schedules}}
        {{^schedules}}<tr><td colspan="10" class="empty">No schedule.</td></tr>{{/schedules}}</tbody></table>
        </section>
        {{/content}}{{/layout}}
        """

    static let limits = """
        {{<layout}}{{$title}}Limits and breakers{{/title}}{{$content}}
        <h1>Limits and breakers</h1>
        <section class="card">
          <h2>Queue limits</h2>
          <table class="grid"><thead><tr><th>Limit</th><th>Applies to</th><th>Kind</th><th class="num">In use</th><th class="num">Denials</th></tr></thead>
          <tbody>{{#limits}}<tr><td><strong>{{name}}</strong></td><td>{{scope}}</td><td>{{kind}}</td><td class="num">{{use}}</td><td class="num">{{denied}}</td></tr>{{/limits}}
          {{^limits}}<tr><td colspan="5" class="empty">No limit is set (jobnode limits set).</td></tr>{{/limits}}</tbody></table>
        </section>
        <section class="card">
          <h2>Circuit breakers</h2>
          <table class="grid"><thead><tr><th>Service</th><th>Node</th><th>State</th><th class="num">Failure rate</th><th class="num">Calls in window</th></tr></thead>
          <tbody>{{#breakers}}<tr><td><strong>{{service}}</strong></td><td>{{node}}</td><td><span class="pill {{stateClass}}">{{state}}</span></td><td class="num">{{failureRate}}</td><td class="num">{{calls}}</td></tr>{{/breakers}}
          {{^breakers}}<tr><td colspan="5" class="empty">No node has published a breaker.</td></tr>{{/breakers}}</tbody></table>
        </section>
        {{/content}}{{/layout}}
        """

    static let tenants = """
        {{<layout}}{{$title}}Tenants{{/title}}{{$content}}
        <h1>Tenants</h1>
        {{^configured}}<section class="card"><p class="empty">The tenants page reads PostgreSQL: start the node with --database-url (or DATABASE_URL).</p></section>{{/configured}}
        {{#tenants}}<section class="card">
          <div class="titlebar"><h2>{{id}} {{#name}}<span class="muted">{{name}}</span>{{/name}}</h2><a href="/ui/search?tenant={{idEncoded}}">Jobs of this tenant →</a></div>
          <div class="cols">
          <table class="grid"><thead><tr><th>Plaid item</th><th>Institution</th><th>Status</th><th>Last sync</th></tr></thead>
          <tbody>{{#items}}<tr><td><a class="mono" href="/ui/search?item={{idEncoded}}">{{id}}</a></td><td>{{institution}}</td><td><span class="pill {{statusClass}}">{{status}}</span>{{#errorCode}} <span class="muted small">{{errorCode}}</span>{{/errorCode}}</td><td>{{lastSync}}</td></tr>{{/items}}
          {{^items}}<tr><td colspan="4" class="empty">No Plaid item.</td></tr>{{/items}}</tbody></table>
          <table class="grid"><thead><tr><th>Subscription</th><th>Customer</th><th>Plan</th><th>Status</th><th>Period ends</th></tr></thead>
          <tbody>{{#subscriptions}}<tr><td class="mono">{{id}}</td><td><a class="mono" href="/ui/search?customer={{customerEncoded}}">{{customer}}</a></td><td>{{plan}}</td><td><span class="pill {{statusClass}}">{{status}}</span></td><td>{{periodEnd}}</td></tr>{{/subscriptions}}
          {{^subscriptions}}<tr><td colspan="5" class="empty">No subscription.</td></tr>{{/subscriptions}}</tbody></table>
          </div>
        </section>{{/tenants}}
        {{#configured}}{{^tenants}}<section class="card"><p class="empty">No tenant yet.</p></section>{{/tenants}}{{/configured}}
        <div class="pager">{{#next}}<a href="{{next}}">More tenants →</a>{{/next}}</div>
        {{/content}}{{/layout}}
        """

    static let audit = """
        {{<layout}}{{$title}}Audit{{/title}}{{$content}}
        <h1>Audit</h1>
        <section class="card">
        <table class="grid"><thead><tr><th>When</th><th>Who</th><th>Role</th><th>Action</th><th>Target</th><th class="num">Jobs</th></tr></thead>
        <tbody>{{#entries}}<tr><td>{{at}}</td><td>{{user}}</td><td>{{role}}</td><td><strong>{{action}}</strong></td><td class="mono">{{target}}</td><td class="num">{{count}}</td></tr>{{/entries}}
        {{^entries}}<tr><td colspan="6" class="empty">No action recorded yet.</td></tr>{{/entries}}</tbody></table>
        <div class="pager"><span class="muted small">The log keeps about {{cap}} entries (a capped Redis stream).</span>{{#next}}<a href="{{next}}">Older →</a>{{/next}}</div>
        </section>
        {{/content}}{{/layout}}
        """

    static let confirm = """
        {{<layout}}{{$title}}Confirm{{/title}}{{$content}}
        <section class="card confirm">
          <h1>{{question}}</h1>
          <p>{{detail}}</p>
          <form method="post" action="{{action}}">
            <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="confirm" value="yes">
            {{#fields}}<input type="hidden" name="{{name}}" value="{{value}}">{{/fields}}
            <button class="danger" type="submit">{{button}}</button> <a class="button" href="{{back}}">Cancel</a>
          </form>
        </section>
        {{/content}}{{/layout}}
        """

    static let error = """
        {{<layout}}{{$title}}{{status}}{{/title}}{{$content}}
        <section class="card"><h1>{{status}}</h1><p>{{message}}</p><p><a href="/ui">Back to the overview</a></p></section>
        {{/content}}{{/layout}}
        """
}
