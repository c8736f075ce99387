"""What the renderers draw: the model an env simulates, exactly as C++ compiled it, or a model file.

An env's model is not always its file: World gives a URDF robot a floating base, a floor and a motor per joint,
and a terrain env adds its heightfield. So videos and viewers of an env take the compiled model from C++
(`simulated_model`), never re-read the file. mujoco is imported inside the functions because the video code must
choose the OpenGL backend before this process first imports it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mujoco


def simulated_model(env: Any) -> mujoco.MjModel:
    """The model env 0 of `env` (a RaisimGymVecEnv, or its `wrapper`) simulates, as a mujoco.MjModel."""
    import mujoco

    wrapper = getattr(env, "wrapper", env)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "simulated.mjb"
        path.write_bytes(wrapper.getModelBinary())
        return mujoco.MjModel.from_binary_path(str(path))


def as_model(model: mujoco.MjModel | str | Path) -> mujoco.MjModel:
    """`model` itself, or the model in the MJCF/URDF file `model` (a ValueError names a file MuJoCo rejects)."""
    import mujoco

    if isinstance(model, mujoco.MjModel):
        return model
    try:
        return mujoco.MjModel.from_xml_path(str(model))
    except ValueError as error:
        raise ValueError(f"MuJoCo cannot load {model}: {error}") from error
