"""A sweep's search space: the overrides whose values are Hydra sweep expressions, as Optuna distributions.

    optim=choice(SGD, Adam, AdamW)            categorical
    batch_size=64,128                         categorical (Hydra's plain comma list)
    optim.lr=tag(log, interval(1e-5, 1e-1))   float, log scale
    lr_decay_epochs=int(interval(10, 1000))   int (tag(log, ...) for a log scale)
    model.depth=range(1, 5)                   int with a step (stop excluded, as in Python)

Expressions are parsed by Hydra's own override grammar. `optim.<arg>` and `scheduler.<arg>` are
conditional: a trial draws them only when the optimizer (or scheduler) it drew takes that argument, so
`optim=choice(SGD, Adam) optim.momentum=interval(0, 0.99)` gives SGD trials a momentum and Adam none.
"""

from dataclasses import dataclass
from typing import cast

# GROUPS: the config groups, whose `<group>.<arg>` keys depend on the option drawn
from ..config import GROUPS, LR_DECAY_SCHEDULER, chosen_options, optimizers
from ..config import overrides as lines
from ..errors import ConfigError
from ..imports import did_you_mean


@dataclass
class Dimension:
    key: str  # the config key, e.g. 'optim.lr'
    prefix: str  # the key as written, e.g. '++model.depth', so the drawn override keeps Hydra's prefix
    expression: str  # e.g. 'tag(log, interval(1e-5, 1e-1))'
    distribution: object  # an optuna.distributions.BaseDistribution

    @property
    def group(self):
        """'optim' for 'optim.momentum': the group whose option decides whether this key applies."""
        head = self.key.split(".", 1)[0]
        return head if head in GROUPS and "." in self.key else None


class Space:
    """The search dimensions, in the order given, and the fixed overrides beside them."""

    def __init__(self, dimensions, fixed):
        self.dimensions, self.fixed = dimensions, fixed

    @classmethod
    def parse(cls, overrides):
        """Split override strings into search dimensions and fixed overrides; checks every expression."""
        latest: dict[str, tuple] = {}  # a key given twice (a preset's, then the command line's): the later one counts
        for line in overrides:
            override = lines.parse(line)
            latest.pop(override.key_or_group, None)
            latest[override.key_or_group] = (line, override)
        dimensions, fixed = {}, []
        for key, (line, override) in latest.items():
            if not override.is_sweep_override():
                fixed.append(line)
                continue
            prefix, expression = line.split("=", 1)
            dimensions[key] = Dimension(key, prefix, expression, _distribution(line, override.value()))
        if not dimensions:
            raise ConfigError(
                "the search space is empty: give at least one sweep expression, e.g. "
                "'optim.lr=tag(log, interval(1e-5, 1e-1))' or 'optim=choice(SGD, Adam)', "
                "or a preset: sweep=default"
            )
        parsed = cls(dimensions, fixed)
        parsed._check_options()
        return parsed

    def suggest(self, trial):
        """The trial's values {key: value}: the unconditional keys first, then the conditional ones that
        apply to the optimizer and scheduler drawn."""
        optimizers.register_options()  # the options' keys; a fresh worker process has composed no config yet
        values = {d.key: _suggest(trial, d.key, d.distribution) for d in self.dimensions.values() if not d.group}
        chosen = chosen_options({**self._fixed_values(), **values})
        for d in self.dimensions.values():
            if d.group and d.key.split(".", 1)[1] in optimizers.option_keys(d.group, chosen[d.group]):
                values[d.key] = _suggest(trial, d.key, d.distribution)
        return {key: values[key] for key in self.dimensions if key in values}  # in the order given

    def overrides(self, values):
        """The fixed overrides plus one `key=value` per drawn value: a run's whole command line."""
        return self.fixed + [f"{self.dimensions[k].prefix}={lines.value_text(v)}" for k, v in values.items()]

    def probe(self):
        """Overrides with every dimension at one of its values, for checking the config before any trial."""
        values = {d.key: _first(d.distribution) for d in self.dimensions.values() if not d.group}
        chosen = chosen_options({**self._fixed_values(), **values})
        values.update(
            {
                d.key: _first(d.distribution)
                for d in self.dimensions.values()
                if d.group and d.key.split(".", 1)[1] in optimizers.option_keys(d.group, chosen[d.group])
            }
        )
        return self.overrides(values)

    def _fixed_values(self):
        values = {}
        for line in self.fixed:
            override = lines.parse(line)
            if override.key_or_group in (*GROUPS, "lr_decay_epochs"):
                values[override.key_or_group] = override.value()
        return values

    def _check_options(self):
        """Every optimizer/scheduler named is known, and every `optim.<arg>` applies to one of them."""
        optimizers.register_options()
        candidates: dict[str, set] = {group: set() for group in GROUPS}
        for group in GROUPS:
            if group in self.dimensions:
                for name in self.dimensions[group].distribution.choices:
                    optimizers.check_option(group, str(name))
                    candidates[group].add(str(name))
        fixed = chosen_options(self._fixed_values())
        lr_decay = "lr_decay_epochs" in self.dimensions
        for group in GROUPS:
            if not candidates[group]:
                candidates[group] = {fixed[group]} | (
                    {LR_DECAY_SCHEDULER} if group == "scheduler" and lr_decay else set()
                )
        for d in self.dimensions.values():
            if d.group:
                known = {k for name in candidates[d.group] for k in optimizers.option_keys(d.group, name)}
                arg = d.key.split(".", 1)[1]
                if arg not in known:
                    names = ", ".join(sorted(candidates[d.group]))
                    raise ConfigError(
                        f"{d.key} applies to none of the {d.group} options in this sweep ({names})"
                        f"{did_you_mean(arg, known)}"
                    )

    def describe(self):
        """{key: expression}: the space as written, for the parent run's params."""
        return {key: d.expression for key, d in self.dimensions.items()}


def _distribution(line, sweep):
    import optuna
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep

    log = "log" in getattr(sweep, "tags", ())  # a glob(...) has no tags
    if isinstance(sweep, ChoiceSweep):
        choices = list(sweep.list)
        if not all(c is None or isinstance(c, (bool, int, float, str)) for c in choices):
            raise ConfigError(f"{line!r}: choices must be plain values (numbers, strings, true/false, null)")
        return optuna.distributions.CategoricalDistribution(cast(list, choices))  # plain values, checked above
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if low is None or high is None:
            raise ConfigError(f"{line!r}: an interval needs both ends")
        if not low < high or log and low <= 0:
            raise ConfigError(f"{line!r}: an interval needs low < high{' and low > 0 on a log scale' if log else ''}")
        if isinstance(low, int) and isinstance(high, int):
            return optuna.distributions.IntDistribution(low, high, log=log)
        return optuna.distributions.FloatDistribution(float(low), float(high), log=log)
    if isinstance(sweep, RangeSweep):
        values = list(_range(sweep))
        if not values:
            raise ConfigError(f"{line!r}: the range is empty")
        if log:
            raise ConfigError(f"{line!r}: a range has a step, so it cannot be on a log scale; use interval")
        low, high, step = min(values), max(values), abs(sweep.step)  # a falling range holds the same values
        if all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
            return optuna.distributions.IntDistribution(int(low), int(high), step=int(step))
        return optuna.distributions.FloatDistribution(low, high, step=step)
    raise ConfigError(f"{line!r}: not a sweep expression Antelope can search; use choice, interval or range")


def _suggest(trial, key, distribution):
    import optuna

    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(key, distribution.choices)
    suggest = (
        trial.suggest_int if isinstance(distribution, optuna.distributions.IntDistribution) else trial.suggest_float
    )
    return suggest(key, distribution.low, distribution.high, step=distribution.step, log=distribution.log)


def _range(sweep):
    value = sweep.start
    while (value < sweep.stop) if sweep.step > 0 else (value > sweep.stop):
        yield value
        value = round(value + sweep.step, 12) if isinstance(value, float) else value + sweep.step


def _first(distribution):
    import optuna

    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return distribution.choices[0]
    return distribution.low


def grid(space):
    """{key: [values]} for Optuna's GridSampler: every dimension must be a choice or a range."""
    import optuna

    search = {}
    for d in space.dimensions.values():
        distribution = d.distribution
        if isinstance(distribution, optuna.distributions.CategoricalDistribution):
            search[d.key] = list(distribution.choices)
        elif distribution.step is not None and not getattr(distribution, "log", False):
            count = int(round((distribution.high - distribution.low) / distribution.step)) + 1
            search[d.key] = [round(distribution.low + i * distribution.step, 12) for i in range(count)]
        else:
            raise ConfigError(
                f"sweep.sampler=grid needs choice or range dimensions; {d.key}={d.expression} "
                f"is continuous: use another sampler or write it as a choice"
            )
    return search
