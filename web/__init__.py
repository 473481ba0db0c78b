"""Baton's Flask app: pages and the REST API over one Engine.

    from web import create_app
    app = create_app()                      # Engine(Settings.from_env())
    app = create_app(engine=my_engine)      # an Engine you built
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from engine import Engine, Settings


def create_app(test_config: dict[str, Any] | None = None, engine: Engine | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(JSON_SORT_KEYS=False)
    if test_config:
        app.config.update(test_config)
    if engine is None:
        settings = Settings.from_env(database_url=app.config.get("DATABASE_URL"))
        engine = Engine(settings)
    app.extensions["baton"] = engine

    from . import (
        api,
        artifacts,
        auth,
        claims,
        dashboard,
        deploy_page,
        errors,
        events,
        external_tasks,
        incidents,
        incidents_page,
        instance_page,
        metrics,
        pages,
        processes,
        tasklist,
        tasks,
    )
    from .api_definitions import bp as definitions_api
    from .api_instances import bp as instances_api
    from .engine_rest import bp as engine_rest
    from .openapi import bp as openapi_document

    auth.init_app(app)  # first: its access check runs before every request (web/policy.py)
    app.register_blueprint(claims.bp)

    app.register_blueprint(api.bp)
    app.register_blueprint(external_tasks.bp)
    app.register_blueprint(incidents.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(definitions_api)
    app.register_blueprint(instances_api)
    app.register_blueprint(artifacts.bp)  # /api/v1/instances/<id>/artifacts and the instance page's upload
    app.register_blueprint(engine_rest)  # Camunda 7's REST API subset (docs/engine-rest.md)
    app.register_blueprint(openapi_document)  # documents every registered blueprint's OPENAPI_PATHS
    app.add_url_rule("/healthz", endpoint="healthz", view_func=api.health)  # for probes that expect it
    app.register_blueprint(pages.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(tasklist.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(processes.bp)
    app.register_blueprint(deploy_page.bp)
    app.register_blueprint(instance_page.bp)
    app.register_blueprint(incidents_page.bp)
    errors.register(app)
    return app


def get_engine() -> Engine:
    from flask import current_app

    return current_app.extensions["baton"]
