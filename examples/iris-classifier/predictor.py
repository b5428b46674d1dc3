"""The project's own code (what a serving runtime would import)."""

import condapy
import tinyweb


def predict(payload):
    return {"label": "setosa", "served-by": tinyweb.__name__, "conda": condapy.__name__}
