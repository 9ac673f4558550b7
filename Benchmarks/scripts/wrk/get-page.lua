-- GETs one dashboard page with an API key (a bearer header: no cookie, no CSRF), and prints the latency summary.
--   wrk -s get-page.lua http://127.0.0.1:PORT -- SECRET PATH
local secret, path
function init(args)
  secret = args[1]
  path = args[2]
end
function request()
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. secret})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "errors": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, e.status + e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
