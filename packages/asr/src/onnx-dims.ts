/**
 * Declared input dimensions relaxed in a model's bytes, in memory.
 *
 * NeMo's exporter traces the RNN-T prediction network with one example batch, and the
 * trace fixes the batch axis of one LSTM state input at 1 (e.g. `onnx::Slice_3`
 * [2, 1, 640] beside `states.1` [2, states.1_dim_1, 640]; contract §7). The graph itself
 * computes any batch; only the declared shape refuses it (onnxruntime checks fixed input
 * dims before running). A declared `dim_value: 1` (bytes 08 01 of a
 * TensorShapeProto.Dimension) becomes an empty `denotation` (1a 00): the same length, so
 * no enclosing length changes, and the dimension is then unknown, i.e. dynamic. The file is
 * untouched (the model identity does not change).
 */
import { ProtoReader } from './onnx-metadata.js';

const GRAPH = 7;
const GRAPH_INPUT = 11;
const dec = new TextDecoder();

function each(view: Uint8Array, fn: (field: number, wire: number, r: ProtoReader) => void): void {
  const r = new ProtoReader(view);
  while (!r.done) {
    const tag = r.varint();
    fn(Math.floor(tag / 8), tag & 7, r);
  }
}

/**
 * Makes axis `axis` of the named graph inputs dynamic where it is declared as 1; returns
 * the inputs changed. `model` is modified in place (pass a copy you own).
 */
export function relaxInputDims(model: Uint8Array, names: readonly string[], axis: number): string[] {
  const changed: string[] = [];
  each(model, (f, w, r) => {
    if (f !== GRAPH || w !== 2) return r.skip(w);
    each(r.bytes(), (gf, gw, gr) => {
      if (gf !== GRAPH_INPUT || gw !== 2) return gr.skip(gw);
      const vi = gr.bytes();
      let name = '';
      let dims: Uint8Array[] = [];
      each(vi, (vf, vw, vr) => {
        if (vf === 1 && vw === 2) name = dec.decode(vr.bytes());
        else if (vf === 2 && vw === 2) {
          // TypeProto.tensor_type (1) → shape (2) → dim (1)*
          each(vr.bytes(), (tf, tw, tr) => {
            if (tf !== 1 || tw !== 2) return tr.skip(tw);
            each(tr.bytes(), (xf, xw, xr) => {
              if (xf !== 2 || xw !== 2) return xr.skip(xw);
              const found: Uint8Array[] = [];
              each(xr.bytes(), (sf, sw, sr) => {
                if (sf === 1 && sw === 2) found.push(sr.bytes());
                else sr.skip(sw);
              });
              dims = found;
            });
          });
        } else vr.skip(vw);
      });
      const d = dims[axis];
      if (names.includes(name) && d && d.length === 2 && d[0] === 0x08 && d[1] === 0x01) {
        d[0] = 0x1a; // field 3 (denotation), length-delimited
        d[1] = 0x00; // empty
        changed.push(name);
      }
    });
  });
  return changed;
}
