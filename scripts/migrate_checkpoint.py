"""One-off checkpoint migrations: give a trained network a new layout, then train it on.

These carried the shipped face model through its stages (the "lineage" in
checkpoints/faces/model/training.json lists them); they are not part of the package, because no
shipped code path needs them::

    python scripts/migrate_checkpoint.py SOURCE --config configs/faces.yaml --out runs/migrated

builds the network the config describes and starts it from SOURCE (a pipeline folder):

* same layout: a plain copy;
* the config adds a refinement head or a detail network the source lacks: both start as the
  identity (their last layer is zero), every other weight is copied;
* the config's detail network has more levels than the source's: :func:`deepen_from`;
* the source has colour-mask labels and the config one-hot labels of the same palette:
  :func:`palette_to_onehot`.

The result is a pipeline folder for the config (train it on with ``model.init_from``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symmflow.models.base import CheckpointError  # noqa: E402
from symmflow.models.detail import DetailUNet, film_rows  # noqa: E402
from symmflow.models.unet import PixelUNet  # noqa: E402
from symmflow.palettes import get_palette  # noqa: E402
from symmflow.pipeline_folder import load_pipeline_folder, save_pipeline_folder  # noqa: E402


def extends(self: DetailUNet, source: DetailUNet) -> bool:
    """Whether this network adds levels below ``source``'s: ``source.widths`` a proper prefix
    of this network's, the same channels in and out (what :func:`deepen_from` needs)."""
    n = len(source.widths)
    same_io = (self.down[0].conv1.in_channels, self.out.out_channels) == (
        source.down[0].conv1.in_channels,
        source.out.out_channels,
    )
    return n < len(self.widths) and self.widths[:n] == source.widths and same_io

@torch.no_grad()
def deepen_from(self: DetailUNet, source: DetailUNet) -> None:
    """Continue from a trained detail network with fewer levels: ``source.widths`` must be a
    proper prefix of this network's (e.g. ``[16, 32, 64]`` into ``[16, 32, 64, 128]``), with
    the same channels in and out.

    Levels are counted from full resolution, so every source block keeps its place and its
    time modulation. The new deeper down blocks keep their random start; the up block of
    each new level starts with identity centre taps in both convolutions, zero weight on the
    deeper input and no time modulation, so it passes its skip input on re-normalised and
    through two SiLUs (``silu(GN(silu(GN(s))))``), which keeps the output close to the
    source's, not equal (README: what it did to the shipped face model).
    """
    if not extends(self, source):
        raise ValueError(
            f"can only deepen a detail network whose widths are a proper prefix of {self.widths} "
            f"with the same channels in and out; got {source.widths}"
        )
    n, m = len(source.widths), len(self.widths)
    for mine, theirs in zip(self.down, source.down):
        mine.load_state_dict(theirs.state_dict())
    new = m - n  # self.up runs deep to shallow: its first `new` blocks are the new levels'
    for mine, theirs in zip(self.up[new:], source.up):
        mine.load_state_dict(theirs.state_dict())
    for block in self.up[:new]:
        skip = block.conv2.out_channels
        for conv in (block.conv1, block.conv2):  # conv1 sees [deeper, skip]: the skip comes last
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[:, -skip:, 1, 1] = torch.eye(skip)
    self.out.load_state_dict(source.out.state_dict())
    self.time[0].load_state_dict(source.time[0].state_dict())
    weight, bias = self.time[2].weight, self.time[2].bias
    weight.zero_()
    bias.zero_()
    rows_mine = film_rows([*self.down, *self.up])
    rows_theirs = film_rows([*source.down, *source.up])
    placed = [*range(n), *range(m + new, 2 * m - 1)]  # source block i -> self block placed[i]
    for i, j in enumerate(placed):
        weight[rows_mine[j]] = source.time[2].weight[rows_theirs[i]]
        bias[rows_mine[j]] = source.time[2].bias[rows_theirs[i]]


@torch.no_grad()
def palette_to_onehot(source: PixelUNet, target: PixelUNet, colors: torch.Tensor) -> None:
    """Warm-start ``target`` (one-hot masks, ``K`` label channels) from ``source`` (colour masks).

    Channel surgery in the spirit of the paper's 4 -> 8 channel SD U-Net: every U-Net weight
    that does not touch the label channels is copied. A clean one-hot mask ``h`` (``+-1``,
    so ``sum_k h_k = 2 - K``) and its colour mask in ``[-1, 1]`` are related by the linear map
    ``rgb_c = sum_k a'_kc h_k`` with ``a'_kc = colors[k, c] / 255 + offset_c / (2 - K)`` and
    ``offset_c = sum_k colors[k, c] / 255 - 1``. The first convolution's label weights are the
    colour weights pushed through that map, so on clean masks (``t = 0``) the warm-started
    network computes exactly the features of ``source``, border pixels included. Noisy label
    halves (``t > 0``) differ: ``K`` noise channels pushed through the map are not 3 unit
    Gaussians, which the first steps of training adapt to. The label rows of the last
    convolution start at zero, so the label velocity starts as the linear skip (or 0).

    Args:
        source, target: patched U-Nets with the same config apart from the label channels
            (3 in ``source``, ``K`` in ``target``) and settings that hold no U-Net weights
            (``skip_sigma``, ``dropout``, ``refine_channels``, ``detail_channels``); neither has
            ``pixel_channels``. A refinement head or detail network is not copied: ``target``
            keeps its own.
        colors: ``[K, 3]`` palette colours in 0..255.

    Raises:
        ValueError: the networks do not fit these conditions.
    """
    cs, ct = source.config, target.config
    k = colors.shape[0]
    if cs.label_channels != 3 or ct.label_channels != k:
        raise ValueError(
            f"palette_to_onehot maps a 3-label-channel (colour mask) network to one with {k} label "
            f"channels (one per palette colour); got {cs.label_channels} -> {ct.label_channels}"
        )
    free = {"label_channels", "skip_sigma", "dropout", "refine_channels", "detail_channels", "sigma_min"}
    as_list = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731 (configs load tuples as lists)
    differ = sorted(n for n in cs if not n.startswith("_") and n not in free and as_list(cs[n]) != as_list(ct.get(n)))
    if differ:
        raise ValueError(f"palette_to_onehot needs two networks of one layout apart from the label channels; they differ in {', '.join(differ)}")
    state = {n: v for n, v in source.unet.state_dict().items() if not n.startswith(("conv_in.", "conv_out."))}
    result = target.unet.load_state_dict(state, strict=False)
    if result.unexpected_keys or sorted(result.missing_keys) != ["conv_in.bias", "conv_in.weight", "conv_out.bias", "conv_out.weight"]:
        raise ValueError(f"palette_to_onehot: the U-Nets' weights do not match ({result})")
    c, p2 = cs.image_channels, cs.patch_size**2
    a = colors.float() / 255.0  # [K, 3]
    a = a + (a.sum(0) - 1.0) / (2.0 - k)  # fold the offset in: exact at zero-padded borders too
    w_in, w_new = source.unet.conv_in.weight.float(), target.unet.conv_in.weight
    w_new[:, : c * p2] = w_in[:, : c * p2]
    # channels of a pixel_unshuffle'd tensor: joint channel j, sub-pixel s -> j * p^2 + s
    rgb = w_in[:, c * p2 :].reshape(w_in.shape[0], 3, p2, *w_in.shape[2:])
    w_new[:, c * p2 :] = torch.einsum("kc,ocshw->okshw", a, rgb).reshape(w_new.shape[0], -1, *w_in.shape[2:])
    target.unet.conv_in.bias.copy_(source.unet.conv_in.bias.float())
    target.unet.conv_out.weight.zero_()
    target.unet.conv_out.bias.zero_()
    target.unet.conv_out.weight[: c * p2] = source.unet.conv_out.weight[: c * p2].float()
    target.unet.conv_out.bias[: c * p2] = source.unet.conv_out.bias[: c * p2].float()


def migrate(model: torch.nn.Module, source: str) -> None:
    """Start ``model`` from the pipeline folder ``source`` by whichever migration fits (see the
    module's docstring). Raises ``CheckpointError`` when none does."""
    config, network, _ = load_pipeline_folder(source)
    if isinstance(network, PixelUNet) and isinstance(model, PixelUNet) and config.label_encoding == "palette" \
            and model.config.label_channels != network.config.label_channels:
        colors = torch.from_numpy(get_palette(config.palette).colors.astype(np.float32))
        if model.config.label_channels != len(colors):
            raise CheckpointError(f"{source!r} was trained on palette {config.palette!r} ({len(colors)} classes), the new network has {model.config.label_channels} label channels")
        try:
            palette_to_onehot(network, model, colors)
        except ValueError as err:
            raise CheckpointError(f"{source!r}: {err}") from err
        return
    trained, mine = network.state_dict(), model.state_dict()
    # a refinement head or detail network the source lacks starts as the identity (only whole)
    present = {k.split(".", 1)[0] for k in trained}
    added = {k for k in mine.keys() - trained.keys() if k.split(".", 1)[0] in {"refine", "detail"} - present}
    mine_detail, their_detail = getattr(model, "detail", None), getattr(network, "detail", None)
    deepen = mine_detail is not None and their_detail is not None and extends(mine_detail, their_detail)
    if deepen:
        added |= {k for k in trained.keys() | mine.keys() if k.startswith("detail.")}
        trained = {k: v for k, v in trained.items() if not k.startswith("detail.")}
    changed = sorted(k for k in (trained.keys() | mine.keys()) - added if k not in trained or k not in mine or trained[k].shape != mine[k].shape)
    if type(network) is not type(model) or changed:
        shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise CheckpointError(f"{source!r} holds a network of another layout (differs in: {shown or 'the network class'})")
    model.load_state_dict(trained, strict=not added)
    if deepen:
        deepen_from(mine_detail, their_detail)


def main() -> int:
    from symmflow.training import load_config
    from symmflow.training.trainer import build_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="the trained pipeline folder")
    parser.add_argument("--config", type=Path, required=True, help="the training config of the new layout")
    parser.add_argument("--out", type=Path, required=True, help="where to write the migrated pipeline folder")
    args = parser.parse_args()
    config = load_config(args.config)
    model, vae = build_model(config.model, config.pipeline.sigma_min)
    migrate(model, args.source)
    save_pipeline_folder(args.out, config.pipeline, model, vae, training_info={"migrated_from": args.source})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
