"""imports on its own: names from a config turned into objects, the errors for bad names, and names of objects."""

import collections
import sys

import pytest

from antelope import ConfigError
from antelope.data.replay import Replay
from antelope.imports import did_you_mean, import_target, qualified_name


def test_a_dotted_path_is_imported():
    assert import_target("collections.OrderedDict") is collections.OrderedDict
    assert import_target("antelope.data.replay.Replay.state_dict") is Replay.state_dict  # a name inside a class


def test_a_file_and_a_name_in_it_are_imported(workdir):
    (workdir / "nets").mkdir()
    (workdir / "nets" / "tiny_net.py").write_text("class Net:\n    size = 3\n")
    try:
        net = import_target("nets/tiny_net.py:Net")
        assert net.size == 3 and net.__module__ == "antelope_user_tiny_net"
        assert sys.modules[net.__module__].Net is net  # registered, so pickling works
    finally:
        sys.modules.pop("antelope_user_tiny_net", None)


@pytest.mark.parametrize(
    "path, message",
    [
        ("nosuchmodule.Model", "cannot import 'nosuchmodule.Model': no module named 'nosuchmodule'"),
        (
            "collections.OrderedDictt",
            "cannot import 'collections.OrderedDictt': collections has no 'OrderedDictt' (did you mean 'OrderedDict'?)",
        ),
        ("nowhere/net.py:Net", "cannot import nowhere/net.py:Net: no such file 'nowhere/net.py'"),
        (
            "Model",
            "cannot import 'Model': give a dotted path such as 'mypackage.models.Model' "
            "or a file and a name such as 'path/to/file.py:Model'",
        ),
    ],
)
def test_bad_paths_are_one_line_errors(path, message):
    with pytest.raises(ConfigError) as error:
        import_target(path)
    assert str(error.value) == message


def test_a_missing_name_in_a_file_gets_a_hint(workdir):
    (workdir / "hinted_net.py").write_text("class Network:\n    pass\n")
    try:
        with pytest.raises(ConfigError, match=r"hinted_net.py:Netwrk'.*has no 'Netwrk' \(did you mean 'Network'\?\)"):
            import_target("hinted_net.py:Netwrk")
    finally:
        sys.modules.pop("antelope_user_hinted_net", None)


def test_did_you_mean_names_the_closest_choice_or_nothing():
    assert did_you_mean("lr", ["lr_decay", "lr", "momentum"]) == " (did you mean 'lr'?)"
    assert did_you_mean("batchsize", ["batch_size", "seed"]) == " (did you mean 'batch_size'?)"
    assert did_you_mean("xyz", ["batch_size", "seed"]) == ""
    assert did_you_mean("seed", []) == ""


class Outer:
    class Inner:
        pass

    def method(self):
        pass


def test_qualified_name_of_a_class_an_instance_and_a_function():
    assert qualified_name(Replay) == "antelope.data.replay.Replay"
    assert qualified_name(collections.OrderedDict()) == "collections.OrderedDict"
    assert qualified_name(Outer.Inner()) == f"{__name__}.Outer.Inner"
    assert qualified_name(did_you_mean) == "antelope.imports.did_you_mean"
    assert qualified_name(Outer.method) == f"{__name__}.Outer.method"
    assert import_target(qualified_name(Replay)) is Replay  # what a config records imports back
