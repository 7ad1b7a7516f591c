"""Face detection, CelebA-HQ alignment and the way back (symmflow.alignment).

Real faces come from public-domain portraits that ship inside installed packages (scikit-image's
astronaut, matplotlib's Grace Hopper), read as fixed inputs; a test skips when its file is
absent. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from symmflow import alignment as al

# Eye centres of the astronaut (512 x 512), image-left first, located with the eye cascade and
# checked by eye on an overlay.
ASTRONAUT_EYES = np.array([[201.5, 99.9], [246.3, 102.3]])


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    return path if path.is_file() else None


def _read_rgb(path: Path | None, what: str) -> np.ndarray:
    if path is None:
        pytest.skip(f"{what} is not installed")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return _read_rgb(_package_file("skimage", "data", "astronaut.png"), "scikit-image's astronaut.png")


@pytest.fixture(scope="module")
def grace_hopper() -> np.ndarray:
    spec = importlib.util.find_spec("matplotlib")
    path = None
    if spec is not None:
        import matplotlib

        p = Path(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
        path = p if p.is_file() else None
    return _read_rgb(path, "matplotlib's grace_hopper.jpg")


def _fake_segment(crops: np.ndarray) -> np.ndarray:
    """Labels each crop pixel 1 + crop index, so pasted labels tell which crop they came from."""
    n, s = crops.shape[:2]
    return np.broadcast_to(np.arange(1, n + 1)[:, None, None], (n, s, s)).copy()


def _canonical_px(size: int) -> np.ndarray:
    return al.CANONICAL_EYES * size - 0.5


# ----------------------------------------------------------------------------- geometry


def test_alignment_matrix_puts_eyes_on_canonical_places():
    eyes = np.array([[310.0, 220.0], [380.0, 250.0]])
    m = al.alignment_matrix(eyes, 128)
    np.testing.assert_allclose(al.apply_affine(m, eyes), _canonical_px(128), atol=1e-9)
    # a similarity: equal scale on both axes, no shear
    a = m[:, :2]
    np.testing.assert_allclose(a @ a.T, np.eye(2) * np.linalg.det(a), atol=1e-12)
    np.testing.assert_allclose(al.apply_affine(al.invert_affine(m), _canonical_px(128)), eyes, atol=1e-9)
    with pytest.raises(ValueError, match="coincide"):
        al.alignment_matrix([[5, 5], [5, 5]], 64)
    with pytest.raises(ValueError, match="crop size"):
        al.alignment_matrix(eyes, 4)


@pytest.mark.parametrize(
    "matrix",
    [
        [[1.0, 0.0, -7.0], [0.0, 1.0, 5.0]],  # translation
        [[2.0, 0.0, -20.5], [0.0, 2.0, 3.5]],  # integer scale 2 (pixel centres: 2x + 0.5 + t)
        [[0.0, -1.0, 45.0], [1.0, 0.0, -3.0]],  # a quarter turn
        [[0.0, 3.0, -9.0], [-3.0, 0.0, 150.0]],  # a quarter turn the other way, scale 3
    ],
)
def test_crop_and_back_is_exact(matrix):
    m = np.array(matrix)
    rng = np.random.default_rng(0)
    photo_labels = rng.integers(1, 19, size=(50, 60))
    crop = al.warp_labels(photo_labels, m, 64, fill=0)
    back = al.paste_labels(crop[None], m[None], photo_labels.shape)
    # footprint: photo pixels whose crop position lies inside the crop's [-0.5, 63.5] square
    # (a pixel exactly on that edge may go either way)
    ys, xs = np.mgrid[0:50, 0:60]
    uv = al.apply_affine(m, np.stack([xs.ravel(), ys.ravel()], 1)).reshape(50, 60, 2)
    inside = np.all((uv > -0.5) & (uv < 63.5), axis=-1)
    outside = np.any((uv < -0.5) | (uv > 63.5), axis=-1)
    assert inside.sum() > 100 and outside.sum() > 100
    np.testing.assert_array_equal(back[inside], photo_labels[inside])
    assert np.all(back[outside] == 0)


def test_overlapping_crops_the_most_central_wins_and_outside_is_background():
    m1 = np.array([[1.0, 0, 0], [0, 1.0, 0]])  # crop 1 covers photo x 0..31
    m2 = np.array([[1.0, 0, -20], [0, 1.0, 0]])  # crop 2 covers photo x 20..51
    labs = np.stack([np.full((32, 32), 1), np.full((32, 32), 2)])
    out = al.paste_labels(labs, np.stack([m1, m2]), (32, 60))
    assert np.all(out[:, :20] == 1) and np.all(out[:, 32:52] == 2) and np.all(out[:, 52:] == 0)
    # overlap x 20..31: crop 1's centre is x 15.5, crop 2's is x 35.5, so the border is at 25.5
    # where the horizontal distance decides (rows 8..23); nearer the top and bottom the
    # vertical distance ties both crops and the first one (the larger face) keeps the pixel.
    assert np.all(out[:, 20:26] == 1) and np.all(out[8:24, 26:32] == 2)
    assert np.all(out[0, 20:32] == 1) and np.all(out[31, 20:32] == 1)


def test_whole_matrix_fits_the_photo_centred():
    m = al.whole_matrix((100, 200), 64)
    corners = al.apply_affine(m, [[-0.5, -0.5], [199.5, 99.5]])
    np.testing.assert_allclose(corners, [[-0.5, 15.5], [63.5, 47.5]], atol=1e-9)


# ----------------------------------------------------------------------------- real faces


def _aligned_eye_error(face: al.Face, true_eyes: np.ndarray) -> float:
    """Largest distance, in fractions of the crop side, between where the TRUE eyes land in the
    crop and the canonical eye places."""
    got = al.apply_affine(face.matrix, true_eyes)
    return float(np.abs(got - _canonical_px(face.size)).max() / face.size)


def test_astronaut_and_grace_hopper_are_found_and_aligned(astronaut, grace_hopper):
    faces = al.detect_faces(astronaut)
    assert len(faces) == 1 and faces[0].eyes_from == "eyes" and faces[0].turn == 0
    np.testing.assert_allclose(faces[0].eyes, ASTRONAUT_EYES, atol=3)
    res = al.segment_photo(grace_hopper, _fake_segment, size=64)
    assert res.mode == "aligned" and len(res.faces) == 1 and res.messages == []
    x, y, w, h = res.faces[0].box
    assert 140 <= x <= 175 and 95 <= y <= 125 and 190 <= w <= 245  # face, not hat or medals
    ex = res.faces[0].eyes
    assert ex[0, 0] < ex[1, 0] and abs(ex[0, 1] - ex[1, 1]) < 10 and 170 < ex[:, 1].mean() < 205


def test_face_pasted_at_known_place_scale_and_angle(astronaut):
    # The astronaut photo turned 8 degrees, shrunk to 0.7 and put at (300, 150) of a larger grey
    # canvas: the eyes land in the crop within 3% of the side of the canonical places.
    angle, scale = 8.0, 0.7
    t = cv2.getRotationMatrix2D((0, 0), angle, scale)
    t[:, 2] = [300, 150]
    canvas = np.full((600, 900, 3), 90, np.uint8)
    canvas = cv2.warpAffine(astronaut, t, (900, 600), dst=canvas, borderMode=cv2.BORDER_TRANSPARENT)
    true_eyes = al.apply_affine(t, ASTRONAUT_EYES)
    res = al.segment_photo(canvas, _fake_segment, size=128)
    assert len(res.faces) == 1 and res.mode == "aligned"
    assert _aligned_eye_error(res.faces[0], true_eyes) < 0.03
    assert res.crops.shape == (1, 128, 128, 3) and res.labels.shape == (600, 900)


@pytest.mark.parametrize("k", [1, 3])
def test_face_turned_a_quarter_is_aligned_upright(astronaut, k):
    turned = np.ascontiguousarray(np.rot90(astronaut, k))
    to_turned = al.invert_affine(al._turn_back(k, astronaut.shape))
    true_eyes = al.apply_affine(to_turned, ASTRONAUT_EYES)
    res = al.segment_photo(turned, _fake_segment, size=64)
    assert len(res.faces) == 1
    face = res.faces[0]
    assert face.turn == (-90 if k == 1 else 90)
    assert _aligned_eye_error(face, true_eyes) < 0.03
    upright = al.warp_crop(astronaut, al.alignment_matrix(ASTRONAUT_EYES, 64), 64)
    assert np.abs(res.crops[0].astype(int) - upright).mean() < 12  # the same upright face


def test_face_cut_by_the_border_is_aligned_and_padded(astronaut):
    # The face's box (x 176-272) loses its left fifth; a quarter is too much for the cascade.
    photo = np.ascontiguousarray(astronaut[:, 195:])
    res = al.segment_photo(photo, _fake_segment, size=64)
    assert len(res.faces) == 1 and res.faces[0].box[0] < 0
    true_eyes = ASTRONAUT_EYES - [195, 0]
    assert _aligned_eye_error(res.faces[0], true_eyes) < 0.03
    # the crop's left columns come from outside the photo: reflected, not black
    assert res.crops[0][:, :4].mean() > 40
    # labels return only inside the photo, and only where the crop lies
    assert res.labels.shape == photo.shape[:2] and res.labels[:, :40].max() == 1 and res.labels[400:].max() == 0


def test_ten_faces_are_all_segmented_and_a_cap_is_reported(astronaut):
    # ten astronaut heads, face boxes about 90 px (about 38 px in the 320 px searched copy)
    head = cv2.resize(astronaut[40:200, 150:310], (128, 128), interpolation=cv2.INTER_AREA)
    canvas = np.full((2 * 150, 5 * 150, 3), 200, np.uint8)
    for i in range(10):
        r, c = divmod(i, 5)
        canvas[r * 150 + 11 : r * 150 + 139, c * 150 + 11 : c * 150 + 139] = head
    seen = []
    res = al.segment_photo(canvas, lambda crops: (seen.append(len(crops)), _fake_segment(crops))[1])
    assert len(res.faces) == 10 and seen == [10] and res.messages == []
    assert sorted(np.unique(res.labels).tolist()) == list(range(11))
    capped = al.segment_photo(canvas, _fake_segment, max_faces=4)
    assert len(capped.faces) == 4 and "only the 4 largest" in capped.messages[0]


def test_face_under_24_px_is_reported_not_aligned(astronaut):
    small = cv2.resize(astronaut, (110, 110), interpolation=cv2.INTER_AREA)  # face box ~22 px
    with pytest.warns(UserWarning, match="No face large enough"):
        res = al.segment_photo(small, _fake_segment)
    assert res.faces == [] and len(res.too_small) == 1 and res.mode == "whole"
    assert "face too small" in res.messages[0] and f"minimum is {al.MIN_FACE} px" in res.messages[0]
    with pytest.raises(al.NoFaceError, match="no face to align.*; use mode 'auto' or 'whole'$") as err:
        al.segment_photo(small, _fake_segment, mode="align")
    assert err.value.detail.startswith("no face to align") and "use mode" not in err.value.detail


def test_photo_without_face():
    # a still life: a gradient, a box, a ball and a bar
    photo = np.zeros((240, 320, 3), np.uint8)
    photo[:] = np.linspace(40, 220, 320, dtype=np.uint8)[None, :, None]
    cv2.rectangle(photo, (30, 120), (120, 220), (200, 60, 40), -1)
    cv2.circle(photo, (220, 90), 45, (40, 90, 200), -1)
    cv2.line(photo, (0, 30), (319, 60), (20, 20, 20), 6)
    with pytest.warns(UserWarning, match="No face found"):
        res = al.segment_photo(photo, _fake_segment, mode="auto", size=32)
    assert res.mode == "whole" and res.faces == [] and "whole photo" in res.messages[0]
    assert np.all(res.labels == 1)  # the whole photo went through segment_fn, letterboxed
    with pytest.raises(al.NoFaceError, match="no face to align"):
        al.segment_photo(photo, _fake_segment, mode="align")


def test_whole_mode_never_aligns(astronaut):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = al.segment_photo(astronaut, _fake_segment, mode="whole", size=32)
    assert res.mode == "whole" and res.faces == [] and res.messages == []
    assert res.crops.shape == (1, 32, 32, 3) and np.all(res.labels == 1)


def test_grayscale_photos_are_accepted(astronaut):
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    for photo in (grey, grey[..., None]):
        res = al.segment_photo(photo, _fake_segment)
        assert len(res.faces) == 1 and res.crops.shape[-1] == 3
        np.testing.assert_allclose(res.faces[0].eyes, ASTRONAUT_EYES, atol=3)


def test_opencv_without_cascade_classifier_gets_a_clear_message(monkeypatch):
    # OpenCV 5 moved CascadeClassifier out of the main package: say which OpenCV to install.
    monkeypatch.delattr(cv2, "CascadeClassifier")
    al._cascade.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"opencv-python-headless>=4.10,<5"):
            al.detect_faces(np.zeros((64, 64), np.uint8))
    finally:
        al._cascade.cache_clear()


def test_bad_inputs_get_clear_messages(astronaut):
    with pytest.raises(TypeError, match="uint8"):
        al.to_rgb(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W\) grey"):
        al.to_rgb(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ValueError, match="mode must be one of"):
        al.segment_photo(astronaut, _fake_segment, mode="crop")
    with pytest.raises(TypeError, match="segment_fn must be callable"):
        al.segment_photo(astronaut, None)
    with pytest.raises(ValueError, match=r"the labels segment_fn returns must be integer class ids of shape \(1, 64, 64\)"):
        al.segment_photo(astronaut, lambda c: np.zeros((1, 32, 32), int), mode="whole")
