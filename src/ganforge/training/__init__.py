"""The training loop, checkpoints, EMA, sampling and distributed helpers."""
