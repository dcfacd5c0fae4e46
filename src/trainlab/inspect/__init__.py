"""Model internals: probes (hooks as context managers), features, attention, Inception branches,
residual flow, the training flight recorder, attribution maps, weight spectra, representation
similarity and loss landscapes.

One module per inspection kind, named for it (features, attention, inception, residual, recorder,
attribution, spectrum, similarity, landscape), holding its tools and its `inspect_*` function;
probes.py and flow.py (residual blocks) hold what several share, and seeds.py compares the seeds
of a study's variants. Every tool takes a plain `nn.Module`; the `inspect_*` / `residual_study`
functions run a whole inspection on a Target (`from_run`, `from_config` trained first, or
`from_model` for a user's own module) and store figures and numbers; `run_inspection(kind, store,
...)` does both steps.
"""

from trainlab.inspect.attention import (
    AttentionMap,
    attention_maps,
    chance_mass,
    decisive_mass,
    head_entropy,
    inspect_attention,
    patch_attention,
    rollout,
)
from trainlab.inspect.attribution import (
    Randomisation,
    SeedAgreement,
    attribute,
    cascading_randomisation,
    inspect_attribution,
    seed_agreement,
    seed_agreement_of_runs,
)
from trainlab.inspect.features import FeatureInfo, feature_info, feature_layers, inspect_features
from trainlab.inspect.flow import (
    init_std,
    layer_grad_norms,
    lesion,
    reinit,
    residual_blocks,
    residual_flow,
    restored,
)
from trainlab.inspect.inception import (
    BranchOutputs,
    BranchShares,
    branch_outputs,
    energy_shares,
    inspect_inception,
)
from trainlab.inspect.landscape import curvature, filter_normalized_direction, loss_slice
from trainlab.inspect.probes import (
    LayerStats,
    Probe,
    ProbeWarning,
    eval_mode,
    hook_count,
)
from trainlab.inspect.recipes import default_config, run_inspection
from trainlab.inspect.recorder import inspect_recorder
from trainlab.inspect.residual import inspect_residual, residual_study
from trainlab.inspect.seeds import add_seed_agreement, seed_agreement_of_study
from trainlab.inspect.spectrum import SpectrumTracker, inspect_spectrum, layer_spectra
from trainlab.inspect.target import Inspection, Target, from_config, from_model, from_run
from trainlab.models.layers import default_layers, select_modules
from trainlab.train.recorder import FlightRecord, Recorder, load_record

__all__ = [
    "AttentionMap",
    "BranchOutputs",
    "BranchShares",
    "FeatureInfo",
    "FlightRecord",
    "Inspection",
    "LayerStats",
    "Probe",
    "ProbeWarning",
    "Randomisation",
    "Recorder",
    "SeedAgreement",
    "SpectrumTracker",
    "Target",
    "add_seed_agreement",
    "attention_maps",
    "attribute",
    "branch_outputs",
    "cascading_randomisation",
    "chance_mass",
    "curvature",
    "decisive_mass",
    "default_config",
    "default_layers",
    "energy_shares",
    "eval_mode",
    "feature_info",
    "feature_layers",
    "filter_normalized_direction",
    "from_config",
    "from_model",
    "from_run",
    "head_entropy",
    "hook_count",
    "init_std",
    "inspect_attention",
    "inspect_attribution",
    "inspect_features",
    "inspect_inception",
    "inspect_recorder",
    "inspect_residual",
    "inspect_spectrum",
    "layer_grad_norms",
    "layer_spectra",
    "lesion",
    "load_record",
    "loss_slice",
    "patch_attention",
    "reinit",
    "residual_blocks",
    "residual_flow",
    "residual_study",
    "restored",
    "rollout",
    "run_inspection",
    "seed_agreement",
    "seed_agreement_of_runs",
    "seed_agreement_of_study",
    "select_modules",
]
