"""The portal signing applicants in through a province's identity provider (统一身份认证, OIDC)
over real HTTP: the provider simulator (tooling/oidc_provider, RS256 ID tokens from a key it
generated) on a port of its own, the portal on the stack with PORTAL_OIDC_ISSUER set. A browser's
steps are taken one by one: the portal's sign-in page, the provider's page, the way back.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser
from pydantic import SecretStr
from sqlalchemy import select

from services.portal.db import SessionRow
from services.portal.main import create_app as create_portal
from shared.db import Database
from shared.db.migrations import upgrade_async
from shared.identity import id_number_digest
from shared.settings import with_database
from tests.harness import RunningService, Stack, serve
from tooling.infra import ensure_databases
from tooling.oidc_provider.app import Client
from tooling.oidc_provider.app import create_app as create_provider

DATABASE = "tongban_test_portal_oidc"
CLIENT = Client("tongban-portal", "portal-client-secret")
ZHANG = "340104199005170018"
CHINESE = {"Accept-Language": "zh-CN"}
APPLY = "/guides/GA-HJ-001/apply"


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[RunningService]:
    # At "localhost", another site than the portal's 127.0.0.1: in a real browser the way back
    # is a cross-site navigation, as from a province's provider.
    running = await serve(
        "oidc-provider", lambda port: create_provider(f"http://localhost:{port}", CLIENT)
    )
    running.base_url = running.base_url.replace("127.0.0.1", "localhost")
    yield running
    await running.stop()


@pytest.fixture(autouse=True)
async def fresh_provider(provider: RunningService) -> None:
    async with httpx.AsyncClient(base_url=provider.base_url) as http:
        (await http.post("/control/reset")).raise_for_status()


@pytest.fixture(scope="module")
async def database(stack: Stack) -> str:
    url = with_database(stack.settings.database_url, DATABASE)
    await asyncio.to_thread(
        ensure_databases, stack.settings.database_url, [DATABASE], recreate=True
    )
    await upgrade_async("portal", url)
    return url


async def start_portal(stack: Stack, name: str, **oidc: Any) -> RunningService:
    settings = stack.settings.model_copy(
        update={
            "intake_url": stack.services["intake"].base_url,
            "delivery_url": stack.services["delivery"].base_url,
            "portal_database_url": with_database(stack.settings.database_url, DATABASE),
            **oidc,
        }
    )
    await stack.start(name, lambda _: create_portal(settings))
    return stack.services[name]


@pytest.fixture(scope="module")
async def portal(
    stack: Stack, database: str, provider: RunningService
) -> AsyncIterator[RunningService]:
    yield await start_portal(
        stack,
        "portal-oidc",
        portal_oidc_issuer=provider.base_url,
        portal_oidc_client_id=CLIENT.client_id,
        portal_oidc_client_secret=SecretStr(CLIENT.secret or ""),
    )
    await stack.stop_service("portal-oidc")


async def spoil(provider: RunningService, **order: Any) -> None:
    """The next ID token the provider issues is made wrong as ordered."""
    async with httpx.AsyncClient(base_url=provider.base_url) as http:
        (await http.post("/control/spoil", json=order)).raise_for_status()


async def to_provider(browser: httpx.AsyncClient, portal: RunningService, next: str) -> str:
    """From the portal's sign-in page to the provider's page: the query the portal sent."""
    page = await browser.get(f"{portal.base_url}/signin", params={"next": next})
    link = re.search(r'href="(/signin/oidc\?next=[^"]*)"', page.text)
    assert page.status_code == 200 and link is not None, page.text
    assert 'name="id_number"' not in page.text  # no form of the built-in sign-in
    leaving = await browser.get(portal.base_url + link.group(1).replace("&amp;", "&"))
    assert leaving.status_code == 303
    assert "httponly" in leaving.headers["set-cookie"].lower()
    return leaving.headers["location"]


async def at_provider(
    browser: httpx.AsyncClient, authorize_url: str, id_number: str, level: str
) -> str:
    """The applicant signs in at the provider's page; where the provider sends the browser."""
    page = await browser.get(authorize_url)
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))
    answer = await browser.post(
        authorize_url.split("?")[0],
        data={**form, "id_number": id_number, "level": level, "decision": "allow"},
    )
    assert answer.status_code == 303
    return str(answer.headers["location"])


async def sign_in(
    browser: httpx.AsyncClient, portal: RunningService, level: str, next: str = "/applications"
) -> httpx.Response:
    """The browser through the whole sign-in; the portal's answer at the way back."""
    callback = await at_provider(browser, await to_provider(browser, portal, next), ZHANG, level)
    assert callback.startswith(f"{portal.base_url}/signin/oidc/callback?")
    return await browser.get(callback)


def new_browser() -> httpx.AsyncClient:
    return httpx.AsyncClient(headers=CHINESE, timeout=30)


async def test_a_sign_in_at_the_provider_reaches_own_applications_at_its_level(
    stack: Stack, portal: RunningService, provider: RunningService
) -> None:
    async with new_browser() as browser:
        back = await sign_in(browser, portal, "L3", next=APPLY)
        assert back.status_code == 303 and back.headers["location"] == APPLY
        cookie = back.cookies.get("tongban_portal_session")
        assert cookie and "samesite=lax" in back.headers["set-cookie"].lower()
        assert (await browser.get(f"{portal.base_url}{APPLY}")).status_code == 200
        mine = await browser.get(f"{portal.base_url}/applications")
        assert mine.status_code == 200 and "我的办件" in mine.text
        me = await browser.get(
            f"{portal.base_url}/v1/me", headers={"Authorization": f"Bearer {cookie}"}
        )
        assert me.json() == {"level": "L3"}

    # The session is the one the built-in sign-in makes: the ID number's keyed digest only.
    database = Database(with_database(stack.settings.database_url, DATABASE))
    try:
        async with database.transaction() as session:
            applicants = set((await session.scalars(select(SessionRow.id_digest))).all())
    finally:
        await database.dispose()
    key = stack.settings.pii_digest_key.get_secret_value().encode()
    assert applicants == {id_number_digest(ZHANG, key)}


async def test_level_l2_follows_but_is_sent_to_sign_in_again_to_apply(
    portal: RunningService, provider: RunningService
) -> None:
    async with new_browser() as browser:
        back = await sign_in(browser, portal, "L2")
        assert back.status_code == 303 and back.headers["location"] == "/applications"
        assert (await browser.get(f"{portal.base_url}/applications")).status_code == 200
        apply = await browser.get(f"{portal.base_url}{APPLY}")
        assert apply.status_code == 303 and "level=3" in apply.headers["location"]


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ({"claims": {"nonce": "another-login"}}, "身份认证平台未能"),
        ({"claims": {"aud": "another-app"}}, "身份认证平台未能"),
        (
            {"claims": {"iat": int(time.time()) - 900, "exp": int(time.time()) - 300}},
            "身份认证平台未能",
        ),
        ({"foreign_key": True}, "身份认证平台未能"),
        ({"remove": ["acr"]}, "认证等级"),
        ({"claims": {"acr": "L1"}}, "认证等级"),
    ],
    ids=["wrong nonce", "wrong audience", "expired", "bad signature", "no level", "level L1"],
)
async def test_a_wrong_id_token_signs_nobody_in(
    portal: RunningService, provider: RunningService, order: dict[str, Any], message: str
) -> None:
    await spoil(provider, **order)
    async with new_browser() as browser:
        back = await sign_in(browser, portal, "L3")
        assert back.status_code == 401 and message in back.text, back.text
        assert "tongban_portal_session" not in back.cookies
        assert ZHANG not in back.text
        mine = await browser.get(f"{portal.base_url}/applications")
        assert mine.status_code == 303  # still not signed in


async def test_the_way_back_counts_only_for_the_browser_that_left_and_only_once(
    portal: RunningService, provider: RunningService
) -> None:
    async with new_browser() as browser:
        callback = await at_provider(
            browser, await to_provider(browser, portal, "/applications"), ZHANG, "L3"
        )
        # Another browser (a link an attacker sends, login CSRF) has no login of its own here.
        async with httpx.AsyncClient(headers=CHINESE) as other:
            assert (await other.get(callback)).status_code == 401
        # A state that is not this login's.
        forged = re.sub(r"state=[^&]+", "state=forged", callback)
        assert (await browser.get(forged)).status_code == 401
        assert "tongban_portal_session" not in browser.cookies

    async with new_browser() as browser:
        back = await sign_in(browser, portal, "L3")
        assert back.status_code == 303
        # The same way back again: the login's cookie went with the first answer.
        again = await browser.get(str(back.request.url))
        assert again.status_code == 401


async def test_the_built_in_sign_in_is_closed_while_the_provider_is_set(
    stack: Stack, portal: RunningService
) -> None:
    assert stack.sms is not None
    before = len(await stack.sms.messages())
    async with httpx.AsyncClient(base_url=portal.base_url, headers=CHINESE) as http:
        sent = await http.post("/signin", data={"id_number": ZHANG})
        assert sent.status_code == 404
        code = await http.post("/signin/code", data={"challenge_id": "x", "code": "123456"})
        assert code.status_code == 404
    assert len(await stack.sms.messages()) == before  # no code sent


async def test_a_provider_with_es256_keys_and_claims_of_its_own_naming(
    stack: Stack, database: str
) -> None:
    """Another provider: ES256 ID tokens, a public client (PKCE alone), the ID number in `sfzh`
    and the level in `loa` with values of its own, named by the settings."""
    public = Client("tongban-portal-public", None)
    other = await serve(
        "oidc-provider-es256",
        lambda port: create_provider(
            f"http://127.0.0.1:{port}",
            public,
            algorithm="ES256",
            id_claim="sfzh",
            level_claim="loa",
        ),
    )
    try:
        portal = await start_portal(
            stack,
            "portal-oidc-es256",
            portal_oidc_issuer=other.base_url,
            portal_oidc_client_id=public.client_id,
            portal_oidc_id_claim="sfzh",
            portal_oidc_level_claim="loa",
            portal_oidc_levels={"urn:anhui:loa:3": 3, "urn:anhui:loa:2": 2},
        )
        async with new_browser() as browser:
            jwks = (await browser.get(f"{other.base_url}/jwks")).json()
            assert [key["kty"] for key in jwks["keys"]] == ["EC"]
            back = await sign_in(browser, portal, "urn:anhui:loa:3", next=APPLY)
            assert back.status_code == 303 and back.headers["location"] == APPLY
            assert (await browser.get(f"{portal.base_url}{APPLY}")).status_code == 200
        async with new_browser() as browser:
            # The first provider's level names mean nothing here.
            assert (await sign_in(browser, portal, "L3")).status_code == 401
    finally:
        if "portal-oidc-es256" in stack.services:
            await stack.stop_service("portal-oidc-es256")
        await other.stop()


async def test_a_portal_the_provider_does_not_take_as_its_client_signs_nobody_in(
    stack: Stack, database: str, provider: RunningService
) -> None:
    """The token endpoint refuses the client (a wrong secret): the code is never exchanged."""
    portal = await start_portal(
        stack,
        "portal-oidc-wrong-secret",
        portal_oidc_issuer=provider.base_url,
        portal_oidc_client_id=CLIENT.client_id,
        portal_oidc_client_secret=SecretStr("not-the-secret"),
    )
    try:
        async with new_browser() as browser:
            back = await sign_in(browser, portal, "L3")
            assert back.status_code == 401 and "身份认证平台未能" in back.text
            assert "tongban_portal_session" not in back.cookies
    finally:
        await stack.stop_service("portal-oidc-wrong-secret")


async def test_in_a_real_browser_the_way_back_from_another_site_signs_in(
    portal: RunningService, provider: RunningService, browser: Browser
) -> None:
    """Chromium: the link leaves the portal (its pages allow forms to post to itself only), the
    provider's page posts and redirects back across sites, and the SameSite=Lax login cookie
    comes along with that navigation."""
    page = await browser.new_page(locale="zh-CN")
    try:
        await page.goto(f"{portal.base_url}/signin?next=/wallet")
        await page.get_by_role("link", name="通过省统一身份认证平台登录").click()
        await page.wait_for_url(f"{provider.base_url}/authorize?*")
        await page.get_by_label("身份证号").fill(ZHANG)
        await page.get_by_label("认证等级").select_option("L2")
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url(f"{portal.base_url}/wallet")
        assert "tongban_portal_session" in {c["name"] for c in await page.context.cookies()}
        assert "tongban_portal_oidc" not in {c["name"] for c in await page.context.cookies()}
    finally:
        await page.close()
