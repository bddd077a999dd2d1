# Sourced by the benchmark scripts: which build of the binaries they run.
# PUMPHOUSE_BENCH_BUILD=release (the default, for figures) or debug (`Benchmarks/run
# --smoke`, which only checks that every part still runs).
build_configuration=${PUMPHOUSE_BENCH_BUILD:-release}
case "$build_configuration" in
    release|debug) ;;
    *) echo "PUMPHOUSE_BENCH_BUILD must be release or debug, not '$build_configuration'" >&2; exit 2 ;;
esac
build_dir=.build/$build_configuration
# The flags of a release build beyond -c release, as the Makefile's RELEASE gives them, for
# the builds the benchmark plugin makes itself (Benchmarks/micro/run): the same flags
# keep it from rebuilding what `make bench` built.
release_flags=(-Xswiftc -cross-module-optimization)
