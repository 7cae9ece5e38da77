"""`make demo`'s cross-border case (跨省通办, 异地代收代办) on a stack run with two provinces: a
Jiangsu resident's 户口迁移证明 accepted at the 阜阳 window, handed over to Jiangsu (competent
南京市, 320100), decided by Jiangsu's approver (a token of Jiangsu's key ring) through Jiangsu's
approval (the ID card's scan fetched from Anhui on request), the decision and the sealed
certificate back, printed at the 阜阳 window and handed over, the whole journey on the 阜阳
window's timeline, and both gateways' logs of the case (`tongban federation log`), each
signature checked again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.identity import mask_id_number, mask_name
from shared.settings import Settings
from tooling import federation_log
from tooling.demo_certificates import print_certificate, verify_certificate
from tooling.federation_run import Federation, Gateway
from tooling.journey import (
    ID_CARD_SCAN,
    Journey,
    JourneyError,
    household_application,
    poll_until,
    sample_applicant,
    scan_digest,
)
from tooling.stack import RunningStack, StackError

XUANWU = "320102"  # 南京市玄武区: the applicant's household registration
NANJING = "320100"  # competent for 户口迁移证明 by the agreement (city level)
# The demo's table of an application's timeline (tooling.demo.timeline_table).
Timeline = Callable[[dict[str, Any]], Table]
# What the competent province sends back for an approved case; what the window's sends it.
BACK = {"case.opened", "application.approved", "certificate.issued"}
DELIVERED = {"certificate.ready_for_pickup", "certificate.delivered"}


def gateway_settings(settings: Settings, gateway: Gateway) -> Settings:
    """Settings that read `gateway`'s own database, key ring and trust folder."""
    env = gateway.process.env or {}
    return settings.model_copy(
        update={
            "province": env["TONGBAN_PROVINCE"],
            "key_ring_dir": str(gateway.key_ring_dir),
            "federation_trust_dir": str(gateway.trust_dir),
            "federation_database_url": env["FEDERATION_DATABASE_URL"],
        }
    )


async def logged(settings: Settings, number: str, at_least: int) -> list[Any]:
    async def found() -> list[Any] | None:
        messages = await federation_log.messages_of(settings, number)
        done = [m for m in messages if m.direction != "waiting"]
        return messages if len(done) >= at_least else None

    return await poll_until(found, within=60, failure=f"{number}: not all messages logged")


async def run_cross_border(
    stack: RunningStack, console: Console, trip: Journey, timeline_table: Timeline
) -> None:
    federation = stack.federation
    if federation is None or federation.second is None or federation.second_gateway is None:
        console.print("（只启动了一个省：跨省通办一段略过；`make demo` 默认两省）")
        return
    try:
        await _journey(stack.settings, federation, console, trip, timeline_table)
    except JourneyError as exc:
        raise StackError(str(exc)) from exc


async def _journey(
    settings: Settings,
    federation: Federation,
    console: Console,
    trip: Journey,
    timeline_table: Timeline,
) -> None:
    assert federation.second is not None and federation.second_gateway is not None
    jiangsu = federation.second.province
    applicant = sample_applicant(XUANWU, sequence=4)
    console.rule("跨省通办（异地代收代办）：江苏居民在阜阳窗口办理户口迁移证明")
    console.print(
        f"申请人 {mask_name(applicant['name'])}（{mask_id_number(applicant['id_number'])}），"
        f"户籍 {XUANWU} 南京市玄武区；受理窗口 {trip.window_id}（341200 阜阳）"
    )
    await trip.upload_sample_scans()  # 身份证、户口簿扫描件，窗口核验原件后上传
    began = time.monotonic()
    response = await trip.submit(household_application(applicant))
    if response.status_code != 201:
        raise StackError(f"intake answered {response.status_code}: {response.text}")
    receipt = response.json()
    number: str = receipt["application_no"]
    console.print(
        f"[green]受理[/] {number}：有权办理地 {receipt['competent_locality']}（江苏），"
        f"承诺 {receipt['promised_date']} 前办结"
    )
    there = Journey(jiangsu.settings(), {"approval": jiangsu.url("approval")}, timeout=60)
    case = await there.wait_for_case(number, NANJING)
    console.print(
        f"安徽网关签名转交，江苏网关验签收件；江苏审批立案 {case.get('status', '')}，"
        f"办理地 {NANJING} 南京市（{time.monotonic() - began:.1f} 秒）"
    )
    asked = time.monotonic()
    message, scan = await there.read_scan_on_request(number, NANJING, scan_digest(ID_CARD_SCAN))
    console.print(
        f"南京市审批员调阅身份证扫描件：{message or '本省已有'}；"
        f"{len(scan)} 字节到达，SHA-256 与申请所载一致"
        f"（{'是' if scan_digest(scan) == scan_digest(ID_CARD_SCAN) else '否'}，"
        f"{time.monotonic() - asked:.1f} 秒）"
    )
    decided = await there.approve(number, NANJING)
    console.print(
        f"[green]江苏审批通过[/]（南京市审批员，江苏密钥环签发的令牌），证照 "
        f"{decided['certificate_no']}"
    )
    await trip.wait_for_status(number, "approved")
    job = await trip.wait_in_print_queue(number)
    pdf, ordinal, url = await print_certificate(trip, job["certificate_no"])
    verified = await verify_certificate(trip, url)
    console.print(
        f"阜阳窗口打印江苏签章的证照 {job['certificate_no']}（安徽模板，{len(pdf)} 字节，"
        f"第 {ordinal} 次打印）；公开核验：{'有效' if verified.get('valid') else '无效'}，"
        f"签发地 {verified.get('issuer_locality', '?')}"
    )
    handed = await trip.hand_over(number, applicant["id_number"])
    if handed.status_code != 200:
        raise StackError(f"hand-over answered {handed.status_code}: {handed.text}")
    delivered = await trip.wait_for_status(number, "delivered")
    console.print("核验身份证后当面交付；办件时间线（两省一条）：")
    Console().print(timeline_table(delivered))
    anhui_side = gateway_settings(settings, federation.gateway)
    jiangsu_side = gateway_settings(settings, federation.second_gateway)
    for title, side in (("安徽网关", anhui_side), ("江苏网关", jiangsu_side)):
        messages = await logged(side, number, 1 + len(BACK) + len(DELIVERED))
        heading = f"{title}：tongban federation log {number}"
        Console().print(federation_log.table_of(messages, title=heading, compact=True))
    console.print(
        "两侧各存对方签名的报文，签名均已重新验证。查看江苏一侧："
        f"TONGBAN_PROVINCE=320000 TONGBAN_STACK_FILE={Path(jiangsu.state_file)} "
        f"tongban federation log {number}"
    )
