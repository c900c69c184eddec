"""Everything that turns a trained run into images: checkpoints, run folders, loading G, sampling, grids."""
