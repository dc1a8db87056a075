"""Override strings, the one language of both doors: `ml k=v` on the console and `ml(k=v)` in Python.

    ml('optim=SGD', model=Model, lr=0.01)  ->  ['optim=SGD', "model._target_='tests.Model'", 'lr=0.01']

Lines are parsed by Hydra's own override grammar (`key=value`, sweep expressions such as
`interval(1e-5, 1e-1)`); Python values are written in that grammar, so both doors compose the same config.
"""

import functools
import re

from ..errors import ConfigError
from ..imports import qualified_name

OBJECT_KEYS = ("model", "dataset", "test_dataset")  # keys that may be given a Python object, not only a name
TRANSFORM_KEYS = ("transform", "eval_transform")  # keys that may be given transform objects (or a list of them)


@functools.lru_cache(maxsize=None)
def _parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


@functools.lru_cache(maxsize=4096)
def parse(line):
    """One override line parsed by Hydra's grammar (a `hydra.core.override_parser.types.Override`).
    Remembered per line: Hydra's parser is slow next to a short sweep trial, which parses the same fixed
    lines every time (the Override is only read, never changed)."""
    from hydra.errors import HydraException

    try:
        return _parser().parse_override(line)
    except HydraException as error:  # OverrideParseException and the grammar's own errors
        message = str(error).strip().splitlines()[0]
        raise ConfigError(f"cannot parse override {line!r}: {message}; write key=value") from None


def key(line):
    """'optim.lr' for 'optim.lr=0.1' (and for '++model.depth=2', 'model.depth')."""
    return parse(line).key_or_group


def from_python(args, kwargs):
    """`ml('optim=SGD', model=Model, lr=0.01)` -> (override strings, {config key: Python object}).

    Values that are objects (a model class or instance, a Dataset) travel beside the config; the config
    records their qualified name."""
    overrides, objects = [str(a) for a in args], {}
    if "model" in kwargs and "agent" in kwargs:
        raise ConfigError("the model is given twice: model= and agent= are the same key")
    for name, value in kwargs.items():
        name = "model" if name == "agent" else name
        if name in ("optim", "scheduler"):
            overrides += _component(name, value)
        elif name in OBJECT_KEYS and value is not None and not isinstance(value, str):
            objects[name] = value
            overrides.append(f"{'model._target_' if name == 'model' else name}={format_value(qualified_name(value))}")
        elif name in TRANSFORM_KEYS and not _plain_config(value):
            objects[name] = value
            overrides.append(f"{name}={format_value(_described(value))}")
        else:
            overrides.append(f"{name}={format_value(value)}")
    return overrides, objects


def _plain_config(value):
    """Whether a transform value is config (names, {name: arguments}), not objects."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(item, (str, dict)) or item is None for item in items)


def _described(items):
    """Transform objects as the config records them: by their repr (names and mappings as given)."""
    items = items if isinstance(items, (list, tuple)) else [items]
    return [item if isinstance(item, (str, dict)) else repr(item).replace("\n", " ") for item in items]


def _component(group, value):
    """`optim=SGD`, `optim=torch.optim.SGD`, or `optim={'_target_': AdamW, 'lr': 1e-2}` as overrides."""
    settings = dict(value) if isinstance(value, dict) else {"_target_": value}
    if "_target_" not in settings:
        raise ConfigError(f"{group}={value!r} needs a '_target_' (a class or its name)")
    target = settings.pop("_target_")
    if not isinstance(target, str):
        short = target.__name__
        module = __import__("torch.optim" if group == "optim" else "torch.optim.lr_scheduler", fromlist=[short])
        target = short if getattr(module, short, None) is target else qualified_name(target)
    elif target.startswith(("torch.optim.", "torch.optim.lr_scheduler.")):
        target = target.rsplit(".", 1)[1]
    return [f"{group}={target}"] + [f"{group}.{k}={format_value(v)}" for k, v in settings.items()]


def format_value(value):
    """A Python value in Hydra's override grammar (strings always quoted, so '1e3' stays a string)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    # In a quoted string Hydra reads a backslash as an escape only before a quote (or before the backslashes
    # that precede one, and at the end): those are doubled, the rest stay as they are.
    text = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", str(value))
    text = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, text)
    return f"'{text}'"


def value_text(value):
    """A value as override text: bare when the grammar reads it back as the same string (optim=SGD),
    else formatted (so '1e3' stays a string and 0.01 a number)."""
    if isinstance(value, str):
        try:
            if parse(f"k={value}").value() == value:
                return value
        except ConfigError:
            pass
    return format_value(value)


def readable(line):
    """An override as a person would type it on the console: `model=x.Y` for `model._target_='x.Y'`,
    `dataset=Digits` for `dataset='Digits'`, `model.depth=3` for `++model.depth=3`; the same config."""
    override = parse(line)
    key = "model" if override.key_or_group == "model._target_" else override.key_or_group
    value = override.value()
    text = value_text(value) if isinstance(value, str) else line.split("=", 1)[1]
    return f"{key}={text}"


def flatten(tree, prefix=""):
    """{'optim': {'lr': 0.1}} -> {'optim.lr': 0.1}: a config (or a preset) by its dotted keys; lists stay as
    values."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def to_yaml(tree):
    """A resolved config (plain containers) as YAML, as a run records it (config.yaml) and as presets are
    written; LibYAML's dumper when there is one (OmegaConf's own is slow next to a short sweep trial)."""
    import yaml

    return yaml.dump(tree, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)
