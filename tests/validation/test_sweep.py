"""The bad-input sweep (``sweep.py``) as a test, held to the strict standard: every case raises its expected
class (a wrong value a ``ValueError`` that is not a ``TypeError``, a wrong type a ``TypeError``; an argparse error
for a CLI flag; an ``OSError`` for a missing path), the message names the argument as a whole word, and nothing
was XLA-compiled before the error (the check runs at the boundary)."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("sweep", Path(__file__).with_name("sweep.py"))
sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sweep)

for _group in sweep._GROUPS:
    _group()

# Cases that compile before raising (id -> why), each a compile the library does before it can check.
_FIT_BATCH = (
    "fit copies the state (jit(copy), once per shape) before its loop takes and checks the first batch: a batch"
    " can be checked only as the loop takes it"
)
COMPILES = {
    "train.fit: train_data batch without 'label'": _FIT_BATCH,
    "train.fit: train_data batch without input_key": _FIT_BATCH,
    "train.fit: train_data batch a tuple": _FIT_BATCH,
    "interop: from_torchvision mismatched state_dict": "the torch tensors are converted (convert_element_type) "
    "before the keys are matched against the model's",
}


@pytest.mark.parametrize("module,label,names,thunk,exc", sweep.CASES, ids=[f"{c[0]}: {c[1]}" for c in sweep.CASES])
def test_sweep_case(bad_input, module, label, names, thunk, exc):
    assert exc is not None, "every case declares its expected exception class"
    bad_input(thunk, exc, names, compiles=f"{module}: {label}" in COMPILES)
