# Pumphouse. `make test` and `make demo` do all set-up on a fresh Debian machine.
SHELL := /bin/bash
STACK := deploy/local/stack
# Loads PUMPHOUSE_KAFKA_BROKERS, PUMPHOUSE_POSTGRES_URL and the runtime librdkafka.
WITH_STACK = eval "$$($(STACK) env)" &&
# Release builds, as the demo, the benchmarks and the image make them: cross-module
# optimization lets the compiler specialise Pumphouse's generic caches for the
# application's entity types (docs/units.md, "Building a service for speed").
RELEASE := -c release -Xswiftc -cross-module-optimization

.PHONY: all build docs test deploy-check json-schema-suite examples soak schema-check demo demo-smoke bench bench-smoke bench-scale stack-up stack-down stack-status stack-reset clean

all: build

build:
	swift build

stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

stack-status:
	$(STACK) status

stack-reset:
	$(STACK) reset

# Unit and integration tests against the real local broker and PostgreSQL.
# Most run on the stack's in-memory broker (restarted empty first): the S3-backed one
# spends most of a 2-core machine's CPU on its storage emulator, and under the whole
# suite it timed requests out.
# A suite's name says its tier, so a new suite needs no change here:
#   *SoloTests    each suite in a process of its own, one after the other: several units,
#                 a reader or unit processes per test, whose load would push other tests
#                 past their bounds (or, for the forwarding tests, that time a refused
#                 connection, which the bulk's CPU-bound fuzzing delayed by seconds);
#   *FaultTests   the fault scenarios' short forms (docs/reliability.md), together;
#   *OutageTests  each alone, last, on the stack's durable broker: they stop a part of
#                 the shared stack, and the broker's log must survive its restart;
#   the rest      the bulk, in parallel.
# Between the bulk and the rest, Examples/check builds the out-of-tree example package
# against this checkout and runs it on the stack; after them, a small demo run, then the
# deployment files checked against what its binaries exported (deploy-check).
TEST_BROKER = PUMPHOUSE_KAFKA_BROKERS=$(DEMO_BROKER)
SWIFT_TEST = swift test --skip-build --disable-xctest
# The suites (Module.Suite) whose names end in $(1), failing if there is none.
SUITES = suites="$$(swift test list --skip-build --disable-xctest | sed -nE 's|^([A-Za-z0-9_]+\.[A-Za-z0-9_]+$(1))/.*|\1|p' | sort -u)" && \
	{ [ -n "$$suites" ] || { echo "make test: no test suite's name ends in $(1)" >&2; exit 1; }; }
test: stack-up json-schema-suite
	$(STACK) memory-broker-stop
	$(STACK) memory-broker-start
	$(WITH_STACK) swift build --build-tests
	$(WITH_STACK) $(TEST_BROKER) PUMPHOUSE_JSON_SCHEMA_SUITE=$(CURDIR)/$(JSON_SCHEMA_SUITE) $(SWIFT_TEST) --skip 'SoloTests/' --skip 'FaultTests/' --skip 'OutageTests/'
	$(WITH_STACK) $(TEST_BROKER) Examples/check
	$(WITH_STACK) $(call SUITES,SoloTests) && for suite in $$suites; do $(TEST_BROKER) $(SWIFT_TEST) --filter "$$suite/" || exit 1; done
	$(WITH_STACK) $(TEST_BROKER) $(SWIFT_TEST) --filter 'FaultTests/'
	$(WITH_STACK) $(call SUITES,OutageTests) && for suite in $$suites; do $(SWIFT_TEST) --filter "$$suite/" || exit 1; done
	$(MAKE) demo-smoke
	$(MAKE) deploy-check

# The deployment files against Kubernetes' schemas (strict), the KEDA ScaledObject
# against its schema, the cron schedules, and every metric the dashboard and the
# autoscalers query against what the demo's binaries exported (deploy/check).
deploy-check: stack-up
	.stack/venv/bin/python deploy/check --metrics .pumphouse/demo-smoke/metrics

# The official JSON-Schema-Test-Suite (draft 2020-12) for the schema validator's test,
# unpacked from the pinned source distribution of PyPI's jsonschema, which carries it;
# fetched at test time, never kept in the repository.
JSONSCHEMA_SDIST := 4.26.0
JSON_SCHEMA_SUITE := .stack/json-schema-suite/jsonschema-$(JSONSCHEMA_SDIST)/json/tests/draft2020-12
JSONSCHEMA_SDIST_SHA256 := 0c26707e2efad8aa1bfc5b7ce170f3fccc2e4918ff85989ba9ffa9facb2be326
json-schema-suite: stack-up
	@[ -d $(JSON_SCHEMA_SUITE) ] || { \
		rm -rf .stack/json-schema-suite.part && mkdir -p .stack/json-schema-suite.part && \
		.stack/venv/bin/python -m pip download --quiet --no-deps --no-binary jsonschema jsonschema==$(JSONSCHEMA_SDIST) -d .stack/json-schema-suite.part && \
		echo "$(JSONSCHEMA_SDIST_SHA256)  .stack/json-schema-suite.part/jsonschema-$(JSONSCHEMA_SDIST).tar.gz" | sha256sum --check --quiet && \
		tar -xzf .stack/json-schema-suite.part/jsonschema-$(JSONSCHEMA_SDIST).tar.gz -C .stack/json-schema-suite.part && \
		rm -rf .stack/json-schema-suite && mv .stack/json-schema-suite.part .stack/json-schema-suite && \
		[ -d $(JSON_SCHEMA_SUITE) ]; } || { echo "could not unpack the JSON-Schema-Test-Suite from PyPI's jsonschema $(JSONSCHEMA_SDIST) source distribution" >&2; exit 1; }

# The out-of-tree examples (Examples/), built against this checkout and run on the stack.
examples: stack-up
	$(STACK) memory-broker-start
	$(WITH_STACK) swift build
	$(WITH_STACK) $(TEST_BROKER) Examples/check

# The fault scenarios' long forms (docs/reliability.md): a 200k-contract workload with 20
# writer kills, three 15 s outages each of the broker and PostgreSQL, a 20,000-change
# backlog behind a full unit outage, a rebalance storm, 20k poison messages. Prints the
# table (scenario, runs, contracts, lost, duplicated, time to converge). Not in `make test`.
soak: stack-up
	$(WITH_STACK) swift build --build-tests
	Tests/soak/run

# The demos at a small size on the debug build: the whole ticketing sample (three unit
# processes, a writer and a reader, a burst, a full outage, the checks) and the auction
# sample (an owner killed while bidders bid) exercised on every test run.
demo-smoke: stack-up
	swift build --product pumphouse
	swift build --product ticketing
	swift build --product auction
	$(STACK) memory-broker-stop
	$(STACK) memory-broker-start
	$(WITH_STACK) .build/debug/pumphouse migrate --config deploy/local/pipeline.yaml
	$(WITH_STACK) PUMPHOUSE_KAFKA_BROKERS=$(DEMO_BROKER) .build/debug/pumphouse topics create --config deploy/local/pipeline.yaml
	$(WITH_STACK) PUMPHOUSE_KAFKA_BROKERS=$(DEMO_BROKER) .build/debug/ticketing demo --config deploy/local/pipeline.yaml \
		--buyers 200 --rows 4 --seats-per-row 25 --contested 20 --work-directory .pumphouse/demo-smoke
	$(WITH_STACK) PUMPHOUSE_KAFKA_BROKERS=$(DEMO_BROKER) .build/debug/auction demo --config deploy/local/pipeline.yaml \
		--auctions 4 --bidders 8 --seconds 8 --work-directory .pumphouse/auction-demo-smoke

# Every contract schema valid and compatible per its declared mode, and no published
# version edited: checked against each commit that touched Schemas/. Then the standalone
# gate, built fully static, run in a chroot holding nothing else (Tests/schema-gate/run).
schema-check: build
	.build/debug/pumphouse schema check Schemas
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		for ref in $$(git log --format=%H -- Schemas); do \
			.build/debug/pumphouse schema check Schemas --against $$ref >/dev/null \
				|| { .build/debug/pumphouse schema check Schemas --against $$ref; exit 1; }; \
		done; \
		echo "schemas: no published version edited (checked against $$(git log --format=%H -- Schemas | wc -l) commit(s))"; \
	fi
	Tests/schema-gate/run

# The DocC catalogs of the modules users build on (swift-docc-plugin), built as CI does:
# a broken symbol link or an undocumented parameter of a documented initialiser fails it.
# The archives land in .build/plugins/Swift-DocC/outputs.
docs:
	swift package --disable-sandbox generate-documentation --warnings-as-errors \
		--target PumphouseUnit --target PumphouseWriter --target PumphouseContracts

# The concert-ticketing demo (docs/ticketing.md): three units, a writer and a reader on
# the local stack, an on-sale burst, a full outage and rebuild, checks and a summary;
# then the auction demo (docs/auction.md): three auction units, bidders on all of them,
# an owner killed with SIGKILL during the bidding, checks and a summary.
# It runs on the stack's in-memory broker, restarted so its topics start empty: the
# S3-backed broker (kept for the broker-outage tests) is CPU-bound on small machines.
DEMO_BROKER := 127.0.0.1:19093
demo: stack-up
	swift build $(RELEASE) --product pumphouse
	swift build $(RELEASE) --product ticketing
	swift build $(RELEASE) --product auction
	$(STACK) memory-broker-stop
	$(STACK) memory-broker-start
	$(WITH_STACK) .build/release/pumphouse migrate --config deploy/local/pipeline.yaml
	$(WITH_STACK) PUMPHOUSE_KAFKA_BROKERS=$(DEMO_BROKER) .build/release/pumphouse topics create --config deploy/local/pipeline.yaml
	$(WITH_STACK) PUMPHOUSE_KAFKA_BROKERS=$(DEMO_BROKER) .build/release/ticketing demo --config deploy/local/pipeline.yaml $(DEMO_FLAGS)
	$(WITH_STACK) PUMPHOUSE_KAFKA_BROKERS=$(DEMO_BROKER) .build/release/auction demo --config deploy/local/pipeline.yaml $(AUCTION_DEMO_FLAGS)

# Every benchmark in one run, each figure beside its reference measured in the same run
# (the machine's raw COPY, raw produce, bare consumer, broker latency, a naive writer,
# and the on-sale against a database-first twin, pgbench and a bare in-memory server):
# prints the table and writes .bench/latest.json (docs/benchmarks.md). Not part of
# `make test`; `make bench-smoke` runs every part at tiny sizes, in CI, so it keeps working.
# The smoke runs the debug builds `make test` made and leaves out the microbenchmarks,
# since a release build of every product and of the microbenchmarks doubled CI's build
# time; `make bench` alone runs them and checks their allocations.
bench: stack-up
	swift build $(RELEASE) --product pumphouse
	swift build $(RELEASE) --product pumphouse-bench
	swift build $(RELEASE) --product ticketing
	Benchmarks/run

# The data path at 1M and 10M entities and contracts, with the writer's and reader's peak
# RSS (Benchmarks/scale/run; about half an hour on 2 cores): not in `make bench`.
bench-scale: stack-up
	swift build $(RELEASE) --product pumphouse
	PUMPHOUSE_BENCH_SCALE_OUT=.bench/scale.json Benchmarks/scale/run

bench-smoke: stack-up
	swift build --product pumphouse
	swift build --product pumphouse-bench
	swift build --product ticketing
	Benchmarks/run --smoke

clean:
	swift package clean
