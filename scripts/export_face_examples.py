"""Save example procedural faces: colour masks (CelebAMask-HQ palette) and their portraits.

Writes ``mask_{k}.png`` and ``image_{k}.png`` for ``k = 0 .. count - 1`` (faces ``seed + k``)
into ``--out`` (default ``assets/faces``), and optionally a contact sheet of 32 small faces.

    python scripts/export_face_examples.py
    python scripts/export_face_examples.py --sheet /tmp/faces_64.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from symmflow.data.procedural_faces import generate_face, generate_faces
from symmflow.palettes import CELEBAMASK_HQ

ROOT = Path(__file__).resolve().parent.parent


def export_examples(out: Path, count: int, size: int, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        image, class_map = generate_face(seed + k, size)
        Image.fromarray(CELEBAMASK_HQ.colorize(class_map)).save(out / f"mask_{k}.png")
        Image.fromarray(image).save(out / f"image_{k}.png")


def contact_sheet(path: Path, size: int, seed: int, rows: int = 4, cols: int = 8) -> None:
    """A ``rows x cols`` grid of faces at ``size`` pixels, shown 2x enlarged (nearest)."""
    images, _ = generate_faces(rows * cols, size, seed)
    grid = images.reshape(rows, cols, size, size, 3).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(rows * size, cols * size, 3)
    sheet = Image.fromarray(np.ascontiguousarray(grid))
    sheet.resize((2 * sheet.width, 2 * sheet.height), Image.NEAREST).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "faces")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", type=Path, help="also write a 8x4 contact sheet of 64x64 faces here")
    args = parser.parse_args()
    export_examples(args.out, args.count, args.size, args.seed)
    if args.sheet is not None:
        contact_sheet(args.sheet, 64, args.seed)


if __name__ == "__main__":
    main()
