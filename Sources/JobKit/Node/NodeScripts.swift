/// The registry's scripts. Each is one atomic call; time comes from Redis `TIME`.
enum NodeScripts {
    /// Writes this node's record and beat, collects its pending cancels and commands, and declares dead
    /// the nodes silent for longer than the dead-node timeout (each exactly once: the `ZREM` decides).
    ///
    /// Silence is judged fairly:
    /// - the registry clock (`clock`, the last beat by any node) shows when *nobody* could beat — Redis was
    ///   paused, restarted, or its clock stepped: every node's beat is then moved by that gap, so no node
    ///   is declared dead for time during which no node could reach Redis;
    /// - a node that was itself silent for longer than the timeout (its own previous beat is that old, or
    ///   it was removed) judges nobody on this beat.
    ///
    /// Cancels and commands are delivered at least once: they stay until the node acknowledges them on its
    /// next beat (ARGV acks), so a reply lost on the way loses nothing.
    ///
    /// KEYS: 1 registry prefix (`<ns>:{nodes}:`). ARGV: 1 node id, 2 record TTL ms, 3 dead-node timeout ms,
    /// 4 pause threshold ms, 5 commands acknowledged (count handled from the head of the list), 6 n = cancel
    /// ids acknowledged, 7…6+n those ids, then field/value pairs of the record.
    /// Reply: `[nowMs, [cancel ids], [commands], [dead node id, last beat ms, ...], declaredDead (0/1),
    /// gapMs]`.
    static let heartbeat = RedisScript(
        """
        local P = KEYS[1]
        local id = ARGV[1]
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local timeout = tonumber(ARGV[3])
        local threshold = tonumber(ARGV[4])
        local last = tonumber(redis.call('GET', P .. 'clock') or '0')
        redis.call('SET', P .. 'clock', now, 'PX', 86400000)
        local gap = 0
        if last > 0 and (now - last > threshold or now - last < -threshold) then
          gap = now - last
          local beats = redis.call('ZRANGE', P .. 'index', 0, -1, 'WITHSCORES')
          local moved = {}
          for i = 1, #beats, 2 do
            moved[#moved + 1] = tonumber(beats[i + 1]) + gap
            moved[#moved + 1] = beats[i]
          end
          for i = 1, #moved, 2000 do
            redis.call('ZADD', P .. 'index', unpack(moved, i, math.min(i + 1999, #moved)))
          end
          redis.call('XADD', P .. 'events', 'MAXLEN', '~', 1000, '*', 'type', 'pause', 'gapMs', gap, 'by', id)
        end
        local mine = redis.call('ZSCORE', P .. 'index', id)
        local declaredDead = 0
        if not mine and redis.call('EXISTS', P .. 'gone:' .. id) == 1 then
          declaredDead = 1
          redis.call('DEL', P .. 'gone:' .. id)
        end
        local judge = mine and (now - tonumber(mine) <= timeout)
        local key = P .. 'node:' .. id
        local ackCancels = tonumber(ARGV[6])
        local fieldsFrom = 7 + ackCancels
        local fields = {}
        for i = fieldsFrom, #ARGV do fields[#fields + 1] = ARGV[i] end
        redis.call('HSET', key, 'lastHeartbeatMs', now, unpack(fields))
        redis.call('HSETNX', key, 'startedAtMs', now)
        redis.call('PEXPIRE', key, tonumber(ARGV[2]))
        redis.call('ZADD', P .. 'index', now, id)
        if ackCancels > 0 then
          local acked = {}
          for i = 7, 6 + ackCancels do acked[#acked + 1] = ARGV[i] end
          redis.call('SREM', P .. 'cancel:' .. id, unpack(acked))
        end
        local cancels = redis.call('SRANDMEMBER', P .. 'cancel:' .. id, 1000)
        local ackCommands = tonumber(ARGV[5])
        if ackCommands > 0 then redis.call('LTRIM', P .. 'commands:' .. id, ackCommands, -1) end
        local commands = redis.call('LRANGE', P .. 'commands:' .. id, 0, 99)
        local dead = {}
        if judge then
          local silent = redis.call('ZRANGEBYSCORE', P .. 'index', '-inf', now - timeout, 'WITHSCORES')
          for i = 1, #silent, 2 do
            local other = silent[i]
            if other ~= id and redis.call('ZREM', P .. 'index', other) == 1 then
              dead[#dead + 1] = other
              dead[#dead + 1] = silent[i + 1]
              redis.call('DEL', P .. 'node:' .. other, P .. 'cancel:' .. other, P .. 'commands:' .. other)
              redis.call('SET', P .. 'gone:' .. other, now, 'PX', 86400000)
              redis.call('XADD', P .. 'events', 'MAXLEN', '~', 1000, '*', 'type', 'dead', 'node', other, 'by', id)
            end
          end
        end
        return {now, cancels, commands, dead, declaredDead, gap}
        """)

    /// Removes a node from the registry (clean exit).
    ///
    /// KEYS: 1 registry prefix. ARGV: 1 node id.
    static let deregister = RedisScript(
        """
        local P = KEYS[1]
        redis.call('ZREM', P .. 'index', ARGV[1])
        redis.call('DEL', P .. 'node:' .. ARGV[1], P .. 'cancel:' .. ARGV[1], P .. 'commands:' .. ARGV[1])
        return 1
        """)
}
