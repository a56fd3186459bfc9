-- wrk script for one read route with random ids (perf/bench.ts sets the environment).
--   ROUTE_PATH  the path with {id} where the id goes, e.g. /products/{id}/styles
--   FIRST_ID, LAST_ID  draw ids uniformly from this range, or
--   IDS_FILE    draw them from this file, one id per line (ids that are not a range: questions)
--   ACCEPT_ENCODING  sent as Accept-Encoding when set (perf/encoding-bench.ts: a browser's)
-- Each wrk thread has its own Lua state, so each seeds its own generator and reads the file.
local template = os.getenv("ROUTE_PATH") or "/products/{id}"
local first = tonumber(os.getenv("FIRST_ID") or "1")
local last = tonumber(os.getenv("LAST_ID") or "1000")
local ids_file = os.getenv("IDS_FILE")
local accept_encoding = os.getenv("ACCEPT_ENCODING")
local headers = accept_encoding and { ["Accept-Encoding"] = accept_encoding } or nil

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

local ids
function init()
  math.randomseed(os.time() * 1000 + (seed or 0))
  if ids_file then
    ids = {}
    for line in io.lines(ids_file) do ids[#ids + 1] = line end
  end
end

local prefix, suffix = template:match("^(.-){id}(.*)$")

function request()
  local id = ids and ids[math.random(#ids)] or math.random(first, last)
  return wrk.format("GET", prefix .. id .. suffix, headers)
end
