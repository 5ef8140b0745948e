"""Printing a page to PDF with headless Chromium (installed on the servers and in CI): the drill's
evaluation report and the board's daily brief both come out this way."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def html_to_pdf(html: str, output: Path, timeout: float = 120.0) -> None:
    """Print the HTML (self-contained: it is opened from a file) to `output`."""
    with tempfile.TemporaryDirectory(prefix="zaibao-pdf-") as tmp:
        source = Path(tmp) / "page.html"
        source.write_text(html, encoding="utf-8")
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-pdf-header-footer", f"--user-data-dir={tmp}/profile", f"--print-to-pdf={output}",
             source.as_uri()], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0 or not output.exists() or output.stat().st_size == 0:
            raise RuntimeError(f"chromium could not print the page: {result.stderr.strip()[-500:]}")


def html_to_pdf_bytes(html: str) -> bytes:
    """The PDF of the HTML, in memory (for a download)."""
    with tempfile.TemporaryDirectory(prefix="zaibao-pdf-out-") as tmp:
        output = Path(tmp) / "page.pdf"
        html_to_pdf(html, output)
        return output.read_bytes()
