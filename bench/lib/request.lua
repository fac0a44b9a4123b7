-- wrk script shared by every HTTP measurement in bench/run.sh.
--
-- Configured through the environment (read in every wrk thread):
--   BENCH_METHOD         GET (default) or POST
--   BENCH_BODY_FILE      file whose bytes are sent as the request body (POST)
--   BENCH_CONTENT_TYPE   Content-Type header for the body
--   BENCH_AUTH           value of the Authorization header (optional)
--   BENCH_EXPECT_STATUS  the only status counted as a success (default 200)
--   BENCH_PATHS_FILE     optional: one request path per line; the wrk threads
--                        share them out (thread k takes lines k, k+T, …) and
--                        each path is used once, in order (revocation: one
--                        serial per request). A thread that runs out of paths
--                        starts again from its first, and those repeats fail.
--   BENCH_CHECK          extra check of each response body:
--                          none (default)
--                          contains:<text>   body must contain <text>
--                          ocsp              body must be a DER OCSPResponse
--                                            with responseStatus successful(0)
--
-- Every response whose status differs from BENCH_EXPECT_STATUS, or whose body
-- fails BENCH_CHECK, is counted as an error. done() prints one line
--   WRKJSON {...}
-- with requests/s, p50/p99 latency (ms), the error counts and a status histogram,
-- which run.sh parses.

local method = os.getenv("BENCH_METHOD") or "GET"
local body_file = os.getenv("BENCH_BODY_FILE")
local content_type = os.getenv("BENCH_CONTENT_TYPE")
local auth = os.getenv("BENCH_AUTH")
local expect_status = tonumber(os.getenv("BENCH_EXPECT_STATUS") or "200")
local check = os.getenv("BENCH_CHECK") or "none"

local needle = nil
if check:sub(1, 9) == "contains:" then
   needle = check:sub(10)
end

wrk.method = method
if body_file and body_file ~= "" then
   local f = assert(io.open(body_file, "rb"))
   wrk.body = f:read("*a")
   f:close()
end
if content_type and content_type ~= "" then
   wrk.headers["Content-Type"] = content_type
end
if auth and auth ~= "" then
   wrk.headers["Authorization"] = auth
end

-- per-thread counters (each wrk thread has its own Lua state)
ok = 0
bad = 0
bad_body = 0
statuses = {}

local function ocsp_successful(b)
   -- OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, ... }
   -- 30 <len> 0a 01 00 ...  (len may use the long form 81 xx / 82 xx xx)
   if b == nil or #b < 5 or b:byte(1) ~= 0x30 then return false end
   local i = 2
   local l = b:byte(i)
   if l >= 0x80 then i = i + (l - 0x80) end
   i = i + 1
   return b:byte(i) == 0x0a and b:byte(i + 1) == 0x01 and b:byte(i + 2) == 0x00
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if status ~= expect_status then
      bad = bad + 1
      return
   end
   if needle ~= nil then
      if body == nil or not body:find(needle, 1, true) then
         bad = bad + 1
         bad_body = bad_body + 1
         return
      end
   elseif check == "ocsp" then
      if not ocsp_successful(body) then
         bad = bad + 1
         bad_body = bad_body + 1
         return
      end
   end
   ok = ok + 1
end

local threads = {}
local paths_file = os.getenv("BENCH_PATHS_FILE")

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   if paths_file and paths_file ~= "" then
      local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
      my_paths = {}
      local n = 0
      for line in io.lines(paths_file) do
         if n % nthreads == thread_index then
            table.insert(my_paths, line)
         end
         n = n + 1
      end
      next_path = 1
   end
end

-- Only defined with a paths file: without it wrk sends its one prepared request,
-- which is faster (the OCSP run measures that).
if paths_file and paths_file ~= "" then
   function request()
      local p = my_paths[next_path]
      next_path = next_path % #my_paths + 1
      return wrk.format(nil, p)
   end
end

function done(summary, latency, requests)
   local ok_total, bad_total, bad_body_total = 0, 0, 0
   local hist = {}
   for _, t in ipairs(threads) do
      ok_total = ok_total + (t:get("ok") or 0)
      bad_total = bad_total + (t:get("bad") or 0)
      bad_body_total = bad_body_total + (t:get("bad_body") or 0)
      local s = t:get("statuses") or {}
      for k, v in pairs(s) do
         hist[k] = (hist[k] or 0) + v
      end
   end
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   local secs = summary.duration / 1e6
   local parts = {}
   for k, v in pairs(hist) do
      table.insert(parts, string.format('"%s":%d', k, v))
   end
   io.write(string.format(
      'WRKJSON {"requests":%d,"seconds":%.3f,"rps":%.1f,"ok_rps":%.1f,' ..
      '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
      '"ok":%d,"bad_responses":%d,"bad_bodies":%d,"socket_errors":%d,' ..
      '"socket_error_detail":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
      '"statuses":{%s}}\n',
      summary.requests, secs, summary.requests / secs, ok_total / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      ok_total, bad_total, bad_body_total, socket_errors,
      e.connect, e.read, e.write, e.timeout,
      table.concat(parts, ",")))
end
