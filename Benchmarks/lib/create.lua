-- POST /v1/batches with a distinct body per request (its URLs or documents and metadata name the wrk
-- thread and a counter), for wrk:
--   wrk -s create.lua URL -- <route> <urls|documents> <creates per thread, 0 = until the time is up>
--       [<client webhook url> <webhook secret>]
-- A thread that has sent its share asks GET /healthz (not counted) until its creates are answered,
-- then stops. done() prints `creates_2xx=`, `creates_other=`, `replayed=` and `seconds=` lines.
dofile(os.getenv("BENCH_LIB") .. "/wrk-threads.lua")

function init(args)
    route = args[1]
    kind = args[2]
    quota = tonumber(args[3] or "0")
    hook_url = args[4]
    hook_secret = args[5]
    sent, answered, ok, other, replayed = 0, 0, 0, 0, 0
    headers = { ["Authorization"] = "Bearer bench-key", ["Content-Type"] = "application/json" }
end

function request()
    -- wrk asks thread 1 for one request before the run to check its shape, and never sends it.
    if tid == 1 and not shape_checked then
        shape_checked = true
        return wrk.format("GET", "/healthz")
    end
    if quota > 0 and sent >= quota then
        return wrk.format("GET", "/healthz")
    end
    sent = sent + 1
    local tag = tid .. "-" .. sent
    local input
    if kind == "documents" then
        input = '{"documents":[{"title":"Doc ' .. tag .. ' a","file_path":"s3://bench/' .. tag
            .. '/a.pdf","file_source_type":"s3"},{"title":"Doc ' .. tag .. ' b","file_path":"s3://bench/' .. tag
            .. '/b.pdf","file_source_type":"s3"}]}'
    else
        input = '{"urls":["https://example.com/bench/' .. tag .. '/a","https://example.com/bench/' .. tag .. '/b"]}'
    end
    local webhook = ""
    if hook_url and hook_url ~= "-" then
        webhook = ',"webhook":{"url":"' .. hook_url .. '","secret":"' .. hook_secret .. '"}'
    end
    return wrk.format("POST", "/v1/batches", headers,
        '{"route":"' .. route .. '","input":' .. input .. webhook .. ',"metadata":{"bench":"' .. tag .. '"}}')
end

function response(status, hdrs, body)
    if body == '{"status":"ok"}' then
        return
    end
    answered = answered + 1
    if status >= 200 and status < 300 then
        ok = ok + 1
    else
        other = other + 1
    end
    if hdrs["Idempotent-Replayed"] or hdrs["idempotent-replayed"] then
        replayed = replayed + 1
    end
    if quota > 0 and answered >= quota then
        finished()
    end
end

function done(summary, latency, requests)
    local total_ok, total_other, total_replayed = 0, 0, 0
    for _, thread in ipairs(threads) do
        total_ok = total_ok + thread:get("ok")
        total_other = total_other + thread:get("other")
        total_replayed = total_replayed + thread:get("replayed")
    end
    io.write(string.format("creates_2xx=%d\ncreates_other=%d\nreplayed=%d\nseconds=%.3f\n", total_ok, total_other,
        total_replayed, summary.duration / 1e6))
    io.write(string.format("p50_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\n", latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000))
    io.write(string.format("socket_errors=%d\n", summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout))
end
