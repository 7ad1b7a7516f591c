"""SymmFlow Studio: the Hugging Face Space entry point (``python app.py``)."""

from demo import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch()
