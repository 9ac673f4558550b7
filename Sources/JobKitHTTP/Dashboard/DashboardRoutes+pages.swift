import Foundation
import Hummingbird
import JobKit

/// The dashboard's pages (GET): each reads a bounded amount of Redis (a page of ids, their records, the
/// history's buckets) — never a whole set.
extension DashboardRoutes {
    static let pageSize = 50
    /// How many of a queue's latest events the job page looks through for the job's timeline.
    static let eventWindow = 1000

    func registerPages(on ui: RouterGroup<JobKitRequestContext>) {
        ui.get { _, context in try await self.overview(context) }
        ui.get("queues/:queue") { request, context in try await self.queuePage(request, context) }
        ui.get("jobs/:id") { request, context in try await self.jobPage(request, context) }
        ui.get("search") { request, context in try await self.searchPage(request, context) }
        ui.get("nodes") { request, context in try await self.nodesPage(request, context) }
        ui.get("schedules") { request, context in try await self.schedulesPage(request, context) }
        ui.get("limits") { request, context in try await self.limitsPage(request, context) }
        ui.get("tenants") { request, context in try await self.tenantsPage(request, context) }
        ui.get("audit") { request, context in try await self.auditPage(request, context) }
    }

    /// The model every page starts from: the viewer, the navigation, the flash message, what the viewer may do.
    func base(_ page: String, _ context: JobKitRequestContext, flash: String? = nil) -> [String: Any] {
        let viewer = context.dashboardViewer
        let role = viewer?.role ?? .viewer
        let nav: [(String, String, String)] = [
            ("overview", "/ui", "Overview"), ("search", "/ui/search", "Search"), ("nodes", "/ui/nodes", "Nodes"),
            ("schedules", "/ui/schedules", "Schedules"), ("limits", "/ui/limits", "Limits & breakers"),
            ("tenants", "/ui/tenants", "Tenants"), ("audit", "/ui/audit", "Audit"),
        ]
        return [
            "page": page, "user": viewer?.name ?? "", "role": viewer == nil ? "" : role.rawValue, "csrf": viewer?.csrf ?? "",
            "readOnly": configuration.readOnly, "version": JobKitVersion.current, "flash": flash.map { $0 as Any } ?? false,
            "canOperate": !configuration.readOnly && role >= .operator, "canAdmin": !configuration.readOnly && role >= .admin,
            "nav": nav.map { ["href": $0.1, "label": $0.2, "current": $0.0 == page] }, "bodyQueue": "",
        ]
    }

    func page(_ template: String, _ model: [String: Any]) -> Response {
        DashboardRenderer.html(renderer.render(template, model))
    }

    func errorPage(_ error: DashboardError, viewer: DashboardViewer?) -> Response {
        var context = [String: Any]()
        context["status"] = "\(error.status.code) \(error.status.reasonPhrase)"
        context["message"] = error.message
        context["user"] = viewer?.name ?? ""
        context["role"] = viewer?.role.rawValue ?? ""
        context["csrf"] = viewer?.csrf ?? ""
        context["version"] = JobKitVersion.current
        context["nav"] = [[String: Any]]()
        context["page"] = "error"
        return DashboardRenderer.html(renderer.render("error", context), status: error.status)
    }

    /// The message of the action that redirected here (its cookie; see ``DashboardRoutes/flashCookie``).
    static func flash(_ request: Request) -> String? {
        guard let value = request.cookies[flashCookie]?.value, !value.isEmpty else { return nil }
        return value.removingPercentEncoding
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: overview

    func overview(_ context: JobKitRequestContext) async throws -> Response {
        var model = base("overview", context)
        let names = try await queue.queueNames()
        async let minutes = history.buckets(.minute, count: 60)
        async let hours = history.buckets(.hour, count: 24)
        async let nodeList = registry.nodes()
        async let scheduleList = schedules.list()
        async let breakers = BreakerBoard.read(redis: queue.redis, namespace: queue.namespace)
        // Every queue's counts and the age of its oldest ready job (over every priority band), in one pipeline.
        let snapshots = try await queue.snapshots(names)
        let (nowMs, lastHour) = try await minutes
        let (_, lastDay) = try await hours
        var rows: [[String: Any]] = []
        for snapshot in snapshots {
            let c = snapshot.counts
            var hour = HistoryTally()
            for b in lastHour { hour.merge(b.total(queue: c.name)) }
            var day = HistoryTally()
            for b in lastDay { day.merge(b.total(queue: c.name)) }
            let perMinute = lastHour.map { $0.total(queue: c.name) }
            rows.append([
                "name": c.name, "href": "/ui/queues/" + urlEncode(c.name), "paused": c.paused,
                "scheduled": c.scheduled, "ready": c.ready, "active": c.active, "retrying": c.retrying, "dead": c.dead,
                "hasDead": c.dead > 0, "hourDone": DashboardFormat.count(hour.completed), "hourFailed": DashboardFormat.count(hour.failed), "hourHasFailed": hour.failed > 0,
                "dayDone": DashboardFormat.count(day.completed), "dayRate": DashboardFormat.rate(day.failed, of: day.finished),
                "run": "\(DashboardFormat.duration(ms: hour.runPercentile(0.5))) / \(DashboardFormat.duration(ms: hour.runPercentile(0.95)))",
                "wait": "\(DashboardFormat.duration(ms: hour.waitPercentile(0.5))) / \(DashboardFormat.duration(ms: hour.waitPercentile(0.95)))",
                "oldest": snapshot.oldestReadyAgeMs.map { DashboardFormat.age(ms: $0) } ?? "–",
                "spark": SVGChart.bars(
                    done: perMinute.map(\.completed), failed: perMinute.map(\.failed), width: 120, height: 28,
                    label: "\(c.name): jobs per minute over the last hour"),
            ])
        }
        model["queues"] = rows
        let nodes = try await nodeList
        model["nodeCount"] = nodes.count
        model["nodes"] = nodes.map { n -> [String: Any] in
            ["id": n.id, "name": n.name, "queues": n.queues.replacingOccurrences(of: ",", with: ", "), "busy": n.busy, "concurrency": n.concurrency, "age": DashboardFormat.age(ms: nowMs - n.lastHeartbeatMs)]
        }
        let due = try await scheduleList.filter { $0.schedule.enabled && $0.nextRunMs != nil }.sorted { ($0.nextRunMs ?? 0) < ($1.nextRunMs ?? 0) }
        model["schedules"] = due.prefix(6).map { s -> [String: Any] in
            ["name": s.name, "trigger": Self.trigger(s.schedule), "next": Self.inFuture(s.nextRunMs, now: nowMs)]
        }
        model["breakers"] = try await breakers.filter { $0.snapshot.state != .closed }.map(Self.breakerRow)
        var hooks: [[String: Any]] = []
        for provider in WebhookLedger.providers {
            let s = try await ledger.summary(provider: provider)
            let rejected = s.rejected.signature + s.rejected.age + s.rejected.malformed + s.rejected.duplicate
            hooks.append([
                "provider": s.provider, "received": s.received, "accepted": s.accepted, "rejected": rejected, "hasRejected": rejected > 0,
                "last": s.lastAcceptedAtMs.map { DashboardFormat.age(ms: nowMs - $0) + " ago" } ?? "never",
            ])
        }
        model["webhooks"] = hooks
        return page("overview", model)
    }

    static func trigger(_ s: Schedule) -> String {
        switch s.trigger {
        case .cron(let expression, _): return expression
        case .every(let ms, _): return "every " + DashboardFormat.age(ms: ms).replacingOccurrences(of: " 00s", with: "").replacingOccurrences(of: " 00m", with: "")
        }
    }

    static func inFuture(_ ms: Int64?, now: Int64) -> String {
        guard let ms else { return "–" }
        return ms <= now ? "due now" : "in " + DashboardFormat.age(ms: ms - now)
    }

    static func breakerRow(_ b: BreakerBoard.Published) -> [String: Any] {
        let state = b.snapshot.state.rawValue
        return [
            "service": b.snapshot.service, "node": b.node, "state": state,
            "stateClass": b.snapshot.state == .closed ? "ok" : (b.snapshot.state == .open ? "bad" : "warn"),
            "failureRate": String(format: "%.0f %%", b.snapshot.failureRate * 100), "calls": b.snapshot.calls,
        ]
    }

    // MARK: queue

    /// What can be done to jobs in each state, and who may.
    static func actions(for state: JobState) -> [(value: String, label: String, role: DashboardRole)] {
        var out: [(String, String, DashboardRole)] = []
        if state == .dead || state == .canceled { out.append(("retry", "Retry", .operator)) }
        if [.scheduled, .ready, .retrying, .active].contains(state) { out.append(("cancel", "Cancel", .operator)) }
        if [.scheduled, .ready, .retrying].contains(state) { out.append(("dead", "Move to dead", .admin)) }
        if state != .active { out.append(("delete", "Delete", .admin)) }
        return out
    }

    func jobRows(_ records: [JobRecord], nowMs: Int64) -> [[String: Any]] {
        records.map { r in
            let when: String
            switch r.state {
            case .scheduled, .retrying: when = Self.inFuture(r.runAtMs, now: nowMs)
            case .active: when = "started " + DashboardFormat.age(ms: nowMs - (r.startedAtMs ?? nowMs)) + " ago"
            case .ready: when = "enqueued " + DashboardFormat.age(ms: nowMs - (r.enqueuedAtMs ?? nowMs)) + " ago"
            case .completed, .dead, .canceled: when = DashboardFormat.age(ms: nowMs - (r.finishedAtMs ?? nowMs)) + " ago"
            }
            return [
                "id": r.id, "shortID": r.id.count > 26 ? String(r.id.prefix(26)) + "…" : r.id,
                "href": "/ui/jobs/\(urlEncode(r.id))?queue=\(urlEncode(r.queue))", "name": r.name, "queue": r.queue,
                "state": r.state.rawValue, "tenant": r.tenant ?? "", "attempts": r.attempts, "maxAttempts": r.maxAttempts,
                "when": when, "error": r.lastError.map { String($0.prefix(160)) } ?? "",
            ]
        }
    }

    func queuePage(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let name = context.parameters.get("queue") ?? ""
        guard try await queue.queueExists(name) else { throw DashboardError(.notFound, "No queue named '\(name)'.") }
        let stateText = request.uri.queryParameters["state"].map(String.init) ?? "dead"
        guard let state = JobState(rawValue: stateText) else { throw DashboardError(.badRequest, "Unknown state '\(stateText)'.") }
        // Pages past 1,000,000 (50 million jobs) are refused rather than multiplied into an overflow.
        let pageNumber = request.uri.queryParameters["page"].flatMap { Int($0) } ?? 1
        guard (1...1_000_000).contains(pageNumber) else { throw DashboardError(.badRequest, "Page \(pageNumber) is out of range.") }
        let offset = (pageNumber - 1) * Self.pageSize
        let counts = try await queue.counts(name)
        let (ids, total) = try await queue.ids(name, state: state, newestFirst: offset, limit: Self.pageSize)
        let records = try await queue.records(ids, queue: name)
        var model = base("queue", context, flash: Self.flash(request))
        let base = "/ui/queues/" + urlEncode(name)
        let perState: [(JobState, Int)] = [
            (.dead, counts.dead), (.retrying, counts.retrying), (.scheduled, counts.scheduled), (.ready, counts.ready),
            (.active, counts.active), (.completed, counts.completedRetained), (.canceled, counts.canceled),
        ]
        model["name"] = name
        model["bodyQueue"] = name
        model["base"] = base
        model["paused"] = counts.paused
        model["state"] = state.rawValue
        model["tabs"] = perState.map { ["state": $0.0.rawValue, "label": $0.0.rawValue.capitalized, "count": $0.1, "href": base + "?state=" + $0.0.rawValue, "current": $0.0 == state] }
        let role = context.dashboardViewer?.role ?? .viewer
        let actions = configuration.readOnly ? [] : Self.actions(for: state).filter { role >= $0.role }
        model["actions"] = actions.map { ["value": $0.value, "label": $0.label] }
        model["hasActions"] = !actions.isEmpty
        model["selectable"] = !actions.isEmpty
        model["jobs"] = jobRows(records, nowMs: Self.nowMs())
        model["total"] = total
        model["from"] = total == 0 ? 0 : offset + 1
        model["to"] = offset + records.count
        model["prev"] = pageNumber > 1 ? (base + "?state=\(state.rawValue)&page=\(pageNumber - 1)") as Any : false
        model["next"] = offset + Self.pageSize < total ? (base + "?state=\(state.rawValue)&page=\(pageNumber + 1)") as Any : false
        return page("queue", model)
    }

    // MARK: job

    func jobPage(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        let queueName = request.uri.queryParameters["queue"].map(String.init)
        guard let r = try await queue.job(id, queue: queueName?.isEmpty == false ? queueName : nil) else {
            throw DashboardError(.notFound, "No job '\(id)' (it may have expired under the queue's retention).")
        }
        var model = base("job", context, flash: Self.flash(request))
        let k = queue.keys(r.queue)
        // The carried trace context and the queue's latest events, in one round trip.
        let extra = try await queue.redis.pipeline([
            RedisCommand("HGET", k.job(id), "trace"),
            RedisCommand("XREVRANGE", strings: [k.events, "+", "-", "COUNT", String(Self.eventWindow)]),
        ])
        let trace = extra[0].string
        let events = extra[1]
        // The record's own times, then the queue's lifecycle events of this job (retries, the end).
        var stamped: [(Int64, [String: Any])] = []
        if let t = r.enqueuedAtMs { stamped.append((t, ["type": "enqueued", "detail": r.correlation.map { "correlation=\($0)" } ?? ""])) }
        if let t = r.startedAtMs { stamped.append((t, ["type": "started", "detail": "attempt \(r.attempts)" + (r.node.map { " on \($0)" } ?? "")])) }
        for entry in (events.array ?? []).reversed() {
            guard let pair = entry.array, pair.count == 2, let eventID = pair[0].string else { continue }
            let f = pair[1].fields
            guard f["id"]?.string == id else { continue }
            let at = Int64(eventID.split(separator: "-").first ?? "") ?? 0
            let detail = f.filter { $0.key != "id" && $0.key != "type" }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value.string ?? "")" }.joined(separator: " ")
            stamped.append((at, ["type": f["type"]?.string ?? "", "detail": String(detail.prefix(300))]))
        }
        let timeline = stamped.sorted { $0.0 < $1.0 }.map { entry -> [String: Any] in
            var row = entry.1
            row["at"] = DashboardFormat.time(ms: entry.0)
            return row
        }
        let role = context.dashboardViewer?.role ?? .viewer
        let writable = !configuration.readOnly
        model["id"] = r.id
        model["base"] = "/ui/jobs/\(urlEncode(r.id))"
        model["queue"] = r.queue
        model["queueEncoded"] = urlEncode(r.queue)
        model["state"] = r.state.rawValue
        model["name"] = r.name
        model["priority"] = r.priority
        model["attempts"] = r.attempts
        model["maxAttempts"] = r.maxAttempts
        model["tenant"] = r.tenant ?? false
        model["tenantEncoded"] = urlEncode(r.tenant ?? "")
        model["correlation"] = r.correlation ?? "–"
        model["trace"] = trace.flatMap(Self.traceID) ?? "–"
        model["node"] = r.node ?? "–"
        model["enqueued"] = DashboardFormat.time(ms: r.enqueuedAtMs)
        model["runAt"] = DashboardFormat.time(ms: r.runAtMs)
        model["started"] = DashboardFormat.time(ms: r.startedAtMs)
        model["finished"] = DashboardFormat.time(ms: r.finishedAtMs)
        model["lastError"] = r.lastError ?? false
        model["payload"] = DashboardFormat.payload(r.payload)
        model["result"] = r.result.map { DashboardFormat.payload($0) as Any } ?? false
        model["history"] = r.history.reversed().map { a -> [String: Any] in
            ["attempt": a.attempt, "at": DashboardFormat.time(ms: a.at), "node": a.node, "kind": a.kind, "error": a.error]
        }
        model["events"] = timeline
        model["eventWindow"] = DashboardFormat.count(Self.eventWindow)
        model["canRetry"] = writable && role >= .operator && (r.state == .dead || r.state == .canceled)
        model["canCancel"] = writable && role >= .operator && [.scheduled, .ready, .retrying, .active].contains(r.state)
        model["canDelete"] = writable && role >= .admin && r.state != .active
        return page("job", model)
    }

    /// The trace id of a W3C `traceparent` in the job's carried context.
    static func traceID(_ carrier: String) -> String? {
        guard let data = carrier.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let parent = object["traceparent"] as? String
        else { return nil }
        let parts = parent.split(separator: "-")
        return parts.count >= 2 ? String(parts[1]) : nil
    }

    // MARK: search

    func searchPage(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        let q = request.uri.queryParameters
        func value(_ name: String) -> String? {
            guard let v = q[Substring(name)].map(String.init)?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        var model = base("search", context)
        let names = try await queue.queueNames()
        let fields = ["id", "name", "tenant", "item", "customer", "q", "state", "queue"]
        var f: [String: String] = [:]
        for field in fields { f[field] = value(field) ?? "" }
        model["f"] = f
        model["stateOptions"] = JobState.allCases.map { ["value": $0.rawValue, "selected": f["state"] == $0.rawValue] }
        model["queueOptions"] = names.map { ["value": $0, "selected": f["queue"] == $0] }
        model["selectable"] = false
        model["budget"] = DashboardFormat.count(configuration.searchBudget)
        let any = fields.contains { !(f[$0] ?? "").isEmpty }
        model["searched"] = any
        guard any else { return page("search", model) }
        let nowMs = Self.nowMs()
        if let id = value("id") {
            let found = try await queue.job(id, queue: value("queue"))
            model["jobs"] = jobRows(found.map { [$0] } ?? [], nowMs: nowMs)
            model["summary"] = found == nil ? "No job with id \(id) in \(value("queue") ?? "any of the \(names.count) queues")." : "Found by id."
            model["next"] = false
            return page("search", model)
        }
        var search = JobSearch(name: value("name"), tenant: value("tenant"), item: value("item"), customer: value("customer"), text: value("q"))
        if let s = value("state") {
            guard let state = JobState(rawValue: s) else { throw DashboardError(.badRequest, "Unknown state '\(s)'.") }
            search.states = [state]
        }
        let queues = value("queue").map { [$0] } ?? []
        let result: JobSearch.Page
        do {
            result = try await queue.search(search, queues: queues, cursor: value("cursor"), budget: configuration.searchBudget, limit: Self.pageSize)
        } catch let error as QueueError {
            throw DashboardError(.badRequest, error.message)
        }
        model["jobs"] = jobRows(result.jobs, nowMs: nowMs)
        let scope = queues.first.map { "queue \($0)" } ?? "\(names.count) queues"
        model["summary"] =
            "\(result.jobs.count) match\(result.jobs.count == 1 ? "" : "es") among \(DashboardFormat.count(result.scanned)) jobs scanned in \(scope) (\(search.states.count == JobState.allCases.count ? "every state" : search.states[0].rawValue), newest first; at most \(DashboardFormat.count(configuration.searchBudget)) jobs are read per request, in Redis)."
            + (result.next == nil ? " Everything was scanned." : "")
        if let next = result.next {
            var items = fields.compactMap { field in value(field).map { "\(field)=\(urlEncode($0))" } }
            items.append("cursor=\(urlEncode(next))")
            model["next"] = "/ui/search?" + items.joined(separator: "&")
        } else {
            model["next"] = false
        }
        return page("search", model)
    }

    // MARK: nodes, schedules, limits, tenants, audit

    func nodesPage(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        var model = base("nodes", context, flash: Self.flash(request))
        let nodes = try await registry.nodes()
        let running = try await queue.activeJobs()
        let nowMs = Self.nowMs()
        model["nodes"] = nodes.map { n -> [String: Any] in
            [
                "id": n.id, "idEncoded": urlEncode(n.id), "name": n.name, "host": n.host, "pid": n.pid, "version": n.version,
                "queues": n.queues.replacingOccurrences(of: ",", with: ", "), "busy": n.busy, "concurrency": n.concurrency,
                "age": DashboardFormat.age(ms: nowMs - n.lastHeartbeatMs), "uptime": DashboardFormat.age(ms: nowMs - n.startedAtMs), "processed": DashboardFormat.count(n.processed),
                "failed": DashboardFormat.count(n.failed),
                "running": running.filter { $0.node == n.id }.prefix(100).map { j -> [String: Any] in
                    [
                        "href": "/ui/jobs/\(urlEncode(j.id))?queue=\(urlEncode(j.queue))", "shortID": j.id.count > 26 ? String(j.id.prefix(26)) + "…" : j.id,
                        "name": j.name, "queue": j.queue, "tenant": j.tenant ?? "", "attempts": j.attempts,
                        "age": DashboardFormat.age(ms: nowMs - j.startedAtMs),
                    ]
                },
            ]
        }
        return page("nodes", model)
    }

    func schedulesPage(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        var model = base("schedules", context, flash: Self.flash(request))
        let list = try await schedules.list()
        let nowMs = Self.nowMs()
        model["schedules"] = list.map { s -> [String: Any] in
            let zone: String
            if case .cron(_, let z) = s.schedule.trigger { zone = z } else { zone = "–" }
            let misfire: String
            switch s.schedule.misfire {
            case .skip: misfire = "skip"
            case .once: misfire = "run once"
            case .all(let cap): misfire = "run all (≤ \(cap))"
            }
            return [
                "name": s.name, "nameEncoded": urlEncode(s.name), "job": s.schedule.job, "queue": s.schedule.queue,
                "queueEncoded": urlEncode(s.schedule.queue), "trigger": Self.trigger(s.schedule), "zone": zone,
                "next": s.schedule.enabled ? Self.inFuture(s.nextRunMs, now: nowMs) : "–",
                "last": s.lastRunMs.map { DashboardFormat.age(ms: nowMs - $0) + " ago" } ?? (s.lastJobId == nil ? "never" : "run by hand"),
                "lastJobHref": s.lastJobId.map { "/ui/jobs/\(urlEncode($0))?queue=\(urlEncode(s.schedule.queue))" as Any } ?? false,
                "misfire": misfire, "overlap": s.schedule.overlap.rawValue, "enabled": s.schedule.enabled,
            ]
        }
        return page("schedules", model)
    }

    func limitsPage(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        var model = base("limits", context, flash: Self.flash(request))
        let entries = try await limits.list()
        let running = entries.contains { $0.limit.concurrency != nil } ? try await queue.activeJobs() : []
        var rateUse: [String: Int] = [:]
        for e in entries { if let used = try await limits.use(of: e.limit) { rateUse[e.limit.name] = used } }
        model["limits"] = entries.map { e -> [String: Any] in
            let l = e.limit
            var kind: [String] = []
            if let r = l.rate { kind.append("\(r.strategy.rawValue) \(r.limit) per \(DashboardFormat.duration(ms: r.periodMs))") }
            if let c = l.concurrency { kind.append("at most \(c) running") }
            var uses: [String] = []
            if let used = rateUse[l.name], let r = l.rate {
                uses.append("\(used) of \(r.strategy == .tokenBucket ? (r.burst ?? r.limit) : r.limit) in the window")
            } else if l.rate != nil {
                uses.append("per key")
            }
            if let c = l.concurrency {
                uses.append("\(running.filter { $0.queue == l.queue && (l.job == nil || $0.name == l.job) }.count) of \(c) running")
            }
            let use = uses.isEmpty ? "–" : uses.joined(separator: "; ")
            return [
                "name": l.name, "scope": "queue \(l.queue)" + (l.job.map { ", job \($0)" } ?? "") + (l.key.map { ", per \($0)" } ?? ""),
                "kind": kind.joined(separator: "; "), "use": use, "denied": DashboardFormat.count(e.deniedTotal),
            ]
        }
        model["breakers"] = try await BreakerBoard.read(redis: queue.redis, namespace: queue.namespace).map(Self.breakerRow)
        return page("limits", model)
    }

    func tenantsPage(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        var model = base("tenants", context)
        model["configured"] = configuration.tenants != nil
        model["next"] = false
        guard let source = configuration.tenants else { return page("tenants", model) }
        let after = request.uri.queryParameters["after"].map(String.init)
        let list = try await source.tenants(after: after, limit: 20)
        func statusClass(_ s: String) -> String {
            switch s {
            case "active", "trialing", "healthy": "ok"
            case "past_due", "incomplete", "pending_expiration", "unpaid": "warn"
            default: s.contains("error") || s.contains("canceled") || s.contains("revoked") ? "bad" : ""
            }
        }
        model["tenants"] = list.map { t -> [String: Any] in
            [
                "id": t.id, "idEncoded": urlEncode(t.id), "name": t.name ?? false,
                "items": t.items.map { i -> [String: Any] in
                    [
                        "id": i.id, "idEncoded": urlEncode(i.id), "institution": i.institution ?? "–", "status": i.status,
                        "statusClass": statusClass(i.status), "errorCode": i.errorCode ?? false,
                        "lastSync": i.lastSyncedAtMs.map { DashboardFormat.age(ms: Self.nowMs() - $0) + " ago" } ?? "never",
                    ]
                },
                "subscriptions": t.subscriptions.map { s -> [String: Any] in
                    [
                        "id": s.id, "customer": s.customer, "customerEncoded": urlEncode(s.customer), "plan": s.plan ?? "–",
                        "status": s.status, "statusClass": statusClass(s.status), "periodEnd": DashboardFormat.time(ms: s.periodEndMs),
                    ]
                },
            ]
        }
        if list.count == 20, let last = list.last { model["next"] = "/ui/tenants?after=" + urlEncode(last.id) }
        return page("tenants", model)
    }

    func auditPage(_ request: Request, _ context: JobKitRequestContext) async throws -> Response {
        var model = base("audit", context)
        let before = request.uri.queryParameters["before"].map(String.init)
        let entries = try await audit.entries(before: before, limit: Self.pageSize)
        model["entries"] = entries.map { e -> [String: Any] in
            ["at": DashboardFormat.time(ms: e.atMs), "user": e.user, "role": e.role, "action": e.action, "target": e.target, "count": e.count]
        }
        model["cap"] = DashboardFormat.count(DashboardAudit.maxEntries)
        model["next"] = entries.count == Self.pageSize ? ("/ui/audit?before=" + urlEncode(entries.last!.id)) as Any : false
        return page("audit", model)
    }
}
