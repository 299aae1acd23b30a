"""Trust in a project's own skills, as direnv trusts an ``.envrc``.

A checkout can carry skills in ``./.harness/skills``; their instructions would enter the model's
prompt, so they are used only once the user has trusted that folder. The decision is remembered
in ``<home>/trusted-skills.json``, keyed by the folder's resolved path, with a hash of its
SKILL.md files: change one (or add or remove a skill) and the folder must be trusted again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.config import harness_home

PROJECT_SKILLS = Path(".harness") / "skills"
SKILL_FILE = "SKILL.md"
SKILL_FILES = (SKILL_FILE, "skill.md")  # the specification's name first; other agents accept the lower-case one
TRUST_FILE = "trusted-skills.json"
MAX_HASHED_BYTES = 1024 * 1024  # beyond this a SKILL.md is refused by the loader anyway


@dataclass(frozen=True)
class ProjectSkills:
    folder: Path  # the resolved ./.harness/skills
    names: tuple[str, ...]  # its skill folders, sorted
    digest: str  # sha256 over each skill's folder name and SKILL.md bytes


def _skill_folders(root: Path) -> list[Path]:
    """The folders the loader would read: the root itself if it is one skill, else its subfolders."""
    if any((root / name).exists() for name in SKILL_FILES):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _skill_file_bytes(folder: Path) -> bytes:
    """Both names the loader reads, so a changed lower-case skill.md asks for trust again too."""
    parts = []
    for name in SKILL_FILES:
        path = folder / name
        if not path.is_file():  # missing, or a device or pipe planted to hang the reader
            parts.append(b"(none)")
            continue
        with path.open("rb") as f:
            parts.append(f.read(MAX_HASHED_BYTES))
    return b"\0".join(parts)


def project_skills(cwd: Path | None = None) -> ProjectSkills | None:
    """The skills folder of the project at ``cwd`` (default: where the user stands), or None where
    there is none, it holds no skill folder, or it cannot be read (nothing to trust)."""
    try:
        root = ((cwd or Path.cwd()) / PROJECT_SKILLS).resolve()
        if not root.is_dir():
            return None
        folders = _skill_folders(root)
        digest = hashlib.sha256()
        for folder in folders:
            data = _skill_file_bytes(folder)
            for part in (folder.name.encode("utf-8", "surrogateescape"), str(len(data)).encode(), data):
                digest.update(part + b"\0")
    except OSError:
        return None
    if not folders:
        return None
    return ProjectSkills(folder=root, names=tuple(f.name for f in folders), digest=digest.hexdigest())


def trust_file() -> Path:
    return harness_home() / TRUST_FILE


def _trusted() -> dict[str, dict[str, object]]:
    """The remembered decisions; an unreadable or damaged file trusts nothing (never raises)."""
    try:
        data = json.loads(trust_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    folders = data.get("folders") if isinstance(data, dict) else None
    return {k: v for k, v in folders.items() if isinstance(v, dict)} if isinstance(folders, dict) else {}


def is_trusted(project: ProjectSkills) -> bool:
    return _trusted().get(str(project.folder), {}).get("sha256") == project.digest


def trust(project: ProjectSkills) -> None:
    """Remember that the user trusts this folder as it is now (written atomically)."""
    folders = _trusted()
    folders[str(project.folder)] = {"sha256": project.digest, "skills": list(project.names),
                                    "trusted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = trust_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{TRUST_FILE}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": 1, "folders": folders}, f, indent=2, sort_keys=True, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shown_names(project: ProjectSkills) -> str:
    """The skill names for a one-line message; a name with characters a terminal would act on is
    shown as a Python literal (its escapes visible)."""
    return ", ".join(n if n.isprintable() else repr(n) for n in project.names)
