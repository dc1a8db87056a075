"""Builds the wheel folder the GPU machine installs from (it has no package registry): the packages antelope needs
that its image lacks, as CPython 3.12 manylinux wheels, the versions installed here, one of each.

    python tests/gpu/wheels.py            # into .wheels/ (git-ignored), carried by the device call
    python tests/gpu/wheels.py --check    # also resolve the set with no index for Python 3.12, as pip would there

The image's own packages (IMAGE below, as the device tool's KINDS.md lists them) are left out: the device's
`pip install --no-index --no-deps --target` puts these wheels beside them. Whatever a wheel requires that is neither
in the image nor fetched yet is fetched in turn, so the set is closed.
"""

import argparse
import re
import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
WHEELS = ROOT / ".wheels"
LIMIT = 50 << 20  # the working tree and the carried wheels travel in 64 MiB together
# What antelope and its GPU tests import that the image lacks (its pyproject dependencies and the test extra's)
WANTED = ["mlflow", "optuna", "hydra-core", "omegaconf", "gymnasium", "tenacity", "cmaes", "submitit"]
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_31_x86_64",
    "manylinux_2_34_x86_64",
]
# The GPU machine's image, 'cuda', as the device tool's KINDS.md lists its packages (read there on 2026-11-17)
IMAGE = set(
    canonicalize_name(n)
    for n in """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx humanize hypothesis idna imageio iniconfig
interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson
ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13
nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split()
)
ENVIRONMENT = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "extra": "",
}


def pinned(name):
    """`name==<the version installed here>`, or `name` when it is not installed here."""
    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        return name


def fetch(requirement):
    """Download one wheel for CPython 3.12 on manylinux x86-64 (a pure-Python wheel does for any platform); a
    package with no wheel (antlr4-python3-runtime) is built here into one."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "-d",
        str(WHEELS),
        requirement,
    ]
    for platform in PLATFORMS:
        command[-1:-1] = ["--platform", platform]
    if subprocess.run(command, capture_output=True, text=True).returncode != 0:
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(WHEELS), requirement],
            capture_output=True,
            text=True,
        )
        if built.returncode != 0 or not any(WHEELS.glob("*none-any.whl")):
            raise SystemExit(f"wheels: no wheel for {requirement}: {built.stderr.strip().splitlines()[-1:]}")


def requirements(wheel):
    """The names a wheel requires on the GPU machine (Python 3.12, Linux, no extras)."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    needed = set()
    for line in lines:
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = Requirement(line.split(":", 1)[1].strip())
        if requirement.marker is None or Marker(str(requirement.marker)).evaluate(ENVIRONMENT):
            needed.add(canonicalize_name(requirement.name))
    return needed


def name_of(wheel):
    return canonicalize_name(re.split(r"-\d", wheel.name, maxsplit=1)[0])


def main():
    parser = argparse.ArgumentParser(description="Build the GPU machine's wheel folder (.wheels/).")
    parser.add_argument("--check", action="store_true", help="also resolve the set for Python 3.12 with no index")
    args = parser.parse_args()
    WHEELS.mkdir(exist_ok=True)
    wanted, done = [canonicalize_name(n) for n in WANTED], set()
    while wanted:
        name = wanted.pop()
        if name in done or name in IMAGE:
            continue
        done.add(name)
        if not any(name_of(w) == name for w in WHEELS.glob("*.whl")):
            fetch(pinned(name))
        wheel = next(w for w in WHEELS.glob("*.whl") if name_of(w) == name)
        wanted += sorted(requirements(wheel) - done - IMAGE)
    stray = [w for w in WHEELS.glob("*.whl") if name_of(w) not in done]
    for wheel in stray:  # left from an earlier set: one version of each name, only what is wanted now
        wheel.unlink()
    size = sum(w.stat().st_size for w in WHEELS.glob("*.whl"))
    print(f"wheels: {len(done)} packages, {size / (1 << 20):.1f} MiB in {WHEELS}")
    if size > LIMIT:
        raise SystemExit(f"wheels: {size / (1 << 20):.1f} MiB is over {LIMIT >> 20} MiB")
    if args.check:  # every wheel installable for 3.12, from the folder alone, its needs met by the folder or the image
        check = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--quiet",
                "--no-index",
                "--no-deps",
                "--find-links",
                str(WHEELS),
                "--python-version",
                "3.12",
                "--only-binary=:all:",
                "--target",
                "/tmp/wheels-check",
                *[str(w) for w in sorted(WHEELS.glob("*.whl"))],
            ],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            raise SystemExit(f"wheels: the set does not install for Python 3.12: {check.stderr.strip()[-2000:]}")
        unmet = {n: sorted(requirements(w) - done - IMAGE) for w in WHEELS.glob("*.whl") for n in [name_of(w)]}
        unmet = {n: u for n, u in unmet.items() if u}
        if unmet:
            raise SystemExit(f"wheels: requirements neither in the folder nor in the image: {unmet}")
        print("wheels: the set installs for Python 3.12 with no index, every requirement in it or in the image")


if __name__ == "__main__":
    main()
