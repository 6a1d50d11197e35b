"""The pyfunc of a logged model, as MLflow's "model from code": no pickled Python object is stored.

MLflow copies this file into the logged model and runs it on load; it names the class to use.
"""

from __future__ import annotations

import mlflow.models

from mlbedge.training.registry import MarketPyfunc

mlflow.models.set_model(MarketPyfunc())
