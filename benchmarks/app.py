"""The app under a user's clicks and under load, over HTTP, on this machine.

    python benchmarks/app.py [--clients 20]

Starts ``python app.py`` in a subprocess (startup time = until it answers), then through
``gradio_client``: time to the first streamed frame of a 25-step face generation, the whole
generation, a 5-step segmentation, and ``--clients`` concurrent clients each running a
generation (all must complete; the queue serialises them). Peak RSS of the server process is
sampled throughout. Loopback only. Writes benchmarks/results/app.json and a section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from report import ROOT, machine, write_results
from served import PeakRSS, connect, free_port, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    server = start(ROOT, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = PeakRSS(server.pid)
    url = f"http://127.0.0.1:{port}/"
    try:
        client = connect(url, server, started)
        startup = time.perf_counter() - started

        mask = handle_file(str(ROOT / "assets" / "faces" / "mask_0.png"))
        editor = {"background": mask, "layers": [], "composite": mask, "id": None}
        photo = handle_file(str(ROOT / "assets" / "faces" / "image_0.png"))
        client.predict(editor, 2, 0, "euler", 1, api_name="/generate_portrait")  # warm-up

        firsts, totals = [], []
        for seed in range(3):
            t0 = time.perf_counter()
            job = client.submit(editor, 25, seed, "euler", 1, api_name="/generate_portrait")
            first = None
            for _ in job:  # streamed outputs arrive as the generator yields
                first = first or time.perf_counter() - t0
            job.result()
            firsts.append(first if first is not None else time.perf_counter() - t0)
            totals.append(time.perf_counter() - t0)
        segs = []
        for seed in range(3):
            t0 = time.perf_counter()
            client.predict(photo, 5, seed, api_name="/segment_photo")
            segs.append(time.perf_counter() - t0)

        def one(seed: int) -> bool:
            try:
                Client(url, verbose=False).predict(editor, 25, seed, "euler", 1, api_name="/generate_portrait")
                return True
            except Exception:
                return False

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            ok = list(pool.map(one, range(args.clients)))
        load_seconds = time.perf_counter() - t0
    finally:
        peak.stop()
        server.terminate()
        server.wait(timeout=30)

    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    result = {
        "startup_seconds": round(startup, 2),
        "first_frame_seconds": round(median(firsts), 3),
        "generate_25_seconds": round(median(totals), 3),
        "segment_5_seconds": round(median(segs), 3),
        "concurrent_clients": args.clients,
        "concurrent_failures": ok.count(False),
        "concurrent_wall_seconds": round(load_seconds, 1),
        "peak_rss_mb": round(peak.peak, 1),
        "machine": machine(),
    }
    for k, v in result.items():
        print(f"{k:<26}{v}")
    md = [
        "## The app over HTTP",
        "",
        f"`python benchmarks/app.py` on {machine()}: `python app.py` in a subprocess, driven through "
        "gradio_client on loopback; medians of 3; shipped models.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| startup until the app answers (s) | {result['startup_seconds']} |",
        f"| first streamed frame of a 25-step face generation (s) | {result['first_frame_seconds']} |",
        f"| full 25-step face generation (s) | {result['generate_25_seconds']} |",
        f"| 5-step segmentation (s) | {result['segment_5_seconds']} |",
        f"| {args.clients} concurrent clients, one generation each: failures / wall time (s) | "
        f"{result['concurrent_failures']} / {result['concurrent_wall_seconds']} |",
        f"| peak RSS of the server (MB) | {result['peak_rss_mb']} |",
    ]
    write_results("app", result, "\n".join(md))


if __name__ == "__main__":
    main()
