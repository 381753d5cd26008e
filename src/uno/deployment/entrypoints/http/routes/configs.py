"""Deployment configurations: create, list, read, replace, patch, delete, derive."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.entrypoints.http.dependencies import Admin, Reader, Services, next_offset, unwrap
from uno.deployment.entrypoints.http.schemas import (
    COMMON_PROBLEMS,
    ConfigCreate,
    ConfigDerive,
    ConfigOut,
    ConfigPage,
    ConfigPatch,
    ConfigReplace,
)
from uno.deployment.ports.repositories import MAX_PAGE

router = APIRouter(prefix="/api/deployments/configs", tags=["configurations"], responses=COMMON_PROBLEMS)

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Filter = Annotated[str | None, Query(max_length=200)]


def out(config: DeploymentConfig) -> ConfigOut:
    return ConfigOut.model_validate(config.to_document())


def _location(response: Response, config: DeploymentConfig) -> None:
    response.headers["Location"] = f"{router.prefix}/{config.id.value}"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConfigOut)
async def create_config(body: ConfigCreate, services: Services, _: Admin, response: Response) -> ConfigOut:
    """Create a configuration; what is not given comes from the environment's profile.

    One per application and environment: the same values again answer 200 with the one
    there; other values are 409 naming it (``existing_id``): replace it with ``PUT``.
    """
    config, created = unwrap(await services.config_service.create_or_find(body.model_dump(exclude_none=True)))
    if not created:
        response.status_code = status.HTTP_200_OK
    _location(response, config)
    return out(config)


@router.get("", response_model=ConfigPage)
async def list_configs(
    services: Services,
    _: Reader,
    app_name: Filter = None,
    environment: Filter = None,
    platform: Filter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ConfigPage:
    """Configurations matching every filter given, newest first."""
    found = unwrap(
        await services.config_service.list_configs(
            app_name=app_name, environment=environment, platform=platform, limit=limit, offset=offset
        )
    )
    return ConfigPage(
        items=[out(config) for config in found],
        limit=limit,
        offset=offset,
        next_offset=next_offset(len(found), limit, offset),
    )


@router.get("/{config_id}", response_model=ConfigOut)
async def get_config(config_id: str, services: Services, _: Reader) -> ConfigOut:
    return out(unwrap(await services.config_service.get_config(config_id)))


@router.put("/{config_id}", response_model=ConfigOut)
async def replace_config(config_id: str, body: ConfigReplace, services: Services, _: Admin) -> ConfigOut:
    """Replace a configuration: what the body leaves out goes back to the environment's profile.

    The application and environment cannot change (422 naming the field when they
    differ): derive a new configuration for another environment instead.
    """
    replaced = await services.config_service.replace_config(config_id, body.model_dump(exclude_none=True))
    return out(unwrap(replaced))


@router.patch("/{config_id}", response_model=ConfigOut)
async def patch_config(config_id: str, body: ConfigPatch, services: Services, _: Admin) -> ConfigOut:
    """Change some settings: sections merge, ``null`` puts a setting back to its default."""
    changes = body.model_dump(exclude_unset=True)
    expected = changes.pop("expected_version", None)
    return out(unwrap(await services.config_service.update_config(config_id, expected_version=expected, **changes)))


@router.delete("/{config_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_config(config_id: str, services: Services, _: Admin) -> Response:
    """Delete a configuration (404 when absent; 409 while a deployment of it runs)."""
    unwrap(await services.config_service.delete_config(config_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{config_id}/derive", status_code=status.HTTP_201_CREATED, response_model=ConfigOut)
async def derive_config(
    config_id: str, body: ConfigDerive, services: Services, _: Admin, response: Response
) -> ConfigOut:
    """A new configuration for another environment: your choices kept, its profile for the rest."""
    config = unwrap(await services.config_service.derive_config(config_id, body.environment, **body.changes))
    _location(response, config)
    return out(config)
