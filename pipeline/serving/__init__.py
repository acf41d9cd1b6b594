"""Serving recipes over HTTP (``feedmixer serve``).

Importing this package needs no FastAPI: the contract a family of feeds implements is here;
the app (:mod:`pipeline.serving.app`) and the command (:mod:`pipeline.serving.cli`) import
FastAPI and uvicorn (the ``serve`` extra) when used.
"""

from pipeline.serving.context import Admission, NotReady, Overloaded, ServiceContext
from pipeline.serving.service import (
    FeedService,
    RequestCodec,
    ServedCandidate,
    ServeOptions,
    derive_request_codec,
)

__all__ = [
    "Admission",
    "FeedService",
    "NotReady",
    "Overloaded",
    "RequestCodec",
    "ServeOptions",
    "ServedCandidate",
    "ServiceContext",
    "derive_request_codec",
]
