"""cfg.yaml for training: sections merged into PPOConfig, unknown keys rejected with the key and the file named."""
import pytest

from raisimGymTorch.runner.training_config import load_training_config, parse_training_config

BASE = """
seed: 3
record_video: yes
environment:
  num_envs: 4
  eval_every_n: 50
architecture:
  policy_net: [64, 32]
  value_net: [8]
algorithm:
  gamma: 0.99
  learning_rate: 1.0e-3
"""


def test_sections_merge_into_ppo_config(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(BASE)
    config = load_training_config(path)
    assert (config.seed, config.record_video, config.eval_every_n) == (3, True, 50)
    assert config.ppo.policy_net == [64, 32] and config.ppo.value_net == [8]
    assert config.ppo.gamma == 0.99 and config.ppo.learning_rate == 1e-3
    assert config.ppo.lam == 0.95, "keys not given keep the original's defaults"
    assert config.text == BASE and config.source == str(path)


def test_defaults_when_sections_are_absent():
    config = parse_training_config("environment: {num_envs: 1}\n")
    assert (config.seed, config.record_video, config.eval_every_n) == (0, False, 200)
    assert config.ppo.policy_net == [128, 128]


def test_unknown_algorithm_key_names_key_and_file(tmp_path):
    path = tmp_path / "my_cfg.yaml"
    path.write_text(BASE + "  lamda: 0.9\n")
    with pytest.raises(ValueError, match=r"Unknown PPO setting 'lamda' in .*my_cfg.yaml \(section 'algorithm'\)"):
        load_training_config(path)


def test_unknown_top_level_key_names_key_file_and_valid_keys(tmp_path):
    path = tmp_path / "my_cfg.yaml"
    path.write_text(BASE + "algorithms: {}\n")
    with pytest.raises(ValueError, match=r"Unknown top-level key 'algorithms' in .*my_cfg.yaml\. Valid keys: seed, "):
        load_training_config(path)


def test_key_in_both_sections_is_rejected():
    with pytest.raises(ValueError, match="'policy_net' appears in both"):
        parse_training_config(BASE + "  policy_net: [4]\n", "x.yaml")


@pytest.mark.parametrize("line, message", [
    ("seed: one\n", "'seed' in x.yaml must be an integer"),
    ("record_video: maybe\n", "'record_video' in x.yaml must be true or false"),
])
def test_bad_values_name_the_key(line, message):
    with pytest.raises(ValueError, match=message):
        parse_training_config("environment: {num_envs: 1}\n" + line, "x.yaml")


def test_bad_eval_every_n_and_missing_environment():
    with pytest.raises(ValueError, match="environment.eval_every_n"):
        parse_training_config("environment: {eval_every_n: 0}\n", "x.yaml")
    with pytest.raises(ValueError, match="needs an 'environment:' section"):
        parse_training_config("seed: 1\n", "x.yaml")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.yaml"):
        load_training_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(("text", "expected"), [("'no'", False), ("'False'", False), ("'yes'", True), ("true", True),
                                               ("off", False)])
def test_render_is_read_with_the_boolean_words_of_record_video(text, expected):
    # bool("no") would be True: the quoted word must mean what it says, as record_video's does.
    assert parse_training_config(f"environment: {{render: {text}}}\n").render is expected
    assert parse_training_config("environment: {num_envs: 1}\n").render is False


def test_render_that_is_not_a_boolean_names_the_key():
    with pytest.raises(ValueError, match="environment.render"):
        parse_training_config("environment: {render: maybe}\n")
