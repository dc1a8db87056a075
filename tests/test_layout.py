"""antelope/README.md's map stays true: each module's imports (at the top and inside functions), read with `ast`,
against what its room may import, by package prefix; no import cycle; no module past 400 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "antelope"
MODULES = {".".join(path.relative_to(PACKAGE).with_suffix("").parts): path for path in sorted(PACKAGE.rglob("*.py"))}
DOORS = {"__init__", "__main__", "cli"}
COMMON = {"errors", "imports", "processes", "metrics"}  # what every room may use
# The rooms (antelope/<room>/) and the other rooms each may import: downwards only, as the map draws them.
ROOMS = {
    "agents": set(),
    "data": set(),
    "train": {"data", "agents"},
    "config": {"data"},
    "tracking": {"config"},
    "run": {"config", "data", "train", "tracking"},
    "results": {"config", "tracking"},
    "sweeps": {"config", "data", "train", "tracking", "run", "results"},
}
MLFLOW_ROOM, OPTUNA_ROOM = "tracking", "sweeps"
# Libraries of the config and the records, which the loop, the data and the agents know nothing of
OUTSIDE_THE_LOOP = {"hydra", "omegaconf", "mlflow", "optuna"}


def room(name):
    """'data' for 'data.feed' and 'data.__init__'; the module itself for the doors and common modules."""
    return name.split(".")[0]


def imports(name):
    """[(absolute module, [names taken from it])] of module `name`, ours as 'antelope.<dotted>'."""
    path = MODULES[name]
    package = name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level == 0:
                found.append((node.module, names))
                continue
            base = ["antelope", *package[: len(package) - (node.level - 1)]]
            if node.module is None:  # from . import feed, stream: modules (or names) of the package
                found += [(".".join(base + [n]), []) for n in names]
            else:
                found.append((".".join(base + node.module.split(".")), names))
    return found


def ours(module):
    return module == "antelope" or module.startswith("antelope.")


def target(module):
    """The module of ours an import names: 'data.feed', 'data.__init__' for the package, or None (a name the
    package holds, e.g. 'data.Feed', counts as the package)."""
    parts = module.split(".")[1:]
    while parts and ".".join(parts) not in MODULES:
        if ".".join(parts + ["__init__"]) in MODULES:
            return ".".join(parts + ["__init__"])
        parts = parts[:-1]
    return ".".join(parts) if parts else "__init__"


def test_the_map_names_every_room_and_module():
    text = (PACKAGE / "README.md").read_text()
    missing = [
        m
        for m in MODULES
        if m.split(".")[-1] not in ("__init__", "__main__") and room(m) != "agents" and m.split(".")[-1] not in text
    ]  # the agents are listed in agents/__init__
    missing += [f"{r}/" for r in ROOMS if f"{r}/" not in text]
    assert not missing, f"antelope/README.md does not place: {missing}"


def test_every_room_is_a_package_that_says_what_it_does():
    for name in ROOMS:
        init = PACKAGE / name / "__init__.py"
        assert init.is_file() and ast.get_docstring(ast.parse(init.read_text())), f"antelope/{name}/__init__.py"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_what_its_room_may(name):
    here = room(name)
    problems = []
    for module, names in imports(name):
        top = module.split(".")[0]
        if top == "mlflow" and here != MLFLOW_ROOM:
            problems.append("MLflow is spoken in the tracking room only")
        if top == "optuna" and here != OPTUNA_ROOM:
            problems.append("Optuna is spoken in the sweep room only")
        if here in ("train", "data", "agents") and top in OUTSIDE_THE_LOOP:
            problems.append(f"the loop, the data and the agents know nothing of {top}")
        if any(part.startswith("_") and not part.startswith("__") for part in module.split(".")) and not ours(module):
            problems.append(f"a private module of another library: {module}")
        if not ours(module):
            continue
        other = target(module)
        there = room(other)
        if any(n.startswith("_") for n in names):
            problems.append(f"a private name of {module}: {[n for n in names if n.startswith('_')]}")
        if there in DOORS and here not in DOORS:
            problems.append(f"only the doors import the doors: {module}")
        if here in COMMON and there != here and there not in COMMON:
            problems.append(f"a common module imports only common modules: {module}")
        if here in ROOMS and there in ROOMS and there != here:
            if there not in ROOMS[here]:
                problems.append(f"the {here} room may not import the {there} room: {module}")
            elif not other.endswith("__init__"):
                problems.append(f"another room is used through its package's exports: {module}")
        if (
            there == "run"
            and here not in DOORS | {"run"}
            and name not in ("sweeps.trial", "sweeps.seeds", "sweeps.seed_queue", "sweeps.slurm")
        ):
            problems.append("only the doors and a sweep trial (its seeds' runs too) start runs; Slurm jobs: run.slurm")
    assert not problems, f"antelope/{MODULES[name].relative_to(PACKAGE)}: {sorted(set(problems))}"


def find_cycle(graph):
    """A cycle of `graph` ({node: its successors}) as [a, b, ..., a], or []."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == "open":
                return path[path.index(successor) :] + [successor]
            if successor not in state:
                found = visit(successor, path + [successor])
                if found:
                    return found
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return []


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle():
    """Among our modules, counting imports inside functions too (an import there is a dependency all the same);
    a package depends on the modules its __init__ imports."""
    graph = {name: {target(module) for module, _ in imports(name) if ours(module)} - {name} for name in MODULES}
    for name in MODULES:  # a module of a package is imported after its package's __init__
        parent = ".".join(name.split(".")[:-1] + ["__init__"]) if "." in name else None
        if parent in MODULES and parent != name:
            graph[name].discard(parent)
    cycle = find_cycle(graph)
    assert not cycle, " -> ".join(cycle)


def test_private_attributes_of_other_modules_are_not_used():
    """`module._name` reads of another antelope module (or of mlflow, optuna, hydra, torch) in product code."""
    ours_or_libraries = {m.split(".")[-1] for m in MODULES} | {
        "lines",
        "models",
        "mlflow",
        "optuna",
        "hydra",
        "torch",
        "study",
    }
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in ours_or_libraries
            ):
                found.append(f"{name}: {node.value.id}.{node.attr}")
    assert not found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= 400, f"antelope/{MODULES[name].relative_to(PACKAGE)} has {lines} lines"


def test_a_rooms_exports_never_hide_one_of_its_modules():
    """`antelope.results.table` must be one thing: a package that exports a function named like one of its modules
    makes `import antelope.<room>.<module>` give the function (and type checkers guess which it is)."""
    hidden = []
    for name in ROOMS:
        for node in ast.walk(ast.parse((PACKAGE / name / "__init__.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module is not None:  # from .x import y: binds y, not a module
                hidden += [
                    f"{name}.{alias.asname or alias.name}"
                    for alias in node.names
                    if f"{name}.{alias.asname or alias.name}" in MODULES
                ]
    assert not hidden, hidden
