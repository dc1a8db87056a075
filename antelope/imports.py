"""Turning a name from a config into a Python object: `pkg.module.Name` or `path/to/file.py:Name`.

Nothing is evaluated: a name is imported, or it is an error.
"""

import difflib
import importlib
import importlib.util
import os
import sys

from .errors import ConfigError

FILE_MODULE_PREFIX = "antelope_user_"  # the module of `path/to/file.py:Name` is antelope_user_file


def import_target(path):
    """Import `pkg.module.Name` (dotted) or `path/to/file.py:Name` (a file and a name in it)."""
    if ":" in path:
        return _import_from_file(*path.rsplit(":", 1))
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"cannot import {path!r}: give a dotted path such as 'mypackage.models.Model' "
            f"or a file and a name such as 'path/to/file.py:Model'"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name or "." not in module_name:
            raise ConfigError(f"cannot import {path!r}: no module named {error.name!r}") from None
        # `pkg.module.Outer.Inner`: the module is shorter than the dotted path.
        return _attribute(import_target(module_name), attribute, path)
    return _attribute(module, attribute, path)


def _import_from_file(file, name):
    if not os.path.isfile(file):
        raise ConfigError(f"cannot import {file}:{name}: no such file {file!r}")
    module_name = FILE_MODULE_PREFIX + os.path.splitext(os.path.basename(file))[0]
    spec = importlib.util.spec_from_file_location(module_name, os.path.abspath(file))
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {file}:{name}: {file!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # so pickling and dataclasses in the file work
    spec.loader.exec_module(module)
    return _attribute(module, name, f"{file}:{name}")


def _attribute(module, name, path):
    if not hasattr(module, name):
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ConfigError(f"cannot import {path!r}: {module.__name__} has no {name!r}{did_you_mean(name, names)}")
    return getattr(module, name)


def did_you_mean(word, choices, prefix=""):
    """' (did you mean X?)' for the closest of `choices`, or '' when none is close; X is shown with
    `prefix` (choices that share a prefix are compared without it, which would make any of them close)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""


def qualified_name(obj):
    """`module.QualName` of a class or function (of an instance's class), as a config records it."""
    cls = obj if isinstance(obj, type) or callable(obj) and hasattr(obj, "__qualname__") else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
