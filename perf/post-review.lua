-- wrk script: POST /reviews with one fixed valid body (product 1, characteristic 1), every
-- request the same, so that a before/after comparison measures the write path and nothing else.
--   wrk -t1 -c32 -d8s -s perf/post-review.lua http://127.0.0.1:3000/reviews
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"product_id":1,"rating":5,"summary":"Great","body":"Comfortable and practical.",'
  .. '"recommend":true,"name":"jackson11","email":"first.last@gmail.com",'
  .. '"photos":["https://images.example/p1"],"characteristics":{"1":4}}'
