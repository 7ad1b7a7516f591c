"""The paper's 2-D toy: two interleaved spiral arms, a label of -1/+1 per point.

One small network learns both flows: noise -> a point on the arm of a given label
(generation), and a point -> its label (classification, best in ONE Euler step).
"""

from symmflow.spiral.data import SPIRAL_CODEC, make_spirals, nearest_arm
from symmflow.spiral.evaluate import accuracy_by_steps, classify, classify_flow, generate, generate_flow
from symmflow.spiral.train import SpiralTrainConfig, train_spiral

__all__ = [
    "SPIRAL_CODEC",
    "SpiralTrainConfig",
    "accuracy_by_steps",
    "classify",
    "classify_flow",
    "generate",
    "generate_flow",
    "make_spirals",
    "nearest_arm",
    "train_spiral",
]
