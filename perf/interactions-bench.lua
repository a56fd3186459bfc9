-- wrk script for POST /interactions, the highest-volume write. Every request carries a distinct
-- element ("#bench-<thread>-<n>"), so the rows a run stored can be counted and told apart:
--   SELECT count(*) FROM interactions WHERE element LIKE '#bench-%';
-- before and after the run. Rows stored = requests wrk counted, plus at most one in flight per
-- connection when wrk stopped; any non-2xx response is an error (wrk prints their count).
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local headers = { ["Content-Type"] = "application/json" }

function init()
  sent = 0
end

function request()
  sent = sent + 1
  local body = '{"element":"#bench-' .. id .. '-' .. sent .. '","widget":"Related Items","time":"' ..
    os.date("!%Y-%m-%dT%H:%M:%SZ") .. '"}'
  return wrk.format("POST", "/interactions", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("completed %d, errors: connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
