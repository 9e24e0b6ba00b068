#!/bin/sh
# Builds and runs the state scale benchmark (tests/bench/bench_scale.c): fill N address records
# (default 1,000,000), bytes per record on disk, fill time, lookup cost, bounded purge slices,
# eviction in the smallest map.
# usage: tests/bench/bench-scale.sh [N] [BUILD_DIR]      e.g. tests/bench/bench-scale.sh 10000000
# Needs about N x 250 bytes free in /tmp ($TMPDIR is not used). Exit status 1 if a target is missed.
set -e
cd "$(dirname "$0")/../.."
N=${1:-1000000}
B=${2:-build}
make -s B="$B" "$B/bench/bench_scale"
exec "$B/bench/bench_scale" "$N"
