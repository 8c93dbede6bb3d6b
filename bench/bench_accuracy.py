"""Accuracy on real voices: train the recipes and augmentation levers, evaluate on the real sample.

    python bench/bench_accuracy.py train NAME [--seed S] [-- extra kws train flags]
    python bench/bench_accuracy.py eval TRAIN_DIR     # evaluate a train_dir or checkpoint
    python bench/bench_accuracy.py report             # write the BENCHMARKS.md section
    python bench/bench_accuracy.py ensemble DIR...    # mean-probability ensemble of runs (clips, stream)
    python bench/bench_accuracy.py heldout NAME...    # synthetic-only runs on REAL's [16, 20)
    python bench/bench_accuracy.py stream NAME...     # runs on a stream of REAL's validation voices
    python bench/bench_accuracy.py stream --partition heldout NAME...  # ... of its [16, 20)
    python bench/bench_accuracy.py stream --partition testing NAME...  # ... of its test voices
    python bench/bench_accuracy.py stream-words NAME... [--stream S]  # the stream's words:
                                                      # correct, heard as another, missed
    python bench/bench_accuracy.py decoder NAME [--average_window_ms A,...]  # the decoder's
                                                      # settings on the runs' streams
    python bench/bench_accuracy.py mine NAME [--seed S]  # hard negatives of a run (best_hn)
    python bench/bench_accuracy.py make-folders [FOLDER...]  # SYNTH_MORE, SYNTH_FEWUNK,
                                                      # REAL_REV, the REAL_SUBSETS
    python bench/bench_accuracy.py speed              # augmentation cost per batch

NAME is a key of LEVERS (a `kws train` flag list). Each run trains into
bench/out/acc/NAME-sS, then evaluates the final checkpoint on the validation and testing
partitions of ../shared/data/speech_commands_sample (real speakers) and on the synthetic
testing partition; the figures (with training time and the exact command) are appended
to bench/out/acc/results.jsonl, and `report` turns that file into the "Accuracy on real
voices" section of BENCHMARKS.md (mean and spread over the seeds that were run).

The real sample holds only speakers of the Speech Commands test set (hash in [10, 20)),
so it is split with --validation_percentage 12 --testing_percentage 4: hash [10, 12)
validates (develop on it), [12, 16) tests (report it), [16, 20) trains (used only by
runs that add the sample to --data_dir). Synthetic data: SYNTH_FLITE (KWS_SYNTH_FLITE_DIR,
default bench/out/synth_flite), what the recipes train on, is made with make-dataset's
default voices (half espeak-ng, half flite):
`kws make-dataset --out DIR --clips_per_word 500 --speakers 250 --seed 0`;
SYNTH (KWS_SYNTH_DIR, default bench/out/synth), espeak-ng alone, the same with
`--voices espeak` (the levers before flite; its testing partition is the "synthetic
test" column of every run).
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import functools
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# kws from the source tree when its native module is built there, else the installed one.
SOURCE_TREE = REPO / "python"
USE_SOURCE = any((SOURCE_TREE / "kws").glob("_core*"))
if USE_SOURCE:
    sys.path.insert(0, str(SOURCE_TREE))
SAMPLE = Path(os.environ.get("KWS_SAMPLE_DIR", REPO.parent / "shared" / "data" /
                             "speech_commands_sample"))
OUT = REPO / "bench" / "out" / "acc"
SYNTH = Path(os.environ.get("KWS_SYNTH_DIR", REPO / "bench" / "out" / "synth"))
SYNTH_WIDE = Path(os.environ.get("KWS_SYNTH_WIDE_DIR", REPO / "bench" / "out" / "synth_wide"))
# `kws make-dataset --clips_per_word 500 --speakers 250 --seed 0 --voices US_HALF`
# (en-US listed 7 times, the other 7 accents once: half the speakers American).
SYNTH_US = Path(os.environ.get("KWS_SYNTH_US_DIR", REPO / "bench" / "out" / "synth_us"))
# `kws make-dataset --clips_per_word 500 --speakers 250 --seed 0 --voices espeak,flite,flite`
# (half the speakers on flite's four voices of recorded speakers, half on espeak-ng).
SYNTH_FLITE = Path(os.environ.get("KWS_SYNTH_FLITE_DIR", REPO / "bench" / "out" / "synth_flite"))
# The same with `--voices espeak,flite,flite,flite,flite` (two thirds flite).
SYNTH_FLITE2 = Path(os.environ.get("KWS_SYNTH_FLITE2_DIR",
                                   REPO / "bench" / "out" / "synth_flite2"))
# `kws make-dataset --clips_per_word 500 --speakers 250 --seed 0 --voices
# espeak,flite,flite,festival,festival` (a fifth of the speakers on Festival's two voices).
SYNTH_FESTIVAL = Path(os.environ.get("KWS_SYNTH_FESTIVAL_DIR",
                                     REPO / "bench" / "out" / "synth_festival"))
# SYNTH_FLITE plus the 5 words Speech Commands v0.02 added (backward, follow, forward,
# learn, visual; same seed, speakers and voices), as links: a 35-word set.
SYNTH_FLITE35 = Path(os.environ.get("KWS_SYNTH_FLITE35_DIR",
                                    REPO / "bench" / "out" / "synth_flite35"))
# Three levers' folders, made from SYNTH_FLITE and the sample by `make-folders`:
# SYNTH_FLITE plus 46 more non-keyword words (MORE_WORDS: v0.02's 5, everyday words, and
# words that sound near a keyword), 250 clips each by the same seed, speakers and voices
# (made by make-dataset into SYNTH_MORE's name + "_words"), as links.
SYNTH_MORE = Path(os.environ.get("KWS_SYNTH_MORE_DIR", REPO / "bench" / "out" / "synth_more"))
MORE_WORDS = ("backward,follow,forward,learn,visual,yet,guess,now,note,snow,cup,town,done,"
              "lift,loft,light,bright,ride,own,cough,top,shop,step,grow,goat,though,water,"
              "table,music,window,people,morning,yellow,number,little,open,close,again,"
              "hello,okay,thank,please,good,time,play,turn")
# SYNTH_FLITE with only 19 training clips of each unknown word (the first by name; every
# other clip kept), as links: with best's data (the sample at x17) the unknown draw then
# takes real unknown words in about the share real clips have of the wanted words (72%)
# instead of 11%.
SYNTH_FEWUNK = Path(os.environ.get("KWS_SYNTH_FEWUNK_DIR",
                                   REPO / "bench" / "out" / "synth_fewunk"))
# The real sample (links) plus rev_<word> folders: its training clips ([16, 20)) of the
# keywords but no and on (each reversed sounds like the other), reversed in time. Real
# voices saying no keyword: more _unknown_ for best's data.
REAL_REV = Path(os.environ.get("KWS_REAL_REV_DIR", REPO / "bench" / "out" / "real_rev"))
REVERSED_WORDS = ["yes", "up", "down", "left", "right", "off", "stop", "go"]
# How `best` grows with real voices (its real training speakers: 22, 44, 62), the testing
# speakers ([12, 16)) unchanged in both: REAL_TRAINVAL is the sample (links) with its
# validation speakers ([10, 12)) renamed into training (a suffix on the speaker's name that
# hashes to [16, 100)), so it trains on 62 speakers; its real validation column is then
# no longer held out. REAL_HALF keeps every other training speaker (by name): 22 of 44.
REAL_TRAINVAL = Path(os.environ.get("KWS_REAL_TRAINVAL_DIR",
                                    REPO / "bench" / "out" / "real_trainval"))
REAL_HALF = Path(os.environ.get("KWS_REAL_HALF_DIR", REPO / "bench" / "out" / "real_half"))
# Past the sample's 62 non-testing speakers without scoring a clip whose voice was heard:
# REAL_FOLD_A is REAL_TRAINVAL with every other testing speaker (by name, from the second)
# renamed into training too, REAL_FOLD_B with the others: 91 training speakers each, scored
# on the 29 testing speakers it kept, so the two folds' runs of a seed score all 58.
REAL_FOLD_A = Path(os.environ.get("KWS_REAL_FOLD_A_DIR",
                                  REPO / "bench" / "out" / "real_fold_a"))
REAL_FOLD_B = Path(os.environ.get("KWS_REAL_FOLD_B_DIR",
                                  REPO / "bench" / "out" / "real_fold_b"))
# SYNTH plus the real sample's _background_noise_ recordings (what `kws make-dataset
# --noise_dir REAL/_background_noise_` adds; here a folder of links to both).
SYNTH_REALNOISE = Path(os.environ.get("KWS_SYNTH_REALNOISE_DIR",
                                      REPO / "bench" / "out" / "synth_realnoise"))
SPLIT = ["--validation_percentage", "12", "--testing_percentage", "4"]
SECTION_START = "<!-- bench_accuracy start -->"
SECTION_END = "<!-- bench_accuracy end -->"

def _ft_lever(*extra: str) -> list[str]:
    """best's flags fine-tuning the same seed's best run (best_pair_ft8_r025-sS) for 1,000
    steps at learning rate 0.0005, with `extra` flags."""
    return _pair_lever("1000", "--train_embedding_layers", "8", "--embedding_rate_scale", "0.25",
                       "--init_checkpoint", "{out}/best_pair_ft8_r025-s{seed}",
                       "--learning_rate", "0.0005", *extra)


# name -> (what it measures, kws train flags; {synth} and {real} are filled in)
def _pair_lever(steps: str, *extra: str, synth: str = "{synth_flite}",
                real: str = "{real}") -> list[str]:
    """kws train flags of a speech_embedding_tc_resnet lever on best's data (`synth` beside
    the real clips of `real`, the sample's by default): `steps` steps, ism augmentation,
    one model, `extra` flags."""
    return ["--recipe", "best_tc_resnet", "--model_architecture", "speech_embedding_tc_resnet",
            "--peers", "1", "--how_many_training_steps", steps, "--augment", "ism", *extra,
            "--data_dir", f"{synth},{real}"]


def _best_lever(*extra: str, real: str = "{real}") -> list[str]:
    """best's flags (best_pair_ft8_r025) with `extra` flags, on the real clips of `real`."""
    return _pair_lever("4500", "--train_embedding_layers", "8", "--embedding_rate_scale", "0.25",
                       *extra, real=real)


LEVERS: dict[str, tuple[str, list[str]]] = {
    "quick_plain": ("quick recipe without augmentation (synthetic only)",
                    ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600", "--augment", "none",
                     "--data_dir", "{synth}"]),
    "quick_room_spec": ("quick + room/mic/speed/level + SpecAugment",
                        ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600",
                         "--augment", "room_spec", "--data_dir", "{synth}"]),
    "quick": ("synthetic speech only (make-dataset's default voices: half espeak-ng, half "
              "flite): TC-ResNet8, 98 x 40 MFCC, ism_spec augmentation (room_spec with the "
              "reverberation of 256 image-source rooms), 1,200 steps of 100 clips",
              ["--recipe", "quick_tc_resnet", "--data_dir", "{synth_flite}"]),
    "quick_se": ("speech_embedding (a frozen pretrained speech embedding under a trained "
                 "head, on the power spectrogram) on quick's data, 1,200 steps, ism "
                 "augmentation (ism_spec's rooms without SpecAugment)",
                 ["--recipe", "quick_tc_resnet", "--model_architecture", "speech_embedding",
                  "--augment", "ism", "--data_dir", "{synth_flite}"]),
    "quick_sef": ("quick_se with the log-mel floored at a fixed 4.0 (speech_embedding's "
                  "MEL_FLOOR; quick_se's runs floored only at 1e-10 of 16-bit power)",
                  ["--recipe", "quick_tc_resnet", "--model_architecture", "speech_embedding",
                   "--augment", "ism", "--data_dir", "{synth_flite}"]),
    "quick_more": ("quick with 46 more synthetic non-keyword words in _unknown_ (SYNTH_MORE: "
                   "66 in all, 11,500 more clips)",
                   ["--recipe", "quick_tc_resnet", "--data_dir", "{synth_more}"]),
    "quick_festival": ("quick on a set with Festival's two voices (kal diphones, slt HTS) "
                       "as a fifth of the speakers beside espeak-ng and flite",
                       ["--recipe", "quick_tc_resnet", "--data_dir", "{synth_festival}"]),
    "quick_peers3": ("quick with 3 TC-ResNet8 peers trained together, each also fitting the "
                     "mean softmax of the other two (--peers 3), as best does",
                     ["--recipe", "quick_tc_resnet", "--peers", "3", "--data_dir", "{synth_flite}"]),
    "quick_festival_peers3": ("quick_peers3 on quick_festival's set (Festival's two voices "
                              "as a fifth of the speakers)",
                              ["--recipe", "quick_tc_resnet", "--peers", "3",
                               "--data_dir", "{synth_festival}"]),
    "quick_room": ("quick with room_spec (the noise-tail reverberation model): the recipe "
                   "before ism_spec",
                   ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600",
                    "--augment", "room_spec", "--data_dir", "{synth_flite}"]),
    "quick_espeak": ("the quick recipe on espeak-ng speech alone (the recipe's data before "
                     "flite voices)",
                     ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600",
                      "--augment", "room_spec", "--data_dir", "{synth}"]),
    "best": ("synthetic (default voices: half espeak-ng, half flite) + the sample's real "
             "training clips (--folder_balance 2.5: real x16), from scratch, 9,000 steps "
             "(room_spec), 3 TC-ResNet8 peers trained together, each also fitting the mean "
             "softmax of the other two (--peers 3); the first peer is the model; one command",
             ["--recipe", "best_tc_resnet", "--data_dir", "{synth_flite},{real}"]),
    "best_recipe": ("`kws train --recipe best` as shipped (one command) on synthetic (default "
                    "voices) + the sample's real training clips",
                    ["--recipe", "best", "--data_dir", "{synth_flite},{real}"]),
    "best_recipe_fb5": ("best_recipe with --folder_balance 5,5 (2.5,5 otherwise): both "
                        "phases hear the real speakers about twice as often (real x33)",
                        ["--recipe", "best", "--folder_balance", "5,5",
                         "--data_dir", "{synth_flite},{real}"]),
    "best_single": ("one model (--peers 1) for 6,000 steps: the best recipe before peers",
                    ["--recipe", "best_tc_resnet",
                     "--peers", "1", "--how_many_training_steps", "6000",
                     "--data_dir", "{synth_flite},{real}"]),
    "best_single_unk25": ("best_single with unknown words at 25% of the wanted-word clips "
                          "(10%): a stream of real voices has about 30% unknown words",
                          ["--recipe", "best_tc_resnet",
                           "--peers", "1", "--how_many_training_steps",
                           "6000", "--unknown_percentage", "25",
                           "--data_dir", "{synth_flite},{real}"]),
    "best_single_more": ("best_single with 46 more synthetic non-keyword words in _unknown_ "
                         "(SYNTH_MORE: 66 in all, 11,500 more clips)",
                         ["--recipe", "best_tc_resnet", "--peers", "1", "--how_many_training_steps",
                          "6000", "--data_dir", "{synth_more},{real}"]),
    "best_single_realunk": ("best_single with 19 training clips per synthetic unknown word "
                            "(SYNTH_FEWUNK): real unknown words weigh as much as real "
                            "keywords",
                            ["--recipe", "best_tc_resnet",
                             "--peers", "1", "--how_many_training_steps",
                             "6000", "--data_dir", "{synth_fewunk},{real}"]),
    "best_single_rev_unk25": ("best_single_unk25 with the sample's own training clips of 8 "
                              "keywords reversed in time as more _unknown_ (REAL_REV)",
                              ["--recipe", "best_tc_resnet",
                               "--peers", "1", "--how_many_training_steps",
                               "6000", "--unknown_percentage", "25",
                               "--data_dir", "{synth_flite},{real_rev}"]),
    "best_bc1_4000": ("one BC-ResNet-1 (--peers 1) on log-mel for 4,000 steps, best's data "
                      "and other flags",
                      ["--recipe", "best_tc_resnet",
                       "--model_architecture", "bc_resnet_1", "--peers", "1",
                       "--how_many_training_steps", "4000", "--data_dir", "{synth_flite},{real}"]),
    "best_bc3_3000": ("one BC-ResNet-3 (--peers 1) on log-mel for 3,000 steps (about 0.8x "
                      "the CPU of best's 3 peers for 9,000), best's data and other flags",
                      ["--recipe", "best_tc_resnet",
                       "--model_architecture", "bc_resnet_3", "--peers", "1",
                       "--how_many_training_steps", "3000", "--data_dir", "{synth_flite},{real}"]),
    "best_se": ("speech_embedding on best's data (synthetic + the sample's training clips, "
                "real x16), one model (--peers 1), 3,000 steps, ism augmentation",
                ["--recipe", "best_tc_resnet",
                 "--model_architecture", "speech_embedding", "--peers", "1",
                 "--how_many_training_steps", "3000", "--augment", "ism",
                 "--data_dir", "{synth_flite},{real}"]),
    "best_pair": ("speech_embedding_tc_resnet (the embedding's head and TC-ResNet8 on its "
                  "log-mel floored at 4.0, logits summed) on best's data, 4,500 steps, ism "
                  "augmentation",
                  _pair_lever("4500")),
    "best_pair_7000": ("best_pair with 7,000 steps",
                       _pair_lever("7000")),
    "best_pair_ft2": ("best_pair with the embedding's last 2 convolutions trained too "
                      "(--train_embedding_layers 2)",
                      _pair_lever("4500", "--train_embedding_layers", "2")),
    "best_pair_ft4": ("best_pair with the embedding's last 4 convolutions trained too "
                      "(--train_embedding_layers 4)",
                      _pair_lever("4500", "--train_embedding_layers", "4")),
    "best_pair_ft8_r025": ("best_pair with the embedding's last 8 convolutions trained at a "
                           "quarter of the rate (--train_embedding_layers 8 "
                           "--embedding_rate_scale 0.25)",
                           _best_lever()),
    "best_trainval": ("best (best_pair_ft8_r025) with the sample's validation speakers as "
                      "real training speakers too (REAL_TRAINVAL: 62 speakers, not 44); "
                      "its real validation column is not held out",
                      _best_lever(real="{real_trainval}")),
    "best_half": ("best (best_pair_ft8_r025) with half of the sample's training speakers "
                  "(REAL_HALF: 22, not 44)",
                  _best_lever(real="{real_half}")),
    "best_fold_a": ("best (best_pair_ft8_r025) on REAL_FOLD_A: 91 real training speakers, "
                    "its real test column on the 29 testing speakers it kept",
                    _best_lever(real="{real_fold_a}")),
    "best_fold_b": ("best (best_pair_ft8_r025) on REAL_FOLD_B: 91 real training speakers, "
                    "its real test column on the other 29 testing speakers",
                    _best_lever(real="{real_fold_b}")),
    "best_pair_ft12_r025": ("best_pair_ft8_r025 (best) with the last 12 convolutions",
                            _pair_lever("4500", "--train_embedding_layers", "12",
                                        "--embedding_rate_scale", "0.25")),
    "best_pair_ft16_r025": ("best_pair_ft8_r025 (best) with the last 16 convolutions",
                            _pair_lever("4500", "--train_embedding_layers", "16",
                                        "--embedding_rate_scale", "0.25")),
    "best_ushift500": ("best (best_pair_ft8_r025) with _unknown_ clips shifted up to 500 ms "
                       "(--unknown_time_shift_ms 500; keywords and silence keep 100 ms), as a "
                       "stream's sliding window meets non-keyword speech off centre",
                       _best_lever("--unknown_time_shift_ms", "500")),
    "best_ushift250": ("best_ushift500 with 250 ms (--unknown_time_shift_ms 250): most of "
                       "each unknown word stays in the window",
                       _best_lever("--unknown_time_shift_ms", "250")),
    "best_shift250": ("best (best_pair_ft8_r025) with every clip shifted up to 250 ms "
                      "(--time_shift_ms 250; 100 otherwise): keywords and unknown words alike "
                      "seen further off centre",
                      _best_lever("--time_shift_ms", "250")),
    "best_hn": ("best (best_pair_ft8_r025, the same seed's run) fine-tuned for 1,000 steps at "
                "learning rate 0.0005 with the hard negatives `mine` took from it "
                "(--negatives_dir MINED/best_pair_ft8_r025-sS)",
                _ft_lever("--negatives_dir", "{out}/mined/best_pair_ft8_r025-s{seed}")),
    "best_ft_control": ("best_hn without the hard negatives: the same fine-tuning on best's "
                        "data alone, so that best_hn is read against it",
                        _ft_lever()),
    "best_ft_vtlp": ("best_ft_control with vocal-tract-length perturbation added to ism "
                     "(--augment ism_vtlp: warp 0.88-1.12 on 60% of clips): more voices made "
                     "from each of the 44 real training speakers while fine-tuning",
                     _ft_lever("--augment", "ism_vtlp")),
    "best_ft_voice": ("best_ft_control with wider speed perturbation (--augment ism_voice: "
                      "speed 0.8-1.25 on 80% of clips, 0.88-1.12 on 60% otherwise)",
                      _ft_lever("--augment", "ism_voice")),
    "best_ft_fb5": ("best_ft_control with --folder_balance 5 (2.5 otherwise): the "
                    "fine-tuning batches hear the real speakers about twice as often",
                    _ft_lever("--folder_balance", "5")),
    "best_restart": ("best_ft_control as one run: best_pair_ft8_r025 (best) then 1,000 steps "
                     "at 0.0005 as a second phase that starts a fresh optimizer "
                     "(--restart_optimizer)",
                     _pair_lever("4500,1000", "--train_embedding_layers", "8",
                                 "--embedding_rate_scale", "0.25", "--learning_rate",
                                 "0.002,0.0005", "--restart_optimizer", "true")),
    "best_restart_fb5": ("best_restart with --folder_balance 2.5,5: the second phase hears "
                         "the real speakers about twice as often (best_ft_fb5 as one run)",
                         _pair_lever("4500,1000", "--train_embedding_layers", "8",
                                     "--embedding_rate_scale", "0.25", "--learning_rate",
                                     "0.002,0.0005", "--restart_optimizer", "true",
                                     "--folder_balance", "2.5,5")),
    "best_pair_ft8_r025_ls": ("best_pair_ft8_r025 (best) with --label_smoothing 0.1",
                              _best_lever("--label_smoothing", "0.1")),
    "best_pair_ft8_r025_bg02": ("best_pair_ft8_r025 (best) with background noise up to 0.2 "
                                "(--background_volume 0.2; 0.1 otherwise)",
                                _best_lever("--background_volume", "0.2")),
    "best_pair_mixup": ("best_pair with --mixup 0.3 (each example's power spectrogram mixed "
                        "with the batch's mirrored one, Beta(0.3, 0.3) weights, labels alike)",
                        _pair_lever("4500", "--mixup", "0.3")),
    "best_pair_festival": ("best_pair on quick_festival's synthetic set (Festival's two voices "
                           "as a fifth of the speakers beside espeak-ng and flite)",
                           _pair_lever("4500", synth="{synth_festival}")),
    "best_peers3_6000": ("best with 6,000 steps",
                         ["--recipe", "best_tc_resnet", "--how_many_training_steps", "6000",
                          "--data_dir", "{synth_flite},{real}"]),
    "best_ft_1000_r8": ("the previous best recipe: the quick model fine-tuned for 1,000 "
                        "steps on synthetic + real x8 (room_spec)",
                        ["--recipe", "best_tc_resnet",
                         "--peers", "1", "--how_many_training_steps", "1000",
                         "--folder_balance", "0", "--init_checkpoint", "{out}/quick_espeak-s{seed}",
                         "--data_dir", "{synth}" + ",{real}" * 8]),
    # Levers explored for issue 9 (1 seed, judged on the real validation partition).
    "best_r8_1500": ("synthetic + real x8, room_spec, 1,500 steps",
                     ["--recipe", "best_tc_resnet", "--peers", "1", "--folder_balance", "0",
                      "--how_many_training_steps", "1500",
                      "--data_dir", "{synth}" + ",{real}" * 8]),
    "quick_bc1": ("the quick recipe with BC-ResNet-1 (9.2K parameters) on 98 x 40 MFCC",
                  ["--recipe", "quick_tc_resnet", "--model_architecture", "bc_resnet_1",
                   "--data_dir", "{synth_flite}"]),
    "quick_bc1_mel": ("the quick recipe with BC-ResNet-1 on 98 x 40 log-mel (the paper's "
                      "input)",
                      ["--recipe", "quick_tc_resnet", "--model_architecture", "bc_resnet_1",
                       "--preprocess", "log_mel", "--data_dir", "{synth_flite}"]),
    "bc1_3000": ("BC-ResNet-1 on 98 x 40 MFCC, the quick recipe's data and flags with "
                 "2.5x its steps (3,000)",
                 ["--recipe", "quick_tc_resnet", "--model_architecture", "bc_resnet_1",
                  "--how_many_training_steps", "3000", "--data_dir", "{synth_flite}"]),
    "bc1_mel_3000": ("as bc1_3000 on 98 x 40 log-mel (the paper's input)",
                     ["--recipe", "quick_tc_resnet", "--model_architecture", "bc_resnet_1",
                      "--preprocess", "log_mel", "--how_many_training_steps", "3000",
                      "--data_dir", "{synth_flite}"]),
    "bc1_mel_stream_3000": ("as bc1_mel_3000 with the streaming-first (time-VALID) "
                            "BC-ResNet-1",
                            ["--recipe", "quick_tc_resnet", "--model_architecture", "bc_resnet_1_stream",
                             "--preprocess", "log_mel", "--how_many_training_steps", "3000",
                             "--data_dir", "{synth_flite}"]),
    "quick_mel": ("the quick recipe (TC-ResNet8) on 98 x 40 log-mel instead of MFCC",
                  ["--recipe", "quick_tc_resnet", "--preprocess", "log_mel", "--data_dir", "{synth_flite}"]),
    "quick_bc3": ("the quick recipe with BC-ResNet-3 (54K parameters) on 98 x 40 MFCC",
                  ["--recipe", "quick_tc_resnet", "--model_architecture", "bc_resnet_3",
                   "--data_dir", "{synth_flite}"]),
    "quick_bc1_stream": ("the quick recipe with the streaming-first (time-VALID) "
                         "BC-ResNet-1 on 98 x 40 MFCC",
                         ["--recipe", "quick_tc_resnet", "--model_architecture", "bc_resnet_1_stream",
                          "--data_dir", "{synth_flite}"]),
    "quick_tc_stream": ("the quick recipe with the streaming-first (time-VALID, no strides) "
                        "TC-ResNet8 on 98 x 40 MFCC",
                        ["--recipe", "quick_tc_resnet", "--model_architecture", "tc_resnet_stream",
                         "--data_dir", "{synth_flite}"]),
    "quick_600": ("quick recipe at the demo's 600 steps (room_spec)",
                  ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                   "--how_many_training_steps", "600",
                   "--data_dir", "{synth}"]),
    "quick_600_voice": ("quick, 600 steps, voice_spec (speed 0.8-1.25, wider SpecAugment)",
                        ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600",
                         "--augment", "voice_spec", "--data_dir", "{synth}"]),
    "quick_600_ls_unk": ("quick, 600 steps, label smoothing 0.1, unknown 25%",
                         ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                          "--how_many_training_steps", "600",
                          "--label_smoothing", "0.1", "--unknown_percentage", "25",
                          "--data_dir", "{synth}"]),
    "quick_600_mfcc20": ("quick, 600 steps, 20 MFCC coefficients instead of 40",
                         ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                          "--how_many_training_steps", "600",
                          "--feature_bin_count", "20", "--data_dir", "{synth}"]),
    "best_ft_q600_1000": ("fine-tune the quick_600 model of the same seed for 1,000 steps on "
                          "synthetic + real x8 (room_spec)",
                          ["--recipe", "best_tc_resnet", "--peers", "1", "--folder_balance", "0",
                           "--how_many_training_steps", "1000",
                           "--init_checkpoint", "{out}/quick_600-s{seed}",
                           "--data_dir", "{synth}" + ",{real}" * 8]),
    "best_ft_q600_1000_spec": ("as best_ft_q600_1000 but SpecAugment only while fine-tuning "
                               "(no room/mic/speed on the real clips)",
                               ["--recipe", "best_tc_resnet",
                                "--peers", "1", "--folder_balance", "0",
                                "--how_many_training_steps", "1000",
                                "--augment", "spec",
                                "--init_checkpoint", "{out}/quick_600-s{seed}",
                                "--data_dir", "{synth}" + ",{real}" * 8]),
    "best_ft_q600_1000_ls_unk": ("as best_ft_q600_1000 plus label smoothing 0.1 and "
                                 "unknown 20%",
                                 ["--recipe", "best_tc_resnet",
                                  "--peers", "1", "--folder_balance", "0",
                                  "--how_many_training_steps", "1000",
                                  "--label_smoothing", "0.1", "--unknown_percentage", "20",
                                  "--init_checkpoint", "{out}/quick_600-s{seed}",
                                  "--data_dir", "{synth}" + ",{real}" * 8]),
    # Levers for the synthetic-only `quick` recipe (second round; 1 seed, judged on the
    # real validation partition). SYNTH_WIDE is a set made with `--variety wide`.
    "quick_1200": ("quick, 1,200 steps (room_spec)",
                   ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                    "--how_many_training_steps", "1200",
                    "--data_dir", "{synth}"]),
    "quick_600_bg03": ("quick, 600 steps, background noise volume up to 0.3 (0.1)",
                       ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                        "--how_many_training_steps", "600",
                        "--background_volume", "0.3", "--data_dir", "{synth}"]),
    "quick_600_vtlp": ("quick, 600 steps, room_vtlp_spec (+ vocal-tract-length warp "
                       "0.88-1.12 on 60% of clips)",
                       ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600",
                        "--augment", "room_vtlp_spec", "--data_dir", "{synth}"]),
    "quick_600_realnoise": ("quick, 600 steps, the real sample's 6 background-noise "
                            "recordings (no speech) added to the synthetic noise pool",
                            ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                             "--how_many_training_steps", "600",
                             "--data_dir", "{synth_realnoise}"]),
    "quick_600_us": ("quick, 600 steps, on a set half of whose speakers are American "
                     "(`--voices` en-US x7 + the other 7 accents once)",
                     ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                      "--how_many_training_steps", "600",
                      "--data_dir", "{synth_us}"]),
    "quick_flite2": ("quick on a set two thirds of whose speakers are flite voices "
                     "(`--voices espeak,flite,flite,flite,flite`)",
                     ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600",
                      "--augment", "room_spec",
                      "--data_dir", "{synth_flite2}"]),
    "quick_flite_900": ("quick (half-flite set) with 900 steps",
                        ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                         "--how_many_training_steps", "900",
                         "--data_dir", "{synth_flite}"]),
    "quick_flite35": ("quick (half-flite set) on 35 words: the 5 words v0.02 added (backward, "
                      "follow, forward, learn, visual) join the unknown words",
                      ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600",
                       "--augment", "room_spec",
                       "--data_dir", "{synth_flite35}"]),
    "quick_600_wide": ("quick, 600 steps, on a `--variety wide` synthetic set (wider "
                       "rate/pitch/range, intonation)",
                       ["--recipe", "quick_tc_resnet", "--augment", "room_spec",
                        "--how_many_training_steps", "600",
                        "--data_dir", "{synth_wide}"]),
    "best_ft_q600_1500_r16": ("as best_ft_q600_1000 but 1,500 fine-tuning steps and real x16",
                              ["--recipe", "best_tc_resnet",
                               "--peers", "1", "--folder_balance", "0",
                               "--how_many_training_steps", "1500",
                               "--init_checkpoint", "{out}/quick_600-s{seed}",
                               "--data_dir", "{synth}" + ",{real}" * 16]),
    # One command, no quick run first: from scratch on synthetic + real (x16).
    "best_scratch_3000_r16": ("from scratch (no --init_checkpoint), 3,000 steps on synthetic "
                              "+ real x16 (room_spec)",
                              ["--recipe", "best_tc_resnet", "--peers", "1",
                               "--how_many_training_steps", "3000",
                               "--data_dir", "{synth},{real}"]),
    "best_scratch_6000_r16": ("as best_scratch_3000_r16 but 6,000 steps",
                              ["--recipe", "best_tc_resnet", "--peers", "1",
                               "--how_many_training_steps", "6000",
                               "--data_dir", "{synth},{real}"]),
    "best_peers5": ("best with 5 peers (each fits the mean softmax of the other four) and "
                    "6,000 steps",
                    ["--recipe", "best_tc_resnet",
                     "--peers", "5", "--how_many_training_steps", "6000",
                     "--data_dir", "{synth_flite},{real}"]),
    "best_mixup": ("best with --mixup 0.3 (features mixed with the batch's mirror, Beta(0.3, "
                   "0.3) weights, labels mixed alike)",
                   ["--recipe", "best_tc_resnet",
                    "--mixup", "0.3", "--data_dir", "{synth_flite},{real}"]),
    "quick_900": ("quick (ism_spec) with 900 steps instead of 600",
                  ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "900",
                   "--data_dir", "{synth_flite}"]),
    "quick_600_ism": ("quick (ism_spec) with 600 steps: the recipe before 1,200 steps",
                      ["--recipe", "quick_tc_resnet", "--how_many_training_steps", "600",
                       "--data_dir", "{synth_flite}"]),
    "best_ism": ("best with --augment ism_spec (reverberation of 256 image-source rooms)",
                 ["--recipe", "best_tc_resnet", "--augment", "ism_spec",
                  "--data_dir", "{synth_flite},{real}"]),
    "best_ft_1500_fb5": ("as best_ft_q600_1500_r16 but --folder_balance 5 (real x32)",
                         ["--recipe", "best_tc_resnet",
                          "--peers", "1", "--how_many_training_steps", "1500",
                          "--folder_balance", "5", "--init_checkpoint", "{out}/quick_600-s{seed}",
                          "--data_dir", "{synth},{real}"]),
    "best_ft_1500_unk20": ("as best_ft_q600_1500_r16 but unknown 20% (the weakest real class "
                           "is _unknown_)",
                           ["--recipe", "best_tc_resnet",
                            "--peers", "1", "--how_many_training_steps", "1500",
                            "--unknown_percentage", "20",
                            "--init_checkpoint", "{out}/quick_600-s{seed}",
                            "--data_dir", "{synth},{real}"]),
}


def _flags(name: str, seed: int) -> list[str]:
    if name not in LEVERS:
        raise SystemExit(f"unknown lever '{name}': one of {', '.join(LEVERS)}")
    return [f.format(synth=SYNTH, synth_wide=SYNTH_WIDE, synth_realnoise=SYNTH_REALNOISE,
                     synth_us=SYNTH_US, synth_flite=SYNTH_FLITE, synth_festival=SYNTH_FESTIVAL,
                     synth_flite2=SYNTH_FLITE2, synth_flite35=SYNTH_FLITE35,
                     synth_more=SYNTH_MORE, real_rev=REAL_REV,
                     real_trainval=REAL_TRAINVAL, real_half=REAL_HALF,
                     real_fold_a=REAL_FOLD_A, real_fold_b=REAL_FOLD_B,
                     synth_fewunk=SYNTH_FEWUNK,
                     real=SAMPLE, out=OUT, seed=seed)
            for f in LEVERS[name][1]]


# Runs whose training folder keeps only some of the sample's testing speakers: their real
# test column scores that folder's testing partition.
REAL_TESTING = {"best_fold_a": REAL_FOLD_A, "best_fold_b": REAL_FOLD_B}
# Real folders that train on the sample's validation speakers: a run on one of them has no
# held-out real validation column (its tables say so).
VALIDATION_TRAINED_ON = (REAL_TRAINVAL, REAL_FOLD_A, REAL_FOLD_B)


def _validation_cell(records: list[dict]) -> str:
    """The real validation column of a run's records, or "(trained on)"."""
    cmd = records[0]["command"].split()
    if set(cmd[cmd.index("--data_dir") + 1].split(",")) & {str(d) for d in VALIDATION_TRAINED_ON}:
        return "(trained on)"
    return _mean_spread([r["real_validation"]["accuracy"] for r in records])


def evaluate(train_dir: Path, real_testing: Path = SAMPLE) -> dict:
    from kws.train.loop import evaluate_checkpoint

    out = {}
    for key, data_dir, partition in [("real_validation", SAMPLE, "validation"),
                                     ("real_testing", real_testing, "testing"),
                                     ("synthetic_testing", SYNTH, "testing")]:
        r = evaluate_checkpoint(str(train_dir), str(data_dir), partition,
                                validation_percentage=12, testing_percentage=4)
        m = r["confusion_matrix"]
        out[key] = {"accuracy": r["accuracy"], "count": r["count"],
                    "per_class": {lab: float(m[i, i] / max(m[i].sum(), 1))
                                  for i, lab in enumerate(r["labels"])},
                    "confusion_matrix": m.tolist(), "labels": r["labels"]}
    return out


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(cmd: list[str], **kwargs) -> None:
    """subprocess.run(cmd, check=True, **kwargs), except that a SIGTERM or SIGINT to this
    process stops the child too (a killed bench would otherwise leave its `kws train`
    writing checkpoints into the run's folder)."""
    child = subprocess.Popen(cmd, **kwargs)

    def stop(signum, frame):
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if child.wait() != 0:
            raise subprocess.CalledProcessError(child.returncode, cmd)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def cmd_train(args, extra: list[str]) -> None:
    name_dir = OUT / f"{args.name}-s{args.seed}"
    flags = [*_flags(args.name, args.seed), *SPLIT, "--data_url", "", "--seed", str(args.seed),
             "--train_dir", str(name_dir), "--summaries_dir", str(name_dir / "logs"),
             "--progress", "false", *extra]
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **({"PYTHONPATH": str(SOURCE_TREE)} if USE_SOURCE else {}))
    # With --resume the run starts from the folder's latest checkpoint (if any): the times
    # below then cover only the steps after it.
    from kws.train.checkpoint import latest_step

    resumed_from = latest_step(name_dir) if "--resume" in extra else None
    start = time.time()
    cpu_start = _children_cpu()
    with open(name_dir.with_suffix(".log"), "a" if resumed_from else "w") as log:
        run_child([sys.executable, "-m", "kws.cli", "train", *flags], stdout=log,
                  stderr=subprocess.STDOUT, env=env)
    seconds = time.time() - start
    # CPU time of the training process (user + system, all its threads): unlike the
    # wall-clock it does not grow while other jobs compete or /work/quiet.sh pauses it.
    cpu_seconds = _children_cpu() - cpu_start
    record = {"name": args.name, "seed": args.seed, "train_seconds": round(seconds, 1),
              "train_cpu_seconds": round(cpu_seconds, 1),
              "command": "kws train " + " ".join(flags),
              "load_average": os.getloadavg()[0],
              **evaluate(name_dir, REAL_TESTING.get(args.name, SAMPLE))}
    if resumed_from:
        record["resumed_from_step"] = resumed_from
    with open(OUT / "results.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps({k: record[k] for k in ("name", "seed", "train_seconds")}),
          {k: record[k]["accuracy"] for k in ("real_validation", "real_testing",
                                               "synthetic_testing")})


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _load() -> list[dict]:
    return _read_jsonl(OUT / "results.jsonl")


def _mean_spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0] * 100:.1f}%"
    return f"{statistics.mean(values) * 100:.1f}% ± {statistics.stdev(values) * 100:.1f}"


RECIPE_RUNS = ("quick", "best")  # the recipes as shipped, reported per seed


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _steps(record: dict) -> str:
    cmd = record["command"].split()
    if "--how_many_training_steps" in cmd:
        return cmd[cmd.index("--how_many_training_steps") + 1]
    from kws.train.config import RECIPES

    recipe = cmd[cmd.index("--recipe") + 1] if "--recipe" in cmd else ""
    return RECIPES.get(recipe, {}).get("how_many_training_steps", "")


def _minutes(rs: list[dict]) -> str:
    """Mean training time of the runs that trained from step 0 (a run resumed with --resume
    after an interruption has a record of its last part only)."""
    whole = [r["train_seconds"] for r in rs if not r.get("resumed_from_step")]
    return f"{statistics.mean(whole) / 60:.1f} min" if whole else "(resumed)"


def _short(command: str) -> str:
    """The command with the data paths named SYNTH, SYNTH_FLITE, ... and REAL, run folders
    relative (whichever checkout the run was made in)."""
    command = command.replace(str(SAMPLE), "REAL").replace("--data_url  ", "--data_url '' ")
    command = re.sub(r"[^\s,]*/bench/out/(synth\w*)", lambda m: m.group(1).upper(), command)
    return re.sub(r"[^\s,]*/bench/out/acc", "bench/out/acc", command)


def cmd_report(_args) -> None:
    from kws.train.report import confusion_matrix_png

    records = _load()
    names = list(dict.fromkeys(r["name"] for r in records))
    rows = [SECTION_START, "## Accuracy on real voices", "",
            "12-label accuracy on real speakers no model heard in training: the validation "
            "(hash [10, 12), N=304, used to develop and to judge levers) and testing "
            "(hash [12, 16), N=1,253, reported) partitions of "
            "`../shared/data/speech_commands_sample`, split with `--validation_percentage 12 "
            "--testing_percentage 4` (the sample holds only Speech Commands test-set "
            "speakers; its [16, 20) part, 753 entries, is the real training data of `best`). "
            "Synthetic data: SYNTH_FLITE is `kws make-dataset --clips_per_word 500 --speakers "
            "250 --seed 0` (30 words, make-dataset's default voices: half the speakers on "
            "espeak-ng, half on flite), what the recipes train on; SYNTH is the same with "
            "`--voices espeak` (espeak-ng alone, the levers' data before flite), and the "
            "synthetic test column is its test partition under the same split (N=288). "
            "`python bench/bench_accuracy.py train NAME --seed S` trains and evaluates one run, "
            "`report` writes this section from bench/out/acc/results.jsonl (commands below name "
            "the synthetic folders SYNTH, SYNTH_FLITE, ... as above and the real sample REAL). Training times are "
            "wall-clock under `nice -n 19` on the shared 2-core machine while other jobs ran "
            "(load average in the tables): upper bounds for an idle machine.", ""]
    for name in RECIPE_RUNS:
        rs = sorted((r for r in records if r["name"] == name), key=lambda r: r["seed"])
        if not rs:
            continue
        rows += [f"### `{name}`: {LEVERS[name][0]}", "",
                 "| seed | training time | load | synthetic test | real validation "
                 "| real test |", "|---|---|---|---|---|---|"]
        for r in rs:
            seed = str(r["seed"])
            if r.get("reused_from"):  # the same flags, run earlier under a lever's name
                seed += f" (the `{r['reused_from']}` run)"
            minutes = f"{r['train_seconds'] / 60:.1f} min"
            if r.get("resumed_from_step"):
                minutes = f"resumed at step {r['resumed_from_step']}, then {minutes}"
            base = [q for q in records if q["name"] == "quick" and q["seed"] == r["seed"]]
            if name == "best" and base and "--init_checkpoint" in r["command"]:
                total = (r["train_seconds"] + base[0]["train_seconds"]) / 60
                minutes += f" (+ quick {base[0]['train_seconds'] / 60:.1f} = {total:.1f} min)"
            rows.append(f"| {seed} | {minutes} "
                        f"| {r['load_average']:.0f} "
                        f"| {_pct(r['synthetic_testing']['accuracy'])} "
                        f"| {_pct(r['real_validation']['accuracy'])} "
                        f"| {_pct(r['real_testing']['accuracy'])} |")
        rows.append(
            f"| **mean ± sd** | {_minutes(rs)} "
            f"| | {_mean_spread([r['synthetic_testing']['accuracy'] for r in rs])} "
            f"| {_mean_spread([r['real_validation']['accuracy'] for r in rs])} "
            f"| **{_mean_spread([r['real_testing']['accuracy'] for r in rs])}** |")
        cpu = [(r["seed"], r.get("train_cpu_seconds") or r.get("cpu_seconds")) for r in rs
               if not r.get("resumed_from_step")]
        cpu = [(seed, c) for seed, c in cpu if c]
        if cpu:  # wall-clock above is shared-machine time; the process's own CPU time
            rows += ["", "Process CPU time of the training (`kws train`, all threads; "
                     "less sensitive to other jobs than the wall-clock): "
                     + ", ".join(f"seed {seed} {c / 60:.1f} min" for seed, c in cpu) + "."]
        labels = rs[0]["real_testing"]["labels"]
        matrix = sum(np.array(r["real_testing"]["confusion_matrix"]) for r in rs)
        per = ", ".join(f"{lab} {matrix[i, i] / max(matrix[i].sum(), 1) * 100:.0f}%"
                        for i, lab in enumerate(labels))
        png = REPO / "docs" / f"confusion_{name}.png"
        png.parent.mkdir(exist_ok=True)
        png.write_bytes(confusion_matrix_png(
            matrix, labels, f"{name}, real test, seeds {', '.join(str(r['seed']) for r in rs)}"))
        rows += ["", f"Real test per class (all seeds pooled): {per}. Confusion matrix "
                 f"(rows truth, pooled over the seeds): [docs/{png.name}](docs/{png.name}).",
                 ""]
        shown = next((r for r in rs if not r.get("resumed_from_step")), rs[0])
        rows += [f"Command (seed {shown['seed']}): `{_short(shown['command'])}`", ""]
    rows += ["### What each lever changed", "",
             "One seed each unless stated; judge by the real validation column (the testing "
             "column is shown for completeness, it was not used to choose).", "",
             "| run | what | seeds | steps | training time | load | synthetic test "
             "| real validation | real test |", "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        if name in RECIPE_RUNS:
            continue
        rs = [r for r in records if r["name"] == name]
        rows.append(
            f"| {name} | {LEVERS.get(name, ('',))[0]} | {', '.join(str(r['seed']) for r in rs)} "
            f"| {_steps(rs[0])} | {_minutes(rs)} "
            f"| {statistics.mean(r['load_average'] for r in rs):.0f} "
            f"| {_mean_spread([r['synthetic_testing']['accuracy'] for r in rs])} "
            f"| {_validation_cell(rs)} "
            f"| {_mean_spread([r['real_testing']['accuracy'] for r in rs])} |")
    heldout = _load_heldout()
    if heldout:
        rows += ["", "Synthetic-only runs also measured on the sample's training speakers "
                 "(hash [16, 20), N=753; no synthetic-only run heard them), a second "
                 "validation set (`bench_accuracy.py heldout NAME...`):", "",
                 "| run | seeds | real validation | real [16, 20) | real test |",
                 "|---|---|---|---|---|"]
        for name in dict.fromkeys(h["name"] for h in heldout):
            hs = sorted((h for h in heldout if h["name"] == name), key=lambda h: h["seed"])
            seeds = [h["seed"] for h in hs]
            rs = [r for r in records if r["name"] == name and r["seed"] in seeds]
            rows.append(
                f"| {name} | {', '.join(str(x) for x in seeds)} "
                f"| {_mean_spread([r['real_validation']['accuracy'] for r in rs])} "
                f"| {_mean_spread([h['accuracy'] for h in hs])} "
                f"| {_mean_spread([r['real_testing']['accuracy'] for r in rs])} |")
    rows += ["", "Lever commands:", ""]
    for name in names:
        if name in RECIPE_RUNS:
            continue
        r = [r for r in records if r["name"] == name][0]
        rows.append(f"- `{name}`: `{_short(r['command'])}`")
    notes = REPO / "bench" / "accuracy_notes.md"
    if notes.exists():
        rows += ["", notes.read_text().strip()]
    rows.append(SECTION_END)
    path = REPO / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else ""
    section = "\n".join(rows) + "\n"
    if SECTION_START in text:
        head, rest = text.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n") if SECTION_END in rest else ""
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
    print(section)


def _load_heldout() -> list[dict]:
    path = OUT / "heldout.jsonl"
    return _read_jsonl(path) if path.exists() else []


def _run_dir(name: str, record: dict) -> Path:
    """The train_dir of a recorded run (an earlier run kept under another name has its own)."""
    cmd = record["command"].split()
    train_dir = (Path(cmd[cmd.index("--train_dir") + 1]) if "--train_dir" in cmd
                 else OUT / f"{name}-s{record['seed']}")
    if not train_dir.is_dir():
        raise SystemExit(f"{train_dir}: the run's folder is missing")
    return train_dir


def _runs(records: list[dict], name: str) -> list[dict]:
    """The recorded runs of lever `name`, by seed; none is an error."""
    rs = sorted((r for r in records if r["name"] == name), key=lambda r: r["seed"])
    if not rs:
        raise SystemExit(f"no runs of '{name}' in {OUT / 'results.jsonl'}")
    return rs


def _refuse_trained_on_sample(name: str, record: dict) -> None:
    if str(SAMPLE) in record["command"]:
        raise SystemExit(f"{name} seed {record['seed']} trained on {SAMPLE}: its [16, 20) "
                         "partition is not held out")


def cmd_heldout(args) -> None:
    """Evaluate the runs of levers that trained on synthetic speech alone on the sample's
    training partition (hash [16, 20)): real speakers such a run never heard, a second
    validation set (N=753) beside the 304 clips of the validation partition, so that a
    choice between synthetic-only levers need not lean on the testing partition. Runs whose
    command names the real sample are refused (that partition is their training data)."""
    from kws.train.loop import evaluate_checkpoint

    records = _load()
    kept = [h for h in _load_heldout() if h["name"] not in args.names]
    for name in args.names:
        for r in _runs(records, name):
            _refuse_trained_on_sample(name, r)
            train_dir = _run_dir(name, r)
            e = evaluate_checkpoint(str(train_dir), str(SAMPLE), "training",
                                    validation_percentage=12, testing_percentage=4)
            kept.append({"name": name, "seed": r["seed"], "accuracy": e["accuracy"],
                         "count": e["count"]})
            print(f"{name} seed {r['seed']}: {e['accuracy'] * 100:.1f}% of {e['count']}")
    (OUT / "heldout.jsonl").write_text("".join(json.dumps(h) + "\n" for h in kept))


# gen-stream draws from a testing partition: these splits make it the 12/4 split's
# validation clips (hash [10, 12) within the sample), its training clips ([16, 20)),
# which only runs trained on synthetic speech alone never heard, or its testing clips
# ([12, 16): the model cards' stream, for the final word only); testing_fold_a and _b are
# the testing clips of REAL_FOLD_A and REAL_FOLD_B, each half of the testing voices.
STREAMS = {"validation": (SAMPLE, ["--validation_percentage", "10", "--testing_percentage", "2"]),
           "heldout": (SAMPLE, ["--validation_percentage", "16", "--testing_percentage", "4"]),
           "testing": (SAMPLE, SPLIT),
           "testing_fold_a": (REAL_FOLD_A, SPLIT),
           "testing_fold_b": (REAL_FOLD_B, SPLIT)}
STREAM_SECONDS = 1200  # the streams of every record without a _minutesM in its name
SWEEP = "0.05:0.95:0.05"  # kws stream-eval's default --sweep_thresholds


def _kws(*argv: str) -> None:
    subprocess.run([sys.executable, "-m", "kws.cli", *argv], check=True,
                   stdout=subprocess.DEVNULL)


def stream_record(name: str, seed: int | None, stream: str, sweep: list[dict],
                  by_word: dict | None = None) -> dict:
    """One run's stream figures at its best quiet threshold (kws stream-eval's best_quiet:
    the most words correct with at most 1 false positive per hour; printed), with the
    sweep and, when given, what became of each label's words there (`by_word`)."""
    from kws.commands.stream_eval import best_quiet

    best = best_quiet(sweep)
    who = name if seed is None else f"{name} seed {seed}"
    record = {"name": name, "seed": seed, "stream": stream,
              "threshold": round(best["threshold"], 3) if best else None,
              "correct_percent": best["correct_percent"] if best else 0.0,
              "wrong_percent": best["wrong_percent"] if best else None,
              "false_positives_per_hour": best["false_positives_per_hour"] if best else None,
              "sweep": sweep}
    if by_word is not None:
        record["by_word"] = by_word
    if best:
        print(f"{who} ({stream}): {best['correct_percent']:.1f}% correct, "
              f"{best['wrong_percent']}% wrong at threshold {record['threshold']} "
              f"({best['false_positives_per_hour']} false positives per hour)")
    else:
        print(f"{who} ({stream}): no threshold keeps false positives at or "
              "under 1 per hour")
    return record


def decode_stream(name: str, seed: int | None, partition: str, times, scores, labels,
                  duration_ms: float) -> dict:
    """stream_record of window scores already computed over `partition`'s stream, decoded
    by kws's evaluator with stream-eval's default threshold sweep."""
    import kws
    from kws.commands.stream_eval import parse_thresholds

    e = kws.evaluate_window_scores(
        times, np.asarray(scores, dtype=np.float32), list(labels),
        stream_wav(partition).with_suffix(".txt").read_text(), duration_ms,
        sweep=parse_thresholds(SWEEP))
    return stream_record(name, seed, f"{partition}_stream", e.to_dict()["sweep"])


def stream_name(partition: str, seed: int = 0, seconds: int = STREAM_SECONDS) -> str:
    """The name of `partition`'s stream made with gen-stream --seed `seed` and
    --duration_seconds `seconds` (the records' "stream" field, before any _delayD)."""
    return (f"{partition}_stream" + (f"_seed{seed}" if seed else "")
            + (f"_minutes{seconds // 60}" if seconds != STREAM_SECONDS else ""))


def stream_wav(partition: str, seed: int = 0, seconds: int = STREAM_SECONDS) -> Path:
    """The stream of `partition`'s voices (20 minutes unless `seconds` says otherwise),
    gen-stream --seed `seed` (another arrangement of the same clips over other stretches of
    noise), made on first use."""
    wav = OUT / f"{stream_name(partition, seed, seconds)}.wav"
    if not wav.is_file():
        folder, split = STREAMS[partition]
        _kws("gen-stream", "--data_dir", str(folder), *split, "--duration_seconds",
             str(seconds), "--seed", str(seed), "--output_wav", str(wav))
    return wav


def _export_native(train_dir: Path) -> Path:
    """train_dir/native/model.kws, exported again when the checkpoint is newer."""
    native = train_dir / "native"
    model = native / "model.kws"
    if not model.is_file() or model.stat().st_mtime < (train_dir / "checkpoint").stat().st_mtime:
        _kws("export", "--start_checkpoint", str(train_dir), "--output_dir", str(native),
             "--native_only")
    return model


def _ms_list(flag: str, text: str) -> list[int]:
    """A comma list of whole ms for `flag`."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"{flag} {text}: expected whole ms, comma-separated")


def _delays(text: str) -> list[int]:
    """--decision_delay_ms's list, each checked by the decoder's own bounds."""
    import kws

    delays = _ms_list("--decision_delay_ms", text)
    try:
        for d in delays:
            kws.StreamingOptions(decision_delay_ms=d).validate()
    except ValueError as e:
        raise SystemExit(f"--decision_delay_ms {text}: {e}")
    return delays


def cmd_stream(args) -> None:
    """Words correct on a 20-minute stream (--minutes) of real voices over the sample's real
    noise, at the best threshold with at most 1 false positive per hour (the streaming
    goal's measure; a 20-minute stream cannot show 1 per hour: one false positive there is
    3 per hour). --partition validation (default) streams the validation partition's voices;
    heldout the [16, 20) speakers, for runs trained on synthetic speech alone (runs whose
    command names the sample are refused); testing the testing partition's voices, the
    model cards' stream, for the final word (not for choosing). --stream_seed makes another
    stream of the same voices. Each run's checkpoint is exported to model.kws, its window
    scores over the stream computed once and decoded with each --decision_delay_ms over
    stream-eval's threshold sweep (again only when the checkpoint or the stream is newer
    than the last sweep)."""
    import kws
    from kws.commands.stream_eval import best_quiet, parse_thresholds, word_outcomes

    base = stream_name(args.partition, args.stream_seed, 60 * args.minutes)
    streams = {d: base + (f"_delay{d}" if d else "") for d in _delays(args.decision_delay_ms)}
    wav = stream_wav(args.partition, args.stream_seed, 60 * args.minutes)
    truth = wav.with_suffix(".txt").read_text()
    entries = kws._core.read_ground_truth(str(wav.with_suffix(".txt")))["entries"]
    records = _load()
    path = OUT / "stream.jsonl"
    new = []
    for name in args.names:
        if name in REAL_TESTING and STREAMS[args.partition][0] != REAL_TESTING[name]:
            raise SystemExit(f"{name} trained on some of the {args.partition} stream's "
                             f"voices: stream it on its own fold's testing voices")
        for r in _runs(records, name):
            if args.partition == "heldout":
                _refuse_trained_on_sample(name, r)
            train_dir = _run_dir(name, r)
            native = train_dir / "native"
            made = max(p.stat().st_mtime for p in (wav, train_dir / "checkpoint"))
            results = {d: native / f"{stream}.json" for d, stream in streams.items()}
            if any(not f.is_file() or f.stat().st_mtime < made
                   or "by_word" not in json.loads(f.read_text()) for f in results.values()):
                model = _export_native(train_dir)
                samples, rate = kws.read_wav(str(wav))
                evaluator = kws.StreamingEvaluator(str(model))
                times, scores = evaluator.compute_scores(samples, threads=os.cpu_count() or 1)
                for d, result in results.items():
                    decode = functools.partial(
                        kws.evaluate_window_scores, times, scores, list(evaluator.labels),
                        truth, 1000.0 * len(samples) / rate)
                    sweep = decode(options=kws.StreamingOptions(decision_delay_ms=d),
                                   sweep=parse_thresholds(SWEEP)).to_dict()["sweep"]
                    best = best_quiet(sweep)
                    by_word = None
                    if best:  # the words at the chosen threshold: decoded there again
                        at = decode(options=kws.StreamingOptions(
                            decision_delay_ms=d, detection_threshold=best["threshold"]))
                        assert at.accuracy.correct == best["correct"], (name, result)
                        by_word = word_outcomes(entries, at.detections)
                    result.write_text(json.dumps({"sweep": sweep, "by_word": by_word}))
            for d, stream in streams.items():
                done = json.loads(results[d].read_text())
                new.append(stream_record(name, r["seed"], stream, done["sweep"],
                                         done["by_word"]))
    # Read, merged and written under a lock: stream commands run side by side keep each
    # other's records.
    with open(OUT / "stream.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = [h for h in (_read_jsonl(path) if path.exists() else [])
                if h["name"] not in args.names or h["stream"] not in streams.values()]
        path.write_text("".join(json.dumps(h) + "\n" for h in kept + new))


def cmd_decoder(args) -> None:
    """The decoder's settings on a run's streams: each run of NAME (every seed) scored once
    over each stream (`stream`'s streams: --partition, --stream_seeds, --minutes), then
    decoded with every combination of --average_window_ms, --decision_delay_ms and
    --suppression_ms over stream-eval's threshold sweep; a record per run, stream and
    combination (words correct at the best threshold with at most 1 false positive per
    hour) in decoder.jsonl, and per combination the mean over streams of each seed, then
    over seeds (printed; a combination with no quiet threshold on some stream prints
    none). --ensemble decodes the mean of the seeds' window scores instead: what one model
    distilled from them could aim for."""
    import kws
    from kws._core import read_ground_truth
    from kws.commands.stream_eval import best_quiet, parse_thresholds

    grid = list(itertools.product(_ms_list("--average_window_ms", args.average_window_ms),
                                  _delays(args.decision_delay_ms),
                                  _ms_list("--suppression_ms", args.suppression_ms),
                                  args.allow_repeats))
    for average, delay, suppression, repeats in grid:
        try:
            kws.StreamingOptions(average_window_ms=average, decision_delay_ms=delay,
                                 suppression_ms=suppression, allow_repeats=repeats).validate()
        except ValueError as e:
            raise SystemExit(f"{average}/{delay}/{suppression} ms: {e}")
    wavs = [stream_wav(args.partition, seed, 60 * args.minutes) for seed in args.stream_seeds]
    sweep = parse_thresholds(SWEEP)
    runs = _runs(_load(), args.name)
    evaluators = {r["seed"]: kws.StreamingEvaluator(str(_export_native(_run_dir(args.name, r))))
                  for r in runs}
    if args.ensemble:  # every seed's run as one model: the mean of their window scores
        evaluators = {"ensemble": list(evaluators.values())}
    else:
        evaluators = {seed: [e] for seed, e in evaluators.items()}
    new = []
    for seed, members in evaluators.items():
        for wav in wavs:
            samples, rate = kws.read_wav(str(wav))
            scores = []
            for evaluator in members:
                times, s = evaluator.compute_scores(samples, threads=os.cpu_count() or 1)
                scores.append(s)
            mean = np.mean(scores, axis=0, dtype=np.float32)
            labels = list(members[0].labels)
            truth = wav.with_suffix(".txt")
            decode = functools.partial(kws.evaluate_window_scores, times, mean, labels,
                                       truth.read_text(), 1000.0 * len(samples) / rate,
                                       sweep=sweep)
            entries = read_ground_truth(str(truth))["entries"] if args.aligned else None
            for average, delay, suppression, repeats in grid:
                options = kws.StreamingOptions(average_window_ms=average,
                                               decision_delay_ms=delay,
                                               suppression_ms=suppression,
                                               allow_repeats=repeats)
                best = best_quiet(decode(options=options).to_dict()["sweep"])
                record = {"name": args.name, "seed": seed, "stream": wav.stem,
                          "average_window_ms": average, "decision_delay_ms": delay,
                          "suppression_ms": suppression, "allow_repeats": repeats,
                          "threshold": round(best["threshold"], 3) if best else None,
                          "correct_percent": best["correct_percent"] if best else None}
                if args.aligned and best:
                    options.detection_threshold = best["threshold"]
                    record["aligned"] = aligned_reading(
                        times, mean, labels, entries, decode(options=options, sweep=[]).detections)
                new.append(record)
    with open(OUT / "decoder.jsonl", "a") as f:
        f.write("".join(json.dumps(h) + "\n" for h in new))
    if args.aligned:
        print_aligned(new, grid)
    print("average window / decision delay / suppression (ms) / repeats allowed: words "
          "correct, mean of the streams per seed; mean ± sd over seeds")
    for combination in grid:
        per_seed = []
        for seed in sorted({h["seed"] for h in new}):
            got = [h["correct_percent"] for h in new
                   if h["seed"] == seed and _combination(h) == combination]
            per_seed.append(None if None in got else statistics.mean(got))
        text = " / ".join("none" if v is None else f"{v:.2f}" for v in per_seed)
        if None not in per_seed:
            text += f"; {statistics.mean(per_seed):.2f}" + (
                f" ± {statistics.stdev(per_seed):.2f}" if len(per_seed) > 1 else "")
        print(f"  {' / '.join(map(str, combination))}: {text}")


def aligned_reading(times: np.ndarray, scores: np.ndarray, labels: list[str],
                    entries: list[tuple[str, int]], detections) -> dict:
    """Each ground-truth word (`entries`, as read_ground_truth gives them) and its fate at
    the decoder's threshold beside the label of the one window that holds its clip exactly
    (the first window starting at or after the clip's start; windows are timed by their
    start): counts keyed "KIND OUTCOME aligned right|wrong", KIND keyword or unknown,
    OUTCOME correct, wrong or missed. The aligned window's reading is what a decoder that
    always chose that window would get."""
    claimed = {d.word: d for d in detections if d.word >= 0}
    starts = np.searchsorted(times, [t for _, t in entries])
    counts: dict[str, int] = collections.Counter()
    for i, (label, _) in enumerate(entries):
        d = claimed.get(i)
        outcome = "missed" if d is None else ("correct" if d.verdict == "Correct" else "wrong")
        row = scores[min(starts[i], len(scores) - 1)]
        aligned = "right" if labels[int(np.argmax(row))] == label else "wrong"
        kind = "unknown" if label == "_unknown_" else "keyword"
        counts[f"{kind} {outcome} aligned {aligned}"] += 1
    return dict(sorted(counts.items()))


def _bools(text: str) -> list[bool]:
    """A comma list of true/false (or 1/0)."""
    from kws.commands.flags import str2bool

    return [str2bool(v) for v in text.split(",")]


def _combination(record: dict) -> tuple:
    """A decoder record's (window, delay, suppression, repeats allowed)."""
    return (record["average_window_ms"], record["decision_delay_ms"], record["suppression_ms"],
            record.get("allow_repeats", False))


def print_aligned(records: list[dict], grid) -> None:
    """Per decoder setting: words correct by the decoder and by the aligned window, summed
    over every run and stream, and the table of aligned_reading's counts."""
    for combination in grid:
        rs = [h for h in records if "aligned" in h and _combination(h) == combination]
        if not rs:
            continue
        total: dict[str, int] = collections.Counter()
        for h in rs:
            total.update(h["aligned"])
        words = sum(total.values())
        decoded = sum(n for k, n in total.items() if " correct " in k)
        aligned = sum(n for k, n in total.items() if k.endswith("aligned right"))
        print(f"  {' / '.join(map(str, combination))}, {len(rs)} decodings, {words} words: "
              f"decoder {100 * decoded / words:.2f}%, aligned window {100 * aligned / words:.2f}%")
        for k, n in total.items():
            print(f"    {k}: {n}")


MINED = OUT / "mined"  # hard negatives taken from a run: MINED / NAME-sS
MINE_STREAMS = (101, 102, 103)  # gen-stream seeds of each source's 20-minute streams
MINE_THRESHOLD = 0.5
MINE_DELAY_MS = 850


def cmd_mine(args) -> None:
    """Hard negatives of a run (`kws mine-negatives`, written to MINED/NAME-sS for the
    best_hn lever): the run's model over 20-minute streams (gen-stream seeds MINE_STREAMS)
    of voices that no figure is read on: the sample's training speakers ([16, 20), the
    heldout partition), SYNTH_FLITE's validation speakers ([0, 12) of the split) and the
    same speakers in SYNTH_MORE (70% unknown words, most of them the 46 MORE_WORDS that no
    run trains on, many near a keyword), all over the sample's real noise; decoded at
    threshold MINE_THRESHOLD with decision delay MINE_DELAY_MS. A folder already there is
    made again."""
    import shutil

    run = OUT / f"{args.name}-s{args.seed}"
    if not (run / "checkpoint").is_file():
        raise SystemExit(f"{run} holds no trained run: train it first")
    model = _export_native(run)
    noise = ["--background_dir", str(SAMPLE / "_background_noise_")]
    if not SYNTH_MORE.is_dir():
        raise SystemExit(f"no {SYNTH_MORE}: run make-folders synth_more first")
    sources = {"train_voices": (SAMPLE, STREAMS["heldout"][1], []),
               "synth_validation": (SYNTH_FLITE, ["--validation_percentage", "0",
                                                  "--testing_percentage", "12"], noise),
               "near_words": (SYNTH_MORE, ["--validation_percentage", "0",
                                           "--testing_percentage", "12",
                                           "--unknown_percentage", "70"], noise)}
    wavs = []
    for source, (folder, split, background) in sources.items():
        for seed in MINE_STREAMS:
            wav = OUT / "mine_streams" / f"{source}_seed{seed}.wav"
            if not wav.is_file():
                wav.parent.mkdir(parents=True, exist_ok=True)
                _kws("gen-stream", "--data_dir", str(folder), *split, *background,
                     "--duration_seconds", str(STREAM_SECONDS), "--seed", str(seed),
                     "--output_wav", str(wav))
            wavs.append(wav)
    out = MINED / run.name
    if out.exists():
        shutil.rmtree(out)
    subprocess.run([sys.executable, "-m", "kws.cli", "mine-negatives", "--model", str(model),
                    "--wav", *map(str, wavs),
                    "--ground_truth", *(str(w.with_suffix(".txt")) for w in wavs),
                    "--output_dir", str(out), "--detection_threshold", str(MINE_THRESHOLD),
                    "--decision_delay_ms", str(MINE_DELAY_MS), *SPLIT], check=True)


def cmd_stream_words(args) -> None:
    """What became of the stream's words at each run's best quiet threshold (the `stream`
    command's records), by kind, per seed and summed: keywords correct, heard as another
    label, missed; unknown words the same; then the sum by label."""
    from kws.commands.stream_eval import add_outcomes, outcome_lines

    records = [h for h in _read_jsonl(OUT / "stream.jsonl")
               if h["name"] in args.names and h["stream"] == args.stream]
    if not records:
        raise SystemExit(f"no stream records of {', '.join(args.names)} on {args.stream}: "
                         "run the stream command first")
    total: dict = {}
    for h in sorted(records, key=lambda h: (h["name"], h["seed"] or 0)):
        if h.get("by_word") is None:
            print(f"{h['name']} seed {h['seed']}: no words recorded (stream it again)")
            continue
        kinds = collections.Counter()
        for label, row in h["by_word"].items():
            kind = "unknown" if label == "_unknown_" else "keyword"
            kinds[kind, "words"] += row["words"]
            kinds[kind, "correct"] += row["correct"]
            kinds[kind, "heard as another"] += sum(row["heard_as"].values())
            kinds[kind, "missed"] += row["missed"]
        add_outcomes(total, h["by_word"])
        print(f"{h['name']} seed {h['seed']} at {h['threshold']}: " + "; ".join(
            f"{kind}s {kinds[kind, 'words']}: {kinds[kind, 'correct']} correct, "
            f"{kinds[kind, 'heard as another']} heard as another, {kinds[kind, 'missed']} missed"
            for kind in ("keyword", "unknown")))
    print("summed:")
    for line in outcome_lines(total):
        print(f"  {line}")


def _link(src: Path, dest: Path) -> None:
    dest.symlink_to(src.resolve())


FOLDERS = {"synth_more": SYNTH_MORE, "synth_fewunk": SYNTH_FEWUNK, "real_rev": REAL_REV,
           "real_trainval": REAL_TRAINVAL, "real_half": REAL_HALF,
           "real_fold_a": REAL_FOLD_A, "real_fold_b": REAL_FOLD_B}


def cmd_make_folders(args) -> None:
    """Makes SYNTH_MORE, SYNTH_FEWUNK, REAL_REV and the REAL_SUBSETS (or those of
    `args.folders`) from SYNTH_FLITE and the sample (a folder that exists is left as it
    is). Clip names keep their speaker (a renamed speaker a new name), so partitions
    hold."""
    wanted = set(args.folders or FOLDERS)
    if wanted - set(FOLDERS):
        raise SystemExit(f"unknown folder {', '.join(sorted(wanted - set(FOLDERS)))}: "
                         f"some of {', '.join(FOLDERS)}")
    import numpy as np

    from kws.train.data import which_set
    from kws.train.make_dataset import COMMAND_WORDS, make_dataset
    from kws.wav_io import read_wav, write_wav

    folders = ([d for d in sorted(SYNTH_FLITE.iterdir()) if d.is_dir()]
               if wanted & {"synth_more", "synth_fewunk"} else [])
    if "synth_more" in wanted and not SYNTH_MORE.exists():
        manifest = json.loads((SYNTH_FLITE / "kws_make_dataset.json").read_text())
        words = SYNTH_MORE.with_name(SYNTH_MORE.name + "_words")
        make_dataset(words, MORE_WORDS, clips_per_word=250, speakers=len(manifest["speakers"]),
                     seed=manifest["seed"], noise_seconds=1, noise_kinds=[], progress=False,
                     variety=manifest["variety"], voices=manifest["voices"])
        SYNTH_MORE.mkdir(parents=True)
        for d in folders + [d for d in sorted(words.iterdir()) if d.is_dir()
                            and not d.name.startswith("_")]:
            _link(d, SYNTH_MORE / d.name)
    if "synth_fewunk" in wanted and not SYNTH_FEWUNK.exists():
        SYNTH_FEWUNK.mkdir(parents=True)
        for d in folders:
            if d.name in COMMAND_WORDS or d.name.startswith("_"):
                _link(d, SYNTH_FEWUNK / d.name)
                continue
            (SYNTH_FEWUNK / d.name).mkdir()
            kept = 0
            for f in sorted(d.glob("*.wav")):
                if which_set(str(f), 12, 4) == "training":
                    if kept == 19:
                        continue
                    kept += 1
                _link(f, SYNTH_FEWUNK / d.name / f.name)
    if "real_rev" in wanted and not REAL_REV.exists():
        REAL_REV.mkdir(parents=True)
        for d in sorted(SAMPLE.iterdir()):
            if d.is_dir():
                _link(d, REAL_REV / d.name)
        for word in REVERSED_WORDS:
            out = REAL_REV / f"rev_{word}"
            out.mkdir()
            for f in sorted((SAMPLE / word).glob("*.wav")):
                if which_set(str(f), 12, 4) == "training":
                    samples, rate = read_wav(str(f))
                    write_wav(str(out / f.name), np.ascontiguousarray(samples[::-1]), rate)
    for name, d in FOLDERS.items():
        if name in REAL_SUBSETS and name in wanted and not d.exists():
            _real_subset(d, *REAL_SUBSETS[name])
    for name, d in FOLDERS.items():
        if name in wanted:
            print(d)


def _sample_speakers(partition: str) -> list[str]:
    """The sample's speakers (by name, sorted) whose word clips fall in `partition`."""
    from kws.train.data import which_set

    return sorted({f.name.split("_nohash_")[0] for f in SAMPLE.glob("[!_]*/*.wav")
                   if which_set(str(f), 12, 4) == partition})


# The real subsets of the sample that make-folders makes: (speakers renamed into training,
# speakers left out), each a function of the partitions' speaker lists.
REAL_SUBSETS = {
    "real_trainval": (lambda: _sample_speakers("validation"), lambda: []),
    "real_half": (lambda: [], lambda: _sample_speakers("training")[1::2]),
    "real_fold_a": (lambda: _sample_speakers("validation") + _sample_speakers("testing")[1::2],
                    lambda: []),
    "real_fold_b": (lambda: _sample_speakers("validation") + _sample_speakers("testing")[0::2],
                    lambda: []),
}


def _real_subset(dest: Path, renamed, dropped) -> None:
    """A real subset of the sample (REAL_SUBSETS): its folders of words as folders of links,
    the speakers of renamed() given a suffix on their name that hashes to training, those of
    dropped() left out, the _ folders (silence, noise) linked whole."""
    from kws.train.data import which_set

    renamed, dropped = set(renamed()), set(dropped())
    dest.mkdir(parents=True)
    for d in sorted(SAMPLE.iterdir()):
        if d.is_dir() and d.name.startswith("_"):
            _link(d, dest / d.name)
    for f in sorted(SAMPLE.glob("[!_]*/*.wav")):
        speaker, rest = f.name.split("_nohash_")
        name = f.name
        if speaker in renamed:
            suffix = 0
            while which_set(f"{speaker}t{suffix}_nohash_{rest}", 12, 4) != "training":
                suffix += 1
            name = f"{speaker}t{suffix}_nohash_{rest}"
        elif speaker in dropped:
            continue
        (dest / f.parent.name).mkdir(exist_ok=True)
        _link(f, dest / f.parent.name / name)


def _load_runs(train_dirs: list[str], real: Path = SAMPLE):
    """(model.kws paths, native models, their shared labels, the index of `real`, the sample
    or one of its subsets) of runs. Each run's model.kws computes its own features, so runs
    of different front ends mix."""
    import kws
    from kws.train.data import DatasetIndex

    paths = [_export_native(Path(d)) for d in train_dirs]
    models = [kws.Model.load(str(p)) for p in paths]
    labels = list(models[0].labels)
    if any(list(m.labels) != labels for m in models):
        raise SystemExit("the runs do not share their labels")
    index = DatasetIndex(str(real), labels[2:], validation_percentage=12,
                         testing_percentage=4)
    return paths, models, labels, index


def _held_partitions(index, partitions: tuple[str, ...]):
    """Those of `partitions` that hold clips in `index`, in order (a fold's folder has no
    validation speakers left); an empty one is named as such."""
    for p in partitions:
        if index.data[p]:
            yield p
        else:
            print(f"real {p}: no clips in {', '.join(str(d) for d in index.data_dirs)}")


# A clip whose loudest 100 ms is within FLAT_DB of its quietest has no word standing out of
# its noise: labelled a word, no model can hear one.
FLAT_DB = 3.0


def energy_range_db(x: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """Per clip of x [n, samples]: loudest over quietest 100 ms RMS, in dB."""
    hop = sample_rate // 10
    frames = x[:, :x.shape[1] // hop * hop].reshape(len(x), -1, hop)
    rms = np.sqrt((frames ** 2).mean(axis=2) + 1e-12)
    return 20 * np.log10(rms.max(axis=1) / rms.min(axis=1))


def cmd_errors(args) -> None:
    """Which real clips several runs get wrong: errors per run, the clips every run gets
    wrong (what more seeds or an ensemble of these runs cannot mend), their confusions and
    speakers, and how many are flat (no word above the noise, FLAT_DB)."""
    from kws.train.pipeline import load_clip_samples

    _, models, labels, index = _load_runs(args.train_dirs, args.real)
    for partition in _held_partitions(index, ("training", "validation", "testing")):
        x, y = load_clip_samples(index, partition)
        words = np.array([labels[t] != "_silence_" for t in y])
        flat = words & (energy_range_db(x) < FLAT_DB)
        print(f"real {partition}: {len(y)} clips, {words.sum()} of words, "
              f"{flat.sum()} of them flat (< {FLAT_DB:g} dB)")
        if partition == "training":
            continue
        probabilities = [m.predict(x) for m in models]
        wrong = np.array([p.argmax(axis=1) != y for p in probabilities])
        every = wrong.all(axis=0)
        print(f"  wrong per run {wrong.sum(axis=1).tolist()}; wrong in every run "
              f"{every.sum()} (flat {(every & flat).sum()}), in any {wrong.any(axis=0).sum()}")
        mean = sum(probabilities).argmax(axis=1)
        confusions = collections.Counter(f"{labels[t]}->{labels[p]}"
                                         for t, p in zip(y[every], mean[every]))
        print("  every run's confusions:", ", ".join(
            f"{k} {n}" for k, n in confusions.most_common(12)))
        speakers = [Path(path).name.split("_nohash_")[0] if path else "(silence)"
                    for path, _ in index.data[partition]]
        count = collections.Counter(s for s, e in zip(speakers, every) if e)
        total = collections.Counter(speakers)
        print("  speakers with most:", ", ".join(
            f"{s} {n}/{total[s]}" for s, n in count.most_common(5)))


def cmd_ensemble(args) -> None:
    """Real validation and test accuracy of the mean of several runs' probabilities: what
    distilling an ensemble into one model could aim for (the runtime runs one model)."""
    import kws
    from kws.train.pipeline import load_clip_samples

    paths, models, labels, index = _load_runs(args.train_dirs, args.real)
    for partition in _held_partitions(index, ("validation", "testing")):
        x, y = load_clip_samples(index, partition)
        acc = np.mean(sum(m.predict(x) for m in models).argmax(axis=1) == y)
        print(f"ensemble of {len(models)}, real {partition}: {acc * 100:.1f}% of {len(y)}")

    # The validation stream, decoded from the mean of the models' window scores.
    samples, rate = kws.read_wav(stream_wav("validation"))
    scores = []
    for path in paths:
        times, s = kws.StreamingEvaluator(str(path)).compute_scores(
            samples, threads=os.cpu_count() or 1)
        scores.append(s)
    decode_stream(f"ensemble of {len(models)}", None, "validation", times,
                  np.mean(scores, axis=0), labels, 1000.0 * len(samples) / rate)


def cmd_speed(_args) -> None:
    """Cost of the augmentation hooks per training batch (100 real clips) against the MFCC
    front end on the same batch, measured in the same run."""
    import tensorflow as tf

    from kws.train import augment
    from kws.train.data import DatasetIndex
    from kws.train.features import tf_features
    from kws.train.pipeline import load_clip_samples
    from kws.train.settings import ModelSettings

    index = DatasetIndex(str(SAMPLE), ["yes", "no"], validation_percentage=12,
                         testing_percentage=4)
    x, _ = load_clip_samples(index, "testing", 100)
    x = tf.constant(x)
    settings = ModelSettings(label_count=4)
    s_hook, f_hook = augment.make_hooks("room_spec", seed=1)
    c = augment.PRESETS["room_spec"]
    eq_key, reverb_key = augment._split([1, 2], 2)

    def eq_reverb_apart(v):
        v = augment.random_eq(v, eq_key, probability=c.eq_probability)
        return augment.reverb(v, reverb_key, probability=c.reverb_probability)

    def eq_reverb_fused(v):
        return augment.eq_then_reverb(v, eq_key, reverb_key, eq_probability=c.eq_probability,
                                      reverb_probability=c.reverb_probability)

    runs = {"mfcc": tf.function(lambda v: tf_features(v, settings)),
            "room (samples hook)": tf.function(s_hook),
            "eq then reverb, two FFT pairs (before)": tf.function(eq_reverb_apart),
            "eq then reverb, one FFT pair (eq_then_reverb)": tf.function(eq_reverb_fused),
            "spec (features hook)": tf.function(lambda v: f_hook(tf_features(v, settings)))}
    times = {}
    for name, fn in runs.items():
        fn(x)
        start = time.perf_counter()
        for _ in range(20):
            fn(x)
        times[name] = (time.perf_counter() - start) / 20
    for name, t in times.items():
        print(f"{name}: {t * 1000:.1f} ms per batch of 100 ({t / times['mfcc']:.1f}x mfcc)")


def main() -> None:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("name")
    t.add_argument("--seed", type=int, default=1)
    e = sub.add_parser("eval")
    e.add_argument("train_dir")
    e.add_argument("--real", type=Path, default=SAMPLE,
                   help="the real folder whose testing partition is the real test column "
                        "(default: the sample)")
    sub.add_parser("report")
    sub.add_parser("speed")
    h = sub.add_parser("heldout")
    h.add_argument("names", nargs="+")
    st = sub.add_parser("stream")
    st.add_argument("names", nargs="+")
    st.add_argument("--partition", choices=sorted(STREAMS), default="validation",
                    help="whose voices the stream holds (default: validation)")
    st.add_argument("--stream_seed", type=int, default=0,
                    help="gen-stream --seed of the stream (0: the stream of every earlier "
                         "record; others arrange the same voices anew, to choose on more)")
    st.add_argument("--minutes", type=int, choices=range(1, 181), default=STREAM_SECONDS // 60,
                    metavar="1..180",
                    help=f"the stream's length (default {STREAM_SECONDS // 60}; another "
                         "length names the stream PARTITION_stream[_seedS]_minutesM)")
    st.add_argument("--decision_delay_ms", default="0",
                    help="kws stream-eval's --decision_delay_ms, one or a comma list (0: the "
                         "classic rule); the records' stream is then "
                         "PARTITION_stream[_seedS]_delayN")
    sw = sub.add_parser("stream-words")
    sw.add_argument("names", nargs="+")
    sw.add_argument("--stream", default="validation_stream_delay850",
                    help="the records' stream (default: validation_stream_delay850)")
    de = sub.add_parser("decoder")
    de.add_argument("name")
    de.add_argument("--partition", choices=sorted(STREAMS), default="validation")
    de.add_argument("--stream_seeds", type=lambda t: [int(v) for v in t.split(",")],
                    default=[0, 1, 2], help="gen-stream seeds of the streams (default 0,1,2)")
    de.add_argument("--minutes", type=int, choices=range(1, 181), default=STREAM_SECONDS // 60,
                    metavar="1..180")
    de.add_argument("--average_window_ms", default="500", help="a comma list")
    de.add_argument("--decision_delay_ms", default="850", help="a comma list")
    de.add_argument("--suppression_ms", default="1500", help="a comma list")
    de.add_argument("--allow_repeats", default=[False],
                    type=_bools,
                    help="kws stream-eval's --allow_repeats, one or a comma list (default "
                         "false: the classic rule)")
    de.add_argument("--ensemble", action="store_true",
                    help="decode the mean of every seed's window scores, as one model (the "
                         "records' seed is \"ensemble\")")
    de.add_argument("--aligned", action="store_true",
                    help="also read each word by the one window that holds its clip exactly, "
                         "beside the decoder's verdict at its best quiet threshold (records' "
                         "\"aligned\" counts; what a perfect choice of window would give)")
    mi = sub.add_parser("mine")
    mi.add_argument("name")
    mi.add_argument("--seed", type=int, default=1)
    mf = sub.add_parser("make-folders")
    mf.add_argument("folders", nargs="*", metavar="FOLDER",
                    help=f"some of {', '.join(FOLDERS)} (default: all)")
    for command in ("ensemble", "errors"):
        c = sub.add_parser(command)
        c.add_argument("train_dirs", nargs="+")
        c.add_argument("--real", type=Path, default=SAMPLE,
                       help="the real folder whose partitions score the runs (default: the "
                            "sample; a fold's runs: its REAL_FOLD folder)")
    args = p.parse_args(argv)
    if args.command == "train":
        cmd_train(args, extra)
    elif args.command == "eval":
        r = evaluate(Path(args.train_dir), args.real)
        print({k: (v["accuracy"], v["count"]) for k, v in r.items()})
    elif args.command == "speed":
        cmd_speed(args)
    elif args.command == "heldout":
        cmd_heldout(args)
    elif args.command == "stream":
        cmd_stream(args)
    elif args.command == "stream-words":
        cmd_stream_words(args)
    elif args.command == "decoder":
        cmd_decoder(args)
    elif args.command == "mine":
        cmd_mine(args)
    elif args.command == "make-folders":
        cmd_make_folders(args)
    elif args.command == "ensemble":
        cmd_ensemble(args)
    elif args.command == "errors":
        cmd_errors(args)
    else:
        cmd_report(args)


if __name__ == "__main__":
    main()
