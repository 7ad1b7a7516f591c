"""The SymmFlow Studio Gradio app: one module per tab, assembled by :func:`build_demo`."""

from demo.app import build_demo

__all__ = ["build_demo"]
