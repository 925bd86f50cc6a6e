-- AirOps webhooks, each a distinct event, for wrk:
--   wrk -s events.lua URL -- <jobs file> <threads> <gateway|bare>
-- The jobs file has one `<job id> <inbound secret> <AirOps batch id> <created ms>` line per job. Thread t
-- of n takes the jobs whose line number is t modulo n, and sends each of them the six events of an AirOps
-- batch that runs to completion, in the vendor's order (every job its `scraping_started`, then every job
-- its `scraping_completed`, ...): the gateway dedupes AirOps events by (batch, event type), so no two
-- requests carry the same event. `gateway` posts to /v1/providers/airops/webhooks/<token> and stops once
-- every event was answered (asking GET /healthz meanwhile, not counted); `bare` posts the same bodies to
-- /fixed, over and over, until wrk's time is up. done() prints `events_2xx=`, `applied=`, `recorded=`,
-- `duplicate=`, `events_other=`, `seconds=` and latency lines.
dofile(os.getenv("BENCH_LIB") .. "/wrk-threads.lua")

local types = { "scraping_started", "scraping_completed", "analyzing_completed", "enriching_started",
    "enriching_completed", "completed" }

local function scraping(kind, t0)
    if kind == "started" then
        return '{"state":"started","submitted":2,"valid":2,"succeeded":0,"failed":0,"started_at":' .. t0
            .. ',"completed_at":null,"error":null}'
    end
    return '{"state":"completed","submitted":2,"valid":2,"succeeded":2,"failed":0,"started_at":' .. t0
        .. ',"completed_at":' .. (t0 + 1000) .. ',"error":null}'
end

local function analyzing(kind, t0)
    if kind == "pending" then
        return '{"state":"pending","items_analyzed":0,"items_needing_enrichment":0,"items_complete":0,'
            .. '"fields_to_enrich":null,"started_at":null,"completed_at":null}'
    elseif kind == "started" then
        return '{"state":"started","items_analyzed":0,"items_needing_enrichment":0,"items_complete":0,'
            .. '"fields_to_enrich":null,"started_at":' .. (t0 + 1000) .. ',"completed_at":null}'
    end
    return '{"state":"completed","items_analyzed":2,"items_needing_enrichment":1,"items_complete":1,'
        .. '"fields_to_enrich":{"page_type":1,"author":0,"date_published":1,"date_modified":0,"brand_mentions":1},'
        .. '"started_at":' .. (t0 + 1000) .. ',"completed_at":' .. (t0 + 1100) .. '}'
end

local function enriching(kind, t0, llm)
    if kind == "pending" then
        return '{"state":"pending","items_to_enrich":0,"items_enriched":0,"items_failed":0,"llm_batch_id":null,'
            .. '"started_at":null,"completed_at":null,"error":null}'
    elseif kind == "planned" then
        return '{"state":"pending","items_to_enrich":1,"items_enriched":0,"items_failed":0,"llm_batch_id":null,'
            .. '"started_at":null,"completed_at":null,"error":null}'
    elseif kind == "started" then
        return '{"state":"started","items_to_enrich":1,"items_enriched":0,"items_failed":0,"llm_batch_id":"' .. llm
            .. '","started_at":' .. (t0 + 1150) .. ',"completed_at":null,"error":null}'
    end
    return '{"state":"completed","items_to_enrich":1,"items_enriched":1,"items_failed":0,"llm_batch_id":"' .. llm
        .. '","started_at":' .. (t0 + 1150) .. ',"completed_at":' .. (t0 + 1550) .. ',"error":null,'
        .. '"llm":{"provider":"olostep","model":"default","usage":{"prompt_tokens":2750,"completion_tokens":190,'
        .. '"total_tokens":2940},"completion_time_ms":400}}'
end

local function event_body(step, job)
    local t0 = job.created
    local llm = "batch_llm_" .. string.sub(job.batch, -12)
    local overall, s, a, e = "in_progress", nil, nil, nil
    if step == 1 then
        s, a, e = scraping("started", t0), analyzing("pending", t0), enriching("pending", t0, llm)
    elseif step == 2 then
        s, a, e = scraping("completed", t0), analyzing("started", t0), enriching("pending", t0, llm)
    elseif step == 3 then
        s, a, e = scraping("completed", t0), analyzing("completed", t0), enriching("planned", t0, llm)
    elseif step == 4 then
        s, a, e = scraping("completed", t0), analyzing("completed", t0), enriching("started", t0, llm)
    else
        overall = "completed"
        s, a, e = scraping("completed", t0), analyzing("completed", t0), enriching("completed", t0, llm)
    end
    return '{"object":"event.batch.airops.' .. types[step] .. '","id":"' .. job.batch .. '","created":' .. t0
        .. ',"timestamp":' .. (t0 + 1600 + step) .. ',"status":{"overall":"' .. overall .. '","scraping":' .. s
        .. ',"analyzing":' .. a .. ',"enriching":' .. e .. '}}'
end

function init(args)
    local file, nthreads = args[1], tonumber(args[2])
    mode = args[3]
    jobs = {}
    local line_number = 0
    for line in io.lines(file) do
        if line_number % nthreads == tid - 1 then
            local id, secret, batch, created = string.match(line, "^(%S+) (%S+) (%S+) (%d+)$")
            table.insert(jobs, { id = id, secret = secret, batch = batch, created = tonumber(created) })
        end
        line_number = line_number + 1
    end
    quota = #jobs * #types
    sent, answered, ok, other, applied, recorded, duplicate = 0, 0, 0, 0, 0, 0, 0
    headers = { ["Content-Type"] = "application/json", ["User-Agent"] = "Olostep-Webhooks/1.0" }
end

function request()
    -- wrk asks thread 1 for one request before the run to check its shape, and never sends it.
    if tid == 1 and not shape_checked then
        shape_checked = true
        return wrk.format("GET", "/healthz")
    end
    if #jobs == 0 or (mode == "gateway" and sent >= quota) then
        return wrk.format("GET", mode == "gateway" and "/healthz" or "/fixed")
    end
    local k = sent % quota
    sent = sent + 1
    local job = jobs[(k % #jobs) + 1]
    local step = math.floor(k / #jobs) + 1
    local path = mode == "gateway" and ("/v1/providers/airops/webhooks/" .. job.id .. "." .. job.secret) or "/fixed"
    return wrk.format("POST", path, headers, event_body(step, job))
end

function response(status, hdrs, body)
    if string.sub(body, 1, 12) ~= '{"received":' and string.sub(body, 1, 9) ~= '{"error":' then
        return
    end
    answered = answered + 1
    if status >= 200 and status < 300 then
        ok = ok + 1
        if string.find(body, '"applied"', 1, true) then
            applied = applied + 1
        elseif string.find(body, '"recorded"', 1, true) then
            recorded = recorded + 1
        elseif string.find(body, '"duplicate"', 1, true) then
            duplicate = duplicate + 1
        end
    else
        other = other + 1
    end
    if mode == "gateway" and answered >= quota then
        finished()
    end
end

function done(summary, latency, requests)
    local sums = { ok = 0, other = 0, applied = 0, recorded = 0, duplicate = 0 }
    for _, thread in ipairs(threads) do
        for key, _ in pairs(sums) do
            sums[key] = sums[key] + thread:get(key)
        end
    end
    io.write(string.format("events_2xx=%d\nevents_other=%d\napplied=%d\nrecorded=%d\nduplicate=%d\nseconds=%.3f\n",
        sums.ok, sums.other, sums.applied, sums.recorded, sums.duplicate, summary.duration / 1e6))
    io.write(string.format("p50_ms=%.2f\np99_ms=%.2f\nmax_ms=%.2f\n", latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000))
    io.write(string.format("socket_errors=%d\n", summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.timeout))
end
