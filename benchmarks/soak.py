"""The app under traffic, on loopback: latency per endpoint, cache, memory and exit.

    python benchmarks/soak.py [--requests 200] [--clients 30] [--app-dir DIR] [--label after]

Starts ``python app.py`` (from ``--app-dir``, default this checkout) in a subprocess with its
own Gradio cache (``GRADIO_TEMP_DIR``) and temp folder (``TMPDIR``), warms every endpoint up,
then ``--clients`` concurrent gradio_client clients send ``--requests`` mixed requests (per 10:
4 25-step portraits, 2 5-step segmentations, 2 digits classified or generated in 25 steps, 2
10-step spiral flows), in a shuffled order. Records latency per endpoint (p50 / p95 /
max, seconds from submit to result, queueing included), failures, the cache's files and
bytes and the server's RSS after the warm-up and after the soak, the tracebacks in the
server's log, and what is left in its cache and temp folders after it is stopped (SIGTERM).
Then isolation: the same clients keep the face model busy (2/3 portraits, 1/3 segmentations,
in a loop) while one more client sends ``--probes`` spiral and digit requests one at a time,
as a user of the light tabs would: their latency is what waiting behind portraits costs.

``--app-dir`` runs another copy of the app (e.g. ``git archive`` of an older commit) for a
before/after comparison; ``--label`` names the run in ``results/soak_<label>.json`` and in
its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from report import ROOT, machine, write_results
from served import PeakRSS, connect, free_port, rss_mb, start

KINDS = ("portrait", "segment", "digit", "spiral")
MIX = ("portrait",) * 4 + ("segment",) * 2 + ("digit",) * 2 + ("spiral",) * 2
"""Per 10 requests: 4 portraits and 2 segmentations (the face model, the issue's 2:1), 2 digits, 2 spiral."""


def _tree(folder: Path) -> tuple[int, int]:
    """(files, bytes) under ``folder``."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _load() -> str:
    """The machine's load while measuring: load average and the busiest other processes."""
    one, five, _ = os.getloadavg()
    top = subprocess.run(["ps", "-eo", "pcpu,ni,comm", "--sort=-pcpu"], capture_output=True, text=True).stdout.splitlines()[1:4]
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min); busiest processes (%CPU, nice, name): " + "; ".join(
        " ".join(line.split()) for line in top)


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def _exceptions(log: str) -> dict[str, int]:
    """The exception line that ends each traceback in a log (the first unindented line after the
    header, cut at 160 characters) -> how many times it occurs."""
    found: dict[str, int] = {}
    for chunk in log.split("Traceback (most recent call last)")[1:]:
        line = next((ln for ln in chunk.splitlines()[1:] if ln.strip() and not ln[0].isspace()), "?")
        found[line[:160]] = found.get(line[:160], 0) + 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    parser.add_argument("--label", default="after", help="names the run: results/soak_<label>.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probes", type=int, default=20, help="light requests sent one at a time while the face model is busy")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    work = Path(tempfile.mkdtemp(prefix="symmflow-soak-"))
    cache, tmp = work / "gradio", work / "tmp"
    cache.mkdir()
    tmp.mkdir()
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(cache), "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    log_path = work / "server.log"
    log = log_path.open("w")
    started = time.perf_counter()
    server = start(args.app_dir, env, stdout=log, stderr=subprocess.STDOUT)
    peak = PeakRSS(server.pid)
    url = f"http://127.0.0.1:{port}/"
    mask = handle_file(str(ROOT / "assets" / "faces" / "mask_0.png"))
    editor = {"background": mask, "layers": [], "composite": mask, "id": None}
    photo = handle_file(str(ROOT / "assets" / "faces" / "image_0.png"))
    digit = handle_file(str(ROOT / "assets" / "digits" / "digit_3.png"))
    sketch = {"background": digit, "layers": [], "composite": digit, "id": None}

    def request(client, kind: str, seed: int):
        if kind == "portrait":
            return "/generate_portrait", client.predict(editor, 25, seed, "euler", 1, api_name="/generate_portrait")
        if kind == "segment":
            return "/segment_photo", client.predict(photo, 5, seed, api_name="/segment_photo")
        if kind == "digit" and (seed // len(MIX)) % 2:
            return "/classify_digit", client.predict(sketch, 1, api_name="/classify_digit")
        if kind == "digit":
            return "/generate_digit", client.predict(str(seed % 10), 25, seed, api_name="/generate_digit")
        return "/spiral_flows", client.predict(10, seed, "euler", api_name="/spiral_flows")

    probes: dict[str, list[float]] = {}
    probe_failures: dict[str, int] = {}
    try:
        client = connect(url, server, started)
        startup = time.perf_counter() - started
        for kind in KINDS:  # warm-up: every model loaded, every endpoint run once
            request(client, kind, 0)
            request(client, kind, len(MIX))
        files0, bytes0 = _tree(cache)
        rss0 = rss_mb(server.pid)
        load_before = _load()

        rng = random.Random(args.seed)
        jobs = [(MIX[k % len(MIX)], 100 + k) for k in range(args.requests)]
        rng.shuffle(jobs)
        clients = [Client(url, verbose=False) for _ in range(args.clients)]
        lock = threading.Lock()
        latencies: dict[str, list[float]] = {}
        failures: dict[str, int] = {}
        queue = iter(jobs)

        def worker(c):
            while True:
                with lock:
                    job = next(queue, None)
                if job is None:
                    return
                kind, seed = job
                t0 = time.perf_counter()
                try:
                    name, _ = request(c, kind, seed)
                    with lock:
                        latencies.setdefault(name, []).append(time.perf_counter() - t0)
                except Exception as err:  # noqa: BLE001 - counted and reported
                    with lock:
                        failures[kind] = failures.get(kind, 0) + 1
                    print(f"{kind} failed: {err}", file=sys.stderr)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(worker, clients))
        soak_seconds = time.perf_counter() - t0
        load_after = _load()
        files1, bytes1 = _tree(cache)
        rss1 = rss_mb(server.pid)

        # isolation: the face model kept busy (2/3 of the clients asking for portraits, 1/3 for
        # segmentations, in a loop) while one more user asks the light tabs, one request at a time
        done = threading.Event()

        def face_loop(c, kind: str, k: int) -> None:
            n = 0
            while not done.is_set():
                try:
                    request(c, kind, 10_000 + 100 * k + n)
                except Exception:  # noqa: BLE001 - the server stops under the last ones
                    return
                n += 1

        faces = ThreadPoolExecutor(args.clients)
        for i, c in enumerate(clients):
            faces.submit(face_loop, c, "portrait" if i < 2 * args.clients // 3 else "segment", i)
        time.sleep(10)  # the faces' queue fills
        probe_client = Client(url, verbose=False)
        for k in range(args.probes):
            kind, seed = ("spiral", "digit")[k % 2], 20_000 + k * len(MIX) + (k // 2) % 2 * len(MIX)
            t0 = time.perf_counter()
            try:
                name, _ = request(probe_client, kind, seed)
                probes.setdefault(name, []).append(time.perf_counter() - t0)
            except Exception as err:  # noqa: BLE001 - counted and reported
                probe_failures[kind] = probe_failures.get(kind, 0) + 1
                print(f"probe {kind} failed: {err}", file=sys.stderr)
        done.set()
        faces.shutdown(wait=False, cancel_futures=True)
    finally:
        peak.stop()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    left_cache, left_cache_bytes = _tree(cache)
    left_tmp = sorted(str(p.relative_to(tmp)) for p in tmp.iterdir())
    server_log = log_path.read_text(errors="replace")
    tracebacks = server_log.count("Traceback (most recent call last)")
    raised = _exceptions(server_log)

    rows = {name: {"requests": len(v), "p50_s": round(_percentile(v, 0.5), 2), "p95_s": round(_percentile(v, 0.95), 2),
                   "max_s": round(max(v), 2)} for name, v in sorted(latencies.items())}
    probe_rows = {name: {"requests": len(v), "p50_s": round(_percentile(v, 0.5), 2), "p95_s": round(_percentile(v, 0.95), 2),
                         "max_s": round(max(v), 2)} for name, v in sorted(probes.items())}
    result = {
        "label": args.label, "requests": args.requests, "clients": args.clients, "startup_seconds": round(startup, 1),
        "soak_seconds": round(soak_seconds, 1), "failures": failures, "latency": rows,
        "probe_latency_while_faces_queue": probe_rows, "probe_failures": probe_failures,
        "cache_files_before": files0, "cache_mb_before": round(bytes0 / 1e6, 2),
        "cache_files_after": files1, "cache_mb_after": round(bytes1 / 1e6, 2),
        "rss_mb_before": round(rss0, 1), "rss_mb_after": round(rss1, 1), "peak_rss_mb": round(peak.peak, 1),
        "cache_files_left_at_exit": left_cache, "cache_mb_left_at_exit": round(left_cache_bytes / 1e6, 2),
        "temp_entries_left_at_exit": left_tmp, "server_exit_code": server.returncode, "server_tracebacks": tracebacks,
        "server_exceptions": raised,
        "load_before": load_before, "load_after": load_after, "machine": machine(),
    }
    for k, v in result.items():
        if k not in ("latency", "probe_latency_while_faces_queue"):
            print(f"{k:<28}{v}")
    print(f"\n{'endpoint':<20}{'n':>4}{'p50 s':>8}{'p95 s':>8}{'max s':>8}")
    for name, row in rows.items():
        print(f"{name:<20}{row['requests']:>4}{row['p50_s']:>8}{row['p95_s']:>8}{row['max_s']:>8}")
    print("light requests, one at a time, while the face model's queue is full:")
    for name, row in probe_rows.items():
        print(f"{name:<20}{row['requests']:>4}{row['p50_s']:>8}{row['p95_s']:>8}{row['max_s']:>8}")
    md = [
        f"## The app under traffic: {args.label}",
        "",
        f"`python benchmarks/soak.py --label {args.label}` on {machine()}: `python app.py` "
        f"({'this checkout' if args.app_dir.resolve() == ROOT else 'an older copy: ' + args.app_dir.name}) in a subprocess, "
        f"{args.clients} concurrent gradio_client clients on loopback sending {args.requests} mixed requests (per 10: 4 "
        "25-step portraits, 2 5-step segmentations, 2 digits classified or generated in 25 steps, 2 10-step spiral flows), "
        f"after a warm-up of every endpoint. {result['soak_seconds']} s in all. Machine load before: {load_before}; "
        f"after: {load_after}.",
        "",
        "| endpoint | requests | p50 s | p95 s | max s |",
        "|---|---:|---:|---:|---:|",
        *[f"| `{name}` | {r['requests']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} |" for name, r in rows.items()],
        "",
        f"Then the face model kept busy ({2 * args.clients // 3} clients asking for portraits and "
        f"{args.clients - 2 * args.clients // 3} for segmentations, in a loop) while one more user sends {args.probes} light "
        f"requests one at a time (spiral and digits in turn); failures: {sum(probe_failures.values())}:",
        "",
        "| endpoint, while portraits queue | requests | p50 s | p95 s | max s |",
        "|---|---:|---:|---:|---:|",
        *[f"| `{name}` | {r['requests']} | {r['p50_s']} | {r['p95_s']} | {r['max_s']} |" for name, r in probe_rows.items()],
        "",
        "| figure | after warm-up | after the soak |",
        "|---|---:|---:|",
        f"| cache files | {files0} | {files1} |",
        f"| cache MB | {result['cache_mb_before']} | {result['cache_mb_after']} |",
        f"| server RSS MB | {result['rss_mb_before']} | {result['rss_mb_after']} (peak {result['peak_rss_mb']}) |",
        "",
        f"Failures: {sum(failures.values())} {failures or ''}. Tracebacks in the server's log: {tracebacks}"
        f"{' (' + '; '.join(f'{n}x {line}' for line, n in raised.items()) + ')' if raised else ''}. "
        f"After SIGTERM (exit code {server.returncode}): {left_cache} cache files ({result['cache_mb_left_at_exit']} MB) "
        f"and {len(left_tmp)} temp entries left{': ' + ', '.join(left_tmp) if left_tmp else ''}.",
    ]
    write_results(f"soak_{args.label}", result, "\n".join(md))


if __name__ == "__main__":
    main()
