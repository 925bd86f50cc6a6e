#!/usr/bin/env python3
"""Checks BatchGate's OpenAPI document with an independent validator (openapi-core).

Usage: validate.py OPENAPI_YAML EXCHANGES_JSONL

The document must be valid OpenAPI 3.1 (openapi-core refuses it otherwise). EXCHANGES_JSONL holds one JSON
object per line:
  {"route": "GET /v1/batches/{id}"}                      a route the server answers
  {"method", "path", "query", "status", "content_type", "body"} a real answer to validate
Prints one line per problem and a summary; exits 1 if any route is undocumented or any answer is invalid.
Routes whose path is documented but whose method is not are printed as `method-not-documented` (the
caller checks that the server refuses them with 405); a route whose path is not documented is an error.
"""
import json
import sys

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

spec_path, exchanges_path = sys.argv[1], sys.argv[2]
# A Server-Sent Events stream, and the operator page's HTML, stylesheet, script and icon are text: the
# document describes each as a string.
text = lambda body, **parameters: body.decode(parameters.get("charset", "utf-8"))
config = Config(
    extra_media_type_deserializers={
        media: text for media in ["text/event-stream", "text/html", "text/css", "text/javascript", "image/svg+xml"]
    }
)
openapi = OpenAPI.from_file_path(spec_path, config=config)
with open(spec_path) as f:
    import yaml  # openapi-core depends on PyYAML

    paths = yaml.safe_load(f)["paths"]

problems = 0
validated = 0
for line in open(exchanges_path):
    exchange = json.loads(line)
    if "route" in exchange:
        method, path = exchange["route"].split(" ", 1)
        if path not in paths:
            print(f"route-not-documented {method} {path}")
            problems += 1
        elif method.lower() not in paths[path]:
            print(f"method-not-documented {method} {path}")
        continue
    request = MockRequest(
        "http://127.0.0.1",
        exchange["method"].lower(),
        exchange["path"],
        args=exchange.get("query") or {},
        headers={"Authorization": "Bearer key"},
    )
    response = MockResponse(
        exchange["body"].encode(),
        status_code=exchange["status"],
        content_type=exchange["content_type"],
    )
    try:
        openapi.validate_response(request, response)
        validated += 1
    except Exception as error:  # every validation error names what is wrong
        problems += 1
        detail = "; ".join(str(e) for e in getattr(error, "schema_errors", []) or [])
        print(f"invalid {exchange['method']} {exchange['path']} -> {exchange['status']}: {error!r} {detail}"[:2000])
print(f"summary: {validated} answers valid, {problems} problems")
sys.exit(1 if problems else 0)
