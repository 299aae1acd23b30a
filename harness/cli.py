"""The `harness` command."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from harness import models, server, serving
from harness.build import printable
from harness.config import DEFAULT_PORT
from harness.errors import HarnessError
from harness.techniques import Techniques

if TYPE_CHECKING:
    from harness.config import Settings
    from harness.skill_trust import ProjectSkills
    from harness.skills import Skill


def _client(base_url: str | None, model: str | None):  # type: ignore[no-untyped-def]
    from harness.client import Client

    return Client(base_url=base_url, model=model)


class HarnessGroup(click.Group):
    """Turns HarnessError (and the memory store's errors) into a clear message and exit code 1,
    never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from harness.memory import StoreError

        try:
            return super().invoke(ctx)
        except (HarnessError, StoreError) as exc:
            click.secho(f"error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            sys.exit(1)


# No envvar= and no defaults on options that are settings: Settings.load applies HARNESS_* and the file.
base_url_option = click.option("--base-url", help="OpenAI-compatible vLLM server (default http://127.0.0.1:8011)")
model_option = click.option("--model", help="served model name (default: the server's first)")


@click.group(cls=HarnessGroup)
@click.version_option(package_name="harness")
def main() -> None:
    """An agent harness for models served locally by vLLM."""


@main.command()
@click.option("--model", "model", default=models.QWEN.name, show_default=True,
              help="bundled model name (qwen2.5-coder-0.5b, smollm2-135m) or a local checkpoint directory")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--max-model-len", default=8192, show_default=True, type=int)
@click.option("--tool-parser", default=None, help="also run vLLM's own tool parser (e.g. hermes)")
@click.option("--wait", is_flag=True, help="return once the server is ready, leaving it running")
def serve(model: str, port: int, max_model_len: int, tool_parser: str | None, wait: bool) -> None:
    """Start a local vLLM server with the bundled model (or reuse a healthy one on the port)."""
    spinner = "|/-\\"

    def tick(elapsed: float) -> None:
        click.echo(f"\r  waiting for the server {spinner[int(elapsed * 2) % 4]} {elapsed:5.0f} s", nl=False, err=True)

    started = time.monotonic()
    info, proc = server.start(model, port, max_model_len=max_model_len, tool_parser=tool_parser,
                              progress=models.text_progress, on_tick=tick)
    if info.reused:
        click.echo(f"a healthy vLLM server is already running at {info.base_url} (model {info.model}); reusing it")
        return
    click.echo(f"\rvLLM server ready at {info.base_url} (model {info.model}) in {time.monotonic() - started:.0f} s",
               err=False)
    chosen = serving.read_settings(server.serving_file(port))
    if chosen is not None:
        click.echo(f"  {chosen.summary()}")
    click.echo(f"  log: {info.log}\n  stop it with: harness stop" + (f" --port {port}" if port != DEFAULT_PORT else ""))
    if wait or proc is None:
        return
    click.echo("serving in the foreground; Ctrl-C stops it")
    try:
        proc.wait()
        click.secho(f"the server exited (code {proc.returncode}); see {info.log}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        server.stop(port)
        click.echo("\nstopped")


@main.command()
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def stop(port: int) -> None:
    """Stop the server `harness serve` started on the port."""
    info = server.stop(port)
    if info is None:
        click.echo(f"no server started by harness is recorded on port {port}")
        return
    click.echo(f"stopped the vLLM server (pid {info.pid}) on port {port}")


@main.command()
@click.option("--model", "model", default=models.QWEN.name, show_default=True)
def prepare(model: str) -> None:
    """Assemble, verify and convert a bundled model into the cache (done once)."""
    path = models.prepare(model, models.text_progress)
    click.echo(f"{model}: ready at {path}")


def _serving_settings(base_url: str) -> serving.ServingSettings | None:
    """The settings `harness serve` recorded for the server at base_url, if it started it."""
    import httpx

    url = httpx.URL(base_url)
    if url.host not in (server.HOST, "localhost"):
        return None
    return serving.read_settings(server.serving_file(url.port or DEFAULT_PORT))


@main.command()
@base_url_option
@model_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=1))
def doctor(base_url: str | None, model: str | None, as_json: bool, repeats: int) -> None:
    """Check the server and measure time to first token (uncached vs cached) and decode speed."""
    from harness.doctor import measure

    with _client(base_url, model) as client:
        client.check_model()
        report = measure(client, repeats=repeats, serving=_serving_settings(client.base_url))
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"vLLM installed here: {report['installed_vllm'] or 'none'}; server {report['server_version']} "
               f"at {report['base_url']} ({'healthy' if report['healthy'] else 'NOT healthy'})")
    click.echo(f"model: {report['model']} (serves: {', '.join(report['models'])})")
    click.echo(f"time to first token, {report['prompt_tokens']}-token prompt: "
               f"uncached {report['ttft_uncached_s']:.3f} s, cached {report['ttft_cached_s']:.3f} s "
               f"({report['ttft_speedup']}x)")
    click.echo(f"decode: {report['decode_tokens_per_s']} tokens/s")
    click.echo(f"CPU features that decide speed: {', '.join(report['cpu_features']) or 'none'}")
    if report["serving"]:
        click.echo(f"serving settings chosen by harness serve: {serving.ServingSettings(**report['serving']).summary()}")
    for line in report["advice"]:
        click.secho(line, fg="yellow")
    click.echo(f"prefix cache during this check: {report['prefix_cache_hits']} of "
               f"{report['prefix_cache_queries']} queried tokens were hits")


@main.group()
def skills() -> None:
    """Skills: folders with a SKILL.md."""


@skills.command("list")
@click.option("--skills", "extra", multiple=True, help="another folder of skills (highest precedence)")
@click.option("--json", "as_json", is_flag=True)
def skills_list(extra: tuple[str, ...], as_json: bool) -> None:
    """Every skill found, where it came from, and any problems (untrusted project skills included, marked)."""
    from harness.skill_trust import is_trusted, project_skills
    from harness.skills import default_skill_paths, load_skills

    found = load_skills(default_skill_paths(list(extra), project=True))
    project = project_skills()
    project_trusted = project is not None and is_trusted(project)

    def trusted(s: Skill) -> bool:
        return s.source != "project" or project_trusted

    if as_json:
        click.echo(json.dumps({
            "skills": [{"name": s.name, "description": s.description, "path": str(s.path), "source": s.source,
                        "trusted": trusted(s), "files": s.files, "warnings": s.warnings} for s in found.skills],
            "errors": [{"path": e.path, "line": e.line, "message": e.message, "level": e.level}
                       for e in found.errors],
        }, indent=2))
        return
    for s in found.skills:
        source = s.source if trusted(s) else f"{s.source}, untrusted: harness skills trust"
        click.echo(f"{s.name:<24} [{source}] {printable(s.description[:90])}")
    for e in found.errors:
        click.secho(printable(f"{e.level}: {e}"), fg="yellow" if e.level == "warning" else "red")
    if not found.skills:
        click.echo("no skills found; create one with: harness skills new NAME")


@skills.command("trust")
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def skills_trust(directory: Path) -> None:
    """Let the skills in DIRECTORY/.harness/skills (default: here) enter the prompt.

    Remembered until one of their SKILL.md files changes; then you are asked again."""
    from harness.skill_trust import PROJECT_SKILLS, project_skills, shown_names, trust

    project = project_skills(directory)
    if project is None:
        raise HarnessError(f"there are no skills in {directory / PROJECT_SKILLS}",
                           hint="run it in the project's folder, or name that folder: harness skills trust DIR")
    trust(project)
    click.echo(f"trusted {len(project.names)} project skill(s) in {project.folder}: {shown_names(project)}")


@skills.command("new")
@click.argument("name")
@click.option("--description", default=None)
def skills_new(name: str, description: str | None) -> None:
    """Scaffold a skill folder in the user's skills directory."""
    from harness.skills import new_skill

    try:
        folder = new_skill(name, description=description)
    except (ValueError, FileExistsError) as exc:
        raise HarnessError(str(exc), hint="names are lowercase letters, digits and hyphens, e.g. tidy-notes") from exc
    click.echo(f"created {folder / 'SKILL.md'}; edit it, and it is available in the next session")


memory_option = click.option("--memory", "memory_db", default=None,
                             help="memory database (default ~/.harness/memory.db)")


def _store(memory_db: str | None):  # type: ignore[no-untyped-def]
    from harness.build import open_store
    from harness.config import Settings

    return open_store(Settings.load(memory=memory_db))


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


@main.group()
def memory() -> None:
    """The memory database: sessions, messages and facts."""


@memory.command("list")
@memory_option
@click.option("--limit", default=20, show_default=True)
def memory_list(memory_db: str | None, limit: int) -> None:
    """Recent sessions, newest first."""
    with _store(memory_db) as store:
        sessions = store.sessions(limit)
    for s in sessions:
        click.echo(f"{s.id}  {_when(s.updated)}  {s.messages:4d} messages  {s.title or ''}")
    if not sessions:
        click.echo("no sessions yet")


@memory.command("show")
@memory_option
@click.argument("session_id")
def memory_show(memory_db: str | None, session_id: str) -> None:
    """Every message of a session (compacted originals included, marked)."""
    with _store(memory_db) as store:
        if store.session(session_id) is None:
            raise HarnessError(f"there is no session {session_id!r}", hint="see `harness memory list`")
        click.echo(store.export_markdown(session_id))


@memory.command("search")
@memory_option
@click.argument("query")
@click.option("--limit", default=10, show_default=True)
def memory_search(memory_db: str | None, query: str, limit: int) -> None:
    """Facts matching the words of QUERY, best first."""
    with _store(memory_db) as store:
        facts = store.recall(query, limit)
    for f in facts:
        click.echo(f"#{f.id}  {f.text}" + (f"  [{' '.join(f.tags)}]" if f.tags else ""))
    if not facts:
        click.echo("no matching facts")


@memory.command("forget")
@memory_option
@click.argument("fact_id", type=int)
def memory_forget(memory_db: str | None, fact_id: int) -> None:
    """Delete a fact by number."""
    with _store(memory_db) as store:
        if not store.forget(fact_id):
            raise HarnessError(f"there is no fact #{fact_id}", hint="find facts with `harness memory search`")
    click.echo(f"forgot fact #{fact_id}")


@memory.command("export")
@memory_option
@click.option("--session", "session_id", default=None, help="one session (default: everything)")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="json", show_default=True)
def memory_export(memory_db: str | None, session_id: str | None, fmt: str) -> None:
    """Export sessions and facts as JSON, or a session as Markdown."""
    with _store(memory_db) as store:
        if fmt == "markdown":
            ids = [session_id] if session_id else [s.id for s in store.sessions(1_000_000)]
            click.echo("\n\n".join(store.export_markdown(i) for i in ids))
        else:
            click.echo(json.dumps(store.export(session_id), indent=2, ensure_ascii=False, default=str))


@main.group()
def bench() -> None:
    """Benchmarks (medians of repeated runs; --json for one object)."""


@bench.command("parser")
@click.option("--json", "as_json", is_flag=True)
@click.option("--size", default=1_000_000, show_default=True, help="bytes of model text")
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(min=1))
def bench_parser_cmd(as_json: bool, size: int, repeats: int) -> None:
    """Tool-call parser throughput, batch and streaming, in MB/s of model text."""
    from harness.bench import bench_parser

    report = bench_parser(size, repeats=repeats)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"parser over {report['bytes']:,} bytes of model text ({report['calls']} calls), "
               f"median of {report['repeats']}:")
    click.echo(f"  batch:     {report['batch_mb_s']} MB/s")
    click.echo(f"  streaming: {report['stream_mb_s']} MB/s (in {report['chunk_chars']}-character deltas)")


@bench.command("recall")
@click.option("--json", "as_json", is_flag=True)
@click.option("--facts", default=100_000, show_default=True)
@click.option("--queries", default=200, show_default=True)
def bench_recall_cmd(as_json: bool, facts: int, queries: int) -> None:
    """Recall latency over many stored facts, and append throughput."""
    from harness.bench import bench_recall

    report = bench_recall(facts, queries)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"recall over {report['facts']:,} facts: median {report['median_ms']} ms, "
               f"p95 {report['p95_ms']} ms ({report['queries']} queries)")
    click.echo(f"append (one committed transaction each): {report['appends_per_s']:,.0f} messages/s")


@bench.command("prefix")
@base_url_option
@model_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--turns", default=0, show_default=True, type=click.IntRange(min=0),
              help="also run long sessions of this many turns: time to first token at the last turn vs the first")
@click.option("--sessions", default=3, show_default=True, type=click.IntRange(min=1),
              help="long sessions to run for --turns (medians)")
def bench_prefix_cmd(base_url: str | None, model: str | None, as_json: bool, turns: int, sessions: int) -> None:
    """Prefix-cache reuse over a scripted episode with tools, recall, a skill and a resume (live)."""
    from harness.bench import bench_prefix

    if turns == 1:
        raise click.BadParameter("turn 1 would be compared with itself: pass 2 or more, e.g. 20", param_hint="--turns")
    with _client(base_url, model) as client:
        client.check_model()
        report = bench_prefix(client, session_turns=turns, sessions=sessions)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"{report['model']}: what happened: {', '.join(report['events'])}")
    click.echo(f"{'request':>7}  {'phase':<22} {'prompt':>7} {'cached':>7} {'ideal':>7} {'ratio':>6}")
    for t in report["turns"]:
        ratio = f"{t['ratio']:.3f}" if t["ratio"] is not None else "-"
        click.echo(f"{t['request']:>7}  {t['phase']:<22} {t['prompt_tokens']:>7} {t['cached_tokens']:>7} "
                   f"{t['ideal_tokens']:>7} {ratio:>6}")
    click.echo(f"total: {report['cached_tokens']} cached of {report['ideal_tokens']} ideal -> ratio {report['ratio']}"
               f" (server counters: +{report['server_hits_delta']} hits of +{report['server_queries_delta']} queried)")
    broken = [str(t["request"]) for t in report["turns"] if t["extends_previous"] is False]
    click.echo("every prompt extends the one before and its reply: " +
               ("yes" if not broken else f"NO (requests {', '.join(broken)} re-render earlier text)"))
    if turns:
        click.echo(f"long session, {turns} turns, medians of {report['sessions']} sessions (first request of each turn):")
        click.echo(f"{'turn':>7}  {'prompt':>7} {'cached':>7} {'ttft s':>7}")
        for t in report["session_turns"]:
            click.echo(f"{t['turn']:>7}  {t['prompt_tokens']:>7.0f} {t['cached_tokens']:>7.0f} {t['ttft_s']:>7.3f}")
        click.echo(f"time to first token: turn {turns} {report['ttft_last_s']:.3f} s / turn 1 "
                   f"{report['ttft_first_s']:.3f} s = {report['ttft_ratio']} (goal <= 1.5); "
                   f"median of the last five turns over the first five: {report['ttft_ratio_median5']}")


@bench.command("serving")
@base_url_option
@model_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--decode-tokens", default=64, show_default=True, type=int)
@click.option("--no-busy", is_flag=True, help="load without the busy tool subprocess")
@click.option("--no-stream", is_flag=True, help="load without the second streamed request")
def bench_serving_cmd(base_url: str | None, model: str | None, as_json: bool, repeats: int, decode_tokens: int,
                      no_busy: bool, no_stream: bool) -> None:
    """Decode and prefill speed with the server alone and beside a realistic load (live)."""
    from harness.serving import bench_serving

    with _client(base_url, model) as client:
        client.check_model()
        chosen = _serving_settings(client.base_url)
        report = bench_serving(client, repeats=repeats, decode_tokens=decode_tokens, busy=not no_busy,
                               stream=not no_stream, settings=asdict(chosen) if chosen else None)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"{report['model']}: decode idle {report['decode_idle_tps']} tok/s, loaded "
               f"{report['decode_loaded_tps']} tok/s (ratio {report['decode_ratio']}, goal >= 0.8); prefill of "
               f"{report['prompt_tokens']} tokens idle {report['prefill_idle_s']} s, loaded "
               f"{report['prefill_loaded_s']} s; load average {report['load_average']}")
    if report["decode_ratio_plain"] is not None:
        click.echo(f"with the busy tool at normal priority instead of nice {report['load']['tool_nice']}: decode "
                   f"{report['decode_loaded_plain_tps']} tok/s (ratio {report['decode_ratio_plain']}), prefill "
                   f"{report['prefill_loaded_plain_s']} s")
    if report["settings"]:
        click.echo(f"server settings: {report['settings']}")


@bench.command("concurrent")
@base_url_option
@model_option
@click.option("--agents", default=16, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_concurrent_cmd(base_url: str | None, model: str | None, agents: int, as_json: bool) -> None:
    """N agents at once against one server, vs the same agents one after another (live)."""
    from harness.bench import bench_concurrent

    with _client(base_url, model) as client:
        client.check_model()
        report = bench_concurrent(client, agents)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    for mode in ("concurrent", "sequential"):
        click.echo(f"{mode:<11} {report[f'{mode}_s']:7.2f} s  {report[f'{mode}_tokens_per_s']:7.1f} tok/s  "
                   f"cached share {report[f'{mode}_cached_share']:.0%}  answered {report[f'{mode}_answered']}/{agents}")
    click.echo(f"{agents} agents: concurrent/sequential wall time = {report['ratio']}")


@bench.command("overhead")
@click.option("--messages", default=200, show_default=True)
@click.option("--turns", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_overhead_cmd(messages: int, turns: int, as_json: bool) -> None:
    """The harness's own time per model turn at a long transcript (server time excluded)."""
    from harness.bench import bench_overhead

    report = bench_overhead(messages, turns)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"harness time per model turn at {report['messages']} messages: median {report['median_ms']} ms, "
               f"p95 {report['p95_ms']} ms ({report['turns']} runs)")


def tool_counts(value: str) -> tuple[int, ...]:
    """``--tool-sets 10,50``: the sizes of the new tool sets whose grammar cost is measured."""
    try:
        counts = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        counts = ()
    if not counts or any(n < 1 for n in counts):
        raise click.BadParameter(f"{value!r} is not a comma list of tool counts (each 1 or more), e.g. 10,50")
    return counts


@bench.command("constrained")
@base_url_option
@model_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--repeats", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--tool-sets", "tools_arg", default="10,50", show_default=True,
              help="sizes of the new tool sets whose grammar compilation is measured")
def bench_constrained_cmd(base_url: str | None, model: str | None, as_json: bool, repeats: int, tools_arg: str) -> None:
    """Decode speed of tool-call turns with and without guided decoding, and the cost of a new tool
    set's grammar (live server)."""
    from harness.bench import bench_constrained

    counts = tool_counts(tools_arg)
    with _client(base_url, model) as client:
        client.check_model()
        report = bench_constrained(client, repeats=repeats, tool_counts=counts, grammar_repeats=repeats)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    click.echo(f"{report['model']}, {report['questions']} tool questions x {report['repeats']}, medians:")
    for mode in ("free", "constrained"):
        click.echo(f"  {mode:<12} decode {report[f'{mode}_decode_tokens_per_s']:6.2f} tok/s, "
                   f"ttft {report[f'{mode}_ttft_s']:.3f} s, valid calls {report[f'{mode}_valid_call_share']:.0%}")
    click.echo(f"  constrained/free decode speed: {report['decode_ratio']}")
    click.echo(f"grammar of a new tool set, medians of {report['grammar_repeats']} "
               f"(same tools give identical schema bytes: {'yes' if report['same_tools_identical_bytes'] else 'NO'}):")
    for g in report["grammar"]:
        click.echo(f"  {g['tools']:>3} tools ({g['schema_bytes']:,} bytes): time to first token "
                   f"{g['first_request_ttft_s']:.3f} s new, {g['same_tools_again_ttft_s']:.3f} s same tools again, "
                   f"{g['no_grammar_ttft_s']:.3f} s no grammar -> compile {g['compile_s']:.3f} s")
        click.echo(f"      a stream beside it: {_tps(g['stream_alone_tokens_per_s'])} alone, "
                   f"{_tps(g['stream_during_compile_tokens_per_s'])} while it compiles, "
                   f"{_tps(g['stream_during_cached_tokens_per_s'])} beside a cached one")


def _tps(value: float | None) -> str:
    return f"{value:.1f} tok/s" if value is not None else "- tok/s"


@bench.command("tooluse")
@base_url_option
@model_option
@click.option("--json", "as_json", is_flag=True)
@click.option("--free", is_flag=True, help="unconstrained replies, read by the harness's parser")
@click.option("--without", multiple=True, help="turn a technique off (repeatable): "
                                               + ", ".join(Techniques.names()))
@click.option("--compare", is_flag=True, help="every technique on, each one off, none, and free mode, in one run")
@click.option("--unaided", is_flag=True, help="also run the model alone (no tools, plain chat): what it knows by "
                                              "itself, the ceiling for no_tool")
@click.option("--category", "categories", multiple=True, help="only these categories (repeatable)")
@click.option("--concurrency", default=8, show_default=True, help="cases in flight at once")
@click.option("--sample", "per_category", type=int, default=None, help="at most N cases per category")
@click.option("--verbose", is_flag=True, help="print each case as it finishes")
@click.option("--transcripts", type=click.Path(dir_okay=False, writable=True), default=None,
              help="append each case's transcript, calls and verdict to this file (JSON lines)")
def bench_tooluse_cmd(base_url: str | None, model: str | None, as_json: bool, free: bool, without: tuple[str, ...],
                      compare: bool, unaided: bool, categories: tuple[str, ...], concurrency: int,
                      per_category: int | None, verbose: bool, transcripts: str | None) -> None:
    """Tool-use accuracy per category on the harness's own cases (live server)."""
    from harness.tooluse import CATEGORIES, bench_tooluse, configurations

    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown:
        raise click.BadParameter(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}", param_hint="--category")
    try:
        configs = configurations(compare, free, without, unaided)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--without") from exc

    def progress(label: str, outcome) -> None:  # type: ignore[no-untyped-def]
        if verbose:
            mark = "ok  " if outcome.passed else "FAIL"
            click.echo(f"[{label}] {mark} {outcome.case.id}: {outcome.why}", err=True)

    with _client(base_url, model) as client:
        client.check_model()
        report = bench_tooluse(client.base_url, client.get_model(), configs, categories or CATEGORIES, concurrency, progress,
                               per_category, Path(transcripts) if transcripts else None)
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    labels = list(report["runs"])
    width = max(12, *(len(label) for label in labels))
    click.echo(f"{report['model']}: {report['cases']} cases, {concurrency} at a time; accuracy by category")
    click.echo(f"{'':<18}" + "".join(f"{label:>{width + 2}}" for label in labels))
    rows = [*report["runs"][labels[0]]["by_category"], "overall"]
    for row in rows:
        cells = [run["accuracy"] if row == "overall" else run["by_category"].get(row, 0.0)
                 for run in report["runs"].values()]
        click.echo(f"{row:<18}" + "".join(f"{cell:>{width + 2}.0%}" for cell in cells))
    for label, run in report["runs"].items():
        click.echo(f"{label}: {run['requests']} requests, {run['prompt_tokens']} prompt tokens, "
                   f"{run['cached_share']:.0%} cached, {run['wall_s']} s")


def agent_options(fn):  # type: ignore[no-untyped-def]
    """The options every agent command shares; each is a setting (flags win over HARNESS_* and the file)."""
    for option in reversed([
        base_url_option, model_option, memory_option,
        click.option("--workspace", default=None, help="root the file tools are confined to (default .)"),
        click.option("--skills", "skills_dirs", multiple=True, help="another folder of skills (highest precedence)"),
        click.option("--yes", is_flag=True, default=None, help="approve every write, shell and code call without asking"),
        click.option("--constrained/--free", default=None, help="guided decoding of calls (default: on for the "
                                                                   "bundled models)"),
        click.option("--max-steps", type=int, default=None, help="the most model turns per task (default 8)"),
        click.option("--tools", "tool_set", default=None,
                     help="read (the default: files read-only, search, time, recall: no writes of any kind), all "
                          "(adds write, edit, Python, shell, remember, forget), or a comma list of tool names"),
        click.option("--mcp", "mcp_names", multiple=True,
                     help="use only this MCP server (repeatable; default: every configured one)"),
        click.option("--no-mcp", is_flag=True, help="start no MCP server"),
    ]):
        fn = option(fn)
    return fn


def agent_settings(base_url: str | None, model: str | None, memory_db: str | None, workspace: str | None,
                   skills_dirs: tuple[str, ...], yes: bool | None, constrained: bool | None, max_steps: int | None,
                   tool_set: str | None) -> "Settings":
    """The agent options as settings over HARNESS_* and the config file."""
    from harness.config import Settings

    return Settings.load(base_url=base_url, model=model, memory=memory_db, workspace=workspace,
                         skills=list(skills_dirs) or None, yes=yes or None, constrained=constrained,
                         max_steps=max_steps, tools=tool_set)


@main.group()
def mcp() -> None:
    """MCP servers whose tools the agent uses ([mcp_servers.NAME] in config.toml, ./.mcp.json)."""


@mcp.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def mcp_list(as_json: bool) -> None:
    """Start each configured server once and list its status and tools."""
    from harness.build import start_mcp_servers
    from harness.config import Settings

    servers = start_mcp_servers(Settings.load())
    rows = [{"name": s.name, "status": s.status, "error": s.error, "trust": s.settings.trust,
             "transport": "stdio" if s.settings.command else "http",
             "tools": [{"name": t.name, "description": t.description} for t in s.tools()]} for s in servers]
    for running in servers:
        running.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("no MCP servers configured: add [mcp_servers.NAME] to config.toml, or a ./.mcp.json")
    for row in rows:
        trusted = ", trusted" if row["trust"] else ""
        click.echo(f"{printable(row['name'])}  {row['status']} ({row['transport']}{trusted})")
        for line in str(row["error"]).splitlines():
            click.echo(f"  {printable(line)}")
        for tool in row["tools"]:
            click.echo(f"  {tool['name']}  {printable(tool['description'].splitlines()[0] if tool['description'] else '')}")


@mcp.command("trust")
def mcp_trust() -> None:
    """Trust ./.mcp.json as it is now (its servers start with chat and run)."""
    from harness.mcp import MCPError, project_servers
    from harness.skill_trust import ProjectSkills, trust

    try:
        project = project_servers()
    except MCPError as exc:
        raise HarnessError(str(exc), hint="fix the file") from exc
    if project is None:
        raise HarnessError("no .mcp.json here", hint="run this in the project's folder")
    trust(ProjectSkills(folder=project.path, names=tuple(sorted(project.servers)), digest=project.digest))
    click.echo(f"trusted {printable(str(project.path))} ({', '.join(printable(n) for n in sorted(project.servers))})")


@mcp.command("serve", context_settings={"ignore_unknown_options": True, "help_option_names": []},
             add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def mcp_serve(args: tuple[str, ...]) -> None:
    """Serve the harness's memory and skills to other MCP clients over stdio (--help for options)."""
    # Imported here: the MCP SDK takes most of a second to import, which no other command should pay.
    from harness.mcp_server import serve_command

    serve_command.main(list(args), prog_name="harness mcp serve")


@main.command()
@agent_options
@click.argument("task")
@click.option("--plan", is_flag=True, help="plan first, then run the steps")
@click.option("--json", "as_json", is_flag=True, help="print the result, steps and usage as JSON")
@click.option("--session", default=None, help="continue this memory session")
def run(base_url: str | None, model: str | None, memory_db: str | None, workspace: str | None,
        skills_dirs: tuple[str, ...], yes: bool | None, constrained: bool | None, max_steps: int | None,
        tool_set: str | None, task: str, mcp_names: tuple[str, ...], no_mcp: bool, plan: bool, as_json: bool,
        session: str | None) -> None:
    """Run one task and print the answer (exit code 0 on success)."""
    from harness import build

    settings = agent_settings(base_url, model, memory_db, workspace, skills_dirs, yes, constrained, max_steps,
                              tool_set)
    with build.build_agent(settings, session=session, mcp_names=mcp_names, no_mcp=no_mcp) as agent:
        result = agent.run(task, plan=plan)
    if as_json:
        click.echo(json.dumps({
            "text": result.text, "stop_reason": result.stop_reason, "ok": result.ok, "error": result.error,
            "session_id": result.session_id,
            "usage": {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens,
                      "cached_tokens": result.usage.cached_tokens},
            "steps": [{"raw_text": t.raw_text, "calls": [{"name": c.name, "arguments": c.arguments} for c in t.calls],
                       "results": [{"name": r.name, "ok": r.ok, "output": r.output} for r in t.results],
                       "problems": t.problems, "prompt_tokens": t.usage.prompt_tokens,
                       "cached_tokens": t.usage.cached_tokens, "finish_reason": t.finish_reason}
                      for t in result.turns],
        }, ensure_ascii=False))
    elif result.ok:
        click.echo(result.text)
    if not result.ok:
        click.secho(f"error: the run ended without an answer ({result.stop_reason})"
                    + (f": {result.error}" if result.error else ""), fg="red", err=True)
        sys.exit(2 if result.stop_reason == "error" else 1)


@main.command()
@agent_options
@click.option("--session", default=None, help="resume this session")
@click.option("--continue", "cont", is_flag=True, help="resume the most recent session")
@click.option("--no-memory", is_flag=True, help="keep nothing: no sessions, no facts")
def chat(base_url: str | None, model: str | None, memory_db: str | None, workspace: str | None,
         skills_dirs: tuple[str, ...], yes: bool | None, constrained: bool | None, max_steps: int | None,
         tool_set: str | None, mcp_names: tuple[str, ...], no_mcp: bool, session: str | None, cont: bool,
         no_memory: bool) -> None:
    """Chat with the agent in the terminal."""
    from rich.console import Console

    from harness import build
    from harness.repl import Repl, ask_project_trust

    settings = agent_settings(base_url, model, memory_db, workspace, skills_dirs, yes, constrained, max_steps,
                              tool_set)
    if cont:
        with build.open_store(settings) as store:
            last = store.last_session()
        if last is None:
            click.echo("no earlier session to continue; starting a new one", err=True)
        session = last.id if last else None

    console = Console(highlight=False)
    answers: dict[str, bool] = {}  # asked once per chat: /new and /resume rebuild the agent

    def ask_trust(project: ProjectSkills) -> bool:
        if project.digest not in answers:
            answers[project.digest] = ask_project_trust(console, project)
        return answers[project.digest]

    def make(session_id: str | None):  # type: ignore[no-untyped-def]
        return build.build_agent(settings, session=session_id, no_memory=no_memory, ask_trust=ask_trust,
                                 mcp_names=mcp_names, no_mcp=no_mcp)

    repl = Repl(make, console=console, session=session, mcp_servers=build.started_mcp_servers)
    try:
        repl.run()
    finally:
        repl.agent.close()


if __name__ == "__main__":
    main()
