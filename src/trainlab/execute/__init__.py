"""Where runs execute: `execute(store, study_id, jobs)` runs a study's jobs on the warm local pool
(`pool`), the seeds of one config as one vectorized model (`vectorized`), or as Ray tasks
(`ray`, the optional extra), and links every run to the study; `settings.use(ExecSettings(...))` chooses how.

Importing this package does not import torch: a worker process starts fast.
"""

from trainlab.execute.dispatch import execute
from trainlab.execute.jobs import DONE, Job, Outcome, Progress, check_workers
from trainlab.execute.reliability import Examples, load_examples, load_reliability, save_reliability
from trainlab.execute.settings import ExecSettings, current, parse_devices, use

__all__ = [
    "DONE",
    "Examples",
    "ExecSettings",
    "Job",
    "Outcome",
    "Progress",
    "check_workers",
    "current",
    "execute",
    "load_examples",
    "load_reliability",
    "parse_devices",
    "save_reliability",
    "use",
]
