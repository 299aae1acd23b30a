"""Skills: loading valid folders in several styles, reporting broken ones precisely, precedence
and shadowing, progressive disclosure, invocation with arguments, scripts under approval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import skills as sk
from harness.agent import Agent
from harness.skills import expand, load_skill_dir, load_skills, new_skill, skill_tools
from scripted import Reply, ScriptedServer
from harness.tools import ToolSet, allow_all


def write(folder: Path, text: str | bytes, name: str = "SKILL.md") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


MINIMAL = "---\nname: {n}\ndescription: Does {n} things.\n---\nDo the thing with $ARGUMENTS.\n"


@pytest.fixture
def good(tmp_path) -> Path:
    root = tmp_path / "good"
    write(root / "minimal", MINIMAL.format(n="minimal"))
    rich = write(root / "with-files", "---\nname: with-files\ndescription: >-\n  Folded description\n  on two lines.\n"
                 "license: MIT\n---\n# Body\nRun scripts/hello.py, see references/ref.md\n")
    write(rich / "scripts", "print('hello from', __import__('os').getcwd())\n", "hello.py")
    write(rich / "references", "# Reference\nDetails.\n", "ref.md")
    write(rich / "assets", b"\x89PNG\x00binary", "logo.png")
    # A folder written for another harness: extra fields, metadata, allowed-tools, CRLF line ends.
    write(root / "other-harness", "---\r\nname: other-harness\r\ndescription: \"Made elsewhere: works here.\"\r\n"
          "license: Apache-2.0\r\ncompatibility: Requires git\r\nallowed-tools: Bash(git:*) Read\r\n"
          "metadata:\r\n  author: someone\r\n  version: \"2.1\"\r\nx-vendor-field: [1, 2]\r\n---\r\nBody $1 and $2.\r\n")
    return root


def test_valid_skills_in_several_styles(good):
    result = load_skills([good])
    assert result.errors == []
    assert result.names == ["minimal", "other-harness", "with-files"]
    rich = result.get("with-files")
    assert rich.description == "Folded description on two lines." and rich.license == "MIT"
    assert rich.files == ["assets/logo.png", "references/ref.md", "scripts/hello.py"]
    other = result.get("other-harness")
    assert other.allowed_tools == ["Bash(git:*)", "Read"]
    assert other.metadata == {"author": "someone", "version": "2.1"}
    assert other.compatibility == "Requires git" and other.body.strip() == "Body $1 and $2."


BROKEN = {
    "no-front-matter": ("# Just markdown\n", "no YAML front matter", 1),
    "bad-yaml": ("---\nname: bad-yaml\ndescription: [unclosed\n---\nx\n", "not valid YAML", 4),
    "no-description": ("---\nname: no-description\n---\nx\n", "'description' is missing", 2),
    "no-name": ("---\ndescription: d\n---\nx\n", "'name' is missing", 2),
    "empty-name": ("---\nname: ''\ndescription: d\n---\nx\n", "'name' is empty", 2),
    "null-description": ("---\nname: null-description\ndescription:\n---\nx\n", "'description' is empty", 3),
    "number-name": ("---\nname: 123\ndescription: d\n---\nx\n",
                    "name must be a string; YAML read 123 as a number: quote it", 2),
    "boolean-description": ("---\nname: boolean-description\ndescription: yes\n---\nx\n",
                            "description must be a string; YAML read yes as a boolean: quote it", 3),
    "date-name": ("---\nname: 2024-01-31\ndescription: d\n---\nx\n", "YAML read 2024-01-31 as a date", 2),
    "Bad_Name": ("---\nname: Bad_Name\ndescription: d\n---\nx\n", "must be lower-case", 2),
    "under_score": ("---\nname: under_score\ndescription: d\n---\nx\n", "not '_'", 2),
    "two-hyphens": ("---\nname: two--hyphens\ndescription: d\n---\nx\n", "two hyphens in a row", 2),
    "edge-hyphen": ("---\nname: edge-hyphen-\ndescription: d\n---\nx\n", "start or end with a hyphen", 2),
    "long-name": ("---\nname: " + "n" * 65 + "\ndescription: d\n---\nx\n", "65 characters; the limit is 64", 2),
    "unclosed": ("---\nname: unclosed\ndescription: d\n", "not closed", 1),
    "oversize": ("---\nname: oversize\ndescription: d\n---\n" + "y" * 300_000, "the limit is 262,144", None),
    "binary": (b"---\nname: binary\x00\n---", "binary file", None),
    "latin1": ("---\nname: latin1\ndescription: caf\xe9\n---\n".encode("latin-1"), "not UTF-8", None),
    "not-a-mapping": ("---\n- a\n- b\n---\n", "must be a mapping", 2),
    "empty-folder": (None, "no SKILL.md", None),
}


@pytest.mark.parametrize("folder", sorted(BROKEN))
def test_each_broken_skill_is_reported_with_file_and_line(tmp_path, folder):
    text, message, line = BROKEN[folder]
    target = tmp_path / folder
    target.mkdir()
    if text is not None:
        write(target, text)
    skill, errors = load_skill_dir(target)
    assert skill is None
    assert any(message in e.message for e in errors), errors
    assert errors[0].path.endswith(f"{folder}/SKILL.md")
    if line is not None:
        assert errors[0].line == line


def test_broken_skills_never_stop_the_others(good, tmp_path):
    for folder, (text, _, _) in BROKEN.items():
        (good / folder).mkdir()
        if text is not None:
            write(good / folder, text)
    result = load_skills([good])
    assert result.names == ["minimal", "other-harness", "with-files"]
    assert len({e.path for e in result.errors}) == len(BROKEN)


def test_unreadable_skill_and_unreadable_root(good, monkeypatch):
    real_read = Path.read_bytes

    def deny(self):
        if self.parent.name == "minimal":
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    result = load_skills([good])
    assert "minimal" not in result.names and "Permission denied" in str(result.errors[0])

    def no_listing(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", no_listing)
    result = load_skills([good])
    assert result.skills == [] and "cannot list this skills folder" in result.errors[0].message


def test_precedence_and_shadowing(tmp_path, monkeypatch):
    high, low = tmp_path / "high", tmp_path / "low"
    write(high / "shared", "---\nname: shared\ndescription: High.\n---\nhigh\n")
    write(low / "shared", "---\nname: shared\ndescription: Low.\n---\nlow\n")
    result = load_skills([high, low])
    assert result.get("shared").description == "High."
    assert result.errors[0].level == "warning" and "shadowed by" in result.errors[0].message


def test_default_search_path_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_SKILLS", str(tmp_path / "env"))
    write(tmp_path / "flag" / "dup", "---\nname: dup\ndescription: From the flag.\n---\n")
    write(tmp_path / "env" / "dup", "---\nname: dup\ndescription: From the env.\n---\n")
    write(tmp_path / "proj" / ".harness" / "skills" / "dup", "---\nname: dup\ndescription: Project.\n---\n")
    new_skill("mine")  # the user's skills directory
    paths = sk.default_skill_paths([str(tmp_path / "flag")], cwd=tmp_path / "proj", project=True)
    assert [source for _, source in paths] == ["--skills", "HARNESS_SKILLS", "project", "user", "bundled"]
    result = load_skills(paths)
    assert result.get("dup").description == "From the flag."
    assert {"mine", "plan-task", "summarize-path", "review-code"} <= set(result.names)
    assert sum(e.level == "warning" for e in result.errors) == 2


def test_bundled_skills_are_valid_and_substantial():
    result = load_skills([sk.bundled_skills_dir()])
    assert result.errors == [] and len(result.skills) >= 3
    for skill in result.skills:
        assert len(skill.body.split()) > 60, f"{skill.name} is a placeholder"


def test_index_is_names_and_descriptions_only_and_stable(good):
    result = load_skills([good])
    index = result.index()
    assert "- minimal: Does minimal things." in index
    assert "Do the thing" not in index  # bodies stay out of the system prompt
    assert load_skills([good]).index() == index


def test_expand_substitutes_arguments():
    result = load_skills([sk.bundled_skills_dir()])
    assert expand(result.get("plan-task"), "tidy my desk").endswith("The task: tidy my desk")
    other = sk.Skill("x", "d", Path("."), "Use $1 then $2; all: $ARGUMENTS")
    assert expand(other, 'a "b c"') == 'Use a then b c; all: a "b c"'
    plain = sk.Skill("y", "d", Path("."), "No placeholders.")
    assert expand(plain, "extra words") == "No placeholders.\n\nARGUMENTS: extra words"


def test_skill_tools_load_read_and_run_under_approval(good):
    result = load_skills([good])
    ts = ToolSet(skill_tools(result))
    assert ts.get("load_skill").parameters["properties"]["name"]["enum"] == result.names
    loaded = ts.run_sync("load_skill", {"name": "with-files"})
    assert "Run scripts/hello.py" in loaded.output and "- references/ref.md" in loaded.output
    assert "Details." in ts.run_sync("read_skill_file", {"skill": "with-files", "path": "references/ref.md"}).output
    escape = ts.run_sync("read_skill_file", {"skill": "with-files", "path": "../minimal/SKILL.md"})
    assert not escape.ok and "PathEscape" in escape.output
    denied = ts.run_sync("run_skill_script", {"skill": "with-files", "script": "scripts/hello.py"})
    assert not denied.ok and "did not approve" in denied.output
    ran = ts.run_sync("run_skill_script", {"skill": "with-files", "script": "scripts/hello.py"}, allow_all)
    assert ran.output.strip() == f"hello from {Path.cwd()}"  # the workspace ('.' by default)
    assert not ts.run_sync("load_skill", {"name": "nope"}).ok  # the enum names the valid ones


@pytest.mark.parametrize("script", ["SKILL.md", "references/ref.md", "scripts/../SKILL.md", "scripts/up",
                                    "scripts/outside"])
def test_only_files_under_scripts_can_run(good, tmp_path, script):
    (tmp_path / "evil.sh").write_text("echo pwned > pwned\n")
    os.symlink("../SKILL.md", good / "with-files" / "scripts" / "up")
    os.symlink(tmp_path / "evil.sh", good / "with-files" / "scripts" / "outside")
    ts = ToolSet(skill_tools(load_skills([good]), tmp_path))
    result = ts.run_sync("run_skill_script", {"skill": "with-files", "script": script}, allow_all)
    assert not result.ok and not (tmp_path / "pwned").exists()


def test_skill_scripts_run_in_the_workspace_and_are_told_where_things_are(good, tmp_path):
    write(good / "with-files" / "scripts", "import os\nprint(os.getcwd(), os.environ['HARNESS_WORKSPACE'], "
          "os.environ['HARNESS_SKILL_DIR'])\n", "where.py")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    ts = ToolSet(skill_tools(load_skills([good]), workspace))
    ran = ts.run_sync("run_skill_script", {"skill": "with-files", "script": "scripts/where.py"}, allow_all)
    assert ran.output.split() == [str(workspace), str(workspace), str(good / "with-files")]


def test_user_invocation_expands_into_the_users_turn(good):
    server = ScriptedServer([Reply("ok")])
    agent = Agent(client=server.client(), skills=load_skills([good]), constrained=False)
    agent.run("the garden", skill="minimal")
    messages = server.requests[0]["messages"]
    assert messages[-1] == {"role": "user", "content": "Do the thing with the garden."}
    assert "- minimal: Does minimal things." in messages[0]["content"]
    with pytest.raises(Exception, match="no skill named 'nope'"):
        agent.run("x", skill="nope")


def test_skills_new_and_list_cli(tmp_path):
    env = {**os.environ, "HARNESS_HOME": str(tmp_path)}
    made = subprocess.run([sys.executable, "-m", "harness.cli", "skills", "new", "my-skill"], env=env,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    listed = subprocess.run([sys.executable, "-m", "harness.cli", "skills", "list", "--json"], env=env,
                            capture_output=True, text=True, cwd=tmp_path)
    data = json.loads(listed.stdout)
    mine = next(s for s in data["skills"] if s["name"] == "my-skill")
    assert mine["source"] == "user" and data["errors"] == []
    bad = subprocess.run([sys.executable, "-m", "harness.cli", "skills", "new", "Bad Name"], env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "lower-case" in bad.stderr and "Traceback" not in bad.stderr


def test_every_bundled_skill_folder_ships_in_the_wheel():
    import tomllib

    root = Path(__file__).resolve().parent.parent
    data_files = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    for dirpath, _, filenames in os.walk(root / "skills"):
        if filenames:
            rel = os.path.relpath(dirpath, root)
            assert f"share/harness/{rel}" in data_files, f"{rel} is missing from [tool.setuptools.data-files]"


@pytest.mark.parametrize("target", ["/etc/passwd", "/dev/zero"])
def test_read_skill_file_never_follows_a_link_out_of_the_skill(tmp_path, target):
    folder = tmp_path / "linky"
    (folder / "references").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: linky\ndescription: d\n---\nBody.\n")
    (folder / "references" / "notes.md").symlink_to(target)
    ts = ToolSet(skill_tools(load_skills([tmp_path])))
    result = ts.run_sync("read_skill_file", {"skill": "linky", "path": "references/notes.md"})
    assert not result.ok and "root:" not in result.output


# A rule a public skill may break is a warning and the skill loads: (text, message, line).
# The description is 1,068 characters, like one of Anthropic's own public skills.
WARNED = {
    "long-description": ("---\nname: long-description\ndescription: " + "x" * 1068 + "\n---\nBody.\n",
                         "1068 characters; the specification's limit is 1024", 3),
    "folder-name": ("---\nname: other-name\ndescription: d\n---\nBody.\n", "differs from its folder 'folder-name'", 2),
    "long-compatibility": ("---\nname: long-compatibility\ndescription: d\ncompatibility: " + "c" * 501 + "\n---\n",
                           "'compatibility' is 501 characters", 4),
    "list-metadata": ("---\nname: list-metadata\ndescription: d\nmetadata: [a, b]\n---\n",
                      "'metadata' should be a mapping, not a list; it is ignored", 4),
    "mapping-tools": ("---\nname: mapping-tools\ndescription: d\nallowed-tools: {a: 1}\n---\n",
                      "'allowed-tools' should be a space-separated list", 4),
}


@pytest.mark.parametrize("folder", sorted(WARNED))
def test_a_broken_soft_rule_loads_with_a_warning(tmp_path, folder):
    text, message, line = WARNED[folder]
    skill, problems = load_skill_dir(write(tmp_path / folder, text))
    assert skill is not None
    assert [(p.level, p.line, message in p.message) for p in problems] == [("warning", line, True)], problems
    assert skill.warnings == [str(problems[0])]


# name as written -> the skill's name (the folder is named after the normalised name)
UNICODE_NAMES = {
    "café": "café",
    "cafe\u0301": "café",  # decomposed e + combining accent: NFKC composes it
    "日本語-スキル": "日本語-スキル",  # letters without case
    "ｐｄｆ-tools": "pdf-tools",  # full-width letters
    "straße-2": "straße-2",
    "v2": "v2",
}


@pytest.mark.parametrize("written", sorted(UNICODE_NAMES))
def test_names_are_lower_case_unicode_letters_and_digits_after_nfkc(tmp_path, written):
    expected = UNICODE_NAMES[written]
    skill, problems = load_skill_dir(write(tmp_path / expected, f"---\nname: {written}\ndescription: d\n---\n"))
    assert (skill.name if skill else None, problems) == (expected, [])


@pytest.mark.parametrize("as_root", [False, True])
def test_a_lower_case_skill_md_is_found(tmp_path, as_root):
    folder = write(tmp_path / "lower", "---\nname: lower\ndescription: d\n---\nBody.\n", name="skill.md")
    result = load_skills([folder if as_root else tmp_path])
    assert (result.names, result.errors, result.get("lower").files) == (["lower"], [], [])


def test_skills_list_shows_warnings_with_file_and_line(tmp_path):
    text, message, _ = WARNED["long-description"]
    write(tmp_path / "skills" / "long-description", text)
    # PYTHONPATH: the harness of this checkout, whichever one the virtual environment has installed
    env = {**os.environ, "HARNESS_HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "harness.cli", "skills", "list", "--skills", str(tmp_path / "skills")]
    shown = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    data = json.loads(subprocess.run(command + ["--json"], env=env, capture_output=True, text=True,
                                     cwd=tmp_path).stdout)
    where = f"{tmp_path / 'skills' / 'long-description' / 'SKILL.md'}:3: "
    skill = next(s for s in data["skills"] if s["name"] == "long-description")
    assert (f"warning: {where}" in shown.stdout and message in shown.stdout,
            skill["warnings"] == [where + next(e["message"] for e in data["errors"])],
            [(e["level"], e["line"]) for e in data["errors"]]) == (True, True, [("warning", 3)])


# The reference validator of the Agent Skills project (skills-ref) on the same folders:
# (SKILL.md text, file name) per folder; ours is "ok", "warning" or "refused", its is "ok" or "refused".
REFERENCE_CASES = {
    "plain": ("---\nname: plain\ndescription: Does plain things.\n---\nBody.\n", "SKILL.md"),
    "lower-file": ("---\nname: lower-file\ndescription: d\n---\n", "skill.md"),
    "all-fields": ("---\nname: all-fields\ndescription: d\nlicense: MIT\ncompatibility: Requires git\n"
                   "allowed-tools: Bash(git:*) Read\nmetadata:\n  author: someone\n---\n", "SKILL.md"),
    "café": ("---\nname: café\ndescription: d\n---\n", "SKILL.md"),
    "pdf-tools": ("---\nname: ｐｄｆ-tools\ndescription: d\n---\n", "SKILL.md"),
    "日本語": ("---\nname: 日本語\ndescription: d\n---\n", "SKILL.md"),
    "Upper": ("---\nname: Upper\ndescription: d\n---\n", "SKILL.md"),
    "under_score": ("---\nname: under_score\ndescription: d\n---\n", "SKILL.md"),
    "a--b": ("---\nname: a--b\ndescription: d\n---\n", "SKILL.md"),
    "-lead": ("---\nname: -lead\ndescription: d\n---\n", "SKILL.md"),
    "n" * 65: ("---\nname: " + "n" * 65 + "\ndescription: d\n---\n", "SKILL.md"),
    "no-description": ("---\nname: no-description\n---\n", "SKILL.md"),
    "no-name": ("---\ndescription: d\n---\n", "SKILL.md"),
    "empty-description": ("---\nname: empty-description\ndescription: ''\n---\n", "SKILL.md"),
    "no-front-matter": ("# Title\n", "SKILL.md"),
    "bad-yaml": ("---\nname: bad-yaml\ndescription: \"unclosed\n---\n", "SKILL.md"),
    "long-description": ("---\nname: long-description\ndescription: " + "x" * 1068 + "\n---\n", "SKILL.md"),
    "folder-differs": ("---\nname: other-name\ndescription: d\n---\n", "SKILL.md"),
    "long-compatibility": ("---\nname: long-compatibility\ndescription: d\ncompatibility: " + "c" * 501 + "\n---\n",
                           "SKILL.md"),
    "extra-field": ("---\nname: extra-field\ndescription: d\nargument-hint: FILE\n---\n", "SKILL.md"),
    "flow-list": ("---\nname: flow-list\ndescription: d\nallowed-tools: [Read, Grep]\n---\n", "SKILL.md"),
    "123": ("---\nname: 123\ndescription: d\n---\n", "SKILL.md"),
    "boolean-description": ("---\nname: boolean-description\ndescription: yes\n---\n", "SKILL.md"),
}

# Where we differ on purpose (also listed in the README): folder -> (ours, reference's).
DELIBERATE_DIFFERENCES = {
    # soft rules a public skill may break: it loads, with a warning
    "long-description": ("warning", "refused"),
    "folder-differs": ("warning", "refused"),
    "long-compatibility": ("warning", "refused"),
    # fields other agents define (argument-hint, model, ...) are ignored, not refused
    "extra-field": ("ok", "refused"),
    # the front matter is YAML, read as YAML (strictyaml refuses flow style)
    "flow-list": ("ok", "refused"),
    # strictyaml reads every unquoted value as text; YAML reads these as a number and a boolean,
    # and the loader says so and asks for quotes instead of guessing the text back
    "123": ("refused", "ok"),
    "boolean-description": ("refused", "ok"),
}


def ours(folder: Path) -> str:
    skill, problems = load_skill_dir(folder)
    return "refused" if skill is None else "warning" if problems else "ok"


@pytest.mark.parametrize("folder", sorted(REFERENCE_CASES))
def test_the_loader_agrees_with_the_reference_validator(tmp_path, folder):
    validator = pytest.importorskip("skills_ref.validator", reason="skills-ref is a test dependency")
    text, file_name = REFERENCE_CASES[folder]
    target = write(tmp_path / folder, text, name=file_name)
    theirs = "refused" if validator.validate(target) else "ok"
    expected = DELIBERATE_DIFFERENCES.get(folder, (theirs, theirs))
    assert (ours(target), theirs) == expected
