-- wrk script: POST /v1/jobs, one job per request, with a bearer key. Each request carries a distinct small
-- payload ({"i": n}); no idempotency key, so every 201 is a new job. Usage (see ../http-bench):
--   wrk -s post-job.lua http://127.0.0.1:PORT -- SECRET QUEUE
local counter = 0
local secret, queue
function init(args)
  secret = args[1]
  queue = args[2] or "bench-http"
end
function request()
  counter = counter + 1
  local body = string.format('{"name":"jobkit.noop","queue":"%s","payload":{"i":%d}}', queue, counter)
  return wrk.format("POST", "/v1/jobs", {
    ["Authorization"] = "Bearer " .. secret,
    ["Content-Type"] = "application/json",
  }, body)
end
local statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %d, "errors": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
