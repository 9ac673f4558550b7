-- wrk script: POST /v1/jobs:batch with BATCH jobs per request (default 100), with a bearer key. Usage:
--   wrk -s post-batch.lua http://127.0.0.1:PORT -- SECRET QUEUE BATCH
local secret, queue, batch
local counter = 0
function init(args)
  secret = args[1]
  queue = args[2] or "bench-http"
  batch = tonumber(args[3] or "100")
end
function request()
  local jobs = {}
  for j = 1, batch do
    counter = counter + 1
    jobs[j] = string.format('{"name":"jobkit.noop","queue":"%s","payload":{"i":%d}}', queue, counter)
  end
  local body = '{"jobs":[' .. table.concat(jobs, ",") .. ']}'
  return wrk.format("POST", "/v1/jobs:batch", {
    ["Authorization"] = "Bearer " .. secret,
    ["Content-Type"] = "application/json",
  }, body)
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "errors": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
