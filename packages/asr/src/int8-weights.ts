/**
 * Signed int8 weights for dynamically quantized graphs, exactly.
 *
 * Dynamic int8 exports (sherpa-onnx's, onnxruntime's quantize_dynamic with its
 * default QUInt8 weights, training/quantize.py) store each MatMul's weights as
 * uint8 with a uint8 zero point: MatMulInteger(a: u8, W: u8, a_zp, W_zp), which
 * onnxruntime fuses into DynamicQuantizeMatMul and runs on its u8×u8 kernels.
 * On x86 CPUs with VNNI (AVX512-VNNI, AVX-VNNI) or AMX its u8×s8 kernels are
 * about three times faster on the full SenseVoice graph (bench/model.ts), and
 * they compute the same integers: with W' = W − 128 and W_zp' = W_zp − 128 as
 * int8, (W' − W_zp') = (W − W_zp) for every element, and VNNI's vpdpbusd and
 * AMX accumulate u8×s8 products in int32 without the int16 saturation of the
 * older AVX2 u8×s8 path (which is why this is done only where VNNI or AMX is
 * present). So the graph's outputs are bit for bit those of the file as it is.
 *
 * The rewrite is done on the model's bytes in memory before the session is
 * created (the file is untouched, so the model identity does not change): for
 * each weight and zero-point initializer used only as input 1 (B) or 3 (B's
 * zero point) of MatMulInteger or DynamicQuantizeMatMul nodes, the TensorProto's
 * data_type becomes INT8 (one byte: 2 → 3) and each raw byte is XORed with 0x80
 * (v − 128 in two's complement). Anything else — a graph with subgraphs, an
 * initializer fed or read elsewhere, data stored outside raw_data or in
 * external files, a node without an explicit zero point — is left as it is.
 * VOXFLEET_INT8_WEIGHTS=asis (config `int8Weights`) turns it off.
 */
import { readFileSync } from 'node:fs';
import { ProtoReader } from './onnx-metadata.js';

const GRAPH = 7;
const NODE = 1;
const INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const SPARSE_INITIALIZER = 15;
// NodeProto
const NODE_INPUT = 1;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
// AttributeProto: g (6) and graphs (11) hold subgraphs
const ATTR_GRAPH = 6;
const ATTR_GRAPHS = 11;
// TensorProto
const TENSOR_DATA_TYPE = 2;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const TENSOR_DATA_LOCATION = 14;
const UINT8 = 2;
const INT8 = 3;

/** the quantized MatMuls whose B (input 1) and B zero point (input 3) can be re-signed */
const INTEGER_MATMULS = new Set(['MatMulInteger', 'DynamicQuantizeMatMul']);

export interface SignedWeights {
  /** the rewritten model */
  bytes: Uint8Array;
  /** MatMul nodes whose weights were re-signed */
  nodes: number;
  /** initializers rewritten (weights and zero points) */
  tensors: number;
}

function cpuinfo(): string {
  if (process.arch !== 'x64') return '';
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** Whether onnxruntime's u8×s8 kernels are exact (and fast) on this CPU: x86-64 with VNNI or AMX, from /proc/cpuinfo's flags. */
export function signedInt8Exact(info: string = cpuinfo()): boolean {
  const flags = /^flags\s*:(.*)$/m.exec(info)?.[1]?.split(/\s+/) ?? [];
  return flags.some((f) => f === 'avx512_vnni' || f === 'avx_vnni' || f === 'amx_int8');
}

interface Tensor {
  /** absolute offset of data_type's varint (one byte for UINT8) */
  typeAt: number;
  type: number;
  raw?: { start: number; end: number };
  external: boolean;
}

const dec = new TextDecoder();
/** absolute offset of a view inside `root` */
const at = (root: Uint8Array, view: Uint8Array, pos = 0): number => view.byteOffset - root.byteOffset + pos;

function each(view: Uint8Array, fn: (field: number, wire: number, r: ProtoReader) => void): void {
  const r = new ProtoReader(view);
  while (!r.done) {
    const tag = r.varint();
    fn(Math.floor(tag / 8), tag & 7, r);
  }
}

/**
 * The model with the uint8 weights of its integer MatMuls re-signed to int8 (see above), or null when
 * nothing can be rewritten. `model` is modified in place when given as a Uint8Array the caller owns.
 */
export function signInt8Weights(model: Uint8Array): SignedWeights | null {
  let graph: Uint8Array | undefined;
  each(model, (f, w, r) => {
    if (f === GRAPH && w === 2) graph = r.bytes();
    else r.skip(w);
  });
  if (!graph) return null;

  const nodes: { op: string; inputs: string[] }[] = [];
  const tensors = new Map<string, Tensor>();
  const fed = new Set<string>();
  let subgraphs = false;
  let external = false;
  each(graph, (f, w, r) => {
    if (w !== 2) return r.skip(w);
    const body = r.bytes();
    if (f === NODE) {
      const node = { op: '', inputs: [] as string[] };
      each(body, (nf, nw, nr) => {
        if (nf === NODE_INPUT && nw === 2) node.inputs.push(dec.decode(nr.bytes()));
        else if (nf === NODE_OP_TYPE && nw === 2) node.op = dec.decode(nr.bytes());
        else if (nf === NODE_ATTRIBUTE && nw === 2)
          each(nr.bytes(), (af, aw, ar) => {
            if (af === ATTR_GRAPH || af === ATTR_GRAPHS) subgraphs = true;
            ar.skip(aw);
          });
        else nr.skip(nw);
      });
      nodes.push(node);
    } else if (f === INITIALIZER) {
      let name = '';
      const t: Tensor = { typeAt: -1, type: 0, external: false };
      each(body, (tf, tw, tr) => {
        if (tf === TENSOR_DATA_TYPE && tw === 0) {
          t.typeAt = at(model, body, tr.pos);
          t.type = tr.varint();
        } else if (tf === TENSOR_NAME && tw === 2) name = dec.decode(tr.bytes());
        else if (tf === TENSOR_RAW_DATA && tw === 2) {
          const raw = tr.bytes();
          t.raw = { start: at(model, raw), end: at(model, raw) + raw.length };
        } else if (tf === TENSOR_DATA_LOCATION && tw === 0) t.external = tr.varint() === 1;
        else tr.skip(tw);
      });
      external ||= t.external;
      tensors.set(name, t);
    } else if (f === GRAPH_INPUT || f === GRAPH_OUTPUT || f === SPARSE_INITIALIZER) {
      // a graph input may override an initializer of its name; an output or a sparse tensor is read elsewhere
      each(body, (vf, vw, vr) => {
        if (vf === 1 && vw === 2) fed.add(dec.decode(vr.bytes()));
        else vr.skip(vw);
      });
    }
  });
  // subgraphs may read any initializer; a model with external data must be loaded from its path
  if (subgraphs || external) return null;

  const uint8 = (name: string | undefined): boolean => {
    const t = name ? tensors.get(name) : undefined;
    return !!t && t.type === UINT8 && !!t.raw && !fed.has(name!) && model[t.typeAt] === UINT8;
  };
  // candidates: integer MatMuls with a uint8 B and an explicit uint8 B zero point, both plain initializers
  const ok = nodes.map((n) => INTEGER_MATMULS.has(n.op) && uint8(n.inputs[1]) && uint8(n.inputs[3]));
  // an initializer is rewritten only if every use of it is as B or B's zero point of a candidate; drop until stable
  for (let changed = true; changed; ) {
    changed = false;
    const bad = new Set<string>();
    nodes.forEach((n, i) =>
      n.inputs.forEach((x, k) => {
        if (!x) return;
        if (!ok[i] || (k !== 1 && k !== 3)) bad.add(x);
      }),
    );
    nodes.forEach((n, i) => {
      if (ok[i] && (bad.has(n.inputs[1]!) || bad.has(n.inputs[3]!))) {
        ok[i] = false;
        changed = true;
      }
    });
  }
  const names = new Set<string>();
  nodes.forEach((n, i) => {
    if (ok[i]) names.add(n.inputs[1]!).add(n.inputs[3]!);
  });
  if (names.size === 0) return null;
  for (const name of names) {
    const t = tensors.get(name)!;
    model[t.typeAt] = INT8;
    for (let i = t.raw!.start; i < t.raw!.end; i++) model[i]! ^= 0x80;
  }
  return { bytes: model, nodes: ok.filter(Boolean).length, tensors: names.size };
}
