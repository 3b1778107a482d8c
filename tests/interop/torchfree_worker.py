"""Loads safetensors checkpoints in a process where ``import torch`` fails, and writes what it got.

Usage: ``python tests/interop/torchfree_worker.py JOBS.json``; each job is
``{"ckpt", "input", "logits_out", "export_out", "layout"}``. For each: ``jaxcnn.pretrained(ckpt)``
with the architecture and layout detected from the keys, the logits on ``input`` (NCHW .npy,
transposed to NHWC here), and the variables exported back to a torch-layout safetensors file.
Prints one JSON line per job: the detected arch and layout.
"""

import json
import sys

for _name in ("torch", "torchvision", "timm"):
    sys.modules[_name] = None  # type: ignore[assignment]  # any `import torch` now raises ImportError

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxcnn  # noqa: E402
from jaxcnn.interop import detect_layout, export_state_dict, infer_arch, read_safetensors  # noqa: E402


def main(path):
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the torch blocker failed")
    for job in json.load(open(path)):
        sd, _ = read_safetensors(job["ckpt"])
        layout = detect_layout(sd)
        arch = infer_arch(sd, layout)
        model, variables = jaxcnn.pretrained(job["ckpt"])  # everything detected, nothing given
        x = np.load(job["input"]).transpose(0, 2, 3, 1)
        # jit: one compile is faster than op-by-op dispatch for these deep nets
        logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
        np.save(job["logits_out"], np.asarray(logits))
        export_state_dict(variables, arch, job["export_out"], layout=job["layout"])
        print(json.dumps({"ckpt": job["ckpt"], "arch": arch, "layout": layout}), flush=True)
    assert sys.modules["torch"] is None


if __name__ == "__main__":
    main(sys.argv[1])
