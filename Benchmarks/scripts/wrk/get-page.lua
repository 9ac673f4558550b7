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
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "summary.lua")
