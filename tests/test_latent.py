"""The paper's latent design at test size: channel surgery, the release importer, the VAE path."""

import json

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from symmflow.cli import main as cli_main
from symmflow.models import CheckpointError
from symmflow.models.latent import SD21_UNET_CONFIG, LatentUNet
from symmflow.models.vae import LatentPreview, LatentSpace
from symmflow.pipeline import SymmFlowPipeline
from symmflow.pipeline_config import PipelineConfig
from symmflow.release import (
    RELEASE_DEFAULT_STEPS,
    latent_unet_from_release,
    load_prompt_embedding,
    load_release_state_dict,
    pipeline_from_release,
    release_filename,
    unet_generation,
)
from symmflow.solver import ODESolver

TINY_UNET = dict(
    sample_size=8,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=32,
    attention_head_dim=(2, 4),
    use_linear_projection=True,
    upcast_attention=True,
    norm_num_groups=8,
)


def tiny_sd_unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(in_channels=4, out_channels=4, **TINY_UNET).eval()


def tiny_vae():
    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4,
        sample_size=16,
    ).eval()


def test_channel_surgery_keeps_the_pretrained_behaviour():
    unet = tiny_sd_unet()
    emb = torch.randn(1, 77, 32)
    model = LatentUNet.from_sd_unet(unet, emb).eval()
    assert model.unet.conv_in.weight.shape == (32, 8, 3, 3)
    assert model.unet.conv_out.weight.shape == (8, 32, 3, 3) and model.unet.conv_out.bias.shape == (8,)
    z, t = torch.randn(2, 4, 8, 8), torch.tensor([0.2, 0.9])
    with torch.no_grad():
        reference = unet(z, t, encoder_hidden_states=emb.expand(2, -1, -1)).sample
        v_x, v_y = model(z, torch.zeros_like(z), t)
    torch.testing.assert_close(v_x, reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(v_y, reference, rtol=0, atol=1e-6)


def test_sd21_config_is_the_papers():
    assert SD21_UNET_CONFIG["block_out_channels"] == (320, 640, 1280, 1280)
    assert SD21_UNET_CONFIG["attention_head_dim"] == (5, 10, 20, 20)
    assert SD21_UNET_CONFIG["cross_attention_dim"] == 1024 and SD21_UNET_CONFIG["sample_size"] == 96
    assert SD21_UNET_CONFIG["use_linear_projection"] and SD21_UNET_CONFIG["upcast_attention"]


def fake_release(tmp_path, emb):
    """A file laid out like LatFM_*.pt: a pickled EMA state dict with 'unet.'-prefixed keys."""
    source = LatentUNet.from_sd_unet(tiny_sd_unet(), emb)
    state = {k: v.clone() for k, v in source.state_dict().items() if k.startswith("unet.")}
    path = tmp_path / release_filename("coco")
    torch.save(state, path)
    return path, source


def test_fake_release_loads_into_our_latent_model(tmp_path):
    emb = torch.randn(1, 77, 32)
    path, source = fake_release(tmp_path, emb)
    assert path.name == "LatFM_coco_beta6.0.pt"
    state = load_release_state_dict(path)
    assert state["unet.conv_in.weight"].shape == (32, 8, 3, 3)
    model = latent_unet_from_release(state, emb, unet_config=TINY_UNET).eval()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    z = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(z, z, torch.tensor([0.5]))[0], source.eval()(z, z, torch.tensor([0.5]))[0])


def test_release_loader_refuses_bad_files(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"definitely not a pickle")
    with pytest.raises(CheckpointError, match="could not read"):
        load_release_state_dict(garbage)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"unet.x": torch.zeros(1), "callback": print}, unsafe)  # would run code on load
    with pytest.raises(CheckpointError, match="could not read"):
        load_release_state_dict(unsafe)
    other = tmp_path / "other.pt"
    torch.save({"model.conv_in.weight": torch.zeros(1)}, other)
    with pytest.raises(CheckpointError, match="lacks the 'unet.' prefix"):
        load_release_state_dict(other)
    path, _ = fake_release(tmp_path, torch.zeros(1, 77, 32))
    state = load_release_state_dict(path)
    state.pop("unet.conv_out.bias")
    with pytest.raises(CheckpointError, match="missing: unet.conv_out.bias"):
        latent_unet_from_release(state, torch.randn(1, 77, 32), unet_config=TINY_UNET)
    with pytest.raises(ValueError, match="celeba, coco"):
        release_filename("cityscapes")


def test_prompt_embedding_sources(tmp_path):
    emb = torch.randn(77, 32)
    torch.save(emb, tmp_path / "sd_emptyembed.pt")
    assert load_prompt_embedding(tmp_path / "sd_emptyembed.pt").shape == (1, 77, 32)
    from safetensors.torch import save_file

    save_file({"embedding": emb[None].contiguous()}, tmp_path / "emb.safetensors")
    torch.testing.assert_close(load_prompt_embedding(tmp_path / "emb.safetensors"), emb[None])
    with pytest.raises(ValueError, match="no prompt-embedding file"):
        load_prompt_embedding(tmp_path / "missing.pt")
    model = LatentUNet(unet_config=TINY_UNET)
    with pytest.raises(ValueError, match=r"must have shape \[1, 77, 32\]"):
        model.set_prompt_embedding(torch.zeros(1, 77, 16))


@pytest.fixture(scope="module")
def latent_pipe():
    model = LatentUNet.from_sd_unet(tiny_sd_unet(), torch.randn(1, 77, 32))
    return SymmFlowPipeline(model, PipelineConfig(task="segmentation", image_size=16, palette="celebamask_hq"), vae=LatentSpace(tiny_vae()))


def test_latent_previews_cost_no_vae_decode(latent_pipe, monkeypatch):
    decodes = []
    original = latent_pipe.vae.vae.decode
    monkeypatch.setattr(latent_pipe.vae.vae, "decode", lambda z: decodes.append(z.shape) or original(z))
    ids = np.zeros((16, 16), np.int64)
    ids[4:12, 4:12] = 1
    frames = list(latent_pipe.generate_stream(ids, steps=5, seed=0))
    assert len(frames) == 6 and len(decodes) == 1  # one full decode, at the end
    assert frames[0].images[0].shape == (8, 8, 3)  # preview at latent resolution
    assert frames[-1].images[0].shape == (16, 16, 3)
    decodes.clear()
    seg = list(latent_pipe.segment_stream(np.zeros((20, 30, 3), np.uint8), steps=3, seed=0))
    assert len(decodes) == 1 and seg[-1].output.class_maps[0].shape == (20, 30)


def test_latent_preview_fit_recovers_a_linear_map():
    latents = torch.randn(4, 4, 8, 8)
    weight = torch.randn(3, 4) * 0.3
    images = torch.einsum("oc,bchw->bohw", weight, latents) + 0.1
    fitted = LatentPreview.fit(latents, images)
    torch.testing.assert_close(fitted.weight, weight, atol=1e-4, rtol=0)
    torch.testing.assert_close(fitted.bias, torch.full((3,), 0.1), atol=1e-4, rtol=0)


def test_latent_pipeline_round_trip(latent_pipe, tmp_path):
    latent_pipe.save_pretrained(tmp_path / "latent")
    loaded = SymmFlowPipeline.from_pretrained(tmp_path / "latent")
    assert loaded.is_latent and loaded.config.to_dict()["preview"] == latent_pipe.config.to_dict()["preview"]
    ids = np.zeros((16, 16), np.int64)
    ids[4:12, 4:12] = 1  # a face: an all-background mask is refused
    a = latent_pipe.generate(ids, steps=2, seed=1, output_type="pt").images
    b = loaded.generate(ids, steps=2, seed=1, output_type="pt").images
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


def test_convert_release_cli(tmp_path, capsys):
    emb = torch.randn(1, 77, 32)
    path, _ = fake_release(tmp_path, emb)
    torch.save(emb, tmp_path / "emb.pt")
    tiny_vae().save_pretrained(tmp_path / "vae")
    out = tmp_path / "converted"
    (tmp_path / "unet.json").write_text(json.dumps(TINY_UNET))
    code = cli_main([
        "convert-release", str(path), "--dataset", "coco", "--prompt-embedding", str(tmp_path / "emb.pt"),
        "--vae", str(tmp_path / "vae"), "--out", str(out), "--image-size", "16", "--unet-config", str(tmp_path / "unet.json"),
    ])
    assert code == 0, capsys.readouterr().err
    pipe = SymmFlowPipeline.from_pretrained(out)
    assert pipe.palette.name == "coco_stuff" and pipe.beta == 6.0 and pipe.is_latent
    torch.testing.assert_close(pipe.model.prompt_embedding, emb)


# -- the authors' release, exactly: defaults, embedding, SD generation, time precision ---------

def test_release_pipeline_has_the_authors_defaults(tmp_path, monkeypatch):
    emb = torch.randn(1, 77, 32)
    path, source = fake_release(tmp_path, emb)
    tiny_vae().save_pretrained(tmp_path / "vae")
    pipe = pipeline_from_release(path, "coco", emb, vae=tmp_path / "vae", image_size=16, unet_config=TINY_UNET)
    assert RELEASE_DEFAULT_STEPS == {"generate": 25, "segment": 25}
    assert pipe.default_steps["segment"] == 25 and pipe.default_steps["generate"] == 25
    assert pipe.palette.name == "coco_stuff" and pipe.beta == 6.0 and pipe.palette.class_names[0] == "person"
    torch.testing.assert_close(pipe.model.prompt_embedding, emb)
    monkeypatch.setattr(pipe.model, "forward", lambda x, y, t: (torch.zeros_like(x), torch.zeros_like(y)))  # fast
    assert pipe.segment(np.zeros((16, 16, 3), np.uint8), seed=0).nfe == 25  # the default is what runs


def test_release_without_prompt_embedding_is_refused(tmp_path):
    path, _ = fake_release(tmp_path, torch.randn(1, 77, 32))
    state = load_release_state_dict(path)
    for missing in (None, torch.zeros(1, 77, 32)):
        with pytest.raises(CheckpointError, match=r"no empty-prompt embedding.*sd_emptyembed\.pt"):
            latent_unet_from_release(state, missing, unet_config=TINY_UNET)
    with pytest.raises(CheckpointError, match="an all-zero prompt embedding was given"):
        latent_unet_from_release(state, torch.zeros(1, 77, 32), unet_config=TINY_UNET)
    with pytest.raises(CheckpointError, match=r"sd_emptyembed\.pt.*compute_prompt_embedding"):
        pipeline_from_release(path, "coco", None, vae=tmp_path / "no-vae", image_size=16, unet_config=TINY_UNET)


def sd15_shaped_state(cross_attention_dim=768, use_linear_projection=False):
    """A tiny U-Net laid out as SD 1.x (768-wide cross-attention, 1x1-conv projections), 8 channels."""
    torch.manual_seed(0)
    config = {**TINY_UNET, "cross_attention_dim": cross_attention_dim, "use_linear_projection": use_linear_projection}
    unet = UNet2DConditionModel(in_channels=8, out_channels=8, **config)
    return {f"unet.{k}": v for k, v in unet.state_dict().items()}


def test_sd15_shaped_weights_are_named():
    state = sd15_shaped_state()
    assert unet_generation(state) == (768, "conv")
    assert state["unet.down_blocks.0.attentions.0.proj_in.weight"].dim() == 4
    emb = torch.randn(1, 77, 1024)
    for config in (TINY_UNET, None):  # None: the SD 2.1 default, refused before it is built
        with pytest.raises(CheckpointError, match=r"shaped like a Stable Diffusion 1\.x U-Net.*cross-attention width 768 where"
                                                  r".*convolutional attention projections") as err:
            latent_unet_from_release(state, emb, unet_config=config)
        assert "wrong shape" not in str(err.value)
    # one difference alone is named too, without claiming SD 1.x
    with pytest.raises(CheckpointError, match="another Stable Diffusion U-Net generation.*width 24 where the U-Net config has 32"):
        latent_unet_from_release(sd15_shaped_state(24, True), emb, unet_config=TINY_UNET)
    # and an SD 1.x-based model loads when its config says so
    sd1 = {**TINY_UNET, "cross_attention_dim": 768, "use_linear_projection": False}
    model = latent_unet_from_release(state, torch.randn(1, 77, 768), unet_config=sd1)
    assert model.unet.config.cross_attention_dim == 768


def test_time_stays_float32_with_bf16_weights():
    model = LatentUNet.from_sd_unet(tiny_sd_unet().to(torch.bfloat16), torch.randn(1, 77, 32)).eval()
    assert model.unet.dtype == torch.bfloat16
    assert torch.tensor(0.96).to(torch.bfloat16).item() == pytest.approx(0.9609375)  # what a bf16 cast did
    seen = []
    model.unet.time_proj.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    z = torch.randn(2, 4, 8, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        v_x, v_y = model(z, z, torch.tensor([0.96, 0.04]))
    assert seen[0].dtype == torch.float32 and torch.equal(seen[0], torch.tensor([0.96, 0.04]))
    assert v_x.dtype == torch.bfloat16 and v_y.dtype == torch.bfloat16
    # the solver does not round t first when the state itself is bf16 (latents of a bf16 VAE)
    times = []
    solver = ODESolver(lambda x, y, t: times.append(t) or (torch.zeros_like(x), torch.zeros_like(y)))
    list(solver.iterate(z, z, 1.0, 0.0, 25))
    assert {t.dtype for t in times} == {torch.float32}
    assert torch.equal(times[1], torch.full((2,), 0.96))
