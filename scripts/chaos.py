#!/usr/bin/env python3
"""The chaos run behind scripts/chaos.sh (run that; it builds and starts PostgreSQL first).

Three gateway replicas on one PostgreSQL, the three simulated vendors with faults injected again and
again (5xx, 429 with Retry-After, dropped sockets, duplicate and out-of-order webhooks), a webhook
receiver that verifies signatures. Batches go to the replicas round-robin (a create that fails on a
killed replica is sent again to another one with the same Idempotency-Key). Meanwhile one random
replica is SIGKILLed and restarted, five times, and one is SIGSTOPped for longer than a lease, then
SIGCONTed. Then every acknowledged batch must end right, with its results, and its terminal webhook
delivered under one webhook id. Prints a table; exits 1 if any line is not met.

Usage: chaos.py BIN_DIR DATABASE_URL WORK_DIR [BATCHES]
"""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

BIN, DATABASE_URL, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
BATCHES = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
SEED = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
random.seed(SEED)

# Every wait is bounded: the whole run ends within these.
SUBMIT_LIMIT = 600  # s to acknowledge every batch
SETTLE_LIMIT = 900  # s after the last create for every batch to end
DELIVERY_LIMIT = 180  # s after that for the terminal webhooks
LEASE_TTL = 15  # s: the gateway's lease period
STOP_FOR = LEASE_TTL + 10  # s a replica stays SIGSTOPped

REPLICAS = 3
BASE_PORT = int(os.environ.get("CHAOS_PORT", "18081"))
SIM_PORT = BASE_PORT + 100
RECEIVER_PORT = BASE_PORT + 200
API_KEY = "chaos-key"
SECRET = "whsec_" + "Y2hhb3MtcnVuLXdlYmhvb2stc2VjcmV0LWtleS0xMjM0"
# Set again every FAULT_PERIOD seconds: a burst of errors per vendor each time (transient faults, which
# a job must ride out), while duplicate and out-of-order webhooks and dropped sockets go on throughout.
FAULT_PERIOD = 10
FAULTS = {
    SIM_PORT: "status503=1,ratelimit=1:1s,duplicate,out-of-order",
    SIM_PORT + 1: "status503=1,ratelimit=1:1s",
    SIM_PORT + 2: "status503=1,ratelimit=1:1s,drop=2,drop_after=3",
}

processes = {}
log = open(os.path.join(WORK, "chaos.log"), "w")


def say(text):
    line = f"[{time.strftime('%H:%M:%S')}] {text}"
    print(line, flush=True)
    log.write(line + "\n")
    log.flush()


def start(name, args):
    out = open(os.path.join(WORK, f"{name}.log"), "a")
    processes[name] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "LOG_LEVEL": "info"})


def request(method, url, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {API_KEY}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_http(url, limit=60, any_status=False):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            status, _ = request("GET", url, timeout=2)
            if any_status or 200 <= status < 300:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no answer from {url}")


def replica_url(index):
    return f"http://127.0.0.1:{BASE_PORT + index}"


def write_config(index):
    port = BASE_PORT + index
    path = os.path.join(WORK, f"replica-{index}.yaml")
    with open(path, "w") as f:
        f.write(
            f"""server: {{listen: "127.0.0.1:{port}", public_url: "http://127.0.0.1:{port}"}}
store: {{postgres: "{DATABASE_URL}", pool_size: 8}}
auth:
  api_keys: [{{tenant: chaos, key: {API_KEY}}}]
webhooks:
  max_attempts: 30
  initial_backoff: 200ms
  max_backoff: 2s
  timeout: 5s
  allow_insecure_loopback: true
  defaults:
    chaos: {{url: "http://127.0.0.1:{RECEIVER_PORT}/hook", secret: "{SECRET}"}}
providers:
  airops: {{kind: olostep-airops, base_url: "http://127.0.0.1:{SIM_PORT}", token: sim-token, poll_interval: 1s, timeout: 5s}}
  aitronos: {{kind: aitronos-scrape, base_url: "http://127.0.0.1:{SIM_PORT + 1}", api_key: sim-token, poll_interval: 1s, timeout: 5s}}
  tagger: {{kind: doc-tagging-ws, base_url: "http://127.0.0.1:{SIM_PORT + 2}", token: sim-token}}
routes:
  scrape-airops: {{kind: url_batch, targets: [{{provider: airops}}]}}
  scrape-aitronos: {{kind: url_batch, targets: [{{provider: aitronos}}]}}
  tag-documents: {{kind: document_tagging, targets: [{{provider: tagger}}]}}
"""
        )
    return path


def start_replica(index):
    start(f"replica-{index}", [f"{BIN}/batchgate", "serve", "--config", os.path.join(WORK, f"replica-{index}.yaml")])


def alive(index):
    process = processes.get(f"replica-{index}")
    return process is not None and process.poll() is None


# What each batch is: the route, and the keys its items must come back under.
def make_batch(n):
    kind = n % 10
    if kind < 4:
        urls = [f"https://chaos.example/airops/{n}/{i}" for i in range(3 + n % 3)]
        return "scrape-airops", {"urls": urls}, urls
    if kind < 7:
        urls = [f"https://chaos.example/aitronos/{n}/{i}" for i in range(2 + n % 3)]
        schema = {"type": "object", "properties": {"title": {"type": "string"}}}
        return "scrape-aitronos", {"urls": urls, "schema": schema}, urls
    documents = [
        {"title": f"Chaos document {n}-{i}", "file_path": f"https://files.example/{n}/{i}.pdf", "file_source_type": "url"}
        for i in range(4 + n % 4)
    ]
    return "tag-documents", {"documents": documents, "config": {"num_tags": 3}}, [d["title"] for d in documents]


acknowledged = {}  # job id -> (n, route, item keys)
acknowledged_lock = threading.Lock()
create_retries = [0]


def submit(n):
    route, body_input, keys = make_batch(n)
    body = {"route": route, "input": body_input, "metadata": {"chaos_n": n}}
    deadline = time.time() + SUBMIT_LIMIT
    attempt = 0
    while time.time() < deadline:
        index = (n + attempt) % REPLICAS
        attempt += 1
        try:
            status, raw = request("POST", replica_url(index) + "/v1/batches", body, {"Idempotency-Key": f"chaos-{SEED}-{n}"})
        except Exception:
            status, raw = 0, b""
        if status == 201:
            job = json.loads(raw)
            with acknowledged_lock:
                acknowledged[job["id"]] = (n, route, keys)
            return
        create_retries[0] += 1
        time.sleep(0.2)
    say(f"batch {n} was never acknowledged")


def chaos(stop_event, events):
    """Five SIGKILLs (each followed by a restart) and one SIGSTOP past a lease, at random moments."""
    plan = ["kill"] * 5 + ["stop"]
    random.shuffle(plan)
    time.sleep(5)
    for action in plan:
        if stop_event.is_set():
            return
        index = random.randrange(REPLICAS)
        process = processes[f"replica-{index}"]
        if action == "kill":
            say(f"SIGKILL replica {index}")
            process.send_signal(signal.SIGKILL)
            process.wait()
            events.append(("SIGKILL", index, time.time()))
            time.sleep(random.uniform(0.5, 3))
            start_replica(index)
            say(f"restarted replica {index}")
        else:
            say(f"SIGSTOP replica {index} for {STOP_FOR} s")
            process.send_signal(signal.SIGSTOP)
            events.append(("SIGSTOP", index, time.time()))
            time.sleep(STOP_FOR)
            process.send_signal(signal.SIGCONT)
            say(f"SIGCONT replica {index}")
        time.sleep(random.uniform(4, 10))


def rearm_faults(stop_event):
    """The simulators' faults are counters: they are set again every few seconds for the whole run."""
    while not stop_event.is_set():
        for port, faults in FAULTS.items():
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/simulator/faults", data=faults.encode(), method="PUT")
                urllib.request.urlopen(req, timeout=5).read()
            except Exception as error:
                say(f"could not set faults on {port}: {error}")
        stop_event.wait(FAULT_PERIOD)


def get_job(job_id):
    """The job from any live replica: (status, body or None)."""
    last = 0
    for index in random.sample(range(REPLICAS), REPLICAS):
        if not alive(index):
            continue
        try:
            status, raw = request("GET", f"{replica_url(index)}/v1/batches/{job_id}", timeout=5)
        except Exception:
            continue
        if status == 200:
            return 200, json.loads(raw)
        last = status
        if status == 404:
            return 404, None
    return last, None


def results(job_id):
    rows, after = [], None
    for _ in range(100):
        url = f"/v1/batches/{job_id}/results?limit=100" + (f"&after={after}" if after is not None else "")
        for index in range(REPLICAS):
            if not alive(index):
                continue
            try:
                status, raw = request("GET", replica_url(index) + url, timeout=10)
            except Exception:
                continue
            if status == 200:
                break
        else:
            return None
        page = json.loads(raw)
        rows += page.get("data", [])
        if not page.get("has_more"):
            return rows
        after = page.get("next_after")
    return rows


def main():
    say(f"seed {SEED}; {BATCHES} batches; work directory {WORK}")
    start(
        "simulators",
        [
            f"{BIN}/batchgate", "simulate", "--vendors", "airops,aitronos,tagger", "--port", str(SIM_PORT),
            "--token", "sim-token", "--tagger-document-interval", "400ms", "--tagger-ping", "2s",
        ],
    )
    start("receiver", [f"{BIN}/webhook-receiver", str(RECEIVER_PORT), SECRET])
    for port in (SIM_PORT, SIM_PORT + 1, SIM_PORT + 2):
        wait_http(f"http://127.0.0.1:{port}/simulator/polls", any_status=True)
    wait_http(f"http://127.0.0.1:{RECEIVER_PORT}/stats")
    for index in range(REPLICAS):
        write_config(index)
        start_replica(index)
    for index in range(REPLICAS):
        wait_http(replica_url(index) + "/readyz")
    say("three replicas ready")

    stop_event = threading.Event()
    events = []
    threading.Thread(target=rearm_faults, args=(stop_event,), daemon=True).start()
    chaos_thread = threading.Thread(target=chaos, args=(stop_event, events), daemon=True)
    chaos_thread.start()

    started = time.time()
    with ThreadPoolExecutor(max_workers=6) as pool:
        for n in range(BATCHES):
            pool.submit(submit, n)
            # About 15 creates a second, so the chaos falls in the middle of the work.
            time.sleep(1 / 15)
    say(f"{len(acknowledged)} of {BATCHES} batches acknowledged in {time.time() - started:.0f} s ({create_retries[0]} create retries)")
    chaos_thread.join(timeout=STOP_FOR + 120)
    if chaos_thread.is_alive():
        say("the chaos schedule did not finish in time")

    # Every acknowledged job must end.
    pending = set(acknowledged)
    final = {}
    lost = set()
    deadline = time.time() + SETTLE_LIMIT
    while pending and time.time() < deadline:
        for job_id in list(pending):
            status, job = get_job(job_id)
            if status == 404:
                lost.add(job_id)
                pending.discard(job_id)
            elif job and job["lifecycle_status"] in ("completed", "failed", "cancelled", "expired"):
                final[job_id] = job
                pending.discard(job_id)
        if pending:
            time.sleep(2)
    say(f"{len(final)} batches ended; {len(pending)} still running; {len(lost)} unknown")

    # Results: every item back under its own key, naming what it belongs to.
    wrong_state, wrong_results = [], []
    for job_id, job in final.items():
        n, route, keys = acknowledged[job_id]
        if job["lifecycle_status"] != "completed":
            error = job.get("error") or {}
            wrong_state.append((job_id, route, job["lifecycle_status"], error.get("code"), error.get("message")))
            continue
        rows = results(job_id)
        problems = []
        if rows is None:
            problems.append("results unreadable")
        else:
            by_index = {row["index"]: row for row in rows}
            for i, key in enumerate(keys):
                row = by_index.get(i)
                if row is None:
                    problems.append(f"item {i} missing")
                elif row.get("status") != "succeeded":
                    problems.append(f"item {i} {row.get('status')}")
                elif key not in json.dumps(row):
                    problems.append(f"item {i} does not name {key}")
            if len(rows) != len(keys):
                problems.append(f"{len(rows)} rows for {len(keys)} items")
        if problems:
            wrong_results.append((job_id, route, problems[:3]))

    # Terminal webhooks, each delivery key under one webhook id.
    terminal_types = {"batch.completed", "batch.failed", "batch.cancelled", "batch.expired"}
    deadline = time.time() + DELIVERY_LIMIT
    while True:
        raw = urllib.request.urlopen(f"http://127.0.0.1:{RECEIVER_PORT}/receipts", timeout=10).read().decode()
        receipts = [line.split() for line in raw.splitlines() if line.strip()]
        delivered = {r[1] for r in receipts if r[2] in terminal_types}
        missing = [j for j in final if j not in delivered]
        if not missing or time.time() >= deadline:
            break
        time.sleep(2)
    ids_per_key = {}
    for at, batch, kind, webhook_id, key in receipts:
        ids_per_key.setdefault((batch, key), set()).add(webhook_id)
    twice = {k: v for k, v in ids_per_key.items() if len(v) > 1}
    stats = urllib.request.urlopen(f"http://127.0.0.1:{RECEIVER_PORT}/stats", timeout=10).read().decode().strip()
    sockets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{SIM_PORT + 2}/simulator/sockets", timeout=10).read())
    stop_event.set()

    rows = [
        ("batches acknowledged", len(acknowledged), f"of {BATCHES}", len(acknowledged) == BATCHES),
        ("jobs lost (acknowledged, then unknown)", len(lost), "0", not lost),
        ("jobs stuck (not ended in time)", len(pending), "0", not pending),
        ("wrong terminal states", len(wrong_state), "0", not wrong_state),
        ("jobs with wrong or missing results", len(wrong_results), "0", not wrong_results),
        ("terminal webhooks not delivered", len(missing), "0", not missing),
        ("delivery keys delivered under two webhook ids", len(twice), "0", not twice),
        ("tagger jobs that had two sockets open at once", sockets.get("overlaps", -1), "0", sockets.get("overlaps", -1) == 0),
    ]
    say(f"chaos: {', '.join(f'{e[0]} replica {e[1]}' for e in events)}")
    say(f"webhook receiver: {stats}")
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'line'.ljust(width)}  {'count':>6}  {'needed':>8}  result")
    for name, count, needed, ok in rows:
        print(f"{name.ljust(width)}  {count:>6}  {needed:>8}  {'ok' if ok else 'FAILED'}")
    print(f"elapsed {time.time() - started:.0f} s, seed {SEED}")
    for label, items in (("lost", sorted(lost)[:5]), ("stuck", sorted(pending)[:5]), ("wrong state", wrong_state[:5]),
                         ("wrong results", wrong_results[:5]), ("undelivered", missing[:5]),
                         ("two ids", list(twice.items())[:5]), ("sockets", list(sockets.get("overlapping_jobs", {}).items())[:5])):
        if items:
            print(f"  {label}: {items}")
    return 0 if all(r[3] for r in rows) else 1


def stop_all():
    for process in processes.values():
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGCONT)
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    end = time.time() + 20
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, end - time.time()))
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    try:
        code = main()
    finally:
        stop_all()
    sys.exit(code)
