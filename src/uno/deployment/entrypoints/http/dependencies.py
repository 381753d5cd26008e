"""What a route needs: the container's services, and a caller with the right scope."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from uno.core.result import Failure, Result
from uno.deployment.bootstrap import Container
from uno.deployment.entrypoints.http.problems import Problem
from uno.deployment.entrypoints.http.security import Guard, Principal
from uno.deployment.ports.access import Scope

T = TypeVar("T")


async def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _needs(scope: Scope) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    async def check(request: Request) -> Principal:
        guard: Guard = request.app.state.guard
        return await guard.check(request, scope)

    check.__name__ = f"needs_{scope.value}"
    return check


Services = Annotated[Container, Depends(_container)]
Reader = Annotated[Principal, Depends(_needs(Scope.READ))]
Deployer = Annotated[Principal, Depends(_needs(Scope.DEPLOY))]
Admin = Annotated[Principal, Depends(_needs(Scope.ADMIN))]


def unwrap(result: Result[T]) -> T:
    """The value of a service's ``Result``, or the problem it failed with (raised, rendered once)."""
    if isinstance(result, Failure):
        raise Problem(result.error)
    return result.value


def next_offset(count: int, limit: int, offset: int) -> int | None:
    return offset + limit if count == limit else None
