"""``python app.py`` stopped by SIGTERM (how a host such as a Space stops it) while portraits are
still being generated: it exits with status 0 and leaves nothing in its Gradio cache."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from served import connect, free_port, start  # noqa: E402


def test_sigterm_while_busy_exits_cleanly(tmp_path):
    from gradio_client import handle_file

    cache = tmp_path / "gradio"
    cache.mkdir()
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = start(ROOT, env, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            client = connect(f"http://127.0.0.1:{port}/", server, time.perf_counter(), timeout=180)
        except SystemExit as stop:
            pytest.fail(f"{stop}\n{log.read_text()[-3000:]}")
        mask = handle_file(str(ROOT / "assets" / "faces" / "mask_0.png"))
        editor = {"background": mask, "layers": [], "composite": mask, "id": None}
        client.predict(editor, 2, 0, "euler", 1, api_name="/generate_portrait")  # the model is loaded
        for seed in range(4):  # queued behind each other: the server stays busy
            client.submit(editor, 25, seed, "euler", 1, api_name="/generate_portrait")
        time.sleep(1.0)  # the first of them is running
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "terminate called" not in text and "Traceback" not in text, text[-3000:]
    assert not any(p.is_file() for p in cache.rglob("*")), sorted(cache.rglob("*"))
