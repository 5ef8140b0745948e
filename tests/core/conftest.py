"""Fixtures for the kernel's own tests: files to import and the Flask CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

# A small but real-looking division file (GCJ-02 coordinates, as the national lists carry).
DIVISIONS_CSV = """code,parent_code,name,level,urban_rural_code,virtual,lon,lat
130000000000,,河北省,province,,0,114.530235,38.037433
130600000000,130000000000,保定市,city,,0,115.464806,38.873891
130681000000,130600000000,涿州市,county,,0,115.974422,39.485283
130681101000,130681000000,码头镇,township,,0,115.905,39.402
130681101001,130681101000,王庄村委会,village,220,0,115.911,39.411
130681101002,130681101000,李庄村委会,village,220,0,,
"""


@pytest.fixture
def write(tmp_path):
    """Write a file for an import; `encoding` lets a test produce a GBK file."""
    def make(name: str, text: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path
    return make




