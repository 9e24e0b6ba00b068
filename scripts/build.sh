#!/bin/sh
# Configures (once) and builds mod_wsguard into build/. Extra arguments go to ./configure.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f Makefile ] || [ configure.ac -nt configure ] || [ Makefile.in -nt Makefile ]; then
    autoreconf -fi
    ./configure "$@"
fi
make -j"$(nproc)"
