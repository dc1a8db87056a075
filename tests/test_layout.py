"""antelope/README.md's map stays true: each module's imports (at the top and inside functions), read with
`ast`, against the rules of what each room must never import; and no module grows past ~400 lines without
saying why at its top."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "antelope"
MODULES = {str(path.relative_to(PACKAGE).with_suffix("")).replace("/", "."): path
           for path in sorted(PACKAGE.rglob("*.py")) if path.name != "__init__.py" or path.parent != PACKAGE}
SWEEP_ROOM = {"sweep", "workers", "slurm", "trial", "space", "studies", "report", "warmstart", "dashboard"}
LOOP_AND_DATA = {"trainer", "update", "log", "progress", "interrupts", "threads", "replay", "samples", "stream", "transforms", "augment", "spec", "model",
                 "datasets", "environment", "generative", "writer", "checkpoint"}
CONFIG_ROOM = {"config", "overrides", "optim"}
DOORS = {"__init__", "__main__", "cli"}


def imports(path):
    """[(imported module, [names taken from it])] of a file: absolute ('mlflow.entities') or ours ('tracking')."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level == 0:
                found.append((node.module, names))
            elif node.module is None:  # from . import config, tracking
                found += [(name, []) for name in names]
            else:  # from .spec import construct (from ..errors in agents/)
                found.append((node.module, names))
    return found


def ours(module):
    return module.split(".")[0] in {path.split(".")[0] for path in MODULES} | {"agents"}


def test_the_map_names_every_module():
    text = (PACKAGE / "README.md").read_text()
    missing = [m for m in MODULES if "." not in m and m not in text and m != "__main__"]
    assert not missing, f"antelope/README.md does not place: {missing}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_what_its_room_may(name):
    room = name.split(".")[0]
    problems = []
    for module, names in imports(MODULES[name]):
        top = module.split(".")[0]
        if top == "mlflow" and room != "tracking":
            problems.append("MLflow is spoken in tracking.py only")
        if top == "optuna" and room not in SWEEP_ROOM:
            problems.append("Optuna belongs to the sweep room")
        if (room in LOOP_AND_DATA or room == "agents") and (
                top in ("hydra", "omegaconf", "mlflow", "optuna") or ours(module) and top in ("config", "ml", "tracking", "sweep")):
            problems.append(f"the loop and data rooms know nothing of config, runs or sweeps: {module}")
        if room in CONFIG_ROOM and ours(module) and top not in CONFIG_ROOM | {"errors", "imports", "augment"}:
            problems.append(f"the config room imports no machinery: {module}")
        if ours(module) and top == "ml" and room not in DOORS | {"trial"}:
            problems.append("only the doors and a sweep trial start runs")
        if any(part.startswith("_") and not part.startswith("__") for part in module.split(".")) \
                and not ours(module):
            problems.append(f"a private module of another library: {module}")
        if ours(module) and any(n.startswith("_") for n in names):
            problems.append(f"a private name of {module}: {[n for n in names if n.startswith('_')]}")
    assert not problems, f"antelope/{MODULES[name].relative_to(PACKAGE)}: {sorted(set(problems))}"


def test_private_attributes_of_other_modules_are_not_used():
    """`module._name` reads of another antelope module (or of mlflow, optuna, hydra, torch) in product code."""
    ours_or_libraries = {m for m in MODULES} | {"lines", "models", "mlflow", "optuna", "hydra", "torch", "study"}
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and isinstance(node.value, ast.Name) and node.value.id in ours_or_libraries:
                found.append(f"{name}: {node.value.id}.{node.attr}")
    assert not found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_long_modules_say_why_at_their_top(name):
    text = MODULES[name].read_text()
    if len(text.splitlines()) > 400:
        docstring = " ".join((ast.get_docstring(ast.parse(text)) or "").split())
        assert "longer than the others" in docstring, f"{name} has {len(text.splitlines())} lines and no reason"
