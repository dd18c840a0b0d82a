-- wrk script of the CRUD benchmark (bench/crud.py runs it; see there).
--
--   wrk -t2 -c8 -d10s -s crud_load.lua http://127.0.0.1:PORT -- OP TOKEN BASE IDS_FILE MAX_PER_THREAD
--
-- OP: create | read | update | list | where | bulk. BASE: /api/v1/records/deal or /bench/deal.
-- IDS_FILE: one record id a line (read, update). MAX_PER_THREAD bounds the count: a thread stops
-- after that many responses even before -d ends. done() prints one JSON line for crud.py.

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
   table.insert(threads, thread)
end

local STAGES = {"New", "Qualified", "Won", "Lost"}

local function deal_json(n)
   return string.format(
      '{"name":"Deal %s","amount":%d.%02d,"stage":"%s","close_date":"2025-06-30","quantity":%d,' ..
      '"is_priority":%s,"description":"benchmark deal"}',
      n, 1000 + (n % 5000), n % 100, STAGES[(n % 4) + 1], n % 20, (n % 2 == 0) and "true" or "false")
end

function init(args)
   op, base, limit = args[1], args[3], tonumber(args[5]) or 1000000
   headers = {["Authorization"] = "Bearer " .. args[2], ["Content-Type"] = "application/json"}
   seq, responses, bad, first_error = 0, 0, 0, ""
   math.randomseed(tid * 7919 + os.time())
   ids = {}
   if args[4] and args[4] ~= "-" then
      for line in io.lines(args[4]) do
         if #line > 0 then ids[#ids + 1] = line end
      end
   end
   if op == "bulk" then
      local parts = {}
      for i = 1, 1000 do parts[i] = deal_json(tid * 100000 + i) end
      bulk_body = "[" .. table.concat(parts, ",") .. "]"
   end
end

function request()
   seq = seq + 1
   local n = tid * 1000000 + seq
   if op == "create" then
      return wrk.format("POST", base, headers, deal_json(n))
   elseif op == "read" then
      return wrk.format("GET", base .. "/" .. ids[math.random(#ids)], headers)
   elseif op == "update" then
      local body = string.format('{"amount":%d.%02d}', 5000 + (n % 5000), n % 100)
      return wrk.format("PATCH", base .. "/" .. ids[math.random(#ids)], headers, body)
   elseif op == "list" then
      return wrk.format("GET", base .. "?stage=" .. STAGES[(seq % 4) + 1] .. "&limit=50", headers)
   elseif op == "where" then
      -- where=stage = 'X' (the formula filter), URL-encoded
      return wrk.format("GET", base .. "?where=stage%20%3D%20%27" .. STAGES[(seq % 4) + 1] .. "%27&limit=50",
                        headers)
   elseif op == "bulk" then
      return wrk.format("POST", base, headers, bulk_body)
   end
end

function response(status, headers, body)
   responses = responses + 1
   if status >= 400 then
      bad = bad + 1
      if first_error == "" then first_error = status .. " " .. string.sub(body or "", 1, 200) end
   end
   if responses >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
   local bad_total, err, stopped = 0, "", 0
   for _, t in ipairs(threads) do
      bad_total = bad_total + t:get("bad")
      if t:get("responses") >= t:get("limit") then stopped = stopped + 1 end
      local e = t:get("first_error")
      if err == "" and e and e ~= "" then err = e end
   end
   local e = summary.errors
   io.write(string.format(
      'CRUDJSON {"requests":%d,"duration_us":%d,"bad":%d,"socket_errors":%d,"timeouts":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"stopped_by_count":%d,"first_error":"%s"}\n',
      summary.requests, summary.duration, bad_total, e.connect + e.read + e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), stopped, err:gsub('[%c"\\]', ' ')))
end
