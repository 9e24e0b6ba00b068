#!/bin/sh
# The whole test suite: installs what it needs, builds with warnings as errors, runs the layer
# check, the cmocka unit tests, a short fuzz run and the integration tests against a real httpd
# (prefork and event). Exits non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
rm -f Makefile
sh scripts/build.sh --enable-werror
make check
