-- What every BatchGate wrk script shares (loaded with dofile from $BENCH_LIB, see common.sh): each wrk
-- thread gets a number `tid` (1-based) and is kept in `threads` for done(); finished() tells the script
-- driving wrk that this thread's share is answered (a file under $BENCH_DONE_DIR), then stops the thread.
threads = {}
local next_id = 1

function setup(thread)
    thread:set("tid", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

function finished()
    local dir = os.getenv("BENCH_DONE_DIR")
    if dir and not reported then
        local file = io.open(dir .. "/thread-" .. tid, "w")
        if file then
            file:close()
        end
        reported = true
    end
    wrk.thread:stop()
end
