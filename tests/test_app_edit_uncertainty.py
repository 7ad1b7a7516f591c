"""The face tabs' round trip with pinning (symmflow.editing) and the uncertainty map, with the shipped model."""

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from demo import paint_tab, segment_tab
from demo.models import faces_pipeline
from symmflow.editing import changed_region, edit_region

EXAMPLE_PHOTO = ROOT / "assets" / "faces" / "image_0.png"


@pytest.fixture(scope="module")
def segmented():
    photo = np.asarray(Image.open(EXAMPLE_PHOTO).convert("RGB"))
    *frames, (live, final, overlay, found, state) = segment_tab.segment_photo(photo, 5, 0, next(iter(segment_tab.ALIGN)), 4)
    return photo, final, state


def test_the_uncertainty_map_sits_beside_the_mask(segmented):
    photo, final, state = segmented
    heat = segment_tab.show_uncertainty(state)
    assert heat.dtype == np.uint8 and heat.shape == photo.shape == final.shape
    assert heat.any() and not heat.all()  # the samples disagree somewhere, not everywhere
    assert segment_tab.show_uncertainty(None) is None
    # off by default for old callers: no map, and the outputs are as before
    *_, (_, _, _, _, plain) = segment_tab.segment_photo(photo, 1, 0)
    assert plain["uncertainty"] is None
    with pytest.raises(Exception, match="between 2 and 16"):
        next(segment_tab.segment_photo(photo, 1, 0, next(iter(segment_tab.ALIGN)), 1))


def test_a_repainted_region_changes_and_the_rest_stays_the_photo(segmented):
    _, _, state = segmented
    value, recovered, _ = segment_tab.send_to_paint(state)
    size = faces_pipeline().image_size
    photo = faces_pipeline().processor.preprocess(state["crop"])[0][0].permute(1, 2, 0).numpy() * 127.5 + 127.5
    # nothing repainted: the portrait is the photo (at the model's resolution: the last frame)
    *_, (_, _, trajectory) = paint_tab.generate_portraits(value, 10, 0, "euler", 1, recovered)
    assert trajectory[-1].shape == (size, size, 3) and np.abs(trajectory[-1] - photo).max() <= 1
    # hair repainted as a hat: it changes there, and only there
    ids = recovered["class_map"].copy()
    assert (ids == 13).any()
    ids[ids == 13] = 14
    mask = faces_pipeline().palette.colorize(ids)
    edited_value = {"background": mask, "layers": [], "composite": mask}
    *_, (_, gallery, trajectory) = paint_tab.generate_portraits(edited_value, 10, 0, "euler", 2, recovered)
    assert len(gallery) == 2
    region = edit_region(changed_region(ids, recovered["class_map"]), size)[0, 0].numpy()
    for k in range(2):  # the two portraits side by side in the last frame
        diff = np.abs(trajectory[-1][:, k * size : (k + 1) * size].astype(float) - photo).max(axis=2)
        assert diff[~region].max() <= 1 and diff[region].mean() > 5
