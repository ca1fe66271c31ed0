"""One model, its optimizer and its update step (`Trainer`), and the stream of training
chunks (`ChunkStream`): what `train_model` and the editor's background learner share."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from charcomplete.core.config import LN2, ModelConfig
from charcomplete.core.errors import CharcompleteError
from charcomplete.learn.distributed import SINGLE, Distributed
from charcomplete.learn.plan import LR
from charcomplete.model.network import CharModel, Hidden, detach_hidden, weights_from_numpy, weights_to_numpy


class Trainer:
    """One model, its AdamW optimizer and the step that updates them."""

    def __init__(
        self,
        config: ModelConfig,
        weights: dict[str, np.ndarray] | None = None,
        lr: float = LR,
        weight_decay: float = 0.01,
        clip: float = 1.0,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        dist: Distributed = SINGLE,
    ):
        self.config = config
        self.device = torch.device(device)
        self.dist = dist
        self.module = CharModel(config)
        if weights is not None:
            weights_from_numpy(self.module, weights)
        self.module.to(self.device)
        # `model` is what the update runs through: DDP averages gradients across ranks.
        self.model = self.module
        if dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.module, device_ids=device_ids)
        self.base_lr = lr
        self.clip = clip
        self.precision = precision
        # Decay matrices only: decaying biases and embeddings buys nothing here.
        decay = [p for n, p in self.module.named_parameters() if p.dim() >= 2 and not n.startswith("embed")]
        other = [p for n, p in self.module.named_parameters() if not (p.dim() >= 2 and not n.startswith("embed"))]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}],
            lr=lr,
            betas=(0.9, 0.99),
        )

    def autocast(self):
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, x: torch.Tensor, y: torch.Tensor, hidden: Hidden | None) -> tuple[float, Hidden]:
        """One update on a (B, T) chunk; returns the loss in nats and the carried state."""
        self.model.train()
        with self.autocast():
            _, hidden, loss = self.model(x, hidden, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Recurrent nets occasionally produce exploding gradients; clipping keeps one bad
        # chunk from undoing what was learned.
        torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.clip)
        self.optimizer.step()
        return loss.item(), detach_hidden(hidden)

    @torch.inference_mode()
    def evaluate(self, data: np.ndarray, seq_len: int = 256, lanes: int = 32) -> float:
        """Bits per character over `data` (summed over all ranks' shards), read in `lanes` parallel streams."""
        total, count = self._loss_sum(data, seq_len, lanes)
        total, count = self.dist.sum(total, count)
        return total / count / LN2 if count else float("nan")

    def _loss_sum(self, data: np.ndarray, seq_len: int, lanes: int) -> tuple[float, int]:
        if len(data) < 2:
            return 0.0, 0
        self.module.eval()
        lanes = max(1, min(lanes, (len(data) - 1) // seq_len or 1))
        length = (len(data) - 1) // lanes
        tokens = torch.from_numpy(data[: lanes * length + 1].astype(np.int64)).to(self.device)
        inputs = tokens[:-1].view(lanes, length)
        targets = tokens[1:].view(lanes, length)
        hidden = None
        total, count = 0.0, 0
        for start in range(0, length, seq_len):
            x = inputs[:, start : start + seq_len]
            y = targets[:, start : start + seq_len]
            with self.autocast():
                logits, hidden, _ = self.module(x, hidden)
            loss = torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"
            )
            total += loss.item()
            count += y.numel()
        self.module.train()
        return total, count

    def weights(self) -> dict[str, np.ndarray]:
        return weights_to_numpy(self.module)

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Replace the model's weights (the optimizer's state is kept).

        Into the bare module, never `self.model`: under DDP that is a wrapper whose
        parameter names all start with "module.", so the saved names would not match."""
        weights_from_numpy(self.module, weights)

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """AdamW state as flat float32 arrays, for a safetensors file (no pickle)."""
        flat: dict[str, np.ndarray] = {}
        for index, state in self.optimizer.state_dict()["state"].items():
            for key, value in state.items():
                array = torch.as_tensor(value).detach().cpu().float().numpy()
                flat[f"{index}.{key}"] = np.asarray(array, dtype=np.float32)
        return flat

    def load_optimizer_state(self, flat: dict[str, np.ndarray]) -> None:
        current = self.optimizer.state_dict()
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, array in flat.items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = torch.from_numpy(np.array(array))
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        for index, entry in state.items():
            if index >= len(params) or ("exp_avg" in entry and entry["exp_avg"].shape != params[index].shape):
                raise CharcompleteError(
                    "the saved optimizer state does not match this model; train with --from instead of --resume"
                )
            for name, tensor in entry.items():
                entry[name] = tensor.to(self.device) if name != "step" else tensor.reshape(())
        current["state"] = state
        self.optimizer.load_state_dict(current)


class ChunkStream:
    """Cuts a byte array into `batch` parallel lanes and serves consecutive (x, y)
    chunks of `seq_len`, so the hidden state can be carried from chunk to chunk."""

    def __init__(
        self, data: np.ndarray, batch: int, seq_len: int, device: torch.device, seed: int = 0, skip: int = 0
    ):
        if len(data) < 3:
            raise CharcompleteError("there is too little text to train on (fewer than 3 bytes)")
        self.seq_len = max(2, min(seq_len, (len(data) - 1) // 2))
        self.batch = max(1, min(batch, (len(data) - 1) // self.seq_len))
        self.data = torch.from_numpy(np.require(data, np.uint8, ["C", "W"]))  # 1 byte per character in memory
        self.device = device
        self.generator = np.random.default_rng(seed)
        self.epoch = 0
        self._start_epoch()
        # A resumed run goes on from where the lanes had got to, rather than training the
        # start of every lane again in every sitting of a long run.
        self.position = (skip % self.chunks_per_epoch) * self.seq_len

    def _start_epoch(self) -> None:
        # A random offset each epoch moves the chunk boundaries, so the model does not
        # always see the same text at the start of a chunk.
        usable = len(self.data) - 1
        self.lane_len = usable // self.batch
        offset = int(self.generator.integers(0, usable - self.lane_len * self.batch + 1))
        span = self.data[offset : offset + self.lane_len * self.batch + 1]
        self.inputs = span[:-1].view(self.batch, self.lane_len)
        self.targets = span[1:].view(self.batch, self.lane_len)
        self.position = 0

    @property
    def chunks_per_epoch(self) -> int:
        return max(1, self.lane_len // self.seq_len)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """(x, y, new_epoch): new_epoch says the carried hidden state must be reset."""
        new_epoch = False
        if self.position + self.seq_len > self.lane_len:
            self.epoch += 1
            self._start_epoch()
            new_epoch = True
        p = self.position
        x = self.inputs[:, p : p + self.seq_len].to(self.device, torch.int64, non_blocking=True)
        y = self.targets[:, p : p + self.seq_len].to(self.device, torch.int64, non_blocking=True)
        self.position += self.seq_len
        return x, y, new_epoch
