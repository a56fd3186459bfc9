-- wrk script for GET /products/:id/styles over a range of product ids.
--   FIRST_ID, LAST_ID  the ids to draw from (default 1..1000)
--   HOT_IDS            if set, draw from only the first HOT_IDS ids of the range (a hot set
--                      that fits the workers' caches); unset, every id is equally likely
-- Each wrk thread has its own Lua state, so each seeds its own generator.
local first = tonumber(os.getenv("FIRST_ID") or "1")
local last = tonumber(os.getenv("LAST_ID") or "1000")
local hot = tonumber(os.getenv("HOT_IDS") or "0")
if hot > 0 then last = math.min(last, first + hot - 1) end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init()
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  return wrk.format("GET", "/products/" .. math.random(first, last) .. "/styles")
end

