"""Named settings for `mmnet train --preset` and `mmnet evaluate --preset`: the original's scripts."""
from __future__ import annotations

# The reference's train_*.sh (section 8): Adam, lr 1e-4 constant, batch 32, 256², every λ = 1,
# weight decay 4e-7, a checkpoint every 500 steps keeping 3, 30000 epochs.
_REFERENCE = {
    "size": 256, "batch_size": 32, "optimizer": "adam", "learning_rate": 1e-4, "lr_schedule": "constant",
    "warmup_steps": 0, "weight_decay": 4e-7, "lambda_alpha": 1.0, "lambda_comp": 1.0, "lambda_grad": 1.0,
    "lambda_kd": 1.0, "lambda_aux": 1.0, "checkpoint_every": 500, "keep_checkpoints": 3, "epochs": 30000,
    "ema_decay": 0.0, "color_jitter": 0.0,
}

PRESETS: dict[str, dict] = {
    "mmnet_dm1.0_256": {**_REFERENCE, "model": "mmnet", "width_multiplier": 1.0},
    "deeplab_os16_dm0.5_256": {**_REFERENCE, "model": "deeplab", "depth_multiplier": 0.5, "output_stride": 16,
                               "lambda_aux": 0.0},
}
