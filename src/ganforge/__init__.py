"""ganforge: train, evaluate and explore GANs on small image datasets.

The library API (docs/api.md): ganforge.train, ganforge.evaluate, ganforge.sample,
ganforge.ensemble, ganforge.calibrate, ganforge.resume_config and ganforge.build_config; they load
on first use, so that `import ganforge.errors` (say) does not import torch.
"""

__version__ = "0.1.0"

API = ("train", "evaluate", "sample", "ensemble", "calibrate", "resume_config")


def __getattr__(name: str):
    if name in API:
        from ganforge import api

        return getattr(api, name)
    if name == "build_config":
        from ganforge.config import build_config

        return build_config
    raise AttributeError(f"module 'ganforge' has no attribute '{name}'")


__all__ = [*API, "build_config", "__version__"]
