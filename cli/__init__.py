"""Click commands of the `hipart` CLI (installed as the package hipart_cli). Parsing only; work is in hipart."""
