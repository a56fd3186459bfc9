-- wrk script for the Questions & answers reads, over random products (or questions) in the last
-- 10 % of the ids: the newest rows, which a benchmark walking ids from 1 would never warm by accident.
--   PRODUCTS   the number of products, ids 1..PRODUCTS (default 10000, scale 0.01)
--   QUESTIONS  the largest question id (default 34742, scale 0.01), for ROUTE=answers
--   ROUTE      questions  GET /qa/questions?product_id=…&count=100 (default)
--              answers    GET /qa/questions/…/answers?count=100
-- Each wrk thread has its own Lua state, so each seeds its own generator.
local products = tonumber(os.getenv("PRODUCTS") or "10000")
local questions = tonumber(os.getenv("QUESTIONS") or "34742")
local route = os.getenv("ROUTE") or "questions"

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init()
  math.randomseed(os.time() * 1000 + (seed or 0))
end

local function newest(count)
  return math.random(math.floor(count * 0.9) + 1, count)
end

function request()
  if route == "answers" then
    return wrk.format("GET", "/qa/questions/" .. newest(questions) .. "/answers?count=100")
  end
  return wrk.format("GET", "/qa/questions?product_id=" .. newest(products) .. "&count=100")
end
