"""How late the gateway's polls came, as the simulated vendors saw them.

    python3 lateness.py JOBS_FILE INTERVAL_MS FROM_MS TO_MS LABEL provider=http://simulator ...

JOBS_FILE has one `<provider> <upstream batch id>` line per job the gateway should be polling. Each
simulator's `GET /simulator/polls` gives the times of every status request per batch. For every job, each
gap between consecutive polls that ends inside [FROM_MS, TO_MS] is divided by the poll interval (the
lateness ratio; the gateway jitters its interval by +-10 %, so on-time polls are 0.9-1.1). A job whose
latest poll is older than 1.5 intervals at TO_MS, or that was never polled, counts as overdue (its next
gap will exceed 1.5x). A job is late when one of its gaps exceeds 1.5x or it is overdue. Prints one
summary line per provider and one in all, then a `RESULT` line for the calling script.
"""
import json
import sys
import urllib.request


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def main():
    jobs_file, interval, start, end, label = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    sources = dict(arg.split("=", 1) for arg in sys.argv[6:])
    logs = {}
    for provider, url in sources.items():
        with urllib.request.urlopen(url + "/simulator/polls", timeout=60) as response:
            logs[provider] = json.load(response)["batches"]
    jobs = {}
    for line in open(jobs_file):
        provider, batch = line.split()
        jobs.setdefault(provider, []).append(batch)

    all_ratios, all_late, all_jobs = [], 0, 0
    for provider in sources:
        ratios, overdue, late_jobs = [], 0, 0
        batches = jobs.get(provider, [])
        for batch in batches:
            times = logs[provider].get(batch, [])
            gaps = [(later - earlier) / interval for earlier, later in zip(times, times[1:]) if start <= later <= end]
            ratios += gaps
            last = max((t for t in times if t <= end), default=None)
            is_overdue = last is None or (end - last) / interval > 1.5
            overdue += is_overdue
            late_jobs += is_overdue or any(g > 1.5 for g in gaps)
        print(
            f"{label} {provider}: {len(batches)} jobs, {len(ratios)} poll gaps; lateness p50 {percentile(ratios, 0.5):.2f}x "
            f"p99 {percentile(ratios, 0.99):.2f}x max {max(ratios, default=float('nan')):.2f}x; gaps over 1.5x: "
            f"{sum(1 for r in ratios if r > 1.5)}; overdue at the end: {overdue}; late jobs: {late_jobs}"
        )
        all_ratios += ratios
        all_late += late_jobs
        all_jobs += len(batches)
    print(
        f"{label} all polled jobs: {all_jobs} jobs, {len(all_ratios)} polls seen; lateness p50 {percentile(all_ratios, 0.5):.2f}x "
        f"p99 {percentile(all_ratios, 0.99):.2f}x max {max(all_ratios, default=float('nan')):.2f}x; late jobs: {all_late}"
    )
    print(f"RESULT max={max(all_ratios, default=float('nan')):.3f} late={all_late} polls={len(all_ratios)}")


main()
