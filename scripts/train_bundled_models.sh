#!/usr/bin/env bash
# Rebuilds the bundled models from scratch: the exact data, recipe and seed of the models
# in python/kws/models, their export with name, version and provenance, and their model
# cards (docs/models.md, from measured figures).
#
#   bash scripts/train_bundled_models.sh [SAMPLE_DIR]
#
# SAMPLE_DIR is the Speech Commands sample (default: $KWS_SAMPLE_DIR). Work goes to
# $KWS_BUNDLE_WORK (default build/bundled): SYNTH (synthetic speech), TRAIN (the shipped
# model: every real clip), SIBLING (same recipe and seed on the sample's training partition
# only, whose accuracy the card reports). A step whose result is already there is skipped
# (a complete dataset, a finished training run; an unfinished one starts again from scratch,
# so that every model is made by exactly the commands below). Needs the train extra (TensorFlow), espeak-ng and
# flite; about 2 x 1 hour of training on 2 cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SAMPLE="${1:-${KWS_SAMPLE_DIR:-}}"
if [ -z "$SAMPLE" ] || [ ! -d "$SAMPLE/yes" ]; then
  echo "usage: $0 SAMPLE_DIR (the Speech Commands sample; or set KWS_SAMPLE_DIR)" >&2
  exit 2
fi
SAMPLE="$(cd "$SAMPLE" && pwd)"
WORK="${KWS_BUNDLE_WORK:-$ROOT/build/bundled}"
SYNTH="$WORK/synth"
TRAIN="$WORK/speech_commands"
SIBLING="$WORK/speech_commands_sibling"
mkdir -p "$WORK"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"

# A train folder is finished when its latest checkpoint is the recipe's last step (9,000).
finished() { [ -f "$1/checkpoint" ] && grep -q 'model_checkpoint_path: ".*ckpt-9000"' "$1/checkpoint"; }

if [ -f "$SYNTH/.complete" ]; then
  echo "[bundled] $SYNTH is there"
else
  rm -rf "$SYNTH"
  kws make-dataset --out "$SYNTH" --clips_per_word 500 --speakers 250 --seed 0
  touch "$SYNTH/.complete"
fi

# The shipped model: every clip of the sample trains it.
if finished "$TRAIN"; then echo "[bundled] $TRAIN is trained"; else
  rm -rf "$TRAIN"
  kws train --recipe best --data_dir "$SYNTH,$SAMPLE" --validation_percentage 0 --testing_percentage 0 --seed 1 --train_dir "$TRAIN"
fi
# Its sibling for the model card: the sample's training partition only (12/4 split).
if finished "$SIBLING"; then echo "[bundled] $SIBLING is trained"; else
  rm -rf "$SIBLING"
  kws train --recipe best --data_dir "$SYNTH,$SAMPLE" --validation_percentage 12 --testing_percentage 4 --seed 1 --train_dir "$SIBLING"
fi

# Export (name, version, provenance), evaluate the sibling, write the card and copy the
# model into python/kws/models.
python scripts/model_card.py --name speech_commands --version 1 \
  --bundled_train_dir "$TRAIN" --sibling_train_dir "$SIBLING" --sample_dir "$SAMPLE"
echo "[bundled] done: python/kws/models/speech_commands.{kws,json}, docs/models.md," \
     "docs/models/; rerun scripts/bootstrap.sh to install them"
