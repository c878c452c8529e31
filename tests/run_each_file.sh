#!/usr/bin/env bash
# Run every test file alone, each in a pytest session of its own (`make test-each`; not part of `make test`):
# a file that passes only after another one created its streams, schemas or state fails here.
# Usage: tests/run_each_file.sh [PYTEST ARGS...]; prints one line per file and the failing files at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
failed=()
for file in $(find tests -name 'test_*.py' -not -path 'tests/soak/*' | sort); do
  start=$(date +%s)
  if "$PY" -m pytest -q -x "$file" "$@" >/tmp/run_each_file.$$.log 2>&1; then
    echo "pass $file ($(( $(date +%s) - start )) s)"
  else
    code=$?
    if [ "$code" = 5 ]; then  # no tests collected (all soak, say): not a failure
      echo "none $file"
      continue
    fi
    echo "FAIL $file ($(( $(date +%s) - start )) s)"
    tail -n 30 /tmp/run_each_file.$$.log | sed 's/^/    /'
    failed+=("$file")
  fi
done
rm -f /tmp/run_each_file.$$.log
if [ "${#failed[@]}" -gt 0 ]; then
  echo "${#failed[@]} file(s) failed alone: ${failed[*]}"
  exit 1
fi
echo "every file passed alone"
