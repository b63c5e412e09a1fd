#!/usr/bin/env bash
# A Python venv for a pinned requirements file, cached outside the clone and shared by every checkout:
#
#   tools/python-venv.sh [--base <base-requirements.txt>] <requirements.txt>      prints the venv's python on stdout
#
# With --base, the venv is layered on the (cached) venv of the base requirements: it sees the base's
# packages through a .pth file and pip installs only what the base lacks or pins differently (the
# learner puts a repo's dependencies on flops_utils' this way, so a repo needing only numpy and
# scikit-learn costs seconds, not a fresh install). The base venv's path is part of the hash.
#
# The venv lives in ~/.cache/flops/venvs/<name>-<hash> (override the root with FLOPS_VENV_CACHE), keyed by the
# requirements' content and the Python version, so a changed pin gets a fresh venv and an unchanged one is
# reused. Creation is serialised with flock and marked complete only after pip succeeded: a broken or
# interrupted install is redone on the next call. Progress goes to stderr. Uses FLOPS_PYTHON, else python3.
set -euo pipefail

base_python=""
if [[ "${1:-}" == --base ]]; then
  base_python=$(bash "$0" "${2:?usage: tools/python-venv.sh [--base <requirements.txt>] <requirements.txt>}")
  shift 2
fi
requirements=${1:?usage: tools/python-venv.sh [--base <requirements.txt>] <requirements.txt>}
[[ -f "$requirements" ]] || { echo "python-venv: no such requirements file: $requirements" >&2; exit 2; }
python=${FLOPS_PYTHON:-python3}
command -v "$python" >/dev/null || { echo "python-venv: $python not found (set FLOPS_PYTHON)" >&2; exit 2; }

version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
hash=$({ cat "$requirements"; echo "python $version"; [[ -z "$base_python" ]] || echo "base $base_python"; } | sha256sum | cut -c1-16)
name=$(basename "$(dirname "$(realpath "$requirements")")")
root=${FLOPS_VENV_CACHE:-$HOME/.cache/flops/venvs}
venv="$root/$name-$hash"
mkdir -p "$root"

if [[ ! -f "$venv/.complete" ]]; then
  exec 9>"$venv.lock"
  flock 9
  if [[ ! -f "$venv/.complete" ]]; then
    echo "python-venv: creating $venv from $requirements (Python $version) ..." >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if [[ -n "$base_python" ]]; then
      base_site=$("$base_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
      site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
      echo "$base_site" > "$site/_flops_base.pth"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
    touch "$venv/.complete"
  fi
  flock -u 9
fi
echo "$venv/bin/python"
