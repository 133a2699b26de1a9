#!/usr/bin/env bash
# Installs the peers `palisade-bench` compares Palisade with: moto (the AWS mock server, whose
# EC2 security groups `palisade-bench security-groups` measures side by side with Katapult's),
# pinned with everything it pulls in by .ci/requirements-bench.txt, into .ci/venv-bench
# (gitignored; made again when that file changes). The bench finds
# .ci/venv-bench/bin/moto_server by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.ci/venv-bench
requirements=.ci/requirements-bench.txt
stamp="$venv/.requirements.sha256"

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -x "$venv/bin/moto_server" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "moto is installed in $venv" >&2
    exit 0
fi
echo "installing moto into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" >"$stamp"
echo "installed: $("$venv/bin/python3" -c 'import moto; print("moto", moto.__version__)')" >&2
