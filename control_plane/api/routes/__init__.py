"""One router module per resource; :data:`api_router` includes them all (resources under ``/v1``)."""

from fastapi import APIRouter

from control_plane.api.routes import (
    api_keys,
    artifacts,
    connectors,
    graph_updates,
    graphs,
    health,
    pqueries,
    prediction_jobs,
    projects,
    tables,
    training_jobs,
)

API_PREFIX = "/v1"

v1_router = APIRouter(prefix=API_PREFIX)
for module in (projects, api_keys, connectors, tables, graphs, pqueries, training_jobs, prediction_jobs, graph_updates,
               artifacts):
    v1_router.include_router(module.router)

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(v1_router)
