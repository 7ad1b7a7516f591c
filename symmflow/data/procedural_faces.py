"""Procedural CelebAMask-HQ-style faces (version 2): a 19-class parsing mask and a portrait of it
aimed at photographs.

The training data of the small face model (mask -> portrait, portrait -> mask) and the source of
example masks for the painting app. Every face comes from one seed in three steps:

1. :func:`sample_face_params` draws the face's geometry, accessories, colours, light and camera
   into a :class:`FaceParams`.
2. :func:`render_mask` rasterises the geometry into hard class ids (no antialiasing), drawing the
   parts back to front so later parts occlude earlier ones.
3. :func:`render_image` paints the portrait from the mask and the appearance parameters only, the
   way a photograph shows a face rather than as flat-coloured regions: skin lit as one relief
   (the nose is skin, found by its light and dark sides, nostrils and the shadow under it; eye
   sockets, the lower lip's shadow, blush, blotchy and fine texture, specular shine, stubble and
   beards that go on under the jaw onto the neck), sparse brows over skin, eyes whose whites
   (from dim in the lids' shade to lit) show beside an iris about half their width up to a pink
   inner corner, with a catch light a fraction of a pixel at 64 px, under the upper lid's dark
   margin (inside the eye region, as CelebAMask-HQ draws it) with lashes above it and past the
   outer corner, in a shaded socket, above a lower rim on the skin, shaded lips, hair strands
   with soft, frayed borders (glossy across the crown on some heads), patterned clothes (a
   shirt in an open jacket's neckline; the collar's shade on the neck), plain or out-of-focus
   backgrounds (mottled, bokeh, indoor), and no outlines; then :func:`apply_camera` adds white
   balance, exposure, tone curve, defocus, sensor noise and JPEG. So the image stays a function
   of the mask plus appearance randomness, randomised widely enough that a segmenter trained on
   it can transfer to photos.

Conventions are CelebAMask-HQ's. ``l_*`` classes (``l_eye``, ``l_brow``, ``l_ear``) are the
subject's left, on the image's RIGHT. The framing is CelebA-HQ's alignment, measured on the four
official CelebAMask-HQ sample masks (``MaskGAN_demo/samples``; fractions of the image side, ``x``
right, ``y`` down): eye line ``y = 0.475-0.481``; eye centres ``x = 0.374-0.381`` (``r_eye``) and
``0.620-0.626`` (``l_eye``), an inter-ocular distance of ``0.238-0.252``; mouth ``y = 0.72-0.77``;
chin (lowest skin pixel) ``y = 0.90-0.95``; face (skin) width at the eye line ``0.44-0.52``. The
parts, as means over the four masks: each eye ``0.040`` high (area ``0.0026`` of the image);
the nose from ``y = 0.453`` (above the eyes' centres, between them) to ``0.660``, centre
``y = 0.572``, ``0.145`` wide; brow centres ``x = 0.368 / 0.632`` (outside the eye centres),
``y = 0.414``; upper lip ``0.213`` wide, lower lip ``0.047`` high. The ranges of :data:`_RANGES`
put the procedural faces' averages there (tested). A model reads a real face partly from this
prior: with noses drawn 0.011 lower and eyes 17% taller than these, it drew them so on photos.

Geometry uses normalised image units (``x`` right, ``y`` down, both in ``[0, 1]``) for the head
centre and size; the parts are placed in head-local units ``(u, v)``: ``u = -1 / +1`` at the
head's left / right edge (image sides), ``v = -1 / +1`` at the top of the skull / the chin,
turned by the head tilt. The body (neck, cloth, necklace) uses the same units without the tilt.
As in CelebAMask-HQ, eyes seen through clear glasses are labelled as eyes, the frame as
``eye_g``; sunglasses hide the eyes; stubble and beards are skin.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from symmflow.palettes import CELEBAMASK_HQ

__all__ = [
    "BACKGROUNDS",
    "HELD_OUT_SEED",
    "Camera",
    "FRINGES",
    "HAIR_STYLES",
    "MAX_SIZE",
    "MIN_SIZE",
    "P_EARRINGS",
    "P_GLASSES",
    "P_GLOSS",
    "P_HAT",
    "P_NECKLACE",
    "P_SHIRT",
    "P_SUNGLASSES",
    "VALIDATION_SEED",
    "FaceParams",
    "ProceduralFaces",
    "apply_camera",
    "generate_face",
    "generate_faces",
    "render_image",
    "render_mask",
    "sample_face_params",
]

HELD_OUT_SEED = 10**9
"""First seed of the held-out faces that evaluation uses; training sets use seeds from 0."""

VALIDATION_SEED = 2 * 10**9
"""First seed of the validation faces that inference settings are chosen on
(``scripts/calibrate_label_fade.py``): neither training nor held-out faces."""


MIN_SIZE, MAX_SIZE = 16, 1024

HAIR_STYLES = ("short", "long", "bob", "curly", "bun", "buzz", "bald")
_HAIR_STYLE_P = (0.24, 0.32, 0.15, 0.12, 0.07, 0.06, 0.04)
FRINGES = ("none", "straight", "side")
BACKGROUNDS = ("flat", "gradient", "blobs", "blur", "bokeh", "indoor")

P_GLASSES = 0.08
P_SUNGLASSES = 0.2
"""Share of the glasses that are sunglasses (their opaque lenses hide the eyes)."""
P_HAT = 0.05
P_EARRINGS = 0.25
"""Probability of earrings given at least one visible ear."""
P_NECKLACE = 0.05
P_SHIRT = 0.3
"""Probability of a shirt in the neckline of an open jacket (mostly white or pale, as on suits)."""
P_GLOSS = 0.6
"""Share of heads whose hair is glossy: a bright band across the crown (:func:`_gloss`)."""

_ID = {name: k for k, name in enumerate(CELEBAMASK_HQ.class_names)}
BG, SKIN, NOSE, EYE_G = _ID["background"], _ID["skin"], _ID["nose"], _ID["eye_g"]
L_EYE, R_EYE, L_BROW, R_BROW = _ID["l_eye"], _ID["r_eye"], _ID["l_brow"], _ID["r_brow"]
L_EAR, R_EAR, MOUTH, U_LIP, L_LIP = _ID["l_ear"], _ID["r_ear"], _ID["mouth"], _ID["u_lip"], _ID["l_lip"]
HAIR, HAT, EAR_R, NECK_L, NECK, CLOTH = (
    _ID["hair"], _ID["hat"], _ID["ear_r"], _ID["neck_l"], _ID["neck"], _ID["cloth"]
)
_NUM_CLASSES = CELEBAMASK_HQ.num_classes

RGB = tuple[float, float, float]

_SKIN_TONES = np.array(
    # light to dark, spanning the Fitzpatrick scale
    [(250, 222, 200), (240, 198, 170), (225, 175, 140), (200, 140, 100),
     (165, 108, 74), (125, 80, 54), (90, 58, 40)],
    dtype=np.float32,
)
_HAIR_COLOURS = ("black", "brown", "blond", "red", "grey")
_HAIR_COLOUR_P = (0.35, 0.4, 0.12, 0.05, 0.08)
_HAIR_RGB = np.array(
    [(28, 24, 24), (95, 62, 40), (212, 176, 116), (160, 70, 35), (170, 168, 165)], np.float32
)
_IRIS_RGB = np.array(
    [(80, 50, 28), (50, 32, 20), (115, 90, 50), (75, 115, 70), (70, 110, 170), (115, 125, 138)], np.float32
)
_LIPSTICK_RGB = np.array([(170, 30, 50), (200, 90, 110), (120, 30, 60), (190, 60, 50)], np.float32)
_METAL_RGB = np.array([(212, 175, 55), (200, 200, 205), (240, 235, 225), (180, 120, 80)], np.float32)
_METAL_SKIN_DISTANCE = 50.0
"""Least RGB distance of a face's jewellery colour from its skin, lit, in shade or on the neck."""
_SCLERA_RGB = (236.0, 232.0, 226.0)
_FRAME_RGB = np.array([(20, 20, 22), (70, 40, 25), (150, 120, 60), (40, 40, 70)], np.float32)


@dataclass(frozen=True)
class Camera:
    """What the camera and the print do to a portrait, applied at the output size (see
    :func:`apply_camera`): white balance, exposure, tone curve, focus, sensor noise and JPEG."""

    gains: RGB
    """Per-channel gains (white balance and the light's colour), about ``[0.85, 1.15]``."""
    exposure: float
    gamma: float
    """Tone curve exponent on ``[0, 1]`` values; above 1 darkens the mid-tones."""
    contrast: float
    """Scale of the deviations from the image mean."""
    blur: float
    """Gaussian defocus sigma in output pixels at 64 px (scaled with the size); 0 is sharp."""
    noise: float
    """Standard deviation of the sensor noise, grey levels."""
    jpeg: int
    """JPEG quality of the final encoding, or 0 for none."""


@dataclass(frozen=True)
class FaceParams:
    """The random choices of one face that :func:`render_mask` and :func:`render_image` read:
    geometry, accessories and appearance (the finer appearance, such as shading depths and
    textures, :func:`render_image` draws from its own generator).

    Geometry fields are in head-local units (see the module docstring) unless noted; colours are
    RGB triples of floats in ``[0, 255]``.
    """

    # head (normalised image units) and pose
    center: tuple[float, float]
    head_size: tuple[float, float]
    """Half width and half height of the head, normalised image units."""
    jaw: float
    """How much the head narrows towards the chin; 0 is an ellipse."""
    tilt: float
    """Head roll in radians; positive turns clockwise on screen."""
    # features
    eye_pos: tuple[float, float]
    """``(|u|, v)`` of the eye centres (mirrored for the two eyes)."""
    eye_size: tuple[float, float]
    eye_slant: float
    """Raise of the outer eye corners."""
    brow_pos: tuple[float, float]
    brow_size: tuple[float, float]
    """Half length and half thickness of a brow."""
    brow_arch: float
    nose_pos: float
    """``v`` of the nose tip."""
    nose_width: float
    mouth_pos: float
    mouth_width: float
    lip_heights: tuple[float, float]
    """Upper and lower lip heights."""
    smile: float
    mouth_open: float
    """Gap between the lips; 0 for a closed mouth."""
    ear_pos: float
    ear_size: float
    ears_visible: tuple[bool, bool]
    """Left and right ear (image sides); long styles usually cover them."""
    # body
    neck_width: float
    shoulder_pos: float
    """``v`` of the top of the neckline."""
    shoulder_width: float
    neckline: str
    """``"round"``, ``"v"`` or ``"crew"``."""
    neckline_depth: float
    # hair
    hair_style: str
    """One of :data:`HAIR_STYLES`."""
    fringe: str
    """One of :data:`FRINGES`."""
    fringe_side: int
    """``-1`` / ``+1``: image side of the low end of a side-swept fringe."""
    fringe_pos: float
    hairline: float
    """``v`` of the hairline at the middle of the forehead."""
    hair_volume: float
    hair_length: float
    """``v`` where long, bob and curly hair ends; 0 for the other styles."""
    hair_flare: float
    """How far long hair in front spreads out over the shoulders at its ends (head units); 0 for
    the other styles."""
    # accessories
    glasses: bool
    sunglasses: bool
    glasses_shape: str
    """``"round"`` or ``"rect"``."""
    hat: bool
    hat_style: str
    """``"beanie"`` or ``"brim"``."""
    hat_pos: float
    """``v`` of the hat's lower edge."""
    earrings: bool
    earring_style: str
    """``"stud"``, ``"drop"`` or ``"hoop"``."""
    necklace: bool
    necklace_pos: float
    # appearance
    skin_rgb: RGB
    hair_rgb: RGB
    hair_colour: str
    """Hair colour family, one of ``black``, ``brown``, ``blond``, ``red``, ``grey``."""
    brow_rgb: RGB
    iris_rgb: RGB
    lip_rgb: RGB
    cloth_rgb: RGB
    hat_rgb: RGB
    frame_rgb: RGB
    lens_rgb: RGB
    metal_rgb: RGB
    background: str
    """One of :data:`BACKGROUNDS`."""
    background_rgb: tuple[RGB, ...]
    """Base colour first, then the gradient's bottom colour, one colour per blob, or the scene's
    other colours (``blur``, ``bokeh``, ``indoor``)."""
    blobs: tuple[tuple[float, float, float], ...]
    """``(x, y, sigma)`` of each background blob, normalised image units."""
    light: tuple[float, float]
    """``(x, y)`` of the unit vector towards the light (its ``z`` makes up the length)."""
    gaze: tuple[float, float]
    """Iris offset from the eye's centre, in eye widths."""
    ambient: float
    """Share of the light that is ambient (flat); the rest comes from ``light`` and models the
    face's relief, so lower values give harder, more contrasted lighting."""
    blush: float
    """Redness added to the cheeks, grey levels."""
    shine: float
    """Strength of the specular highlights on forehead, nose and cheeks, grey levels."""
    beard: float
    """Cover of stubble or beard over the lower face, ``0`` for none; labelled skin, as in
    CelebAMask-HQ."""
    cloth_pattern: str
    """``"solid"``, ``"stripes"`` or ``"check"``."""
    shirt_rgb: RGB | None
    """Colour of a shirt showing in the neckline of an open jacket (both labelled cloth, as in
    CelebAMask-HQ), or ``None`` for a single garment."""
    camera: Camera


# -- validation --------------------------------------------------------------------------------

def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")


def _check_non_negative(name: str, value: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


# -- sampling ----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _cumulative(p: tuple[float, ...]) -> list[float]:
    return list(np.cumsum(p) / sum(p))


def _pick(rng: np.random.Generator, options: tuple, p: tuple[float, ...] | None = None):
    """One of ``options``, uniformly or with probabilities ``p`` (cheaper than ``rng.choice``)."""
    if p is None:
        return options[int(rng.integers(len(options)))]
    return options[min(bisect.bisect_right(_cumulative(p), rng.random()), len(options) - 1)]


def _rgb(c: np.ndarray) -> RGB:
    r, g, b = (min(max(v, 0.0), 255.0) for v in c.tolist())
    return r, g, b


def _random_colours(rng: np.random.Generator, n: int, sat: tuple[float, float],
                    val: tuple[float, float]) -> np.ndarray:
    """``n`` random colours ``float32`` ``[n, 3]``: uniform hue, saturation and value in the ranges."""
    low = (0, 255 * sat[0], 255 * val[0])
    hsv = low + rng.random((n, 3)) * (180, 255 * (sat[1] - sat[0]), 255 * (val[1] - val[0]))
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)


def _distinct_colour(rng: np.random.Generator, avoid: list[np.ndarray], min_distance: float,
                     sat: tuple[float, float], val: tuple[float, float]) -> np.ndarray:
    """A random colour ``[3]`` at least ``min_distance`` (RGB) from each colour in ``avoid``, or
    the farthest of 32 candidates when none is (so sampling always ends)."""
    candidates = _random_colours(rng, 32, sat, val)
    d2 = ((candidates[:, None] - np.array(avoid, np.float32)[None]) ** 2).sum(axis=2).min(axis=1)
    ok = np.flatnonzero(d2 >= min_distance**2)
    return candidates[ok[0] if len(ok) else int(np.argmax(d2))]


_RANGES = {
    # head, normalised image units and degrees
    "head_width": (0.235, 0.275), "head_aspect": (1.6, 1.8), "center_x": (0.48, 0.52),
    "center_y": (0.462, 0.492), "jaw": (0.15, 0.35), "tilt": (-8.0, 8.0),
    # features, head-local units
    "eye_u": (0.45, 0.51), "eye_v": (-0.02, 0.04), "eye_w": (0.17, 0.22), "eye_h": (0.034, 0.051),
    "eye_slant": (-0.015, 0.03), "brow_u": (0.5, 0.58), "brow_gap": (0.113, 0.173),
    "brow_length": (0.28, 0.37), "brow_thickness": (0.03, 0.055), "brow_arch": (0.0, 0.05),
    "nose_v": (0.35, 0.41), "nose_width": (0.245, 0.33), "mouth_gap": (0.21, 0.28),
    "mouth_width": (0.38, 0.5), "upper_lip": (0.05, 0.08), "lower_lip": (0.05, 0.085),
    "smile": (-0.01, 0.04), "mouth_open": (0.02, 0.05), "ear_v": (0.12, 0.28), "ear_size": (0.85, 1.2),
    # body
    "neck_width": (0.55, 0.72), "shoulder_v": (0.9, 1.15), "shoulder_width": (1.9, 2.6),
    "neckline_depth": (0.1, 0.35),
    # hair; volume and length are fractions of the style's own range
    "fringe_gap": (0.3, 0.42), "hairline": (-0.8, -0.6), "hair_volume": (0.0, 1.0),
    "hair_length": (0.0, 1.0), "hair_flare": (0.0, 0.7),
    # accessories
    "hat_v": (-0.62, -0.5), "necklace_v": (1.02, 1.15),
    # appearance
    "skin_tone": (0.0, 1.0), "hair_gain": (0.8, 1.15), "iris_gain": (0.85, 1.15),
    "lipstick_gain": (0.85, 1.1), "lip_shade": (0.8, 1.05), "light_angle": (-math.pi, math.pi), "gaze_x": (-0.08, 0.08),
    "gaze_y": (-0.05, 0.05), "ambient": (0.4, 0.8), "blush": (0.0, 18.0), "shine": (0.0, 40.0), "beard": (0.3, 0.9),
    # camera
    "exposure": (0.9, 1.25), "log_gamma": (-0.25, 0.25), "contrast": (0.8, 1.2), "blur": (0.2, 0.8),
    "noise": (0.0, 5.0), "jpeg": (30.0, 95.0),
}
"""The uniformly drawn scalars: name -> (low, high)."""
_RANGE_LOW, _RANGE_HIGH = np.array(list(_RANGES.values())).T
_HAIR_VOLUME = {"short": (0.08, 0.18), "long": (0.15, 0.35), "bob": (0.18, 0.32), "curly": (0.35, 0.55),
                "bun": (0.03, 0.07), "buzz": (0.02, 0.035), "bald": (0.0, 0.0)}
_HAIR_LENGTH = {"long": (1.5, 2.1), "bob": (0.6, 0.85), "curly": (0.75, 1.2)}
_COINS = ("left_ear", "right_ear", "glasses", "sunglasses", "hat", "earrings", "necklace", "lipstick",
          "mouth_open", "blur", "jpeg", "beard", "shirt")
"""The yes/no choices, each decided by one uniform draw against its probability."""


def sample_face_params(rng: np.random.Generator) -> FaceParams:
    """Draw one face's parameters (see :class:`FaceParams`; :func:`render_image` draws the rest)."""
    g = dict(zip(_RANGES, rng.uniform(_RANGE_LOW, _RANGE_HIGH).tolist()))
    coin = dict(zip(_COINS, rng.random(len(_COINS)).tolist()))
    style = _pick(rng, HAIR_STYLES, _HAIR_STYLE_P)
    p_ear = 0.15 if style in ("long", "bob", "curly") else 0.95
    ears_visible = (coin["left_ear"] < p_ear, coin["right_ear"] < p_ear)
    fringe = "none" if style in ("bald", "bun", "buzz") else _pick(rng, FRINGES, (0.45, 0.3, 0.25))
    volume, length = _HAIR_VOLUME[style], _HAIR_LENGTH.get(style, (0.0, 0.0))
    glasses = coin["glasses"] < P_GLASSES

    t = g["skin_tone"] * (len(_SKIN_TONES) - 1)
    tone = min(int(t), len(_SKIN_TONES) - 2)
    jitter = rng.uniform(-1, 1, (2, 3))
    skin = (1 - (t - tone)) * _SKIN_TONES[tone] + (t - tone) * _SKIN_TONES[tone + 1] + 8 * jitter[0]

    hair_name = _pick(rng, _HAIR_COLOURS, _HAIR_COLOUR_P)
    hair = _HAIR_RGB[_HAIR_COLOURS.index(hair_name)] * g["hair_gain"] + 10 * jitter[1]
    shaded = 0.78 * skin  # about the colour of the nose, ears and neck
    # dark hair on dark skin, or fair hair on fair skin, would merge into one region: darken the hair
    for _ in range(8):
        if math.dist(hair, skin) >= 70 and math.dist(hair, shaded) >= 55:
            break
        hair = hair * 0.8
    # sparse hairs over skin: between a darkened hair colour and the skin, unlike either
    brow = 0.6 * np.minimum(hair, 0.5 * skin) + 0.4 * 0.45 * skin

    if coin["lipstick"] < 0.2:
        lip, min_distance = _pick(rng, tuple(_LIPSTICK_RGB)) * g["lipstick_gain"], 45
    else:  # natural lips: often barely darker than the skin around them, as in photographs
        lip, min_distance = (skin * np.array([0.82, 0.55, 0.58]) + np.array([40, 12, 22])) * g["lip_shade"], 30
    for _ in range(8):  # natural lips on dark skin need a redder tint to stand out
        if math.dist(lip, skin) >= min_distance:
            break
        lip = 0.75 * lip + 0.25 * np.array([150, 40, 60])

    hat = _distinct_colour(rng, [hair, skin], 60, (0.1, 0.8), (0.15, 0.9))
    # Jewellery is never skin-coloured: copper on a medium skin or pearl on a fair one would teach
    # that a lit ear lobe is an earring and a lit band across a shaded neck a necklace.
    skin_like = np.array([skin, shaded, skin * (0.8, 0.76, 0.75), 0.6 * skin * (0.8, 0.76, 0.75)])
    apart = np.sqrt(((_METAL_RGB[:, None] - skin_like[None]) ** 2).sum(axis=2)).min(axis=1)
    # (the farthest metal only guards the rule: at least two of the four pass for every skin tone drawn)
    metals = tuple(_METAL_RGB[apart >= _METAL_SKIN_DISTANCE]) or (_METAL_RGB[int(np.argmax(apart))],)
    metal = _pick(rng, metals)
    # an eye averages to about half sclera, half iris: keep that off the hair's colour
    irises = [c * g["iris_gain"] for c in rng.permutation(_IRIS_RGB)]
    eyes = [0.5 * (np.array(_SCLERA_RGB) + c) for c in irises]
    first = next((i for i, e in enumerate(eyes) if math.dist(e, hair) >= 50), 0)
    iris, eye = irises[first], eyes[first]
    # cloth and background must not pass for any part
    cloth = _distinct_colour(rng, [skin, shaded, hair, brow, lip, hat], 45, (0.0, 0.85), (0.15, 0.95))
    background = _distinct_colour(rng, [skin, shaded, hair, brow, lip, cloth, hat, metal, eye], 45,
                                  (0.0, 0.6), (0.25, 0.95))
    bg_kind = _pick(rng, BACKGROUNDS, (0.1, 0.2, 0.15, 0.3, 0.1, 0.15))
    # photographs put anything behind a face: scenes get colours of their own, the plain
    # kinds stay near their base colour so they read as one region
    n_extra = {"flat": 0, "gradient": 1, "blobs": int(rng.integers(2, 4)), "blur": 3, "bokeh": 3,
               "indoor": 4}[bg_kind]
    spread = 30 if bg_kind in ("flat", "gradient", "blobs") else 90
    bg_colours = [background] + list(background + rng.uniform(-spread, spread, (n_extra, 3)))
    n_blobs = n_extra if bg_kind == "blobs" else 0
    blobs = tuple(tuple(blob) for blob in rng.uniform((0, 0, 0.12), (1, 0.7, 0.3), (n_blobs, 3)).tolist())
    hw, eye_v, nose_v = g["head_width"], g["eye_v"], g["nose_v"]

    return FaceParams(
        center=(g["center_x"], g["center_y"]),
        head_size=(hw, hw * g["head_aspect"]),
        jaw=g["jaw"],
        tilt=math.radians(g["tilt"]),
        eye_pos=(g["eye_u"], eye_v),
        eye_size=(g["eye_w"], g["eye_h"]),
        eye_slant=g["eye_slant"],
        brow_pos=(g["brow_u"], eye_v - g["brow_gap"]),
        brow_size=(g["brow_length"], g["brow_thickness"]),
        brow_arch=g["brow_arch"],
        nose_pos=nose_v,
        nose_width=g["nose_width"],
        mouth_pos=nose_v + g["mouth_gap"],
        mouth_width=g["mouth_width"],
        lip_heights=(g["upper_lip"], g["lower_lip"]),
        smile=g["smile"],
        mouth_open=g["mouth_open"] if coin["mouth_open"] < 0.35 else 0.0,
        ear_pos=g["ear_v"],
        ear_size=g["ear_size"],
        ears_visible=ears_visible,
        neck_width=g["neck_width"],
        shoulder_pos=g["shoulder_v"],
        shoulder_width=g["shoulder_width"],
        neckline=_pick(rng, ("round", "v", "crew")),
        neckline_depth=g["neckline_depth"],
        hair_style=style,
        fringe=fringe,
        fringe_side=_pick(rng, (-1, 1)),
        fringe_pos=eye_v - g["fringe_gap"],
        hairline=g["hairline"],
        hair_volume=volume[0] + (volume[1] - volume[0]) * g["hair_volume"],
        hair_length=length[0] + (length[1] - length[0]) * g["hair_length"],
        hair_flare=g["hair_flare"] if style == "long" else 0.0,
        glasses=glasses,
        sunglasses=glasses and coin["sunglasses"] < P_SUNGLASSES,
        glasses_shape=_pick(rng, ("round", "rect")),
        hat=coin["hat"] < P_HAT,
        hat_style=_pick(rng, ("beanie", "brim")),
        hat_pos=g["hat_v"],
        earrings=any(ears_visible) and coin["earrings"] < P_EARRINGS,
        earring_style=_pick(rng, ("stud", "drop", "hoop")),
        necklace=coin["necklace"] < P_NECKLACE,
        necklace_pos=g["necklace_v"],
        skin_rgb=_rgb(skin),
        hair_rgb=_rgb(hair),
        hair_colour=hair_name,
        brow_rgb=_rgb(brow),
        iris_rgb=_rgb(iris),
        lip_rgb=_rgb(lip),
        cloth_rgb=_rgb(cloth),
        hat_rgb=_rgb(hat),
        frame_rgb=_rgb(_pick(rng, tuple(_FRAME_RGB))),
        lens_rgb=_rgb(_random_colours(rng, 1, (0.1, 0.5), (0.5, 0.9))[0]),
        metal_rgb=_rgb(metal),
        background=bg_kind,
        background_rgb=tuple(_rgb(c) for c in bg_colours),
        blobs=blobs,
        # mostly from above, as in portraits
        light=(0.4 * math.cos(g["light_angle"]), 0.3 * math.sin(g["light_angle"]) - 0.2),
        gaze=(g["gaze_x"], g["gaze_y"]),
        ambient=g["ambient"],
        blush=g["blush"],
        shine=g["shine"],
        beard=g["beard"] if coin["beard"] < 0.3 else 0.0,
        cloth_pattern=_pick(rng, ("solid", "stripes", "check"), (0.7, 0.2, 0.1)),
        # mostly white or pale shirts
        shirt_rgb=(_rgb(_random_colours(rng, 1, (0.0, 0.35), (0.7, 1.0))[0]) if coin["shirt"] < P_SHIRT
                   else None),
        camera=Camera(
            gains=_rgb(np.exp(rng.normal(0.0, 0.07, 3))),
            exposure=g["exposure"],
            gamma=math.exp(g["log_gamma"]),
            contrast=g["contrast"],
            blur=g["blur"] if coin["blur"] < 0.5 else 0.0,
            noise=g["noise"],
            jpeg=int(g["jpeg"]) if coin["jpeg"] < 0.7 else 0,
        ),
    )


# -- mask --------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _circle(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.cos(t), np.sin(t)


@functools.lru_cache(maxsize=None)
def _span(n: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n)


def _points(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Polygon ``[n, 2]`` from its u and v coordinates ``[n]``."""
    return np.array([u, v]).T


def _band(u: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Outline ``[2n, 2]`` between two curves over the same ``u`` ``[n]``: along the top, back
    along the bottom."""
    return np.array([np.concatenate([u, u[::-1]]), np.concatenate([top, bottom[::-1]])]).T


def _ellipse(cu: float, cv: float, au: float, av: float, n: int = 28, wobble: float = 0.0,
             lobes: int = 0) -> np.ndarray:
    """Outline ``[n, 2]`` of an axis-aligned ellipse in (u, v); ``wobble`` adds ``lobes`` bumps."""
    c, s = _circle(n)
    r = 1 + wobble * np.sin(lobes * np.arctan2(s, c)) if wobble else 1.0
    return _points(cu + au * r * c, cv + av * r * s)


def _superellipse(cu: float, cv: float, au: float, av: float, power: float, n: int = 32) -> np.ndarray:
    """Outline ``[n, 2]`` of ``|u/au|^power + |v/av|^power = 1`` (a rounded rectangle)."""
    c, s = _circle(n)
    e = 2 / power
    return _points(cu + au * np.sign(c) * np.abs(c) ** e, cv + av * np.sign(s) * np.abs(s) ** e)


class _Raster:
    """Rasterises head-local or body-local shapes at ``size`` pixels, without antialiasing."""

    _SHIFT = 4  # sub-pixel bits, so shapes keep their normalised position at every size

    def __init__(self, p: FaceParams, size: int, min_line: int) -> None:
        self.size, self.min_line = size, min_line
        hw, hh = p.head_size
        c, s = math.cos(p.tilt), math.sin(p.tilt)
        scale = size * (1 << self._SHIFT)
        # pixel centres sit at integer coordinates, so normalised x maps to x * size - 0.5; the
        # extra half rounds when the fixed-point coordinates are truncated to integers
        origin = (np.array(p.center) * size - 0.5) * (1 << self._SHIFT) + 0.5
        self._head = np.hstack([np.array([[c * hw, -s * hh], [s * hw, c * hh]]) * scale, origin[:, None]])
        self._body = np.hstack([np.diag([hw, hh]) * scale, origin[:, None]])
        self._unit = hw * size

    def _pixels(self, polys: list[np.ndarray], body: bool) -> list[np.ndarray]:
        affine = self._body if body else self._head
        return [cv2.transform(np.ascontiguousarray(q).reshape(-1, 1, 2), affine).astype(np.int32)
                for q in polys]

    def fill(self, canvas: np.ndarray, polys: list[np.ndarray], value: int, body: bool = False) -> None:
        """Fill the polygons (each ``[n, 2]`` in (u, v)) with ``value`` in ``canvas``, in place."""
        for q in self._pixels(polys, body):  # one call per polygon: fillPoly XORs overlaps
            cv2.fillPoly(canvas, [q], value, cv2.LINE_8, self._SHIFT)

    def line(self, canvas: np.ndarray, pts: np.ndarray, width: float, value: int, closed: bool = False,
             body: bool = False) -> None:
        """Draw a polyline ``[n, 2]`` of ``width`` head-local u units (at least ``min_line``
        pixels, so thin parts survive small sizes) into ``canvas``, in place."""
        px = max(self.min_line, round(width * self._unit))
        cv2.polylines(canvas, self._pixels([pts], body), closed, value, px, cv2.LINE_8, self._SHIFT)

    def shape(self, polys: list[np.ndarray], body: bool = False) -> np.ndarray:
        """Bool ``[size, size]``: inside any of the polygons."""
        out = np.zeros((self.size, self.size), np.uint8)
        self.fill(out, polys, 1, body)
        return out.view(bool)


def _head_outline(p: FaceParams, scale: float = 1.0) -> np.ndarray:
    c, s = _circle(40)
    # the cheeks stay wide down to the mouth (a superellipse below the eye line), then the jaw
    # narrows to the chin
    low = s > 0
    c = np.where(low, np.sign(c) * np.abs(c) ** (2 / 2.8), c)
    s = np.where(low, np.abs(s) ** (2 / 2.8), s)
    return _points(c * (1 - p.jaw * np.maximum(s, 0) ** 3), s) * scale


def _eye(p: FaceParams, side: int) -> np.ndarray:
    """Almond outline of the eye on image side ``side`` (-1 left, +1 right)."""
    (eu, ev), (ew, eh) = p.eye_pos, p.eye_size
    s = _span(12)
    lift = p.eye_slant * s * side
    top = ev - eh * (1 - s**2) ** 0.8 - lift
    bottom = ev + 0.75 * eh * (1 - s**2) ** 0.9 - lift
    return _band(side * eu + ew * s, top, bottom)


def _brow(p: FaceParams, side: int) -> np.ndarray:
    (bu, bv), (bw, bt) = p.brow_pos, p.brow_size
    s = _span(10)  # -1 at the inner end
    mid = bv - p.brow_arch * (1 - s**2) - 0.02 * s
    half = bt * (1 - 0.225 * (s + 1))  # brows taper towards the temple
    return _band(side * (bu + bw * s), mid - half, mid + half)


def _nose(p: FaceParams) -> np.ndarray:
    top, tip, w = p.eye_pos[1] - 0.05, p.nose_pos, p.nose_width
    right = [(0.12, top), (0.15, top + 0.5 * (tip - top)), (0.65 * w, tip - 0.07), (w, tip - 0.025),
             (0.85 * w, tip + 0.01), (0.35 * w, tip + 0.02), (0.0, tip + 0.03)]
    return np.array(right + [(-u, v) for u, v in right[::-1][1:]])


def _lips(p: FaceParams) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Upper lip, lower lip and the open mouth between them (None when closed)."""
    w, up_h, low_h = p.mouth_width, *p.lip_heights
    s = _span(15)
    u = w * s
    line = p.mouth_pos - p.smile * s**2
    gap = 0.5 * p.mouth_open * (1 - s**2)
    bow = 1 - 0.35 * np.exp(-((s / 0.12) ** 2))  # the Cupid's bow dips at the middle
    upper_top = line - up_h * (1 - s**2) ** 0.6 * bow - 0.2 * up_h * (1 - s**2)
    lower_bottom = line + gap + low_h * (1 - s**2) ** 0.7
    mouth = _band(u, line - gap, line + gap) if p.mouth_open > 0 else None
    return _band(u, upper_top, line - gap), _band(u, line + gap, lower_bottom), mouth


def _hairline(p: FaceParams) -> np.ndarray:
    """Region below the hairline (the face opening, before clipping to the head)."""
    u = 1.4 * _span(17)
    v = p.hairline + (-0.02 - p.hairline) * np.minimum(np.abs(u), 1) ** 2.5
    return _points(np.append(u, (1.4, -1.4)), np.append(v, (3.0, 3.0)))


def _fringe(p: FaceParams) -> np.ndarray:
    u = 0.98 * _span(25)
    if p.fringe == "straight":
        bottom = p.fringe_pos + 0.035 * np.abs(np.sin(u * 14)) + 0.06 * u**2
    else:  # side-swept: low on one side, rising to the hairline on the other
        s = (u * p.fringe_side + 1) / 2
        bottom = p.hairline + (p.fringe_pos + 0.05 - p.hairline) * s**0.7
    return _points(np.append(u, (0.98, -0.98)), np.append(bottom, (-1.2, -1.2)))


def _curtain(p: FaceParams, side: int) -> np.ndarray:
    """Hair falling in front, beside the face on image side ``side``, down to ``hair_length``."""
    out, length, f = 1 + p.hair_volume, p.hair_length, p.hair_flare
    inner = 0.62 if p.hair_style == "long" else 0.8
    # long hair lies on the shoulders and spreads there (CelebA-HQ's long hair reaches the frame's
    # bottom corners, over the clothes)
    pts = [(0.82, -0.5), (out, -0.15), (1.04 * out + 0.3 * f, 0.5 * length), (0.97 * out + f, length),
           (0.5 * (out + inner + f), length + 0.06), (inner, length), (0.88, 0.55), (0.9, 0.0)]
    return np.array([(side * u, v) for u, v in pts])


def _back_hair(p: FaceParams) -> np.ndarray:
    """Hair behind the head and neck (long, bob and curly styles)."""
    out, length = 1 + p.hair_volume, p.hair_length
    if p.hair_style == "curly":
        return _ellipse(0, 0.5 * (length - 1), out, 0.5 * (length + 1) + p.hair_volume, n=48,
                        wobble=0.05, lobes=13)
    return np.array([(-out, -0.2), (out, -0.2), (1.02 * out, length), (0.8 * out, length + 0.08),
                     (-0.8 * out, length + 0.08), (-1.02 * out, length)])


def _cap(p: FaceParams) -> list[np.ndarray]:
    """Hair over the top of the head, before the face opening is cut out of it."""
    vol = p.hair_volume
    if p.hair_style == "curly":
        return [_back_hair(p)]
    if p.hair_style == "buzz":
        return [_head_outline(p, 1 + vol)]
    cap = [_ellipse(0, -0.1, 1 + vol, 0.9 + vol, n=36)]
    if p.hair_style == "bun":
        hw, hh = p.head_size
        cap.append(_ellipse(0, -1 - vol - 0.12, 0.32, 0.32 * hw / hh, n=20))
    return cap


_CAP_BOTTOM = {"short": 0.05, "buzz": -0.2, "bun": -0.1, "long": -0.1, "bob": -0.1, "curly": -0.1}
"""``v`` where the hair over the head ends: short sides stop around the top of the ears, and
long styles continue in the curtains and the back hair instead."""


def _hat(p: FaceParams) -> list[np.ndarray]:
    hv, vol = p.hat_pos, min(p.hair_volume, 0.3)
    # the crown reaches over the hair's top; wide hair may puff out under the sides
    top = -1.1 - 1.15 * p.hair_volume
    if p.hat_style == "beanie":
        dome = _ellipse(0, hv, 1.05 + vol, hv - top, n=36)
        dome = dome[dome[:, 1] <= hv + 1e-6]
        band = np.array([(-1.12 - vol, hv - 0.14), (1.12 + vol, hv - 0.14), (1.12 + vol, hv + 0.05),
                         (-1.12 - vol, hv + 0.05)])
        return [dome, band]
    return [_superellipse(0, 0.5 * (top + hv), 0.9 + 0.5 * vol, 0.5 * (hv - top), 3.0),
            _ellipse(0, hv - 0.02, 1.65 + vol, 0.1, n=32)]


def _draw_glasses(p: FaceParams, r: _Raster, label: np.ndarray, frame_only: bool) -> None:
    (eu, ev), (ew, eh) = p.eye_pos, p.eye_size
    lw, lh, cv_ = 1.35 * ew + 0.05, 2.0 * eh + 0.05, ev + 0.01
    if p.glasses_shape == "round":
        lenses = [_ellipse(side * eu, cv_, lw, lh, n=28) for side in (-1, 1)]
    else:
        lenses = [_superellipse(side * eu, cv_, lw, lh, 4.0) for side in (-1, 1)]
    if not frame_only:
        r.fill(label, lenses, EYE_G)
    width, bridge_v = 0.07, cv_ - 0.4 * lh
    for lens in lenses:
        r.line(label, lens, width, EYE_G, closed=True)
    r.line(label, np.array([(-eu + 0.9 * lw, bridge_v), (0.0, bridge_v - 0.02), (eu - 0.9 * lw, bridge_v)]),
           width, EYE_G)
    for side in (-1, 1):
        r.line(label, np.array([(side * (eu + lw), bridge_v), (side * 1.0, bridge_v + 0.03)]), width, EYE_G)


def _cloth(p: FaceParams) -> np.ndarray:
    nw, sv, sw, d = 1.2 * p.neck_width, p.shoulder_pos, p.shoulder_width, p.neckline_depth
    if p.neckline == "v":
        collar = [(nw, sv), (0.0, sv + 2 * d), (-nw, sv)]
    else:
        c, s = _circle(18)
        depth = 0.08 if p.neckline == "crew" else d
        collar = list(zip(nw * c[:10], sv + depth * s[:10]))  # the lower half circle, right to left
    side = [(-nw - 0.3, sv + 0.04), (-0.8 * sw, sv + 0.16), (-sw, sv + 0.45), (-1.05 * sw, 4.0)]
    return np.array(collar + side + [(-u, v) for u, v in side[::-1]])


def _rasterise(p: FaceParams, size: int, min_line: int = 1) -> np.ndarray:
    """Class ids ``uint8`` ``[size, size]``, the parts drawn back to front; lines are at least
    ``min_line`` pixels wide."""
    r = _Raster(p, size, min_line)
    label = np.zeros((size, size), np.uint8)
    long_hair = p.hair_style in ("long", "bob", "curly")
    if long_hair:  # shows between the neck and the front hair
        r.fill(label, [_back_hair(p)], HAIR)
    nw = p.neck_width
    r.fill(label, [np.array([(-nw, 0.2), (nw, 0.2), (1.08 * nw, 1.1), (1.2 * nw, 2.0), (-1.2 * nw, 2.0),
                             (-1.08 * nw, 1.1)])], NECK, body=True)
    r.fill(label, [_cloth(p)], CLOTH, body=True)
    if p.necklace:
        c, s = _circle(30)
        chain = np.stack([1.02 * nw * c[1:15], p.necklace_pos - 0.2 + 0.25 * s[1:15]], 1)
        r.line(label, chain, 0.045, NECK_L, body=True)
    for side, k in ((-1, R_EAR), (1, L_EAR)):  # l_* is the subject's left: the image's right
        if p.ears_visible[(side + 1) // 2]:
            r.fill(label, [_ellipse(side * 0.97, p.ear_pos, 0.15 * p.ear_size, 0.2 * p.ear_size, n=20)], k)
    head = r.shape([_head_outline(p)])
    label[head] = SKIN
    r.fill(label, [_nose(p)], NOSE)
    if p.glasses:
        _draw_glasses(p, r, label, frame_only=False)
    if not p.sunglasses:
        r.fill(label, [_eye(p, -1)], R_EYE)
        r.fill(label, [_eye(p, 1)], L_EYE)
        if p.glasses:  # the frame passes in front of the eyes it surrounds
            _draw_glasses(p, r, label, frame_only=True)
    # brows over the glasses, as CelebAMask-HQ labels them
    r.fill(label, [_brow(p, -1)], R_BROW)
    r.fill(label, [_brow(p, 1)], L_BROW)
    upper, lower, mouth = _lips(p)
    r.fill(label, [upper], U_LIP)
    r.fill(label, [lower], L_LIP)
    if mouth is not None:
        r.fill(label, [mouth], MOUTH)

    if p.hair_style != "bald":
        cap = r.shape(_cap(p)) & r.shape([np.array([(-3, -3), (3, -3), (3, _CAP_BOTTOM[p.hair_style]),
                                                    (-3, _CAP_BOTTOM[p.hair_style])])])
        hair = cap & ~(head & r.shape([_hairline(p)]))
        if p.fringe != "none":
            hair |= r.shape([_fringe(p)]) & head
        label[hair] = HAIR
        if p.hair_style in ("long", "bob"):
            # hair falls over the ears it hides; a visible ear has its hair tucked behind it
            curtains = [_curtain(p, side) for side in (-1, 1) if not p.ears_visible[(side + 1) // 2]]
            if curtains:
                r.fill(label, curtains, HAIR)
    if p.hat:
        r.fill(label, _hat(p), HAT)
    if p.earrings:
        hw, hh = p.head_size
        for side in (-1, 1):
            if not p.ears_visible[(side + 1) // 2]:
                continue
            lobe = p.ear_pos + 0.19 * p.ear_size
            if p.earring_style == "hoop":
                r.line(label, _ellipse(side * 0.97, lobe + 0.1, 0.08, 0.1, n=16), 0.04, EAR_R, closed=True)
            else:
                rad, drop = (0.05, 0.0) if p.earring_style == "stud" else (0.07, 0.1)
                r.fill(label, [_ellipse(side * 0.97, lobe + drop, rad, rad * hw / hh, n=12)], EAR_R)
    return label


def render_mask(params: FaceParams, size: int) -> np.ndarray:
    """Rasterise a face's parts into class ids.

    Parts are drawn back to front: background, back hair, neck, cloth, necklace, ears, skin,
    nose, glasses, eyes, glasses frame, brows, lips, mouth, front hair, hat, earrings.

    Args:
        params: the face, from :func:`sample_face_params`.
        size: side in pixels, in ``[MIN_SIZE, MAX_SIZE]``.

    Returns:
        ``int64`` ``[size, size]`` CelebAMask-HQ class ids in ``[0, 18]``, hard labels.
    """
    _check_size(size)
    return _rasterise(params, size).astype(np.int64)


# ties in the 2x2 majority go to the smaller part, so thin parts (frames, brows) survive
_TIE_ORDER = np.array([BG, CLOTH, SKIN, NECK, HAIR, HAT, L_EAR, R_EAR, NOSE, U_LIP, L_LIP, MOUTH, L_BROW,
                       R_BROW, L_EYE, R_EYE, NECK_L, EAR_R, EYE_G], np.int64)
_TIE_RANK = np.argsort(_TIE_ORDER).astype(np.int16)


def _halve_mask(label: np.ndarray) -> np.ndarray:
    """``[2S, 2S]`` class ids -> ``int64`` ``[S, S]``: the majority of each 2x2 block."""
    rank = np.take(_TIE_RANK, label)
    a, b, c, d = rank[0::2, 0::2], rank[0::2, 1::2], rank[1::2, 0::2], rank[1::2, 1::2]
    ab, ac, ad, bc, bd, cd = a == b, a == c, a == d, b == c, b == d, c == d
    # among 4 pixels a class with a partner holds the majority or a tie, so the score
    # 32 * (has a partner) + rank peaks at the winner; its low bits give the winner's rank back
    score = np.maximum(
        np.maximum((ab | ac | ad) * np.int16(32) + a, (ab | bc | bd) * np.int16(32) + b),
        np.maximum((ac | bc | cd) * np.int16(32) + c, (ad | bd | cd) * np.int16(32) + d),
    )
    return np.take(_TIE_ORDER, score & 31)


# -- image -------------------------------------------------------------------------------------

_FACE_CLASSES = (SKIN, NOSE, EYE_G, L_EYE, R_EYE, L_BROW, R_BROW, MOUTH, U_LIP, L_LIP)
_LIT_BY_FACE = (SKIN, NOSE, L_EAR, R_EAR, L_BROW, R_BROW, MOUTH, U_LIP, L_LIP, EAR_R)
_FACE_SHADE = np.zeros((2, _NUM_CLASSES), np.float32)
"""Brightness ``a + b * face_light`` of each class lit as part of the face, ``[2, 19]``
(``a = 1, b = 0``: not lit by the face; the eyes' whites take less of the light)."""
_FACE_SHADE[0] = 1.0
_FACE_SHADE[:, list(_LIT_BY_FACE)] = [[0.0], [1.0]]  # ambient + (1 - ambient) * light, see _shade
_FACE_SHADE[:, [L_EYE, R_EYE]] = [[0.85], [0.15]]
_FACIAL = _LIT_BY_FACE + (L_EYE, R_EYE, EYE_G)


@functools.lru_cache(maxsize=None)
def _membership(classes: tuple[int, ...]) -> np.ndarray:
    table = np.zeros(_NUM_CLASSES, bool)
    table[list(classes)] = True
    return table


def _member(mask: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """Bool ``[H, W]``: the pixel's class is one of ``classes``."""
    return np.take(_membership(classes), mask)


def _as_rng(rng_or_seed: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if isinstance(rng_or_seed, bool):
        raise TypeError("expected a numpy Generator or an integer seed, got a bool")
    _check_non_negative("seed", rng_or_seed)
    return np.random.default_rng(int(rng_or_seed))


def _colour_table(p: FaceParams) -> np.ndarray:
    """Base colour of every class before lighting, ``float32`` ``[19, 3]`` in ``[0, 255]``."""
    lut = np.zeros((_NUM_CLASSES, 3), np.float32)
    skin, lip = np.array(p.skin_rgb), np.array(p.lip_rgb)
    lut[SKIN] = skin
    # as in a photograph the nose is skin, told apart by its shading only (see _model_face);
    # ears and the neck under the chin are skin a little in shade
    lut[NOSE] = skin
    lut[L_EAR] = lut[R_EAR] = skin * (0.95, 0.88, 0.86)
    lut[NECK] = skin * (0.8, 0.76, 0.75)
    lut[L_EYE] = lut[R_EYE] = np.array(_SCLERA_RGB) * 0.62  # the whites are in the lids' shade
    lut[L_BROW] = lut[R_BROW] = p.brow_rgb
    lut[MOUTH] = (75, 22, 28)
    lut[U_LIP] = lip * 0.85
    lut[L_LIP] = lip
    lut[HAIR] = p.hair_rgb
    lut[HAT] = p.hat_rgb
    lut[EAR_R] = lut[NECK_L] = p.metal_rgb
    lut[CLOTH] = p.cloth_rgb
    lut[EYE_G] = p.frame_rgb
    return lut


def _lambert(u: np.ndarray, v: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Diffuse light in ``[0, 1]`` on an ellipsoid seen from the front; ``(u, v)`` are scaled so
    its outline is the unit circle, outside which the normal lies in the image plane."""
    r2 = u * u + v * v
    nz = np.sqrt(np.maximum(1.0 - r2, 0.0))
    norm = np.sqrt(np.maximum(r2 + nz * nz, 1e-6))
    # both vectors have unit length, so only the shadowed side needs clipping
    return np.maximum((u * light[0] + v * light[1] + nz * light[2]) / norm, 0.0)


def _lit_field(size: int, centre: tuple[float, float], axes: tuple[float, float], light: np.ndarray,
               limit: float | None = None) -> np.ndarray:
    """:func:`_lambert` of an ellipsoid with ``centre`` and semi-``axes`` (pixels) over the whole
    image, ``float32`` ``[size, size]``; ``limit`` clips the scaled coordinates (so the ellipsoid
    never turns fully away). Smooth, so it is computed on a quarter-size grid and interpolated."""
    g = max(8, size // 4)
    at = (np.arange(g, dtype=np.float32) + 0.5) * np.float32(size / g)
    u, v = (at - centre[0]) / axes[0], (at - centre[1]) / axes[1]
    if limit is not None:
        u, v = np.minimum(np.maximum(u, -limit), limit), np.minimum(np.maximum(v, -limit), limit)
    return cv2.resize(_lambert(u[None, :], v[:, None], light), (size, size), interpolation=cv2.INTER_LINEAR)


class _Region:
    """One bool region ``[S, S]`` with its bounding box; empty when the box is."""

    def __init__(self, region: np.ndarray) -> None:
        self.mask = region
        self.x0, self.y0, self.w, self.h = cv2.boundingRect(region.view(np.uint8))

    def __bool__(self) -> bool:
        return self.w > 0

    @property
    def crop(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.h), slice(self.x0, self.x0 + self.w)

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the bounding box, pixel coordinates."""
        return self.x0 + 0.5 * self.w, self.y0 + 0.5 * self.h

    def ellipse(self) -> tuple[float, float, float, float]:
        """``(cx, cy, ax, ay)``, pixels: the axis-aligned ellipse with the region's moments."""
        m = cv2.moments(self.mask[self.crop].view(np.uint8), binaryImage=True)
        area = max(m["m00"], 1.0)
        # a uniform ellipse of semi-axis a has variance a^2 / 4 along that axis
        return (self.x0 + m["m10"] / area, self.y0 + m["m01"] / area,
                2 * math.sqrt(max(m["mu20"] / area, 1.0)), 2 * math.sqrt(max(m["mu02"] / area, 1.0)))


def _shift(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``a`` moved by whole pixels, zero-filled."""
    out = np.zeros_like(a)
    h, w = a.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = a[max(-dy, 0):h - max(dy, 0),
                                                                 max(-dx, 0):w - max(dx, 0)]
    return out


def _strands(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, crown: tuple[float, float],
             size: int) -> np.ndarray:
    """Hair-strand texture in ``[0, 1]`` at pixel coordinates ``x``, ``y`` (broadcast): streaks
    radiating from the crown, each angular bin a strand of random brightness, fine strands over
    broader locks."""
    fine, broad = max(24, int(0.8 * size)), max(8, size // 8)
    grid = np.arange(fine) / fine
    locks = np.interp(grid, np.arange(broad) / broad, rng.random(broad), period=1.0)
    profile = 0.55 * rng.random(fine) + 0.45 * locks
    turn = np.arctan2(x - crown[0], y - crown[1]) * np.float32(1 / (2 * np.pi))
    return np.interp(turn, grid, profile, period=1.0).astype(np.float32)


def _noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth noise ``float32`` of ``shape`` ``(H, W)``, about ``[0, 1]``, features ``cell`` pixels wide."""
    h, w = shape
    grid = rng.random((max(2, h // cell + 1), max(2, w // cell + 1)), np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


# the background is smooth: it is computed on a coarse grid and interpolated
_BG_AT = (np.arange(16, dtype=np.float32) + 0.5) / 16
_BG_VIGNETTE = (1 - 0.2 * ((_BG_AT[None, :] - 0.5) ** 2 + (_BG_AT[:, None] - 0.45) ** 2))[..., None]


def _background(p: FaceParams, size: int, rng: np.random.Generator) -> np.ndarray:
    """Background colour field ``float32`` ``[size, size, 3]``: a plain backdrop (``flat``,
    ``gradient``, ``blobs``) or an out-of-focus scene (``blur``: mottled colour, ``bokeh``: with
    bright discs, ``indoor``: walls, doors and windows)."""
    if p.background in ("blur", "bokeh", "indoor"):
        return _scene(p, size, rng)
    x, y = _BG_AT[None, :], _BG_AT[:, None]
    base = np.array(p.background_rgb[0], np.float32)
    field = np.broadcast_to(base, (len(_BG_AT), len(_BG_AT), 3)).copy()
    if p.background == "gradient":
        field += (np.array(p.background_rgb[1], np.float32) - base) * y[..., None]
    elif p.background == "blobs":
        for (bx, by, sigma), colour in zip(p.blobs, p.background_rgb[1:]):
            w = np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * sigma**2))
            field += (np.array(colour, np.float32) - base) * w[..., None]
    return cv2.resize(field * _BG_VIGNETTE, (size, size), interpolation=cv2.INTER_LINEAR)


def _scene(p: FaceParams, size: int, rng: np.random.Generator) -> np.ndarray:
    colours = np.array(p.background_rgb, np.float32)
    field = np.empty((size, size, 3), np.float32)
    field[:] = colours[0]
    if p.background == "indoor":
        # overlapping upright rectangles: the edges of walls, doors, shelves and windows
        for colour in colours[1:]:
            x0, x1 = np.sort(rng.uniform(-0.2, 1.2, 2) * size).astype(int)
            y0, y1 = np.sort(rng.uniform(-0.2, 1.2, 2) * size).astype(int)
            field[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = colour
    else:
        for colour in colours[1:]:
            w = _noise(rng, (size, size), max(4, int(size * rng.uniform(0.12, 0.35))))
            w = np.clip((w - 0.5) * 3 + 0.5, 0, 1)[..., None]
            field += (colour - field) * w
    if p.background == "bokeh":
        for _ in range(int(rng.integers(3, 12))):
            c = (int(rng.uniform(0, size)), int(rng.uniform(0, size)))
            glow = np.zeros((size, size), np.float32)
            cv2.circle(glow, c, max(1, int(size * rng.uniform(0.02, 0.08))), float(rng.uniform(0.3, 0.8)), -1)
            field += (255 - field) * glow[..., None]
    return cv2.GaussianBlur(field, (0, 0), size * rng.uniform(0.005, 0.03)) * _vignette(size)


@functools.lru_cache(maxsize=8)
def _vignette(size: int) -> np.ndarray:
    return cv2.resize(_BG_VIGNETTE, (size, size), interpolation=cv2.INTER_LINEAR)[..., None]


def _blob(field: np.ndarray, cx: float, cy: float, sx: float, sy: float, amount: float) -> None:
    """Add ``amount`` times a Gaussian bump (centre and sigmas in pixels) to ``field``
    ``[S, S]`` in place, over a window of three sigmas."""
    s = field.shape[0]
    x0, x1 = max(int(cx - 3 * sx), 0), min(int(cx + 3 * sx) + 1, s)
    y0, y1 = max(int(cy - 3 * sy), 0), min(int(cy + 3 * sy) + 1, s)
    if x0 >= x1 or y0 >= y1:
        return
    x = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / max(sx, 0.3)
    y = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy) / max(sy, 0.3)
    field[y0:y1, x0:x1] += amount * np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))


def _model_face(p: FaceParams, mask: np.ndarray, img: np.ndarray, rng: np.random.Generator,
                face_light: np.ndarray, light: np.ndarray) -> None:
    """The relief a photograph shows on skin, in ``img`` ``[S, S, 3]`` in place: the nose by its
    light and dark sides, tip highlight, nostrils and the shadow under it; eye sockets; blush;
    the lower lip's shadow on the chin; under-eye shadows; blotchy and fine skin texture; stubble and
    beards from the upper lip down onto the neck; blush; specular shine."""
    s = mask.shape[0]
    relief = np.zeros((s, s), np.float32)  # log-brightness change, smoothed before use
    side = 1.0 if light[0] >= 0 else -1.0  # image side the light comes from
    nose = _Region(mask == NOSE)
    if nose:
        cx, top, w, h = nose.centre[0], nose.y0, nose.w, nose.h
        bottom = top + h
        _blob(relief, cx - side * 0.28 * w, top + 0.45 * h, 0.12 * w, 0.35 * h, -0.25 * (1 - p.ambient))
        _blob(relief, cx + side * 0.06 * w, top + 0.45 * h, 0.06 * w, 0.3 * h, 0.06)
        _blob(relief, cx, bottom - 0.2 * h, 0.15 * w, 0.08 * h, 0.1)
        for k in (-1, 1):
            _blob(relief, cx + k * 0.22 * w, bottom - 0.08 * h, 0.09 * w, 0.045 * h, -0.6)
        _blob(relief, cx, bottom + 0.05 * h, 0.25 * w, 0.05 * h, -0.25)
    lower_lip = _Region(mask == L_LIP)
    if lower_lip:
        # the lower lip's shadow on the chin: a dark crease that belongs to the skin, not the lip
        cx, w = lower_lip.centre[0], lower_lip.w
        _blob(relief, cx, lower_lip.y0 + 1.15 * lower_lip.h, 0.3 * w, 0.18 * lower_lip.h + 0.5,
              -0.3 * rng.uniform(0.3, 1.0))
    upper_lip = mask == U_LIP
    if lower_lip and p.mouth_open == 0 and upper_lip.any():
        # closed lips meet in a dark seam, which belongs to the lips: without it the only dark
        # line between lips a model sees is an open mouth's
        below = np.zeros_like(upper_lip)
        below[:-1] = mask[1:] == L_LIP
        seam = upper_lip & below
        seam[1:] |= seam[:-1]  # and the lower-lip pixel under each
        img[seam] *= np.float32(rng.uniform(0.4, 0.75))
    brow_v = None
    # under-eye shadows, from faint to the dark bags of a tired face: skin, which the stage 10
    # model still read as the lower half of real eyes
    under = rng.uniform(0.05, 0.4)
    for k in (L_EYE, R_EYE):
        eye = _Region(mask == k)
        if not eye:
            continue
        ex, ey = eye.centre
        ew = max(eye.w, 2)
        _blob(relief, ex, ey - 0.15 * ew, 0.55 * ew, 0.35 * ew, -0.2 - 0.2 * (1 - p.ambient))
        _blob(relief, ex, ey + 0.5 * ew, 0.45 * ew, 0.17 * ew, -under)
        brow_v = ey
    relief = cv2.GaussianBlur(relief, (0, 0), max(0.7, s / 160))
    skin = _member(mask, (SKIN, NOSE, L_EAR, R_EAR, NECK))
    texture = 0.09 * (_noise(rng, (s, s), max(3, s // 10)) - 0.5) + 0.05 * (_noise(rng, (s, s), 2) - 0.5)
    factor = np.where(skin, np.exp(relief + texture), np.float32(1.0)).astype(np.float32)
    img *= factor[..., None]
    # the beard draws from its own stream, so a face with and without one differ only in it
    beard_rng = np.random.default_rng(rng.integers(2**63))
    if p.beard > 0 and nose:
        # stubble: hair-coloured cover over the jaw, chin and upper lip, densest at the chin
        jaw = np.zeros((s, s), np.float32)
        bottom = nose.y0 + nose.h
        _blob(jaw, nose.centre[0], bottom + 1.3 * nose.h, 2.2 * nose.w, 1.0 * nose.h, 1.0)
        # the moustache reaches down to the upper lip and the tuft under the lower lip up to it:
        # dark hair touching the lips is skin, not an open mouth
        _blob(jaw, nose.centre[0], bottom + 0.25 * nose.h, 0.8 * nose.w, 0.22 * nose.h, 0.9)
        _blob(jaw, nose.centre[0], bottom + 0.95 * nose.h, 0.45 * nose.w, 0.2 * nose.h, 0.9)
        # and either may be denser than the rest, as dense as hair: a full moustache, a goatee (a
        # dark patch up to the lips' width under them, as an open mouth would be dark between them)
        dense = np.zeros((s, s), np.float32)
        _blob(dense, nose.centre[0], bottom + 0.25 * nose.h, 0.8 * nose.w, 0.22 * nose.h,
              beard_rng.uniform(0.0, 1.2))
        _blob(dense, nose.centre[0], bottom + beard_rng.uniform(0.95, 1.15) * nose.h,
              beard_rng.uniform(0.4, 0.9) * nose.w, beard_rng.uniform(0.2, 0.35) * nose.h,
              beard_rng.uniform(0.0, 1.5))
        # a beard grows on under the jaw and fades down the neck, short or long: dark hair there,
        # and the neck's edge below it, are neck, not a necklace
        _blob(jaw, nose.centre[0], bottom + beard_rng.uniform(2.3, 3.3) * nose.h, 2.0 * nose.w,
              beard_rng.uniform(0.5, 1.0) * nose.h, 0.8)
        cover = np.where(_member(mask, (SKIN, NECK)), np.clip(jaw, 0, 1) * p.beard + dense, 0)
        cover *= 0.6 + 0.8 * _noise(beard_rng, (s, s), 2)
        cover = np.clip(cover, 0, 1)[..., None]
        img *= 1 - cover
        img += cover * np.float32(p.hair_rgb) * 0.7
    # blush and shine: additive, on the cheeks and the lit, forward-facing skin
    warm = np.zeros((s, s), np.float32)
    if brow_v is not None and nose:
        for k in (-1, 1):
            _blob(warm, nose.centre[0] + k * 1.1 * nose.w, nose.y0 + 0.75 * nose.h, 0.35 * nose.w,
                  0.3 * nose.h, 1.0)
    facing = _member(mask, (SKIN, NOSE))
    lit = face_light * face_light
    spec = np.where(facing, p.shine * lit * lit * lit, 0).astype(np.float32)
    img += (spec[..., None] + (p.blush * np.where(facing, warm, 0))[..., None] * np.float32((1.0, -0.3, -0.2)))


def _shade(p: FaceParams, mask: np.ndarray, rng: np.random.Generator, light: np.ndarray,
           face_light: np.ndarray, face: tuple[float, float, float, float]) -> np.ndarray:
    """Brightness factor ``float32`` ``[S, S]`` (about ``[0.1, 1.35]``; the neck in the jaw's and the
    collar's shade goes darkest): lighting of each part on its own stand-in shape, with the hair,
    hat and cloth textures."""
    s = mask.shape[0]
    px = np.arange(s, dtype=np.float32)[None, :] + 0.5  # pixel centres, broadcast to [S, S]
    py = px.T
    fx, fy, fa, fb = face
    # hair and hat: a head-sized ellipsoid, wider than the face's and raised to the skull
    head_light = _lit_field(s, (fx, fy - 0.3 * fb), (1.35 * fa, 1.3 * fb), light, limit=0.97)
    # the face's parts: a + b * light, per class, where the skin's light mixes ambient and direct
    amb = np.float32(p.ambient)
    lit_face = amb + (1 - amb) * (0.45 + 0.65 * face_light)
    shade = np.take(_FACE_SHADE[0], mask) + np.take(_FACE_SHADE[1], mask) * lit_face

    def paint(region: _Region, value: np.ndarray) -> None:
        np.copyto(shade[region.crop], value, where=region.mask[region.crop])

    neck = _Region(mask == NECK)
    if neck:
        # a cylinder: the normals turn across the neck only
        across = (px[:, neck.crop[1]] - neck.centre[0]) / (0.5 * neck.w)
        value = 0.8 + 0.25 * _lambert(across, np.float32(0.2), light)
        # Portraits are lit from above: the jaw casts a shadow on the neck, darkest just under the
        # jawline of each column and fading downwards, from a thin line to a neck in shade down to
        # the collar. Without it a dark band under the chin is what only a necklace makes.
        skin_rows = np.where(mask == SKIN, np.arange(s)[:, None], -1).max(axis=0)
        jaw = np.where(skin_rows >= 0, skin_rows, fy + fb).astype(np.float32)[None, neck.crop[1]]
        below = np.maximum(py[neck.crop[0]] - jaw, 0)
        depth, reach = rng.uniform(0.15, 0.7), rng.uniform(0.02, 0.2) * s
        value = value * (1 - depth * np.exp(-below / reach)) * rng.uniform(0.8, 1.0)
        # The neckline stands off the skin: the neck just above it is in the collar's shade, a dark
        # line along the cloth's edge that is neck, not a necklace.
        # (columns without cloth: far below the image, so no shade)
        cloth_rows = _first_rows(mask == CLOTH, 4 * s)[None, neck.crop[1]]
        above = np.maximum(cloth_rows - py[neck.crop[0]], 0)
        depth, reach = rng.uniform(0.1, 0.6), rng.uniform(0.006, 0.05) * s
        paint(neck, value * (1 - depth * np.exp(-above / reach)))
    for k in (HAIR, HAT):
        region = _Region(mask == k)
        if not region:
            continue
        x, y, lit = px[:, region.crop[1]], py[region.crop[0]], head_light[region.crop]
        if k == HAT:
            knit = p.hat_style == "beanie"
            ribs = 0.93 + 0.07 * np.sin(x * np.float32(2 * np.pi * 28 / s)) if knit else 1.0
            paint(region, (0.75 + 0.3 * lit) * ribs)
            continue
        texture = _strands(rng, x, y, (fx, fy - 1.2 * fb), s)
        if p.hair_style == "curly":
            texture = 0.55 * _noise(rng, (region.h, region.w), max(3, s // 20)) + 0.45 * texture
        elif p.hair_style == "buzz":
            texture = 0.5 + 0.25 * (texture - 0.5)
        lit2 = lit * lit
        value = (0.78 + 0.22 * lit + 0.15 * lit2 * lit2 * lit2) * (0.85 + 0.3 * texture)
        paint(region, value * _gloss(rng, x, y, face, texture))
    cloth = _Region(mask == CLOTH)
    if cloth:
        folds = 1 + 0.12 * (_noise(rng, (cloth.h, cloth.w), max(4, s // 6)) - 0.5)
        if p.cloth_pattern != "solid":
            period = np.float32(2 * np.pi / max(3.0, s * rng.uniform(0.03, 0.08)))
            x, y = px[:, cloth.crop[1]], py[cloth.crop[0]]
            pattern = np.sin(y * period) > 0.3
            if p.cloth_pattern == "check":
                pattern = pattern ^ (np.sin(x * period) > 0.3)
            folds = folds * np.where(pattern, np.float32(rng.uniform(0.6, 0.85)), np.float32(1.0))
        torso = _lit_field(s, cloth.centre, (0.55 * cloth.w, 1.5 * cloth.h), light)[cloth.crop]
        paint(cloth, (0.7 + 0.4 * torso) * folds)
    return shade


def _gloss(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, face: tuple[float, float, float, float],
           texture: np.ndarray) -> np.ndarray | float:
    """Brightness factor ``>= 1`` of glossy hair at pixel coordinates ``x``, ``y`` (broadcast),
    for a face whose ellipse is ``face`` ``(cx, cy, ax, ay)``, pixels; ``texture``: the strands,
    ``[0, 1]``. A share :data:`P_GLOSS` of heads are glossy: a bright band across the crown, on an
    arc at 0.72-0.95 of a head-sized ellipse, fading towards the sides, above the face's upper
    half and streaked by the strands; the others are matte (``1.0``).

    Why: without it the model learnt that a lit top of the head, set off from the darker hair at
    the sides, is a hat, and on CelebAMask-HQ photos it painted hats over shiny hair."""
    strength = rng.uniform(0.25, 0.9) if rng.random() < P_GLOSS else 0.0
    if not strength:
        return 1.0
    fx, fy, fa, fb = face
    r = np.hypot((x - fx) / (1.25 * fa), (y - fy + 0.3 * fb) / (1.3 * fb))
    across = np.clip(1 - ((x - fx) / (1.2 * fa)) ** 2, 0, 1)
    band = np.exp(-(((r - rng.uniform(0.72, 0.95)) / rng.uniform(0.04, 0.1)) ** 2)) * across
    return 1 + strength * band * (y < fy - 0.5 * fb) * (0.3 + 0.7 * texture)


def _first_rows(region: np.ndarray, absent: int) -> np.ndarray:
    """Boolean ``[H, W]`` -> ``int64 [W]``: the first row of each column inside ``region``, or
    ``absent`` for columns with none."""
    return np.where(region, np.arange(region.shape[0])[:, None], absent).min(axis=0)


def _paint_shirt(shirt_rgb: RGB, mask: np.ndarray, img: np.ndarray, rng: np.random.Generator) -> None:
    """A shirt in the neckline of an open jacket, in ``img`` (lit) in place: the cloth inside a
    wedge that hangs from the neckline under the neck takes ``shirt_rgb``, plain (the jacket's
    pattern and folds stay on the jacket). Nothing when the neckline is out of the picture."""
    neck, cloth = _Region(mask == NECK), _Region(mask == CLOTH)
    if not (neck and cloth):
        return
    s = mask.shape[0]
    columns = np.arange(neck.x0, neck.x0 + neck.w)
    tops = _first_rows(mask[:, columns] == CLOTH, s)  # the neckline
    cx = int(neck.centre[0])
    if tops[cx - neck.x0] >= s:  # the neck runs out of the picture: no neckline to hang from
        return
    top = tops.min()
    tip = tops[cx - neck.x0] + 0.12 * s
    yy, xx = np.mgrid[cloth.crop].astype(np.float32) + 0.5
    half = 0.6 * neck.w * np.clip((tip - yy) / max(tip - top, 1.0), 0, 1)
    wedge = cloth.mask[cloth.crop] & (np.abs(xx - neck.centre[0]) < half)
    light = 0.82 + 0.12 * _noise(rng, (cloth.h, cloth.w), max(4, s // 6))
    img[cloth.crop][wedge] = np.float32(shirt_rgb) * light[wedge][:, None]


# Each eye's class and the image direction of its outer corner: ``l_eye`` is the subject's left,
# on the image's right, so its outer corner is at +x.
_EYE_OUTWARD = ((L_EYE, 1), (R_EYE, -1))


def _paint_eyes(p: FaceParams, mask: np.ndarray, img: np.ndarray, light: np.ndarray,
                rng: np.random.Generator) -> None:
    """Whites, iris, pupil, catch light and the pink inner corner in each eye region of ``img``,
    and the lid's crease and shade around it, in place.

    Measured against the official CelebAMask-HQ samples: a real eye region is a pointed almond
    whose white shows on both sides of an iris about half its width, up to a pink inner corner.
    With irises 0.7 of the eye's width and only dim whites, the model learnt that an eye is a
    dark blob: on the samples it left out the white inner third of every eye (calling it skin)
    and took in the dark lashes beyond the outer corner. So the whites' brightness (dim in the
    lids' shade to a lit white) and the iris' size vary from face to face."""
    eyes = _Region(_member(mask, (L_EYE, R_EYE)))
    if not eyes:
        return
    whites = rng.uniform(1.0, 1.55)  # times the base colour, 0.62 of the sclera's white
    iris_scale = rng.uniform(0.45, 0.7)  # iris radius / half the eye's width
    labels = mask[eyes.crop]
    inside = eyes.mask[eyes.crop]
    yy, xx = np.mgrid[eyes.crop].astype(np.float32) + 0.5
    # every pixel measures from the centre of its own eye; ``outward`` is -1 at the inner
    # corner and +1 at the outer
    ex, ey, half, outward = (np.zeros(labels.shape, np.float32) for _ in range(4))
    for k, sign in _EYE_OUTWARD:
        eye = _Region(labels == k)
        if eye:
            cx, cy = eye.centre
            np.copyto(ex, eyes.x0 + cx + p.gaze[0] * eye.w, where=eye.mask)
            np.copyto(ey, eyes.y0 + cy + p.gaze[1] * eye.w, where=eye.mask)
            np.copyto(half, 0.5 * eye.w, where=eye.mask)
            np.copyto(outward, sign * (xx - eyes.x0 - cx) / (0.5 * eye.w), where=eye.mask)
    r = iris_scale * half + 0.3
    d = np.sqrt((xx - ex) ** 2 + (yy - ey) ** 2) / r
    crop = img[eyes.crop]
    # the lids shade the whites towards the corners
    crop *= np.where(inside, whites * (0.8 + 0.2 * np.maximum(1 - np.abs(xx - ex) / (half + 1), 0)), 1)[..., None]
    # the caruncle: the inner corner's tip is pink, darker than the white beside it
    caruncle = inside & (outward < -0.75)
    crop[caruncle] *= np.float32((0.92, 0.68, 0.7))
    colour = np.array(p.iris_rgb, np.float32) * (1.15 - 0.5 * d**2)[..., None]
    colour[d < 0.45] = 18
    # the catch light, a dot about 0.07 of the eye's width across on the official samples: at 64
    # px a fraction of a pixel, so each pixel takes the share of it that a Gaussian of the dot's
    # area puts there (a whole white pixel there is something no real eye shows at that size)
    dot = rng.uniform(0.02, 0.045) * 2 * half  # radius
    sigma = np.maximum(dot, 0.5) / np.sqrt(2)
    cover = np.minimum(1, dot**2 / (2 * sigma**2)) * np.exp(
        -((xx - ex - 0.4 * r * light[0]) ** 2 + (yy - ey - 0.4 * r * light[1]) ** 2) / (2 * sigma**2))
    colour += (245 - colour) * cover[..., None]
    iris = inside & (d < 1)
    crop[iris] = colour[iris]
    # the lid's fold, two pixels above the eye (the lid's margin inside it: _paint_lashes)
    eye = eyes.mask
    crease = np.zeros_like(eye)
    crease[:-2] = eye[2:] & ~eye[1:-1] & ~eye[:-2]
    img[crease] *= 0.8
    # the upper lid and the socket's corners in shade, hugging the eye: on the official samples at
    # 64 px the skin a pixel above an eye is 0.47 as bright as the cheek (0.29-0.77), a pixel past
    # the outer corner 0.38, past the inner one 0.74. Drawn lit (0.85, 0.85 and 1.05 here), it
    # taught the model that the dark pixels around a real eye are eye: it drew them a quarter too
    # large. So a shadow of varying depth sits a pixel above each eye, leaning outwards, and a
    # lighter one in the hollow of the inner corner, where the lit whites end against it.
    u = mask.shape[0] / 64  # one pixel of the 64 px model's input
    lid = np.zeros(eye.shape, np.float32)
    for k, sign in _EYE_OUTWARD:
        # above it; past the outer corner; in the inner corner's hollow beside the nose
        for dx, dy, weight in ((0.8, -1.0, 1.0), (1.3, -0.5, 0.8), (-1.3, 0.0, 0.6)):
            shifted = cv2.warpAffine((mask == k).astype(np.float32),
                                     np.float32([[1, 0, dx * sign * u], [0, 1, dy * u]]), eye.shape[::-1])
            np.maximum(lid, weight * shifted, out=lid)
    lid = cv2.GaussianBlur(cv2.dilate(lid, np.ones((1, 2 * round(1.5 * u) + 1), np.uint8)), (0, 0), 0.8 * u)
    skin = mask == SKIN
    img[skin] *= (1 - rng.uniform(0.2, 0.7) * np.minimum(1, 1.5 * lid[skin]))[:, None]


def _paint_lashes(mask: np.ndarray, img: np.ndarray, rng: np.random.Generator) -> None:
    """The upper lid's margin along the top row of each eye region, the lashes' tips above it and
    beyond the outer corner, and the lower lid's rim on the skin just below, in ``img`` in
    place, drawn sharp after the borders are softened.

    CelebAMask-HQ's eye region runs up to the dark margin of the upper lid (the lashes' roots
    and the shadow they cast), so the margin is drawn inside the region, one pixel high at the
    output size. Drawn on the skin above instead, it taught the model that a real eye begins
    below the dark band: on the official samples it put eyes 2-6 px (at 512) too low. Drawn
    blurred or at twice the size and averaged down, it spread over half the eye and real eyes
    came out twice their size; so it is drawn last, at the output size, on the output mask.
    The margin thins towards the inner corner, as on a real lid, and the upper lashes (with
    mascara or eyeliner, a dark wing) reach a pixel past the outer corner onto the skin, which
    the region leaves out: without them the model took real lashes there for eye."""
    eye = _member(mask, (L_EYE, R_EYE))
    if not eye.any():
        return
    margin = eye.copy()
    margin[1:] &= ~eye[:-1]
    # how dark the margin is along the lid: full over the outer two thirds, half at the inner tip
    strength = np.ones(mask.shape, np.float32)
    wing_strength = rng.uniform(0.2, 0.9)
    skin = mask == SKIN
    for k, sign in _EYE_OUTWARD:
        region = _Region(mask == k)
        if not region:
            continue
        cx = region.centre[0]
        yy, xx = np.nonzero(region.mask)
        outward = sign * (xx + 0.5 - cx) / (0.5 * region.w)
        strength[yy, xx] = np.clip(1.0 + 0.75 * (outward + 0.33), 0.5, 1.0)
        # the wing: the skin pixel beside the outermost pixel of the eye's upper half (which holds
        # the region's top row, so is never empty)
        upper = yy <= region.y0 + region.h // 2
        i = np.argmax(sign * xx[upper])
        wy, wx = yy[upper][i], xx[upper][i] + sign
        if 0 <= wx < mask.shape[1] and skin[wy, wx]:
            img[wy, wx] = img[wy, wx] * (1 - 0.7 * wing_strength) + 12 * wing_strength
    a = strength[margin][:, None]
    img[margin] = img[margin] * (1 - 0.7 * a) + 12 * a
    # the lashes' tips over the skin above the margin, from none to mascara: the dark band over a
    # real eye is a pixel taller than its region, whose top the whites, not the darkness, show
    tips = np.zeros_like(eye)
    tips[:-1] = margin[1:] & skin[:-1]
    lashes = rng.uniform(0.0, 0.6) * strength[1:][tips[:-1]][:, None]  # as dark as the margin below
    img[tips] = img[tips] * (1 - 0.7 * lashes) + 12 * lashes
    rim = np.zeros_like(eye)
    rim[1:] = eye[:-1] & ~eye[1:]
    img[rim] *= 0.8


def _paint_details(p: FaceParams, mask: np.ndarray, img: np.ndarray, face_light: np.ndarray) -> None:
    """Nostrils and nose ridge, inner ears, teeth and glasses in ``img``, in place."""
    s = mask.shape[0]
    nose = _Region(mask == NOSE)
    if nose:
        yy, xx = np.mgrid[nose.crop].astype(np.float32) + 0.5
        cx, bottom = nose.centre[0], nose.y0 + nose.h
        nostrils = (np.abs(np.abs(xx - cx) - 0.27 * nose.w) < 0.13 * nose.w) & (
            np.abs(yy - (bottom - 0.14 * nose.h)) < 0.07 * nose.h + 0.5)
        ridge = (np.abs(xx - cx - 0.1 * nose.w * p.light[0]) < 0.09 * nose.w + 0.3) & (
            yy < bottom - 0.3 * nose.h)
        inside = nose.mask[nose.crop]
        crop = img[nose.crop]
        crop[inside & nostrils] *= 0.55
        crop[inside & ridge & ~nostrils] *= 1.12
    k = max(1, round(s / 96))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    for ear_class in (L_EAR, R_EAR):
        ear = _Region(mask == ear_class)
        if ear:
            inner = cv2.erode(ear.mask[ear.crop].view(np.uint8), kernel).view(bool)
            img[ear.crop][inner] *= 0.82
    mouth = _Region(mask == MOUTH)
    if mouth and mouth.h >= 3:
        teeth = mouth.mask[mouth.crop].copy()
        teeth[int(0.45 * mouth.h):] = False
        lit = face_light[mouth.crop][teeth]
        img[mouth.crop][teeth] = np.float32((225, 220, 205)) * (0.6 + 0.4 * lit)[:, None]
    glasses = _Region(mask == EYE_G)
    if glasses:
        # the frame is the rim: glasses pixels near anything that is neither lens nor eye
        inside = glasses.mask[glasses.crop]
        seen = _member(mask[glasses.crop], (EYE_G, L_EYE, R_EYE)).view(np.uint8)
        lens = inside & cv2.erode(seen, kernel, borderValue=0).view(bool)
        frame = inside & ~lens
        crop, lit = img[glasses.crop], face_light[glasses.crop]
        crop[frame] = np.float32(p.frame_rgb) * (0.7 + 0.5 * lit[frame])[:, None]
        behind = np.float32(p.skin_rgb) * (0.82 + 0.24 * lit[lens])[:, None]
        tint, alpha = np.float32(p.lens_rgb), 0.3
        if p.sunglasses:
            tint, alpha = tint * 0.2, 0.88
        crop[lens] = (1 - alpha) * behind + alpha * tint


# cast shadows: (casters, receivers, distance as a fraction of the size, strength)
_SHADOWS = (
    ((HAIR, HAT), _FACIAL, 0.02, 0.2),
    ((NOSE,), (SKIN,), 0.012, 0.15),
    # (the jaw's shadow on the neck, of varying depth and reach, is drawn by _shade)
    (tuple(range(1, _NUM_CLASSES)), (BG,), 0.035, 0.2),
)


def _shadow_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per class and shadow, ``float32`` ``[19, len(_SHADOWS)]`` each: whether the class casts it, and how
    dark the class gets under it."""
    casts = np.zeros((_NUM_CLASSES, len(_SHADOWS)), np.float32)
    darkens = np.zeros((_NUM_CLASSES, len(_SHADOWS)), np.float32)
    for c, (casters, receivers, _, strength) in enumerate(_SHADOWS):
        casts[list(casters), c] = 1
        darkens[list(receivers), c] = strength
    return casts, darkens


_SHADOW_CASTERS, _SHADOW_STRENGTH = _shadow_tables()


def _shadows(mask: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Darkening factor ``float32`` ``[S, S]`` in ``(0, 1]`` of the cast shadows, thrown away
    from the light and always slightly down."""
    s = mask.shape[0]
    # soft shadows need no full resolution: cast them at half size and interpolate back (the
    # receivers' edges blur by a pixel, under the softened borders)
    small = mask[::2, ::2]
    casters = np.take(_SHADOW_CASTERS, small, axis=0)
    away = -light[:2] / max(float(np.linalg.norm(light[:2])), 1e-3)
    cast = np.empty_like(casters)
    for c, (_, _, dist, _) in enumerate(_SHADOWS):
        dx, dy = round(away[0] * dist * s / 2), round((0.5 * away[1] + 0.5) * dist * s / 2)
        cast[..., c] = _shift(casters[..., c], dx, dy)
    cast = cv2.multiply(cv2.GaussianBlur(cast, (0, 0), max(0.5, 0.008 * s)),
                        np.take(_SHADOW_STRENGTH, small, axis=0))
    darkness = cv2.transform(cast, np.ones((1, len(_SHADOWS)), np.float32))
    return 1 - cv2.resize(darkness, (s, s), interpolation=cv2.INTER_LINEAR)


def _paint(params: FaceParams, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The portrait of a valid ``[S, S]`` mask, ``float32`` ``[S, S, 3]``, non-negative and
    mostly within ``[0, 255]`` (highlights may overshoot until :func:`_to_uint8` saturates)."""
    s = mask.shape[0]
    lx, ly = params.light
    light = np.array([lx, ly, math.sqrt(max(1 - lx * lx - ly * ly, 0.05))], np.float32)

    # the face is lit as an ellipsoid fitted to its parts
    face = _Region(_member(mask, _FACE_CLASSES))
    fx, fy, fa, fb = face.ellipse() if face else (0.5 * s, 0.5 * s, 0.2 * s, 0.27 * s)
    face_light = _lit_field(s, (fx, fy), (fa, fb), light)

    # cv2 for the per-pixel products and masked copies: numpy is slow to broadcast over channels
    table = _colour_table(params)
    img = np.take(table, mask, axis=0)
    img = cv2.multiply(img, cv2.merge([_shade(params, mask, rng, light, face_light, (fx, fy, fa, fb))] * 3))
    if params.shirt_rgb is not None:
        _paint_shirt(params.shirt_rgb, mask, img, rng)
    _model_face(params, mask, img, rng, face_light, light)
    brows = _member(mask, (L_BROW, R_BROW))
    if brows.any():
        # sparse hairs over skin: the brow colour covers a varying share of each pixel
        cover = np.clip(rng.uniform(0.5, 0.9) + 0.5 * (_noise(rng, (s, s), 2)[brows] - 0.5), 0, 1)[:, None]
        under = np.float32(params.skin_rgb) / np.maximum(table[L_BROW], 8.0)
        img[brows] *= cover + (1 - cover) * under
    _paint_lips(mask, img)
    cv2.copyTo(_background(params, s, rng), (mask == BG).view(np.uint8), img)
    _paint_eyes(params, mask, img, light, rng)
    _paint_details(params, mask, img, face_light)
    img = cv2.multiply(img, cv2.merge([_shadows(mask, light)] * 3))

    # borders: a photograph has no outlines, only a pixel or two of blur across each border;
    # hair frays into what is behind it, so its borders blur more
    edge = np.zeros((s, s), bool)
    for here, there in ((np.s_[:, 1:], np.s_[:, :-1]), (np.s_[:, :-1], np.s_[:, 1:]),
                        (np.s_[1:], np.s_[:-1]), (np.s_[:-1], np.s_[1:])):
        edge[here] |= mask[here] != mask[there]
    sigma = s / 128 * rng.uniform(0.6, 1.3)
    near = cv2.dilate(edge.view(np.uint8), np.ones((3, 3), np.uint8))
    cv2.copyTo(cv2.GaussianBlur(img, (0, 0), sigma), near, img)
    hair_edge = cv2.dilate((edge & (mask == HAIR)).view(np.uint8), np.ones((5, 5), np.uint8))
    cv2.copyTo(cv2.GaussianBlur(img, (0, 0), 2 * sigma), hair_edge, img)
    return img


def _paint_lips(mask: np.ndarray, img: np.ndarray) -> None:
    """The dark line where the lips meet and the lower lip's highlight, in ``img`` in place."""
    lower = _Region(mask == L_LIP)
    if not lower:
        return
    upper = mask == U_LIP
    below = np.zeros_like(upper)
    below[:-1] = _member(mask[1:], (L_LIP, MOUTH))
    img[upper & below] *= 0.6
    relief = np.zeros(mask.shape, np.float32)
    _blob(relief, lower.centre[0], lower.y0 + 0.4 * lower.h, 0.25 * lower.w, 0.2 * lower.h, 0.18)
    img[lower.mask] *= np.exp(relief[lower.mask])[:, None]


def apply_camera(camera: Camera, image: np.ndarray, rng_or_seed: np.random.Generator | int) -> np.ndarray:
    """Photograph a painted portrait: white balance and exposure, tone curve, contrast, defocus,
    sensor noise, then JPEG.

    Args:
        camera: the settings, from :func:`sample_face_params`.
        image: ``float32`` or ``uint8`` ``[S, S, 3]`` RGB in ``[0, 255]`` (floats may overshoot).
        rng_or_seed: a numpy Generator (it advances) or a seed ``>= 0``; feeds the noise.

    Returns:
        ``uint8`` ``[S, S, 3]`` RGB.
    """
    rng = _as_rng(rng_or_seed)
    s = image.shape[0]
    img = image.astype(np.float32) * (np.float32(camera.gains) * np.float32(camera.exposure / 255))
    img = np.power(np.clip(img, 0, 1), np.float32(camera.gamma)) * 255
    mean = img.mean(axis=(0, 1), keepdims=True)
    img = (img - mean) * np.float32(camera.contrast) + mean
    if camera.blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), camera.blur * s / 64)
    if camera.noise > 0:
        # luminance noise with a little colour noise, as a sensor gives
        grain = rng.standard_normal((s, s, 1), np.float32) + 0.35 * rng.standard_normal((s, s, 3), np.float32)
        img += np.float32(camera.noise) * grain
    out = _to_uint8(np.maximum(img, 0))
    if camera.jpeg:
        ok, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg])
        out = np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def _to_uint8(img: np.ndarray) -> np.ndarray:
    # rounds and saturates; the painted values are never negative, so the "abs" is a no-op
    return cv2.convertScaleAbs(img)


def render_image(params: FaceParams, mask: np.ndarray, rng_or_seed: np.random.Generator | int) -> np.ndarray:
    """Paint and photograph the portrait of a mask (see the module docstring).

    The picture depends on the mask and the appearance fields of ``params`` (colours, light,
    gaze, textures, camera) only: every shape is read from the mask, so it follows an edited
    mask too. ``rng_or_seed`` feeds the rest of the appearance: shading depths (the jaw's and the
    collar's shade on the neck, under-eye shadows, the beard's reach), the eyes' whites, irises
    and lashes, textures, the background scene and the sensor noise.

    Args:
        params: the face's appearance.
        mask: ``[S, S]`` integer class ids in ``[0, 18]``, ``S`` in ``[MIN_SIZE, MAX_SIZE]``.
        rng_or_seed: a numpy Generator (it advances) or a seed ``>= 0``.

    Returns:
        ``uint8`` ``[S, S, 3]`` RGB image.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"mask must be a square [S, S] class map, got shape {mask.shape}")
    s = mask.shape[0]
    _check_size(s)
    if not np.issubdtype(mask.dtype, np.integer) or mask.min() < 0 or mask.max() >= _NUM_CLASSES:
        raise ValueError(f"mask must hold integer class ids in [0, {_NUM_CLASSES - 1}]")
    rng = _as_rng(rng_or_seed)
    mask = mask.astype(np.intp, copy=False)
    image = _paint(params, mask, rng)
    _paint_lashes(mask, image, rng)
    return apply_camera(params.camera, image, rng)


# -- faces and data sets -----------------------------------------------------------------------

def _supersample(size: int) -> int:
    # eyes and glasses frames are a few pixels wide at 64: painting at 2x and averaging down
    # resolves them; above 256 the pixels are already finer than any painted detail
    return 2 if size <= 256 else 1


def generate_face(seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One face, fully determined by ``seed``.

    Up to 256 pixels the face is drawn at twice the size: the image is averaged down
    (``cv2.INTER_AREA``) and the class map is the majority of each 2x2 block of the large mask.

    Args:
        seed: integer ``>= 0``.
        size: side in pixels, in ``[MIN_SIZE, MAX_SIZE]``.

    Returns:
        image: ``uint8`` ``[size, size, 3]`` RGB portrait.
        class_map: ``int64`` ``[size, size]`` class ids in ``[0, 18]`` (CelebAMask-HQ order).
    """
    _check_size(size)
    _check_non_negative("seed", seed)
    rng = np.random.default_rng(seed)
    params = sample_face_params(rng)
    if _supersample(size) == 1:
        class_map = render_mask(params, size)
        return render_image(params, class_map, rng), class_map
    large = _rasterise(params, 2 * size, min_line=2)  # thin parts keep a pixel after halving
    image = cv2.resize(_paint(params, large, rng), (size, size), interpolation=cv2.INTER_AREA)
    class_map = _halve_mask(large)
    # the lashes are a pixel wide at the final size, so they are drawn after averaging down
    _paint_lashes(class_map, image, rng)
    return apply_camera(params.camera, image, rng), class_map


def generate_faces(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Faces ``seed, seed + 1, ..., seed + n - 1`` (each as :func:`generate_face`).

    Returns:
        images: ``uint8`` ``[n, size, size, 3]``.
        class_maps: ``int64`` ``[n, size, size]``.
    """
    _check_non_negative("n", n)
    _check_non_negative("seed", seed)
    _check_size(size)
    images = np.empty((n, size, size, 3), np.uint8)
    class_maps = np.empty((n, size, size), np.int64)
    for i in range(n):
        images[i], class_maps[i] = generate_face(seed + i, size)
    return images, class_maps


class ProceduralFaces(Dataset):
    """``length`` procedural faces; item ``i`` is face ``seed + i``, the same on every access.

    Items are dicts: ``"image"``: ``float32`` ``[3, size, size]`` in ``[-1, 1]``;
    ``"class_map"``: ``int64`` ``[size, size]`` class ids in ``[0, 18]``.
    """

    def __init__(self, length: int, size: int = 64, seed: int = 0) -> None:
        _check_non_negative("length", length)
        _check_non_negative("seed", seed)
        _check_size(size)
        self.length, self.size, self.seed = length, size, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} faces")
        image, class_map = generate_face(self.seed + index, self.size)
        return {
            "image": torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1.0,
            "class_map": torch.from_numpy(class_map),
        }
