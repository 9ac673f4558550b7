/// Every Lua script JobKit runs, by name: for tests that check the script contract (every key derived from
/// `KEYS`, one hash slot per call) and for operators who preload scripts (`SCRIPT LOAD`).
enum JobKitScripts {
    static let all: [(name: String, script: RedisScript)] = [
        ("queue.enqueue", QueueScripts.enqueue), ("queue.watch", QueueScripts.watch),
        ("queue.requeue", QueueScripts.requeue), ("queue.delete", QueueScripts.delete),
        ("queue.cancel", QueueScripts.cancel), ("queue.cancelMany", QueueScripts.cancelMany),
        ("queue.purge", QueueScripts.purge), ("queue.requeueDead", QueueScripts.requeueDead),
        ("queue.bury", QueueScripts.bury), ("queue.deleteIdle", QueueScripts.deleteIdle), ("queue.search", JobSearchScript.scan),
        ("queue.oldestReady", QueueScripts.oldestReady),
        ("history.record", HistoryScripts.record), ("history.read", HistoryScripts.read),
        ("queue.trimTerminal", QueueScripts.trimTerminal), ("queue.releaseIdempotency", JobQueue.releaseIdempotencyScript),
        ("lease.claim", LeaseScripts.claim), ("lease.complete", LeaseScripts.complete), ("lease.fail", LeaseScripts.fail),
        ("lease.release", LeaseScripts.release), ("lease.renew", LeaseScripts.renew), ("lease.reap", LeaseScripts.reap),
        ("lease.reclaimNode", LeaseScripts.reclaimNode),
        ("node.heartbeat", NodeScripts.heartbeat), ("node.deregister", NodeScripts.deregister),
        ("schedule.tick", ScheduleScripts.tick), ("schedule.upsert", ScheduleScripts.upsert),
        ("schedule.remove", ScheduleScripts.remove),
        ("limit.acquire", LimitScripts.acquire),
        ("cache.get", CacheScripts.get), ("cache.set", CacheScripts.set), ("cache.delete", CacheScripts.delete),
        ("cache.invalidate", CacheScripts.invalidate), ("cache.fetch", CacheScripts.fetch),
        ("session.index", SessionScripts.index), ("session.create", SessionScripts.create), ("session.get", SessionScripts.get),
        ("breakers.publish", BreakerScripts.publish), ("breakers.read", BreakerScripts.read),
        ("session.update", SessionScripts.update), ("session.revoke", SessionScripts.revoke), ("session.prune", SessionScripts.prune),
    ]
}
