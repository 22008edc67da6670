"""What every command shares: turning HipartError into a one-line message."""

from __future__ import annotations

from typing import Any

import click

from hipart.errors import HipartError


class HipartGroup(click.Group):
    """A group that prints HipartError as 'Error: ...' (exit 1) instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HipartError as exc:
            raise click.ClickException(str(exc)) from None
