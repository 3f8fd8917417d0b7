"""The OpenAPI schema and the docs page, served from this machine (no CDN)."""

import pytest
from drf_spectacular.validation import validate_schema


def test_the_schema_is_valid_openapi_3_json_describing_every_endpoint(anonymous, example):
    response = anonymous.get("/api/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on an invalid document
    for path in [
        "/api/projects/{pid}/",
        "/api/people/{username}/",
        "/api/usage/report/",
        "/api/allocation-pools/",
        "/api/memberships/{id}/",
    ]:
        assert path in schema["paths"]
    report = schema["paths"]["/api/usage/report/"]["get"]
    assert {p["name"] for p in report["parameters"]} >= {"project", "from", "to", "group_by"}
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_docs_page_loads_swagger_ui_from_this_site(anonymous, example):
    pytest.importorskip("drf_spectacular_sidecar")
    page = anonymous.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "//cdn" not in html and "https://" not in html
    assert "/api/docs/assets/swagger-ui-bundle.js" in html
    asset = anonymous.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert asset["Content-Type"] in ("text/javascript", "application/javascript")
    assert anonymous.get("/api/docs/assets/../../settings.py").status_code == 404
