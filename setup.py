"""Builds every folder under raisimGymTorch/env/envs into raisimGymTorch/env/bin/<name> with CMake.

MuJoCo's headers and library, pybind11 and Eigen all come from pip packages; CMake is told where
Python found them. The CMake build folder persists under build/, so after editing one
Environment.hpp only that environment recompiles. `RSG_ENVS=a,b` limits the build to those envs.
The toolkit module `_toolkit` (env/toolkit_module.cpp: terrain, height scan, curriculum for Python) is
built beside them by a full build, or when RSG_ENVS names it; it is not an env folder, so env_names()
never lists it, and `RSG_ENVS=my_env` builds my_env alone.
"""
import hashlib
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import setuptools

# pyproject.toml's `license = "MIT"` (PEP 639) needs setuptools 77; older ones fail on it with a schema error.
if tuple(int(part) for part in setuptools.__version__.split(".")[:2] if part.isdigit()) < (77,):
    sys.exit(f"raisimGymTorch build: setuptools {setuptools.__version__} is too old; pip install 'setuptools>=77'")

from setuptools import Extension, setup  # noqa: E402
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
ENVS_DIR = ROOT / "raisimGymTorch" / "env" / "envs"
TOOLKIT_MODULE = "_toolkit"


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"raisimGymTorch build: the Python package '{name}' is missing; pip install {name}")
    return Path(list(spec.submodule_search_locations)[0])


def require_package(name: str):
    """The Python package `name`, or an exit that says how to install it."""
    package_dir(name)
    return importlib.import_module(name)


def mujoco_library_version(mujoco_dir: Path) -> str:
    """The version in the name of the libmujoco.so.<version> that the mujoco package ships."""
    libraries = sorted(mujoco_dir.glob("libmujoco.so.*"))
    if not libraries:
        sys.exit(f"raisimGymTorch build: no libmujoco.so.* in {mujoco_dir}; pip install --force-reinstall mujoco")
    return libraries[0].name.removeprefix("libmujoco.so.")


def env_names() -> list[str]:
    """Env folders (or symlinks to folders) that hold an Environment.hpp."""
    selected = [name for name in os.environ.get("RSG_ENVS", "").split(",") if name and name != TOOLKIT_MODULE]
    if os.environ.get("RSG_ENVS") and not selected:
        return []  # RSG_ENVS=_toolkit: the toolkit module alone
    found = sorted(p.name for p in ENVS_DIR.iterdir() if p.is_dir() and (p / "Environment.hpp").is_file())
    unknown = sorted(set(selected) - set(found))
    if unknown:
        sys.exit(f"raisimGymTorch build: RSG_ENVS names unknown envs {unknown}; available: {found}")
    # The folder name becomes a CMake target, a C macro and the module's PyInit_<name>: compilers would fail on
    # `my-env` with errors that never name the folder.
    invalid = [name for name in selected or found if not (name.isascii() and name.isidentifier())]
    if invalid:
        suggestion = re.sub(r"\W", "_", invalid[0], flags=re.ASCII)
        sys.exit(f"raisimGymTorch build: env folder names must be C identifiers (letters, digits, _), got "
                 f"{', '.join(repr(name) for name in invalid)} in {ENVS_DIR}; rename e.g. "
                 f"{invalid[0]!r} to {suggestion!r}")
    return selected or found


def keep_going_arguments(build_dir: Path) -> list[str]:
    """What makes the build tool go on past a failed target, for the generator CMake chose."""
    cache = build_dir / "CMakeCache.txt"
    text = cache.read_text(errors="replace") if cache.is_file() else ""
    generator = re.search(r"^CMAKE_GENERATOR:INTERNAL=(.*)$", text, re.MULTILINE)
    if generator is None:
        return []
    if "Ninja" in generator.group(1):
        return ["--", "-k", "0"]
    if "Makefiles" in generator.group(1):
        return ["--", "-k"]
    return []


def first_error(log: str) -> str:
    """The compiler's first error line in `log`, or its last line if none looks like one."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return next((line for line in lines if re.search(r"\berror\b", line)), lines[-1] if lines else "(no output)")


def build_targets(build_dir: Path, names: list[str], jobs: str) -> dict[str, str]:
    """Builds every target it can; returns the failed ones with their first error.

    One broken env must not cost the others: the build goes on past it, then each failed target is rebuilt
    alone so that its error can be told apart from the others' (the built ones are up to date by then).
    """
    everything = ["cmake", "--build", str(build_dir), "-j", jobs, *keep_going_arguments(build_dir)]
    if subprocess.run(everything).returncode == 0:
        return {}
    failures = {}
    for name in names:
        alone = subprocess.run(["cmake", "--build", str(build_dir), "--target", name], capture_output=True, text=True)
        if alone.returncode != 0:
            failures[name] = first_error(alone.stdout + "\n" + alone.stderr)
    return failures or {"(build)": "cmake --build failed outside any env target; see the output above"}


class CMakeBuild(build_ext):
    def run(self) -> None:
        # setuptools clears `inplace` while building and copies the modules afterwards; remember it.
        self.copies_to_source = bool(self.inplace or getattr(self, "editable_mode", False))
        super().run()

    def build_extensions(self) -> None:
        pybind11 = require_package("pybind11")

        # build_lib/, or the source tree for --inplace; editable installs copy from build_lib/.
        output_dir = Path(self.get_ext_fullpath(self.extensions[0].name)).parent
        mujoco_dir = package_dir("mujoco")
        names = [ext.name.rsplit(".", 1)[-1] for ext in self.extensions]
        # One build folder per toolchain (an isolated pip build brings its own temporary Python) and
        # env selection, so that builds of different envs can run side by side.
        key = "|".join([sys.executable, pybind11.get_cmake_dir(), str(mujoco_dir), *names])
        build_dir = ROOT / "build" / ("cmake-" + hashlib.sha1(key.encode()).hexdigest()[:10])
        build_dir.mkdir(parents=True, exist_ok=True)
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DMUJOCO_DIR={mujoco_dir}",
            f"-DEIGEN_INCLUDE_DIR={package_dir('eigency') / 'eigen'}",
            f"-DRSG_OUTPUT_DIR={output_dir}",
            f"-DRSG_ONLY_ENVS={';'.join(names)}",
            f"-DRSG_SANITIZE={'ON' if os.environ.get('RSG_SANITIZE') else 'OFF'}",
            f"-DCMAKE_BUILD_TYPE={'Debug' if self.debug else 'Release'}",
        ]
        subprocess.run(configure, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        failures = build_targets(build_dir, names, jobs)
        # The modules link libmujoco.so.<version>; bin/__init__.py compares this record with the
        # installed MuJoCo before any module loads, so a mismatch is a clear error, not a failed dlopen.
        built_against = mujoco_library_version(mujoco_dir)
        for folder in {output_dir, ENVS_DIR.parent / "bin"} if self.copies_to_source else {output_dir}:
            (folder / "MUJOCO_VERSION").write_text(built_against + "\n")
        if failures:
            built = [name for name in names if name not in failures]
            # setuptools copies modules into the source tree only after a successful build; do it for the ones that
            # built, so that they can be used while the broken one is fixed.
            for ext in self.extensions if self.copies_to_source else []:
                source, target = Path(self.get_ext_fullpath(ext.name)), ROOT / self.get_ext_filename(ext.name)
                if ext.name.rsplit(".", 1)[-1] in built and source.resolve() != target.resolve():
                    shutil.copy2(source, target)
            summary = "\n".join(f"  {name}: {error}" for name, error in failures.items())
            sys.exit(f"raisimGymTorch build: {len(failures)} of {len(names)} modules failed to compile "
                     f"(built: {', '.join(built) or 'none'}):\n{summary}\n"
                     f"Fix them, or build the others alone with RSG_ENVS=<name>,<name>.")


def module_names() -> list[str]:
    """The env modules to build, plus the toolkit module unless RSG_ENVS selects envs without naming it."""
    selected = [name for name in os.environ.get("RSG_ENVS", "").split(",") if name]
    toolkit = [TOOLKIT_MODULE] if not selected or TOOLKIT_MODULE in selected else []
    return [*env_names(), *toolkit]


setup(
    ext_modules=[Extension(f"raisimGymTorch.env.bin.{name}", sources=[]) for name in module_names()],
    cmdclass={"build_ext": CMakeBuild},
)
