/// The history's scripts. `KEYS[1]` = `<ns>:{history}:` (``HistoryKeys/prefix``); bucket keys are built
/// from it, so every key of a call is in the `{history}` slot.
enum HistoryScripts {
    /// Separates queue, job name and field suffix in a bucket's field names.
    static let separator = "\u{1F}"
    /// Minute buckets live 48 hours; hour buckets 30 days.
    static let minuteTTLMs: Int64 = 48 * 3_600_000
    static let hourTTLMs: Int64 = 30 * 86_400_000

    /// ARGV: minute ttl ms, hour ttl ms, (field, increment)…. Adds the increments to the current minute's
    /// and hour's buckets (by Redis time).
    static let record = RedisScript(
        """
        local P = KEYS[1]
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local m = P .. 'm:' .. math.floor(now / 60000)
        local h = P .. 'h:' .. math.floor(now / 3600000)
        for i = 3, #ARGV, 2 do
          redis.call('HINCRBY', m, ARGV[i], ARGV[i + 1])
          redis.call('HINCRBY', h, ARGV[i], ARGV[i + 1])
        end
        redis.call('PEXPIRE', m, tonumber(ARGV[1]))
        redis.call('PEXPIRE', h, tonumber(ARGV[2]))
        return 1
        """)

    /// ARGV: 'm' or 'h', count. Reply: `[now ms, (bucket start ms, [field, value, …]) × count]`, oldest
    /// bucket first, ending with the current one.
    static let read = RedisScript(
        """
        local P = KEYS[1]
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local span = ARGV[1] == 'h' and 3600000 or 60000
        local n = tonumber(ARGV[2])
        local current = math.floor(now / span)
        local out = {now}
        for b = current - n + 1, current do
          out[#out + 1] = b * span
          out[#out + 1] = redis.call('HGETALL', P .. ARGV[1] .. ':' .. b)
        end
        return out
        """)

    /// The record call for `tallies`; `nil` when there is nothing to write.
    static func record(_ keys: HistoryKeys, _ tallies: [HistoryRecorder.Series: HistoryTally]) -> RedisScriptCall? {
        var args: [any RESPArgument] = [minuteTTLMs, hourTTLMs]
        for (series, tally) in tallies {
            let prefix = series.queue + separator + series.job + separator
            for (field, value) in tally.fields(prefix: prefix) {
                args.append(field)
                args.append(value)
            }
        }
        guard args.count > 2 else { return nil }
        return RedisScriptCall(record, keys: [keys.prefix], arguments: args)
    }
}
