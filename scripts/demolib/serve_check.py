"""Run by the demo with the environment's own python: show where the packages came from, serve
``predictor.app`` with uvicorn on a free loopback port, and ask it for one prediction."""

import json
import socket
import sys
import threading
import time
import urllib.request
from importlib import metadata

import predictor
import uvicorn

FLOWER = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def show_sources() -> None:
    print(f"  python {sys.version.split()[0]} at {sys.executable}")
    for name in ("numpy", "scipy", "scikit-learn", "fastapi", "pydantic", "uvicorn", "msgpack"):
        dist = metadata.distribution(name)
        installer = (dist.read_text("INSTALLER") or "?").strip()
        print(f"  {name:<13} {dist.version:<9} installed by {installer}")


def ask_for_prediction() -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(predictor.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=json.dumps(FLOWER).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    show_sources()
    answer = ask_for_prediction()
    print(f"  POST /predict {json.dumps(FLOWER)} -> {json.dumps(answer)}")
    if answer != {"species": "virginica"}:
        sys.exit(f"unexpected answer: {answer}")
