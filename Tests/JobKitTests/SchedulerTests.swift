import Foundation
import JobKitTestSupport
import NIOCore
import Testing

@testable import JobKit

#if canImport(Glibc)
import Glibc
#endif

/// The ticks of the jobs a schedule enqueued to `queue`, from their idempotency keys.
private func firedTicks(_ h: EngineHarness, queue: String, schedule: String) async throws -> [Int64] {
    let records = try await h.queue.list(queue, state: .ready, limit: 100_000)
        + h.queue.list(queue, state: .scheduled, limit: 100_000)
    let keys = h.queue.keys(queue)
    let replies = try await h.redis.pipeline(records.map { RedisCommand("HGET", keys.job($0.id), "idem") })
    return replies.compactMap { $0.string }.filter { $0.hasPrefix("schedule:\(schedule):") }
        .compactMap { Int64($0.split(separator: ":").last!) }.sorted()
}

@Suite("Scheduler")
struct SchedulerTests {
    @Test("three scheduler loops on one Redis, a 1-second schedule for 20 seconds: exactly one job per tick")
    func oneJobPerTick() async throws {
        try await EngineHarness.with { h in
            let store = ScheduleStore(redis: h.redis, namespace: h.namespace)
            try await store.save(.every("tick", .seconds(1), job: "jobkit.noop", queue: "ticks"))
            let pools = (0..<3).map { _ in RedisPool(configuration: try! TestEnvironment.redisConfiguration(), size: 1) }
            let loops = pools.map { Scheduler(store: ScheduleStore(redis: $0, namespace: h.namespace), logger: TestEnvironment.logger) }
            let tasks = loops.map { loop in Task { try await loop.run() } }
            try await Task.sleep(for: .seconds(20))  // the test's subject is 20 s of ticks
            for t in tasks { t.cancel() }
            for t in tasks { _ = try? await t.value }
            for p in pools { await p.close() }
            let ticks = try await firedTicks(h, queue: "ticks", schedule: "tick")
            #expect(ticks.count >= 18, "ticks: \(ticks.count)")
            #expect(Set(ticks).count == ticks.count, "a tick fired twice")
            for (a, b) in zip(ticks, ticks.dropFirst()) { #expect(b - a == 1000, "gap or duplicate between \(a) and \(b)") }
            #expect(try await h.queue.counts("ticks").ready == ticks.count)
        }
    }

    @Test("killing a node keeps the ticks going on the others, one job per tick")
    func ticksSurviveAKilledNode() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("sched")
            let store = ScheduleStore(redis: h.redis, namespace: h.namespace)
            try await store.save(.every("tick", .seconds(1), job: "jobkit.noop", queue: "ticks"))
            let nodes = try (0..<3).map {
                try JobNodeProcess(
                    ["run", "--namespace", h.namespace, "--queues", "unused", "--name", "sched-\($0)"], logPath: "\(dir)/\($0).log")
            }
            try await waitUntil(timeout: .seconds(30)) { try await firedTicks(h, queue: "ticks", schedule: "tick").count >= 3 }
            nodes[0].process.signal(SIGKILL)
            await nodes[0].process.wait()
            let killedAt = try await h.redis.timeMilliseconds()
            try await waitUntil(timeout: .seconds(30)) {
                try await firedTicks(h, queue: "ticks", schedule: "tick").filter { $0 > killedAt }.count >= 5
            }
            for n in nodes.dropFirst() { n.process.signal(SIGTERM) }
            for n in nodes.dropFirst() { #expect(await n.process.wait() == 0) }
            let ticks = try await firedTicks(h, queue: "ticks", schedule: "tick")
            #expect(Set(ticks).count == ticks.count)
            for (a, b) in zip(ticks, ticks.dropFirst()) { #expect(b - a == 1000, "gap or duplicate between \(a) and \(b)") }
        }
    }

    @Test("misfire policies: skip drops late ticks, once fires one catch-up job, all fires each up to the cap")
    func misfire() async throws {
        try await EngineHarness.with { h in
            let store = ScheduleStore(redis: h.redis, namespace: h.namespace)
            let loop = Scheduler(store: store, logger: TestEnvironment.logger)
            let now = try await h.redis.timeMilliseconds()
            // Ticks every hour; the last five were missed, the latest of them 30 minutes ago.
            let anchor = now - 5 * 3_600_000 - 1_800_000
            for (name, policy, expected) in [("s-skip", Schedule.Misfire.skip, 0), ("s-once", .once, 1), ("s-all", .all(cap: 3), 3)] {
                var s = Schedule.every(name, .seconds(3600), anchorMs: anchor, job: "jobkit.noop", queue: name)
                s.misfire = policy
                try await store.save(s)
                _ = try await h.redis.send(RedisCommand("ZADD", h.queue.keys(name).schedulesDue, Int(anchor + 3_600_000), name))
                try await loop.runOnce()
                #expect(try await firedTicks(h, queue: name, schedule: name).count == expected, "\(name)")
                let next = try #require(try await store.get(name)?.nextRunMs)
                #expect(next > now && next - now <= 3_600_000, "next tick is the first after now")
            }
        }
    }

    @Test("overlap skip leaves the previous run alone; replace cancels it")
    func overlap() async throws {
        try await EngineHarness.with { h in
            let store = ScheduleStore(redis: h.redis, namespace: h.namespace)
            let loop = Scheduler(store: store, logger: TestEnvironment.logger)
            for policy in [Schedule.Overlap.skip, .replace] {
                let name = "o-\(policy.rawValue)"
                var s = Schedule.every(name, .seconds(3600), job: "jobkit.noop", queue: name)
                s.overlap = policy
                try await store.save(s)
                let due = h.queue.keys(name).schedulesDue
                let now = try await h.redis.timeMilliseconds()
                _ = try await h.redis.send(RedisCommand("ZADD", due, Int(now - 1000), name))
                try await loop.runOnce()
                let first = try #require(try await store.get(name)?.lastJobId)
                _ = try await h.redis.send(RedisCommand("ZADD", due, Int(now - 500), name))
                try await loop.runOnce()
                let after = try #require(try await store.get(name)?.lastJobId)
                if policy == .skip {
                    #expect(after == first)
                    #expect(try await h.queue.counts(name).ready == 1)
                } else {
                    #expect(after != first)
                    #expect(try await h.queue.job(first)?.state == .canceled)
                    #expect(try await h.queue.job(after)?.state == .ready)
                }
            }
        }
    }

    @Test("sync adds new schedules and updates changed ones without resetting their next tick")
    func sync() async throws {
        try await EngineHarness.with { h in
            let store = ScheduleStore(redis: h.redis, namespace: h.namespace)
            var daily = Schedule.cron("nightly", "0 3 * * *", job: "jobkit.noop")
            #expect(try await store.sync([daily]) == ["nightly": "added"])
            // An operator moved the next tick (e.g. triggered or delayed it): sync must keep it.
            _ = try await h.redis.send(RedisCommand("ZADD", h.queue.keys("default").schedulesDue, 42, "nightly"))
            #expect(try await store.sync([daily]) == ["nightly": "unchanged"])
            daily.payload = #"{"deep": true}"#
            #expect(try await store.sync([daily]) == ["nightly": "updated"])
            #expect(try await store.get("nightly")?.nextRunMs == 42)
            daily.trigger = .cron(expression: "0 4 * * *", timeZone: "UTC")
            #expect(try await store.sync([daily]) == ["nightly": "updated"])
            #expect(try await store.get("nightly")?.nextRunMs != 42)
            try await store.setEnabled("nightly", false)
            #expect(try await store.get("nightly")?.nextRunMs == nil)
            try await store.setEnabled("nightly", true)
            #expect(try await store.get("nightly")?.nextRunMs != nil)
            #expect(try await store.remove("nightly"))
            #expect(try await store.list().isEmpty)
        }
    }

    @Test("an operator's change to a default schedule (re-timed, disabled) survives the code's sync at every node start; removing it hands it back to the code")
    func operatorOverridesDefaults() async throws {
        try await EngineHarness.with { h in
            let store = ScheduleStore(redis: h.redis, namespace: h.namespace)
            let monthly = Schedule.cron("reports.monthly", "0 6 1 * *", job: "jobkit.noop")
            #expect(try await store.sync([monthly]) == ["reports.monthly": "added"])
            // The operator re-times it (jobnode schedules set saves the same way).
            var retimed = monthly
            retimed.trigger = .cron(expression: "0 7 2 * *", timeZone: "UTC")
            #expect(try await store.save(retimed) == "updated")
            // A node starts: the code's version does not come back.
            #expect(try await store.sync([monthly]) == ["reports.monthly": "kept"])
            #expect(try await store.get("reports.monthly")?.schedule.trigger == .cron(expression: "0 7 2 * *", timeZone: "UTC"))
            // Disabled by the operator: stays disabled through syncs.
            try await store.setEnabled("reports.monthly", false)
            #expect(try await store.sync([monthly]) == ["reports.monthly": "kept"])
            #expect(try await store.get("reports.monthly")?.schedule.enabled == false)
            #expect(try await store.get("reports.monthly")?.nextRunMs == nil)
            // Removed: the next sync adds the code's version, and follows the code again.
            #expect(try await store.remove("reports.monthly"))
            #expect(try await store.sync([monthly]) == ["reports.monthly": "added"])
            #expect(try await store.get("reports.monthly")?.schedule.trigger == monthly.trigger)
            var changed = monthly
            changed.payload = #"{"v": 2}"#
            #expect(try await store.sync([changed]) == ["reports.monthly": "updated"])
        }
    }

    @Test("schedules next prints fire times in the zone, with offsets, across a DST change")
    func cliNext() async throws {
        let dir = try TestEnvironment.makeTemporaryDirectory("next")
        let next = try JobNodeProcess(
            ["schedules", "next", "30 2 * * *", "--tz", "America/New_York", "--from", "2026-03-06T12:00:00Z", "--count", "3"],
            logPath: "\(dir)/next.log")
        #expect(await next.process.wait() == 0)
        #expect(next.log.split(separator: "\n") == [
            "2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00",
        ])
        let bad = try JobNodeProcess(["schedules", "next", "60 * * * *"], logPath: "\(dir)/bad.log")
        #expect(await bad.process.wait() != 0)
        #expect(bad.log.contains("minute"))
    }
}

@Suite("Schedules CLI")
struct SchedulesCLITests {
    @Test("schedules add, list --json, trigger, disable, enable and remove keep their contract")
    func cliContract() async throws {
        try await EngineHarness.with { h in
            let dir = try TestEnvironment.makeTemporaryDirectory("schedcli")
            func jobnode(_ args: [String], _ tag: String) async throws -> (Int32?, String) {
                let p = try JobNodeProcess(args + ["--namespace", h.namespace], logPath: "\(dir)/\(tag).log")
                let status = await p.process.wait()
                return (status, p.log)
            }
            let (addStatus, addLog) = try await jobnode(
                ["schedules", "add", "nightly", "--cron", "30 2 * * *", "--tz", "America/New_York", "--job", "jobkit.noop",
                 "--queue", "maint", "--overlap", "skip", "--misfire", "once"], "add")
            #expect(addStatus == 0, "\(addLog)")
            let (listStatus, listLog) = try await jobnode(["schedules", "list", "--json"], "list")
            #expect(listStatus == 0)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(listLog.utf8)) as? [[String: Any]])
            let row = try #require(rows.first { $0["name"] as? String == "nightly" })
            for key in ["name", "trigger", "tz", "nextRun", "lastRun", "lastJobId", "enabled"] {
                #expect(row.keys.contains(key), "schedules list --json lacks \(key)")
            }
            #expect(row["trigger"] as? String == "cron 30 2 * * *")
            #expect(row["tz"] as? String == "America/New_York")
            #expect((row["nextRun"] as? String)?.hasSuffix(":00") == true)
            #expect(row["enabled"] as? Bool == true)
            let (triggerStatus, triggerLog) = try await jobnode(["schedules", "trigger", "nightly"], "trigger")
            #expect(triggerStatus == 0)
            let id = triggerLog.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await h.queue.job(id, queue: "maint")?.name == "jobkit.noop")
            #expect(try await jobnode(["schedules", "disable", "nightly"], "disable").0 == 0)
            #expect(try await ScheduleStore(redis: h.redis, namespace: h.namespace).get("nightly")?.nextRunMs == nil)
            #expect(try await jobnode(["schedules", "enable", "nightly"], "enable").0 == 0)
            #expect(try await ScheduleStore(redis: h.redis, namespace: h.namespace).get("nightly")?.nextRunMs != nil)
            #expect(try await jobnode(["schedules", "remove", "nightly"], "remove").0 == 0)
            let (missingStatus, missingLog) = try await jobnode(["schedules", "remove", "nightly"], "remove2")
            #expect(missingStatus != 0 && missingLog.contains("no schedule 'nightly'"))
            let (badStatus, badLog) = try await jobnode(
                ["schedules", "add", "bad", "--cron", "* * 31 2 *", "--job", "jobkit.noop"], "bad")
            #expect(badStatus != 0 && badLog.contains("never fires"))
        }
    }
}
