"""What a ``--set`` value means, by the type of the field it sets.

``--set`` values are read as YAML so that ``replicas_min=3`` is a number and
``unit_test_command=[make, test]`` a list; but YAML also turns ``app_version=2.0`` into a
float and ``description=1`` into an int, which the model then refuses. So a field the
configuration model types as text keeps the text as typed; every other field gets YAML's
reading. The path is looked up in ``DeploymentConfig`` (and its sections), with the
keyword names (``resource_requirements``) as the model's (``resources``).
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.services.config_service import KEYWORDS


def annotation_at(keys: list[str]) -> Any:
    """The model's annotation of the field ``keys`` names, or None when the model does not type it."""
    current: Any = DeploymentConfig
    for depth, key in enumerate(keys):
        name = KEYWORDS.get(key, key) if depth == 0 else key
        model = _model(current)
        if model is not None:
            field = model.model_fields.get(name)
            if field is None:
                return None
            current = field.annotation
            continue
        mapping = _options(current)
        values = [get_args(option)[1] for option in mapping if get_origin(option) is dict and get_args(option)]
        if len(values) != 1:
            return None
        current = values[0]
    return current


def is_text(annotation: Any) -> bool:
    """True when every value the annotation allows (``None`` aside) is a string."""
    options = [option for option in _options(annotation) if option is not type(None)]
    return bool(options) and all(_is_text_option(option) for option in options)


def coerce(keys: list[str], text: str, value: Any) -> Any:
    """``value`` (the YAML reading of ``text``), or ``text`` itself where the field is text."""
    if value is None or isinstance(value, str):
        return value
    return text.strip() if is_text(annotation_at(keys)) else value


def _is_text_option(option: Any) -> bool:
    if get_origin(option) is Literal:
        return all(isinstance(choice, str) for choice in get_args(option))
    return isinstance(option, type) and issubclass(option, str)


def _options(annotation: Any) -> list[Any]:
    """The alternatives of an annotation, with ``Annotated[...]`` unwrapped."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        return [option for alternative in get_args(annotation) for option in _options(alternative)]
    return [annotation]


def _model(annotation: Any) -> type[BaseModel] | None:
    models = [option for option in _options(annotation) if isinstance(option, type) and issubclass(option, BaseModel)]
    return models[0] if len(models) == 1 else None
