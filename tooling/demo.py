"""`make demo`: the reference journey against the running stack, printed step by step."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from shared.identity import mask_id_number, mask_name
from tooling.journey import Journey, JourneyError, household_application, sample_applicant
from tooling.stack import RunningStack, StackError


async def run_demo(stack: RunningStack, console: Console) -> None:
    trip = Journey(stack.settings, stack.urls)
    applicant = sample_applicant("340104")
    try:
        console.rule("A 合肥 resident at a 阜阳 window (异地受理)")
        console.print(
            f"Applicant {mask_name(applicant['name'])} ({mask_id_number(applicant['id_number'])}), "
            f"registered in 340104 蜀山区; window {trip.window_id} in 341200 阜阳; item GA-HJ-001"
        )
        response = await trip.submit(household_application(applicant))
        if response.status_code != 201:
            raise StackError(f"intake answered {response.status_code}: {response.text}")
        receipt = response.json()
        number = receipt["application_no"]
        trace_id = response.headers.get("X-Trace-Id", "?")
        console.print(
            f"[green]accepted[/] {number}: competent {receipt['competent_locality']}, "
            f"promised by {receipt['promised_date']}, deferred {receipt['deferred']}"
        )

        console.rule("合肥 reviews and decides remotely (远程办理)")
        await trip.wait_for_status(number, "in_review")
        decided = await trip.approve(number, receipt["competent_locality"])
        console.print(f"[green]approved[/] by 340100, certificate {decided['certificate_no']}")

        console.rule("Printed and handed over at the 阜阳 window (就近打证)")
        job = await trip.wait_in_print_queue(number)
        console.print(
            f"print queue of {job['window_id']}: {job['certificate_no']} "
            f"for {job['holder_name_masked']}"
        )
        handed = await trip.hand_over(number, applicant["id_number"])
        if handed.status_code != 200:
            raise StackError(f"hand-over answered {handed.status_code}: {handed.text}")
        final = await trip.wait_for_status(number, "delivered")
    except JourneyError as exc:
        raise StackError(str(exc)) from exc

    table = Table(title=f"Timeline of {number}")
    for column in ("at (UTC)", "status", "locality", "note"):
        table.add_column(column)
    for entry in final["timeline"]:
        table.add_row(
            entry["at"][:19].replace("T", " "), entry["status"], entry["locality"], entry["note"]
        )
    Console().print(table)
    Console().print(f"status: {final['status']}   trace id: {trace_id}")
