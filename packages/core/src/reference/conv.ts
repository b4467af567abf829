import type { Conv2DGeometry } from '../backend/shape.js';

/**
 * Reference convolutions and pooling, NHWC with HWIO filters, written as the plain sums of their
 * definitions (scatter form for the backward passes). Accumulation in float64.
 */

export function conv2d(x: Float32Array, w: Float32Array, g: Conv2DGeometry): Float32Array {
  const {
    batch,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    outChannels: OC,
  } = g;
  const out = new Float32Array(batch * OH * OW * OC);
  const acc = new Float64Array(OC);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        acc.fill(0);
        for (let fy = 0; fy < g.filterHeight; fy++) {
          const iy = oy * g.strideHeight - g.padTop + fy * g.dilationHeight;
          if (iy < 0 || iy >= H) continue;
          for (let fx = 0; fx < g.filterWidth; fx++) {
            const ix = ox * g.strideWidth - g.padLeft + fx * g.dilationWidth;
            if (ix < 0 || ix >= W) continue;
            const xBase = ((b * H + iy) * W + ix) * C;
            const wBase = (fy * g.filterWidth + fx) * C * OC;
            for (let c = 0; c < C; c++) {
              const xv = x[xBase + c]!;
              if (xv === 0) continue;
              const wRow = wBase + c * OC;
              for (let oc = 0; oc < OC; oc++) acc[oc]! += xv * w[wRow + oc]!;
            }
          }
        }
        const oBase = ((b * OH + oy) * OW + ox) * OC;
        for (let oc = 0; oc < OC; oc++) out[oBase + oc] = acc[oc]!;
      }
    }
  }
  return out;
}

export function conv2dBackpropInput(
  dy: Float32Array,
  w: Float32Array,
  g: Conv2DGeometry,
): Float32Array {
  const {
    batch,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    outChannels: OC,
  } = g;
  const dx = new Float64Array(batch * H * W * C);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const dyBase = ((b * OH + oy) * OW + ox) * OC;
        for (let fy = 0; fy < g.filterHeight; fy++) {
          const iy = oy * g.strideHeight - g.padTop + fy * g.dilationHeight;
          if (iy < 0 || iy >= H) continue;
          for (let fx = 0; fx < g.filterWidth; fx++) {
            const ix = ox * g.strideWidth - g.padLeft + fx * g.dilationWidth;
            if (ix < 0 || ix >= W) continue;
            const xBase = ((b * H + iy) * W + ix) * C;
            const wBase = (fy * g.filterWidth + fx) * C * OC;
            for (let c = 0; c < C; c++) {
              let s = 0;
              const wRow = wBase + c * OC;
              for (let oc = 0; oc < OC; oc++) s += dy[dyBase + oc]! * w[wRow + oc]!;
              dx[xBase + c]! += s;
            }
          }
        }
      }
    }
  }
  return Float32Array.from(dx);
}

export function conv2dBackpropFilter(
  x: Float32Array,
  dy: Float32Array,
  g: Conv2DGeometry,
): Float32Array {
  const {
    batch,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    outChannels: OC,
  } = g;
  const dw = new Float64Array(g.filterHeight * g.filterWidth * C * OC);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const dyBase = ((b * OH + oy) * OW + ox) * OC;
        for (let fy = 0; fy < g.filterHeight; fy++) {
          const iy = oy * g.strideHeight - g.padTop + fy * g.dilationHeight;
          if (iy < 0 || iy >= H) continue;
          for (let fx = 0; fx < g.filterWidth; fx++) {
            const ix = ox * g.strideWidth - g.padLeft + fx * g.dilationWidth;
            if (ix < 0 || ix >= W) continue;
            const xBase = ((b * H + iy) * W + ix) * C;
            const wBase = (fy * g.filterWidth + fx) * C * OC;
            for (let c = 0; c < C; c++) {
              const xv = x[xBase + c]!;
              const wRow = wBase + c * OC;
              for (let oc = 0; oc < OC; oc++) dw[wRow + oc]! += xv * dy[dyBase + oc]!;
            }
          }
        }
      }
    }
  }
  return Float32Array.from(dw);
}

export function depthwiseConv2d(x: Float32Array, w: Float32Array, g: Conv2DGeometry): Float32Array {
  const {
    batch,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    multiplier: M,
  } = g;
  const OC = C * M;
  const out = new Float32Array(batch * OH * OW * OC);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const oBase = ((b * OH + oy) * OW + ox) * OC;
        for (let c = 0; c < C; c++) {
          for (let m = 0; m < M; m++) {
            let acc = 0;
            for (let fy = 0; fy < g.filterHeight; fy++) {
              const iy = oy * g.strideHeight - g.padTop + fy * g.dilationHeight;
              if (iy < 0 || iy >= H) continue;
              for (let fx = 0; fx < g.filterWidth; fx++) {
                const ix = ox * g.strideWidth - g.padLeft + fx * g.dilationWidth;
                if (ix < 0 || ix >= W) continue;
                acc +=
                  x[((b * H + iy) * W + ix) * C + c]! *
                  w[((fy * g.filterWidth + fx) * C + c) * M + m]!;
              }
            }
            out[oBase + c * M + m] = acc;
          }
        }
      }
    }
  }
  return out;
}

export function depthwiseConv2dBackpropInput(
  dy: Float32Array,
  w: Float32Array,
  g: Conv2DGeometry,
): Float32Array {
  const {
    batch,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    multiplier: M,
  } = g;
  const OC = C * M;
  const dx = new Float64Array(batch * H * W * C);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const dyBase = ((b * OH + oy) * OW + ox) * OC;
        for (let fy = 0; fy < g.filterHeight; fy++) {
          const iy = oy * g.strideHeight - g.padTop + fy * g.dilationHeight;
          if (iy < 0 || iy >= H) continue;
          for (let fx = 0; fx < g.filterWidth; fx++) {
            const ix = ox * g.strideWidth - g.padLeft + fx * g.dilationWidth;
            if (ix < 0 || ix >= W) continue;
            const xBase = ((b * H + iy) * W + ix) * C;
            for (let c = 0; c < C; c++) {
              let s = 0;
              for (let m = 0; m < M; m++) {
                s += dy[dyBase + c * M + m]! * w[((fy * g.filterWidth + fx) * C + c) * M + m]!;
              }
              dx[xBase + c]! += s;
            }
          }
        }
      }
    }
  }
  return Float32Array.from(dx);
}

export function depthwiseConv2dBackpropFilter(
  x: Float32Array,
  dy: Float32Array,
  g: Conv2DGeometry,
): Float32Array {
  const {
    batch,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    multiplier: M,
  } = g;
  const OC = C * M;
  const dw = new Float64Array(g.filterHeight * g.filterWidth * C * M);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const dyBase = ((b * OH + oy) * OW + ox) * OC;
        for (let fy = 0; fy < g.filterHeight; fy++) {
          const iy = oy * g.strideHeight - g.padTop + fy * g.dilationHeight;
          if (iy < 0 || iy >= H) continue;
          for (let fx = 0; fx < g.filterWidth; fx++) {
            const ix = ox * g.strideWidth - g.padLeft + fx * g.dilationWidth;
            if (ix < 0 || ix >= W) continue;
            const xBase = ((b * H + iy) * W + ix) * C;
            for (let c = 0; c < C; c++) {
              const xv = x[xBase + c]!;
              for (let m = 0; m < M; m++) {
                dw[((fy * g.filterWidth + fx) * C + c) * M + m]! += xv * dy[dyBase + c * M + m]!;
              }
            }
          }
        }
      }
    }
  }
  return Float32Array.from(dw);
}

/** Visits the in-bounds input positions of each pooling window. */
function forEachWindow(
  g: Conv2DGeometry,
  visit: (
    b: number,
    oy: number,
    ox: number,
    y0: number,
    y1: number,
    x0: number,
    x1: number,
  ) => void,
): void {
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      const ys = oy * g.strideHeight - g.padTop;
      const y0 = Math.max(ys, 0);
      const y1 = Math.min(ys + g.filterHeight, g.inHeight);
      for (let ox = 0; ox < g.outWidth; ox++) {
        const xs = ox * g.strideWidth - g.padLeft;
        const x0 = Math.max(xs, 0);
        const x1 = Math.min(xs + g.filterWidth, g.inWidth);
        visit(b, oy, ox, y0, y1, x0, x1);
      }
    }
  }
}

export function maxPool(x: Float32Array, g: Conv2DGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const out = new Float32Array(g.batch * OH * OW * C);
  forEachWindow(g, (b, oy, ox, y0, y1, x0, x1) => {
    for (let c = 0; c < C; c++) {
      let m = Number.NEGATIVE_INFINITY;
      for (let iy = y0; iy < y1; iy++) {
        for (let ix = x0; ix < x1; ix++) {
          const v = x[((b * H + iy) * W + ix) * C + c]!;
          if (v > m || Number.isNaN(v)) m = v;
        }
      }
      out[((b * OH + oy) * OW + ox) * C + c] = m;
    }
  });
  return out;
}

export function maxPoolBackprop(
  dy: Float32Array,
  x: Float32Array,
  g: Conv2DGeometry,
): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const dx = new Float32Array(g.batch * H * W * C);
  forEachWindow(g, (b, oy, ox, y0, y1, x0, x1) => {
    for (let c = 0; c < C; c++) {
      let m = Number.NEGATIVE_INFINITY;
      let at = -1;
      for (let iy = y0; iy < y1; iy++) {
        for (let ix = x0; ix < x1; ix++) {
          const i = ((b * H + iy) * W + ix) * C + c;
          if (at < 0 || x[i]! > m) {
            m = x[i]!;
            at = i;
          }
        }
      }
      if (at >= 0) dx[at]! += dy[((b * OH + oy) * OW + ox) * C + c]!;
    }
  });
  return dx;
}

export function avgPool(x: Float32Array, g: Conv2DGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const out = new Float32Array(g.batch * OH * OW * C);
  forEachWindow(g, (b, oy, ox, y0, y1, x0, x1) => {
    const count = (y1 - y0) * (x1 - x0);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let iy = y0; iy < y1; iy++) {
        for (let ix = x0; ix < x1; ix++) s += x[((b * H + iy) * W + ix) * C + c]!;
      }
      out[((b * OH + oy) * OW + ox) * C + c] = s / count;
    }
  });
  return out;
}

export function avgPoolBackprop(dy: Float32Array, g: Conv2DGeometry): Float32Array {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = g;
  const dx = new Float32Array(g.batch * H * W * C);
  forEachWindow(g, (b, oy, ox, y0, y1, x0, x1) => {
    const count = (y1 - y0) * (x1 - x0);
    for (let c = 0; c < C; c++) {
      const v = dy[((b * OH + oy) * OW + ox) * C + c]! / count;
      for (let iy = y0; iy < y1; iy++) {
        for (let ix = x0; ix < x1; ix++) dx[((b * H + iy) * W + ix) * C + c]! += v;
      }
    }
  });
  return dx;
}
