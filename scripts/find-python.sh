#!/usr/bin/env bash
# Print the newest Python >= 3.12 that really runs and has ssl and sqlite3: PATH first,
# then pyenv's versions folder. (A pyenv shim for a version that isn't selected exists on
# PATH but fails, so every candidate is run, not just found.)
set -u
ok() { "$1" -c 'import sys, ssl, sqlite3; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
best=""; best_ver=0
consider() {
  local py=$1
  [ -x "$py" ] || py=$(command -v "$py" 2>/dev/null) || return 0
  [ -n "$py" ] && ok "$py" || return 0
  local ver
  ver=$("$py" -c 'import sys; print(sys.version_info[0] * 100 + sys.version_info[1])')
  if [ "$ver" -gt "$best_ver" ]; then best=$py; best_ver=$ver; fi
}
for name in python3.14 python3.13 python3.12 python3 python; do consider "$name"; done
root=$( (pyenv root 2>/dev/null) || echo "$HOME/.pyenv")
for py in "$root"/versions/*/bin/python3; do consider "$py"; done
if [ -z "$best" ]; then
  echo "No Python 3.12 or newer (with ssl and sqlite3) was found on PATH or in pyenv." >&2
  echo "Install one, e.g. 'apt-get install python3.13 python3.13-venv' or 'pyenv install 3.13'." >&2
  exit 1
fi
echo "$best"
