"""Perturbation files written by an LLM: ``lmms-robust perturbations write`` (PROTOCOL.md §2)."""

from lmms_robust.perturbations.writer import (
    PromptTemplate,
    WriteResult,
    WriterError,
    check_reply,
    load_items,
    load_split,
    plan,
    write_perturbations,
)

__all__ = ["PromptTemplate", "WriteResult", "WriterError", "check_reply", "load_items", "load_split", "plan",
           "write_perturbations"]
