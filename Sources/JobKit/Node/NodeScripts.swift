/// The registry's scripts. Each is one atomic call; time comes from Redis `TIME`.
enum NodeScripts {
    /// Writes this node's record and beat, collects its pending cancels and commands, and declares dead
    /// the nodes silent for longer than the dead-node timeout (each exactly once: the `ZREM` decides).
    ///
    /// KEYS: 1 index. ARGV: 1 prefix, 2 node id, 3 record TTL ms, 4 dead-node timeout ms, then field/value
    /// pairs of the record. Reply: `[nowMs, [cancel ids], [commands], [dead node ids]]`.
    static let heartbeat = RedisScript(
        """
        local P = ARGV[1]
        local id = ARGV[2]
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local key = P .. 'node:' .. id
        local fields = {}
        for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
        redis.call('HSET', key, 'lastHeartbeatMs', now, unpack(fields))
        redis.call('HSETNX', key, 'startedAtMs', now)
        redis.call('PEXPIRE', key, tonumber(ARGV[3]))
        redis.call('ZADD', P .. 'index', now, id)
        local cancels = redis.call('SMEMBERS', P .. 'cancel:' .. id)
        if #cancels > 0 then redis.call('DEL', P .. 'cancel:' .. id) end
        local commands = redis.call('LRANGE', P .. 'commands:' .. id, 0, -1)
        if #commands > 0 then redis.call('DEL', P .. 'commands:' .. id) end
        local dead = {}
        local silent = redis.call('ZRANGEBYSCORE', P .. 'index', '-inf', now - tonumber(ARGV[4]))
        for _, other in ipairs(silent) do
          if other ~= id and redis.call('ZREM', P .. 'index', other) == 1 then
            dead[#dead + 1] = other
            redis.call('DEL', P .. 'node:' .. other, P .. 'cancel:' .. other, P .. 'commands:' .. other)
            redis.call('XADD', P .. 'events', 'MAXLEN', '~', 1000, '*', 'type', 'dead', 'node', other, 'by', id)
          end
        end
        return {now, cancels, commands, dead}
        """)

    /// Removes a node from the registry (clean exit).
    ///
    /// KEYS: 1 index. ARGV: 1 prefix, 2 node id.
    static let deregister = RedisScript(
        """
        local P = ARGV[1]
        redis.call('ZREM', P .. 'index', ARGV[2])
        redis.call('DEL', P .. 'node:' .. ARGV[2], P .. 'cancel:' .. ARGV[2], P .. 'commands:' .. ARGV[2])
        return 1
        """)
}
