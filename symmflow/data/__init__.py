"""Data: image reading (``images``), real segmentation datasets (``datasets``), procedurally
rendered faces (``procedural_faces``) and scikit-learn's handwritten digits (``digits``).

Import the module you need; nothing is imported eagerly (OpenCV, scikit-learn are only
needed by the modules that use them).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DATASETS", "open_dataset"]

DATASETS = ("digits", "procedural_faces", "celebamask_hq", "celebamask_hq_color", "coco_stuff", "folder")
"""Names :func:`open_dataset` accepts (the ``data.dataset`` of a training config)."""


def open_dataset(name: str, **kwargs: Any):
    """The data set called ``name`` (one of :data:`DATASETS`), built with ``kwargs``.

    Items are dicts: ``image`` ``[C, H, W]`` in ``[-1, 1]`` plus ``label`` (class id) or
    ``class_map`` (``[H, W]`` int64).
    """
    if name == "digits":
        from symmflow.data.digits import DigitsDataset

        return DigitsDataset(**kwargs)
    if name == "procedural_faces":
        from symmflow.data.procedural_faces import ProceduralFaces

        return ProceduralFaces(**kwargs)
    from symmflow.data import datasets as real

    table = {
        "celebamask_hq": real.CelebAMaskHQ,
        "celebamask_hq_color": real.CelebAMaskHQColor,
        "coco_stuff": real.CocoStuff,
        "folder": real.SegmentationFolder,
    }
    if name not in table:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return table[name](**kwargs)
