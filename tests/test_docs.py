"""The docs: README short, every relative link in README and docs/ resolves, and README's
findings table says what the generated findings page says."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_readme_is_read_in_five_minutes():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+://", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_readme_findings_table_matches_the_findings_page():
    readme = (ROOT / "README.md").read_text()
    findings = (ROOT / "docs" / "findings.md").read_text()
    rows = re.findall(
        r"^\| [^|]+ \| (\w+) \| ([\d.]+) \| ([\d.]+) \| ([-+][\d.]+ \[[^]]+\]) \|$",
        readme,
        flags=re.M,
    )
    assert len(rows) >= 4
    for bias, teacher, student, d in rows:
        line = f"/ {bias}: teacher {teacher}, KD student {student} on bias-conflicting examples; "
        line += f"distillability D = {d}"
        assert line in findings, line
