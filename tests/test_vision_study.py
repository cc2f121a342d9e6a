"""The study on images end to end: a tiny ViT zoo on the colour-and-marker digits, evaluated
per bias type, analysed on image minimal pairs, and reported with attention over the image."""

import json
import re

import pytest

from interp.study import StudyConfig, run_study

TINY_VIT = "{n_layers: 2, d_model: 16, n_heads: 2, d_mlp: 32}"
SMALLER_VIT = "{n_layers: 1, d_model: 16, n_heads: 2, d_mlp: 32}"
TRAIN = "steps: 60, params: {batch_size: 32, lr: 3.0e-3}"
VISION_MANIFEST = f"""
version: 1
checkpoint_dir: ckpt
models:
  - {{id: bias, role: bias_model, task: digits,
     recipe: {{arch: features, loss: erm, params: {{features: "colour,marker"}}}}}}
  - {{id: teacher, role: teacher, task: digits, seeds: [0], tags: [vision-demo],
     recipe: {{arch: {TINY_VIT}, loss: erm, {TRAIN}}}}}
  - {{id: student, role: student, task: digits, seeds: [0], tags: [vision-demo],
     recipe: {{arch: {SMALLER_VIT}, loss: kd, teacher: teacher, fix: augment, {TRAIN}}}}}
  - {{id: alone, role: student, task: digits, seeds: [0], tags: [vision-demo],
     recipe: {{arch: {SMALLER_VIT}, loss: nokd+poe, bias_model: bias, {TRAIN}}}}}
pairs:
  - {{id: vit, teacher: teacher, student: student, baseline: alone,
     suites: [colour_conflicting, marker_conflicting], seeds: [0], tags: [vision-demo]}}
"""


@pytest.fixture(scope="module")
def vision_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    manifest = root / "checkpoints_manifest.yaml"
    manifest.write_text(VISION_MANIFEST)
    cfg = StudyConfig(
        manifest=str(manifest),
        tags=["vision-demo"],
        out=str(root / "reports"),
        n_pairs=12,
        bootstrap=50,
        jobs=1,
        min_separation=-1e9,  # every pair: the tiny models need not separate any
    )
    return run_study(cfg, progress=False)


def test_the_vision_study_reports_each_bias_type_and_analyses_image_pairs(vision_study):
    results = json.loads((vision_study.parent / "results.json").read_text())
    assert {r["bias_type"] for r in results["distillability"]} == {"colour", "marker"}
    validity = {row["model"]: row for row in results["validity"]}
    assert {"colour_gap", "marker_gap"} <= set(validity["teacher-s0"])
    (pair,) = results["pairs"]
    assert set(pair["suites"]) == {"colour_conflicting", "marker_conflicting"}
    part = pair["suites"]["colour_conflicting"]
    assert part["teacher"]["n_pairs"] == 12 and part["student"]["n_pairs"] == 12
    assert len(part["teacher"]["attribution"]) == 2 * (2 * 2 + 2)  # position units (auto)
    example = part["attention_example"]
    assert example["kind"] == "image" and len(example["renderings"]) == 2
    for rendering in example["renderings"]:
        assert len(rendering["image"]) == 12 and len(rendering["image"][0][0]) == 3
        for key in ("teacher_cls", "student_cls"):
            grid = rendering[key]
            assert len(grid) == 6 and all(len(row) == 6 for row in grid)
            # the [CLS] row sums to one over [CLS] and the 36 patches
            assert 0.0 < sum(map(sum, grid)) <= 1.0 + 1e-4
    clean, corrupt = (r["image"] for r in example["renderings"])
    assert clean != corrupt  # the two renderings of one digit differ in colour


def test_the_vision_report_embeds_the_images_and_links_nothing_outside(vision_study):
    page = vision_study.read_text(encoding="utf-8")
    assert "Attention of a circuit head and its student match over the image" in page
    assert page.count('"type":"image"') >= 2  # the digit of each pair, inline in the figures
    assert "[CLS] to patches" in page
    assert "<script src=" not in page
    markup = re.sub(r"<script.*?</script>", "", page, flags=re.DOTALL)
    assert not re.search(r"(src|href)=\"(https?:)?//", markup)
    assert "colour" in page and "marker" in page
