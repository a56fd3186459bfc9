-- wrk script: POST /qa/questions, or POST /qa/questions/<id>/answers when the URL's path ends so,
-- with one fixed valid body (product 1; an answer with two photos), every request the same, so
-- that a before/after comparison measures the write path and nothing else:
--   wrk -t2 -c64 -d8s -s perf/post-qa.lua http://127.0.0.1:3000/qa/questions
--   wrk -t2 -c64 -d8s -s perf/post-qa.lua http://127.0.0.1:3000/qa/questions/1/answers
-- Any non-2xx response is an error (wrk prints their count).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function init()
  if wrk.path:find("/answers$") then
    wrk.body = '{"body":"Runs true to size.","name":"jackson11","email":"first.last@gmail.com",'
      .. '"photos":["https://images.example/a1","https://images.example/a2"]}'
  else
    wrk.body = '{"product_id":1,"body":"Does it come in other colours?","name":"jackson11",'
      .. '"email":"first.last@gmail.com"}'
  end
end
