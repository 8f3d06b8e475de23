-- POST driver for bench/run.ts (wrk 4.x, LuaJIT).
--
--   wrk ... -s post.lua <url> -- <data file> <run tag> [batch size] [batch sentAt]
--
-- The data file holds one template per line: "<User-Agent>\t<JSON>". Each request picks a random
-- template, replaces every {{MID}} with a unique messageId and every {{NEW}} with a fresh id
-- (run tag + thread + counter, so ids never repeat across threads or phases), and sends the
-- template's User-Agent header (besides the -H headers given to wrk). With a batch size N > 0
-- the body is {"batch":[N random items],"sentAt"}.
-- done() prints one line "BENCH_RESULT {json}" with counts, errors and latency percentiles (µs).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local heads, parts, n = {}, {}, 0
local prefix, batch, batch_tail = "", 0, ""
local counter = 0

-- Splits a template at its placeholders: {"text", "MID", "text", "NEW", ...} (plain finds: fast).
local function split(template)
  local out, pos = {}, 1
  while true do
    local s = template:find("{{", pos, true)
    if not s then break end
    local e = template:find("}}", s + 2, true)
    out[#out + 1] = template:sub(pos, s - 1)
    out[#out + 1] = template:sub(s + 2, e - 1)
    pos = e + 2
  end
  out[#out + 1] = template:sub(pos)
  return out
end

function init(args)
  -- The request line and fixed headers are built once; per request only the body and its
  -- length change (cheaper than wrk.format, so the generator spends little CPU per request).
  -- wrk.headers holds Host (set by wrk) and the -H headers.
  local fixed = "POST " .. wrk.path .. " HTTP/1.1\r\n"
  for name, value in pairs(wrk.headers) do fixed = fixed .. name .. ": " .. value .. "\r\n" end
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    if tab then
      n = n + 1
      heads[n] = fixed .. "User-Agent: " .. line:sub(1, tab - 1) .. "\r\nContent-Length: "
      parts[n] = split(line:sub(tab + 1))
    end
  end
  prefix = (args[2] or "run") .. "-" .. tostring(tid) .. "-"
  batch = tonumber(args[3] or "0") or 0
  batch_tail = '],"sentAt":"' .. (args[4] or "") .. '"}'
  math.randomseed(tid * 7919)
end

local function fill(p)
  counter = counter + 1
  local id = prefix .. counter
  if #p == 3 then return p[1] .. id .. p[3] end
  local out = {}
  for k = 1, #p do
    local v = p[k]
    if k % 2 == 1 then out[k] = v elseif v == "NEW" then out[k] = "n" .. id else out[k] = id end
  end
  return table.concat(out)
end

function request()
  local i = math.random(n)
  local body
  if batch > 0 then
    local items = {}
    for k = 1, batch do items[k] = fill(parts[math.random(n)]) end
    body = '{"batch":[' .. table.concat(items, ",") .. batch_tail
  else
    body = fill(parts[i])
  end
  return heads[i] .. #body .. "\r\n\r\n" .. body
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
