"""Each page shows the filters it declares (web/pages.py) and honours only those; one time-range control;
the alert form's fields grouped by kind; channels linked; the setup page and README agree (both engines)."""

from __future__ import annotations

import html
import re
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from tallyhub.analytics import app_logs, log_query
from tallyhub.storage import apps as app_store
from tallyhub.storage.tables import envs, instances
from tallyhub.web.pages import DATA_PAGES, OVERVIEW_FILTERS

README = Path(__file__).resolve().parents[3] / "README.md"
ALL = "env=prod&consumer=c-1&group=Partners&method=POST&path=%2Fpay&status=5xx"


def _bar(page: str) -> str:
    return page.split('<form class="filters"')[1].split("</form>")[0]


def _shown(bar: str) -> set[str]:
    """The filter names the bar lets a person change (visible fields, not hidden ones)."""
    return {
        name
        for kind, name in re.findall(r'<(input|select)(?![^>]*type="hidden")[^>]*name="([a-z_]+)"', bar)
        if name not in ("period", "start", "end")
    }


def _hidden(bar: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)"', bar)
    return {name: html.unescape(value) for name, value in found}


def _app(web):
    web.user("ann@example.com", "Acme", "admin")
    return app_store.create_app(web.db, "Shop", ("prod", "dev"), team_id=web.team_id("Acme"))


def test_each_page_shows_its_declared_filters_and_carries_the_others(web) -> None:
    shop = _app(web)
    client = web.signed_in("ann@example.com")
    for declared in DATA_PAGES:
        bar = _bar(client.get(f"/apps/{shop.id}/{declared.slug}?{ALL}").text)
        # The request-log explorer and the application logs add their own filters to the shared bar.
        own = set({"request-logs": log_query.NAMES, "app-logs": app_logs.NAMES}.get(declared.slug, ()))
        assert _shown(bar) - own == set(declared.filters.shown), declared.slug
        carried = {"env": "prod", "consumer": "c-1", "group": "Partners", "method": "POST", "path": "/pay"}
        carried["status"] = "5xx"
        assert _hidden(bar) == {k: v for k, v in carried.items() if k not in declared.filters.shown}
        # One time-range control: preset radios and a custom range, no second "Range" dropdown.
        assert bar.count('name="period"') == 6 and '<select name="period"' not in bar, declared.slug
    instances_bar = _bar(client.get(f"/apps/{shop.id}/instances?{ALL}").text)
    assert _shown(instances_bar) == {"env"}
    overview = _bar(client.get(f"/apps?{ALL}").text)
    assert _shown(overview) == set(OVERVIEW_FILTERS.shown) == {"env"}
    assert "path" in _hidden(overview) and "status" in _hidden(overview)
    detail = _bar(client.get(f"/apps/{shop.id}/endpoints/detail?{ALL}").text)
    assert "path" not in _shown(detail) and _hidden(detail)["path"] == "/pay"
    assert re.search(r'class="reset" href="\?method=POST&amp;path=%2Fpay"', detail), detail


def _instance(web, app_id: int, env: str, last_sync_at: float) -> str:
    instance_uuid = str(uuid.uuid4())
    with web.db.write() as conn:
        env_id = conn.execute(
            sa.select(envs.c.id).where(envs.c.app_id == app_id, envs.c.name == env)
        ).scalar_one()
        conn.execute(
            instances.insert().values(
                env_id=env_id,
                instance_uuid=instance_uuid,
                first_seen=last_sync_at - 600,
                last_startup_at=last_sync_at - 600,
                last_sync_at=last_sync_at,
            )
        )
    return instance_uuid


def test_instances_page_honours_env_and_time_range(web) -> None:
    shop = _app(web)
    now = time.time()
    recent = _instance(web, shop.id, "prod", now - 60)
    old = _instance(web, shop.id, "prod", now - 3 * 86400)
    dev = _instance(web, shop.id, "dev", now - 60)
    client = web.signed_in("ann@example.com")

    def listed(query: str) -> set[str]:
        page = client.get(f"/apps/{shop.id}/instances?{query}")
        assert page.status_code == 200
        return {u for u in (recent, old, dev) if u in page.text}

    assert listed("period=1h") == {recent, dev}
    assert listed("period=1h&env=prod") == {recent}
    assert listed("period=7d&env=prod") == {recent, old}
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3 * 86400 - 3600))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 2 * 86400))
    assert listed(f"period=custom&start={day}&end={until}") == {old}
    # Filters the page does not declare neither narrow it nor fail it.
    assert listed("period=1h&status=5xx&path=%2Fnone") == {recent, dev}


def test_alert_form_groups_fields_by_kind_and_links_channels(web) -> None:
    shop = _app(web)
    client = web.signed_in("ann@example.com")
    form = client.get(f"/apps/{shop.id}/alerts/new").text
    group = r'<fieldset class="kind-fields" data-kinds="([a-z_ ]+)">(.*?)</fieldset>'
    groups = dict(re.findall(group, form, re.S))
    # Without JS every group shows (and says which kinds it serves); tallyhub.js hides the others.
    assert set(groups) == {"metric", "metric consumer_quiet", "consumer_quiet"}
    assert 'name="threshold"' in groups["metric"] and 'name="baseline_hours"' in groups["consumer_quiet"]
    assert 'name="window_seconds"' in groups["metric consumer_quiet"]
    assert 'name="interval_seconds"' in form.split('class="kind-fields"')[-1]  # every kind's, outside
    channels = f'href="/teams/{web.team_id("Acme")}/channels"'
    assert channels in form.split("</header>")[0]  # the top bar, on every page
    assert channels in client.get(f"/teams/{web.team_id('Acme')}").text.split("</header>")[1]


def test_setup_page_and_readme_tell_one_story_about_the_client(web) -> None:
    shop = _app(web)
    # The README's example hub is https://hub.example.com.
    client = web.client(public_url="https://hub.example.com")
    client.cookies.update(web.signed_in("ann@example.com").cookies)
    readme = README.read_text()
    for framework in ("flask", "express"):
        page = client.get(f"/apps/{shop.id}/setup?framework={framework}").text
        install = re.search(r'<code id="client-install">([^<]+)</code>', page)
        assert install and f"`{html.unescape(install.group(1))}`" in readme, framework
        assert "Our <code>apitally</code> client" not in page
    flask = client.get(f"/apps/{shop.id}/setup?framework=flask").text
    official = re.search(r'<code id="official-client-install">([^<]+)</code>', flask)
    assert official and f"`{html.unescape(official.group(1))}`" in readme
