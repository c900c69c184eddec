"""ganforge: train, evaluate and explore GANs on small image datasets."""

__version__ = "0.1.0"
