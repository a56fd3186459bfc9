-- wrk script for the Ratings & reviews reads, over random products in the last 10 % of the ids
-- (the newest products: in the legacy data they are as reviewed as any, and they are the ones
-- a benchmark that walks ids from 1 would never warm by accident).
--   PRODUCTS   the number of products, ids 1..PRODUCTS (default 10000, scale 0.01)
--   ROUTE      list  GET /reviews?product_id=…&count=200&sort=relevant
--              meta  GET /reviews/meta?product_id=…
--              both  (default) each request picks one of the two at random
-- Each wrk thread has its own Lua state, so each seeds its own generator.
local products = tonumber(os.getenv("PRODUCTS") or "10000")
local route = os.getenv("ROUTE") or "both"
local first = math.floor(products * 0.9) + 1

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init()
  math.randomseed(os.time() * 1000 + (seed or 0))
end

local function list(id)
  return "/reviews?product_id=" .. id .. "&count=200&sort=relevant"
end

local function meta(id)
  return "/reviews/meta?product_id=" .. id
end

function request()
  local id = math.random(first, products)
  local path
  if route == "list" then
    path = list(id)
  elseif route == "meta" then
    path = meta(id)
  elseif math.random(2) == 1 then
    path = list(id)
  else
    path = meta(id)
  end
  return wrk.format("GET", path)
end
