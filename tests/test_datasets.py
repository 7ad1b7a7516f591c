"""Datasets and image reading, on tiny fixtures written in the downloaded layouts."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from symmflow.data.datasets import (
    CelebAMaskHQ,
    CelebAMaskHQColor,
    CocoStuff,
    SegmentationFolder,
    merge_celebamask_parts,
    read_label_map,
)
from symmflow.data.images import (
    center_crop_square,
    load_rgb,
    resize_labels,
    resize_rgb,
    to_tensor,
    to_uint8,
)
from symmflow.palettes import CELEBAMASK_HQ, COCO_STUFF

CELEB = {name: k for k, name in enumerate(CELEBAMASK_HQ.class_names)}
COLOR = {name: tuple(int(c) for c in CELEBAMASK_HQ.colors[k]) for name, k in CELEB.items()}


def save(array: np.ndarray, path, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(path, quality=95) if path.suffix == ".jpg" else image.save(path)


def solid(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


def check_item(item: dict, hw: tuple[int, int], num_classes: int) -> None:
    image, class_map = item["image"], item["class_map"]
    assert image.dtype == torch.float32 and image.shape == (3, *hw)
    assert image.min() >= -1 and image.max() <= 1
    assert class_map.dtype == torch.int64 and class_map.shape == hw
    assert class_map.min() >= 0 and class_map.max() < num_classes
    assert isinstance(item["name"], str)


def mean_rgb(item: dict) -> np.ndarray:
    return to_uint8(item["image"]).reshape(-1, 3).mean(0)


# -- CelebAMask-HQ, distributed layout ------------------------------------------------------------

IMAGE_COLORS = {0: (200, 30, 30), 1: (30, 200, 30), 28001: (30, 30, 200), 5: (9, 9, 9)}


def part(rows: slice, cols: slice, value: int = 255) -> np.ndarray:
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[rows, cols] = value
    return mask


def expected_celeba() -> dict[int, np.ndarray]:
    e0 = np.zeros((16, 16), dtype=np.int64)
    e0[4:16, :] = CELEB["skin"]
    e0[0:8, :] = CELEB["hair"]  # hair (13) is painted after skin (1)
    e0[10:12, 3:6] = CELEB["l_eye"]
    e1 = np.zeros((16, 16), dtype=np.int64)
    e1[12:16, :] = CELEB["cloth"]
    e2 = np.zeros((16, 16), dtype=np.int64)
    e2[0:10, :] = CELEB["skin"]
    e2[10:16, 4:12] = CELEB["neck"]
    return {0: e0, 1: e1, 28001: e2}


@pytest.fixture
def celeba_root(tmp_path):
    root = tmp_path / "CelebAMask-HQ"
    for i, rgb in IMAGE_COLORS.items():
        save(solid(32, 32, rgb), root / "CelebA-HQ-img" / f"{i}.jpg")
    anno = root / "CelebAMask-HQ-mask-anno"
    skin = part(slice(4, 16), slice(None))
    skin[0:2, 0:2] = 100  # grey below the threshold is "off"
    save(skin, anno / "0" / "00000_skin.png", mode="RGB")  # RGB masks occur in the release
    save(part(slice(0, 8), slice(None)), anno / "0" / "00000_hair.png")
    save(part(slice(10, 12), slice(3, 6)), anno / "0" / "00000_l_eye.png")
    save(part(slice(12, 16), slice(None)), anno / "0" / "00001_cloth.png")
    save(part(slice(0, 10), slice(None)), anno / "14" / "28001_skin.png")
    save(part(slice(10, 16), slice(4, 12)), anno / "14" / "28001_neck.png")
    save(part(slice(0, 4), slice(None)), anno / "3" / "07000_hat.png")  # a mask without its image
    return root


def test_merge_parts_later_classes_win():
    skin, hair = np.zeros((4, 4), np.uint8), np.zeros((4, 4), bool)
    skin[1:] = 255
    hair[:2] = True
    merged = merge_celebamask_parts({"hair": hair, "skin": skin}, (4, 4))  # dict order is irrelevant
    assert merged.dtype == np.int64
    assert merged.tolist() == [[13] * 4, [13] * 4, [1] * 4, [1] * 4]
    assert merge_celebamask_parts({}, (2, 3)).tolist() == [[0] * 3] * 2
    with pytest.raises(ValueError, match="unknown CelebAMask-HQ parts"):
        merge_celebamask_parts({"beard": skin}, (4, 4))
    with pytest.raises(ValueError, match="shape"):
        merge_celebamask_parts({"skin": skin}, (8, 8))


def test_celebamask_hq_all_items_exact(celeba_root):
    with pytest.warns(UserWarning, match="skipped 1 image"):
        ds = CelebAMaskHQ(celeba_root, split="all")
    assert ds.split_source.startswith("fixed")
    assert ds.names == ["0", "1", "28001"]
    assert ds.unmatched_images == ["5"] and ds.unmatched_labels == ["7000"] and ds.num_unmatched == 2
    expected = expected_celeba()
    for item in ds:
        check_item(item, (16, 16), 19)  # size=None: the mask resolution
        i = int(item["name"])
        assert torch.equal(item["class_map"], torch.from_numpy(expected[i]))
        np.testing.assert_allclose(mean_rgb(item), IMAGE_COLORS[i], atol=4)


def test_celebamask_hq_resize_and_fixed_split(celeba_root):
    with pytest.warns(UserWarning):
        train = CelebAMaskHQ(celeba_root, split="train", size=8)
    val = CelebAMaskHQ(celeba_root, split="val", size=(8, 8))  # the orphans are train ids: no warning
    assert train.names == ["0", "1"] and val.names == ["28001"]
    item = train[0]
    check_item(item, (8, 8), 19)
    assert torch.equal(item["class_map"], torch.from_numpy(expected_celeba()[0][1::2, 1::2]))
    assert CelebAMaskHQ(celeba_root, split="test").names == ["28001"]  # the held-out 2,000
    with pytest.warns(UserWarning):
        assert len(CelebAMaskHQ(celeba_root, split="all", limit=1)) == 1


def test_celebamask_hq_official_partition(celeba_root):
    # orig_idx thresholds exactly as the dataset's g_partition.py: < 162771 train, < 182638 val.
    (celeba_root / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
        "idx orig_idx orig_file\n0 162770 162771.jpg\n1 162771 162772.jpg\n28001 182638 182639.jpg\n"
    )
    splits = {}
    for split in ("train", "val", "test"):
        ds = CelebAMaskHQ(celeba_root, split=split)  # the orphans are in no split: no warning
        assert ds.split_source == "official CelebA partition"
        splits[split] = ds.names
    assert splits == {"train": ["0"], "val": ["1"], "test": ["28001"]}


def test_celebamask_hq_split_json_wins(celeba_root):
    (celeba_root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("idx orig_idx orig_file\n0 1 2.jpg\n")
    (celeba_root / "split.json").write_text(json.dumps({"train": [1, 28001], "val": [0]}))
    assert CelebAMaskHQ(celeba_root, split="train").names == ["1", "28001"]
    with pytest.raises(ValueError, match="no split 'test'"):
        CelebAMaskHQ(celeba_root, split="test")


def test_celebamask_hq_layout_errors(tmp_path, celeba_root):
    with pytest.raises(FileNotFoundError, match="CelebA-HQ-img.*Expected layout"):
        CelebAMaskHQ(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split must be"):
        CelebAMaskHQ(celeba_root, split="validation")
    with pytest.raises(ValueError, match="limit"):
        CelebAMaskHQ(celeba_root, limit=-1)


# -- CelebAMask-HQ, Hugging Face layout with colour masks -----------------------------------------

def test_celebamask_hq_color_layout(tmp_path):
    root = tmp_path / "hf"
    mask = np.zeros((16, 16, 3), dtype=np.uint8)
    mask[:, :8] = COLOR["skin"]
    mask[:, 8:] = COLOR["hair"]
    mask[:, 8] = (np.array(COLOR["skin"]) + np.array(COLOR["hair"])) // 2  # an antialiased edge
    save(solid(32, 32, (10, 120, 240)), root / "train" / "images" / "a.jpg")
    save(mask, root / "train" / "masks" / "a.png")
    ids = np.zeros((16, 16), dtype=np.uint8)
    ids[4:, :] = CELEB["nose"]
    save(solid(16, 16, (90, 90, 90)), root / "train" / "images" / "b.png")
    save(ids, root / "train" / "masks" / "b.png")  # an id map (mode L)
    save(solid(16, 16, (0, 0, 0)), root / "train" / "images" / "c.png")  # no mask
    with pytest.warns(UserWarning, match="skipped 1 image"):
        ds = CelebAMaskHQColor(root, split="train")
    assert ds.names == ["a", "b"] and ds.unmatched_images == ["c"]
    a, b = ds[0], ds[1]
    for item in (a, b):
        check_item(item, (16, 16), 19)
    cm = a["class_map"].numpy()
    assert (cm[:, :8] == CELEB["skin"]).all() and (cm[:, 9:] == CELEB["hair"]).all()
    assert set(np.unique(cm[:, 8])) <= {CELEB["skin"], CELEB["hair"]}  # the blend invents no class
    assert torch.equal(b["class_map"], torch.from_numpy(ids.astype(np.int64)))
    np.testing.assert_allclose(mean_rgb(a), (10, 120, 240), atol=4)
    with pytest.raises(FileNotFoundError, match="splits found: \\['train'\\]"):
        CelebAMaskHQColor(root, split="test")


# -- COCO-Stuff ---------------------------------------------------------------------------------

def test_coco_stuff_square_crop_and_unlabeled(tmp_path):
    root = tmp_path / "coco"
    image = np.zeros((16, 24, 3), dtype=np.uint8)
    image[:, :8], image[:, 8:16], image[:, 16:] = (250, 0, 0), (0, 250, 0), (0, 0, 250)
    labels = np.zeros((16, 24), dtype=np.uint8)
    labels[:, 8:16], labels[:, 16:] = 170, 255
    save(image, root / "images" / "val2017" / "000000000001.png")
    save(labels, root / "stuffthingmaps" / "val2017" / "000000000001.png")
    bad = labels.copy()
    bad[0, 0] = 200
    save(image, root / "images" / "val2017" / "000000000002.png")
    save(bad, root / "stuffthingmaps" / "val2017" / "000000000002.png")

    ds = CocoStuff(root, split="val2017")  # the official raw ids: 170 is wall-brick, class 159
    item = ds[0]
    check_item(item, (16, 16), 172)
    # centre 16x16 crop = columns 4..19 of the 24-wide map; raw 255 becomes class 171
    expected = np.array([0] * 4 + [159] * 8 + [171] * 4)
    assert (item["class_map"].numpy() == expected[None, :]).all()
    assert COCO_STUFF.class_names[171] == "unlabeled" and COCO_STUFF.class_names[159] == "wall-brick"
    renumbered = CocoStuff(root, split="val2017", label_space="coco171")  # maps already holding class ids
    assert (renumbered[0]["class_map"].numpy() == np.array([0] * 4 + [170] * 8 + [171] * 4)[None, :]).all()
    small = CocoStuff(root, split="val2017", size=8, limit=1)
    assert len(small) == 1
    check_item(small[0], (8, 8), 172)
    assert CocoStuff(root, split="val2017", square_crop=False)[0]["class_map"].shape == (16, 24)
    with pytest.raises(ValueError, match=r"\[200\].*raw ids 0\.\.181"):
        ds[1]
    with pytest.raises(ValueError, match=r"\[200\].*171 contiguous ids"):
        renumbered[1]


def test_coco_stuff_alternative_layout_and_182_ids(tmp_path):
    root = tmp_path / "coco"
    # the official 182-id release: 0..10 keep their id, 12 -> 11 (id 11 is unused), 91 (the
    # first stuff class, after the 80 thing classes) -> 80, 181 -> 170, 255 -> unlabeled (171)
    raw = np.array([[0, 10, 12], [91, 181, 255]], dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    save(solid(8, 12, (1, 2, 3)), root / "val2017" / "x.jpg")
    save(raw, root / "stuffthingmaps_trainval2017" / "val2017" / "x.png")
    save(solid(8, 8, (1, 2, 3)), root / "val2017" / "y.jpg")
    save(np.full((8, 8), 11, np.uint8), root / "stuffthingmaps_trainval2017" / "val2017" / "y.png")
    save(solid(12, 8, (1, 2, 3)), root / "val2017" / "z.jpg")  # portrait image, landscape labels
    save(raw, root / "stuffthingmaps_trainval2017" / "val2017" / "z.png")
    ds = CocoStuff(root, split="val2017", square_crop=False, label_space="coco182")
    assert ds.names == ["x", "y", "z"]
    cm = ds[0]["class_map"].numpy()
    assert cm[::4, ::4].tolist() == [[0, 10, 11], [80, 170, 171]]
    with pytest.raises(ValueError, match=r"\[11\].*unused"):
        ds[1]
    with pytest.raises(ValueError, match="8x12 and label map 12x8 do not match"):
        ds[2]
    with pytest.raises(FileNotFoundError, match="stuffthingmaps"):
        CocoStuff(tmp_path / "empty", split="val2017")


# -- any folder -----------------------------------------------------------------------------------

def test_segmentation_folder_mixed_label_kinds(tmp_path):
    root = tmp_path / "folder"
    ids = np.zeros((8, 8), dtype=np.uint8)
    ids[:4] = CELEB["hair"]
    ids[4:, 4:] = CELEB["u_lip"]
    # a: id PNG (L); b: colour mask (RGB); c: palettized colour mask whose palette order
    # differs from the class order; d: an id map saved as grey RGB; e: id PNG (P, grey palette)
    save(ids, root / "labels" / "a.png")
    save(CELEBAMASK_HQ.colorize(ids), root / "labels" / "b.png")
    used = np.unique(ids)
    order = used[::-1]  # palette entry j holds the colour of class order[j]
    position = np.zeros(256, dtype=np.uint8)
    position[order] = np.arange(len(order))
    indices = position[ids]
    pimg = Image.fromarray(indices, mode="P")
    pimg.putpalette(CELEBAMASK_HQ.colors[order].reshape(-1).tolist())
    (root / "labels").mkdir(exist_ok=True)
    pimg.save(root / "labels" / "c.png")
    save(np.repeat(ids[..., None], 3, axis=2), root / "labels" / "d.png")
    gimg = Image.fromarray(ids, mode="P")
    gimg.putpalette([v for g in range(256) for v in (g, g, g)])
    gimg.save(root / "labels" / "e.png")
    for stem in "abcde":
        save(solid(8, 8, (60, 70, 80)), root / "images" / f"{stem}.jpg")
    save(solid(8, 8, (0, 0, 0)), root / "labels" / "orphan.png")

    with pytest.warns(UserWarning, match="1 label"):
        ds = SegmentationFolder(root, size=4)
    assert ds.names == list("abcde") and ds.unmatched_labels == ["orphan"]
    expected = torch.from_numpy(resize_labels(ids.astype(np.int64), 4))
    for item in ds:
        check_item(item, (4, 4), 19)
        assert torch.equal(item["class_map"], expected), item["name"]
    with pytest.raises(FileNotFoundError, match="masks"):
        SegmentationFolder(root, label_dir="masks")


def test_broken_data_is_refused_before_training_starts(tmp_path):
    from symmflow.training import Trainer
    from symmflow.training.config import TrainConfig

    root = tmp_path / "folder"
    ids = np.zeros((8, 8), dtype=np.uint8)
    ids[2:6, 2:6] = CELEB["skin"]
    save(solid(8, 8, (90, 60, 50)), root / "images" / "good.png")
    save(ids, root / "labels" / "good.png")
    save(solid(8, 8, (90, 60, 50)), root / "images" / "ids.png")
    bad_ids = ids.copy()
    bad_ids[0, 0] = 40  # CelebAMask-HQ has 19 classes
    save(bad_ids, root / "labels" / "ids.png")
    save(solid(8, 16, (90, 60, 50)), root / "images" / "shape.png")  # 16x8 image, 8x8 label
    save(ids, root / "labels" / "shape.png")
    (root / "images" / "corrupt.png").write_bytes(b"not a png")
    save(ids, root / "labels" / "corrupt.png")
    ds = SegmentationFolder(root, size=8)
    with pytest.raises(ValueError, match="3 broken item") as err:
        ds.verify()
    assert all(name in str(err.value) for name in ("ids", "shape", "corrupt")) and "good" not in str(err.value)
    config = TrainConfig.from_dict({
        "name": "broken", "task": "segmentation", "output_dir": str(tmp_path / "run"),
        "data": {"dataset": "folder", "kwargs": {"root": str(root), "size": 8}},
        "model": {"class": "PixelUNet", "preset": "tiny", "kwargs": {"sample_size": 8}},
        "pipeline": {"image_size": 8, "palette": "celebamask_hq"}, "train": {"steps": 2, "batch_size": 2},
    })
    with pytest.raises(ValueError, match="broken item"):
        Trainer(config)
    assert not (tmp_path / "run").exists()


def test_celebamask_hq_part_files_are_checked(celeba_root):
    anno = celeba_root / "CelebAMask-HQ-mask-anno"
    red = np.zeros((16, 16, 3), dtype=np.uint8)
    red[0:4] = (255, 0, 0)  # grey 76: it would read as an absent part
    save(red, anno / "0" / "00001_hat.png")
    save(part(slice(0, 2), slice(None))[:8, :8], anno / "14" / "28001_hat.png")  # 8x8 among 16x16 parts
    save(part(slice(0, 2), slice(None)), anno / "0" / "00000_left_eye.png")  # not a CelebAMask-HQ part name
    with pytest.warns(UserWarning):
        ds = CelebAMaskHQ(celeba_root, split="all")
    with pytest.raises(ValueError, match="grey levels 0, 76"):
        ds[1]
    with pytest.raises(ValueError, match=r"28001_hat.png is 8x8 but 28001_\w+.png is 16x16"):
        ds[2]
    with pytest.raises(ValueError) as err:
        ds.verify()
    text = str(err.value)
    assert "(2 broken item(s))" in text and "00000_left_eye.png: not a CelebAMask-HQ part" in text
    assert "1 image(s) without a label: 5" in text and "1 label(s) without an image: 7000" in text


def test_an_empty_split_says_so(celeba_root):
    (celeba_root / "split.json").write_text(json.dumps({"train": [0, 1], "val": [99]}))
    with pytest.raises(ValueError, match=r"split 'val'.*selected none of the 3 pairs found"):
        CelebAMaskHQ(celeba_root, split="val")


def test_pairs_must_match_in_size_and_come_out_in_one_size(tmp_path):
    ids = np.zeros((8, 8), dtype=np.uint8)
    save(solid(16, 16, (90, 60, 50)), tmp_path / "half" / "images" / "a.png")
    save(ids, tmp_path / "half" / "labels" / "a.png")
    with pytest.raises(ValueError, match=r"image 16x16 and label map 8x8 do not match \(accepted: the image at the same size\)"):
        SegmentationFolder(tmp_path / "half", size=8)[0]
    root = tmp_path / "mixed"
    save(solid(12, 12, (90, 60, 50)), root / "images" / "a.png")  # the odd one out comes first
    save(np.zeros((12, 12), dtype=np.uint8), root / "labels" / "a.png")
    for name in "bcde":
        save(solid(8, 8, (90, 60, 50)), root / "images" / f"{name}.png")
        save(ids, root / "labels" / f"{name}.png")
    with pytest.raises(ValueError) as err:
        SegmentationFolder(root).verify()
    assert str(err.value) == (
        "this SegmentationFolder cannot be trained on:\n  items come out in 2 sizes: 8x8 (4 item(s), e.g. 'b', 'c', 'd'), "
        "12x12 (1 item(s), e.g. 'a'); set the dataset's size option to resize them to one"
    )
    SegmentationFolder(root, size=8).verify()
    # checks of disjoint shares (one per training process) add up to the check of the whole
    ds = SegmentationFolder(root)
    merged = ds.check_items(range(0, 5, 2)) + ds.check_items(range(1, 5, 2))
    assert merged.sizes == {(8, 8): (4, ["c", "e", "b"]), (12, 12): (1, ["a"])} and merged.broken == 0


def test_unmatched_files_and_a_wrong_size_stop_training(tmp_path):
    from symmflow.training import Trainer
    from symmflow.training.config import TrainConfig

    root = tmp_path / "folder"
    save(solid(8, 8, (90, 60, 50)), root / "images" / "a.png")
    save(np.zeros((8, 8), dtype=np.uint8), root / "labels" / "a.png")
    save(solid(8, 8, (90, 60, 50)), root / "images" / "lonely.png")
    with pytest.warns(UserWarning, match="skipped 1 image"):
        ds = SegmentationFolder(root)
    with pytest.raises(ValueError, match=r"(?s)1 image\(s\) without a label: lonely.*allow_unmatched: true"):
        ds.verify()
    ds.verify(allow_unmatched=True)

    def config(**data):
        return TrainConfig.from_dict({
            "name": "unmatched", "task": "segmentation", "output_dir": str(tmp_path / "run"),
            "data": {"dataset": "folder", "kwargs": {"root": str(root), "size": 8}, **data},
            "model": {"class": "PixelUNet", "preset": "tiny", "kwargs": {"sample_size": 16}},
            "pipeline": {"image_size": 16, "palette": "celebamask_hq"}, "train": {"steps": 2, "batch_size": 2},
        })

    with pytest.warns(UserWarning), pytest.raises(ValueError, match="without a label: lonely"):
        Trainer(config())
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"items are 8x8 but pipeline.image_size is 16"):
        Trainer(config(allow_unmatched=True))
    with pytest.raises(ValueError, match="allow_unmatched is true or false"):
        config(allow_unmatched="yes")
    assert not (tmp_path / "run").exists()


def test_a_resumed_run_skips_the_check_only_on_the_same_data(tmp_path):
    from symmflow.training import Trainer
    from symmflow.training.config import TrainConfig

    root = tmp_path / "folder"
    for name in "ab":
        save(solid(8, 8, (90, 60, 50)), root / "images" / f"{name}.png")
        save(np.zeros((8, 8), dtype=np.uint8), root / "labels" / f"{name}.png")

    def config(**kwargs):
        return TrainConfig.from_dict({
            "name": "resume", "task": "segmentation", "output_dir": str(tmp_path / "run"),
            "data": {"dataset": "folder", "kwargs": {"root": str(root), "size": 8, **kwargs}},
            "model": {"class": "PixelUNet", "preset": "tiny", "kwargs": {"sample_size": 8}},
            "pipeline": {"image_size": 8, "palette": "celebamask_hq"},
            "train": {"steps": 2, "batch_size": 2, "checkpoint_every": 1, "sample_every": 0},
        })

    Trainer(config()).fit(progress=False)
    (root / "images" / "b.png").write_bytes(b"broken after the run was checked")
    Trainer(config())  # resuming the same data: not read again
    with pytest.raises(ValueError, match="item 'b'"):
        Trainer(config(limit=2))  # other data: read again


def test_colour_masks_in_other_colours_are_refused(tmp_path):
    ids = np.zeros((16, 16), dtype=np.int64)
    ids[3:13, 3:13] = CELEB["skin"]
    ids[6:8, 5:8] = CELEB["l_eye"]
    clean = CELEBAMASK_HQ.colorize(ids)
    # antialiased edges (each pixel averaged with its left neighbour) blend two classes: not strays
    soft = ((clean.astype(np.int64) + np.roll(clean, 1, axis=1)) // 2).astype(np.uint8)
    save(clean, tmp_path / "clean.png")
    save(soft, tmp_path / "soft.png")
    assert np.array_equal(read_label_map(tmp_path / "clean.png", "celebamask_hq"), ids)
    assert (read_label_map(tmp_path / "soft.png", "celebamask_hq") == ids).mean() > 0.9
    foreign = clean.copy()
    foreign[0:2, 0:8] = (123, 45, 200)  # 16 pixels, 6% of the mask
    save(foreign, tmp_path / "foreign.png")
    with pytest.raises(ValueError, match=r"foreign.png: .*% of the pixels \(16\) are not 'celebamask_hq' palette colours.*\(123, 45, 200\)"):
        read_label_map(tmp_path / "foreign.png", "celebamask_hq")
    grey_id = np.zeros((16, 16, 3), dtype=np.uint8)
    grey_id[4:8] = 40  # a class id 40 written as a grey RGB image: not a CelebAMask-HQ id nor colour
    save(grey_id, tmp_path / "grey40.png")
    with pytest.raises(ValueError, match=r"\(40, 40, 40\)"):
        read_label_map(tmp_path / "grey40.png", "celebamask_hq")


def test_truncated_header_names_the_file(tmp_path):
    path = tmp_path / "cut.jpg"
    save(solid(16, 16, (1, 2, 3)), path)
    path.write_bytes(path.read_bytes()[:100])  # cut inside the JPEG header
    with pytest.raises(ValueError, match=r"cut.jpg could not be (read|decoded).*truncated or corrupt"):
        load_rgb(path)


def test_read_label_map_grey_colours_vs_ids(tmp_path):
    # COCO's class 43 is grey (50, 50, 50): a grey RGB mask of palette colours is a colour mask ...
    grey = np.zeros((4, 4, 3), dtype=np.uint8)
    grey[:2] = 50
    save(grey, tmp_path / "grey.png")
    assert np.unique(read_label_map(tmp_path / "grey.png", "coco_stuff")).tolist() == [0, 39]  # raw 43, bottle
    # ... while L-mode values are raw stuffthingmaps ids, 255 being COCO's unlabeled
    save(np.array([[50, 255]], dtype=np.uint8), tmp_path / "ids.png")
    assert read_label_map(tmp_path / "ids.png", "coco_stuff").tolist() == [[45, 171]]  # raw 50: bowl
    save(np.array([[3, 19]], dtype=np.uint8), tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"\[19\].*0\.\.18"):
        read_label_map(tmp_path / "bad.png", "celebamask_hq")


# -- images -----------------------------------------------------------------------------------------

def test_load_rgb_modes(tmp_path):
    rgba = np.array([[[255, 0, 0, 0], [255, 0, 0, 255], [255, 0, 0, 128]]], dtype=np.uint8)
    over_white = [[[255, 255, 255], [255, 0, 0], [255, 127, 127]]]
    assert load_rgb(Image.fromarray(rgba, "RGBA")).tolist() == over_white
    la = Image.fromarray(np.array([[[0, 0], [0, 255]]], dtype=np.uint8), "LA")
    assert load_rgb(la).tolist() == [[[255] * 3, [0] * 3]]  # transparent -> white
    assert load_rgb(Image.new("L", (2, 1), 77)).tolist() == [[[77] * 3] * 2]
    p = Image.new("P", (1, 1), 1)
    p.putpalette([0, 0, 0, 10, 20, 30])
    assert load_rgb(p).tolist() == [[[10, 20, 30]]]
    p.info["transparency"] = 1
    assert load_rgb(p).tolist() == [[[255, 255, 255]]]

    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    cmyk = load_rgb(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (8, 8, 3) and cmyk.dtype == np.uint8
    np.testing.assert_allclose(cmyk.reshape(-1, 3).mean(0), (255, 0, 0), atol=6)

    Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16)).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert load_rgb(tmp_path / "deep.png")[0, :, 0].tolist() == [0, 128, 255]

    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "one.png")
    assert load_rgb(tmp_path / "one.png").tolist() == [[[1, 2, 3]]]

    assert load_rgb(np.array([[0.0, 1.0]]))[0, :, 0].tolist() == [0, 255]
    assert load_rgb(np.array([[-1.0, 0.0, 1.0]]))[0, :, 0].tolist() == [0, 128, 255]
    assert load_rgb(np.zeros((2, 2), dtype=bool)).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\] or \[-1, 1\]"):
        load_rgb(np.array([[0.0, 2.0]]))
    with pytest.raises(ValueError, match="transpose"):
        load_rgb(np.zeros((3, 8, 8), dtype=np.uint8))


def test_load_rgb_exif_orientation(tmp_path):
    image = Image.new("RGB", (4, 2), (200, 10, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    assert load_rgb(tmp_path / "phone.jpg").shape == (4, 2, 3)
    assert load_rgb(tmp_path / "phone.jpg", exif_transpose=False).shape == (2, 4, 3)


def test_load_rgb_errors(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        load_rgb(np.zeros((0, 5, 3), dtype=np.uint8))
    (tmp_path / "notes.png").write_text("not really a picture")
    with pytest.raises(ValueError, match="not an image file PIL can read.*PNG, JPEG, WebP"):
        load_rgb(tmp_path / "notes.png")
    Image.new("RGB", (10, 10)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match=r"10x10.*limit of .*\(50 pixels\)"):
        load_rgb(tmp_path / "big.png", max_pixels=50)
    with pytest.raises(ValueError, match="10x10"):
        load_rgb(np.zeros((10, 10, 3), dtype=np.uint8), max_pixels=50)
    with pytest.raises(FileNotFoundError):
        load_rgb(tmp_path / "missing.png")


def test_tensor_conversions_and_resizing():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = to_tensor(rgb)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 5, 7)
    assert tensor.min() >= -1 and tensor.max() <= 1
    assert np.array_equal(to_uint8(tensor), rgb)
    assert to_uint8(torch.full((3, 1, 1), 5.0)).tolist() == [[[255] * 3]]  # clipped
    assert resize_rgb(rgb, 10).shape == (10, 10, 3) and resize_rgb(rgb, (2, 3)).shape == (2, 3, 3)
    assert np.array_equal(resize_rgb(solid(8, 8, (9, 99, 199)), 2), solid(2, 2, (9, 99, 199)))
    labels = rng.integers(0, 19, (6, 6))
    assert np.array_equal(resize_labels(labels, 12)[::2, ::2], labels)
    assert set(np.unique(resize_labels(labels, 5))) <= set(np.unique(labels))
    assert center_crop_square(np.zeros((4, 10))).shape == (4, 4)
