"""Bounds on the files the app leaves in Gradio's cache.

Every image or GIF an event returns becomes a file in Gradio's cache (``GRADIO_TEMP_DIR``,
default ``/tmp/gradio``), and every upload too. Gradio deletes them by age only
(``gr.Blocks(delete_cache=...)``: the files of this app older than :data:`MAX_AGE`, every
:data:`SWEEP_EVERY` seconds, and all of them when the server stops). :class:`CacheCap` adds
a size bound, so that a burst of traffic cannot fill a Space's disk within the hour: past
:data:`MAX_FILES` files or :data:`MAX_BYTES` bytes, the oldest files go first (outputs before
uploads, which a user may send again without Gradio storing them anew), never one
younger than :data:`MIN_AGE` seconds (a browser may still be fetching it), and never an
example or initial value Gradio keeps for the page. It counts every file written in the cache
folder since the app started (on a Space the app is alone there), not only those Gradio tracks:
an output component's per-session copy records its files in a set that Gradio's clean-up never
sees.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

__all__ = ["CacheCap", "DELETE_CACHE", "cache_folder"]

MAX_AGE = 3600
SWEEP_EVERY = 300
DELETE_CACHE = (SWEEP_EVERY, MAX_AGE)
"""``gr.Blocks(delete_cache=...)``: (how often, older than) in seconds."""

MAX_FILES = 2000
MAX_BYTES = 200 * 2**20
MIN_AGE = 120.0
CHECK_EVERY = 15.0

log = logging.getLogger("symmflow.app")


def cache_folder() -> Path:
    """Gradio's cache folder: a file written here is served without being copied."""
    return Path(get_upload_folder())


class CacheCap:
    """Keeps this app's cached files within ``max_files`` and ``max_bytes`` (oldest first),
    checked every ``every`` seconds by a daemon thread (:meth:`start`) or on :meth:`trim`."""

    def __init__(self, blocks: gr.Blocks, max_files: int = MAX_FILES, max_bytes: int = MAX_BYTES,
                 min_age: float = MIN_AGE, every: float = CHECK_EVERY) -> None:
        self.blocks, self.max_files, self.max_bytes, self.min_age, self.every = blocks, max_files, max_bytes, min_age, every
        self.started = time.time() - 1.0  # file times are coarser than time.time() on some filesystems
        self._stop = threading.Event()

    def usage(self) -> tuple[int, int]:
        """(files, bytes) of this app's cached files."""
        entries = self._entries()
        return len(entries), sum(size for _, size, _ in entries)

    def trim(self) -> int:
        """Delete the oldest files until within the bounds, outputs before uploads (a user may
        send the same upload again: Gradio then does not store it anew); returns how many
        were deleted."""
        uploads = set(getattr(self.blocks, "upload_file_set", ()))
        entries = sorted(self._entries(), key=lambda e: (e[2] in uploads, e[0]))
        files, total = len(entries), sum(size for _, size, _ in entries)
        now, deleted = time.time(), 0
        for created, size, path in entries:
            if files <= self.max_files and total <= self.max_bytes:
                break
            if now - created < self.min_age:
                break  # the rest (and every upload, sorted last) waits for the next sweep
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            _remove_empty_parent(Path(path))
            files, total, deleted = files - 1, total - size, deleted + 1
        if deleted:
            log.info("cache over its bound: deleted the %d oldest file(s); %d file(s), %.1f MB remain", deleted, files, total / 2**20)
        return deleted

    def clear(self) -> int:
        """Delete every file this app put in the cache, examples included, and the folders they
        emptied: at exit (Gradio's own clean-up at shutdown is skipped when the server's thread
        is still waiting on open connections). Returns how many files were deleted."""
        paths = {path for _, _, path in self._entries(keep=False)}
        for block in list(self.blocks.blocks.values()):
            paths |= getattr(block, "keep_in_cache", set())
        for owner in list(self.blocks.temp_file_sets):
            paths |= set(owner)
            owner.clear()
        deleted = 0
        for path in paths:
            try:
                os.remove(path)
                deleted += 1
            except FileNotFoundError:
                continue
            _remove_empty_parent(Path(path))
        return deleted

    def start(self) -> CacheCap:
        threading.Thread(target=self._run, name="symmflow-cache-cap", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.trim()
            except Exception:  # noqa: BLE001 - a failed sweep must not end the thread
                log.exception("cache sweep failed")

    def _entries(self, keep: bool = True) -> list[tuple[float, int, str]]:
        """(created, bytes, path) of the files written in the cache folder since the start,
        without those Gradio keeps for the page (unless ``keep`` is False)."""
        kept: set[str] = set()
        if keep:
            for block in list(self.blocks.blocks.values()):
                kept |= getattr(block, "keep_in_cache", set())
        entries = []
        for folder, _, names in os.walk(cache_folder()):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    stat = os.stat(path)
                except FileNotFoundError:
                    continue
                if stat.st_ctime >= self.started and path not in kept:
                    entries.append((stat.st_ctime, stat.st_size, path))
        return entries


def _remove_empty_parent(path: Path) -> None:
    """Gradio stores each file in a folder named by its hash: remove that folder once empty."""
    parent, root = path.parent, cache_folder().resolve()
    if parent.resolve() != root and parent.resolve().is_relative_to(root):
        try:
            parent.rmdir()
        except OSError:  # not empty (or already gone)
            pass
