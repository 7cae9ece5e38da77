"""The places personal-data columns are encrypted for are part of every stored ciphertext's AAD:
renaming the functions that name them is free, changing what they return is not (rows already
written would no longer decrypt)."""

from __future__ import annotations

from services.approval.usecases.cases import application_place as case_application_place
from services.approval.usecases.certificates import holder_name_place as approval_holder_place
from services.delivery.usecases.documents import holder_name_place, verification_code_place
from services.delivery.usecases.print_jobs import address_place
from services.intake.usecases.acceptance import application_place as intake_application_place
from services.routing.usecases.routing import _application_place as routed_application_place


def test_each_column_is_still_bound_to_the_place_its_stored_rows_were_encrypted_for() -> None:
    assert intake_application_place("agent", "TB1") == "intake.applications.agent:TB1"
    assert routed_application_place("TB1") == "routing.routed_applications.application:TB1"
    assert case_application_place("TB1") == "approval.cases.application:TB1"
    assert approval_holder_place("C1") == "approval.certificates.holder_name:C1"
    assert holder_name_place("C1") == "delivery.certificates.holder_name:C1"
    assert verification_code_place("C1") == "delivery.certificates.verification_code:C1"
    assert address_place("TB1") == "delivery.postal_dispatches.address:TB1"
