"""Which of the three modes this pytest process runs in: read once from the configuration, by the adapter
that registers the roles (a role never asks)."""

from __future__ import annotations

import enum

import pytest


class Mode(enum.Enum):
    SINGLE_PROCESS = "single process"
    XDIST_CONTROLLER = "xdist controller"
    XDIST_WORKER = "xdist worker"


def mode_of(config: pytest.Config) -> Mode:
    if hasattr(config, "workerinput"):
        return Mode.XDIST_WORKER
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") != "no":
        return Mode.XDIST_CONTROLLER
    return Mode.SINGLE_PROCESS
