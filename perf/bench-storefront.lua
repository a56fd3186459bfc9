-- wrk script replaying product-page views (perf/bench.ts sets the environment).
-- A view is what the storefront issues for one product page: the product, its styles, related
-- products, 200 reviews by relevance, the review meta, 100 questions and the answers of one
-- question; some views also write (a click, a helpful vote, a review) so that writes are
-- WRITE_SHARE of all requests. Products are drawn with a Zipf popularity skew.
--   PRODUCTS_FILE  one product a line, most popular first: "<id> <question ids> <review ids>",
--                  ids comma-separated, "-" for none
--   ZIPF_S         the skew exponent (default 1)
--   WRITE_SHARE    the share of requests that write (default 0.05)
--   WRITE_KIND     reviews, helpful or interactions: every write of that kind (default: the blend below)
--   WRITTEN_FILE   where done() lists the products whose reviews were written to
local products_file = os.getenv("PRODUCTS_FILE")
local zipf_s = tonumber(os.getenv("ZIPF_S") or "1")
local write_share = tonumber(os.getenv("WRITE_SHARE") or "0.05")
local write_kind = os.getenv("WRITE_KIND")
local written_file = os.getenv("WRITTEN_FILE")

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("seed", #threads)
end

local function split_ids(field)
  local ids = {}
  if field ~= "-" then
    for id in field:gmatch("%d+") do ids[#ids + 1] = id end
  end
  return ids
end

local catalogue, cumulative, total = {}, {}, 0
function init()
  math.randomseed(os.time() * 1000 + (seed or 0))
  for line in io.lines(products_file) do
    local id, questions, reviews = line:match("^(%d+) (%S+) (%S+)$")
    catalogue[#catalogue + 1] = { id = id, questions = split_ids(questions), reviews = split_ids(reviews) }
    total = total + 1 / (#catalogue) ^ zipf_s
    cumulative[#catalogue] = total
  end
end

local function popular_product()
  local target, low, high = math.random() * total, 1, #cumulative
  while low < high do
    local middle = math.floor((low + high) / 2)
    if cumulative[middle] < target then low = middle + 1 else high = middle end
  end
  return catalogue[low]
end

local json_headers = { ["Content-Type"] = "application/json" }
-- Read by done() through thread:get: products written to, and writes by kind.
written = {}
writes = { interactions = 0, helpful = 0, reviews = 0 }

-- 10 % new reviews, 30 % helpful votes (clicks instead on a product with no review to vote for),
-- 60 % clicks.
-- A draw that lands in each kind's share below, for WRITE_KIND.
local KIND_DRAW = { reviews = 0.05, helpful = 0.2, interactions = 0.9 }

local function write_request(product)
  local kind = KIND_DRAW[write_kind] or math.random()
  if kind < 0.1 then
    writes.reviews = writes.reviews + 1
    written[product.id] = true
    return wrk.format("POST", "/reviews", json_headers, string.format(
      '{"product_id":%s,"rating":%d,"summary":"Benchmark review","body":"Written by the storefront mix of perf/bench.ts.",' ..
      '"recommend":true,"name":"bench","email":"bench@example.com"}', product.id, math.random(5)))
  elseif kind < 0.4 and #product.reviews > 0 then
    writes.helpful = writes.helpful + 1
    written[product.id] = true
    return wrk.format("PUT", "/reviews/" .. product.reviews[math.random(#product.reviews)] .. "/helpful")
  end
  writes.interactions = writes.interactions + 1
  return wrk.format("POST", "/interactions", json_headers, string.format(
    '{"element":"#product-%s .add-to-cart","widget":"overview","time":"%d"}', product.id, os.time()))
end

local queue, head = {}, 1
local function push(request) queue[#queue + 1] = request end

local function view()
  queue, head = {}, 1
  local product = popular_product()
  local id = product.id
  push(wrk.format("GET", "/products/" .. id))
  push(wrk.format("GET", "/products/" .. id .. "/styles"))
  push(wrk.format("GET", "/products/" .. id .. "/related"))
  push(wrk.format("GET", "/reviews?product_id=" .. id .. "&count=200&sort=relevant"))
  push(wrk.format("GET", "/reviews/meta?product_id=" .. id))
  push(wrk.format("GET", "/qa/questions?product_id=" .. id .. "&count=100"))
  if #product.questions > 0 then
    push(wrk.format("GET", "/qa/questions/" .. product.questions[math.random(#product.questions)] .. "/answers"))
  end
  -- Writes per view so that they are write_share of the requests: a whole part, then a chance.
  local expected = #queue * write_share / (1 - write_share)
  local count = math.floor(expected)
  if math.random() < expected - count then count = count + 1 end
  for _ = 1, count do push(write_request(product)) end
end

function request()
  if head > #queue then view() end
  local next_request = queue[head]
  head = head + 1
  return next_request
end

function done()
  if not written_file then return end
  local file = assert(io.open(written_file, "w"))
  local totals = { interactions = 0, helpful = 0, reviews = 0 }
  for _, thread in ipairs(threads) do
    for id in pairs(thread:get("written")) do file:write(id, "\n") end
    for kind, count in pairs(thread:get("writes")) do totals[kind] = totals[kind] + count end
  end
  file:close()
  local counts = assert(io.open(written_file .. ".writes", "w"))
  counts:write(string.format('{"interactions":%d,"helpful":%d,"reviews":%d}\n', totals.interactions, totals.helpful, totals.reviews))
  counts:close()
end
