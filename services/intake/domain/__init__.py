"""Intake's rules: is an application complete for its item (一次性告知, 容缺受理, 告知承诺制,
免证办), what its number is, and how its status moves as events come back.

Pure functions; the use cases call them. One module per family of rules: `judgement` (an
application or a supplement against its item's standard) and `timeline` (its status and timeline
as events come back); both are read as `domain.X`.
"""

from services.intake.domain.judgement import (
    Assessment,
    CitedMaterial,
    Problem,
    RegisteredCertificate,
    Submission,
    SubmittedMaterial,
    application_number,
    assess,
    assess_citation,
    assess_supplement,
    shown_in,
)
from services.intake.domain.timeline import (
    FINISHED,
    TimelineFact,
    advanced_status,
    note_text,
    status_after,
    status_after_supplement,
    timeline_fact,
)

__all__ = [
    "FINISHED",
    "Assessment",
    "CitedMaterial",
    "Problem",
    "RegisteredCertificate",
    "Submission",
    "SubmittedMaterial",
    "TimelineFact",
    "advanced_status",
    "application_number",
    "assess",
    "assess_citation",
    "assess_supplement",
    "note_text",
    "shown_in",
    "status_after",
    "status_after_supplement",
    "timeline_fact",
]
