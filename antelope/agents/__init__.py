"""Models antelope ships, runnable by name (`model=MLP`)."""
from .mlp import MLP

__all__ = ["MLP"]
