"""Assemble the tabs into one ``gr.Blocks`` app."""

from __future__ import annotations

import gradio as gr

from demo import spiral_tab
from demo.models import set_threads

TITLE = "SymmFlow Studio"

HEADER = """
# SymmFlow Studio
**Symmetrical Flow Matching** ([paper](https://arxiv.org/abs/2506.10634), AAAI 2026): one network
learns two opposite flows, *noise -> image given a label* (semantic image synthesis) and
*image -> label* (segmentation, or classification when the label is a class).
"""


def build_demo() -> gr.Blocks:
    set_threads()
    with gr.Blocks(title=TITLE) as blocks:
        gr.Markdown(HEADER)
        with gr.Tab("Spiral"):
            spiral_tab.build(blocks)
    # One generation at a time per event; extra clicks wait in the queue instead of failing.
    blocks.queue(default_concurrency_limit=1, max_size=64)
    return blocks
