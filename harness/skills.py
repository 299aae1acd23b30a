"""Skills: folders with a SKILL.md (Agent Skills format), found, validated and disclosed
progressively.

Only each skill's name and description enter the stable system prompt (sorted, so the bytes
never change). The model loads a skill's body through the ``load_skill`` tool and reads its
other files through ``read_skill_file``; both results are appended to the transcript, never
spliced into the system prompt, so the cached prefix survives. One broken skill never stops
the others from loading: each problem is reported with its file and line.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.config import harness_home
from harness.skill_trust import PROJECT_SKILLS, SKILL_FILE, SKILL_FILES, is_trusted, project_skills
from harness.tools import Tool, Workspace, tool
from harness.tools.files import MAX_READ_BYTES, read_capped
from harness.tools.process import KILL_GRACE_S, PROCESS_TIMEOUT_S, run_process

MAX_NAME = 64
MAX_DESCRIPTION = 1024
MAX_COMPATIBILITY = 500
MAX_SKILL_BYTES = 256 * 1024  # a SKILL.md is instructions, not data
MAX_LISTED_FILES = 200
SCRIPTS_DIR = "scripts"  # the only folder of a skill whose files run_skill_script runs


@dataclass
class Skill:
    name: str
    description: str
    path: Path  # the skill's folder
    body: str
    files: list[str] = field(default_factory=list)  # other files, relative to path, sorted
    source: str = ""  # which search-path entry it came from
    license: str | None = None
    compatibility: str | None = None
    allowed_tools: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # broken soft rules, "file:line: message"


@dataclass
class SkillError:
    path: str
    message: str
    line: int | None = None
    level: str = "error"  # or "warning": the skill loads anyway (a broken soft rule, a shadowed skill)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class SkillSet:
    skills: list[Skill] = field(default_factory=list)
    errors: list[SkillError] = field(default_factory=list)

    def get(self, name: str) -> Skill | None:
        return next((s for s in self.skills if s.name == name), None)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.skills]

    def index(self) -> str:
        """The skills section of the system prompt: names and descriptions only, sorted."""
        if not self.skills:
            return ""
        lines = "\n".join(f"- {s.name}: {' '.join(s.description.split())}" for s in self.skills)
        return ("# Skills\n\nSkills hold instructions for particular kinds of task. When the user's task matches "
                "one, call load_skill with its name first and follow what it says.\n\n" + lines)


# --- reading one skill ------------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """What keeps ``name`` (NFKC-normalised) from being a name the Agent Skills specification
    allows, or None: at most 64 lower-case Unicode letters and digits, hyphens between them."""
    if not name:
        return "is empty"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters; the limit is {MAX_NAME}"
    if name != name.lower():
        return "must be lower-case"
    if name.startswith("-") or name.endswith("-"):
        return "cannot start or end with a hyphen"
    if "--" in name:
        return "cannot contain two hyphens in a row"
    bad = sorted({c for c in name if not (c.isalnum() or c == "-")})
    if bad:
        return f"may hold only letters, digits and hyphens, not {''.join(bad)!r}"
    return None


def normal_name(name: str) -> str:
    """The name as the specification compares names: NFKC-normalised, surrounding space removed."""
    return unicodedata.normalize("NFKC", name.strip())


def _yaml_kind(value: object) -> str:
    """What YAML made of an unquoted value, in words, for a message that says to quote it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _fields(front: str) -> dict[str, tuple[int, str | None]]:
    """Each top-level key's file line and, for a plain value, its text as written.

    Only called on front matter that safe_load already accepted, so composing it cannot fail."""
    node = yaml.compose(front, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        return {}
    found: dict[str, tuple[int, str | None]] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value not in found:
            # line 1 of the file is the opening ---, so the front matter's line 0 is line 2
            found[key.value] = (key.start_mark.line + 2, value.value if isinstance(value, yaml.ScalarNode) else None)
    return found


def _text_field(meta: dict[str, Any], fields: dict[str, tuple[int, str | None]], key: str,
                where: str) -> tuple[str | None, SkillError | None]:
    """A required text field, or the precise reason it cannot be used."""
    line, written = fields.get(key, (2, None))
    if key not in meta:
        return None, SkillError(where, f"the required field '{key}' is missing", line)
    value = meta[key]
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, SkillError(where, f"the required field '{key}' is empty", line)
    if not isinstance(value, str):
        shown = written if written is not None else repr(value)
        return None, SkillError(where, f"{key} must be a string; YAML read {shown} as {_yaml_kind(value)}: quote it "
                                f"({key}: \"{shown}\")", line)
    return value, None


def find_skill_file(folder: Path) -> Path:
    """The folder's SKILL.md, or its lower-case skill.md (which other agents accept too)."""
    for name in SKILL_FILES:
        if (folder / name).exists():
            return folder / name
    return folder / SKILL_FILE


def load_skill_dir(folder: Path, source: str = "") -> tuple[Skill | None, list[SkillError]]:
    """One skill folder: the Skill and any warnings about it, or None and why it cannot be used.

    Only what makes a skill unusable refuses it (no front matter, bad YAML, no usable name or
    description); a rule a public skill may break (a long description, a name that differs from
    its folder, a malformed optional field) is a warning and the skill loads."""
    skill_md = find_skill_file(folder)
    where = str(skill_md)

    def fail(message: str, line: int | None = None) -> tuple[None, list[SkillError]]:
        return None, [SkillError(where, message, line)]

    try:
        if not skill_md.is_file():
            return fail(f"no {SKILL_FILE} in this folder")
        size = skill_md.stat().st_size
        if size > MAX_SKILL_BYTES:
            return fail(f"{skill_md.name} is {size:,} bytes; the limit is {MAX_SKILL_BYTES:,} "
                        "(move long material into references/ files)")
        data = skill_md.read_bytes()
    except OSError as exc:
        return fail(f"cannot read it: {exc.strerror or exc}")
    if b"\x00" in data:
        return fail("it is a binary file, not Markdown text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return fail(f"it is not UTF-8 text (byte {exc.start})")
    text = text.replace("\r\n", "\n")
    if not text.startswith("---\n"):
        return fail("no YAML front matter: the file must start with a '---' line, then name and description", 1)
    end = text.find("\n---", 3)
    if end == -1:
        return fail("the front matter is not closed with a '---' line", 1)
    front = text[4:end + 1]
    body = text[end + 4:].lstrip("-").lstrip("\n")
    try:
        meta = yaml.safe_load(front) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return fail(f"the front matter is not valid YAML: {problem}", mark.line + 2 if mark else None)
    if not isinstance(meta, dict):
        return fail("the front matter must be a mapping of fields (name: ..., description: ...)", 2)
    fields = _fields(front)

    def line_of(key: str) -> int | None:
        return fields[key][0] if key in fields else None

    errors: list[SkillError] = []
    warnings: list[SkillError] = []

    def warn(message: str, key: str) -> None:
        warnings.append(SkillError(where, message, line_of(key), level="warning"))

    raw_name, problem = _text_field(meta, fields, "name", where)
    name = normal_name(raw_name) if raw_name is not None else ""
    if problem:
        errors.append(problem)
    elif (why := name_problem(name)) is not None:
        errors.append(SkillError(where, f"name {name!r} {why} (a name is at most {MAX_NAME} lower-case letters and "
                                 "digits, with single hyphens between them)", line_of("name")))
    elif name != normal_name(folder.name):
        warn(f"name {name!r} differs from its folder {folder.name!r} (the specification asks them to match)", "name")
    description, problem = _text_field(meta, fields, "description", where)
    if problem:
        errors.append(problem)
    elif len(description or "") > MAX_DESCRIPTION:
        warn(f"the description is {len(description or '')} characters; the specification's limit is "
             f"{MAX_DESCRIPTION} (all of it enters the prompt)", "description")
    if errors:
        return None, errors
    compatibility = meta.get("compatibility")
    if compatibility is not None and not isinstance(compatibility, str):
        warn(f"'compatibility' should be text, not {_yaml_kind(compatibility)}; it is ignored", "compatibility")
        compatibility = None
    elif compatibility is not None and len(compatibility) > MAX_COMPATIBILITY:
        warn(f"'compatibility' is {len(compatibility)} characters; the specification's limit is "
             f"{MAX_COMPATIBILITY}", "compatibility")
    metadata = meta.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        warn(f"'metadata' should be a mapping, not {_yaml_kind(metadata)}; it is ignored", "metadata")
        metadata = {}
    allowed = meta.get("allowed-tools")
    if allowed is None:
        allowed = []
    elif isinstance(allowed, str):
        allowed = allowed.split()
    elif not isinstance(allowed, list):
        warn("'allowed-tools' should be a space-separated list of tool names; it is ignored", "allowed-tools")
        allowed = []
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, f), folder)
            if rel != skill_md.name and not f.startswith("."):
                files.append(rel)
        if len(files) >= MAX_LISTED_FILES:
            break
    license_ = meta.get("license")
    return Skill(name=name, description=str(description).strip(), path=folder, body=body, files=files,
                 source=source, license=str(license_) if license_ is not None else None,
                 compatibility=compatibility, allowed_tools=[str(a) for a in allowed],
                 metadata=metadata, warnings=[str(w) for w in warnings]), warnings


# --- discovery --------------------------------------------------------------------------------


def bundled_skills_dir() -> Path:
    """The bundled skills: beside the package in a checkout, under <prefix>/share once installed."""
    here = Path(__file__).resolve().parent.parent / "skills"
    return here if here.is_dir() else Path(sys.prefix) / "share" / "harness" / "skills"


def default_skill_paths(extra: list[str] | None = None, cwd: Path | None = None,
                        project: bool | None = None) -> list[tuple[Path, str]]:
    """Search path in precedence order: --skills/HARNESS_SKILLS, ./.harness/skills, the user's, bundled.

    The project's ./.harness/skills (an untrusted checkout's, perhaps) is included when ``project``
    is True, left out when False, and by default only where the user has trusted it (skill_trust).
    A folder named twice is searched once, at its first place."""
    paths: list[tuple[Path, str]] = []
    for p in extra or []:
        paths.append((Path(p).expanduser(), "--skills"))
    for p in filter(None, os.environ.get("HARNESS_SKILLS", "").split(os.pathsep)):
        paths.append((Path(p).expanduser(), "HARNESS_SKILLS"))
    if project is None:
        found = project_skills(cwd)
        project = found is not None and is_trusted(found)
    if project:
        paths.append(((cwd or Path.cwd()) / PROJECT_SKILLS, "project"))
    paths.append((harness_home() / "skills", "user"))
    paths.append((bundled_skills_dir(), "bundled"))
    seen: set[Path] = set()
    unique = []
    for path, source in paths:
        key = resolved_path(path)
        if key not in seen:
            seen.add(key)
            unique.append((path, source))
    return unique


def resolved_path(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: keep it as written; loading reports it
        return path.absolute()


def load_skills(paths: list[tuple[Path, str]] | list[Path] | list[str] | None = None) -> SkillSet:
    """Every skill under the given roots (each root holds skill folders, or is one itself).

    Earlier roots win: a name defined again later is shadowed, and that is reported."""
    roots = default_skill_paths() if paths is None else [
        p if isinstance(p, tuple) else (Path(p), str(p)) for p in paths
    ]
    found: dict[str, Skill] = {}
    errors: list[SkillError] = []
    for root, source in roots:
        if not root.exists():
            continue
        try:
            folders = [root] if any((root / f).exists() for f in SKILL_FILES) else sorted(
                p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError as exc:
            errors.append(SkillError(str(root), f"cannot list this skills folder: {exc.strerror or exc}"))
            continue
        for folder in folders:
            skill, problems = load_skill_dir(folder, source)
            errors += problems
            if skill is None:
                continue
            if skill.name in found:
                winner = found[skill.name]
                errors.append(SkillError(str(find_skill_file(folder)),
                                         f"skill {skill.name!r} is shadowed by {winner.path} ({winner.source})",
                                         level="warning"))
                continue
            found[skill.name] = skill
    return SkillSet(skills=[found[n] for n in sorted(found)], errors=errors)


# --- use ----------------------------------------------------------------------------------------


def expand(skill: Skill, arguments: str = "") -> str:
    """The skill's body as a user turn, with $ARGUMENTS and $1, $2... substituted."""
    try:
        positional = shlex.split(arguments)
    except ValueError:
        positional = arguments.split()
    body = skill.body
    had_placeholder = "$ARGUMENTS" in body or re.search(r"\$\d", body) is not None
    body = body.replace("$ARGUMENTS", arguments)
    body = re.sub(r"\$(\d+)", lambda m: positional[int(m.group(1)) - 1]
                  if 0 < int(m.group(1)) <= len(positional) else "", body)
    if arguments and not had_placeholder:
        body = f"{body.rstrip()}\n\nARGUMENTS: {arguments}"
    return body.strip()


def run_skill_script_in(skill: Skill, script: str, args: str, workspace: Workspace) -> str:
    """Run one of ``skill``'s scripts (only files under its ``scripts/`` folder may run).

    The script runs with the workspace as working directory, so the paths the model passes in
    ``args`` mean what they mean to the file tools; the environment gives it
    ``HARNESS_WORKSPACE`` (the workspace root) and ``HARNESS_SKILL_DIR`` (the skill's folder, for
    its own files). A ``.py`` script runs with this Python, any other with bash.
    """
    fd, rel = Workspace(skill.path).open_file(script)  # symlinks resolved inside the skill, or refused
    os.close(fd)
    if not rel.startswith(SCRIPTS_DIR + "/"):
        scripts = [f for f in skill.files if f.startswith(SCRIPTS_DIR + "/")]
        raise PermissionError(f"{script!r} is not in the {SCRIPTS_DIR}/ folder of skill {skill.name!r}; only its "
                              f"scripts can run: {', '.join(scripts) or '(none)'}")
    target = skill.path.resolve() / rel
    argv = [sys.executable, str(target)] if target.suffix == ".py" else ["bash", str(target)]
    try:
        extra = shlex.split(args)
    except ValueError as exc:
        raise ValueError(f"args could not be split like a command line ({exc}); quote them properly") from None
    env = {"HARNESS_WORKSPACE": str(workspace.root), "HARNESS_SKILL_DIR": str(skill.path.resolve())}
    return run_process(argv + extra, str(workspace.root), PROCESS_TIMEOUT_S, env=env)


def skill_tools(skills: SkillSet, workspace: str | os.PathLike[str] | Workspace = ".") -> list[Tool]:
    """The tools through which the model loads skills, reads their files and runs their scripts
    (in ``workspace``)."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)

    def find(name: str) -> Skill:
        skill = skills.get(name)
        if skill is None:
            raise LookupError(f"there is no skill named {name!r}; available: {', '.join(skills.names) or '(none)'}")
        return skill

    @tool
    def load_skill(name: str) -> str:
        """Load a skill's instructions by name (see the Skills list).

        Args:
            name: the skill's name
        """
        skill = find(name)
        listing = "".join(f"\n- {f}" for f in skill.files)
        files = f"\n\nFiles in this skill (read them with read_skill_file):{listing}" if skill.files else ""
        return f"# Skill: {skill.name}\n\n{skill.body.strip()}{files}"

    @tool
    def read_skill_file(skill: str, path: str) -> str:
        """Read one of a skill's own files (references, templates, scripts).

        Args:
            skill: the skill's name
            path: the file's path inside the skill folder, e.g. references/guide.md
        """
        try:  # opened as the file tools open: no symlink out of the folder, no window, regular files only
            fd, _ = Workspace(find(skill).path).open_file(path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise FileNotFoundError(f"{path} is not a file of skill {skill!r}") from exc
        data, cut = read_capped(fd, MAX_READ_BYTES)
        note = f"\n[only the first {MAX_READ_BYTES:,} bytes of this file were read]" if cut else ""
        return data.decode("utf-8", errors="replace") + note

    @tool(needs_approval=True, timeout_s=PROCESS_TIMEOUT_S + KILL_GRACE_S + 5)
    def run_skill_script(skill: str, script: str, args: str = "") -> str:
        """Run a script from a skill's scripts/ folder, in the workspace.

        Args:
            skill: the skill's name
            script: the script's path inside the skill folder, e.g. scripts/tree.py
            args: command-line arguments, as you would type them
        """
        return run_skill_script_in(find(skill), script, args, ws)

    # Only the tools some skill can use: every extra tool is a chance for a small model to stray.
    tools = [load_skill]
    if any(s.files for s in skills.skills):
        tools.append(read_skill_file)
    if any(f.startswith(SCRIPTS_DIR + "/") for s in skills.skills for f in s.files):
        tools.append(run_skill_script)
    # The valid names are part of the schema, so constrained decoding cannot invent a skill.
    for t in tools:
        key = "name" if t.name == "load_skill" else "skill"
        t.parameters["properties"][key]["enum"] = skills.names
    return tools


SKILL_TEMPLATE = """---
name: {name}
description: {description}
---

# {title}

Describe, step by step, what the agent should do when this skill is used.

1. First step.
2. Second step.

Arguments given after /{name} are available as $ARGUMENTS (and $1, $2, ...).
"""


def new_skill(name: str, root: Path | None = None, description: str | None = None) -> Path:
    """Scaffold a valid skill folder (in the user's skills directory by default)."""
    why = name_problem(normal_name(name))
    if why is not None or normal_name(name) != name:
        raise ValueError(f"skill name {name!r} {why or 'is not NFKC-normalised'}: use lower-case letters, digits and "
                         "single hyphens between them")
    folder = (root or harness_home() / "skills") / name
    if folder.exists():
        raise FileExistsError(f"{folder} already exists")
    folder.mkdir(parents=True)
    text = description or f"TODO: say what {name} does and when to use it."
    (folder / SKILL_FILE).write_text(SKILL_TEMPLATE.format(
        name=name, title=name.replace("-", " ").capitalize(),
        description=json.dumps(text, ensure_ascii=False)))  # a JSON string is valid YAML, colons and all
    return folder
