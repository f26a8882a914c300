"""docs/pos-integration.md stays true: its curl examples run, in order, against a real service and sandbox, and
each documented answer is a subset of the real one (strings with "…" and ids that change per run excepted)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "pos-integration.md"
BLOCK = re.compile(r"```(sh|json)\n(.*?)```", re.S)
MARK = "=====rxlane-doc-step====="


def examples() -> list[tuple[str, str | None]]:
    blocks = BLOCK.findall(DOC.read_text("utf-8"))
    steps = []
    for i, (lang, body) in enumerate(blocks):
        if lang == "sh":
            answer = blocks[i + 1][1] if i + 1 < len(blocks) and blocks[i + 1][0] == "json" else None
            steps.append((body, answer))
    return steps


def subset(doc, real, path="") -> list[str]:
    """Where the documented answer disagrees with the real one."""
    if isinstance(doc, dict):
        if not isinstance(real, dict):
            return [f"{path}: expected an object"]
        return [p for k, v in doc.items() for p in
                ([f"{path}.{k}: missing"] if k not in real else subset(v, real[k], f"{path}.{k}"))]
    if isinstance(doc, list):
        if not isinstance(real, list) or len(real) < len(doc):
            return [f"{path}: expected a list of at least {len(doc)}"]
        return [p for i, v in enumerate(doc) for p in subset(v, real[i], f"{path}[{i}]")]
    if isinstance(doc, str) and "…" in doc:
        return []
    return [] if doc == real else [f"{path}: documented {doc!r}, got {real!r}"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_every_documented_example_runs_and_answers_as_documented(rx):
    _, http = rx
    steps = examples()
    assert len(steps) >= 8
    script = ["set -e"]
    for body, _ in steps:
        body = body.replace("RX=http://127.0.0.1:8600", f"RX={http.base}")
        script += [f"echo '{MARK}'", body]
    done = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    outputs = done.stdout.split(MARK + "\n")[1:]
    assert len(outputs) == len(steps)
    problems = []
    for (body, answer), out in zip(steps, outputs, strict=True):
        if answer is None:
            continue
        real = json.loads(out)
        problems += [f"{body.splitlines()[0]}: {p}" for p in subset(json.loads(answer), real)]
    assert not problems, "\n".join(problems)
