"""The server's OpenAPI description (``/openapi.json``) and its docs page (``/docs``),
written out by hand so the page works offline (no script from a CDN)."""

from __future__ import annotations

import html
import json
from typing import Any

_RECORDS_EXAMPLE = {"dataframe_records": [{"tenure": 12, "plan": "basic"}]}
_SPLIT_EXAMPLE = {"dataframe_split": {"columns": ["tenure", "plan"], "data": [[12, "basic"]]}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "mlnb serve",
        "version": "1",
        "description": "A registered model behind HTTP, with MLflow's scoring formats. Every "
        "answered row is logged for the deployment's monitor; send true labels to /feedback "
        "with the X-Request-Id of the answer.",
    },
    "paths": {
        "/invocations": {
            "post": {
                "summary": "Score rows (MLflow formats: dataframe_split, dataframe_records, "
                "instances, inputs, or text/csv). ?probabilities=true (or params.probabilities) "
                "adds class probabilities.",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "examples": {
                                "dataframe_split": {"value": _SPLIT_EXAMPLE},
                                "dataframe_records": {"value": _RECORDS_EXAMPLE},
                                "instances": {"value": {"instances": [{"tenure": 12}]}},
                                "inputs": {"value": {"inputs": {"tenure": [12, 30]}}},
                            }
                        },
                        "text/csv": {"example": "tenure,plan\n12,basic\n"},
                    }
                },
                "responses": {
                    "200": {"description": '{"predictions": [...]} (+ "probabilities", "classes")'},
                    "400": {"description": "a missing column or a value that is not of its type"},
                    "401": {"description": "the deployment's token is missing or wrong"},
                    "413": {"description": "the body is over the size limit"},
                    "422": {"description": "the model could not score the rows"},
                },
            }
        },
        "/feedback": {
            "post": {
                "summary": "True labels for earlier answers, joined by request id",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "examples": {
                                "one request": {"value": {"request_id": "abc", "labels": [1]}},
                                "many": {
                                    "value": {
                                        "labels": [{"request_id": "abc", "label": 1, "row": 0}]
                                    }
                                },
                            }
                        }
                    }
                },
                "responses": {
                    "200": {"description": '{"joined": N, "unknown_request_ids": [...]}'}
                },
            }
        },
        "/ping": {"get": {"summary": "200 when the server answers"}},
        "/health": {"get": {"summary": "Model, version, counters and the log queue"}},
        "/version": {"get": {"summary": "Model, alias, version and the artifact's sha256"}},
        "/metrics": {"get": {"summary": "Prometheus text format"}},
    },
}


def docs_html() -> str:
    """A plain page listing the endpoints and their examples."""
    items = []
    for path, ops in OPENAPI["paths"].items():
        for method, op in ops.items():
            examples = (
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("examples", {})
            )
            body = "".join(
                f"<pre>{html.escape(json.dumps(e['value']))}</pre>" for e in examples.values()
            )
            items.append(
                f"<h3>{method.upper()} {html.escape(path)}</h3>"
                f"<p>{html.escape(op['summary'])}</p>{body}"
            )
    return (
        "<!doctype html><title>mlnb serve</title><h1>mlnb serve</h1>"
        f"<p>{html.escape(OPENAPI['info']['description'])}</p>"
        "<p><a href='/openapi.json'>openapi.json</a></p>" + "".join(items)
    )
