"""The handwriting synthesis web demo (`seqgen-serve`): a local page that writes your text.

`engine.Engine` owns the model and every bound (styles, uploads, admission, jobs); `app.create_app`
is the Starlette application over it. Not a family: it uses the handwriting synthesis model's
public `write` method, reached through the checkpoint loader and the family registry.
"""

from seqgen.serve.app import create_app
from seqgen.serve.engine import Engine, Limits, RequestError

__all__ = ["Engine", "Limits", "RequestError", "create_app"]
