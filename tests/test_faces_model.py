"""The shipped face model (checkpoints/faces) on held-out procedural faces: both directions.

Regression guards at the figures it has now, far below the issue's targets (0.90 / 0.80, see
the README): any change that makes it worse fails here."""

import pytest

from symmflow.data.procedural_faces import HELD_OUT_SEED, generate_faces
from symmflow.evaluation import evaluate_cycle, evaluate_segmentation
from symmflow.pipeline import SymmFlowPipeline

from conftest import ROOT

# measured on these 40 faces / 16 masks (benchmarks/faces.py uses 200 / 100: 0.716 / 0.602)
SEG_MEASURED, CYCLE_MEASURED = 0.712, 0.583


@pytest.fixture(scope="module")
def faces():
    pipe = SymmFlowPipeline.from_pretrained(ROOT / "checkpoints" / "faces")
    images, masks = generate_faces(40, size=pipe.image_size, seed=HELD_OUT_SEED)
    return pipe, list(images), list(masks)


def test_shipped_model_segments_held_out_faces(faces):
    pipe, images, masks = faces
    seg = evaluate_segmentation(pipe, images, masks, steps=5)
    assert seg["miou"] >= SEG_MEASURED - 0.03, seg
    # the large parts are learned (measured: skin 0.86, hair 0.92, cloth 0.95), parts a few
    # pixels wide are found (nose 0.76, eyes 0.66 / 0.66, brows 0.70 / 0.69, lips 0.49 / 0.65),
    # and so are the rare ones the class-balanced loss brought in (mouth 0.77, earrings 0.47,
    # necklace 0.59; all 0 before it)
    assert min(seg["per_class"][k] for k in ("skin", "hair", "cloth")) > 0.78, seg["per_class"]
    assert min(seg["per_class"][k] for k in ("nose", "l_eye", "r_eye", "l_brow", "r_brow")) > 0.62, seg["per_class"]
    assert min(seg["per_class"][k] for k in ("mouth", "ear_r", "neck_l", "u_lip")) > 0.42, seg["per_class"]


def test_shipped_model_portraits_are_segmented_back_to_their_masks(faces):
    pipe, _, masks = faces
    cycle = evaluate_cycle(pipe, masks[:16], generate_steps=25, segment_steps=5)
    assert cycle["miou"] >= CYCLE_MEASURED - 0.04, cycle
