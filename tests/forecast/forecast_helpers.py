"""Helpers of the forecast tests: small seasonal series and quick parameters per forecaster."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEASON = 24  # hourly data with a daily season keeps every model quick

# Parameters that keep each forecaster fast in tests while still learning the season.
QUICK = {
    "seasonal_naive": {"season": SEASON},
    "ets": {"season": SEASON},
    "arima": {"season": SEASON, "fourier_terms": 8},
    "gbm": {"season": SEASON, "max_iter": 60},
    # Every one of the 40 epochs runs (no early stopping): 216 windows are too few to hold any out.
    "lstm": {"look_back": SEASON, "epochs": 40, "batch_size": 8, "learning_rate": 0.01, "validation_fraction": 0.0},
}


def seasonal_series(days: int = 10, noise: float = 0.5, seed: int = 0) -> pd.Series:
    """Hourly values with a known daily shape (a sine plus a narrow evening peak) and noise."""
    n = days * SEASON
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    shape = true_shape(t)
    return pd.Series(shape + rng.normal(0.0, noise, n), index=pd.date_range("2022-05-10", periods=n, freq="h"))


def true_shape(t: np.ndarray) -> np.ndarray:
    phase = t % SEASON
    return 50.0 + 10.0 * np.sin(2 * np.pi * phase / SEASON) + 15.0 * np.exp(-0.5 * (phase - 20.0) ** 2)


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 (``port``, 0: any free one) that records JSON POSTs and
    answers ``status``."""

    def __init__(self, port: int = 0) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = receiver.status
                if code < 300:
                    receiver.received.append(json.loads(body))
                    receiver.headers.append(dict(self.headers))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
