"""Every training, budget and annotation recipe alkit runs, in one commented place (airbench-style).

An :class:`~alkit.experiments.config.Experiment` leaves a setting at ``None`` to take it from here:
:func:`recipe` returns the full set of settings for a (dataset, regime, ssl) cell, and the
Experiment overrides only what the user set. The command line reads its defaults from the same
function, the notebooks' parameter cells repeat these numbers (so their cached cycles are reused
by ``alkit evaluate``: the store key is computed from the resolved settings), and the ``paper``
recipes are the paper's (Sec. 3.2.1-3.2.5 for CIFAR, Sec. 4.3 for VOC).
"""

from __future__ import annotations

# --- classification budgets: (initial B_i, step B_s, cycles) -----------------------------------
REGIMES = {
    ("cifar10", "high"): (5000, 2500, 6),  # Sec. 3.2.1
    ("cifar100", "high"): (5000, 2500, 6),
    ("cifar10", "low"): (250, 250, 7),  # Sec. 3.2.4
    ("cifar100", "low"): (500, 500, 7),
    # digits: the same shapes shrunk: "high" starts at ~8 % of the 1,257-image pool (100 + 3 x 50;
    # 3 query cycles, not the paper's 6; the notebooks run its first 2, see DIGITS_CYCLES),
    # "low" at 2 labels per class (20 + 7 x 20; the notebooks run its first 3 cycles).
    ("digits", "high"): (100, 50, 3),
    ("digits", "low"): (20, 20, 7),
}

# --- classification training per cycle --------------------------------------------------------
CLASSIFICATION = {
    # The paper (CIFAR-10/100, WRN-28-2): SGD lr 0.03, momentum 0.9, wd 5e-4, cosine, batch 64,
    # 150 epochs, fresh initialisation every cycle; ENS-varR trains 5 members. UDA: 50k iterations,
    # labelled batch 64, unlabelled batch 320 (a weak and a strong view of each). With no regime
    # the budgets are the high regime's. `ssl_lr`: the learning rate of SSL runs (Experiment.lr
    # left at None); absent = `lr`.
    "paper": dict(epochs=150, min_steps=0, batch_size=64, lr=0.03, ensemble_size=5, iterations=50_000,
                  unlabelled_batch=320),
    # digits, no regime: a quick run (`alkit run` without flags, the sandbox, examples/grid_digits.yaml),
    # trained like the high regime. It was 30 epochs with min_steps 0, i.e. 30-90 SGD steps per
    # cycle: at 40 + 3 x 40 labels Entropy looked 18 points worse than Random; an
    # undertrained default teaches the opposite of the paper's first lesson.
    # Its SSL schedule is the high regime's (600 iterations x unlabelled batch 64, lr 0.1; measured
    # there, below): the former 500 x 320 cost about 3x more per cycle (the sandbox's SSL switch
    # took minutes before its first curve) for budgets of 100-200 labels.
    # Budgets 100 + 2 x 50 (were 40 + 4 x 40): the high regime as the notebooks run it, so `alkit run`
    # without flags, the sandbox's defaults and notebook 00 are the runs notebook 01 makes (one
    # results-store entry each, computed once by `make reproduce`).
    "digits": dict(initial=100, step=50, cycles=2, epochs=40, min_steps=800, batch_size=64, lr=0.03, ensemble_size=5,
                   iterations=600, unlabelled_batch=64, ssl_lr=0.1),
    # digits, high budget (notebooks 01, 02): at least 800 SGD steps per cycle (a few hundred
    # labels are a few steps per epoch). Converged = doubling the steps gains < 1 accuracy point
    # (benchmarks/bench_recipes.py). Measured 2026-12-05 (paper augmentation, 100 + 2 x 50 labels,
    # 5 trials, Random / Entropy / Margin, `alkit run --initial 100 --step 50 --cycles 2
    # --epochs 40 --min-steps N --strategies random,entropy,margin --trials 5`), last cycle:
    #   min_steps 400: Random 95.4, Entropy 96.4, Margin 97.1 %; gap sd Entropy-Random 0.95,
    #                  Margin-Random 1.15 points;
    #   min_steps 800: Random 96.6, Entropy 98.4, Margin 98.3 %; gap sd 0.91 / 1.07 points.
    # So 400 steps was not converged (Random +1.2 points from doubling) and 800 is. The gap sd of
    # 0.9-1.2 points (was 1.7-2.9 with the old trainer) gives a 95 % half-width of about
    # 1.2-1.4 points with 5 trials. Weight averaging for evaluation (EMA 0.99 of weights and BN
    # statistics, `train_supervised(ema=...)`) changed nothing measurable under the cosine schedule
    # (3 seeds, 40/100/200 labels, 200-1600 steps: within 0.5 points of the live weights, same sd),
    # so it stays off. 800 steps cost what 400 did before: the trainer now augments and
    # normalises dozens of epochs per call (benchmarks/bench_trial.py).
    # Re-measured with the one-convolution-per-stage network (alkit.engine.models.small_cnn; same
    # command, 3 seeds, accuracy at 0.5x / 1x / 2x the steps): digits 40 labels 87.8 / 89.1 / 88.7,
    # 160: 93.9 / 96.4 / 97.0; digits-high 100: 92.3 / 94.8 / 95.3, 200: 94.6 / 96.1 / 96.5;
    # digits-low 20: 79.1 / 79.6 / 79.3, 80: 93.1 / 94.0 / 94.7 -> every 2x gain < 1 point: converged.
    # 3 ensemble members (paper: 5).
    # SSL (UDA / FixMatch, notebooks 02, 04): 600 iterations, unlabelled batch 64 and
    # lr 0.1 (`ssl_lr`, cosine). The former 200 iterations x 32 at lr 0.03 starved SSL: measured
    # (small CNN, 3 seeds, benchmarks/bench_ssl_curve.py) UDA reached 82 % at 20 labels and 92.5 %
    # at 100, no better than supervised training; with 300 x 64 at lr 0.1 it reached ~91 % / ~97 %.
    # 300 iterations were not converged by the rule above either (2026-12-06, `python
    # benchmarks/bench_ssl_curve.py --labels 100,200 --seeds 3 --methods supervised,uda --iterations I`,
    # UDA accuracy at 300 / 600 / 1200 iterations): 100 labels 96.0 / 97.2 / 97.7 %, 200 labels
    # 96.8 / 97.8 / 98.1 % (supervised 94.8 / 95.8 %): doubling 300 gains +1.2 / +1.0 points, doubling
    # 600 +0.5 / +0.3, so 600. An undertrained SSL-X understates what SSL gives, the very comparison
    # of notebook 02 (UDA vs supervised at 200 labels: +1.0 [-1.3, +3.3] at 300, +2.0 [+1.3, +2.7] at 600).
    # Without augmentation (`min_steps_none`, the min_steps of augment="none" runs) 400 steps are
    # converged: `python benchmarks/bench_recipes.py --augment none --recipes digits-high,digits-low
    # --seeds 5` (accuracy at 400 / 800 / 1600 steps): digits-high 100 labels 90.5 / 90.5 / 90.3,
    # 200: 95.0 / 95.0 / 95.5; digits-low 20: 69.0 / 68.9 / 68.7, 80: 88.3 / 88.3 / 88.3 (measured
    # 2026-12-05). Unaugmented images repeat exactly, so the network fits them in half the steps;
    # this halves the cost of the no-augmentation runs of notebooks 01 and 08.
    "digits-high": dict(epochs=40, min_steps=800, min_steps_none=400, batch_size=64, lr=0.03, ensemble_size=3,
                        iterations=600, unlabelled_batch=64, ssl_lr=0.1),
    # digits, low budget (notebooks 03, 04): 20-80 labels, 800 SGD steps (was 200). Measured with
    # benchmarks/bench_recipes.py (3 seeds, paper augmentation; 0.5x / 1x / 2x the steps):
    #   400 steps: 20 labels 77.5 / 75.7 / 78.5 %, 80 labels 91.4 / 93.6 / 95.0 % -> 2x gains
    #   +2.7 and +1.4 points: not converged; 800 steps: 20 labels 75.7 / 78.5 / 77.8 %, 80 labels
    #   93.6 / 95.0 / 95.2 % -> -0.7 and +0.2 points: converged.
    # SSL: unlabelled batch 64 at lr 0.1, as the high regime (iterations: below). The former 200 x 32 at
    # lr 0.1 was unstable once AL picked the labels: notebook 03's SSL-X runs (20 + 3 x 20 labels,
    # 5 trials, one worker process per core) lost accuracy as labels were added (SSL-Entropy 85.4
    # -> 82.4 +- 15.8 %, SSL-LL 85.4 -> 68.3 +- 9.2 % from 40 to 80 labels), which made 03's
    # intervals +-10-30 points. The same runs (`Experiment(dataset="digits",
    # regime="low", cycles=3, trials=5, ssl="uda", strategies=("random", "entropy", "coreset",
    # "ll"), iterations=I, unlabelled_batch=U, lr=L)`), accuracy at 80 labels, mean +- sd:
    #   200 x 32 @ 0.1 : Random 89.4 +- 3.3, Entropy 82.4 +- 15.8, Core-Set 91.9 +- 3.7, LL 68.3 +- 9.2
    #   300 x 64 @ 0.03: Random 87.5 +- 5.3, Entropy 77.0 +- 9.1, Core-Set 92.9 +- 1.9, LL 63.4 +- 10.0
    #   300 x 64 @ 0.1 : Random 93.0 +- 2.1, Entropy 92.3 +- 7.9, Core-Set 96.7 +- 0.9, LL 80.1 +- 14.1
    # (measured 2026-12-05). 300 x 64 at lr 0.1 is the best and the only setting where SSL-Random
    # beats supervised Random (90.6 +- 2.6); SSL-LL stays unstable with every schedule tried here,
    # and notebook 03 shows it as it is. Nor is it Learning Loss's gradient into the backbone: SSL-LL,
    # 5 trials, 300 x 64 @ 0.1, accuracy at 80 labels (mean +- sd): as trained 80.1 +- 14.1; the LL
    # module on detached features from the first step (ll_stop_fraction 0: the backbone trains as
    # SSL-Random's, only the picks differ) 80.3 +- 13.2 (trials 79.3 77.4 60.4 92.6 92.0); ll_weight
    # 0.1: 83.9 +- 11.2. The collapse comes with the labels LL picks, mostly at 80 labels, not with
    # its loss (p = plan(Experiment(dataset="digits", regime="low", cycles=3, trials=5, ssl="uda",
    # strategies=("ll",))); p.task.ssl_options = {...}; runner.run_jobs over p.units; 2026-12-05).
    # 1200 iterations (was 300; 2026-12-06): 300 were far from converged with few labels, which is
    # where SSL matters most (Sec. 3.2.4). `python benchmarks/bench_ssl_curve.py --labels 20,40,60
    # --seeds 5 --methods supervised,uda --iterations I`, UDA accuracy (mean [95 % interval]):
    #   20 labels: 300 87.8 [82.7, 92.9], 600 91.9 [87.9, 95.8], 1200 94.7 [93.6, 95.8], 2400 94.8 (4 seeds);
    #   40 labels: 300 91.9, 600 93.6, 1200 95.2 [92.9, 97.5], 2400 95.0 (4 seeds);
    #   60 labels: 300 94.2 [90.8, 97.6], 600 96.0, 1200 96.5 [95.1, 97.9];
    #   supervised (800 steps): 79.5 / 86.4 / 91.0.
    # Doubling 600 gains +2.8 / +1.6 / +0.5 points, doubling 1200 +0.1 / -0.2: converged at 1200, and
    # the seed-to-seed spread at 20 labels shrinks (interval 10.2 -> 2.2 points wide). 4x the
    # SSL-X time of notebooks 03, 04 and 08's low budget (25 s per training on one thread).
    # The raw runs keep 800 steps: 400 are not converged (`python benchmarks/bench_recipes.py --recipes
    # digits-low --seeds 5 --min-steps 400`: 20 labels 76.4 / 77.9 / 79.0 %, 80 labels 87.2 / 91.0 / 93.0 % at 200 / 400 / 800).
    "digits-low": dict(epochs=40, min_steps=800, min_steps_none=400, batch_size=64, lr=0.03, ensemble_size=3,
                       iterations=1200, unlabelled_batch=64, ssl_lr=0.1),
}

# --- SSL-X at paper scale: the originals' optimiser and data choices -----------------------------
# Options of the classification task's SSL trainers (alkit.tasks.classification.ClassificationTask
# ssl_options, alkit.engine.train.uda.train_uda) for the "paper" recipe (every dataset but digits;
# the digits recipes keep alkit's defaults: {}). In the store key only where set.
PAPER_SSL = {
    # google-research/uda image/main.py (the paper: "other hyperparameters as in UDA"): SGD with
    # Nesterov momentum 0.9; lr * cos(7/8 * pi/2 * k/K) = cos(7 pi k / 16K), which ends at 0.195 x lr
    # (the only floor: there is no minimum-ratio flag); warmup_steps 0 (its default, kept by
    # scripts/run_cifar10_gpu.sh); an EMA (decay 0.9999) of the weights and BatchNorm statistics
    # for evaluation. The labelled batch keeps the Sec. 3.2.2 augmentation ("Data augmentation
    # stays the same") and the unlabelled batches come from the unlabelled pool (Sec. 3.2.3);
    # the original's flip-and-crop labelled view and whole-set unlabelled draw are not the paper's.
    "uda": dict(nesterov=True, schedule="cosine-7/16", lr_warmup=0, ema=0.9999, ema_buffers="average"),
    # kekmodel/FixMatch-pytorch train.py and dataset/cifar.py (FixMatch is not in the paper):
    # the labelled batch weakly augmented (flip + 4-px crop), the unlabelled set the whole training
    # set (x_u_split), Nesterov, cos(7 pi k / 16K) without warm-up, EMA 0.999 of the weights
    # (BatchNorm buffers copied, ModelEMA) for evaluation.
    "fixmatch": dict(labelled_view="weak", unlabelled="all", nesterov=True, schedule="cosine-7/16", lr_warmup=0,
                     ema=0.999, ema_buffers="copy"),
}


def ssl_options(dataset: str, ssl: str | None) -> dict:
    """The SSL trainer's options of a (built-in recipe) dataset and SSL method: the ``paper``
    recipe's (:data:`PAPER_SSL`) for every dataset but ``digits``, else none."""
    if ssl is None or dataset == "digits":
        return {}
    return dict(PAPER_SSL.get(ssl, {}))


# Cycles the embedded notebooks run (CPU time), raw and SSL-X runs alike (notebooks 01-04, 08, 09):
# digits high stops after 2 query cycles (100-200 labels), low after 2 (20-60 labels). Low ran 3
# (to 80 labels) until `make reproduce` measured 25.6 min on the 2-core machine (commit 925b6c1;
# the low-budget runs were 654 of its 2,488 unit-seconds): the third low cycle cost ~165
# unit-seconds (~80 s of wall time) of the 20-minute budget. Raw and SSL-X curves cover the same
# budgets and notebook 04's supervised baseline is the run of notebooks 01/02.
DIGITS_CYCLES = {"high": 2, "low": 2}

# --- segmentation: training and the annotator (paper Sec. 4) ------------------------------------
SEGMENTATION = {
    # VOC and folders: DeepLab-v2 (ResNet-101, ImageNet-pretrained), lr 2.5e-4 (x10 for the head),
    # 321-px crops, scale 0.5-1.5, batch 10, 150 epochs; 10-px polygon tolerance keeps ~95 % mIoU;
    # B_i = B_s = 5000 clicks, 5 cycles; entropy threshold 0.6; ENS-ent with 5 members (Sec. 4.2).
    # s4GAN as sud0301/semisup-semseg trains it (train_s4GAN.py, model/discriminator.py; the
    # options are documented in alkit.engine.train.s4gan): dropout after D's first three
    # convolutions only, D's Adam lr poly-decayed (power 0.9) like G's, D loss (real + fake) / 2, D
    # sees the images min-max scaled to [0, 1] and the "real" pair from a separate labelled batch,
    # ignore pixels an all-zero one-hot, batches from shuffled passes (SubsetRandomSampler).
    "paper": dict(model="deeplabv2-resnet101", pretrained="imagenet", lr=2.5e-4, head_lr_mult=10.0, crop_size=321,
                  scale_range=(0.5, 1.5), epochs=150, batch_size=10, tolerance=10.0, initial=5000, step=5000,
                  cycles=5, threshold=0.6, ensemble_size=5, ll_weight=1.0, iterations=10_000,
                  s4gan=dict(batch_size=8, d_width=64, lambda_fm=0.1, lambda_st=1.0, st_threshold=0.6, lr_d=1e-4,
                             d_dropout_layers=3, lr_d_schedule="poly", d_loss="mean", d_input="minmax",
                             real_batch="separate", ignore_fill="zeros", sampling="passes")),
    # shapes (embedded 64x64 scenes): the small network from scratch; a 2-px tolerance plays the role of
    # 10 px on VOC (~95 % label mIoU); ENS-ent with 2 members (make reproduce's time budget; paper: 5).
    # s4GAN (SSL-X, Sec. 4.3; Mittal et al. 2019): paper 10k iterations of batch 8 per cycle, D
    # 64-128-256-512; shapes: iterations=None = as many iterations (batch 10) as the supervised run
    # takes steps (a fixed 40 left SSL-Random 11 mIoU points below Random at cycle 0), D 16-32-64-128
    # (the original D costs ~8x the small network per image), the original losses' weights and
    # threshold; the generator trains with the supervised recipe below (the original: G keeps its
    # supervised optimiser) and is evaluated with the same weight average.
    # LL's loss weight 0.1: a per-image mean pixel CE varies little between images, and
    # with weight 1 the ranking term cost the small net half its mIoU (0.23 vs 0.40 at 31 images).
    #
    # Training recipe (decisive intervals with 5 trials need a final-cycle mIoU sd <= 2
    # points). Measured with notebook 06's budgets (pool 500, 150 val images, B_i 600 / B_s 400
    # clicks = 31-76 images, 3 cycles), Random, 5 trials (seeds 0-4), one thread, final-cycle mIoU:
    #   before: SGD lr 0.05 + poly, 64-px crops, 18 epochs (72-144 steps per cycle):
    #           mean 71.0, sd 6.92 (trials 78.8 59.9 72.4 70.3 73.3; a model can lose 5 points
    #           with more labels); per-cycle sd 5.5 / 4.2 / 3.1 / 6.9.  Entropy: 75.9, sd 0.91.
    #   + 48-px crops (1.9x cheaper per image), >= 200 steps per cycle, weight average (EMA 0.99):
    #           mean 76.2, sd 2.22.
    #   + AdamW lr 3e-3 (wd 1e-4), 20 warm-up steps, cosine (kept; then at 20 epochs, width 24): mean 78.5, sd 1.61.
    #   the same with 12 epochs (120 steps per cycle): 74.2 / 72.9 on trials 0-1 and per-cycle
    #           curves that go down by up to 4.6 points: too few steps.
    # `min_epoch_steps`: an epoch is at least 10 batches (few labels are repeated within an epoch),
    # so 60 epochs are >= 600 steps whatever the labelled set; tests and smoke runs with 1 epoch
    # stay at 10 steps. 48-px crops of the 64-px scenes (scale 0.75-1.25) are DeepLab's crop
    # augmentation; evaluation sees whole images. Command: benchmarks/bench_trial_seg.py --noise.
    # Convergence (the digits rule: doubling the steps gains less than the margin, 2 mIoU), measured
    # 2026-12-05 with notebook 06's budgets (pool 500, 150 val images, 600 + 3 x 400 clicks), Random,
    # 5 trials, mIoU at cycles 0 / 1 / 2 / 3 (`Experiment(dataset="shapes", strategies=("random",),
    # trials=5, cycles=3, initial=600, step=400, epochs=E)`, small-seg at width W):
    #   W 24, 20 epochs (the previous recipe) 71.2 / 76.6 / 78.6 / 78.3; 40: 76.5 / 80.3 / 82.1 / 82.6;
    #         80: 79.6 / 82.5 / 83.9 / 84.6 (so 20 epochs was 4-5 points short);
    #   W 16, 40 epochs (this recipe) 74.6 / 78.3 / 80.6 / 81.2 (sd 1.0 at the last cycle);
    #         80: 78.5 / 81.5 / 83.1 / 83.3 -> 2x steps still gain +3.9 / +3.2 / +2.5 / +2.1;
    #   W 24, 40 epochs with AdamW lr 0.01: 76.8 / 80.9 / 82.5 / 83.1 (the lr is not what limits);
    #   batch 20 (200 steps): 80.8 at cycle 3 for 1.7x the time; 32-px crops at 40 epochs 78.4.
    # Evaluation set: 150 generated validation scenes (notebooks 06, 07). Tried 600 (the first 150 the
    # same scenes, the pool unchanged) in a full `make reproduce` (commit ab7ff4e): the 95 % half-widths
    # of 06's claims went from 4.1 / 4.6 to 3.9 / 3.7 mIoU points and 07's s4GAN lift from 2.6 to 2.2,
    # while SSL-D-score's and the polygon runs' stayed at 9-12 (their trials differ in what the
    # strategies pick, not in the scoring); scoring 600 scenes costs ~1.2 s more per cycle (one thread,
    # 1.5 vs 0.3 s), ~150 unit-seconds of the run. Not worth it inside the 20-minute budget.
    # A training step of width 16 costs ~0.75x width 24's (one thread: 40 labels x 20 / 40 epochs,
    # supervised 3.2 / 5.0 s, s4GAN 11.1 / 20.0 s), so this recipe is ~1.6x (s4GAN ~1.8x) the previous
    # one's time for +3 mIoU and half the distance to convergence: still not converged by the rule
    # at 40 epochs (about 2-4 points short; hence 80 epochs, below). s4GAN at width 16 (iterations =
    # the supervised steps): 40 epochs 73.6 / 79.6 / 81.0 / 81.7.
    # s4GAN's D sees its input average-pooled 2 x 2 (`d_pool`, 24 x 24 maps of the 48-px crops; not in
    # the original): D was most of an s4GAN step (benchmarks/bench_s4gan.py, one thread: supervised
    # step 15-25 ms, s4GAN 119-133 ms, with the pooled D 60-93 ms) and s4GAN most of `make
    # reproduce`'s shapes time (596 of 1,156 unit-seconds). Same quality, measured with notebook 07's
    # runs (Random and SSL-D-score with s4GAN, pool 500, 150 val images, 600 + 2 x 400 clicks, 5
    # trials): SSL-Random mIoU at cycles 0 / 1 / 2 pooled 75.5 / 79.8 / 80.8 (last-cycle sd 0.4),
    # unpooled 73.6 / 79.6 / 81.0 (sd 0.5); the paper recipe keeps the original D (d_pool 1).
    # 80 epochs (was 40; 2026-12-06): at 40 epochs some seeds had not yet learned the ring and triangle
    # classes, so a trial could lose 25 mIoU points by chance and one collapsed trial made an interval
    # +-14 points wide (notebook 07 of the clean-clone `make reproduce` of commit 584395c, SSL-D-score:
    # final-cycle mIoU 51.1 66.4 69.2 80.7 77.1, per-class
    # IoU of ring / triangle down to 0-15 %). The collapse is the training, not the labels: trial 0's
    # final labelled set of that run (94 images), trained again with seeds cycle_seed + k, k = 0..5
    # (supervised, the task's own `fit`), mIoU
    #   40 epochs: 50.9 80.3 76.6 79.1 74.7 78.7 (sd 11);  60 epochs: 70.8 82.1 80.5 81.2 80.3 81.1;
    #   80 epochs (k = 0, 4): 79.2 82.5;  with s4GAN at 40 epochs: 51.1 76.9 68.9 76.9 60.1 73.7.
    # Tried at 40 epochs and not enough (k = 0 / 4): lr 0.001 35.2 / 60.2, 0.006 59.3 / 66.3, 0.01
    # 59.6 / 77.7; 100 warm-up steps 56.3 / 76.3; no weight average 51.0 / 74.9; square-root
    # inverse-frequency class weights 73.4 / 72.3; cheaper crops: 32 px x 80 epochs 64.2 / 78.5, 40 px
    # x 80 epochs 78.3 / 80.2 (and on notebook 06's Random trial 1, cycles 1 / 2: 40 px 74.8 / 79.1,
    # 48 px 77.5 / 80.5 at 80 epochs, 74.1 / 77.3 at 40). So 48-px crops x 80 epochs, at twice the
    # shapes time (s4GAN's iterations follow the supervised steps, so they double too).
    # Convergence at 80 epochs (the rule: doubling gains < the 2-point margin), notebook 06's Random
    # run of that `make reproduce` (commit 584395c), final labelled sets (~70 images), seed as run,
    # mIoU at 80 / 160 epochs: trial 0 83.9 / 85.3 (+1.4), trial 1 80.5 / 82.3 (+1.8), trial 2 84.2 / 85.5
    # (+1.3); the SSL-D-score set above, seeds k = 0 / 4: 79.2 / 84.0 (+4.8) and 82.5 / 84.2 (+1.7). So
    # converged by the rule on four of the five, and the slow seed 0 is still 4.8 points short.
    # Cross-entropy + soft Dice at 60 epochs (was cross-entropy at 80; 2026-12-06): Dice weighs every
    # class alike whatever its area (alkit.engine.train.segmentation.soft_dice_loss), so the thin ring
    # and triangle classes are learned early. Final labelled sets of the clean-clone `make reproduce` of
    # commit e5c780c, trained again with seeds cycle_seed + k (supervised, the task's own `fit`), mIoU:
    #   07's SSL-D-score trial 0 (88 images), k = 0..7:
    #     CE 40 epochs  64.8 78.7 76.9 79.4 74.0 81.2 79.7 79.2 (mean 76.7, sd 5.3);
    #     +Dice 40      77.9 81.8 78.8 81.0 80.2 81.2 79.5 79.6 (mean 80.0, sd 1.3);
    #     CE 80 (k 0-5) 81.2 81.7 82.3 81.5 82.5 82.4 (mean 81.9);
    #     +Dice 60      80.7 83.1 82.0 82.6 82.2 82.4 (mean 82.2, sd 0.8);  +Dice 80 82.2 84.4 83.0 82.9 83.4 83.2;
    #     +Dice 120 (k 0-2) 83.2 85.4 84.1 (+2.5 / +2.3 / +2.1 over 60 epochs).
    #   06's Random trial 1 (~70 images), k = 0..5: CE 80 80.5 80.2 81.3 81.1 80.6 82.0 (mean 81.0);
    #     +Dice 60 81.0 80.6 81.7 81.2 81.6 80.0 (mean 81.0, sd 0.6).
    # So +Dice at 60 epochs matches CE at 80 (as far from the 120-160-epoch plateau, ~2 points) for
    # 0.75x the steps. s4GAN's generator takes the same labelled loss (its iterations follow the
    # supervised steps).
    "shapes": dict(model="small-seg", pretrained=None, lr=0.003, head_lr_mult=1.0, crop_size=48,
                   scale_range=(0.75, 1.25), epochs=60, batch_size=10, tolerance=2.0, initial=1000, step=1000,
                   optimizer="adamw", weight_decay=1e-4, schedule="cosine", warmup=20, min_epoch_steps=10, ema=0.99,
                   dice_weight=1.0,
                   cycles=3, threshold=0.6, ensemble_size=2, ll_weight=0.1, iterations=None,
                   s4gan=dict(batch_size=10, d_width=16, d_pool=2, lambda_fm=0.1, lambda_st=1.0, st_threshold=0.6,
                              lr_d=1e-4)),
}


# --- the CI-sized recipe (preset "smoke"): seconds per notebook on a 2-core CPU ------------------
# One place for it: a notebook run at preset smoke (`alkit reproduce --preset smoke`, `make test`)
# takes these values for the parameters it has (alkit.experiments.notebook_files.preset_parameters),
# then its own notebooks/params/NN_name.smoke.yaml adds only what is particular to it; `alkit
# evaluate --preset smoke` takes the Experiment settings among them. 3 trials, so the verdict code
# still runs (smoke verdicts print "not tested": the training is not converged). The keys are
# notebook parameters (`ssl_batch_size`: the SSL labelled batch; `n_train` / `n_val`: the generated
# shapes pool and validation set) and Experiment settings.
SMOKE = {
    "classification": dict(regime="custom", initial=20, step=10, cycles=1, trials=3, epochs=1, min_steps=0,
                           ensemble_size=2, iterations=3, ssl_batch_size=16, unlabelled_batch=16),
    "segmentation": dict(n_train=60, n_val=16, initial=200, step=150, cycles=1, trials=3, epochs=1, ensemble_size=2,
                         iterations=2),
}


def regime_budget(dataset: str, regime: str) -> tuple[int, int, int]:
    """(initial, step, cycles) of a named regime ("high" / "low") for a dataset."""
    try:
        return REGIMES[(dataset, regime)]
    except KeyError:
        valid = sorted({r for d, r in REGIMES if d == dataset})
        raise ValueError(f"no regime {regime!r} for {dataset!r}; choose from {', '.join(valid) or 'none'}") from None


def recipe(kind: str, dataset: str, regime: str = "custom") -> dict:
    """Every default setting of a cell: budgets and training (and, for segmentation, the annotator).

    ``kind`` is ``"classification"`` or ``"segmentation"``; ``regime`` ``"high"``/``"low"`` sets the
    classification budgets (``"custom"``: the recipe's own)."""
    if kind == "segmentation":
        return dict(SEGMENTATION["shapes" if dataset == "shapes" else "paper"])
    if dataset == "digits":
        out = dict(CLASSIFICATION["digits" if regime == "custom" else f"digits-{regime}"])
    else:
        out = dict(CLASSIFICATION["paper"])
    if regime != "custom" or dataset != "digits":
        out["initial"], out["step"], out["cycles"] = regime_budget(dataset, "high" if regime == "custom" else regime)
    return out


def classification_settings(dataset: str, regime: str, *, ssl: str | None = None, augment: str = "paper") -> dict:
    """The Experiment settings of a (dataset, regime, ssl, augment) cell exactly as the notebooks
    run it (budgets, training recipe; digits with the notebooks' shorter cycles)."""
    out = dict(recipe("classification", dataset, regime), dataset=dataset, regime=regime, augment=augment, ssl=ssl)
    if ssl:
        out["lr"] = out.get("ssl_lr", out["lr"])
    out.pop("ssl_lr", None)
    unaugmented = out.pop("min_steps_none", None)
    if augment == "none" and unaugmented is not None:
        out["min_steps"] = unaugmented
    if dataset == "digits":
        out["cycles"] = DIGITS_CYCLES[regime]
    return out
