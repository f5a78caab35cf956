-- wrk script for bench/run.py: POST the body in $BODY_FILE and check EVERY response:
-- status 200, no "errors" key, and a body length equal to $EXPECTED_LEN (the length of a
-- response that bench/run.py has deep-compared with the oracle). Prints one line
-- "BENCH_JSON {...}" with throughput, latency percentiles (ms) and the check counters.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

local expected_len = tonumber(os.getenv("EXPECTED_LEN") or "-1")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  checked, non200, with_errors, len_mismatch = 0, 0, 0, 0
end

function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 then non200 = non200 + 1 end
  if string.find(body, '"errors"', 1, true) then with_errors = with_errors + 1 end
  if expected_len >= 0 and #body ~= expected_len then len_mismatch = len_mismatch + 1 end
end

function done(summary, latency, requests)
  local c = { checked = 0, non200 = 0, with_errors = 0, len_mismatch = 0 }
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  local function ms(us) return us / 1000 end
  io.write(string.format(
    'BENCH_JSON {"tool":"wrk","requests":%d,"duration_s":%.3f,"rps":%.2f,' ..
    '"lat_ms":{"mean":%.3f,"p50":%.3f,"p90":%.3f,"p95":%.3f,"p99":%.3f,"p99_9":%.3f,"max":%.3f},' ..
    '"checks":{"checked":%d,"non200":%d,"with_errors":%d,"len_mismatch":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"status_errors":%d}}\n',
    summary.requests, secs, summary.requests / secs,
    ms(latency.mean), ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(95)),
    ms(latency:percentile(99)), ms(latency:percentile(99.9)), ms(latency.max),
    c.checked, c.non200, c.with_errors, c.len_mismatch,
    e.connect, e.read, e.write, e.timeout, e.status))
end
