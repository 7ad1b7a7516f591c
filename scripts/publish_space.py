"""Publish the app as a Hugging Face Space, in one command:

    python scripts/publish_space.py USER/NAME [--private] [--dry-run]

Needs a write token (``hf auth login`` or ``HF_TOKEN``). Creates the Space if it does not
exist (Gradio SDK, version and Python from the README header), then uploads in one commit
what the app needs and nothing else: ``app.py``, ``demo/``, the ``symmflow`` package, the
shipped models the app serves and the example assets, the README (the Space's config), and
a CPU ``requirements.txt``. Files that the Space holds and the app no longer needs are
deleted in the same commit. The Hub stores the large weights (the face model is 22 MB)
through LFS/Xet by itself: nothing in this repository is turned into an LFS pointer.

``--dry-run`` lists the files and their sizes without any network access.

The Space's ``requirements.txt`` is this repository's, with torch taken from PyTorch's CPU
index (``torch==X+cpu``): PyPI's torch wheel for Linux is the CUDA build, gigabytes a free
CPU Space would download for nothing. The repository's own requirements stay index-free, so
CI and ``pip install -r requirements.txt`` never reach another index.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPACE_FILES = (
    "README.md",
    "app.py",
    "demo/*.py",
    "symmflow/**",
    "checkpoints/faces/**",
    "checkpoints/digits/**",
    "checkpoints/spiral/**",
    "assets/**",
)
"""What the Space runs (``fnmatch`` patterns over repository paths, ``*`` crossing folders)."""

NOT_SENT = ("*/__pycache__/*", "*.pyc", "*.pyi", "*.egg-info/*")
"""Never sent, even where a pattern above matches: byte code, type stubs, build metadata."""

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def repository_files(root: Path = ROOT) -> list[str]:
    """The files git tracks (what a clone holds: never ``.venv/``, ``runs/``, caches or test
    outputs), as ``/``-separated paths."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise SystemExit(f"error: {root} is not a git checkout ({err}); publish from a clone of the repository") from None
    return sorted(p for p in listed.decode().split("\0") if p and (root / p).is_file())


def space_files(root: Path = ROOT) -> list[str]:
    """The repository files the Space receives (``requirements.txt`` is written separately)."""
    return [p for p in repository_files(root)
            if any(fnmatch.fnmatch(p, pat) for pat in SPACE_FILES) and not any(fnmatch.fnmatch(p, pat) for pat in NOT_SENT)]


def space_requirements(text: str) -> str:
    """``requirements.txt`` for a CPU Space: the same pins, torch as PyTorch's CPU build."""
    out = [f"# Written by scripts/publish_space.py from the repository's requirements.txt: torch from PyTorch's CPU index.",
           f"--extra-index-url {CPU_INDEX}"]
    pinned = False
    for line in text.splitlines():
        match = re.fullmatch(r"\s*torch\s*==\s*([0-9][0-9a-z.]*)\s*(#.*)?", line)
        if match:
            line, pinned = f"torch=={match.group(1)}+cpu", True
        out.append(line)
    if not pinned:
        raise ValueError("requirements.txt must pin torch exactly (torch==X.Y.Z) for the Space's CPU build")
    return "\n".join(out) + "\n"


def stage(dest: Path, root: Path = ROOT) -> list[str]:
    """Copy the Space's files into ``dest`` (which must be empty); returns their paths."""
    files = space_files(root)
    for path in files:
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, dest / path)
    (dest / "requirements.txt").write_text(space_requirements((root / "requirements.txt").read_text()))
    return sorted([*files, "requirements.txt"])


def readme_header(root: Path = ROOT) -> dict:
    """The README's YAML front matter: the Space's configuration."""
    import yaml

    text = (root / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not match:
        raise ValueError("README.md must start with a YAML header between two '---' lines (the Space's config)")
    return yaml.safe_load(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("space", help="the Space's repo id, USER/NAME (created if missing)")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--dry-run", action="store_true", help="list what would be sent; no network")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", args.space):
        parser.error(f"the Space must be named USER/NAME, got {args.space!r}")
    header = readme_header()
    with tempfile.TemporaryDirectory(prefix="symmflow-space-") as tmp:
        files = stage(Path(tmp))
        size = sum((Path(tmp) / f).stat().st_size for f in files)
        if args.dry_run:
            for f in files:
                print(f"{(Path(tmp) / f).stat().st_size:>12,}  {f}")
            print(f"{len(files)} files, {size / 1e6:.1f} MB -> https://huggingface.co/spaces/{args.space} (dry run: nothing sent)")
            return 0
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError

        api = HfApi()
        try:
            api.create_repo(args.space, repo_type="space", space_sdk=header["sdk"], private=args.private, exist_ok=True)
            # delete_patterns="*": files the Space holds that this upload does not carry are removed
            info = api.upload_folder(repo_id=args.space, repo_type="space", folder_path=tmp, delete_patterns="*",
                                     commit_message="Publish SymmFlow Studio (scripts/publish_space.py)")
        except HfHubHTTPError as err:
            print(f"error: the Hub refused the upload to {args.space}: {err}", file=sys.stderr)
            return 1
    print(f"uploaded {len(files)} files ({size / 1e6:.1f} MB): {info.commit_url}")
    print(f"the Space builds at https://huggingface.co/spaces/{args.space}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
