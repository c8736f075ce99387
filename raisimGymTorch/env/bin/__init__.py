"""Compiled environments, one module per folder of raisimGymTorch/env/envs.

The modules link MuJoCo's library from the installed `mujoco` package. Loading that library here,
before any module, lets a module built in an isolated pip environment (whose build-time copy of
MuJoCo is gone) find it by its soname; checking the version first turns a mismatch into a clear
error instead of a failed dlopen.
"""
import ctypes
import importlib.util
from pathlib import Path

REBUILD_COMMAND = "pip install -e .  (or: python setup.py build_ext --inplace)"


def _load_mujoco_library() -> None:
    spec = importlib.util.find_spec("mujoco")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("raisimGymTorch needs the mujoco package: pip install mujoco")
    folder = Path(list(spec.submodule_search_locations)[0])
    libraries = sorted(folder.glob("libmujoco.so.*"))
    if not libraries:
        raise ImportError(f"no libmujoco.so.* in {folder}; reinstall mujoco: pip install --force-reinstall mujoco")
    installed = libraries[0].name.removeprefix("libmujoco.so.")
    record = Path(__file__).with_name("MUJOCO_VERSION")
    if record.is_file():
        built_against = record.read_text().strip()
        if built_against != installed:
            raise ImportError(
                f"raisimGymTorch's environments were built against MuJoCo {built_against}, but MuJoCo {installed} "
                f"is installed; rebuild them with: {REBUILD_COMMAND}"
            )
    ctypes.CDLL(str(libraries[0]), mode=ctypes.RTLD_GLOBAL)


_load_mujoco_library()
