import pytest

from ganforge.config import PRESETS, Config, build_config, config_from_dict
from ganforge.errors import GanforgeError


def test_precedence_defaults_preset_yaml_flags(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("latent_dim: 32\nbatch_size: 128\n")
    config = build_config("seed000-mlp", str(yaml_file), {"batch_size": 8})
    assert config.model == "mlp"  # from the preset
    assert config.hidden_dim == 100  # from the preset
    assert config.latent_dim == 32  # YAML beats the preset
    assert config.batch_size == 8  # flags beat YAML
    assert config.lr_g == Config().lr_g  # untouched default


def test_steps_override_switches_an_epoch_preset_to_steps():
    config = build_config("seed001-dcgan", None, {"steps": 10})
    assert (config.steps, config.epochs) == (10, 0)


def test_yaml_may_name_a_preset(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("preset: seed002-mlp\nlatent_dim: 8\n")
    config = build_config(None, str(yaml_file), {})
    assert config.label_smoothing == PRESETS["seed002-mlp"]["label_smoothing"]
    assert config.latent_dim == 8


@pytest.mark.parametrize("overrides, message", [
    ({"lr_g": -1.0}, "lr_g"),
    ({"batch_size": 0}, "batch_size"),
    ({"model": "nope"}, "unknown model 'nope'"),
    ({"loss": "bcee"}, "did you mean 'bce'"),
    ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
    ({"augment": "heavy"}, "augment"),
    ({"steps": 5, "epochs": 5}, "not both"),
    ({"classes": "a,b"}, "classes"),
    ({"subset": 0.0}, "subset"),
    ({"mode_seeking": -1.0}, "mode_seeking"),
    ({"r1_every": 0}, "r1_every=0; it must be > 0"),
    ({"d_layers": -1}, "d_layers=-1; it must be >= 0"),
    ({"lecam": -0.1}, "lecam=-0.1; it must be >= 0"),
    ({"minibatch_std": 3, "batch_size": 32}, "minibatch_std=3 must divide batch_size=32"),
    ({"mode_seeking": 0.1, "batch_size": 1}, "batch-size 2 or more"),
])
def test_bad_values_name_the_field(overrides, message):
    with pytest.raises(GanforgeError, match=message):
        build_config(None, None, {"steps": 1, **overrides})


def test_unknown_yaml_key_suggests_the_right_one(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("latent_dims: 3\n")
    with pytest.raises(GanforgeError, match="latent_dims.*did you mean 'latent_dim'"):
        build_config(None, str(yaml_file), {})


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(GanforgeError, match="not found"):
        build_config(None, str(tmp_path / "missing.yaml"), {})
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(GanforgeError, match="not valid YAML"):
        build_config(None, str(broken), {})


def test_yaml_value_of_wrong_type(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("batch_size: lots\n")
    with pytest.raises(GanforgeError, match="batch_size='lots' is not a valid int"):
        build_config(None, str(yaml_file), {"steps": 1})


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_is_valid_and_round_trips(preset):
    config = build_config(preset, None, {})
    assert config_from_dict(config.to_dict()) == config


def test_new_runs_choose_their_best_checkpoint_against_the_training_split():
    assert build_config(None, None, {"steps": 1}).eval_ref == "train"
    with pytest.raises(GanforgeError, match="bad value eval_ref='val'; choose one of: train, test"):
        build_config(None, None, {"steps": 1, "eval_ref": "val"})


def test_a_run_saved_before_eval_ref_keeps_the_test_split_when_resumed():
    """Its best FID was measured against the test split: new FIDs must stay comparable."""
    saved = build_config(None, None, {"steps": 1}).to_dict()
    del saved["eval_ref"]
    assert config_from_dict(saved).eval_ref == "test"


def test_a_default_run_saved_before_stem_kernel_rebuilds_its_5x5_stride_1_layer():
    """Round 11's default had a 5×5 stride-1 layer in G; its checkpoints must keep loading."""
    from torch import nn

    from ganforge.models import build_models
    from ganforge.models.base import ModelSpec

    saved = build_config("default", None, {}).to_dict()
    assert saved.pop("stem_kernel") == 3
    generator, _ = build_models(config_from_dict(saved), ModelSpec(1, 28, 10))
    stride_1 = [m.kernel_size for m in generator.modules()
                if isinstance(m, nn.ConvTranspose2d) and m.stride == (1, 1)]
    assert stride_1 == [(5, 5)]
