"""The validation hold-outs, one number each: the share of every people set and of the background photos that
training never sees (`mmnet.data.dataset.in_holdout` picks it by a hash of the file stem, so it is stable).
No imports: the command line, training, export, the benchmarks and the runtime may all read it."""

HOLDOUT_PERCENT = 10.0  # of each people set's split: train --val-holdout, evaluate, pack, ship, bench, the card
BACKGROUND_HOLDOUT_PERCENT = 15.0  # of the background photos
