-- wrk script: POST /v1/jobs (BATCH = 1, one job per request) or POST /v1/jobs:batch (BATCH jobs per request),
-- with a bearer key. Each job carries a distinct small payload ({"i": n}) and no idempotency key, so every job
-- in a 201 is new. Usage (see ../http-bench):
--   wrk -s post-jobs.lua http://127.0.0.1:PORT -- SECRET QUEUE BATCH
local secret, queue, batch
local counter = 0
function init(args)
  secret = args[1]
  queue = args[2] or "bench-http"
  batch = tonumber(args[3] or "1")
end
local function job()
  counter = counter + 1
  return string.format('{"name":"jobkit.noop","queue":"%s","payload":{"i":%d}}', queue, counter)
end
function request()
  local headers = {["Authorization"] = "Bearer " .. secret, ["Content-Type"] = "application/json"}
  if batch <= 1 then return wrk.format("POST", "/v1/jobs", headers, job()) end
  local jobs = {}
  for j = 1, batch do jobs[j] = job() end
  return wrk.format("POST", "/v1/jobs:batch", headers, '{"jobs":[' .. table.concat(jobs, ",") .. ']}')
end
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
