"""SymmFlow: Symmetrical Flow Matching.

One network learns two opposite flows between images ``x`` and labels ``y``: noise -> image
given a label (semantic image synthesis) and image -> label (segmentation, or classification
when the label is a class). Time convention, everywhere: the image is noise at ``t = 0`` and
data at ``t = 1``; the label is data at ``t = 0`` and noise at ``t = 1``.

The method layer imports only torch and numpy; networks (``symmflow.models``) use diffusers.
"""

from symmflow.codecs import ClassCodec, OneHotCodec, PaletteCodec, uniform_dequantize
from symmflow.palettes import PALETTE_NAMES, Palette, get_palette
from symmflow.path import SymmetricPath, SymmetricPathSample, symmetric_loss
from symmflow.solver import TIME_SPAN, ODESolver, SolverState, time_grid

__version__ = "0.1.0"

__all__ = [
    "PALETTE_NAMES",
    "TIME_SPAN",
    "ClassCodec",
    "ODESolver",
    "Palette",
    "OneHotCodec",
    "PaletteCodec",
    "SolverState",
    "SymmetricPath",
    "SymmetricPathSample",
    "get_palette",
    "symmetric_loss",
    "time_grid",
    "uniform_dequantize",
]
