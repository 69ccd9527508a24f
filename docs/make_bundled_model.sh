#!/usr/bin/env bash
# Build bundled models (logobrand/_default and logobrand/_fast) from the long recipe, in two
# stages: (1) 11 epochs from ImageNet weights (1 h 43 min on the 2 cores), (2) 4 epochs from
# stage 1's weights with half the training views pasted, shrunk, into negative scenes (about
# 35 min). Then the box head, the closer looks ("accurate" preset), the gallery calibration and
# the int8 copy. PACKAGE=/some/folder writes the two folders elsewhere. Each stage checkpoints
# every epoch: run the script again to resume an interrupted run. (Stage 1 of the shipped model
# was started for 12 epochs and, at epoch 4, resumed with --epochs 11 to fit the session; its
# config.json records the history.)
#
#   bash docs/make_bundled_model.sh [RUN_DIR [STAGE1_DIR]]   (repository root, train extra)
set -euo pipefail
DATA="${DATA:-../shared/data}"
RUN="${1:-$HOME/logobrand-runs/scene-v2}"
STAGE1="${2:-$HOME/logobrand-runs/finetune-v1}"

train() {  # train (or resume) one stage into $1, unless its model/ is newer than its last epoch
    local out="$1"; shift
    local resume=()
    [[ -d "$out/checkpoints/last" ]] && resume=(--resume)
    if [[ ! "$out/model/config.json" -nt "$out/checkpoints/last/trainer_state.json" ]]; then
        python -m logobrand.training.finetune --data-root "$DATA" --out "$out" "$@" "${resume[@]}"
    fi
}

# 1. Stage 1, then stage 2; each chooses its input size and calibrates on validation data.
train "$STAGE1" --epochs 11
train "$RUN" --init-from "$STAGE1/model" --epochs 4 --lr 4e-4 --paste 0.5
python -m logobrand.training.finetune --data-root "$DATA" --list val > "$RUN/val.txt"
python -m logobrand.training.finetune --data-root "$DATA" --list train-negatives > "$RUN/backgrounds.txt"

# 2. The box head: the boxed otherlogos photos of the train part + 2,000 artwork composites on
#    training no-logo photos (no FlickrLogos-27 photo, so both box benchmarks stay clean).
rm -rf "$RUN/model-boxes"
mapfile -t backgrounds < "$RUN/backgrounds.txt"
logobrand train-boxes "$RUN/model" --otherlogos "$DATA/otherlogos" \
    --artwork "$DATA/brand-art/simple-icons" --backgrounds "${backgrounds[@]}" --out "$RUN/model-boxes"

# 2b. The closer looks of the "accurate" preset: crop and threshold on the validation photos.
python -m logobrand.training.finetune --data-root "$DATA" --calibrate-views "$RUN/model-boxes"
#     and the words rule on top of them (the ocr extra): floor and look.
python -m logobrand.training.finetune --data-root "$DATA" --calibrate-words "$RUN/model-boxes"

# 3. Gallery calibration on every fourth validation photo (279: enough to whiten; the gallery
#    keeps their embeddings, 2 MB per model), so that add_brand is safe right away.
mapfile -t val < "$RUN/val.txt"
mapfile -t quarter < <(awk 'NR % 4 == 1' "$RUN/val.txt")
logobrand brands calibrate "${quarter[@]}" --model "$RUN/model-boxes"

# 4. The int8 copy (the `fast` preset), calibrated on 256 validation photos.
rm -rf "$RUN/model-int8"
logobrand quantize "$RUN/model-boxes" --calibration "${val[@]}" --out "$RUN/model-int8"

# 5. Copy both into the package, without the PyTorch weights (not needed to predict).
python - "$RUN" "${PACKAGE:-logobrand}" <<'PY'
import json, shutil, sys
from pathlib import Path

run = Path(sys.argv[1])
package = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("logobrand")
for source, target in ((run / "model-boxes", package / "_default"),
                       (run / "model-int8", package / "_fast")):
    config = json.loads((source / "config.json").read_text())
    config["files"].pop("weights", None)
    names = sorted(set(config["files"].values()))
    for extra in ("gallery.npz",):  # the gallery's array file is named by gallery.json
        if (source / extra).is_file():
            names.append(extra)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for name in names:
        shutil.copyfile(source / name, target / name)
    (target / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"{target}: {', '.join(names)} + config.json")
PY
