#!/bin/sh
# Integration tests: real programs under the shim, checked with tshark and tcpdump.
# usage: tests/integration/run.sh BUILD_DIR [--quick] [-j N] [-k SUBSTRING]
set -e
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
