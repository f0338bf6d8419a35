/**
 * A minimal ONNX file writer for tests that need a graph of a given
 * signature and metadata (an Identity per input), e.g. a model directory of
 * a kind no backend serves. Written from the ONNX protobuf field numbers
 * (onnx.proto: ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto).
 */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function field(num: number, payload: Uint8Array | string | number): Uint8Array {
  if (typeof payload === 'number') return Uint8Array.from([...varint(num * 8), ...varint(payload)]);
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  return Uint8Array.from([...varint(num * 8 + 2), ...varint(bytes.length), ...bytes]);
}

const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

const ELEM = { float32: 1, int32: 6, int64: 7 } as const;

export interface OnnxTensorSpec {
  name: string;
  type: keyof typeof ELEM;
  dims: (number | string)[];
}

function valueInfo(t: OnnxTensorSpec): Uint8Array {
  const dims = cat(...t.dims.map((d) => field(1, typeof d === 'number' ? field(1, d) : field(2, d))));
  const tensor = cat(field(1, ELEM[t.type]), field(2, dims));
  return cat(field(1, t.name), field(2, field(1, tensor)));
}

/** An ONNX model whose outputs are Identity copies of its inputs (outputs[i] = inputs[i]), with `metadata`. */
export function identityOnnx(inputs: OnnxTensorSpec[], outputs: OnnxTensorSpec[], metadata: Record<string, string> = {}): Uint8Array {
  if (outputs.length > inputs.length) throw new Error('one input per output');
  const nodes = outputs.map((o, i) => field(1, cat(field(1, inputs[i]!.name), field(2, o.name), field(4, 'Identity'))));
  const graph = cat(...nodes, field(2, 'g'), ...inputs.map((i) => field(11, valueInfo(i))), ...outputs.map((o) => field(12, valueInfo(o))));
  const opset = cat(field(1, ''), field(2, 13));
  const meta = Object.entries(metadata).map(([k, v]) => field(14, cat(field(1, k), field(2, v))));
  return cat(field(1, 8), field(7, graph), field(8, opset), ...meta);
}
