"""Hyperparameter search with Optuna: spaces from YAML, grid/random/TPE/GP/CMA-ES, pruning,
parallel workers on a shared storage, resumable, every trial a stored trainlab run.
"""

from trainlab.search.compare import Comparison, compare_methods
from trainlab.search.results import SearchResult, TrialRecord, load_trials
from trainlab.search.runner import SearchSettings, run_search
from trainlab.search.samplers import METHODS, PRUNERS
from trainlab.search.space import Param, SearchSpace, load_space, parse_space

__all__ = [
    "METHODS",
    "PRUNERS",
    "Comparison",
    "Param",
    "SearchResult",
    "SearchSettings",
    "SearchSpace",
    "TrialRecord",
    "compare_methods",
    "load_space",
    "load_trials",
    "parse_space",
    "run_search",
]
