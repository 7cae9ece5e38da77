"""Printed documents read back as a person or a phone would: the first page as an image
(poppler's pdftoppm) and the QR codes on it (zxing-cpp)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import zxingcpp
from PIL import Image


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
