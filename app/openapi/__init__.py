"""The API's OpenAPI document, generated from the models the endpoints validate with."""

from app.openapi.document import UndocumentedRoute, build_document

__all__ = ["UndocumentedRoute", "build_document"]
