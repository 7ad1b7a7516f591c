"""Shared by the benchmarks: machine description and the sections of RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from symmflow.io import write_json_atomic, write_text_atomic  # noqa: E402

RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
RESULTS_DIR = ROOT / "benchmarks" / "results"

_HEADER = "# Benchmark results\n\nEach section is written by the script it names; rerun it to refresh.\n"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def checkpoint_name(path) -> str:
    """A pipeline folder as results name it: relative to the repository when inside it (the same
    on every machine), else its folder name."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else p.name


def write_results(name: str, data: dict, markdown: str) -> None:
    """Write ``results/<name>.json`` and replace this benchmark's section of RESULTS.md."""
    write_json_atomic(RESULTS_DIR / f"{name}.json", data)
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else _HEADER
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    write_text_atomic(RESULTS_MD, text)
