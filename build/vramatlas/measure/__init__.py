"""`vramatlas measure`: measure the real peak memory of a model, method and workload.

The model is built from its architecture with random weights (nothing is
downloaded), the workload runs the way ``catalog/measurements/README.md``
describes for the method, and the result is written as a catalogue
measurement file (``catalog/measurements/<id>.yaml``) that ``vramatlas
validate`` accepts, with the estimate's prediction beside it.

torch, transformers, peft, accelerate and bitsandbytes are an optional extra
(``pip install 'vramatlas[measure]'``); nothing here imports them at module
import time, so ``vramatlas`` works without them.
"""

PROTOCOL = "vramatlas-measure-v1"

from .cli import add_arguments, run  # noqa: E402  (the dispatcher's entry points; no torch here)

__all__ = ["PROTOCOL", "add_arguments", "run"]
