"""What every command shares: turning HipartError into a one-line message, and honest 'not yet' answers."""

from __future__ import annotations

import sys
from typing import Any

import click

from hipart.errors import HipartError

# Commands whose implementation has not landed yet, with the issue that tracks each.
PENDING_ISSUE = {
    "bench occlusion": 11, "bench speed": 11, "bench ablation": 11, "bench densify": 11,
    "bench codebook": 11, "bench all": 11,
    "report": 11,
}


class HipartGroup(click.Group):
    """A group that prints HipartError as 'Error: ...' (exit 1) instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HipartError as exc:
            raise click.ClickException(str(exc)) from None


def not_implemented(name: str) -> None:
    click.echo(f"hipart {name}: not implemented yet (tracked in issue #{PENDING_ISSUE[name]}); nothing was done.",
               err=True)
    sys.exit(2)


def pending_command(group: click.Group, name: str, help_text: str) -> None:
    """Register a placeholder subcommand that accepts any arguments and refuses clearly with exit code 2."""
    full = f"{group.name} {name}" if group.name and group.name != "hipart" else name

    @group.command(name, help=f"{help_text} [not implemented yet: issue #{PENDING_ISSUE[full]}]",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def _pending() -> None:
        not_implemented(full)
