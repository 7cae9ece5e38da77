"""`make demo`: the reference journey against the running stack, printed step by step."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.clock import in_china
from shared.identity import mask_id_number, mask_name, mask_phone
from tooling.bundle_journey import bundle_timeline, newborn_bundle, released, submit_bundle
from tooling.demo_certificates import print_certificate, verify_certificate
from tooling.federation_demo import run_cross_border
from tooling.journey import (
    HOUSEHOLD_REGISTER_SCAN,
    ID_CARD_SCAN,
    Journey,
    JourneyError,
    household_application,
    sample_applicant,
    sample_pdf,
    scan_digest,
)
from tooling.online import OnlineApplicant
from tooling.sms_gateway.control import SmsGatewayControl
from tooling.stack import RunningStack, StackError

DOWNLOADS = Path(".tongban/demo")


def save_download(name: str, content: bytes) -> Path:
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    path = DOWNLOADS / name
    path.write_bytes(content)
    return path


async def run_demo(stack: RunningStack, console: Console) -> None:
    trip = Journey(stack.settings, stack.urls)
    # Another window of the province, in 合肥 蜀山区, where the applicant brings the supplement.
    second_window = Journey(
        stack.settings, stack.urls, window_id="W340104-01", receiving_locality="340104"
    )
    applicant = sample_applicant("340104")
    try:
        console.rule("A 合肥 resident at a 阜阳 window (异地受理, 收件转交)")
        console.print(
            f"Applicant {mask_name(applicant['name'])} ({mask_id_number(applicant['id_number'])}), "
            f"registered in 340104 蜀山区; window {trip.window_id} in 341200 阜阳; item GA-HJ-001"
        )
        id_card = sample_pdf(f"Resident identity card, scanned at {trip.window_id}")
        scan = await trip.upload_scan(id_card, "id-card.pdf")
        console.print(
            f"scan of M01 uploaded: sha256 {scan['sha256'][:16]}…, {scan['size']} bytes, "
            f"{scan['content_type']}"
        )
        body = household_application(applicant)
        body["materials"][0]["sha256"] = scan["sha256"]
        response = await trip.submit(body)
        if response.status_code != 201:
            raise StackError(f"intake answered {response.status_code}: {response.text}")
        receipt = response.json()
        number = receipt["application_no"]
        trace_id = response.headers.get("X-Trace-Id", "?")
        console.print(
            f"[green]accepted[/] {number}: competent {receipt['competent_locality']}, "
            f"promised by {receipt['promised_date']}, deferred {receipt['deferred']}"
        )

        competent = receipt["competent_locality"]
        console.rule("合肥 reads the scan remotely and asks for a supplement (补正)")
        await trip.wait_for_status(number, "in_review")
        await trip.wait_for_case(number, competent)
        await trip.claim(number, competent)
        downloaded = await trip.read_scan(number, competent, scan["sha256"])
        saved = save_download(f"{number}-M01.pdf", downloaded)
        identical = scan_digest(downloaded) == scan["sha256"]
        console.print(
            f"approver of {competent} downloaded M01: {len(downloaded)} bytes, "
            f"{'byte-identical' if identical else 'DIFFERENT'}, saved to {saved}"
        )
        asked = await trip.request_supplement(
            number, competent, ["M02"], "请补交居民户口簿复印件（容缺材料）"
        )
        console.print(
            f"[yellow]supplement requested[/]: {asked['requested_materials']}; "
            "the deadline clock pauses"
        )
        await trip.wait_for_status(number, "supplement_requested")

        console.rule("The applicant hands it in at another window (any window, 全省通办)")
        register = await second_window.upload_scan(HOUSEHOLD_REGISTER_SCAN, "register.pdf")
        handed_in = await second_window.hand_in_supplement(
            number, [{"material_code": "M02", "sha256": register["sha256"]}]
        )
        console.print(
            f"M02 handed in at window {handed_in['window_id']}; "
            f"still outstanding: {handed_in['requested_materials'] or 'nothing'}"
        )
        resumed = await trip.wait_for_case_status(number, competent, "in_review")
        console.print(
            f"[green]review resumed[/], statutory deadline {resumed['deadline']} "
            f"({resumed['paused_working_days']} working days paused)"
        )

        console.rule("合肥 decides remotely (远程办理)")
        decided = await trip.approve(number, competent)
        console.print(f"[green]approved[/] by {competent}, certificate {decided['certificate_no']}")

        console.rule("Printed and handed over at the 阜阳 window (就近打证)")
        job = await trip.wait_in_print_queue(number)
        console.print(
            f"print queue of {job['window_id']}: {job['certificate_no']} "
            f"for {job['holder_name_masked']}"
        )
        certificate, ordinal, url = await print_certificate(trip, job["certificate_no"])
        printed = save_download(f"{job['certificate_no']}.pdf", certificate)
        console.print(f"certificate printed (print #{ordinal}): {printed.resolve()}")
        verified = await verify_certificate(trip, url)
        outcome = "[green]valid[/]" if verified["valid"] else f"[red]{verified['reason']}[/]"
        console.print(
            f"QR code {url}: {outcome}, issuer {verified['issuer_locality']}, item "
            f"{verified['item_code']}, holder {verified['holder_name_masked']}, issued "
            f"{verified['issued_at']} (verified {verified['verifications']} times)"
        )
        handed = await trip.hand_over(number, applicant["id_number"])
        if handed.status_code != 200:
            raise StackError(f"hand-over answered {handed.status_code}: {handed.text}")
        final = await trip.wait_for_status(number, "delivered")
    except JourneyError as exc:
        raise StackError(str(exc)) from exc

    Console().print(timeline_table(final))
    Console().print(f"status: {final['status']}   trace id: {trace_id}")
    await run_online(stack, console, applicant, trip)
    await run_bundle_demo(trip, console)
    await run_cross_border(stack, console, trip, timeline_table)


async def run_online(
    stack: RunningStack, console: Console, applicant: dict[str, Any], approver: Journey
) -> None:
    """The same resident applies again, online this time (全程网办): signed in at L3 with the
    code the SMS gateway simulator carried, the form posted at the portal, accepted by intake's
    same rules at the window she chose, approved by 合肥, and told each step by SMS."""
    if stack.portal is None or stack.sms is None:
        raise StackError("the stack runs no portal or no SMS gateway")
    console.rule("Online, from a phone (全程网办): real-name sign-in by SMS, then the form")
    resident = OnlineApplicant(
        stack.portal.url,
        SmsGatewayControl(stack.sms.url),
        applicant["id_number"],
        applicant["name"],
        applicant["phone"],
    )
    window = "W340104-01"
    try:
        code_sms = await resident.sign_in()
        console.print(
            f"sign-in code sent to {mask_phone(resident.phone)}: "
            f"{re.sub(r'[0-9]{6}', '······', code_sms)}; signed in at level L3 (ID number, "
            "name, code)"
        )
        number = await resident.apply(
            "GA-HJ-001",
            window,
            {
                "M01": ("id-card.pdf", ID_CARD_SCAN),
                "M02": ("register.pdf", HOUSEHOLD_REGISTER_SCAN),
            },
            commitments=("M03",),
        )
        console.print(
            f"[green]accepted online[/] {number} at window {window} (M01 and M02 uploaded "
            "from the phone, a commitment for M03)"
        )
        mine = await resident.mine(number)
        console.print(
            f"her own view (/v1/me/applications/{number}): {mine['status']}, promised by "
            f"{mine['promised_date']}"
        )
        decided = await approver.approve(number, "340100")
        console.print(f"[green]approved[/] by 340100, certificate {decided['certificate_no']}")
        # Accepted, approved, ready for pickup at the chosen window: one SMS each.
        for text in await resident.texts_about(number, at_least=3):
            console.print(f"SMS to {mask_phone(resident.phone)}: {text}")
    except JourneyError as exc:
        raise StackError(str(exc)) from exc
    finally:
        await resident.aclose()


async def run_bundle_demo(trip: Journey, console: Console) -> None:
    """一件事一次办: 新生儿出生 handed in once at the same window, one receipt; the birth
    certificate approved, the household registration released with it cited (免证办)."""
    parent = sample_applicant("340104", sequence=2)
    mother = sample_applicant("340104", sequence=3)
    try:
        console.rule("一件事一次办: 新生儿出生, four departments, one receipt")
        await trip.upload_sample_scans()
        response = await submit_bundle(trip, newborn_bundle(parent, mother["id_number"]))
        if response.status_code != 201:
            raise StackError(f"intake answered {response.status_code}: {response.text}")
        receipt = response.json()
        console.print(
            f"[green]one receipt[/] {receipt['bundle_no']} ({receipt['name']}, 牵头部门 "
            f"{receipt['lead_department']}), promised by {receipt['promised_date']}"
        )
        console.print(bundle_table(receipt))
        birth = next(c for c in receipt["children"] if c["item_code"] == "WJ-CS-001")
        await trip.wait_for_status(birth["application_no"], "in_review")
        decided = await trip.approve(birth["application_no"], birth["competent_locality"])
        console.print(
            f"[green]approved[/] {birth['application_no']} by {birth['competent_locality']}, "
            f"certificate {decided['certificate_no']}"
        )
        state = await released(trip, receipt["bundle_no"], "GA-HJ-003")
        registration = next(c for c in state["children"] if c["item_code"] == "GA-HJ-003")
        routed = await trip.wait_for_status(registration["application_no"], "in_review")
        cited = ", ".join(
            f"{c['material_code']}={c['certificate_no']}" for c in routed["certificates"]
        )
        console.print(
            f"[green]released[/] {registration['application_no']} (出生登记) citing {cited}: "
            "no upload"
        )
        console.print(bundle_table(state))
        timeline = await bundle_timeline(trip, receipt["bundle_no"])
        console.print(members_table(timeline))
    except JourneyError as exc:
        raise StackError(str(exc)) from exc


def members_table(timeline: dict[str, Any]) -> Table:
    """The bundle's timeline: each department's progress and clock."""
    table = Table(title=f"{timeline['name']}: each department's progress and clock")
    for column in ("item", "department", "locality", "status", "clock", "promised"):
        table.add_column(column)
    for m in timeline["members"]:
        table.add_row(
            f"{m['item_name']}（{m['item_code']}）",
            m["department"],
            m["competent_locality"],
            m["status"],
            m["clock"],
            m["promised_date"],
        )
    return table


def bundle_table(bundle: dict[str, Any]) -> Table:
    table = Table(title=f"Bundle {bundle['bundle_no']} ({bundle.get('status', 'open')})")
    for column in ("application", "item", "department", "competent", "status", "waits for"):
        table.add_column(column)
    for child in bundle["children"]:
        table.add_row(
            child["application_no"],
            child["item_code"],
            child["department"],
            child["competent_locality"],
            child["status"] + (f" ({child['outcome']})" if child.get("outcome") else ""),
            ", ".join(child["waits_for"]) or "—",
        )
    return table


def timeline_table(application: dict[str, Any]) -> Table:
    """The application's timeline as the service halls read it: times in China time, said so
    in the heading (the answer's offset, whatever it is, does not decide)."""
    table = Table(title=f"Timeline of {application['application_no']}")
    for column in ("at (Beijing time, UTC+8)", "status", "locality", "note"):
        table.add_column(column)
    for entry in application["timeline"]:
        at = in_china(datetime.fromisoformat(entry["at"])).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(at, entry["status"], entry["locality"], entry["note"])
    return table
