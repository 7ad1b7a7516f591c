"""SymmFlow Studio: the Hugging Face Space entry point (``python app.py``)."""

import os
import sys
import time

from demo import build_demo
from demo.app import LAUNCH, stop_on_sigterm

demo = build_demo()

if __name__ == "__main__":
    stop_on_sigterm()
    try:
        demo.launch(**LAUNCH)  # returns once stopped (Ctrl-C, SIGTERM)
    finally:
        # nothing of this run stays in Gradio's cache; a request finishing during a pass can
        # still register a file, so sweep again until a pass finds nothing (at most ~1 s)
        for _ in range(5):
            if not demo.cache_cap.clear():
                break
            time.sleep(0.2)
    # Requests may still be running in worker threads. End the process here, at once, rather than
    # in the interpreter's teardown: torch's threads, torn down under a running request, abort it
    # ("terminate called without an active exception", exit status -6), and a request finishing
    # meanwhile could write to the cache just cleared.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
