#!/usr/bin/env bash
# Benchmark: linking Django 5.2.19 from the store into ten environments and removing it again,
# on disk (the temp dir) and in memory (/dev/shm, where there is one). It runs the store's
# `link_and_remove_in_ten_environments` test in a release build, which checks the result and
# prints each place's mean and best time per environment.
#
# Run from the repository root:
#
#     bench/link-speed.sh
#
# Needs what the test needs: the shared wheelhouse beside the checkout and a pyenv CPython 3.12
# (PYENVX_TEST_PYENV_ROOT, default /root/.pyenv).
set -euo pipefail
cd "$(dirname "$0")/.."
PYENVX_TEST_EVERY_PLACE=1 cargo test --release --lib store::tests::needs_machine::link_and_remove_in_ten_environments -- --exact --nocapture 2>&1 |
  grep -E '^link_into|test result'
