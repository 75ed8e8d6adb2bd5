"""GenerativeRecommender: the product's model behind the common ``Recommender`` interface.

fit: encode item texts -> semantic IDs -> train the generator (:mod:`genrec.generative.trainer`)
on every position of the users' sequences, with early stopping on the harness's validation.
recommend: encode the request, run the backbone once over the history, decode the top K items by
catalog-constrained beam search (or, with ``with_decoding(exact=True)``, score every item's
path: the brute-force reference).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import resource
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from transformers import GPT2Model

from genrec import distributed
from genrec.data.split import SequenceSplit
from genrec.early_stopping import (
    LoopSettings,
    early_stopping_loop,
    load_checkpoint,
    save_checkpoint,
)
from genrec.generative.config import DENSE_WEIGHTS, TRAINING_DENSE_WEIGHT, GenerativeConfig
from genrec.generative.decoding import Guidance, hybrid_search, score_all_hybrid
from genrec.generative.growth import extend_network
from genrec.generative.model import GenerativeNet, NetworkShape
from genrec.generative.parallel import code_stats, parallel_codes
from genrec.generative.trainer import GeneratorTrainer
from genrec.generative.training_requests import TrainingRequests
from genrec.indexing import (
    E5Encoder,
    IndexConfig,
    SemanticIndex,
    TextEncoder,
    codebook_sizes_for,
    collaborative_vectors,
)
from genrec.kmeans import unit_vectors
from genrec.recommender import Recommender, TopKQuery, Validate
from genrec.training import process_info, resolve_device, seed_everything
from genrec.vectors import KEY, column_vectors, encode_items


class GenerativeRecommender(Recommender):
    kind = "generative"
    config_class = GenerativeConfig
    config: GenerativeConfig
    # models saved before guidance existed decode as they did
    saved_config_defaults: ClassVar[dict[str, Any]] = {
        "request_guidance": 0.0, "dense_weight": 0.0, "collaborative_weight": 0.0,
        "request_leaning": 0.0, "text_inputs": False, "parallel_codes": 0,
    }  # fmt: skip

    def __init__(self, config: GenerativeConfig | None = None) -> None:
        super().__init__(config)
        self.net: GenerativeNet | None = None
        self.index: SemanticIndex | None = None
        self.item_vectors = np.zeros((0, 0), dtype=np.float32)
        self.item_vector_keys = np.zeros(0, dtype=KEY)  # text keys (genrec.vectors); or none
        self._encoder: TextEncoder | None = None
        self.device = torch.device("cpu")
        self.checkpoint_root: Path | None = None  # where to write and resume checkpoints
        self.exact_decoding = False  # see with_decoding

    # ----------------------------------------------------------------------- parts
    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = E5Encoder()
        return self._encoder

    def item_texts(self) -> list[str]:
        catalog = self.require_catalog()
        return [catalog.text(i) for i in range(len(catalog))]

    def _item_vectors(self, progress: bool) -> np.ndarray:
        """The catalog's ``vectors_column``, or the encoder's vectors of the item texts: from
        the model folder being trained into (a retrain), the vector cache, or encoding (split
        across ranks under torchrun) of what neither holds."""
        catalog = self.require_catalog()
        if self.config.vectors_column:
            self.item_vector_keys = np.zeros(0, dtype=KEY)
            return column_vectors(catalog.items, self.config.vectors_column)
        saved = None
        root = self.checkpoint_root
        if root is not None and (root / "item_vector_keys.npy").is_file():
            with contextlib.suppress(OSError, ValueError):
                saved = (np.load(root / "item_vector_keys.npy"), np.load(root / "item_vectors.npy"))
        show = progress and distributed.current().main
        vectors, self.item_vector_keys = encode_items(
            self.encoder, self.item_texts(), saved=saved, progress=show
        )
        return vectors

    def _build_net(self, shape: NetworkShape) -> GenerativeNet:
        assert self.index is not None
        codes = torch.from_numpy(self.index.codes)
        trie = self.index.tensors(self.device)
        return GenerativeNet(shape, codes, trie, self._text_inputs(shape)).to(self.device)

    def _text_inputs(self, shape: NetworkShape) -> torch.Tensor | None:
        """The item vectors as a float32 tensor sharing their memory, for a network of
        ``shape`` that reads them (else None)."""
        if not shape.text_dim:
            return None
        return torch.from_numpy(np.ascontiguousarray(self.item_vectors, np.float32))

    # -------------------------------------------------------------------- training
    def _fit(self, split: SequenceSplit, *, seed: int, progress: bool, validate: Validate) -> None:
        cfg = self.config
        generator = seed_everything(seed)
        rng = np.random.default_rng(seed)
        self.device = resolve_device(cfg.device)
        catalog = self.require_catalog()
        self.item_vectors = self._item_vectors(progress)
        sizes = tuple(cfg.codebook_sizes or codebook_sizes_for(len(catalog)))
        sharding = distributed.current()
        index_started = time.perf_counter()
        if sharding.main:  # every rank must decode the same codes: rank 0's, whatever the CPU
            self.index = SemanticIndex.fit(
                self._code_vectors(split, seed),
                IndexConfig(sizes, cfg.kmeans_iterations, seed, cfg.kmeans_restarts),
            )
        self.index = sharding.broadcast(self.index if sharding.main else None)
        index_seconds = time.perf_counter() - index_started
        index_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # so far
        parallel = sharding.broadcast(self._parallel_codes(seed) if sharding.main else None)
        requests = TrainingRequests.build(
            split, catalog.categories, self.encoder.encode_requests, cfg, self.nouns
        )
        shape = NetworkShape.from_config(
            cfg,
            codebook_sizes=sizes,
            n_items=len(catalog),
            nodes_per_depth=tuple(self.index.nodes_per_depth),
            request_dim=int(requests.table.shape[1]),
            text_dim=int(self.item_vectors.shape[1]) if cfg.text_inputs else 0,
            parallel_codes=0 if parallel is None else parallel.shape[1],
            parallel_codebook_size=0 if parallel is None else cfg.parallel_codebook_size,
        )
        self.net = net = self._build_net(shape)
        trainer = GeneratorTrainer(net, split, requests, cfg, seed=seed, generator=generator,
                                   rng=rng, device=self.device,
                                   parallel_codes=parallel)  # fmt: skip
        root = self.checkpoint_root
        save = partial(save_checkpoint, root, net) if root is not None and sharding.main else None
        loop_state, best = load_checkpoint(root, net) if root is not None else (None, None)
        state = early_stopping_loop(
            net,
            trainer.run_epoch,
            partial(validate, self),
            LoopSettings(
                cfg.max_epochs,
                cfg.patience,
                cfg.eval_every,
                cfg.max_train_seconds,
                cfg.average_decay,
                cfg.validation_smoothing,
            ),
            desc="generative",
            progress=progress,
            state=loop_state,
            best_weights=best,
            on_evaluated=save,
        )
        sweep = self._choose_dense_weight(validate)
        self.fit_info = {
            "epochs": state.epoch,
            "best_epoch": state.best_epoch,
            "best_valid_ndcg@10": state.best_ndcg,
            "train_seconds": round(state.train_seconds, 3),
            "train_windows": len(trainer.inputs),
            "train_targets": trainer.target_count,
            "negatives": trainer.negatives,  # sampled-softmax draws per step (0: full softmax)
            "parameters": sum(p.numel() for p in net.parameters()),
            "device": str(self.device),
            **process_info(sharding),
            "seed": seed,
            "requests": requests.kind,
            "index": self.index.stats(),
            "parallel_codes": code_stats(parallel, shape.parallel_codebook_size),
            "index_seconds": round(index_seconds, 3),
            "index_peak_mb": round(index_peak_mb, 1),
            "dense_weight": self.config.dense_weight,
            "valid_ndcg@10_by_dense_weight": sweep,
            "curve": state.curve,
        }

    def _parallel_codes(self, seed: int) -> np.ndarray | None:
        """The items' parallel codes [N, M] (genrec.generative.parallel), or None where the
        config has none; vectors narrower than ``parallel_codes`` get one codebook a column."""
        cfg = self.config
        if cfg.parallel_codes == 0:
            return None
        books = min(cfg.parallel_codes, self.item_vectors.shape[1])
        return parallel_codes(
            self.item_vectors, books, cfg.parallel_codebook_size, cfg.kmeans_iterations, seed
        )

    def _code_vectors(self, split: SequenceSplit, seed: int) -> np.ndarray:
        """What the semantic IDs quantize: the item text vectors, fused with collaborative
        vectors from the training interactions when ``collaborative_weight`` > 0."""
        weight = self.config.collaborative_weight
        if weight == 0:
            return self.item_vectors
        text = unit_vectors(self.item_vectors)
        collab = collaborative_vectors(list(split.train.values()), len(text), seed=seed)
        return np.concatenate([text, weight * collab], axis=1)

    def _choose_dense_weight(self, validate: Validate) -> dict[str, float]:
        """With ``dense_weight`` None, keep the weight of :data:`DENSE_WEIGHTS` that scores best
        on ``validate`` (the smallest among equals); returns each weight's score."""
        if self.config.dense_weight is not None:
            return {}
        scores: dict[str, float] = {}
        best, best_score = DENSE_WEIGHTS[0], -np.inf
        for weight in DENSE_WEIGHTS:
            view = copy.copy(self)
            view.config = dataclasses.replace(self.config, dense_weight=weight)
            scores[str(weight)] = score = float(validate(view))
            if score > best_score:
                best, best_score = weight, score
        self.config = dataclasses.replace(self.config, dense_weight=best)
        return scores

    @property
    def dense_weight(self) -> float:
        """The hybrid ranking's weight on the dense head (see GenerativeConfig.dense_weight)."""
        weight = self.config.dense_weight
        return TRAINING_DENSE_WEIGHT if weight is None else weight

    # ------------------------------------------------------------------- inference
    def leaning_strength(self) -> float:
        return self.config.request_leaning

    def conditioning_needs_a_category(self) -> bool:
        # Learned from synthesized requests, all of which name a category: on ml-100k
        # validation (seed 0, leaning 100) reading the other requests too gave NDCG@10 .1077/
        # .0959 (EN/ZH) on requests that name nothing (.1201/.1147 without; .1320 with no
        # request) and described-genre precision .784 against .774, category requests the same.
        return self.fit_info.get("requests") == "synthesized" and self.leaning_strength() > 0

    def _require_net(self) -> GenerativeNet:
        if self.net is None:
            raise RuntimeError("GenerativeRecommender is not fitted; call fit() or load()")
        return self.net

    def start_states(
        self,
        histories: Sequence[np.ndarray],
        requests: Sequence[str] | None,
        net: GenerativeNet | None = None,
        *,
        library_forward: bool = False,
    ) -> torch.Tensor:
        """Decoder start states [B, D] for histories and optional request texts (by ``net``,
        default this model's). ``library_forward`` runs the backbone through ``transformers``
        even where genrec's own inference forward would (the benchmark's comparison)."""
        net = net if net is not None else self._require_net()
        hidden = self._history_states(histories, net, library_forward)
        return net.start_state(hidden, self._request_vectors(requests, net))

    def _history_states(
        self, histories: Sequence[np.ndarray], net: GenerativeNet, library_forward: bool
    ) -> torch.Tensor:
        """The backbone's hidden state [B, D] after each history's last item."""
        n_items = net.shape.n_items
        max_len = self.config.max_len
        seqs = []
        for hist in histories:
            seq = np.asarray(hist, dtype=np.int64)
            seqs.append(np.concatenate([[n_items], seq]) if len(seq) < max_len else seq[-max_len:])
        # Right padding only up to the longest row: positions are counted from the left, so
        # the states at real positions do not depend on the padded width.
        ids = torch.zeros(len(seqs), max((len(s) for s in seqs), default=1), dtype=torch.long)
        last = torch.zeros(len(seqs), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.from_numpy(seq + 1)
            last[row] = len(seq) - 1
        return net.encode_last(
            ids.to(self.device), last.to(self.device), library_forward=library_forward
        )

    def _request_vectors(
        self, requests: Sequence[str] | None, net: GenerativeNet
    ) -> torch.Tensor | None:
        """Encoded requests [B, R] (zero rows for empty ones), or None when all are empty."""
        if requests is None or not any(r.strip() for r in requests):
            return None
        texts = [r.strip() for r in requests]
        wanted = [t for t in texts if t]
        encoded = dict(zip(wanted, self.encoder.encode_requests(wanted), strict=True))
        dim = net.request_proj.in_features
        return torch.from_numpy(
            np.stack([encoded[t] if t else np.zeros(dim, np.float32) for t in texts])
        ).to(self.device)

    def with_decoding(
        self, *, beam_size: int | None = None, exact: bool = False
    ) -> GenerativeRecommender:
        """The same model (weights shared) decoding with another beam width, or with ``exact``
        scoring every item's full path instead of beam search: the brute-force reference, the
        same scores without pruning, at much more work."""
        view = copy.copy(self)
        if beam_size is not None:
            view.config = dataclasses.replace(self.config, beam_size=beam_size)
        view.exact_decoding = exact
        return view

    def _top_k(self, query: TopKQuery) -> tuple[np.ndarray, np.ndarray]:
        net = self._require_net()
        k, allowed = query.k, query.allowed
        with torch.no_grad():
            hidden = self._history_states(query.histories, net, False)
            vectors = self._request_vectors(query.requests, net)
            state = net.start_state(hidden, vectors)
            weight = self.config.request_guidance
            guidance = None
            if vectors is not None and weight > 0:  # guided towards the request
                guidance = Guidance(net.start_state(hidden, None), weight)
            mask = torch.from_numpy(allowed).to(self.device) if allowed is not None else None
            prior = None
            if query.leaning is not None:
                prior = torch.from_numpy(query.leaning).to(self.device)
            if self.exact_decoding:
                scores_all = score_all_hybrid(net, state, self.dense_weight, guidance)
                if prior is not None:
                    scores_all = scores_all + prior
                if mask is not None:
                    scores_all = scores_all.masked_fill(~mask, float("-inf"))
                scores, items = scores_all.topk(k, dim=1)
                items = items.masked_fill(torch.isneginf(scores), -1)
            else:
                items, scores = hybrid_search(
                    net, state, mask, k, self.config.beam_size, self.dense_weight, guidance, prior
                )
        return items.cpu().numpy().astype(np.int64), scores.cpu().numpy().astype(np.float64)

    def add_items(self, items: pd.DataFrame) -> np.ndarray:
        """Add catalog items after training: they get semantic IDs from the stored centroids
        and start from the embeddings of the items sharing their prefix. The generator is not
        retrained (fine-tuning on feedback can refine them). Returns their code tuples."""
        net = self._require_net()
        assert self.index is not None
        catalog = self.require_catalog().extended(items)
        old_count = len(self.item_vectors)
        if self.config.vectors_column:
            new_rows = catalog.items.iloc[old_count:]
            dim = self.item_vectors.shape[1]
            vectors = column_vectors(new_rows, self.config.vectors_column, dim=dim)
        else:
            texts = [catalog.text(i) for i in range(old_count, len(catalog))]
            vectors, keys = encode_items(self.encoder, texts, progress=False)
            self.item_vector_keys = np.concatenate([self.item_vector_keys, keys])
        codes = self.index.add_items(vectors)
        self.item_vectors = np.concatenate([self.item_vectors, vectors.astype(np.float32)])
        self.catalog = catalog
        self.net = (
            extend_network(
                net,
                torch.from_numpy(self.index.codes),
                self.index.tensors(self.device),
                self._text_inputs(net.shape),
            )
            .to(self.device)
            .eval()
        )
        return codes

    # ---------------------------------------------------------------------- persist
    def _save_state(self, path: Path) -> None:
        net = self._require_net()
        assert self.index is not None
        net.backbone.save_pretrained(path / "backbone")
        heads = {
            k: v.contiguous().cpu()
            for k, v in net.state_dict().items()
            if not k.startswith("backbone.")
        }
        save_file(heads, str(path / "heads.safetensors"))
        self.index.save(path)
        np.save(path / "item_vectors.npy", self.item_vectors)
        if len(self.item_vector_keys) == len(self.item_vectors):
            np.save(path / "item_vector_keys.npy", self.item_vector_keys)
        (path / "network.json").write_text(
            json.dumps(dataclasses.asdict(net.shape), indent=2) + "\n"
        )

    def _load_state(self, path: Path) -> None:
        self.index = SemanticIndex.load(path)
        self.item_vectors = np.load(path / "item_vectors.npy")
        keys = path / "item_vector_keys.npy"
        self.item_vector_keys = np.load(keys) if keys.is_file() else np.zeros(0, dtype=KEY)
        raw = json.loads((path / "network.json").read_text())
        raw["codebook_sizes"] = tuple(raw["codebook_sizes"])
        raw["nodes_per_depth"] = tuple(raw["nodes_per_depth"])
        self.device = torch.device("cpu")
        net = self._build_net(NetworkShape(**raw))
        # Models saved before the fused GELU load with it too (the same function).
        net.backbone = GPT2Model.from_pretrained(
            path / "backbone", activation_function="gelu_pytorch_tanh"
        )
        missing, unexpected = net.load_state_dict(
            load_file(str(path / "heads.safetensors")), strict=False
        )
        if unexpected or any(not k.startswith("backbone.") for k in missing):
            raise ValueError(f"{path}: weights do not match the network ({missing}, {unexpected})")
        self.net = net.to(self.device).eval()
