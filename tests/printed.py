"""Printed documents read back as a person or a phone would: the first page as an image
(poppler's pdftoppm) and the QR codes on it (zxing-cpp); the text as a person reads it and the
words set along the seal's ring (poppler's pdftotext)."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from xml.etree import ElementTree

import zxingcpp
from PIL import Image

from services.delivery.pdf import SEAL_CENTRE, SEAL_RADIUS

POINTS_PER_MM = 72 / 25.4


def first_page(path: Path) -> Image.Image:
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "100",
            "-f",
            "1",
            "-l",
            "1",
            str(path),
            str(path.with_suffix("")),
        ],
        check=True,
    )
    [png] = path.parent.glob(f"{path.stem}*.png")
    return Image.open(png).convert("RGB")


def qr_codes(page: Image.Image) -> list[str]:
    """What every QR code on `page` says."""
    return [
        code.text
        for code in zxingcpp.read_barcodes(page)
        if code.format == zxingcpp.BarcodeFormat.QRCode
    ]


def printed_qr_codes(pdf: bytes, path: Path) -> list[str]:
    """What the QR codes on the first page of `pdf` say (the PDF is kept at `path`)."""
    path.write_bytes(pdf)
    return qr_codes(first_page(path))


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _words(path: Path) -> list[tuple[str, float, float, float, float]]:
    """Every word of the first page with its box, in millimetres from the top left."""
    xhtml = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = []
    for element in ElementTree.fromstring(xhtml).iter("{http://www.w3.org/1999/xhtml}word"):
        x_min, y_min, x_max, y_max = (
            float(element.attrib[corner]) / POINTS_PER_MM
            for corner in ("xMin", "yMin", "xMax", "yMax")
        )
        found.append((element.text or "", x_min, y_min, x_max, y_max))
    return found


def ring_words(path: Path) -> list[tuple[str, float, float, float, float]]:
    """The words inside the seal's upper half, away from its centre (where its star and
    "电子印章" are), in the order they run along the ring (left to right over the top)."""
    cx, cy = SEAL_CENTRE
    along = []
    for word in _words(path):
        _text, x_min, y_min, x_max, y_max = word
        x, y = (x_min + x_max) / 2 - cx, (y_min + y_max) / 2 - cy
        if 6.0 < math.hypot(x, y) < SEAL_RADIUS and y < 8.0:
            along.append((math.atan2(x, -y), word))  # angle clockwise from the top
    return [word for _angle, word in sorted(along)]


def ring_text(path: Path) -> str:
    """What the seal's ring reads, left to right over the top."""
    return "".join(text for text, *_box in ring_words(path))
