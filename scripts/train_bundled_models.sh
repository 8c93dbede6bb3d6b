#!/usr/bin/env bash
# Rebuilds the bundled models from scratch: the exact data, recipe and seed of the models
# in python/kws/models, their export with name, version and provenance, and their model
# cards (docs/models.md, from measured figures).
#
#   bash scripts/train_bundled_models.sh [SAMPLE_DIR]
#
# SAMPLE_DIR is the Speech Commands sample (default: $KWS_SAMPLE_DIR). Work goes to
# $KWS_BUNDLE_WORK (default build/bundled): synth (synthetic speech), and per model NAME
# (the shipped model: every real clip) and NAME_sibling (same recipe and seed on the
# sample's training partition only, whose accuracy the card reports), each trained on for
# FINETUNE's steps from its first run (NAME_base, NAME_sibling_base). A step whose result
# is already there is skipped (a complete dataset, a finished training run; an unfinished
# one starts again from scratch, so that every model is made by exactly the commands
# below). Needs the train extra (TensorFlow and the speech embedding's weights), espeak-ng
# and flite; about 90 CPU-minutes of training (the two runs of a model go side by side on
# 2 cores when started by hand with the same commands).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAMPLE="${1:-${KWS_SAMPLE_DIR:-}}"
if [ -z "$SAMPLE" ] || [ ! -d "$SAMPLE/yes" ]; then
  echo "usage: $0 SAMPLE_DIR (the Speech Commands sample; or set KWS_SAMPLE_DIR)" >&2
  exit 2
fi
SAMPLE="$(cd "$SAMPLE" && pwd)"
WORK="${KWS_BUNDLE_WORK:-$ROOT/build/bundled}"
# The version the models made here carry (kws models shows it); raised whenever retraining
# changes the shipped weights.
VERSION=5
# The recipe's two phases as two runs, which is how versions 4 and 5 were made: `best`'s
# first phase alone (FIRST, the recipe's folder balance 2.5), then from its checkpoint a
# fresh Adam, the cosine rate again from 0.0005 and the real folder heard twice as often
# (FINETUNE), as `best`'s second phase does (--restart_optimizer, --folder_balance 2.5,5)
# within one run.
FIRST=(--how_many_training_steps 4500 --learning_rate 0.002)
FINETUNE=(--how_many_training_steps 1000 --learning_rate 0.0005 --folder_balance 5)
SYNTH="$WORK/synth"
mkdir -p "$WORK"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"

# A train folder is finished when its latest checkpoint is the run's last step (the sum of
# its --how_many_training_steps, from the folder's <arch>_model.json).
finished() {
  [ -f "$1/checkpoint" ] || return 1
  python -c 'import json, pathlib, sys
from kws.train.checkpoint import latest_step
meta = [json.loads(p.read_text()) for p in pathlib.Path(sys.argv[1]).glob("*_model.json")]
steps = str(meta[0]["flags"]["how_many_training_steps"]).split(",") if len(meta) == 1 else []
sys.exit(0 if steps and latest_step(sys.argv[1]) == sum(int(s) for s in steps) else 1)' "$1"
}

if [ -f "$SYNTH/.complete" ]; then
  echo "[bundled] $SYNTH is there"
else
  rm -rf "$SYNTH"
  kws make-dataset --out "$SYNTH" --clips_per_word 500 --speakers 250 --seed 0
  touch "$SYNTH/.complete"
fi

# run DIR FLAGS...: `kws train FLAGS --train_dir DIR` unless DIR holds a finished run.
run() {
  local dir="$1"; shift
  if finished "$dir"; then echo "[bundled] $dir is trained"; else
    rm -rf "$dir"
    kws train "$@" --train_dir "$dir"
  fi
}

# bundle NAME [FLAGS...]: the `best` recipe (plus FLAGS) with FIRST, seed 1, twice: the
# shipped model on every clip of the sample, and its sibling for the model card on the
# sample's training partition only (12/4 split); each then trained on with FINETUNE from its
# checkpoint. Then export (name, version, provenance), evaluate the sibling, write the card
# and copy the model into python/kws/models.
bundle() {
  local name="$1"; shift
  local train="$WORK/$name" sibling="$WORK/${name}_sibling"
  local all=(--recipe best --data_dir "$SYNTH,$SAMPLE" --validation_percentage 0 --testing_percentage 0 "${FIRST[@]}" "$@" --seed 1)
  local part=(--recipe best --data_dir "$SYNTH,$SAMPLE" --validation_percentage 12 --testing_percentage 4 "${FIRST[@]}" "$@" --seed 1)
  run "${train}_base" "${all[@]}"
  run "$train" "${all[@]}" --init_checkpoint "${train}_base" "${FINETUNE[@]}"
  run "${sibling}_base" "${part[@]}"
  run "$sibling" "${part[@]}" --init_checkpoint "${sibling}_base" "${FINETUNE[@]}"
  python scripts/model_card.py --name "$name" --version "$VERSION" \
    --train_flags "${FIRST[*]}${*:+ $*}" --finetune_flags "${FINETUNE[*]}" \
    --bundled_train_dir "$train" --sibling_train_dir "$sibling" --sample_dir "$SAMPLE"
}

# `best`: the pretrained speech embedding's head and a TC-ResNet8 in one model.
bundle speech_commands

echo "[bundled] done: python/kws/models/*.{kws,json}, docs/models.md, docs/models/;" \
     "rerun scripts/bootstrap.sh to install them"
