"""Publishing as a Hugging Face Space, offline: the README header is a valid Space config,
scripts/publish_space.py sends what the app needs and nothing else, and no file of this
repository is an LFS pointer."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import publish_space  # noqa: E402

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name = re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower()
            pins[name] = line[len(name):].strip()
    return pins


def test_readme_header_is_a_space_config_matching_the_pins():
    import gradio

    from symmflow.release import RELEASE_REPO

    header = publish_space.readme_header()
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and (ROOT / header["app_file"]).is_file()
    requirements = _pins((ROOT / "requirements.txt").read_text())
    assert requirements["gradio"] == f"=={header['sdk_version']}" == f"=={gradio.__version__}"
    assert isinstance(header["python_version"], str) and re.fullmatch(r"3\.\d+", header["python_version"])
    assert tuple(map(int, header["python_version"].split("."))) >= (3, 10)  # pyproject's requires-python
    assert RELEASE_REPO in header["models"]  # the paper's weights, which the app can serve
    assert len(header["short_description"]) <= 60  # the Hub's limit
    assert header["colorFrom"] in {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
    assert header["colorTo"] in {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
    assert header["license"] == "mit" and header["title"]


def test_the_space_gets_the_app_and_its_models_and_nothing_else():
    files = publish_space.space_files()
    assert {"README.md", "app.py", "demo/app.py", "demo/models.py", "symmflow/__init__.py", "symmflow/pipeline.py",
            "checkpoints/faces/pipeline.json", "checkpoints/faces/model/diffusion_pytorch_model.safetensors",
            "checkpoints/digits/model/diffusion_pytorch_model.safetensors", "checkpoints/spiral/config.json",
            "assets/faces/mask_0.png", "assets/faces/image_0.png", "assets/digits/digit_3.png"} <= set(files)
    for path in files:
        assert not path.startswith((".venv/", "runs/", "test-artifacts/", "outputs/", "tests/", "benchmarks/", "configs/",
                                    "scripts/", ".ci/", ".gradio/", "checkpoints/spiral-faithful/")), path
        assert "__pycache__" not in path and not path.endswith((".pyc", ".pyi")), path
    # every Python module of the app goes, and the shipped models' every file
    for folder in ("demo", "symmflow"):
        tracked = [p for p in publish_space.repository_files() if p.startswith(folder + "/") and p.endswith(".py")]
        assert tracked and set(tracked) <= set(files)


def test_the_space_requirements_are_the_repositorys_with_a_cpu_torch():
    text = (ROOT / "requirements.txt").read_text()
    assert "index-url" not in text and "find-links" not in text  # pip install -r requirements.txt reaches PyPI only
    space = publish_space.space_requirements(text)
    assert f"--extra-index-url {publish_space.CPU_INDEX}" in space.splitlines()
    ours, theirs = _pins(text), _pins(space)
    assert theirs.pop("torch") == ours.pop("torch") + "+cpu"
    assert theirs == ours
    with pytest.raises(ValueError, match="pin torch exactly"):
        publish_space.space_requirements("torch>=2\nnumpy\n")


def test_staged_upload_runs_the_app_from_its_own_files(tmp_path):
    """The staged folder is the Space: the app builds from it alone (its own symmflow and models)."""
    files = publish_space.stage(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == files
    assert "torch==" in (tmp_path / "requirements.txt").read_text()
    size = sum((tmp_path / f).stat().st_size for f in files)
    assert size < 40e6, f"the Space upload is {size / 1e6:.1f} MB"
    probe = ("import symmflow, demo, app; from pathlib import Path; "
             "assert Path(symmflow.__file__).resolve().is_relative_to(Path.cwd().resolve()), symmflow.__file__; "
             "from demo.models import faces_pipeline, digits_pipeline, spiral_model; "
             "print(faces_pipeline().task, digits_pipeline().task, type(spiral_model()).__name__)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SYMMFLOW_CHECKPOINTS")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={**env, "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["segmentation", "classification", "ResidualMLP"]


def test_dry_run_lists_the_upload_without_network(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert publish_space.main(["someone/symmflow-studio", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "checkpoints/faces/model/diffusion_pytorch_model.safetensors" in out and "requirements.txt" in out
    assert "dry run: nothing sent" in out and "tests/" not in out
    with pytest.raises(SystemExit) as err:
        publish_space.main(["not a repo id", "--dry-run"])
    assert err.value.code == 2


def test_no_tracked_file_is_an_lfs_pointer():
    """Clones of this repository do not fetch LFS objects: every file must hold its content."""
    files = publish_space.repository_files()
    assert any(p.endswith(".safetensors") for p in files)
    pointers = []
    for path in files:
        with open(ROOT / path, "rb") as f:
            if f.read(len(LFS_POINTER)) == LFS_POINTER:
                pointers.append(path)
    assert pointers == []
    attributes = ROOT / ".gitattributes"
    assert not attributes.exists() or "filter=lfs" not in attributes.read_text()
