# CastRay build, run and test entry points. `make run` and `make test` are the two commands a
# new user needs; everything else is a step of those or a tool for developers.

GO          ?= go
BIN         := bin
PLUGIN_BIN  := $(BIN)/plugins
# The one place the Ray version used by the e2e suite is named.
RAY_VERSION ?= 2.60.0
RAY_VENV    := .venv-ray
PYTHON      ?= python3
# The virtualenv of the plugins written in Python (plugins/discovery/python-example).
PLUGINS_VENV := .venv-plugins
PY_PLUGIN_REQUIREMENTS := plugins/discovery/python-example/requirements.txt

PLUGINS := $(patsubst plugins/%/main.go,%,$(wildcard plugins/*/*/main.go))

.PHONY: build run test unit e2e bench fuzz soak compat proto ray-venv plugins-venv python-plugins ui-deps fmt vet clean

build:
	@mkdir -p $(PLUGIN_BIN)
	$(GO) build -o $(BIN)/castray ./cmd/castray
	@for p in $(PLUGINS); do \
		kind=$${p%%/*}; name=$${p#*/}; \
		echo "$(GO) build -o $(PLUGIN_BIN)/castray-$$kind-$$name ./plugins/$$p"; \
		$(GO) build -o $(PLUGIN_BIN)/castray-$$kind-$$name ./plugins/$$p || exit 1; \
	done

run: build
	$(BIN)/castray serve --config config/examples/castray.hcl

# A project-local virtualenv with a pinned ray[default], created once and cached by its stamp.
ray-venv: $(RAY_VENV)/.stamp-$(RAY_VERSION)
$(RAY_VENV)/.stamp-$(RAY_VERSION):
	rm -rf $(RAY_VENV)
	$(PYTHON) -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/pip install --quiet --disable-pip-version-check "ray[default]==$(RAY_VERSION)"
	touch $@

# The Python plugins' own small virtualenv with the pinned packages of requirements.txt (grpcio,
# grpcio-tools to generate the stubs at build time, grpcio-health-checking, protobuf,
# cryptography), created once and again when requirements.txt changes.
plugins-venv: $(PLUGINS_VENV)/.stamp
$(PLUGINS_VENV)/.stamp: $(PY_PLUGIN_REQUIREMENTS)
	rm -rf $(PLUGINS_VENV)
	$(PYTHON) -m venv $(PLUGINS_VENV)
	$(PLUGINS_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(PY_PLUGIN_REQUIREMENTS)
	touch $@

# Installs the Python example plugin into bin/plugins (opt-in: `build` needs only Go, and the
# e2e suite installs it into a plugin directory of its own).
python-plugins: plugins-venv
	plugins/discovery/python-example/build.sh $(PLUGINS_VENV)/bin/python $(PLUGIN_BIN)

# The web UI's browser tests (e2e/ui): Debian's chromium (apt-get, when it is not installed) and
# playwright-core pinned by e2e/ui/package-lock.json (npm ci into e2e/ui/node_modules), once, and
# again when the lock file changes.
CHROMIUM ?= /usr/bin/chromium
UI_E2E   := e2e/ui
ui-deps: $(CHROMIUM) $(UI_E2E)/node_modules/.stamp
$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
$(UI_E2E)/node_modules/.stamp: $(UI_E2E)/package.json $(UI_E2E)/package-lock.json
	@command -v npm >/dev/null || { echo "ui-deps: npm and Node.js >= 20 are needed (playwright-core's minimum)"; exit 1; }
	cd $(UI_E2E) && npm ci --no-audit --no-fund
	touch $@

test: unit e2e

unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e: build ray-venv plugins-venv ui-deps
	CASTRAY_BIN_DIR=$(CURDIR)/$(BIN) CASTRAY_RAY_BIN=$(CURDIR)/$(RAY_VENV)/bin/ray \
		CASTRAY_PLUGINS_PYTHON=$(CURDIR)/$(PLUGINS_VENV)/bin/python CASTRAY_CHROMIUM=$(CHROMIUM) \
		$(GO) test -count=1 -p 1 -timeout 20m ./e2e/...

# Every Go fuzz target for FUZZTIME each (default 20s); not part of `make test`.
fuzz:
	./e2e/fuzz.sh

# The fault and load campaign (e2e/soak.sh): kill -9 of plugins and of the daemon, a churned
# live Ray cluster, 1,000 WebSocket clients under 1,000 req/s; figures go to docs/reliability.md.
# Not part of `make test` (it runs for about half an hour).
soak: build ray-venv
	CASTRAY_BIN_DIR=$(CURDIR)/$(BIN) CASTRAY_RAY_BIN=$(CURDIR)/$(RAY_VENV)/bin/ray ./e2e/soak.sh

# The discovery and connection e2e suites against several Ray releases (e2e/compat.sh installs
# each into .venv-ray-<version>, once); the table of results is docs/compat.md. Not part of
# `make test`: CI runs the pinned RAY_VERSION only.
compat: build
	./e2e/compat.sh

bench: build ray-venv
	CASTRAY_BIN_DIR=$(CURDIR)/$(BIN) CASTRAY_RAY_BIN=$(CURDIR)/$(RAY_VENV)/bin/ray ./e2e/bench.sh

# Regenerates the Go code of both buf modules (sdk/proto: the plugin protocol; sdk/ray/proto:
# CastRay's minimal description of Ray's ray.rpc wire format) with pinned generators fetched as Go
# modules.
BUF_VERSION          := v1.75.0
PROTOC_GEN_GO        := v1.36.12
PROTOC_GEN_GO_GRPC   := v1.5.1
TOOLS                := $(CURDIR)/$(BIN)/tools
proto:
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) GOFLAGS= $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
	for m in sdk/proto sdk/ray/proto; do \
		(cd $$m && PATH=$(TOOLS):$$PATH buf lint && PATH=$(TOOLS):$$PATH buf generate) || exit 1; \
	done

fmt:
	gofmt -l -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

clean:
	rm -rf $(BIN)
