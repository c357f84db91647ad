"""llama.cpp's compute buffer: the graph it reserves, run through a copy of ggml's graph allocator.

llama.cpp sizes each device's compute buffer by building the graph of one
micro-batch (n_ubatch tokens, every token an output, the whole KV cache in
view) and handing it to ggml-alloc, which places every intermediate tensor in
one buffer as the graph runs: a tensor is freed when its last consumer has run,
an element-wise op may write into its input's memory (``ggml_op_can_inplace``),
and a new tensor takes the best-fitting free block, else the end of the buffer.
The buffer's size is the highest end any tensor reached, fragmentation
included, so it is not the largest set of live tensors: llama.cpp's log line
prints this number. This module builds the same sequence of tensors for a
decoder layer (llama-graph.cpp ``build_attn_mha``, ``build_ffn``,
``build_norm``; models/llama.cpp) and replays ggml-alloc.c's
``ggml_dyn_tallocr_alloc`` / ``ggml_dyn_tallocr_free_bytes`` /
``ggml_gallocr_allocate_node`` on it. Plain Python; one model's answer is
cached per (shape, tokens, cells, flash attention).

Sources (llama.cpp ec98e2002, as vendored by Ollama f63eea3):
ggml/src/ggml-alloc.c L26 (in-place ops), L205 (best fit, then the last block),
L315 (free and merge), L631 (in-place reuse of a parent), L726 (the order:
inputs first, then nodes; a parent is freed after its last child);
src/llama-graph.cpp L722 (norm), L757 (ffn), L1400 (attention with and without
flash attention), L1607 (the f32 mask input, cast to f16 for flash attention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

ALIGNMENT = 128  # bytes: the CUDA backend's buffer alignment (ggml-cuda get_alignment)
F32, F16, I32, I64 = 4, 2, 4, 8


def _aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


class DynAllocator:
    """ggml_dyn_tallocr for one chunk: free blocks sorted by offset, the last one open-ended."""

    def __init__(self) -> None:
        self.blocks: list[list[int]] = [[0, 1 << 62]]  # [offset, size]; the last block is the buffer's unused end
        self.max_size = 0

    def alloc(self, size: int) -> int:
        size = _aligned(size)
        best, best_size = -1, None
        for i, (_, bsize) in enumerate(self.blocks[:-1]):  # best fit among all blocks but the last
            if bsize >= size and (best_size is None or bsize <= best_size):
                best, best_size = i, bsize
        if best < 0:
            best = len(self.blocks) - 1
        offset = self.blocks[best][0]
        self.blocks[best][0] += size
        self.blocks[best][1] -= size
        if self.blocks[best][1] == 0:
            del self.blocks[best]
        self.max_size = max(self.max_size, offset + size)
        return offset

    def free(self, offset: int, size: int) -> None:
        size = _aligned(size)
        for i, block in enumerate(self.blocks):
            if block[0] + block[1] == offset:  # ends where the freed bytes start
                block[1] += size
                if i + 1 < len(self.blocks) and block[0] + block[1] == self.blocks[i + 1][0]:
                    block[1] += self.blocks[i + 1][1]
                    del self.blocks[i + 1]
                return
            if offset + size == block[0]:  # starts where the freed bytes end
                block[0] = offset
                block[1] += size
                if i > 0 and self.blocks[i - 1][0] + self.blocks[i - 1][1] == block[0]:
                    self.blocks[i - 1][1] += block[1]
                    del self.blocks[i]
                return
        pos = 0
        while pos < len(self.blocks) and self.blocks[pos][0] < offset:
            pos += 1
        self.blocks.insert(pos, [offset, size])


@dataclass
class Node:
    size: int  # bytes (0 for a view)
    srcs: tuple[int, ...] = ()
    inplace: bool = False  # ggml_op_can_inplace(op)
    view_of: int | None = None
    is_input: bool = False
    is_output: bool = False
    external: bool = False  # weights and the KV cache: not in the compute buffer
    children: int = 0
    views: int = 0
    allocated: bool = False
    offset: int = -1
    alloc_size: int = 0


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)

    def add(
        self,
        size: int = 0,
        *srcs: int,
        inplace: bool = False,
        view_of: int | None = None,
        is_input: bool = False,
        is_output: bool = False,
        external: bool = False,
    ) -> int:
        self.nodes.append(
            Node(size, tuple(s for s in srcs if s is not None), inplace, view_of, is_input, is_output, external)
        )
        return len(self.nodes) - 1

    def view(self, src: int) -> int:
        base = self.nodes[src].view_of if self.nodes[src].view_of is not None else src
        return self.add(0, src, view_of=base)


def allocate(graph: Graph) -> int:
    """ggml_gallocr_alloc_graph_impl on one buffer: the highest offset any tensor reached."""
    alloc = DynAllocator()
    nodes = graph.nodes

    def owned(i: int) -> bool:
        return not nodes[i].external

    def allocate_node(i: int) -> None:
        n = nodes[i]
        if n.allocated or n.view_of is not None or n.external or n.offset >= 0:
            return
        n.allocated = True
        if n.inplace:
            for p in n.srcs:
                parent = nodes[p]
                if not owned(p) or parent.is_output or parent.size != n.size:
                    continue
                if parent.children == 1 and parent.views == 0:
                    if parent.view_of is not None:
                        src = nodes[parent.view_of]
                        if src.views == 1 and src.children == 0 and src.allocated:
                            _reuse(n, src, alloc)
                            return
                    elif parent.allocated:
                        _reuse(n, parent, alloc)
                        return
        n.alloc_size = n.size
        n.offset = alloc.alloc(n.size)

    for i, n in enumerate(nodes):
        if n.view_of is not None:
            nodes[n.view_of].views += 1
        for p in n.srcs:
            nodes[p].children += 1
    for i, n in enumerate(nodes):  # inputs first, so that nothing overwrites them
        if n.is_input:
            allocate_node(i)
    for i, n in enumerate(nodes):
        if n.external or n.is_input:
            continue
        allocate_node(i)
        for p in n.srcs:
            parent = nodes[p]
            parent.children -= 1
            if parent.children == 0 and parent.views == 0:
                if parent.view_of is not None:
                    src = nodes[parent.view_of]
                    src.views -= 1
                    if src.views == 0 and src.children == 0 and src.allocated and not src.is_output:
                        alloc.free(src.offset, src.alloc_size)
                        src.allocated = False
                elif parent.allocated and not parent.is_output:
                    alloc.free(parent.offset, parent.alloc_size)
                    parent.allocated = False
    return alloc.max_size


def _reuse(node: Node, parent: Node, alloc: DynAllocator) -> None:
    """In place: the node takes the parent's memory; any extra bytes at its end are freed."""
    node.offset, node.alloc_size = parent.offset, _aligned(node.size)
    parent.allocated = False
    extra = _aligned(parent.alloc_size) - node.alloc_size
    if extra > 0:
        alloc.free(parent.offset + node.alloc_size, extra)


@dataclass(frozen=True)
class Shape:
    """One decoder layer as llama.cpp builds it (all counts per layer)."""

    hidden: int
    heads: int
    head_dim: int
    v_head_dim: int
    kv_heads: int
    ffn: int  # intermediate width the MLP materialises per token
    gated: bool
    vocab: int
    layers: int
    experts_used: int = 0  # MoE: experts per token (their outputs exist at once)
    experts: int = 0


def build_decoder(shape: Shape, tokens: int, cells: int, flash_attn: bool, output: bool = True) -> Graph:
    """The reserved graph of one micro-batch: inputs, every layer, the output norm and logits."""
    g = Graph()
    t, e = tokens, shape.hidden
    q_width, kv_width = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    v_width = shape.kv_heads * shape.v_head_dim
    attn_out = shape.heads * shape.v_head_dim
    k_cache, v_cache = g.add(external=True), g.add(external=True)
    weight = g.add(external=True)
    inp = g.add(t * e * F32, is_input=True)  # token embeddings, copied in from the CPU (get_rows runs there)
    pos = g.add(t * I32, is_input=True)
    mask = g.add(cells * t * F32, is_input=True)
    out_ids = g.add(t * I32, is_input=True)
    k_idxs, v_idxs = g.add(t * I64, is_input=True), g.add(t * I64, is_input=True)
    mask_used = g.add(cells * t * F16, mask) if flash_attn else mask  # cast to f16 once, for every layer
    cur = inp
    for layer in range(shape.layers):
        inp_sa = cur
        norm = g.add(t * e * F32, cur, inplace=True)  # rms_norm
        norm = g.add(t * e * F32, norm, weight, inplace=True)  # x attn_norm weight
        q = g.add(t * q_width * F32, weight, norm)
        q = g.add(t * q_width * F32, g.view(q), pos, inplace=True)  # rope
        v = g.add(t * v_width * F32, weight, norm)
        k = g.add(t * kv_width * F32, weight, norm)
        k = g.add(t * kv_width * F32, g.view(k), pos, inplace=True)  # rope
        g.add(0, k_cache, k, k_idxs, view_of=k_cache)  # set_rows into the cache
        g.add(0, v_cache, g.view(v), v_idxs, view_of=v_cache)
        kv_k, kv_v = g.view(k_cache), g.view(v_cache)
        if flash_attn:
            att = g.add(t * attn_out * F32, g.view(q), kv_k, kv_v, mask_used)  # flash_attn_ext
            att = g.view(att)
        else:
            kq = g.add(cells * t * shape.heads * F32, kv_k, g.view(q))
            kq = g.add(cells * t * shape.heads * F32, kq, mask, inplace=True)  # soft_max_ext
            kqv = g.add(t * attn_out * F32, kv_v, kq)
            att = g.add(t * attn_out * F32, g.view(kqv))  # cont_2d
        cur = g.add(t * e * F32, weight, att)  # wo
        if layer == shape.layers - 1:  # every token is an output at reservation: get_rows copies both
            cur = g.add(t * e * F32, cur, out_ids)
            inp_sa = g.add(t * e * F32, inp_sa, out_ids)
        ffn_inp = g.add(t * e * F32, cur, inp_sa, inplace=True)
        norm = g.add(t * e * F32, ffn_inp, inplace=True)
        norm = g.add(t * e * F32, norm, weight, inplace=True)
        width = shape.ffn * max(shape.experts_used, 1)
        if shape.experts_used:
            logits = g.add(t * shape.experts * F32, weight, norm)  # router
            probs = g.add(t * shape.experts * F32, logits, inplace=True)
            chosen = g.add(t * shape.experts_used * I32, probs)
            weights_ = g.add(t * shape.experts_used * F32, probs, chosen)
            up = g.add(t * width * F32, weight, norm, chosen)  # mul_mat_id
            gate = g.add(t * width * F32, weight, norm, chosen) if shape.gated else None
            act = g.add(t * width * F32, gate, up) if shape.gated else g.add(t * width * F32, up, inplace=True)
            down = g.add(t * e * shape.experts_used * F32, weight, act, chosen)
            down = g.add(t * e * shape.experts_used * F32, down, weights_, inplace=True)
            ffn_out = g.add(t * e * F32, g.view(down))  # sum over the chosen experts
        else:
            up = g.add(t * width * F32, weight, norm)
            if shape.gated:
                gate = g.add(t * width * F32, weight, norm)
                act = g.add(t * width * F32, gate, up)  # swiglu_split: GLU is not an in-place op
            else:
                act = g.add(t * width * F32, up, inplace=True)  # gelu (unary): in place
            ffn_out = g.add(t * e * F32, weight, act)
        cur = g.add(t * e * F32, ffn_out, ffn_inp, inplace=True)  # residual
    if output:
        norm = g.add(t * e * F32, cur, inplace=True)
        norm = g.add(t * e * F32, norm, weight, inplace=True, is_output=True)  # result_norm (t_embd)
        g.add(t * shape.vocab * F32, weight, norm, is_output=True)  # result_output (t_logits)
    return g


REPLAYED_LAYERS = 3  # every layer frees what it allocated; from the second on the free list repeats (a test checks)


@lru_cache(maxsize=4096)
def compute_buffer_bytes(shape: Shape, tokens: int, cells: int, flash_attn: bool, output: bool = True) -> int:
    """The compute buffer llama.cpp reserves on one device for this graph (bytes).

    The layers between the second and the last leave the allocator exactly as they found it, so the
    replay runs the first layers and the last one (REPLAYED_LAYERS in all): the same answer as every layer.
    """
    if tokens <= 0:
        return 0
    short = Shape(**{**shape.__dict__, "layers": min(shape.layers, REPLAYED_LAYERS)})
    return allocate(build_decoder(short, tokens, cells, flash_attn, output))
