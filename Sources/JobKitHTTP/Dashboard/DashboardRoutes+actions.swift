import Hummingbird
import JobKit

/// The dashboard's actions (POST): each checks the role (and `--ui-read-only`), asks for confirmation when
/// destructive, is written to the audit log, and redirects back with what it did.
extension DashboardRoutes {
    func registerActions(on ui: RouterGroup<JobKitRequestContext>) {
        ui.post("queues/:queue/pause") { _, c in try await self.queueToggle(c, pause: true) }
        ui.post("queues/:queue/resume") { _, c in try await self.queueToggle(c, pause: false) }
        ui.post("queues/:queue/purge") { _, c in try await self.purge(c) }
        ui.post("queues/:queue/jobs") { _, c in try await self.bulk(c) }
        ui.post("jobs/:id/:action") { _, c in try await self.jobAction(c) }
        ui.post("nodes/:id/:action") { _, c in try await self.nodeAction(c) }
        ui.post("schedules/:name/:action") { _, c in try await self.scheduleAction(c) }
    }

    /// The viewer, when it may act with `role`; else a 403 page.
    func authorize(_ context: JobKitRequestContext, _ role: DashboardRole) throws -> DashboardViewer {
        guard !configuration.readOnly else { throw DashboardError(.forbidden, "The dashboard is read-only (--ui-read-only).") }
        guard let viewer = context.dashboardViewer, viewer.role >= role else {
            throw DashboardError(.forbidden, "This action needs the \(role.rawValue) role.")
        }
        return viewer
    }

    func record(_ viewer: DashboardViewer, _ action: String, _ target: String, _ count: Int, _ context: JobKitRequestContext) async throws {
        try await audit.record(user: viewer.name, role: viewer.role, action: action, target: target, count: count)
        context.logger.notice(
            "Dashboard action", metadata: ["ui.user": "\(viewer.name)", "ui.action": "\(action)", "ui.target": "\(target)", "count": "\(count)"])
    }

    /// Back to `path`, with `message` in the flash cookie (shown once by the page).
    func done(_ path: String, _ message: String) -> Response {
        var response = DashboardRenderer.redirect(path)
        response.setCookie(flashCookie(message))
        return response
    }

    /// The confirmation page when the form does not carry `confirm=yes`; `nil` when it does.
    func confirmation(
        _ context: JobKitRequestContext, question: String, detail: String, button: String, action: String, back: String,
        fields: [(String, String)]
    ) -> Response? {
        guard context.dashboardForm["confirm"] != "yes" else { return nil }
        var model = base("confirm", context)
        model["question"] = question
        model["detail"] = detail
        model["button"] = button
        model["action"] = action
        model["back"] = back
        model["fields"] = fields.map { ["name": $0.0, "value": $0.1] }
        return page("confirm", model)
    }

    func queueName(_ context: JobKitRequestContext) async throws -> String {
        let name = context.parameters.get("queue") ?? ""
        guard try await queue.queueExists(name) else { throw DashboardError(.notFound, "No queue named '\(name)'.") }
        return name
    }

    func queueToggle(_ context: JobKitRequestContext, pause: Bool) async throws -> Response {
        let viewer = try authorize(context, .operator)
        let name = try await queueName(context)
        if pause { try await queue.pause(queue: name) } else { try await queue.resume(queue: name) }
        try await record(viewer, pause ? "pause" : "resume", "queue:" + name, 0, context)
        return done("/ui/queues/" + urlEncode(name) + "?state=ready", pause ? "Queue \(name) paused." : "Queue \(name) resumed.")
    }

    func purge(_ context: JobKitRequestContext) async throws -> Response {
        let viewer = try authorize(context, .admin)
        let name = try await queueName(context)
        let back = "/ui/queues/" + urlEncode(name)
        let counts = try await queue.counts(name)
        if let ask = confirmation(
            context, question: "Purge queue \(name)?",
            detail: "This deletes every waiting job — \(counts.ready) ready, \(counts.scheduled) scheduled, \(counts.retrying) retrying. Running and finished jobs stay. It cannot be undone.",
            button: "Purge \(counts.ready + counts.scheduled + counts.retrying) jobs", action: back + "/purge", back: back, fields: [])
        {
            return ask
        }
        let n = try await queue.purge(queue: name)
        try await record(viewer, "purge", "queue:" + name, n, context)
        return done(back + "?state=ready", "Purged \(n) waiting jobs from \(name).")
    }

    /// Bulk action on selected jobs, or on every job of the state (in chunks of 500, at most 200,000 per request).
    func bulk(_ context: JobKitRequestContext) async throws -> Response {
        let form = context.dashboardForm
        let name = try await queueName(context)
        guard let state = form["state"].flatMap(JobState.init(rawValue:)) else { throw DashboardError(.badRequest, "The form names no valid state.") }
        let actionName = form["action"] ?? ""
        guard let action = Self.actions(for: state).first(where: { $0.value == actionName }) else {
            throw DashboardError(.badRequest, "'\(actionName)' is not an action for \(state.rawValue) jobs.")
        }
        let viewer = try authorize(context, action.role)
        let all = form["scope"] == "all"
        let ids = form.all("ids")
        let back = "/ui/queues/" + urlEncode(name) + "?state=" + state.rawValue
        guard all || !ids.isEmpty else { return done(back, "No job was selected.") }
        let set = queue.stateSet(name, state)
        // "All" means the jobs in the state when the operator confirms: up to the highest score then (carried by the
        // confirmation form), so that jobs arriving during the run are not swept up with them.
        var upTo = form["upTo"] ?? ""
        if all && upTo.isEmpty {
            let top = try await queue.redis.send(RedisCommand("ZREVRANGE", set, 0, 0, "WITHSCORES")).array ?? []
            upTo = top.count == 2 ? (top[1].string ?? "+inf") : "-inf"
        }
        guard !all || upTo == "+inf" || upTo == "-inf" || Double(upTo) != nil else { throw DashboardError(.badRequest, "The form's bound is not a score.") }
        let total = all ? try await queue.redis.send(RedisCommand("ZCOUNT", set, "-inf", upTo)).int ?? 0 : ids.count
        if action.value != "retry", let ask = confirmation(
            context, question: "\(action.label) \(total) \(state.rawValue) job\(total == 1 ? "" : "s") of \(name)?",
            detail: all
                ? "Every \(state.rawValue) job of the queue now (\(total)); jobs that arrive later are left alone."
                : "The \(ids.count) selected job\(ids.count == 1 ? "" : "s").",
            button: "\(action.label) \(total) job\(total == 1 ? "" : "s")", action: "/ui/queues/\(urlEncode(name))/jobs", back: back,
            fields: [("action", action.value), ("state", state.rawValue), ("scope", all ? "all" : "selected")]
                + (all ? [("upTo", upTo)] : []) + ids.map { ("ids", $0) })
        {
            return ask
        }
        var affected = 0
        if all {
            // Chunks of 500 by score; the ids an action leaves in the set (a running job asked to cancel, an id whose
            // record expired) are stepped over, so every id is visited once and the walk ends.
            var offset = 0
            for _ in 0..<1000 {
                let chunk = (try await queue.redis.send(
                    RedisCommand("ZRANGEBYSCORE", strings: [set, "-inf", upTo, "LIMIT", String(offset), "500"])).array ?? []).compactMap(\.string)
                guard !chunk.isEmpty else { break }
                affected += try await apply(action.value, chunk, queue: name)
                let left = try await queue.redis.send(RedisCommand("ZMSCORE", strings: [set] + chunk)).array ?? []
                offset += left.filter { !$0.isNull }.count
            }
        } else {
            affected = try await apply(action.value, ids, queue: name)
        }
        try await record(viewer, action.value, "queue:\(name) \(state.rawValue)" + (all ? " (all)" : ""), affected, context)
        return done(back, "\(action.label): \(affected) job\(affected == 1 ? "" : "s").")
    }

    /// Applies one action to ids of `queue`; returns how many jobs it changed.
    func apply(_ action: String, _ ids: [String], queue name: String) async throws -> Int {
        switch action {
        case "retry": return try await queue.requeue(ids, queue: name)
        case "delete": return try await queue.deleteIdle(ids, queue: name)
        case "dead": return try await queue.moveToDead(ids, queue: name)
        case "cancel":
            var n = 0
            for id in ids {
                switch try await queue.cancel(id, queue: name) {
                case .canceled, .requested: n += 1
                default: break
                }
            }
            return n
        default: throw DashboardError(.badRequest, "Unknown action '\(action)'.")
        }
    }

    func jobAction(_ context: JobKitRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        let action = context.parameters.get("action") ?? ""
        let role: DashboardRole
        switch action {
        case "retry", "cancel": role = .operator
        case "delete": role = .admin
        default: throw DashboardError(.notFound, "Unknown job action '\(action)'.")
        }
        let viewer = try authorize(context, role)
        guard let r = try await queue.job(id) else { throw DashboardError(.notFound, "No job '\(id)'.") }
        if action == "delete" && r.state == .active {
            throw DashboardError(.conflict, "Job \(id) is running; cancel it first, then delete it.")
        }
        let page = "/ui/jobs/\(urlEncode(id))?queue=\(urlEncode(r.queue))"
        if action != "retry", let ask = confirmation(
            context, question: "\(action.capitalized) job \(id)?",
            detail: action == "delete" ? "Its record and result are removed; it cannot be undone." : "A waiting job is canceled at once; a running one is asked to stop.",
            button: action.capitalized, action: "/ui/jobs/\(urlEncode(id))/\(action)", back: page, fields: [])
        {
            return ask
        }
        let n = try await apply(action, [id], queue: r.queue)
        try await record(viewer, action, "job:\(r.queue)/\(id)", n, context)
        if action == "delete" { return done("/ui/queues/" + urlEncode(r.queue) + "?state=" + r.state.rawValue, n == 1 ? "Deleted job \(id)." : "Job \(id) was already gone.") }
        let verb = action == "retry" ? "Retried" : "Cancel requested for"
        return done(page, n == 1 ? "\(verb) job \(id)." : "Job \(id) was not \(action == "retry" ? "dead or canceled" : "waiting or running") any more.")
    }

    func nodeAction(_ context: JobKitRequestContext) async throws -> Response {
        let id = context.parameters.get("id") ?? ""
        let action = context.parameters.get("action") ?? ""
        guard action == "drain" || action == "shutdown" else { throw DashboardError(.notFound, "Unknown node action '\(action)'.") }
        let viewer = try authorize(context, action == "drain" ? .operator : .admin)
        guard let node = try await registry.find(id) else { throw DashboardError(.notFound, "No live node '\(id)'.") }
        if let ask = confirmation(
            context, question: action == "drain" ? "Drain \(node.name)?" : "Shut down \(node.name)?",
            detail: action == "drain"
                ? "It stops claiming jobs, finishes those it runs, then exits."
                : "It stops claiming jobs, waits its shutdown grace for running jobs, hands the rest back, then exits.",
            button: action == "drain" ? "Drain" : "Shut down", action: "/ui/nodes/\(urlEncode(id))/\(action)", back: "/ui/nodes", fields: [])
        {
            return ask
        }
        let addressed = action == "drain" ? try await registry.requestDrain(node: node.id) : try await registry.requestShutdown(node: node.id, grace: nil)
        try await record(viewer, action, "node:" + node.name, 0, context)
        return done("/ui/nodes", addressed.isEmpty ? "Node \(node.name) is gone." : "\(action.capitalized) requested for \(node.name).")
    }

    func scheduleAction(_ context: JobKitRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let action = context.parameters.get("action") ?? ""
        guard ["enable", "disable", "trigger"].contains(action) else { throw DashboardError(.notFound, "Unknown schedule action '\(action)'.") }
        let viewer = try authorize(context, .operator)
        guard try await schedules.get(name) != nil else { throw DashboardError(.notFound, "No schedule '\(name)'.") }
        let message: String
        switch action {
        case "trigger":
            let id = try await schedules.trigger(name, using: queue)
            message = "Schedule \(name) triggered: job \(id)."
        default:
            try await schedules.setEnabled(name, action == "enable")
            message = "Schedule \(name) \(action)d."
        }
        try await record(viewer, action, "schedule:" + name, action == "trigger" ? 1 : 0, context)
        return done("/ui/schedules", message)
    }
}
