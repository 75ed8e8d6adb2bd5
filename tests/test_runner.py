"""Running the service: the shared socket of multi-worker mode keeps TCP_NODELAY; two servers
share one feedback store and one versions folder."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from genrec.config import ConfigError
from genrec.lifecycle import set_current
from genrec.serving.runner import tcp_socket
from genrec.store.database import FeedbackStore


def test_accepted_connections_get_tcp_nodelay_from_asyncio():
    # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP; accepted sockets
    # inherit proto from the listener (uvicorn issue 3149).
    sock = tcp_socket("127.0.0.1", 0)
    try:
        sock.listen()
        client = socket.create_connection(sock.getsockname())
        accepted, _ = sock.accept()
        assert sock.proto == socket.IPPROTO_TCP
        assert accepted.proto == socket.IPPROTO_TCP
        assert sock.get_inheritable()
        accepted.close()
        client.close()
    finally:
        sock.close()


def test_a_port_in_use_is_a_clear_error():
    taken = tcp_socket("127.0.0.1", 0)
    taken.listen()
    try:
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            tcp_socket("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


# ----------------------------------------------------------- several servers, one store
def start_server(root: Path, db: str, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "genrec.cli", "serve", "--model-dir", str(root), "--db", db,
         "--port", str(port), "--reload-poll", "0.5", "--insecure-dev", "--log-level", "warning",
         "--no-access-log"],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}"


def wait_for(url: str, proc: subprocess.Popen, log: Path, want: str | None = None) -> str:
    """The served version once /readyz answers (and, with ``want``, serves that version)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {log.read_text()[-2000:]}")
        try:
            answer = httpx.get(f"{url}/readyz", timeout=2)
            version = answer.json().get("model_version", "")
            if answer.status_code == 200 and (want is None or version.startswith(want)):
                return str(version)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not serve {want or 'a model'} within 120 s: {log.read_text()[-2000:]}")


def check_two_servers_share_one_store(tmp_path: Path, model_dir: Path, db: str) -> None:
    root = tmp_path / "models"  # one versions folder, as on shared storage
    shutil.copytree(model_dir, root / "v0001")
    servers = [start_server(root, db, tmp_path / f"server{i}.log") for i in (0, 1)]
    try:
        for i, (proc, url) in enumerate(servers):
            assert wait_for(url, proc, tmp_path / f"server{i}.log").startswith("v0001")
        event = {"user_id": "u1", "item_id": "a1", "event": "click"}
        answers = [httpx.post(f"{url}/v1/feedback", json=event, timeout=10,
                              headers={"Idempotency-Key": "retry-across-servers"})
                   for _, url in servers]  # fmt: skip
        assert [a.status_code for a in answers] == [201, 200]
        assert [a.json()["stored"] for a in answers] == [True, False]
        assert answers[0].json()["feedback_id"] == answers[1].json()["feedback_id"]
        other = httpx.post(f"{servers[1][1]}/v1/feedback", json={**event, "item_id": "a2"})
        assert other.status_code == 201
        store = FeedbackStore(db)
        try:
            stored = store.feedback_frame()
        finally:
            store.close()
        assert sorted(stored["item_id"]) == ["a1", "a2"]
        # A new version, promoted once (as genrec finetune or one server's learner does):
        shutil.copytree(root / "v0001", root / "v0002")
        set_current(root, "v0002")
        for i, (proc, url) in enumerate(servers):
            wait_for(url, proc, tmp_path / f"server{i}.log", want="v0002")
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.slow
def test_two_servers_share_one_sqlite_store_and_one_versions_folder(tmp_path, tiny_model_dir):
    db = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    check_two_servers_share_one_store(tmp_path, tiny_model_dir, db)


def test_two_servers_share_one_postgres_store_and_one_versions_folder(
    tmp_path, tiny_model_dir, postgres_url
):
    check_two_servers_share_one_store(tmp_path, tiny_model_dir, postgres_url)
