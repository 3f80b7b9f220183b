-- wrk's side of bench/rpc.ts: the same load for every target. Each request is a fresh
-- REGISTRY.register_user call with its own idempotency key (users cycle over 32 x 500 ids).
-- A response counts as an error unless it is a 200 whose body starts with {"ok":true.
-- Environment: BENCH_TOKEN (bearer token), BENCH_PATH (/rpc or /bare), BENCH_RUN (key prefix).
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local counter = 0
failures = 0
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
local path = os.getenv("BENCH_PATH") or "/rpc"
local run = os.getenv("BENCH_RUN") or "r"

function request()
  counter = counter + 1
  local w = counter % 32
  local body = string.format(
    '{"api_version":"v1","method":"REGISTRY.register_user","args":["bench_u%d_%d","bench_s%d_%d"],"idempotency_key":"%s-%s-%d"}',
    w, counter % 500, w, counter, run, tostring(id), counter)
  return wrk.format(nil, path, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or string.sub(body, 1, 10) ~= '{"ok":true' then failures = failures + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("failures") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
    e.connect + e.read + e.write + e.timeout))
end
