"""Write one test digit per class (never seen in training) to assets/digits/ for the app.

    python scripts/export_digit_examples.py

Dark strokes on white, enlarged to 160x160: they look like a drawing on the canvas and go
through the same preprocessing as one.
"""

from pathlib import Path

import numpy as np
from PIL import Image

from symmflow.data.digits import digits_split

OUT = Path(__file__).resolve().parent.parent / "assets" / "digits"


def main() -> None:
    images, labels = digits_split("test")
    OUT.mkdir(parents=True, exist_ok=True)
    for k in range(10):
        digit = images[np.flatnonzero(labels == k)[0]]
        pixels = (255 - digit / 16.0 * 255).astype(np.uint8)
        Image.fromarray(pixels).resize((160, 160), Image.Resampling.NEAREST).convert("RGB").save(OUT / f"digit_{k}.png")
    print(f"wrote 10 digits to {OUT}")


if __name__ == "__main__":
    main()
