#!/usr/bin/env bash
# Creates the two virtual environments that hold the real MLflow clients used by tests/compat:
#   .venvs/mlflow3    full mlflow 3.x (client *and* the reference server of the differential test)
#   .venvs/mlflow222  mlflow-skinny 2.22.x with the libraries the iris example needs
# Idempotent: a venv is rebuilt only when its marker (the pinned requirement list) differs
# from what this script wants, so re-running it is cheap.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${LEDGERFLOW_COMPAT_VENVS:-$ROOT/.venvs}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# 3.18.0 pins an mlflow-tracing release the registry does not carry; 3.17.2 resolves cleanly.
MLFLOW3_REQS=(
    "mlflow==3.17.2"
    "scikit-learn"
    "pandas"
    "cloudpickle"
    "httpx"
    "psutil"
)
MLFLOW222_REQS=(
    "mlflow-skinny==2.22.*"
    "scikit-learn"
    "pandas"
    "cloudpickle"
    "numpy"
    "scipy"
)

# pip warns once per package about this machine's unused local index folders; keep the log readable.
quiet_pip() {
    local dir="$1"
    shift
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "^WARNING: Location '.*' is ignored" || true; }
    return "${PIPESTATUS[0]}"
}

ensure_venv() {
    local name="$1"
    shift
    local dir="$VENVS/$name"
    local marker="$dir/.ledgerflow-compat-marker"
    local want
    want="$(printf '%s\n' "$@")"
    if [[ -x "$dir/bin/python" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
        echo "compat venv $name is up to date"
        return 0
    fi
    echo "building compat venv $name in $dir"
    rm -rf "$dir"
    mkdir -p "$VENVS"
    "$PYTHON" -m venv "$dir"
    quiet_pip "$dir" --upgrade pip
    quiet_pip "$dir" "$@"
    # The marker is written last so an interrupted build is retried next time.
    printf '%s' "$want" >"$marker"
}

ensure_venv mlflow3 "${MLFLOW3_REQS[@]}"
ensure_venv mlflow222 "${MLFLOW222_REQS[@]}"
"$VENVS/mlflow3/bin/python" -c "import mlflow; print('mlflow3 venv:', mlflow.__version__)"
"$VENVS/mlflow222/bin/python" -c "import mlflow; print('mlflow222 venv:', mlflow.__version__)"
