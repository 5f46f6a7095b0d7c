"""Build an ONNX graph of all-MiniLM-L6-v2 (a 6-layer BERT) straight from its safetensors weights.

The usual route to ONNX is ``torch.onnx.export`` (or ``optimum``), which needs PyTorch: a
700 MB+ install that takes 8-11 s to import. No library converts BERT weights to ONNX without
it, so this module writes the (small, fixed) BERT encoder graph itself with ``onnx.helper``,
followed by mean pooling and L2 normalisation, exactly as sentence-transformers'
``Transformer → Pooling(mean) → Normalize`` modules compute them. ``tests/`` checks the output
against vectors computed by sentence-transformers itself.

The result is written once (at first use, or by ``nexod knowledge model``) under the data dir
and loaded by ONNX Runtime from then on.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

OPSET = 17  # LayerNormalization needs 17


def build_model(model_dir: Path) -> Any:
    """The ONNX ``ModelProto`` for the BERT sentence encoder in ``model_dir``.

    Inputs ``input_ids`` and ``attention_mask`` (int64, batch x sequence); output
    ``sentence_embedding`` (float32, batch x hidden), mean-pooled over the mask and L2-normalised.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text())
    hidden, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    layers, eps = int(cfg["num_hidden_layers"]), float(cfg["layer_norm_eps"])
    if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
        raise ValueError(f"{model_dir}: only BERT encoders with exact GELU are supported")
    head_dim = hidden // heads
    weights = load_file(str(model_dir / "model.safetensors"))
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

    inits: list[Any] = []
    nodes: list[Any] = []

    def w(name: str, transpose: bool = False) -> str:
        arr = weights[prefix + name]
        if transpose:
            arr = np.ascontiguousarray(arr.T)
        inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def const(name: str, value: Any, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    counter = [0]

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        counter[0] += 1
        out = f"{op.lower()}_{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(x: str, name: str) -> str:
        return node("Add", [node("MatMul", [x, w(f"{name}.weight", transpose=True)]), w(f"{name}.bias")])

    def layer_norm(x: str, name: str) -> str:
        return node("LayerNormalization", [x, w(f"{name}.weight"), w(f"{name}.bias")], axis=-1, epsilon=eps)

    # Embeddings: word + position + token type 0 (single sentences), then LayerNorm.
    one, zero = const("one_i64", [1], np.int64), const("zero_i64", 0, np.int64)
    seq_len = node("Gather", [node("Shape", ["input_ids"]), const("seq_axis", 1, np.int64)])
    positions = node("Range", [zero, seq_len, const("step_i64", 1, np.int64)])
    x = node("Add", [
        node("Gather", [w("embeddings.word_embeddings.weight"), "input_ids"]),
        node("Gather", [w("embeddings.position_embeddings.weight"), positions]),
    ])
    tt0 = weights[prefix + "embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(node("Add", [x, const("token_type_0", tt0)]), "embeddings.LayerNorm")

    # Additive attention mask, batch x 1 x 1 x seq: 0 where attended, a large negative elsewhere.
    mask_f = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    neg = node("Mul", [node("Sub", [const("one_f", 1.0), mask_f]), const("neg_big", -1e9)])
    add_mask = node("Unsqueeze", [neg, const("mask_axes", [1, 2], np.int64)])
    split_shape = const("split_heads", [0, 0, heads, head_dim], np.int64)
    merge_shape = const("merge_heads", [0, 0, hidden], np.int64)
    scale = const("attn_scale", 1.0 / math.sqrt(head_dim))

    for i in range(layers):
        p = f"encoder.layer.{i}"

        def heads_of(t: str) -> str:
            return node("Reshape", [t, split_shape])

        q = node("Transpose", [heads_of(linear(x, f"{p}.attention.self.query"))], perm=[0, 2, 1, 3])
        k = node("Transpose", [heads_of(linear(x, f"{p}.attention.self.key"))], perm=[0, 2, 3, 1])
        v = node("Transpose", [heads_of(linear(x, f"{p}.attention.self.value"))], perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), add_mask])
        ctx = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        ctx = node("Reshape", [node("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        x = layer_norm(node("Add", [linear(ctx, f"{p}.attention.output.dense"), x]),
                       f"{p}.attention.output.LayerNorm")
        h = linear(x, f"{p}.intermediate.dense")
        erf = node("Erf", [node("Mul", [h, const(f"inv_sqrt2_{i}", 1.0 / math.sqrt(2.0))])])
        h = node("Mul", [node("Mul", [h, const(f"half_{i}", 0.5)]), node("Add", [erf, const(f"one_{i}", 1.0)])])
        x = layer_norm(node("Add", [linear(h, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm")

    # Mean pooling over attended tokens, then L2 normalisation (sentence-transformers' modules).
    m3 = node("Unsqueeze", [mask_f, const("pool_axis", [2], np.int64)])
    summed = node("ReduceSum", [node("Mul", [x, m3]), one], keepdims=0)
    count = node("Clip", [node("ReduceSum", [m3, one], keepdims=0), const("min_count", 1e-9)])
    pooled = node("Div", [summed, count])
    norm = node("Clip", [node("ReduceL2", [pooled], axes=[1], keepdims=1),
                         const("min_norm", 1e-12)])
    nodes.append(helper.make_node("Div", [pooled, norm], ["sentence_embedding"]))

    graph = helper.make_graph(
        nodes, "sentence_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="nexod")
    model.ir_version = 8
    return model


def export(model_dir: Path, target: Path) -> Path:
    """Write the ONNX model for ``model_dir`` to ``target`` atomically; returns ``target``."""
    import onnx

    model = build_model(model_dir)
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f"{target.suffix}.{os.getpid()}.tmp")  # concurrent exports never clash
    onnx.save(model, str(tmp))
    tmp.replace(target)
    return target
