"""免证办 at intake: when a cited certificate may stand in for a material, and how the window
hears why not (in the one-time notice, with every other problem)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake import domain
from services.intake.schemas import ApplicationIn, CatalogVersionIn
from services.intake.usecases import judging, submission
from shared.i18n import ENGLISH, use_locale
from shared.identity import id_number_digest, sample_resident_id
from shared.jurisdiction import RuleBook
from shared.reference.catalog import CatalogItem, Material, get_item
from tests.unit.test_intake_judgement import (
    CLERK,
    DIGEST_KEY,
    HEFEI_FOR_FUYANG,
    RULES,
    judged,
    uploaded,
)
from tooling.journey import (
    CITABLE_CERTIFICATE_ITEM,
    household_application,
    household_application_citing,
    sample_applicant,
)

TODAY = date(2026, 11, 23)
APPLICANT = sample_applicant("340104", sequence=41)
OWN_DIGEST = id_number_digest(APPLICANT["id_number"], DIGEST_KEY)
SOMEONE_ELSE = id_number_digest(sample_resident_id("340104", date(1985, 1, 2), 7), DIGEST_KEY)


def _household_item() -> CatalogItem:
    found = get_item("GA-HJ-001")
    assert found is not None
    return found


def _material(code: str) -> Material:
    found = HOUSEHOLD_ITEM.material(code)
    assert found is not None
    return found


HOUSEHOLD_ITEM = _household_item()
REGISTER_COPY = _material("M02")
ID_CARD = _material("M01")


def registered(
    number: str = "ZZ3401002026000001",
    *,
    holder: str = OWN_DIGEST,
    item_code: str = CITABLE_CERTIFICATE_ITEM,
    valid_until: date | None = None,
    revoked: bool = False,
    issuer_may_be_competent: bool = True,
) -> domain.RegisteredCertificate:
    return domain.RegisteredCertificate(
        certificate_no=number,
        issuer_locality="340104",
        item_code=item_code,
        holder_id_digest=holder,
        valid_until=valid_until,
        revoked=revoked,
        issuer_may_be_competent=issuer_may_be_competent,
    )


def codes_of(problems: list[domain.Problem]) -> list[tuple[str | None, str]]:
    return [(p.material_code, p.code) for p in problems]


def cite(found: domain.RegisteredCertificate | None, material: Any = REGISTER_COPY) -> list[str]:
    problems = domain.assess_citation(
        material,
        "ZZ3401002026000001",
        found,
        applicant_id_digest=OWN_DIGEST,
        today=TODAY,
    )
    return [p.code for p in problems]


# --- the rules of one citation ------------------------------------------------------------


def test_the_applicants_valid_certificate_of_an_allowed_item_stands_in() -> None:
    assert cite(registered()) == []
    assert cite(registered(valid_until=TODAY)) == []  # valid through its last day


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (None, ["certificate_not_found"]),
        (registered(holder=SOMEONE_ELSE), ["certificate_not_applicants"]),
        (registered(revoked=True), ["certificate_revoked"]),
        (registered(valid_until=date(2026, 11, 22)), ["certificate_expired"]),
        (registered(item_code="GA-HJ-001"), ["certificate_not_allowed"]),
        (
            registered(item_code="GA-HJ-001", revoked=True),
            ["certificate_not_allowed", "certificate_revoked"],
        ),
        (registered(issuer_may_be_competent=False), ["certificate_issuer_not_competent"]),
    ],
    ids=[
        "unknown",
        "another-persons",
        "revoked",
        "expired",
        "other-item",
        "other-item-revoked",
        "issuer-not-competent",
    ],
)
def test_a_certificate_that_cannot_stand_in_says_why(
    found: domain.RegisteredCertificate | None, expected: list[str]
) -> None:
    assert cite(found) == expected


def test_another_persons_certificate_reveals_nothing_more_about_it() -> None:
    # Revoked, of another item and expired: the window only learns it is not the applicant's.
    found = registered(
        holder=SOMEONE_ELSE, item_code="GA-HJ-001", revoked=True, valid_until=date(2020, 1, 1)
    )
    assert cite(found) == ["certificate_not_applicants"]


def test_a_material_without_certificate_items_cannot_be_cited_whatever_the_certificate() -> None:
    assert cite(registered(), material=ID_CARD) == ["certificate_not_allowed"]
    assert cite(None, material=ID_CARD) == ["certificate_not_allowed"]


def test_without_the_applicants_digest_no_certificate_is_theirs() -> None:
    problems = domain.assess_citation(
        REGISTER_COPY, "ZZ1", registered(holder=""), applicant_id_digest="", today=TODAY
    )
    assert [p.code for p in problems] == ["certificate_not_applicants"]


# --- the whole judgement --------------------------------------------------------------------


def judge(
    body: dict[str, Any], registry: dict[str, domain.RegisteredCertificate]
) -> judging.Accept | judging.Notify:
    command = judging.SubmitApplication(ApplicationIn.model_validate(body), CLERK, "key")
    return judged(command, RuleBook.of(RULES, [HEFEI_FOR_FUYANG]), uploaded(command.body), registry)


def test_a_cited_register_copy_is_neither_deferred_nor_scanned_and_travels_as_a_citation() -> None:
    number = "ZZ3401002026000001"
    verdict = judge(household_application_citing(APPLICANT, number), {number: registered(number)})
    assert isinstance(verdict, judging.Accept)
    assert verdict.deferred == []  # without the citation, M02 would be deferred (容缺)
    assert [c.model_dump() for c in verdict.certificates] == [
        {
            "material_code": "M02",
            "certificate_no": number,
            "issuer_locality": "340104",
            "item_code": CITABLE_CERTIFICATE_ITEM,
        }
    ]
    # Only the ID card's scan is referenced: the cited material has none.
    citing = ApplicationIn.model_validate(household_application_citing(APPLICANT, number))
    assert submission.referenced_scans(citing) == [
        m["sha256"] for m in household_application(APPLICANT)["materials"]
    ]
    assert submission.cited_certificates(citing) == [number]


def test_every_bad_citation_is_in_the_one_notice_with_the_other_problems() -> None:
    body = household_application(APPLICANT)
    body["materials"] = [
        # The ID card's original cannot be replaced by a certificate.
        {"material_code": "M01", "certificate_no": "ZZ-MINE"},
        {"material_code": "M02", "certificate_no": "ZZ-REVOKED"},
    ]
    body["commitments"] = []  # M03 neither committed nor handed in
    verdict = judge(
        body, {"ZZ-MINE": registered("ZZ-MINE"), "ZZ-REVOKED": registered(revoked=True)}
    )
    assert isinstance(verdict, judging.Notify)
    assert codes_of(verdict.problems) == [
        ("M01", "certificate_not_allowed"),
        ("M02", "certificate_revoked"),
        ("M03", "material_missing"),
    ]


def test_a_citation_of_a_material_the_item_does_not_have_is_an_unknown_material() -> None:
    body = household_application_citing(APPLICANT, "ZZ1")
    body["materials"].append({"material_code": "M09", "certificate_no": "ZZ2"})
    verdict = judge(body, {"ZZ1": registered("ZZ1")})
    assert isinstance(verdict, judging.Notify)
    assert codes_of(verdict.problems) == [("M09", "unknown_material")]


def test_the_applicants_id_number_is_compared_by_its_keyed_digest() -> None:
    # The same number under another key is not the applicant's (approval and intake share it).
    number = "ZZ3401002026000001"
    foreign_key = id_number_digest(APPLICANT["id_number"], b"another key")
    verdict = judge(
        household_application_citing(APPLICANT, number), {number: registered(holder=foreign_key)}
    )
    assert isinstance(verdict, judging.Notify)
    assert codes_of(verdict.problems) == [("M02", "certificate_not_applicants")]


# --- the request's shape --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("material", "says"),
    [
        ({"material_code": "M02"}, "give sha256 (the uploaded scan) or certificate_no"),
        (
            {"material_code": "M02", "sha256": "0" * 64, "certificate_no": "ZZ1"},
            "give sha256 or certificate_no, not both",
        ),
    ],
    ids=["neither", "both"],
)
def test_a_material_gives_exactly_one_of_a_scan_and_a_certificate(
    material: dict[str, Any], says: str
) -> None:
    body = household_application(APPLICANT)
    body["materials"] = [*body["materials"], material]
    with pytest.raises(ValidationError) as refused, use_locale(ENGLISH):
        ApplicationIn.model_validate(body)
    [error] = refused.value.errors()
    assert error["loc"] == ("materials", 1)
    assert says in error["msg"]


def test_a_body_that_cites_nothing_hashes_as_before_citations_existed() -> None:
    # Idempotency records stored before the upgrade still match a retry of the same body.
    body = household_application(APPLICANT)
    document = ApplicationIn.model_validate(body).model_dump(mode="json")
    for material in document["materials"]:
        del material["certificate_no"]  # the field did not exist
    before = hashlib.sha256(
        json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    assert submission.request_hash(ApplicationIn.model_validate(body)) == before
    citing = ApplicationIn.model_validate(household_application_citing(APPLICANT, "ZZ1"))
    assert submission.request_hash(citing) != before


# --- the catalog ------------------------------------------------------------------------------


def test_the_household_register_copy_may_be_proven_by_a_certificate_of_the_catalog() -> None:
    assert REGISTER_COPY.certificate_items == [CITABLE_CERTIFICATE_ITEM]
    assert get_item(CITABLE_CERTIFICATE_ITEM) is not None


def _published_with(certificate_items: list[str]) -> dict[str, Any]:
    guide = HOUSEHOLD_ITEM.model_dump(mode="json")
    guide["materials"][1]["certificate_items"] = certificate_items
    return {"version": "2026.9", "items": [guide]}


def test_a_published_version_keeps_certificate_items() -> None:
    published = CatalogVersionIn.model_validate(_published_with(["GA-HJ-002", "JY-JS-001"]))
    assert published.items[0].materials[1].certificate_items == ["GA-HJ-002", "JY-JS-001"]


@pytest.mark.parametrize(
    ("items", "says"),
    [(["GA-HJ-002", "GA-HJ-002"], "must not repeat"), (["*"], "certificate_items of M02")],
    ids=["repeated", "not-an-item-code"],
)
def test_a_published_version_with_bad_certificate_items_is_refused(
    items: list[str], says: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        CatalogVersionIn.model_validate(_published_with(items))
    assert says in str(refused.value)


def test_only_a_locality_that_may_be_competent_for_the_item_issues_a_citable_certificate() -> None:
    # GA-HJ-002 is decided by the applicant's county: 蜀山区 may issue it, 合肥 (a city) may not.
    rules = RuleBook.of(RULES, [])
    assert submission._may_issue(rules, CITABLE_CERTIFICATE_ITEM, "340104")
    assert not submission._may_issue(rules, CITABLE_CERTIFICATE_ITEM, "340100")
    assert not submission._may_issue(RuleBook(), CITABLE_CERTIFICATE_ITEM, "340104")  # no rule
