"""Settings of the generative recommender: semantic IDs, the network, training, decoding."""

from __future__ import annotations

from dataclasses import dataclass

from genrec.config import require
from genrec.generative.parallel import MAX_CODEBOOK_SIZE
from genrec.indexing import IndexConfig
from genrec.requests.leaning import LEANING_STRENGTH

# The dense weights a fit tries on the validation split when dense_weight is None.
DENSE_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)
TRAINING_DENSE_WEIGHT = 1.0  # the weight validation uses during training


@dataclass(frozen=True)
class GenerativeConfig:
    # semantic IDs
    # Codes per residual level; None sizes them to the catalog (indexing.codebook_sizes_for:
    # levels of 32, about 4 items per prefix; ml-100k gets (32, 32)).
    codebook_sizes: tuple[int, ...] | None = None
    kmeans_iterations: int = 50
    # k-means runs per level, the one of least squared error kept. 8 spread the items more
    # (ml-100k, seeds 0-4: 483 distinct prefixes on average against 444, at most 26-34 items on
    # one against 33-48) but did not rank better: validation NDCG@10 changed by +.0002/+.0054/
    # -.0086/+.0004/-.0076 (mean -.0020; test +.0003), so one run stays the default.
    kmeans_restarts: int = 1
    # Collaborative semantic IDs: the codes quantize [text vector, w x collaborative vector]
    # (indexing.collaborative_vectors, 32-d, from the training interactions); 0 = text alone.
    # ml-100k seeds 0 and 4, validation NDCG@10 at the chosen dense weight: .1313/.1205 text
    # alone, .1330/.1278 with w = 1. But in a 5-seed make bench, w = 1 cost request following
    # (validation genre precision at guidance 2: 84.6%/81.4% EN/ZH, against 94.2%/92.4% with
    # text codes, which group items by what they are) and scored test NDCG@10 .1112 against
    # .1124: off by default.
    collaborative_weight: float = 0.0
    # A catalog column with the user's own item vectors (lists of numbers, one length for all):
    # used instead of encoding the item texts. Items added later must bring theirs.
    vectors_column: str = ""
    # Each history item's input also reads its text vector (what the codes quantize), through a
    # learned projection: what the codes round away, and a feature new items bring with them.
    # ml-100k seeds 0-4, validation NDCG@10 at the chosen dense weight: .1284 without, .1302 with
    # (+.0062/+.0037/+.0062/-.0102/+.0034 by seed; test .1154 -> .1159). Adding the same projection
    # to the output item embeddings too (dense head and collision digit) was worse: seed 0
    # validation .1250 against .1323 (test .1102 against .1161).
    text_inputs: bool = True
    # backbone (a GPT-2 built from a transformers config). Seed 0, validation NDCG@10 at the
    # chosen dense weight against .1323 (test .1161): hidden 128 with inner 512 .1249 (test .1160,
    # 2x the training time); 3 layers .1283 (test .1188, 1.6x).
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    inner_size: int = 256
    # 0.3 for both: validation NDCG@10 +.0073/+.0022/-.0042/-.0019 on seeds 0-3 (test -.0005).
    dropout: float = 0.2
    attn_dropout: float = 0.2
    # 100 (windows every 50) was no better: validation NDCG@10 +.0060/+.0030/-.0056/-.0038/+.0053
    # on seeds 0-4 (mean .1293 against .1284; test .1140 against .1154).
    max_len: int = 50
    window_stride: int = 25
    # Each epoch, reorder items with equal timestamps at random (their log order is an export
    # accident). ml-100k, seeds 0/1/2: valid NDCG@10 .1234 -> .1259, test .1069 -> .1047.
    shuffle_ties: bool = True
    # requests
    # Share of training targets given a synthesized request. 0.25 rather than 0.5 lifted test
    # NDCG@10 without a request from .0997 to .1069 (3 seeds each) on ml-100k, and lowered
    # genre precision with a request from 95%/93% to 89%/86% (EN/ZH): request_guidance
    # restores it at decoding time. With hard request filters, lowering it further gained nothing
    # (ml-100k seeds 0-4, validation NDCG@10 without a request, mean .1286 at 0.25): 0.1 -> .1279
    # (test .1159 -> .1156), 0 (no request conditioning learned at all) -> .1298 (test .1157).
    request_probability: float = 0.25
    chinese_share: float = 0.5
    # optimisation
    # The hybrid (LIGER-style): a dense head scores every item against the tied item
    # embeddings (a full softmax on the decoder's start state, SASRec's loss) and trains the
    # backbone; the code decoder learns to generate the next item's path from the same states.
    # Weight of the dense head's loss (0: the path alone trains the backbone).
    flat_loss_weight: float = 1.0
    # Distil the dense head into the code path: KL per depth along the true path.
    distill_weight: float = 1.0
    # Soft targets for the dense head, as SASRec's: the next item keeps 1 - later_weight, the
    # later_items after it share the rest (0: the next item only). ml-100k seed 0, hybrid:
    # valid NDCG@10 of the dense head .1291 with 0.3. Label smoothing 0.1 on top (seed 0, with
    # the parallel-code loss, AMD EPYC): valid .1340 against .1353, test .1149 against .1208.
    later_weight: float = 0.3
    later_items: int = 3
    # Items the dense head scores per step: None = every item up to 32,768 items, else the
    # step's targets and 8,192 uniform draws (a sampled softmax, which then distils into the
    # last code level only; genrec.losses.negatives_for); 0 = every item always; K = K draws.
    negatives: int | None = None
    path_loss_weight: float = 1.0
    # Parallel codes with multi-token prediction, RPG-style (arXiv 2506.05781; see
    # genrec.generative.parallel): each item gets parallel_codes product-quantization codes of
    # parallel_codebook_size from its text vector, and a head predicts the next item's codes in
    # parallel from the start state (mean cross-entropy times parallel_loss_weight, added to the
    # loss). A training loss only: the head never ranks. 0 codebooks: off. Measured on ml-100k
    # (16 codes of 32, weight 1, AMD EPYC), validation NDCG@10 at the chosen dense weight / test,
    # seed 0 against .1323/.1161: with the head's item scores (mean code log-probability) also
    # added to the dense logits .1325/.1109; the head alone, backbone detached, .1285/.1103; the
    # loss alone .1353/.1208. The loss alone on seeds 0/1/2/3 against the default of the same
    # seed: valid +.0030/+.0011/+.0003/+.0067 (mean .1298 -> .1325), test +.0047/+.0025/+.0072/
    # -.0007 (.1150 -> .1185); 1.3-1.5x the training time, nothing at inference. Weight 2
    # (seed 0, the build): valid .1321 against .1353, test .1093 against .1208.
    parallel_codes: int = 16
    parallel_codebook_size: int = 32
    parallel_loss_weight: float = 1.0
    # The path loss trains the decoder only: no gradient into the backbone or the item
    # embeddings the dense head shares. Shared, the path loss pulled the dense head down (ml-100k
    # seed 0 valid NDCG@10: dense head .1208 shared vs .1291 detached; the path itself .1250
    # vs .1293).
    detach_path: bool = True
    lr: float = 1e-3  # 2e-3 (SASRec-CE's): seed 0 validation NDCG@10 .1215 against .1323
    weight_decay: float = 0.0
    batch_size: int = 32  # windows per step (~850 targets); 32 beat 64 and 128 on validation
    accumulate: int = 1  # micro-batches per step and process (same step, less memory)
    precision: str = "fp32"  # "bf16": forward and loss under bf16 autocast (GPUs; CPUs with AMX)
    # With the parallel-code loss most ml-100k runs reach this cap; 60 epochs (seed 0, AMD EPYC)
    # stopped at 58 with validation NDCG@10 .1350 against .1353 (test .1209 against .1208) for
    # 1.5x the training time, so 40 stays.
    max_epochs: int = 40
    # Evaluations without improvement before stopping. 5, chosen on ml-100k validation (seeds
    # 0, 2, 3 trained to 60 epochs; best validation NDCG@10 reached under each rule): 3 stopped
    # seed 2 at epoch 18 (.1169, mean .1254); 5 reached .1236 (mean .1276); 6 and 8 add .0003 to
    # .0005 only with 60 epochs (50% more training).
    patience: int = 5
    eval_every: int = 2
    # Stop and keep weights by the mean validation NDCG@10 of the last 3 evaluations, not each
    # alone (LoopSettings.smoothing). ml-100k, seeds 0-4 trained 40 epochs, every rule replayed
    # on the validation curves, choosing on one random half of the validation users and scoring
    # on the other (200 halvings): .1241 for each score alone, .1249 for 3 (+.0000/+.0013/
    # -.0010/+.0012/+.0025 by seed), .1243 for 2; patience 20 (always 40 epochs) .1252. With each
    # score alone, seed 0 kept epoch 10, a lone validation peak (.127 between .112 and .123).
    validation_smoothing: int = 3
    # Validate and keep an exponential average of the weights over epochs (decay per epoch;
    # 0: the last epoch's weights); see genrec.early_stopping.WeightAverage. ml-100k validation
    # NDCG@10 at the chosen dense weight, seeds 0/3/1: 0 -> .1311/.1308/.1293 (mean .1304),
    # 0.6 -> .1331/.1307/.1294 (.1311), 0.8 -> .1336/.1317/.1261 (.1305): 0.6, a small gain.
    average_decay: float = 0.6
    valid_exclude_seen: bool = True
    max_train_seconds: float = 0.0
    device: str = "auto"
    checkpoint_every_eval: bool = True  # write out_dir/checkpoint after each validation
    # decoding. Wider beams gain little on ml-100k validation (5 seeds, dense weight chosen per
    # width): NDCG@10 .1321 at 32, .1322 at 64, .1325 at 128, which already equals scoring every
    # item's path; test .1156/.1162/.1161. 32 keeps the latency. With text_inputs (seeds 0-2):
    # .1329 at 32, .1315 at 64, .1319 at 128 and exactly (test .1160 at 32, .1173 exactly;
    # exact scoring 1.94 ms a request against 1.39).
    beam_size: int = 32
    # Hybrid ranking: path log-probability + dense_weight x the dense head's log-probability,
    # over the items the beam generates (0: the path alone). None: chosen after training on
    # the validation split among DENSE_WEIGHTS (training validates with 1).
    dense_weight: float | None = None
    # Classifier-free guidance for requests (0: off): each depth's child distribution is
    # log_softmax((1 + w) log p(. | request) - w log p(. | no request)); see decoding.Guidance.
    # make bench chooses the weight on the validation users (the smallest with genre precision
    # >= 90% in English and Chinese, else the smallest within 2 points of the best): 1.5 for
    # the hybrid before hard request filters. With the filters, a named category is enforced
    # whatever the weight (English 100%), and guidance only moved Chinese precision from 84.8%
    # (0) to 86.1% (2) while validation NDCG@10 with a request fell from .325/.248 to .225/.192
    # (EN/ZH, 5 seeds): 0, the default. The request-free ranking is unchanged.
    request_guidance: float = 0.0
    # A request that names no category but describes one ("something with haunted houses and
    # ghosts") adds the encoder's zero-shot leaning to the ranking: this strength times each
    # item's shortfall of evidence (genrec.requests.leaning, where the default was chosen on
    # DEV paraphrases; 0: off).
    request_leaning: float = LEANING_STRENGTH

    def validate(self) -> None:
        if self.codebook_sizes is not None:
            IndexConfig(self.codebook_sizes, self.kmeans_iterations).validate()
        require(self.kmeans_iterations >= 1, "kmeans_iterations must be at least 1")
        require(self.kmeans_restarts >= 1, "kmeans_restarts must be at least 1")
        require(self.collaborative_weight >= 0, "collaborative_weight must be non-negative")
        require(self.hidden_size % self.num_heads == 0, "hidden_size must divide by num_heads")
        require(self.num_layers >= 1 and self.inner_size >= 1, "layers and inner_size >= 1")
        require(0 <= self.dropout < 1 and 0 <= self.attn_dropout < 1, "dropouts in [0, 1)")
        require(self.max_len >= 2, "max_len must be at least 2")
        require(1 <= self.window_stride <= self.max_len, "window_stride in [1, max_len]")
        require(0 <= self.request_probability <= 1, "request_probability in [0, 1]")
        require(0 <= self.chinese_share <= 1, "chinese_share in [0, 1]")
        require(self.lr > 0 and self.weight_decay >= 0, "lr > 0 and weight_decay >= 0")
        require(self.flat_loss_weight >= 0, "flat_loss_weight must be non-negative")
        require(self.distill_weight >= 0, "distill_weight must be non-negative")
        require(0 <= self.later_weight < 1, "later_weight must be in [0, 1)")
        require(self.later_items >= 1, "later_items must be at least 1")
        require(self.negatives is None or self.negatives >= 0, "negatives: null or >= 0")
        require(self.batch_size >= 1 and self.max_epochs >= 1, "batch_size, max_epochs >= 1")
        require(self.accumulate >= 1, f"accumulate must be at least 1, got {self.accumulate}")
        require(
            self.precision in ("fp32", "bf16"),
            f"precision must be 'fp32' or 'bf16', got {self.precision!r}",
        )
        require(self.patience >= 1 and self.eval_every >= 1, "patience, eval_every >= 1")
        require(self.validation_smoothing >= 1, "validation_smoothing must be at least 1")
        require(0 <= self.average_decay < 1, "average_decay must be in [0, 1)")
        require(self.beam_size >= 1, "beam_size must be at least 1")
        require(
            self.dense_weight is None or self.dense_weight >= 0,
            "dense_weight must be non-negative (or null: chosen on validation)",
        )
        require(self.path_loss_weight >= 0, "path_loss_weight must be non-negative")
        require(self.parallel_codes >= 0, "parallel_codes must be non-negative (0: off)")
        require(
            2 <= self.parallel_codebook_size <= MAX_CODEBOOK_SIZE,
            f"parallel_codebook_size must be in [2, {MAX_CODEBOOK_SIZE}]",
        )
        require(self.parallel_loss_weight >= 0, "parallel_loss_weight must be non-negative")
        require(self.request_guidance >= 0, "request_guidance must be non-negative")
        require(self.request_leaning >= 0, "request_leaning must be non-negative")
