"""The documentation kept true: every relative link in README.md and docs/*.md leads to a file that exists (and, with
an ``#anchor``, to a heading of that file), and every ``hipart ...`` command line in README.md's code blocks names a
command the CLI has and only options that command has."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from hipart_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")  # [text](target), images excluded
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


# ---------------------------------------------------------------------------------------------------- links
def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces
    to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file (repeated headings get -1, -2, ... as on GitHub)."""
    text = FENCE.sub("", path.read_text())
    seen: dict[str, int] = {}
    out = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if not m:
            continue
        base = github_anchor(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def relative_links(path: Path) -> list[str]:
    """Link targets outside code blocks that are not web addresses or mail links."""
    text = FENCE.sub("", path.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def broken_links(path: Path) -> list[str]:
    bad = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading '#{anchor}' in {dest.name}")
    return bad


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(path):
    assert broken_links(path) == []


def test_the_docs_the_readme_points_at_exist():
    named = {Path(t.partition("#")[0]).name for t in relative_links(ROOT / "README.md")}
    assert {"design.md", "results.md", "errors.md", "speed.md"} <= named


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n\n## Some `code` (here)\n")
    doc = tmp_path / "b.md"
    doc.write_text("[ok](a.md) [ok](a.md#some-code-here) [web](https://x.org/y) `[no](code.md)`\n"
                   "[gone](missing.md) [bad anchor](a.md#nope)\n```\n[in code](nowhere.md)\n```\n")
    assert broken_links(doc) == ["missing.md: no such file", "a.md#nope: no heading '#nope' in a.md"]


# ------------------------------------------------------------------------------------------------- commands
def command_lines(markdown: str) -> list[str]:
    """Every `hipart ...` command in the markdown's code blocks: comments dropped, lines continued with a
    backslash joined, chains (&&, ;) split."""
    out = []
    for block in FENCE.findall(markdown):
        block = re.sub(r"\\\n\s*", " ", block)
        for line in block.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            for part in re.split(r"&&|;", line):
                part = part.strip()
                if part.startswith("hipart ") or part == "hipart":
                    out.append(part)
    return out


def command_errors(line: str) -> list[str]:
    """What in one command line the CLI does not have: an unknown (sub)command, or an option that its command does
    not take. Placeholders (FILE, a|b alternatives of values, [optional] brackets) are read as values."""
    words = line.split()[1:]
    errors = []
    ctx = click.Context(cli)
    targets: list[click.Command] = [cli]
    i = 0
    while i < len(words) and all(isinstance(t, click.Group) for t in targets):
        word = words[i].strip("[]")
        if word.startswith("-"):
            break
        found = []
        for t in targets:
            for name in word.split("|"):  # `bench speed|ablation`: each alternative must exist
                sub = t.get_command(ctx, name)
                if sub is None:
                    errors.append(f"'{name}' is not a command of '{t.name}'")
                else:
                    found.append(sub)
        if not found:
            return errors
        targets = found
        i += 1
    groups = [t.name for t in targets if isinstance(t, click.Group)]
    if groups:
        return errors + [f"'{g}' needs a subcommand" for g in groups]
    for word in words[i:]:
        for option in OPTION.findall(word):
            if not option.startswith("--") and len(option) > 2:
                continue  # a value such as -1 or a word with a hyphen
            for t in targets:
                names = {o for p in t.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}
                names |= set(t.get_help_option_names(ctx))
                if option not in names:
                    errors.append(f"'hipart ... {t.name}' has no option {option}")
    return errors


README_COMMANDS = command_lines((ROOT / "README.md").read_text())


def test_the_readme_shows_hipart_commands():
    assert len(README_COMMANDS) >= 20


@pytest.mark.parametrize("line", README_COMMANDS)
def test_every_readme_command_uses_options_the_cli_has(line):
    assert command_errors(line) == []


def test_a_command_or_option_the_cli_lacks_is_found():
    assert command_errors("hipart train all --data D --out RUN") == []
    assert command_errors("hipart bench speed|codebook --run R") == []
    assert command_errors("hipart train mixste --frames 27 --input hier") == []  # a baseline's own options
    assert command_errors("hipart train all --no-such-option 3") == ["'hipart ... all' has no option --no-such-option"]
    assert command_errors("hipart bench speed|nosuch") == ["'nosuch' is not a command of 'bench'"]
    assert command_errors("hipart nosuch --x") == ["'nosuch' is not a command of 'hipart'"]
    assert command_errors("hipart data") == ["'data' needs a subcommand"]
    assert command_errors("hipart bench codebook|speed --batch 1") == ["'hipart ... codebook' has no option --batch"]
