#!/bin/sh
# Builds and runs the rule-matching benchmark (tests/bench/bench_match.c).
# usage: tests/bench/bench-match.sh [BUILD_DIR]   (default: build; WSG_CORPUS overrides the corpus)
# Exit status 1 when a target is missed (shipped median >= 1 us, 10k rules > 1.3x 100 rules).
set -e
cd "$(dirname "$0")/../.."
B=${1:-build}
make -s B="$B" "$B/bench/bench_match"
cd tests/bench
exec "../../$B/bench/bench_match"
