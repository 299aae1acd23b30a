"""The SQLite store on its own, and wired into the agent: nothing lost, resumable, clear errors."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner, Result

from harness import events as ev
from harness.agent import Agent
from harness.cli import main
from harness.transcript import Transcript
from harness.memory import DatabaseCorrupt, DatabaseLocked, StoreError, MemoryStore, SchemaTooNew
from scripted import Reply, ScriptedServer


@pytest.fixture
def store(tmp_path):
    with MemoryStore(tmp_path / "memory.db") as s:
        yield s


def test_remember_recall_forget(store):
    a = store.remember("My favourite city is Bergen, in Norway.", tags=["travel", "travel"])
    store.remember("The café on Main Street opens at 8:00.")
    store.remember("Der Schlüssel liegt unter der Fußmatte.")
    store.remember("Deploys happen on Fridays — never on Mondays!")
    assert store.fact(a).tags == ["travel"]
    cases = {
        "favourite city?": "Bergen",            # punctuation FTS would reject
        "what's my favourite CITY": "Bergen",   # apostrophe, case
        "cafe": "café",                        # diacritics folded
        "Schlüssel": "Fußmatte",               # unicode words
        '"unbalanced quote Bergen': "Bergen",   # FTS syntax error -> words
        "deploys AND fridays": "Fridays",       # FTS syntax allowed when valid
        "Mondays!": "Mondays",
    }
    for query, expected in cases.items():
        found = store.recall(query)
        assert found and expected in found[0].text, query
    assert store.recall("zzz nothing") == []
    assert store.recall("😀") == []
    assert store.forget(a) and not store.forget(a)
    assert all("Bergen" not in f.text for f in store.recall("Bergen"))


def test_sessions_and_messages_roundtrip(store):
    sid = store.new_session("first")
    store.append(sid, {"role": "system", "content": "sys"})
    store.append(sid, {"role": "user", "content": "hi ü"})
    store.append(sid, {"role": "assistant", "content": '{"name":"x","arguments":{}}'}, prompt_tokens=10,
                 cached_tokens=0, completion_tokens=3, ttft_s=0.1, elapsed_s=0.2)
    store.append(sid, {"role": "tool", "content": "42", "name": "x"}, tool_name="x", tool_arguments={"a": 1},
                 tool_result="42")
    msgs = store.messages(sid)
    assert [m.seq for m in msgs] == [1, 2, 3, 4]
    assert msgs[2].prompt_tokens == 10 and msgs[3].tool_arguments == {"a": 1}
    assert store.transcript(sid)[3] == {"role": "tool", "content": "42", "name": "x"}
    assert store.sessions()[0].id == sid and store.sessions()[0].messages == 4
    with pytest.raises(Exception, match="no session"):
        store.append("nope", {"role": "user", "content": "x"})


def _writer(path: str, sid: str, who: str, n: int) -> None:
    with MemoryStore(path) as s:
        for i in range(n):
            s.append(sid, {"role": "user", "content": f"{who}-{i}"})


def test_two_processes_appending_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.db")
    with MemoryStore(path) as s:
        sid = s.new_session()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, sid, who, 200)) for who in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with MemoryStore(path) as s:
        msgs = s.messages(sid)
    assert len(msgs) == 400 and [m.seq for m in msgs] == list(range(1, 401))
    assert {m.content for m in msgs} == {f"{w}-{i}" for w in "ab" for i in range(200)}


def test_not_a_database_is_refused_and_untouched(tmp_path):
    path = tmp_path / "memory.db"
    path.write_bytes(b"these are my notes, not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(DatabaseCorrupt) as err:
        MemoryStore(path)
    assert "not a SQLite database" in str(err.value) and "--memory" in err.value.hint
    assert path.read_bytes() == before


def test_damaged_database_is_reported_and_untouched(tmp_path):
    path = tmp_path / "memory.db"
    with MemoryStore(path) as s:
        sid = s.new_session()
        for i in range(300):
            s.append(sid, {"role": "user", "content": "x" * 500})
    data = bytearray(path.read_bytes())
    data[4096:4096 * 6] = b"\xff" * (4096 * 5)  # trash pages after the header
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(DatabaseCorrupt, match="damaged"):
        s = MemoryStore(path)
        s.messages(sid)
        s.recall("x")
        s.append(sid, {"role": "user", "content": "y"})
    assert path.read_bytes() == before


def test_locked_database_is_a_clear_error(tmp_path):
    path = tmp_path / "memory.db"
    with MemoryStore(path) as s:
        sid = s.new_session()
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseLocked) as err:
            s = MemoryStore(path, timeout_s=0.2)
            s.append(sid, {"role": "user", "content": "x"})
        assert "locked" in str(err.value) and err.value.hint
    finally:
        holder.execute("ROLLBACK")


def test_schema_is_versioned_and_opens_in_sqlite_utils(tmp_path):
    path = tmp_path / "memory.db"
    MemoryStore(path).close()
    with MemoryStore(path) as again:  # reopening applies nothing twice
        version = again.conn.execute("PRAGMA user_version").fetchone()[0]
    assert version == 3
    out = subprocess.run([sys.executable, "-m", "sqlite_utils", "tables", str(path), "--counts"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "facts_fts" in out.stdout and "messages" in out.stdout


def test_agent_commits_every_message_and_resumes_identically(tmp_path):
    db = str(tmp_path / "m.db")
    server = ScriptedServer([Reply('<tool_call>{"name": "remember", "arguments": {"text": "Ada likes tea."}}'
                                   '</tool_call>'), Reply("Noted."), Reply("You like tea.")])
    first = Agent(client=server.client(), memory=MemoryStore(db), constrained=False)
    assert first.run("Remember: I like tea.").text == "Noted."
    sid = first.session_id
    store = MemoryStore(db)
    assert [m.role for m in store.messages(sid)] == ["system", "user", "assistant", "user", "assistant"]
    assert store.recall("tea")[0].text == "Ada likes tea."
    # A new agent (as in a new process) resumes the exact transcript...
    resumed = Agent(client=server.client(), memory=MemoryStore(db), session=sid, constrained=False)
    assert resumed.messages == first.messages
    resumed.run("What do I like?")
    # ...and its next prompt extends the old one byte for byte.
    old, new = server.requests[1]["messages"], server.requests[2]["messages"]
    assert new[: len(old) + 1] == [*old, {"role": "assistant", "content": "Noted."}]


def test_recall_tool_emits_an_event_and_stays_out_of_the_system_prompt(tmp_path):
    db = MemoryStore(tmp_path / "m.db")
    db.remember("The staging server is called kestrel.")
    server = ScriptedServer([Reply('<tool_call>{"name": "recall", "arguments": {"query": "staging server"}}'
                                   '</tool_call>'), Reply("kestrel")])
    agent = Agent(client=server.client(), memory=db, constrained=False)
    events = list(agent.stream("What is the staging server called?"))
    recalled = [e for e in events if isinstance(e, ev.MemoryRecalled)]
    assert recalled and "kestrel" in recalled[0].facts[0]
    assert "kestrel" not in agent.messages[0]["content"]
    assert "kestrel" in agent.messages[3]["content"]


KILLED_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from scripted import Reply, ScriptedServer
    from harness.agent import Agent
    from harness.memory import MemoryStore
    server = ScriptedServer([Reply("A long reply that is cut off by kill -9 half way", hang_after=2)])
    agent = Agent(client=server.client(), memory=MemoryStore({db!r}), constrained=False)
    for event in agent.stream("Tell me a story"):
        print(type(event).__name__, agent.session_id, flush=True)
""")


def test_process_killed_mid_stream_leaves_a_session_that_resumes(tmp_path):
    db = str(tmp_path / "m.db")
    code = KILLED_RUN.format(tests=os.path.dirname(__file__), db=db)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # the first streamed delta has arrived
    assert line.startswith("TextDelta")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    sid = line.split()[1]
    server = ScriptedServer([Reply("Once upon a time.")])
    resumed = Agent(client=server.client(), memory=MemoryStore(db), session=sid, constrained=False)
    assert [m["role"] for m in resumed.messages] == ["system", "user"]  # only the unfinished reply is lost
    assert resumed.run("Try again").text == "Once upon a time."


def test_context_full_compacts_older_turns_and_reports_it(tmp_path):
    db = str(tmp_path / "m.db")
    server = ScriptedServer([Reply("first answer " * 20), Reply("Summary: the user asked twice."),
                             Reply("second answer")], prompt_tokens=700, max_model_len=1024)
    agent = Agent(client=server.client(), memory=MemoryStore(db), constrained=False, max_tokens=200)
    agent.run("question one " * 30)
    events = list(agent.stream("question two"))
    compacted = [e for e in events if isinstance(e, ev.Compacted)]
    assert compacted and compacted[0].replaced >= 1
    assert events[-1].result.text == "second answer"
    assert server.requests[1]["messages"][-1]["content"].startswith("Summarise the conversation")
    assert agent.messages[1]["content"].startswith("Summary of the earlier part")
    store = MemoryStore(db)
    kinds = [m.kind for m in store.messages(agent.session_id)]
    assert "summary" in kinds and "compacted" in kinds  # originals kept
    resumed = Agent(client=server.client(), memory=MemoryStore(db), session=agent.session_id, constrained=False)
    assert resumed.messages == agent.messages


def test_compaction_that_fails_midway_leaves_the_session_as_it_was(tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    transcript = Transcript(store)
    for i, role in enumerate(["system", "user", "assistant", "user", "assistant"]):
        transcript.append({"role": role, "content": f"message {i}"})
    before = list(transcript.messages)
    # The summary's write fails after the originals were marked (as a kill there would leave them).
    store.conn.execute("CREATE TRIGGER fail_summary BEFORE INSERT ON messages WHEN NEW.kind = 'summary' "
                       "BEGIN SELECT RAISE(ABORT, 'the disk went away'); END")
    with pytest.raises(StoreError):
        transcript.compact("a summary", keep=2)
    assert Transcript(store, transcript.session_id).messages == before


def test_a_session_is_titled_by_its_first_user_message(tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    transcript = Transcript(store)
    for role, content in [("system", "You are helpful."), ("user", "What is the\nweather in " + "Rome " * 30),
                          ("assistant", "Sunny."), ("user", "And in Paris?")]:
        transcript.append({"role": role, "content": content})
    title = store.session(transcript.session_id).title
    assert title.startswith("What is the weather in Rome Rome") and title.endswith("…") and len(title) == 80


def test_a_resumed_session_keeps_its_title(tmp_path):
    store = MemoryStore(tmp_path / "m.db")
    first = Transcript(store)
    first.append({"role": "user", "content": "plan my week"})
    again = Transcript(store, first.session_id)
    again.append({"role": "user", "content": "and next week"})
    assert store.session(first.session_id).title == "plan my week"


def test_harness_memory_list_shows_titles(tmp_path):
    db = tmp_path / "m.db"
    Transcript(MemoryStore(db)).append({"role": "user", "content": "tidy my notes"})
    out = CliRunner().invoke(main, ["memory", "list", "--memory", str(db)])
    assert "tidy my notes" in out.output, out.output


def _damaged_db(path) -> str:
    """A database whose first pages (header, schema, migrations) are intact and the rest trashed."""
    with MemoryStore(path) as s:
        sid = s.new_session("damaged")
        for _ in range(100):
            s.append(sid, {"role": "user", "content": "x" * 500})
        s.remember("a fact")
    data = bytearray(path.read_bytes())
    data[4096 * 3:] = b"\xff" * (len(data) - 4096 * 3)
    path.write_bytes(bytes(data))
    return sid


@pytest.mark.parametrize("operation", [
    lambda s, sid: s.sessions(),
    lambda s, sid: s.session(sid),
    lambda s, sid: s.messages(sid),
    lambda s, sid: s.facts(),
    lambda s, sid: s.recall("fact"),
    lambda s, sid: s.export(),
    lambda s, sid: s.append(sid, {"role": "user", "content": "y"}),
    lambda s, sid: s.remember("another fact"),
], ids=["sessions", "session", "messages", "facts", "recall", "export", "append", "remember"])
def test_every_operation_on_a_damaged_database_says_so(tmp_path, operation):
    path = tmp_path / "memory.db"
    sid = _damaged_db(path)
    with MemoryStore(path) as store, pytest.raises(DatabaseCorrupt) as err:
        operation(store, sid)
    assert f"{path} is damaged" in str(err.value) and ".recover" in err.value.hint


def _cli(args: list[str], home) -> Result:
    return CliRunner().invoke(main, args, env={"HARNESS_HOME": str(home), "HARNESS_MEMORY": None,
                                               "HARNESS_BASE_URL": "http://127.0.0.1:9"})


@pytest.mark.parametrize("command", [
    ["memory", "list"], ["memory", "show", "{sid}"], ["memory", "export"], ["run", "--session", "{sid}", "hi"],
], ids=" ".join)
def test_cli_on_a_damaged_database_is_a_clear_error(tmp_path, command):
    path = tmp_path / "memory.db"
    sid = _damaged_db(path)
    out = _cli([*(c.format(sid=sid) for c in command), "--memory", str(path)], tmp_path)
    assert (out.exit_code, type(out.exception), f"{path} is damaged" in out.output) == (1, SystemExit, True), out.output


def _newer_db(path):
    """A database as a newer harness (schema version 99) would leave it."""
    MemoryStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    return path


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = _newer_db(tmp_path / "memory.db")
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew) as err:
        MemoryStore(path)
    assert ("schema version 99" in str(err.value), "version 3" in str(err.value), path.read_bytes() == before) \
        == (True, True, True)


def test_cli_on_a_newer_schema_is_a_clear_error(tmp_path):
    path = _newer_db(tmp_path / "memory.db")
    out = _cli(["memory", "list", "--memory", str(path)], tmp_path)
    assert (out.exit_code, type(out.exception), "schema version 99" in out.output) == (1, SystemExit, True), out.output


def test_memory_path_that_is_a_directory_is_a_clear_error(tmp_path):
    out = _cli(["memory", "list", "--memory", str(tmp_path)], tmp_path)
    assert (out.exit_code, type(out.exception), "is a directory" in out.output) == (1, SystemExit, True), out.output


def test_task_restated_after_a_compaction_within_the_run(tmp_path):
    # Compaction between two calls of one run moves the user's message; the restated task must
    # still be the user's words (it once indexed the transcript by a stale position).
    from harness.techniques import Techniques
    from harness.tools import tool

    @tool
    def lookup(city: str) -> str:
        """Look up a city's weather."""
        return f"{city}: cloudy, 19 C " + "x" * 300

    call = '<tool_call>{{"name": "lookup", "arguments": {{"city": "{}"}}}}</tool_call>'
    server = ScriptedServer([Reply("ok"), Reply(call.format("Oslo")), Reply("Summary: weather."),
                             Reply(call.format("Rome")), Reply("Summary: both."), Reply("Oslo is cooler.")],
                            prompt_tokens=700,
                            max_model_len=1024)
    only_restate = Techniques.none().__class__(**{n: n == "restate_task" for n in Techniques.names()})
    agent = Agent(client=server.client(), tools=[lookup], memory=MemoryStore(str(tmp_path / "m.db")),
                  constrained=False, max_tokens=200, techniques=only_restate)
    agent.run("question one " * 30)
    events = list(agent.stream("Which is cooler, Oslo or Rome? Use lookup for each."))
    assert any(isinstance(e, ev.Compacted) for e in events)
    assert events[-1].result.text == "Oslo is cooler."
    last_results = server.requests[-1]["messages"][-1]["content"]
    assert "Rome: cloudy" in last_results and "Which is cooler, Oslo or Rome?" in last_results
    assert "Oslo: cloudy" not in last_results  # not an earlier message taken for the task
