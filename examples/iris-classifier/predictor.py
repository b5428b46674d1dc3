"""The project's own code: an iris classifier served over HTTP (``uvicorn predictor:app``).

The model is trained at start-up on the iris data set that scikit-learn ships (no download).
"""

from fastapi import FastAPI
from pydantic import BaseModel
from sklearn.datasets import load_iris
from sklearn.neighbors import KNeighborsClassifier

_IRIS = load_iris()
_MODEL = KNeighborsClassifier(n_neighbors=5).fit(_IRIS.data, _IRIS.target)

app = FastAPI(title="iris-classifier")


class Flower(BaseModel):
    sepal_length: float
    sepal_width: float
    petal_length: float
    petal_width: float


@app.post("/predict")
def predict(flower: Flower) -> dict:
    row = [[flower.sepal_length, flower.sepal_width, flower.petal_length, flower.petal_width]]
    return {"species": str(_IRIS.target_names[int(_MODEL.predict(row)[0])])}
