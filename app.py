"""SymmFlow Studio: the Hugging Face Space entry point (``python app.py``)."""

import atexit

from demo import build_demo
from demo.app import LAUNCH, stop_on_sigterm

demo = build_demo()

if __name__ == "__main__":
    stop_on_sigterm()
    try:
        demo.launch(**LAUNCH)  # returns once stopped (Ctrl-C, SIGTERM)
    finally:
        demo.cache_cap.clear()  # nothing of this run stays in Gradio's cache
        atexit.register(demo.cache_cap.clear)  # nor what requests still running wrote since
