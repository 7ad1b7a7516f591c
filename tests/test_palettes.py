"""COCO-Stuff as the authors colour it: by the RAW stuffthingmaps id, real class names, the
eleven unused ids refused, unlabeled as 255, and the authors' evaluation decoding."""

import numpy as np
import pytest
import torch
from PIL import Image

from symmflow.codecs import PaletteCodec
from symmflow.data.datasets import read_label_map
from symmflow.data.folders import CocoStuff
from symmflow.pipeline_config import PipelineConfig
from symmflow.processing import ImageProcessor
from symmflow.palettes import (
    CELEBAMASK_HQ,
    COCO_STUFF,
    COCO_STUFF_AUTHORS_EVAL,
    COCO_STUFF_RAW_NAMES,
    COCO_STUFF_UNUSED_RAW_IDS,
    coco_stuff_colour,
    decoding_palette,
    recode_class_map,
)

UNUSED = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)  # COCO ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91
USED = [r for r in range(182) if r not in UNUSED]


def rule(r):
    return (50 * (r // 36), 50 * ((r // 6) % 6), 50 * (r % 6))


def as_mask(rgb):
    """uint8 [..., 3] -> a colour mask [1, 3, 1, N] in [-1, 1]."""
    return torch.from_numpy(np.asarray(rgb, np.float32).reshape(1, 1, -1, 3)).permute(0, 3, 1, 2) / 127.5 - 1


def test_each_class_has_the_colour_of_its_raw_id(vectors):
    ref = vectors["palettes"]["coco_stuff"]
    assert tuple(ref["unused_raw_ids"]) == UNUSED == COCO_STUFF_UNUSED_RAW_IDS
    assert COCO_STUFF.raw_ids == tuple(USED) + (255,) and COCO_STUFF.num_classes == 172
    assert COCO_STUFF.colors[:171].tolist() == [list(rule(r)) for r in USED]
    assert COCO_STUFF.colors[171].tolist() == ref["unlabeled_rgb"] == [250, 250, 250]
    for name, example in ref["raw_id_examples"].items():  # person, banner, wall-concrete, wood, unlabeled ...
        k = COCO_STUFF.class_names.index(name)
        assert COCO_STUFF.raw_ids[k] == example["raw_id"], name
        assert COCO_STUFF.colors[k].tolist() == example["rgb"], name
    # 11 classes could not be painted before (their raw ids were past the contiguous range)
    assert COCO_STUFF.class_names[160:171] == COCO_STUFF_RAW_NAMES[171:182]
    assert COCO_STUFF.class_names[160] == "wall-concrete" and COCO_STUFF.class_names[170] == "wood"
    assert len({tuple(c) for c in COCO_STUFF.colors.tolist()}) == 172  # no two classes share a colour


def test_real_coco_stuff_names():
    names = COCO_STUFF.class_names
    assert names[:3] == ("person", "bicycle", "car") and names[79:82] == ("toothbrush", "banner", "blanket")
    assert names[-1] == "unlabeled" and not any(n.startswith("class_") for n in names)
    assert len(COCO_STUFF_RAW_NAMES) == 182 and len(set(names)) == 172
    assert [COCO_STUFF_RAW_NAMES[r] for r in UNUSED] == [
        "street sign", "hat", "shoe", "eye glasses", "plate", "mirror", "window", "desk", "door", "blender", "hair brush",
    ]


def test_every_used_raw_id_decodes_to_itself():
    codec = PaletteCodec("coco_stuff", beta=6.0)
    raw = np.array(USED + [255])
    ids = COCO_STUFF.from_raw(raw)
    assert ids.tolist() == list(range(172))
    # the raw id's colour, dequantized as in training (+-3 grey levels), decodes to the class of that raw id
    mask = codec.dequantize(as_mask(coco_stuff_colour(raw)), torch.Generator().manual_seed(0))
    decoded = codec.decode(mask)[0, 0].numpy()
    assert np.array(COCO_STUFF.raw_ids)[decoded].tolist() == raw.tolist()
    assert torch.equal(codec.decode(codec.encode(torch.arange(172)[None, None])), torch.arange(172)[None, None])


def test_unused_raw_ids_are_refused(tmp_path):
    for r in UNUSED:
        with pytest.raises(ValueError, match=rf"\[{r}\] are not classes of palette 'coco_stuff'"):
            COCO_STUFF.from_raw(np.array([0, r]))
    with pytest.raises(ValueError, match=r"accepted: 0\.\.10, 12\.\.24, 26\.\.27, .*, 91\.\.181, 255$"):
        COCO_STUFF.from_raw(np.array([11]))
    with pytest.raises(ValueError, match=r"\[182\].*accepted: 0\.\.181 and 255"):
        coco_stuff_colour(182)
    Image.fromarray(np.array([[0, 25]], np.uint8)).save(tmp_path / "ids.png")
    with pytest.raises(ValueError, match=r"\[25\].*0\.\.10, 12\.\.24, 26\.\.27"):
        read_label_map(tmp_path / "ids.png", "coco_stuff")
    root = tmp_path / "coco"
    (root / "images" / "val2017").mkdir(parents=True)
    (root / "stuffthingmaps" / "val2017").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / "images" / "val2017" / "a.png")
    Image.fromarray(np.full((4, 4), 90, np.uint8)).save(root / "stuffthingmaps" / "val2017" / "a.png")
    with pytest.raises(ValueError, match=r"\[90\].*raw ids 0\.\.181 without the unused ids"):
        CocoStuff(root, split="val2017")[0]


def test_255_decodes_to_unlabeled(tmp_path):
    assert COCO_STUFF.from_raw(np.array([255])).tolist() == [171] and COCO_STUFF.ignore_index == 171
    assert COCO_STUFF.class_names[171] == "unlabeled"
    assert coco_stuff_colour(255).tolist() == [250, 250, 250]
    assert PaletteCodec("coco_stuff").decode(as_mask([[250, 250, 250], [245, 247, 251]])).tolist() == [[[171, 171]]]
    Image.fromarray(np.array([[255, 181, 0]], np.uint8)).save(tmp_path / "ids.png")
    assert read_label_map(tmp_path / "ids.png", "coco_stuff").tolist() == [[171, 170, 0]]


def test_authors_evaluation_decoding(vectors):
    ref = vectors["palettes"]["coco_stuff"]
    assert COCO_STUFF_AUTHORS_EVAL.colors[:171].tolist() == ref["rgb_first_171"]
    assert COCO_STUFF_AUTHORS_EVAL.colors[171].tolist() == ref["unlabeled_rgb"]
    assert COCO_STUFF_AUTHORS_EVAL.ignore_index == 171 and COCO_STUFF_AUTHORS_EVAL.class_names[11] == "street sign"
    assert decoding_palette("coco_stuff", "authors") is COCO_STUFF_AUTHORS_EVAL
    assert decoding_palette("coco_stuff") is COCO_STUFF and decoding_palette("celebamask_hq", "authors") is CELEBAMASK_HQ
    with pytest.raises(ValueError, match="unknown decoding 'paper'; accepted: classes, authors"):
        decoding_palette("coco_stuff", "paper")
    codec = PaletteCodec("coco_stuff")
    # stop sign (raw 12, class 11), wood (raw 181, class 170: no row of its own there), unlabeled
    mask = as_mask([rule(12), rule(181), (250, 250, 250)])
    assert codec.decode(mask).tolist() == [[[11, 170, 171]]]
    assert codec.decode(mask, decoding="authors").tolist() == [[[12, 145, 171]]]  # 145: railing's colour (200, 0, 50)
    # ground truth in the authors' ids: what their evaluation makes of each class's colour mask
    every = torch.arange(172)[None, None]
    recoded = recode_class_map(every.numpy(), "coco_stuff", "authors")
    assert torch.equal(torch.from_numpy(recoded), codec.decode(codec.encode(every), decoding="authors"))
    assert recoded[0, 0, :160].tolist() == [r for r in USED if r < 171]  # raw ids below 171 keep their id
    assert recode_class_map(np.array([3, 7]), "celebamask_hq", "authors").tolist() == [3, 7]
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 171\] for palette 'coco_stuff'"):
        recode_class_map(np.array([172]), "coco_stuff", "authors")


def test_pipeline_inputs_read_coco_label_pngs_as_raw_ids(tmp_path):
    processor = ImageProcessor(PipelineConfig(task="segmentation", image_size=8, palette="coco_stuff"))
    raw = np.array([[12, 181], [255, 0]], np.uint8)  # stop sign, wood, unlabeled, person
    Image.fromarray(raw).save(tmp_path / "label.png")
    assert processor.read_mask(tmp_path / "label.png").tolist() == [[11, 170], [171, 0]]
    colours = COCO_STUFF.colorize(processor.read_mask(Image.fromarray(raw)))
    assert colours.tolist() == coco_stuff_colour(raw).tolist()  # painted in the colours of the raw ids
    assert processor.read_mask(np.array([[11, 170]])).tolist() == [[11, 170]]  # arrays hold class ids
