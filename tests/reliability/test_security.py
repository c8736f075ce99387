"""Issue 7, item 7: what a file or cfg handed to raisimGymTorch can make it do.

- Checkpoints load with ``torch.load(weights_only=True)``: a pickle that builds arbitrary objects is refused and its
  payload never runs, through the loader, the tester and the runner.
- The package never unpickles, evals or execs, and reads YAML only with the safe loader (checked on its source).
- A cfg (also the copy inside a checkpoint) cannot point the env at files outside a named package, nor make any
  package's code run.
- The trainer only prints a TensorBoard command, for this machine; it launches none.
- The live viewer binds 127.0.0.1 unless asked: tests/viz/test_viewer.py::
  test_binds_loopback_only_and_releases_the_port_on_close.
"""
import ast
import pickle
import re
from pathlib import Path

import pytest
import torch
from conftest import small_cfg_text
from reliability_helpers import ANYMAL_DIR, REPO_ROOT, describe_exit, run_python
from ruamel.yaml import YAML

from raisimGymTorch.env.make import RESOURCE_DIR, make_vec_env, resource_dir
from raisimGymTorch.io.checkpoint import load_checkpoint
from raisimGymTorch.runner.logger import TrainingLogger
from raisimGymTorch.runner.training_config import parse_training_config

PACKAGE = REPO_ROOT / "raisimGymTorch"


class Payload:
    """Unpickling this creates `path`: proof that the pickle's code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def malicious_files(directory: Path, sentinel: Path) -> list[Path]:
    """The payload as a plain pickle, inside a torch.save zip, and hidden in an otherwise plausible checkpoint."""
    plain = directory / "full_1.pt"
    plain.write_bytes(pickle.dumps(Payload(sentinel), protocol=2))
    zipped = directory / "full_2.pt"
    torch.save(Payload(sentinel), zipped)
    nested = directory / "full_3.pt"
    torch.save({"format": "raisimGymTorch checkpoint", "version": 1, "iteration": 3, "actor": Payload(sentinel)},
               nested)
    return [plain, zipped, nested]


def test_malicious_pickle_checkpoints_are_refused_and_do_not_run(tmp_path):
    sentinel = tmp_path / "PAYLOAD_RAN"
    for path in malicious_files(tmp_path, sentinel):
        with pytest.raises(ValueError, match=rf"{re.escape(str(path))} is not a readable checkpoint"):
            load_checkpoint(path)
        assert not sentinel.exists(), f"unpickling {path.name} ran its payload"
    torch.load(tmp_path / "full_2.pt", weights_only=False)  # the control: without weights_only it does run
    assert sentinel.exists()


def test_tester_process_refuses_a_malicious_checkpoint(tmp_path):
    # runner.py -m retrain with the same file: tests/reliability/cli_cases.py.
    sentinel = tmp_path / "PAYLOAD_RAN"
    weight = malicious_files(tmp_path, sentinel)[2]
    tester = run_python([str(ANYMAL_DIR / "tester.py"), "-w", str(weight), "--no-video"], timeout=120)
    assert tester.returncode == 1, describe_exit(tester)
    assert "is not a readable checkpoint" in tester.stderr and "Traceback" not in tester.stderr
    assert not sentinel.exists()


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path):
    sentinel = tmp_path / "YAML_RAN"
    text = f"environment: !!python/object/apply:builtins.open ['{sentinel}', 'w']\n"
    with pytest.raises(ValueError, match="could not determine a constructor for the tag"):
        parse_training_config(text, "evil.yaml")
    from raisimGymTorch.env.make import import_env_module

    with pytest.raises(ValueError, match="cfg is not valid YAML"):
        import_env_module("rsg_anymal").RaisimGymEnv(str(RESOURCE_DIR), text)
    assert not sentinel.exists()


# --- the package's source ---------------------------------------------------------------------------

# Calls that deserialize or run code. Key: dotted name as written; value: why it is banned.
BANNED_CALLS = {
    "pickle.load": "unpickling runs code", "pickle.loads": "unpickling runs code",
    "pickle.Unpickler": "unpickling runs code", "marshal.load": "runs code", "marshal.loads": "runs code",
    "shelve.open": "unpickles", "dill.load": "unpickles", "dill.loads": "unpickles", "joblib.load": "unpickles",
    "eval": "runs code", "exec": "runs code", "compile": "runs code", "__import__": "imports by name",
    "yaml.load": "PyYAML's loader builds objects", "yaml.unsafe_load": "builds objects",
    "yaml.full_load": "builds objects", "os.system": "a shell", "os.popen": "a shell",
    "torch.jit.load": "loads code", "torch.package.PackageImporter": "loads code",
}
# A vetted exception: ranks of one torchrun job exchange small objects (strings, tuples, checkpoints already
# loaded with weights_only=True) through torch.distributed, which pickles them.
ALLOWED = {("raisimGymTorch/runner/distributed.py", "dist.broadcast_object_list")}


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return "?"


def keyword(call: ast.Call, name: str):
    for item in call.keywords:
        if item.arg == name:
            return item.value
    return None


def source_problems(path: Path, relative: str | None = None) -> list[str]:
    """Banned calls in the Python file `path`, as 'file:line: what'."""
    relative = relative or path.relative_to(REPO_ROOT).as_posix()
    problems = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name, where = dotted(node.func), f"{relative}:{node.lineno}"
        constant = lambda value: isinstance(value, ast.Constant) and value.value  # noqa: E731
        if (relative, name) in ALLOWED:
            continue
        if name in BANNED_CALLS or name.endswith(".broadcast_object_list"):
            problems.append(f"{where}: {name} ({BANNED_CALLS.get(name, 'unpickles')})")
        elif name.endswith("torch.load"):
            weights_only = keyword(node, "weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                problems.append(f"{where}: torch.load without weights_only=True")
        elif name.endswith("YAML"):
            typ = keyword(node, "typ")
            if not (isinstance(typ, ast.Constant) and typ.value == "safe"):
                problems.append(f"{where}: YAML() without typ='safe'")
        elif name.endswith("np.load") or name.endswith("numpy.load"):
            if constant(keyword(node, "allow_pickle")):
                problems.append(f"{where}: np.load(allow_pickle=True)")
        elif name.startswith("subprocess.") and constant(keyword(node, "shell")):
            problems.append(f"{where}: subprocess with shell=True")
    return problems


def test_package_source_never_unpickles_evals_or_loads_yaml_unsafely():
    files = sorted(p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts[:1])
    assert len(files) > 15
    problems = [problem for path in files for problem in source_problems(path)]
    assert not problems, "\n".join(problems)
    # The C++ boundary parses YAML text through ruamel too: only with the safe loader.
    binding = (PACKAGE / "env" / "raisim_gym.cpp").read_text()
    yaml_calls = re.findall(r'attr\("YAML"\)\((.*?)\);', binding)
    assert yaml_calls and all('py::arg("typ") = "safe"' in call for call in yaml_calls), yaml_calls
    for word in ("system(", "popen(", "dlopen(", "PyRun_"):
        assert word not in binding


def test_the_source_check_catches_what_it_bans(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import pickle, torch, subprocess\nfrom ruamel.yaml import YAML\n"
                      "pickle.loads(b'')\ntorch.load('x')\ntorch.load('x', weights_only=False)\n"
                      "YAML(typ='unsafe')\nYAML()\neval('1')\nsubprocess.run('ls', shell=True)\n")
    problems = source_problems(sample, "sample.py")
    assert len(problems) == 7, problems


# --- cfg resources ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, message", [
    ({"package": "raisimGymTorch", "folder": "../.."}, "must stay inside the package"),
    ({"package": "raisimGymTorch", "folder": "/etc"}, "must stay inside the package"),
    ({"package": "raisimGymTorch", "folder": "rsc/../../.."}, "must stay inside the package"),
    ({"package": "..", "folder": ""}, "no installed package"),
    ({"package": "/etc", "folder": ""}, "no installed package"),
    ({"package": "os.path"}, "no installed package"),  # a module, not a package
    ({"package": "raisimGymTorch", "folder": None}, "must be strings"),
    ({"package": "raisimGymTorch", "file": "/etc/passwd"}, "must be a mapping"),
    ("/etc", "must be a mapping"),
])
def test_resources_cannot_leave_the_named_package(spec, message):
    with pytest.raises(ValueError, match=message):
        resource_dir({"resources": spec})


def test_a_symlink_inside_the_package_cannot_lead_out(tmp_path, monkeypatch):
    package = tmp_path / "site" / "modelpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "assets").symlink_to("/etc", target_is_directory=True)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ValueError, match="must stay inside the package 'modelpkg'"):
        resource_dir({"resources": {"package": "modelpkg", "folder": "assets"}})


def test_naming_a_package_in_the_cfg_runs_none_of_its_code(tmp_path, monkeypatch):
    package = tmp_path / "site" / "trappkg"
    (package / "models").mkdir(parents=True)
    sentinel = tmp_path / "IMPORTED"
    (package / "__init__.py").write_text(f"open({str(sentinel)!r}, 'w')\n")
    (package / "models" / "__init__.py").write_text(f"open({str(sentinel)!r}, 'w')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert resource_dir({"resources": {"package": "trappkg.models", "folder": ""}}) == (package / "models").resolve()
    with pytest.raises(ValueError, match="no installed package 'trappkg.nothing'"):
        resource_dir({"resources": {"package": "trappkg.nothing"}})
    assert not sentinel.exists(), "looking the package up imported it"


def test_model_paths_come_from_no_cfg_key(make_anymal):
    # The env folder's Environment.hpp names its model file inside the resource dir; no cfg key can change either.
    for key in ("resource_dir", "model", "model_file"):
        with pytest.raises(ValueError, match=f"unknown cfg key '{key}'"):
            make_anymal(**{key: "/etc/passwd"})
    with pytest.raises(ValueError, match="Unknown top-level key 'resource_dir'"):
        parse_training_config(small_cfg_text(resource_dir="/etc"), "cfg.yaml")
    cfg = YAML(typ="safe", pure=True).load(small_cfg_text())
    env = make_vec_env("rsg_anymal", cfg, num_envs=1, num_threads=1)
    try:
        assert Path(env.wrapper.getModelFile()).resolve().is_relative_to(RESOURCE_DIR.resolve())
    finally:
        env.close()


# --- TensorBoard ------------------------------------------------------------------------------------------


def test_trainer_prints_a_loopback_tensorboard_command_and_starts_none(tmp_path, monkeypatch):
    import subprocess

    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a) or pytest.fail("a process started"))
    lines = []
    logger = TrainingLogger(tmp_path / "run", 0.01, lines.append)
    logger.close()
    commands = [line for line in lines if "tensorboard" in line]
    assert commands == [f"[runner] to watch training: tensorboard --logdir {tmp_path}"]
    assert not re.search(r"--bind_all|--host|0\.0\.0\.0", commands[0])
    assert not started
    # No string in the package's code (docstrings aside) asks TensorBoard or a server to listen on every interface.
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert "bind_all" not in node.value and node.value.strip() not in ("0.0.0.0", "::"), \
                    f"{path}:{node.lineno}: {node.value!r}"


def test_runner_and_tester_serve_the_live_viewer_on_loopback_unless_asked():
    from raisimGymTorch.runner import player, trainer

    assert trainer.parse_args([]).host == player.parse_args([]).host == "127.0.0.1"
    assert trainer.parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0", "binding elsewhere takes an explicit --host"
