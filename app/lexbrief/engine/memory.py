"""The one formula for a model's KV cache, shared by the engine (how many sequences fit), the
hardware plan (lexbrief.model_files.fit) and the bench: llama.cpp keeps, for every layer and
every cell (a token position of a sequence), the keys and the values, as f16 by default."""

from __future__ import annotations

KV_BYTES = 2  # f16 K and V


def kv_bytes_per_cell(n_head_kv: int, head_dim_k: int, head_dim_v: int,
                      bytes_per_value: int = KV_BYTES) -> int:
    """One layer's K and V for one cell."""
    return n_head_kv * (head_dim_k + head_dim_v) * bytes_per_value
